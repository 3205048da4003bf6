// Package kafka is chaosrun's Kafka sink: the record format of DESIGN.md §5,
// a sarama producer and consumer built for it, topic creation, and the
// providers that give a run a real Apache Kafka cluster.
//
// # Records
//
// A topic carries two kinds of records, encoded and decoded only in this
// package (EncodeRow, EncodeWatermark, Decode):
//
//   - a row: key "table:pk", a JSON value {table, pk, op, commit_ts, columns}
//     and the headers cdc-kind=row, cdc-changefeed, cdc-epoch, cdc-node,
//     cdc-dispatcher, cdc-commit-ts;
//   - a watermark: one record per partition with cdc-kind=watermark, cdc-ts,
//     cdc-epoch, cdc-changefeed, cdc-node. It promises that every row with
//     commit_ts <= ts is already in the topic.
//
// Topics are created with message.timestamp.type=LogAppendTime (CreateTopic),
// so Record.Timestamp is the broker's append time, not the producer's.
//
// # Producing
//
// Producer is an idempotent, acks=all producer with a murmur2 (Java
// compatible) key partitioner. Produce reports one Outcome per record:
// OutcomeOK (acknowledged), OutcomeFailed (provably not written) or
// OutcomeUnknown (may or may not be in the topic; a timeout is unknown, never
// failed). Callers that resend unknown records must expect duplicates: the
// checker counts them, it does not forbid them.
//
// # Providers
//
// Provider gives a run its bootstrap addresses. Local (the default) starts
// Apache Kafka in KRaft mode as JVM child processes from the jars that
// `make kafka-jars` resolves (CHAOSRUN_KAFKA_LIBS); External wraps a
// bootstrap list; Testcontainers runs the same Kafka in Docker containers
// (chaosrun/kafka from `make kafka-image`, or apache/kafka where a registry
// is reachable). Callers must Close every provider they Start: Close kills every
// process the provider started, and so does cancelling the context given to
// Start. Each broker runs in its own process group with a parent-death signal,
// so not even a crash of the caller leaves a JVM behind.
// Containers do outlive a caller killed with SIGKILL; SweepContainers removes
// them by run id (SIGINT and SIGTERM are handled).
package kafka

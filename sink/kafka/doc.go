// Package kafka is chaosrun's Kafka sink: a sarama producer and consumer for
// the record format of DESIGN.md §5 (package evidence encodes and decodes
// it), topic creation, and the providers that give a run a real Apache
// Kafka cluster.
//
// Topics are created with message.timestamp.type=LogAppendTime (CreateTopic),
// so evidence.Record.Timestamp is the broker's append time, not the producer's.
//
// # Producing
//
// Producer is an idempotent, acks=all producer with a murmur2 (Java
// compatible) key partitioner. Produce reports one Delivery per record:
// DeliveryAcked (acknowledged), DeliveryFailed (provably not written) or
// DeliveryUnknown (may or may not be in the topic; a timeout is unknown, never
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

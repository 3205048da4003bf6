// Package connect runs a Kafka Connect cluster in distributed mode (one
// JVM per worker, started through internal/proc) for Debezium, and talks to
// it: its REST API, the group leader (from the workers' logs) and the
// Debezium connector's configuration.
//
// Worker i (1-based) is named connect-<i>; its properties and log are
// Dir/connect-<i>.properties and Dir/connect-<i>.log. The jars come from
// `make connect-jars` (part of `make deps`). The caller creates the topic
// the connector writes to (DebeziumParams.Topic) before registering it,
// and must read it read_committed when the cluster runs with EOS.
package connect

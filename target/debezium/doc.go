// Package debezium is the second chaos target: Debezium's PostgreSQL
// connector on a Kafka Connect cluster. Its subpackages provision the
// processes: pg (the source database), pgstore (the workloads' Store over
// it, and the upstream change log the checker reads) and connect (the
// Connect workers, their REST API and the connector's configuration).
package debezium

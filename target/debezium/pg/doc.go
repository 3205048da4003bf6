// Package pg runs PostgreSQL as a child process of the harness, with
// logical decoding on, for Debezium to read.
//
// The caller must be root: the data directory belongs to user postgres and
// initdb and postgres run as that user (setpriv drops the privileges after
// the placement's command, so `ip netns exec` still runs as root). The
// binaries come from the Debian package postgresql (`make deps`).
//
// Start returns once the server accepts connections and role dbz (LOGIN
// REPLICATION, password dbz) and database app (owned by dbz) exist. Close
// stops the server; the directory stays for the run's record, and a later
// Start on the same Dir reuses the cluster (a restart).
package pg

// Package cluster starts the system under test as separate OS processes:
// Kafka (through a sink/kafka Provider), the meta store, the upstream source
// and N CDC nodes, each a hidden subcommand of the chaosrun binary. It
// creates changefeeds, restarts and signals processes, and tears all of it
// down.
//
// Caller obligations: call Close on every path (it is idempotent); children
// also get SIGKILL from the kernel if the harness itself dies (Linux
// parent-death signal), and each runs in its own process group so a whole
// process tree is signalled at once.
package cluster

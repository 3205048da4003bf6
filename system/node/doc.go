// Package node runs one CDC node: the capture (etcd session, owner
// campaign), the control-plane roles of package roles driven by a real
// loop, the gRPC transport to the other nodes, span dispatchers that pull
// the upstream feed and write to Kafka, Prometheus metrics and a JSONL
// decision log of every fencing decision.
//
// Caller obligations: Run blocks until ctx is done or the node fails; it
// removes nothing from the meta store on exit (the capture key expires with
// its lease), so a restarted node rejoins under the same or a new id.
//
// Self-fence (Config.SelfFence): when the etcd session is lost, the node
// stops every local maintainer, dispatcher and producer at once and rejoins
// under a new node id (TiCDC's liveness self-fence). Without it the node
// keeps its roles and writers running, opens a new session under the same
// id, and its coordinator steps down only when it sees another owner or a
// guarded checkpoint write is refused: the zombie the fencing rules must
// contain.
package node

// Package inmem is an in-memory transport.Transport for deterministic tests,
// modelled on raft's rafttest network: a Network joins endpoints by node id
// and carries envelopes between them with seeded random drop and delay,
// one-way cuts, partitions and isolation.
//
// Two modes:
//   - automatic (Config.Manual false): an envelope with no delay and no
//     earlier envelope in flight on its link is handed to the receiver's
//     Recv channel inside Send (blocking while the inbox is full); delayed
//     ones move on Tick. This is the mode the transporttest contract suite
//     runs.
//   - manual (Config.Manual true): every envelope stays in flight until the
//     caller delivers it with Deliver. Given the same seed and the same calls,
//     the network behaves identically, which is what systemtest relies on.
//
// Caller obligations and semantics:
//   - Time is logical: Tick advances it by one. Delays are in ticks.
//   - A cut is checked twice. An envelope sent over a cut link is dropped
//     (counted in Stats and reported by TakeDrops). An envelope already in
//     flight when its link is cut stays in flight until the cut heals or the
//     caller drops it, modelling a stream that survives a short partition.
//   - Envelopes on one link are delivered in send order, except that Hold
//     (and a Deliver filter that skips some envelopes) lets the caller delay
//     chosen envelopes behind later ones; tests that do this must say so.
//   - Closing an endpoint removes it from the network (sends to it then fail
//     with transport.ErrUnknownPeer) and discards envelopes in flight to it.
//     Joining the same id again models a restart.
//   - Envelopes returned by InFlight, Deliver and Drop are shared with the
//     receiver; callers must not modify them.
package inmem

// Package transport defines how nodes of the control plane exchange
// heartbeatpb envelopes.
//
// Caller obligations:
//   - Delivery is best effort, as in TiCDC's message center: a nil error from
//     Send means the envelope was queued, not that it arrived. Every control
//     message must be resent by its sender until it is acknowledged.
//   - Between two live peers, envelopes from one sender are delivered in the
//     order they were sent (one stream per peer).
//   - Recv must be drained; a transport may apply back-pressure to senders
//     (Send blocks until ctx is done) when the receiver falls behind.
//   - Close is idempotent; after Close, Send fails with ErrClosed and the Recv
//     channel is closed once it is drained.
//
// Implementations: transport/inmem (seeded drop, delay, partitions; driven
// step by step in tests) and, in a later issue, a gRPC one. Both must pass
// transport/transporttest.Run.
package transport

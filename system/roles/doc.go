// Package roles holds the control-plane roles of a chaosrun CDC node as
// I/O-free state machines, modelled on TiCDC's new architecture and on
// raft's Step/Tick/Ready shape:
//
//   - Coordinator (on the elected owner): bootstraps from every node, loads
//     the changefeeds, schedules one maintainer per changefeed with add,
//     move and stop operators that are resent until done, persists an epoch
//     bump before every add or move, and persists the checkpoint guarded by
//     its owner revision.
//   - MaintainerManager (every node) and the Maintainers it hosts (one per
//     changefeed): bootstrap the dispatcher manager on every node, assign
//     table spans to nodes, aggregate heartbeats into the changefeed
//     checkpoint (min over nodes, stalled while a hosting node's heartbeat
//     is missing), report status, close every dispatcher manager on a
//     cascade remove, and forward the persisted checkpoint to the local
//     dispatcher manager, which writes it to the sink as a watermark.
//   - Orchestrator (every node): the dispatcher managers of every changefeed
//     on the node, owned by (maintainer node, epoch), with close tombstones;
//     they create and remove span dispatchers and heartbeat to their
//     recorded maintainer.
//   - Node bundles the three and routes envelopes by topic.
//
// # Caller obligations
//
//   - Feed inputs one at a time from one goroutine: Step (a delivered
//     envelope), Tick (one logical tick), NodesChanged (the membership the
//     node sees), and the results of effects (ChangefeedsLoaded,
//     EpochPersisted, CheckpointPersisted, DispatcherProgress).
//   - After every input, drain Ready and apply it in order: send
//     Ready.Messages (best effort; the roles resend what matters), apply
//     Ready.Effects (meta-store writes whose results must come back as
//     inputs, dispatcher creation and removal, watermark writes), and log
//     Ready.Decisions and Ready.Drops.
//   - The roles read no clock, do no I/O, start no goroutine and log
//     nothing. Every admission decision comes from package fencing; the
//     roles never look at the policy themselves.
//   - A malformed or unroutable envelope is dropped with a reason in
//     Ready.Drops and leaves the state unchanged.
package roles

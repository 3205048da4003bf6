// Package checker proves from the Kafka records what happened at the sink of
// a chaosrun run: how sink lag evolved and recovered after each fault,
// whether a superseded generation kept acting, and whether the topic is
// complete, ordered and honest about its watermarks. It turns the records,
// the upstream change log, the epoch history, the nodes' decision logs and
// the fault timeline into a result.Result with a verdict.
//
// Everything here is pure except load.go and dump.go, which read files. The
// inputs are the checker's own types (Record, Change, EpochGrant,
// DecisionEntry, FaultEvent); adapters convert into them.
//
// Use a Checker: New(cfg) with the small inputs, AddChange for the change
// log, Add for every consumed record, then Finish. Memory is proportional
// to keys (plus changes and rows in flight, plus the watermarks and
// 100 ms activity buckets, which grow with time), not to records, provided
// changes are added no later than the rows that carry them (Feed does that
// for files). The building blocks are exported for tests and tools:
// GlobalSteps, LagSamples and Recover (lag and recovery), Histogram
// (latency percentiles), StaleMessages, BalanceCheck and Decide.
//
// Definitions (DESIGN.md §7):
//   - lag(t) = t − physical(global watermark visible at t); a partition's
//     visible watermark is the highest watermark appended to it by t (append
//     time, the broker's LogAppendTime); the global one is the minimum over
//     partitions, undefined until each partition has one.
//   - recovery from an anchor = the first instant after it from which lag
//     stays ≤ L for W; the heal is judged against the recovery bound (the
//     inject when there is no heal).
//   - a record is stale when its epoch is older than the epoch granted at its
//     append time; an accepted message is stale when its epoch is older than
//     the receiver's own, or than the granted one.
//   - completeness: every change with commit_ts ≤ the final global watermark
//     is in the topic; later copies are duplicates, attributed to the
//     (epoch, node) that wrote them; rows matching no change are phantoms.
//   - order: per key, commit_ts never goes back within one writer; a new
//     writer (newer epoch, or another dispatcher) may replay from its
//     checkpoint, counted as replays; a superseded writer may not go back.
//   - watermark honesty: each row is in its partition before any watermark
//     that covers it and carries the upstream's op and columns (a delete
//     only its op: the sink writes no image). Together
//     with completeness this implies that the rows up to every global
//     watermark W rebuild the upstream state at W, checked per row so that
//     it streams; BalanceCheck adds the bank balance-sum check at every W.
package checker

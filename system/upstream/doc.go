// Package upstream is the source database chaosrun's CDC nodes replicate
// from, run in its own process behind the gRPC service in upstreampb.
//
// A DB holds tables of int64 primary keys whose rows are maps of string or
// int64 columns. Commit applies a transaction of row writes atomically at a
// commit ts from a TiDB-format TSO (physical ms << 18 | logical). Feed (and
// the EventFeed RPC) streams a span's row changes in commit ts order plus
// resolved ts: after a resolved ts R is delivered, no change in the span
// with commit ts <= R will follow.
//
// Durability and ground truth: every transaction is appended as one JSON
// line to the change log (ChangeLogFile in the data dir) and fsynced, in
// batches, before Commit returns. The log is the ground truth the checker
// reads with ReadChangeLog after a run, even if the process was killed. A
// transaction whose Commit did not return may or may not be in it (an
// unknown outcome); a torn last line is ignored and truncated on restart.
// Opening a DB on the same dir rebuilds its state from the log, and the TSO
// persists a high-water mark (TSOFile) so a ts is never issued twice, even
// across restarts.
//
// Caller obligations: changes and rows returned by Feed and Snapshot share
// their Columns maps with the DB and must not be modified.
package upstream

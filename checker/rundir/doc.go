// Package rundir connects the checker to a run directory (docs/run-dir.md):
// it names the files, adapts the evidence a target leaves (package
// evidence) into the checker's input types, and runs the checker over a
// finished run with CheckRunDir. It never imports the target itself.
//
// The adapters are the only place that knows both sides:
//
//   - Record: a decoded sink record (evidence.Record) into a
//     checker.Record, undoing the node's rendering of column values so that
//     they compare with the upstream change log;
//   - Grants: the epoch history (evidence.EpochsFile, []evidence.Epoch);
//   - Decisions: the nodes' decision logs (evidence.DecisionsGlob,
//     evidence.Decision);
//   - the fault timeline (faults.json) is already in the checker's own
//     schema, checker.FaultEvent; the runner converts into it.
//
// sink-records.pb holds the checker.Records in consumption order (offset
// order within a partition), length-delimited protobuf (checker.ReadDump),
// so the checker reads it without conversion. A torn last record or line,
// left by a process killed mid-write, is ignored in the dump and in every
// JSONL file.
//
// CheckRunDir reads files only; it needs no cluster, so `chaosrun check`
// works on a copied run directory long after the run.
package rundir

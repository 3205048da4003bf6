// Package systemtest runs several chaosrun nodes' roles in one process over
// the in-memory transport (manual mode) and replays races step by step from
// datadriven transcripts in testdata/ (regenerate with -rewrite).
//
// The Env stands in for everything around the roles: the meta store (owner
// key revision, changefeed epochs and checkpoints, reachable only from
// non-isolated nodes; an in-memory store that the roles' effects reach
// through metaeffect.Apply, as a real node's reach etcd), membership (a
// node leaves it when isolated or crashed, and rejoins on heal or restart),
// the upstream (every dispatcher's checkpoint follows an upstream clock that
// advances 10 per tick) and the sink (watermarks and the dispatchers
// writing each table).
//
// Caller obligations: one Env per test file section (reset builds a fresh
// one, and every other command needs one); commands run one at a time;
// nothing reads a clock, so a transcript replays identically. A malformed
// command answers "error: ..." and changes nothing.
//
// Transcripts (each replays its story under policy=epoch, then policy=off):
//
//	steady_state.txt                          election, epoch bump, bootstrap, replication
//	race1_old_maintainer_after_isolation.txt  notes §5.1
//	race2_stale_close.txt                     §5.2, and the "stale close acked as success" finding
//	race3_stale_bootstrap_response.txt        §5.3
//	race4_epoch0_remove.txt                   §5.4, and the "coordinator remove with epoch 0" finding
//	race5_stale_add.txt                       §5.5
//	race6_stale_status_finishes_operator.txt  §5.6
//	race7_orphan_dispatcher.txt               §5.7
//	race9_closed_manager_resurrection.txt     §5.9
//	finding_move_operator_epoch0.txt          the "move operator sending epoch 0" finding
//	finding_adopt_older_remote_epoch.txt      the "adopting an older remote epoch" finding
//
// Output conventions: decisions on routine traffic (heartbeats, statuses,
// checkpoints, resent duplicates) are printed only when refused or when they
// act on a superseded epoch; "!! stale act" marks a receiver that acted on a
// message whose epoch is older than the changefeed's persisted epoch;
// identical lines within one command are merged with a count.
package systemtest

// Package meta is chaosrun's meta store: an embedded etcd server that runs in
// its own process (StartServer, RunServer) and the client every CDC node and
// the checker use (Store, Session).
//
// # Key layout
//
// Every key lives under the cluster prefix /chaosrun/<cluster>:
//
//	capture/<node>                     CaptureInfo JSON, under the session lease
//	owner/<lease hex>                  owner election (concurrency.Election); value = node
//	changefeed/info/<cf>               ChangefeedInfo JSON, including "epoch"
//	changefeed/status/<cf>             ChangefeedStatus JSON (checkpoint)
//	changefeed/epoch/<cf>/<epoch %020d> evidence.Epoch JSON, append-only
//
// # Caller obligations
//
//   - A node opens one Store, then one Session per incarnation. When
//     Session.Done is closed the lease is gone: the node must stop acting as
//     owner at once (and, with self-fence, as anything) and open a new
//     Session, usually under a new node id.
//   - The owner revision is the create revision of the election key the
//     Session won with (Owner.Rev). Checkpoint writes pass it to
//     SaveCheckpoint together with fencing.GuardCheckpointWrite(policy); this
//     package never looks at the fencing policy itself.
//   - BumpEpoch must be called (and must succeed) before every ownership
//     change of a changefeed's maintainer. It is a compare-and-swap on the
//     info key's ModRevision that appends the epoch history record in the
//     same transaction, so the history the checker reads is exactly the
//     sequence of granted epochs.
package meta

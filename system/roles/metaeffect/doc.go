// Package metaeffect carries out the roles' meta-store effects
// (roles.LoadChangefeeds, roles.PersistEpoch, roles.PersistCheckpoint)
// against a Store and turns the store's answers into the coordinator's
// inputs. A real node (system/node, over etcd) and the interaction
// environment (system/systemtest, in memory) both apply these effects
// through Apply, so both read a refused, conflicting or unreachable store
// the same way. metaeffecttest holds the contract suite every Store must
// pass and an in-memory Store.
//
// Caller obligations:
//
//   - A Store acts for one node: the node's id goes into the epoch history,
//     and its owner key guards checkpoint writes. Build one per effect, with
//     what the node holds when the effect is produced.
//   - Apply does I/O through the Store and may run off the driver's loop.
//     The Deliver it returns feeds the coordinator and must run on the loop,
//     and only if that coordinator is still the node's.
//   - A Deliver of a failed load returns the error: the coordinator asked
//     once and waits, so the driver must act (a node resigns, and the next
//     election loads again).
package metaeffect

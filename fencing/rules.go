package fencing

// CoordinatorStatus decides whether the coordinator applies a maintainer
// status for a changefeed whose persisted epoch is local and whose
// maintainer is bound to bound ("" when none).
//
// Epoch: the status must come from the bound node (if any) at exactly the
// changefeed's epoch. Off: statuses are not checked.
func CoordinatorStatus(p Policy, local uint64, bound string, c Claim) Decision {
	const r = RuleCoordinatorStatus
	if p == Off {
		return decide(r, p, Accept, local, bound, c, "statuses unchecked")
	}
	if bound != "" && c.From != bound {
		return decide(r, p, RejectSender, local, bound, c, "status not from bound node")
	}
	v, why := exact(local, c.Epoch)
	return decide(r, p, v, local, bound, c, why)
}

// OperatorCheck decides whether a status may finish an add/move/stop
// operator that targets dest at epoch opEpoch.
//
// Epoch: from dest at exactly opEpoch. Off: from dest, any epoch.
func OperatorCheck(p Policy, opEpoch uint64, dest string, c Claim) Decision {
	const r = RuleOperatorCheck
	if c.From != dest {
		return decide(r, p, RejectSender, opEpoch, dest, c, "status not from operator destination")
	}
	if p == Off {
		return decide(r, p, Accept, opEpoch, dest, c, "epoch unchecked")
	}
	v, why := exact(opEpoch, c.Epoch)
	return decide(r, p, v, opEpoch, dest, c, why)
}

// MaintainerRemove decides whether a maintainer at epoch local executes a
// RemoveMaintainerRequest.
//
// Epoch: exact match; epoch 0 only if the maintainer itself is epoch 0.
// Off: always executes.
func MaintainerRemove(p Policy, local uint64, c Claim) Decision {
	const r = RuleMaintainerRemove
	if p == Off {
		return decide(r, p, Accept, local, "", c, "remove unchecked")
	}
	v, why := exact(local, c.Epoch)
	return decide(r, p, v, local, "", c, why)
}

// Existing is a maintainer manager's view of its local maintainer for one
// changefeed.
type Existing struct {
	Present bool   // a maintainer object exists
	Epoch   uint64 // its epoch
	Stopped bool   // it has fully stopped (removed and closed)
}

// ManagerAdd decides what a maintainer manager does with an
// AddMaintainerRequest. Accept creates a maintainer, TakeOver replaces a
// fully stopped one.
//
// Epoch: create if none; equal epoch is a duplicate; a newer epoch replaces
// a stopped maintainer and is blocked by a live one; older or 0 never
// replaces. Off: ignored if any maintainer exists.
func ManagerAdd(p Policy, e Existing, c Claim) Decision {
	const r = RuleManagerAdd
	if !e.Present {
		return decide(r, p, Accept, 0, "", c, "no local maintainer")
	}
	if p == Off {
		return decide(r, p, Duplicate, e.Epoch, "", c, "a maintainer exists")
	}
	switch {
	case c.Epoch == e.Epoch:
		return decide(r, p, Duplicate, e.Epoch, "", c, "same epoch")
	case c.Epoch == 0:
		return decide(r, p, RejectCompat, e.Epoch, "", c, "epoch 0 never replaces")
	case e.Epoch != 0 && c.Epoch < e.Epoch:
		return decide(r, p, RejectStale, e.Epoch, "", c, "older epoch")
	case !e.Stopped:
		return decide(r, p, Blocked, e.Epoch, "", c, "newer epoch waits for the live maintainer to stop")
	default:
		return decide(r, p, TakeOver, e.Epoch, "", c, "newer epoch replaces stopped maintainer")
	}
}

// Owner is a dispatcher manager's record of the maintainer that owns it.
type Owner struct {
	Present bool   // a dispatcher manager exists for the changefeed
	Node    string // recorded maintainer node
	Epoch   uint64 // recorded maintainer epoch
	// Closed is set when the manager was closed; ClosedEpoch is the epoch of
	// the close (the tombstone).
	Closed      bool
	ClosedEpoch uint64
}

// ManagerBootstrap decides whether a dispatcher manager (or the orchestrator
// when none exists) takes a MaintainerBootstrapRequest. TakeOver records the
// sender as owner at the claim's epoch; Duplicate re-answers.
//
// Epoch: a tombstone at or above the claim (or a 0 claim) blocks
// resurrection; a newer epoch takes over; an equal epoch re-answers only
// from the same node; older is stale; 0 only in compatibility mode.
// Off: a bootstrap always overwrites the owner.
func ManagerBootstrap(p Policy, o Owner, c Claim) Decision {
	const r = RuleManagerBootstrap
	if p == Off {
		return decide(r, p, TakeOver, o.Epoch, o.Node, c, "bootstrap overwrites owner")
	}
	if !o.Present {
		if o.Closed && (c.Epoch == 0 || c.Epoch <= o.ClosedEpoch) {
			return decide(r, p, RejectTombstone, o.ClosedEpoch, o.Node, c, "manager closed at this or a newer epoch")
		}
		return decide(r, p, TakeOver, o.Epoch, o.Node, c, "no manager: create")
	}
	switch {
	case c.Epoch == 0:
		if o.Epoch == 0 {
			return decide(r, p, TakeOver, o.Epoch, o.Node, c, "compatibility mode")
		}
		return decide(r, p, RejectCompat, o.Epoch, o.Node, c, "epoch 0 cannot downgrade a strict manager")
	case c.Epoch < o.Epoch:
		return decide(r, p, RejectStale, o.Epoch, o.Node, c, "older epoch")
	case c.Epoch == o.Epoch && c.From != o.Node:
		return decide(r, p, RejectSender, o.Epoch, o.Node, c, "same epoch from another node")
	case c.Epoch == o.Epoch:
		return decide(r, p, Duplicate, o.Epoch, o.Node, c, "same owner re-bootstraps")
	default:
		return decide(r, p, TakeOver, o.Epoch, o.Node, c, "newer epoch takes over")
	}
}

// admitOwner is the strict owner admission shared by ManagerAdmit and
// ManagerClose: exactly the recorded (node, epoch); epoch 0 only in
// compatibility mode from the recorded node or when none is recorded.
func admitOwner(o Owner, c Claim) (Verdict, string) {
	if !o.Present {
		return RejectUnknown, "no dispatcher manager"
	}
	if c.Epoch == 0 {
		if o.Epoch == 0 && (o.Node == "" || o.Node == c.From) {
			return Accept, "compatibility mode"
		}
		return RejectCompat, "epoch 0 while manager is strict"
	}
	if v, why := exact(o.Epoch, c.Epoch); v != Accept {
		return v, why
	}
	if c.From != o.Node {
		return RejectSender, "not from the recorded owner node"
	}
	return Accept, "from recorded owner at its epoch"
}

// ManagerAdmit decides whether a dispatcher manager applies a
// post-bootstrap request, a schedule request, a heartbeat response or a
// checkpoint message.
//
// Epoch: only from (recorded node, recorded epoch). Off: always applied.
func ManagerAdmit(p Policy, o Owner, c Claim) Decision {
	const r = RuleManagerAdmit
	if p == Off {
		if !o.Present {
			return decide(r, p, RejectUnknown, o.Epoch, o.Node, c, "no dispatcher manager")
		}
		return decide(r, p, Accept, o.Epoch, o.Node, c, "unchecked")
	}
	v, why := admitOwner(o, c)
	return decide(r, p, v, o.Epoch, o.Node, c, why)
}

// ManagerClose decides what a dispatcher manager does with a
// MaintainerCloseRequest. Accept closes it; Tombstone in the decision says
// to remember the close epoch. AckWithoutActing answers success without
// closing.
//
// Epoch: closes only from (recorded node, recorded epoch) and records a
// tombstone (in compatibility mode only when removed); anything else is
// acknowledged without closing. Off: a close always closes, no tombstone.
func ManagerClose(p Policy, o Owner, c Claim, removed bool) Decision {
	const r = RuleManagerClose
	if !o.Present {
		return decide(r, p, AckWithoutActing, o.Epoch, o.Node, c, "no dispatcher manager: already closed")
	}
	if p == Off {
		return decide(r, p, Accept, o.Epoch, o.Node, c, "close always closes")
	}
	v, why := admitOwner(o, c)
	if v != Accept {
		return decide(r, p, AckWithoutActing, o.Epoch, o.Node, c, "stale close acknowledged: "+why)
	}
	d := decide(r, p, Accept, o.Epoch, o.Node, c, why)
	d.Tombstone = c.Epoch != 0 || removed
	return d
}

// MaintainerResponse decides whether a maintainer at epoch local processes
// a bootstrap, post-bootstrap or close response.
//
// Epoch: exact match (0 only when the maintainer is 0). Off: processed.
func MaintainerResponse(p Policy, local uint64, c Claim) Decision {
	const r = RuleMaintainerResponse
	if p == Off {
		return decide(r, p, Accept, local, "", c, "unchecked")
	}
	v, why := exact(local, c.Epoch)
	return decide(r, p, v, local, "", c, why)
}

// MaintainerHeartbeat decides whether a maintainer at epoch local counts a
// dispatcher manager's HeartBeatRequest.
//
// Epoch: exact match, so a manager still owned by another generation does
// not count. Off: counted (heartbeats carried no epoch).
func MaintainerHeartbeat(p Policy, local uint64, c Claim) Decision {
	const r = RuleMaintainerBeat
	if p == Off {
		return decide(r, p, Accept, local, "", c, "heartbeats carry no epoch")
	}
	v, why := exact(local, c.Epoch)
	return decide(r, p, v, local, "", c, why)
}

// CheckpointWrite decides whether a coordinator that won the election at
// owner-key revision held may persist a checkpoint, given the owner key's
// current revision (0 when there is no owner key).
//
// Epoch: only while held equals the current revision. Off: unguarded.
func CheckpointWrite(p Policy, held, current int64) Decision {
	const r = RuleCheckpointWrite
	c := Claim{Epoch: uint64(max(held, 0))}
	local := uint64(max(current, 0))
	if p == Off {
		return decide(r, p, Accept, local, "", c, "checkpoint writes unguarded")
	}
	switch {
	case held <= 0:
		return decide(r, p, RejectUnknown, local, "", c, "writer holds no owner revision")
	case held != current:
		return decide(r, p, RejectStale, local, "", c, "owner key revision changed: writer was deposed")
	default:
		return decide(r, p, Accept, local, "", c, "writer is the current owner")
	}
}

// GuardCheckpointWrite reports whether a checkpoint write must be an etcd
// transaction comparing the owner key's revision (the store-side form of
// CheckpointWrite).
func GuardCheckpointWrite(p Policy) bool { return p != Off }

package fencing

// CoordinatorStatus decides whether the coordinator applies a maintainer
// status for a changefeed whose persisted epoch is local and whose
// maintainer is bound to bound ("" when none).
//
// Both policies first require the status to come from the bound node; a
// changefeed with no bound maintainer applies no status (TiCDC's
// validateMaintainerNode predates the epoch fix, so Off keeps it too).
// Epoch: the status must also carry exactly the changefeed's epoch.
// Off: the epoch is not checked.
func CoordinatorStatus(p Policy, local uint64, bound string, c Claim) Decision {
	const r = RuleCoordinatorStatus
	if d, ok := fromBound(r, p, local, bound, c, "changefeed has no bound maintainer", "status not from bound node"); !ok {
		return d
	}
	return exactUnlessOff(r, p, local, bound, c, "status epoch unchecked")
}

// CoordinatorBootstrap decides whether a coordinator that has just
// bootstrapped adopts a maintainer that node c.From reports (in its
// CoordinatorBootstrapResponse) for a changefeed whose persisted epoch is
// persisted. Accept binds the changefeed to c.From; any other verdict means
// the report is a stale generation that the caller stops with a remove
// stamped with the reported epoch (c.Epoch), so that the stale maintainer's
// own fence accepts it.
//
// Epoch: only a report of exactly the persisted epoch is adopted; the
// coordinator never adopts an older remote epoch (a review finding on
// TiCDC #5181). Off: any reported maintainer is adopted.
//
// NB: two reports that both Accept are two live maintainers of one
// generation; that breaks the bump-before-ownership-change invariant and the
// caller must surface it, not pick one.
func CoordinatorBootstrap(p Policy, persisted uint64, c Claim) Decision {
	const r = RuleCoordinatorBootstrap
	return exactUnlessOff(r, p, persisted, "", c, "reported maintainer adopted unchecked")
}

// OperatorCheck decides whether a status may finish an add/move/stop
// operator that targets dest at epoch opEpoch.
//
// Epoch: from dest at exactly opEpoch. Off: from dest, any epoch.
func OperatorCheck(p Policy, opEpoch uint64, dest string, c Claim) Decision {
	const r = RuleOperatorCheck
	if d, ok := fromBound(r, p, opEpoch, dest, c, "operator has no destination", "status not from operator destination"); !ok {
		return d
	}
	return exactUnlessOff(r, p, opEpoch, dest, c, "epoch unchecked")
}

// MaintainerRemove decides whether a maintainer at epoch local executes a
// RemoveMaintainerRequest.
//
// Epoch: exact match; epoch 0 only if the maintainer itself is epoch 0.
// Off: always executes.
func MaintainerRemove(p Policy, local uint64, c Claim) Decision {
	const r = RuleMaintainerRemove
	return exactUnlessOff(r, p, local, "", c, "remove unchecked")
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
	// Closed is set once a close was recorded for the changefeed on this
	// node; ClosedEpoch is the highest such epoch (the tombstone). The rules
	// consult it only while no manager is present.
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
		switch {
		case o.Epoch != 0:
			return RejectCompat, "epoch 0 while manager is strict"
		case o.Node != "" && o.Node != c.From:
			return RejectSender, "compatibility mode, not from the recorded owner node"
		default:
			return Accept, "compatibility mode"
		}
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

// ManagerClose decides what a dispatcher manager (or the orchestrator when
// none exists) does with a MaintainerCloseRequest. Accept closes the
// manager; AckWithoutActing answers success without closing. Either way the
// answer carries the request's epoch, so the sender's MaintainerResponse
// admits it and a removal-only maintainer stops retrying. Tombstone in the
// decision says to record Claim.Epoch as the changefeed's close tombstone;
// it is set only when that raises the tombstone, so the caller may simply
// overwrite.
//
// Epoch: closes only from (recorded node, recorded epoch); anything else is
// acknowledged without closing. A close that closes, and a close that finds
// no manager, record a tombstone, except that epoch 0 (which carries no
// order) records one only when removed. The tombstone then blocks a delayed
// bootstrap from resurrecting the manager (see ManagerBootstrap).
// Off: a close always closes, and nothing is remembered.
func ManagerClose(p Policy, o Owner, c Claim, removed bool) Decision {
	const r = RuleManagerClose
	if !o.Present {
		d := decide(r, p, AckWithoutActing, o.Epoch, o.Node, c, "no dispatcher manager to close")
		// NB: a close that overtakes a delayed bootstrap finds no manager;
		// without this tombstone the bootstrap would then create one for a
		// maintainer that has already finished its close fan-out.
		d.Tombstone = p != Off && raisesTombstone(o, c, removed)
		return d
	}
	if p == Off {
		return decide(r, p, Accept, o.Epoch, o.Node, c, "close always closes")
	}
	v, why := admitOwner(o, c)
	if v != Accept {
		return decide(r, p, AckWithoutActing, o.Epoch, o.Node, c, "stale close acknowledged: "+why)
	}
	d := decide(r, p, Accept, o.Epoch, o.Node, c, why)
	d.Tombstone = raisesTombstone(o, c, removed)
	return d
}

// raisesTombstone reports whether a close at c.Epoch must be recorded: epoch
// 0 has no order and is kept only for a removal, and a tombstone never
// moves down.
func raisesTombstone(o Owner, c Claim, removed bool) bool {
	if c.Epoch == 0 && !removed {
		return false
	}
	return !o.Closed || c.Epoch > o.ClosedEpoch
}

// MaintainerResponse decides whether a maintainer at epoch local processes
// a bootstrap, post-bootstrap or close response.
//
// Epoch: exact match (0 only when the maintainer is 0). Off: processed.
func MaintainerResponse(p Policy, local uint64, c Claim) Decision {
	const r = RuleMaintainerResponse
	return exactUnlessOff(r, p, local, "", c, "unchecked")
}

// MaintainerHeartbeat decides whether a maintainer at epoch local counts a
// dispatcher manager's HeartBeatRequest.
//
// Epoch: exact match, so a manager still owned by another generation does
// not count. Off: counted (heartbeats carried no epoch).
func MaintainerHeartbeat(p Policy, local uint64, c Claim) Decision {
	const r = RuleMaintainerBeat
	return exactUnlessOff(r, p, local, "", c, "heartbeats carry no epoch")
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

// exactUnlessOff ends the rules whose fix is an exact epoch match: Off
// accepts (offWhy says what went unchecked), Epoch wants local == c.Epoch.
func exactUnlessOff(r Rule, p Policy, local uint64, node string, c Claim, offWhy string) Decision {
	if p == Off {
		return decide(r, p, Accept, local, node, c, offWhy)
	}
	v, why := exact(local, c.Epoch)
	return decide(r, p, v, local, node, c, why)
}

// fromBound requires claim c to come from node, the one node a rule binds it
// to; ok is false, with the rejection, when there is none (noneWhy) or c is
// from another (otherWhy). Both policies check it.
func fromBound(r Rule, p Policy, local uint64, node string, c Claim, noneWhy, otherWhy string) (_ Decision, ok bool) {
	if node == "" {
		return decide(r, p, RejectUnknown, local, node, c, noneWhy), false
	}
	if c.From != node {
		return decide(r, p, RejectSender, local, node, c, otherWhy), false
	}
	return Decision{}, true
}

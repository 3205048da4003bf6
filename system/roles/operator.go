package roles

import (
	"fmt"

	"github.com/chaosrun/chaosrun/fencing"
	pb "github.com/chaosrun/chaosrun/heartbeatpb"
)

type opKind int

const (
	opAdd opKind = iota
	opMove
	opStop
)

// operator is one of TiCDC's add, move or stop maintainer operators. It is
// resent every ResendTicks until a status finishes it.
type operator struct {
	kind  opKind
	dest  string // add/move target, or the stop's node
	epoch uint64 // epoch of the add (new) or of the stopped maintainer

	origin        string // move: the current maintainer
	originEpoch   uint64 // move: its epoch, captured before the bump
	originStopped bool

	cascade  bool // stop
	lastSent int
}

// String formats the operator for status output.
func (op *operator) String() string {
	switch op.kind {
	case opAdd:
		return fmt.Sprintf("add(%s,e%d)", op.dest, op.epoch)
	case opMove:
		if op.originStopped {
			return fmt.Sprintf("move(%s->%s,e%d,adding)", op.origin, op.dest, op.epoch)
		}
		return fmt.Sprintf("move(%s@e%d->%s,e%d,removing)", op.origin, op.originEpoch, op.dest, op.epoch)
	default:
		return fmt.Sprintf("stop(%s,e%d)", op.dest, op.epoch)
	}
}

// sendOperator sends the operator's current message (its Schedule).
func (c *Coordinator) sendOperator(id string, cf *changefeed) {
	op := cf.op
	op.lastSent = c.tick
	switch {
	case op.kind == opStop:
		c.send(op.dest, TopicMaintainerManager, &pb.RemoveMaintainerRequest{
			ChangefeedId: id, Cascade: op.cascade, MaintainerEpoch: op.epoch, CoordinatorVersion: c.version,
		})
	case op.kind == opMove && !op.originStopped:
		c.send(op.origin, TopicMaintainerManager, &pb.RemoveMaintainerRequest{
			ChangefeedId: id, MaintainerEpoch: op.originEpoch, CoordinatorVersion: c.version,
		})
	default:
		c.send(op.dest, TopicMaintainerManager, &pb.AddMaintainerRequest{
			ChangefeedId:       id,
			Config:             EncodeConfig(ChangefeedConfig{Tables: cf.info.Tables}),
			CheckpointTs:       cf.info.Checkpoint,
			MaintainerEpoch:    op.epoch,
			CoordinatorVersion: c.version,
		})
	}
}

// checkOperator feeds a status to the changefeed's operator (TiCDC's
// op.Check) and finishes it when the status says so.
func (c *Coordinator) checkOperator(id string, cf *changefeed, from string, st *pb.MaintainerStatus) {
	op := cf.op
	working := st.GetState() == pb.ComponentState_COMPONENT_STATE_WORKING
	switch {
	case op.kind == opStop:
		if !working && c.decide(id, "MaintainerStatus", fencing.OperatorCheck(c.policy, op.epoch, op.dest, claim(from, st.GetMaintainerEpoch()))).Acts() {
			cf.op, cf.node, cf.phase = nil, "", cfStopped
		}
	case op.kind == opMove && !op.originStopped:
		if !working && c.decide(id, "MaintainerStatus", fencing.OperatorCheck(c.policy, op.originEpoch, op.origin, claim(from, st.GetMaintainerEpoch()))).Acts() {
			op.originStopped = true
			cf.node = ""
			c.sendOperator(id, cf)
		}
	default:
		if working && st.GetBootstrapDone() && c.decide(id, "MaintainerStatus", fencing.OperatorCheck(c.policy, op.epoch, op.dest, claim(from, st.GetMaintainerEpoch()))).Acts() {
			cf.op, cf.node, cf.phase = nil, op.dest, cfReplicating
		}
	}
}

// nodeRemoved is every operator's OnNodeRemove plus the replication set's
// reaction to losing the maintainer's node.
func (c *Coordinator) nodeRemoved(id string, cf *changefeed, n string) {
	if op := cf.op; op != nil {
		switch {
		case op.kind == opStop && op.dest == n:
			// Retarget to the coordinator's node, where a removal-only
			// maintainer runs the cascade (notes §6: its epoch may not match
			// the managers' recorded owner).
			op.dest = c.node
			c.sendOperator(id, cf)
		case op.kind == opMove && !op.originStopped && op.origin == n:
			op.originStopped = true
			cf.node = ""
			c.sendOperator(id, cf)
		case op.kind != opStop && op.dest == n:
			// The add may have been delivered: finish as absent rather than
			// fall back to the origin (two maintainers with the new epoch).
			cf.op, cf.node, cf.phase = nil, "", cfAbsent
		}
		return
	}
	if cf.node == n {
		cf.node = ""
		if cf.phase == cfReplicating {
			cf.phase = cfAbsent
		}
	}
}

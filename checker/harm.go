package checker

// Harm classification of the acts of a superseded generation.
//
// A control message of epoch e that a receiver acted on is one of two
// things:
//
//   - harmful: the receiver had already accepted a newer generation
//     (MsgEpoch < LocalEpoch) and still let e change its state — took over a
//     dispatcher manager, created or removed a dispatcher, closed a manager,
//     stopped a newer maintainer, adopted or counted a superseded one, moved a
//     checkpoint, wrote a watermark. That is exactly what fencing exists to
//     prevent, so it is judged with no tolerance: a receiver cannot claim it
//     did not know.
//   - uninformed: the receiver was still on epoch e itself (no newer
//     generation had reached it yet): a maintainer acknowledging its own
//     removal, a dispatcher manager of a cut-off node answering the maintainer
//     that still owns it. These are listed with their effect, not judged: no
//     rule could have refused them.
//
// Records follow the same rule from facts the writer stamps on them: a row or
// watermark whose epoch is below the highest epoch its writer had accepted
// (Record.Seen) was written by a generation the writer knew to be superseded,
// and a row of a dispatcher created by an older generation than its manager
// had accepted (DispatcherEpoch < DispatcherSeen) comes from an orphan
// dispatcher. Both are harmful and visible in Kafka alone.

// Effect says what acting on a control message of kind msgType does at a
// receiver in role, in words for a report. An unknown pair says so.
func Effect(role, msgType string) string {
	switch msgType {
	case "MaintainerBootstrapRequest":
		return "took over a dispatcher manager"
	case "MaintainerPostBootstrapRequest":
		return "started the table trigger of a dispatcher manager"
	case "ScheduleDispatcherRequest":
		return "created or removed a dispatcher"
	case "HeartBeatResponse":
		return "applied a maintainer's decision"
	case "MaintainerCloseRequest":
		return "closed a dispatcher manager"
	case "AddMaintainerRequest":
		return "created a maintainer"
	case "RemoveMaintainerRequest":
		return "stopped a maintainer"
	case "MaintainerStatus":
		return "moved the changefeed's checkpoint or finished an operator"
	case "CoordinatorBootstrapResponse":
		return "adopted a reported maintainer"
	case "PersistCheckpoint":
		return "persisted a checkpoint"
	case "HeartBeatRequest":
		return "counted a dispatcher manager's watermark"
	case "MaintainerBootstrapResponse", "MaintainerPostBootstrapResponse", "MaintainerCloseResponse":
		return "took an answer to a bootstrap or close"
	case "CheckpointTsMessage":
		if role == "maintainer" {
			return "forwarded a checkpoint to be written as a watermark"
		}
		return "wrote a watermark"
	}
	return "acted on " + msgType
}

// Harmful reports whether an act on a stale message changed state that a
// newer generation owned: the receiver acted although it had already
// accepted an epoch newer than the message's.
func Harmful(d DecisionEntry) bool {
	return d.Acted && d.MsgEpoch < d.LocalEpoch
}

// HarmfulRecord reports whether a record was written for a generation its
// writer already knew to be superseded, and why ("" when not).
func HarmfulRecord(r *Record) string {
	switch {
	case r.Seen > r.Epoch:
		return "stale-writer"
	case r.Kind == KindRow && r.DispatcherSeen > r.DispatcherEpoch:
		return "orphan-dispatcher"
	}
	return ""
}

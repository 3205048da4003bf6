package checker

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestHarmByMessageKind classifies an act on every control message kind,
// once by a receiver that had already accepted a newer epoch (harmful) and
// once by one still on the message's epoch (uninformed), and checks the
// effect each names.
func TestHarmByMessageKind(t *testing.T) {
	cases := []struct {
		role, msg, effect string
	}{
		{"dispatcher-manager", "MaintainerBootstrapRequest", "took over a dispatcher manager"},
		{"dispatcher-manager", "MaintainerPostBootstrapRequest", "started the table trigger of a dispatcher manager"},
		{"dispatcher-manager", "ScheduleDispatcherRequest", "created or removed a dispatcher"},
		{"dispatcher-manager", "HeartBeatResponse", "applied a maintainer's decision"},
		{"dispatcher-manager", "MaintainerCloseRequest", "closed a dispatcher manager"},
		{"dispatcher-manager", "CheckpointTsMessage", "wrote a watermark"},
		{"maintainer", "CheckpointTsMessage", "forwarded a checkpoint to be written as a watermark"},
		{"maintainer-manager", "AddMaintainerRequest", "created a maintainer"},
		{"maintainer-manager", "RemoveMaintainerRequest", "stopped a maintainer"},
		{"coordinator", "MaintainerStatus", "moved the changefeed's checkpoint or finished an operator"},
		{"coordinator", "CoordinatorBootstrapResponse", "adopted a reported maintainer"},
		{"coordinator", "PersistCheckpoint", "persisted a checkpoint"},
		{"maintainer", "HeartBeatRequest", "counted a dispatcher manager's watermark"},
		{"maintainer", "MaintainerBootstrapResponse", "took an answer to a bootstrap or close"},
		{"maintainer", "MaintainerPostBootstrapResponse", "took an answer to a bootstrap or close"},
		{"maintainer", "MaintainerCloseResponse", "took an answer to a bootstrap or close"},
		{"maintainer", "SomethingNew", "acted on SomethingNew"},
	}
	for _, c := range cases {
		t.Run(c.role+"/"+c.msg, func(t *testing.T) {
			assert.Equal(t, c.effect, Effect(c.role, c.msg))
			informed := DecisionEntry{Role: c.role, MsgType: c.msg, MsgEpoch: 3, LocalEpoch: 4, Acted: true}
			assert.True(t, Harmful(informed), "acted on epoch 3 after accepting 4")
			informed.Acted = false
			assert.False(t, Harmful(informed), "refused: no harm")
			own := DecisionEntry{Role: c.role, MsgType: c.msg, MsgEpoch: 3, LocalEpoch: 3, Acted: true}
			assert.False(t, Harmful(own), "the receiver was still on epoch 3: uninformed, not harmful")
			newer := DecisionEntry{Role: c.role, MsgType: c.msg, MsgEpoch: 5, LocalEpoch: 4, Acted: true}
			assert.False(t, Harmful(newer), "a newer generation taking over is the fix at work")
		})
	}
}

// TestHarmfulRecord covers the writer facts a record carries.
func TestHarmfulRecord(t *testing.T) {
	cases := []struct {
		name string
		r    Record
		want string
	}{
		{"current writer", Record{Kind: KindRow, Epoch: 4, Seen: 4, DispatcherEpoch: 4, DispatcherSeen: 4}, ""},
		{"no facts recorded", Record{Kind: KindRow, Epoch: 4}, ""},
		{"adopted dispatcher", Record{Kind: KindRow, Epoch: 5, Seen: 5, DispatcherEpoch: 4, DispatcherSeen: 4}, ""},
		{"uninformed zombie", Record{Kind: KindRow, Epoch: 3, Seen: 3, DispatcherEpoch: 3, DispatcherSeen: 3}, ""},
		{"overwritten back", Record{Kind: KindRow, Epoch: 3, Seen: 4, DispatcherEpoch: 3, DispatcherSeen: 3}, "stale-writer"},
		{"orphan dispatcher", Record{Kind: KindRow, Epoch: 4, Seen: 4, DispatcherEpoch: 3, DispatcherSeen: 4}, "orphan-dispatcher"},
		{"stale watermark", Record{Kind: KindWatermark, Epoch: 3, Seen: 4}, "stale-writer"},
		{"watermark ignores dispatcher facts", Record{Kind: KindWatermark, Epoch: 4, Seen: 4, DispatcherSeen: 9}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, HarmfulRecord(&c.r))
		})
	}
}

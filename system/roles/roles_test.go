package roles_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/fencing"
	pb "github.com/chaosrun/chaosrun/heartbeatpb"
	"github.com/chaosrun/chaosrun/system/roles"
)

func TestSteadyStateBothPolicies(t *testing.T) {
	for _, p := range []fencing.Policy{fencing.Epoch, fencing.Off} {
		t.Run(p.String(), func(t *testing.T) {
			c := warm(p)
			require.Empty(t, c.drops)
			ms := c.nodes["n1"].Maintainers.Maintainers()
			require.Contains(t, ms, "cf1")
			assert.Equal(t, uint64(2), ms["cf1"].Epoch, "the add carried the bumped epoch")
			assert.True(t, ms["cf1"].BootstrapDone)
			total := 0
			for _, id := range []string{"n1", "n2", "n3"} {
				v := c.nodes[id].Dispatchers.Managers()["cf1"]
				assert.Equal(t, "n1", v.Owner)
				assert.Equal(t, uint64(2), v.Epoch)
				total += len(v.Dispatchers)
			}
			assert.Equal(t, 4, total)
			before := c.cp
			for range 5 {
				c.round()
			}
			assert.Greater(t, c.cp, before, "checkpoint advances")
			assert.Equal(t, "replicating", c.nodes["n1"].Coordinator.Changefeeds()["cf1"].Phase)
		})
	}
}

func TestCheckpointStallsWithoutHeartbeat(t *testing.T) {
	c := warm(fencing.Epoch)
	// From now on n3's heartbeats are lost: the maintainer keeps n3's last
	// watermark, so the checkpoint cannot pass it.
	var last uint64
	for range 6 {
		c.upstream += 10
		for _, id := range []string{"n1", "n2", "n3"} {
			for d := range c.disp[id] {
				c.nodes[id].Dispatchers.DispatcherProgress("cf1", d, c.upstream)
			}
			c.nodes[id].Tick()
			c.drain(id)
		}
		var keep []*pb.Envelope
		for _, env := range c.queue {
			if env.GetFrom() != "n3" {
				keep = append(keep, env)
			}
		}
		c.queue = keep
		for len(c.queue) > 0 {
			env := c.queue[0]
			c.queue = c.queue[1:]
			c.nodes[env.GetTo()].Step(env)
			c.drain(env.GetTo())
		}
		last = c.nodes["n1"].Maintainers.Maintainers()["cf1"].Checkpoint
	}
	m := c.nodes["n1"].Maintainers.Maintainers()["cf1"]
	assert.Equal(t, last, m.Checkpoint)
	assert.Less(t, m.Checkpoint, c.upstream-30, "stuck at n3's last watermark")
}

func TestEpochBumpPersistedBeforeAdd(t *testing.T) {
	n := roles.NewNode("n1", fencing.Epoch, roles.Config{}, []string{"n1"})
	n.BecomeOwner(7)
	r := n.Ready()
	require.Len(t, r.Messages, 1) // the coordinator bootstrap
	n.Step(r.Messages[0])
	r = n.Ready()
	n.Step(r.Messages[0]) // the bootstrap response
	r = n.Ready()
	require.Equal(t, []roles.Effect{roles.LoadChangefeeds{}}, r.Effects)
	n.Coordinator.ChangefeedsLoaded([]roles.ChangefeedInfo{{ID: "cf1", Epoch: 4, Checkpoint: 10, Tables: []int64{1}}})
	n.Tick()
	r = n.Ready()
	require.Empty(t, r.Messages, "no add before the epoch is persisted")
	require.Equal(t, []roles.Effect{roles.PersistEpoch{Changefeed: "cf1", Expected: 4, Next: 5}}, r.Effects)
	n.Coordinator.EpochPersisted("cf1", roles.EpochResult{Unreachable: true})
	require.Empty(t, n.Ready().Messages, "an unreachable store issues nothing")
	n.Tick()
	require.Len(t, n.Ready().Effects, 1, "retried")
	n.Coordinator.EpochPersisted("cf1", roles.EpochResult{OK: true, Epoch: 5})
	r = n.Ready()
	require.Len(t, r.Messages, 1)
	add := r.Messages[0].GetPayloads()[0].GetAddMaintainerRequest()
	require.NotNil(t, add)
	assert.Equal(t, uint64(5), add.GetMaintainerEpoch())
	assert.Equal(t, int64(7), add.GetCoordinatorVersion())
}

func TestGuardedCheckpointDeposesCoordinator(t *testing.T) {
	c := warm(fencing.Epoch)
	co := c.nodes["n1"].Coordinator
	co.CheckpointPersisted("cf1", roles.CheckpointResult{CurrentRevision: 2})
	r := c.nodes["n1"].Ready()
	require.Contains(t, r.Effects, roles.Effect(roles.StepDown{Reason: "owner revision 1 is no longer current (2)"}))
	require.Len(t, r.Decisions, 1)
	assert.Equal(t, fencing.RejectStale, r.Decisions[0].Verdict)
	co.Tick()
	assert.True(t, co.Ready().Empty(), "a deposed coordinator does nothing")
}

func TestDropsLeaveStateUnchanged(t *testing.T) {
	cases := map[string]*pb.Envelope{
		"nil":           nil,
		"no sender":     {To: "n2", Topic: roles.TopicHeartbeatCollector, Payloads: []*pb.Message{{}}},
		"wrong node":    {From: "n1", To: "n9", Topic: roles.TopicHeartbeatCollector},
		"no payload":    {From: "n1", To: "n2", Topic: roles.TopicHeartbeatCollector},
		"unknown topic": {From: "n1", To: "n2", Topic: "nope", Payloads: []*pb.Message{roles.Wrap(&pb.HeartBeatResponse{ChangefeedId: "cf1"})}},
		"empty body":    {From: "n1", To: "n2", Topic: roles.TopicHeartbeatCollector, Payloads: []*pb.Message{{}}},
		"wrong topic":   {From: "n1", To: "n2", Topic: roles.TopicHeartbeatCollector, Payloads: []*pb.Message{roles.Wrap(&pb.AddMaintainerRequest{ChangefeedId: "cf1"})}},
		"no changefeed": roles.NewEnvelope("n1", "n2", &pb.MaintainerCloseRequest{MaintainerEpoch: 2}),
		"no config":     roles.NewEnvelope("n1", "n2", &pb.ScheduleDispatcherRequest{ChangefeedId: "cf1", MaintainerEpoch: 2, ScheduleAction: pb.ScheduleAction_SCHEDULE_ACTION_CREATE}),
		"bad action": roles.NewEnvelope("n1", "n2", &pb.ScheduleDispatcherRequest{ChangefeedId: "cf1", MaintainerEpoch: 2,
			Config: &pb.DispatcherConfig{DispatcherId: "x", Span: &pb.TableSpan{TableId: 1}}, ScheduleAction: 9}),
		"nil inner":  {From: "n1", To: "n2", Topic: roles.TopicDispatcherManagerManager, Payloads: []*pb.Message{{Body: &pb.Message_MaintainerCloseRequest{}}}},
		"bad config": roles.NewEnvelope("n1", "n2", &pb.AddMaintainerRequest{ChangefeedId: "cf1", Config: []byte("{"), MaintainerEpoch: 9}),
		"unknown cf": roles.NewEnvelope("n3", "n2", &pb.HeartBeatRequest{ChangefeedId: "cf9", Watermark: &pb.Watermark{}}),
		"not owner":  roles.NewEnvelope("n3", "n2", &pb.MaintainerHeartbeat{}),
	}
	for name, env := range cases {
		t.Run(name, func(t *testing.T) {
			c := warm(fencing.Epoch)
			n := c.nodes["n2"]
			before := n.String()
			n.Step(env)
			r := n.Ready()
			require.NotEmpty(t, r.Drops, "dropped with a reason")
			assert.Empty(t, r.Messages)
			assert.Empty(t, r.Effects)
			assert.Empty(t, r.Decisions)
			assert.Equal(t, before, n.String())
		})
	}
}

// TestChangefeedsAddedTogetherSpread: changefeeds that appear in one tick
// go to different nodes. An add counts against its destination while its
// epoch bump is still being persisted, else every one of them would pick
// the same least-loaded node.
func TestChangefeedsAddedTogetherSpread(t *testing.T) {
	n := roles.NewNode("n1", fencing.Epoch, roles.Config{}, []string{"n1"})
	n.BecomeOwner(1)
	n.Step(n.Ready().Messages[0]) // the coordinator bootstrap
	n.Step(n.Ready().Messages[0]) // its response
	require.Equal(t, []roles.Effect{roles.LoadChangefeeds{}}, n.Ready().Effects)
	n.Coordinator.NodesChanged([]string{"n1", "n2", "n3"})
	n.Coordinator.ChangefeedsLoaded([]roles.ChangefeedInfo{
		{ID: "cf1", Epoch: 1, Tables: []int64{1}}, {ID: "cf1.2", Epoch: 1, Tables: []int64{1}}, {ID: "cf1.3", Epoch: 1, Tables: []int64{1}},
	})
	n.Ready()
	n.Tick()
	var bumps []roles.PersistEpoch
	for _, e := range n.Ready().Effects {
		if pe, ok := e.(roles.PersistEpoch); ok {
			bumps = append(bumps, pe)
		}
	}
	require.Len(t, bumps, 3, "one add per changefeed, all in the same tick")
	dest := map[string]string{}
	for _, b := range bumps {
		n.Coordinator.EpochPersisted(b.Changefeed, roles.EpochResult{OK: true, Epoch: b.Next})
		for _, env := range n.Ready().Messages {
			for _, p := range env.GetPayloads() {
				if add := p.GetAddMaintainerRequest(); add != nil {
					dest[b.Changefeed] = env.GetTo()
				}
			}
		}
	}
	require.Len(t, dest, 3)
	assert.ElementsMatch(t, []string{"n1", "n2", "n3"}, []string{dest["cf1"], dest["cf1.2"], dest["cf1.3"]}, "%v", dest)
}

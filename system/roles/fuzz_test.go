package roles_test

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/chaosrun/chaosrun/fencing"
	pb "github.com/chaosrun/chaosrun/heartbeatpb"
	"github.com/chaosrun/chaosrun/system/roles"
)

var writeCorpus = flag.Bool("write-corpus", false, "rewrite the seed corpora under testdata/fuzz")

// seedEnvelopes covers every message kind, on the right and wrong topics,
// with current, stale, newer, zero and absurd epochs and with missing
// fields. In the warm cluster n1 is the owner and hosts cf1's maintainer
// at epoch 2.
func seedEnvelopes() []*pb.Envelope {
	cfg := roles.EncodeConfig(roles.ChangefeedConfig{Tables: []int64{1, 2}})
	span := &pb.TableSpan{TableId: 1, EndPk: 10}
	var out []*pb.Envelope
	for _, e := range []uint64{0, 2, 3, math.MaxUint64} {
		st := &pb.MaintainerStatus{ChangefeedId: "cf1", State: pb.ComponentState_COMPONENT_STATE_WORKING, BootstrapDone: true, CheckpointTs: math.MaxUint64, MaintainerEpoch: e}
		for _, from := range []string{"n1", "n2"} {
			out = append(out,
				roles.NewEnvelope(from, "n1", &pb.MaintainerHeartbeat{Statuses: []*pb.MaintainerStatus{st}}),
				roles.NewEnvelope(from, "n1", &pb.CoordinatorBootstrapResponse{Version: 1, Statuses: []*pb.MaintainerStatus{st}}),
				roles.NewEnvelope(from, "n1", &pb.AddMaintainerRequest{ChangefeedId: "cf1", Config: cfg, MaintainerEpoch: e, CoordinatorVersion: 1}),
				roles.NewEnvelope(from, "n1", &pb.RemoveMaintainerRequest{ChangefeedId: "cf1", Cascade: e%2 == 0, MaintainerEpoch: e}),
				roles.NewEnvelope(from, "n1", &pb.MaintainerBootstrapResponse{ChangefeedId: "cf1", MaintainerEpoch: e,
					Spans: []*pb.BootstrapTableSpan{{DispatcherId: "d", Span: span, ComponentStatus: pb.ComponentState_COMPONENT_STATE_WORKING}}}),
				roles.NewEnvelope(from, "n1", &pb.MaintainerPostBootstrapResponse{ChangefeedId: "cf1", MaintainerEpoch: e}),
				roles.NewEnvelope(from, "n1", &pb.MaintainerCloseResponse{ChangefeedId: "cf1", Success: true, MaintainerEpoch: e}),
				roles.NewEnvelope(from, "n1", &pb.HeartBeatRequest{ChangefeedId: "cf1", MaintainerEpoch: e,
					Watermark: &pb.Watermark{CheckpointTs: math.MaxUint64, Seq: math.MaxUint64},
					Statuses:  []*pb.TableSpanStatus{{DispatcherId: "t1@e2", ComponentStatus: pb.ComponentState_COMPONENT_STATE_STOPPED}}}),
				roles.NewEnvelope(from, "n1", &pb.CheckpointTsMessage{ChangefeedId: "cf1", CheckpointTs: math.MaxUint64, MaintainerEpoch: e}),
				roles.NewEnvelope(from, "n2", &pb.MaintainerBootstrapRequest{ChangefeedId: "cf1", Config: cfg, MaintainerEpoch: e}),
				roles.NewEnvelope(from, "n2", &pb.MaintainerPostBootstrapRequest{ChangefeedId: "cf1", MaintainerEpoch: e}),
				roles.NewEnvelope(from, "n2", &pb.MaintainerCloseRequest{ChangefeedId: "cf1", Removed: e == 0, MaintainerEpoch: e}),
				roles.NewEnvelope(from, "n2", &pb.ScheduleDispatcherRequest{ChangefeedId: "cf1", MaintainerEpoch: e,
					Config: &pb.DispatcherConfig{DispatcherId: "x", Span: span}, ScheduleAction: pb.ScheduleAction_SCHEDULE_ACTION_CREATE}),
				roles.NewEnvelope(from, "n2", &pb.HeartBeatResponse{ChangefeedId: "cf1", MaintainerEpoch: e}),
			)
		}
	}
	out = append(out,
		roles.NewEnvelope("n2", "n1", &pb.CoordinatorBootstrapRequest{Version: math.MaxInt64}),
		roles.NewEnvelope("n2", "n1", &pb.CoordinatorBootstrapRequest{Version: -1}),
		&pb.Envelope{From: "n1", To: "n2", Topic: "bogus", Payloads: []*pb.Message{roles.Wrap(&pb.HeartBeatResponse{ChangefeedId: "cf1"})}},
		&pb.Envelope{From: "n1", To: "n2", Topic: roles.TopicHeartbeatCollector, Payloads: []*pb.Message{{}}},
		&pb.Envelope{From: "n1", To: "n1", Topic: roles.TopicCoordinator},
		&pb.Envelope{To: "n1", Topic: roles.TopicCoordinator, Payloads: []*pb.Message{roles.Wrap(&pb.MaintainerHeartbeat{})}},
		roles.NewEnvelope("n1", "n2", &pb.ScheduleDispatcherRequest{ChangefeedId: "cf1", MaintainerEpoch: 2}),
		roles.NewEnvelope("n1", "n2", &pb.MaintainerCloseRequest{MaintainerEpoch: 2}),
		roles.NewEnvelope("n1", "n1", &pb.AddMaintainerRequest{ChangefeedId: "cf2", Config: []byte("not json"), MaintainerEpoch: 9}),
		roles.NewEnvelope("n2", "n1", &pb.HeartBeatRequest{ChangefeedId: "cf1"}),
	)
	return out
}

// seedBytes marshals the seeds that keep returns true for, plus garbage.
func seedBytes(t testing.TB, keep func(*pb.Envelope) bool) [][]byte {
	var out [][]byte
	for _, env := range seedEnvelopes() {
		if !keep(env) {
			continue
		}
		b, err := proto.Marshal(env)
		require.NoError(t, err)
		out = append(out, b)
	}
	return append(out, []byte{}, []byte{0xff, 0x01}, []byte("garbage"))
}

// target is one role's message entry point in a warm cluster.
type target interface {
	Step(env *pb.Envelope)
	Ready() roles.Ready
	String() string
}

// NB: the seeds live in testdata/fuzz/<target>/ (see TestWriteFuzzCorpus);
// go test runs them as ordinary subtests.
func fuzzRole(f *testing.F, pick func(*cluster) target) {
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := roles.DecodeEnvelope(data)
		if err != nil {
			return // the transport drops undecodable bytes
		}
		for _, p := range []fencing.Policy{fencing.Epoch, fencing.Off} {
			c := warm(p)
			tg := pick(c)
			dms := map[string]map[string]roles.ManagerView{}
			for id, n := range c.nodes {
				dms[id] = n.Dispatchers.Managers()
			}
			before := tg.String()
			tg.Step(env)
			r := tg.Ready()
			if len(r.Drops) > 0 && len(r.Decisions) == 0 && len(r.Messages) == 0 && len(r.Effects) == 0 {
				require.Equal(t, before, tg.String(), "policy %s: a dropped message changed the state: %v", p, r.Drops)
			}
			for _, d := range r.Drops {
				require.NotEmpty(t, d.Reason)
			}
			if p != fencing.Epoch {
				continue
			}
			for id, n := range c.nodes {
				for cf, after := range n.Dispatchers.Managers() {
					if old, ok := dms[id][cf]; ok {
						require.GreaterOrEqual(t, after.Epoch, old.Epoch, "%s: a manager's owner epoch went down", id)
					} else if tomb, ok := n.Dispatchers.Tombstone(cf); ok && after.Epoch <= tomb {
						require.Failf(t, "resurrected", "%s: manager of %s recreated at e%d under tombstone e%d", id, cf, after.Epoch, tomb)
					}
				}
			}
		}
	})
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := roles.DecodeEnvelope(data)
		if err != nil {
			require.Nil(t, env)
			return
		}
		_ = roles.CheckEnvelope(env, "n1")
		for _, m := range env.GetPayloads() {
			_ = roles.Kind(m)
			_ = roles.TopicOf(m)
		}
	})
}

func FuzzCoordinatorStep(f *testing.F) {
	fuzzRole(f, func(c *cluster) target { return c.nodes["n1"].Coordinator })
}

func FuzzMaintainerManagerStep(f *testing.F) {
	fuzzRole(f, func(c *cluster) target { return c.nodes["n1"].Maintainers })
}

func FuzzOrchestratorStep(f *testing.F) {
	fuzzRole(f, func(c *cluster) target { return c.nodes["n2"].Dispatchers })
}

func FuzzNodeStep(f *testing.F) {
	fuzzRole(f, func(c *cluster) target { return c.nodes["n1"] })
}

// TestWriteFuzzCorpus rewrites testdata/fuzz/<target>/ from seedEnvelopes
// when run with -write-corpus, so the seeds also run as files.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-corpus to rewrite the seed corpora")
	}
	topic := func(topics ...string) func(*pb.Envelope) bool {
		return func(e *pb.Envelope) bool { return slices.Contains(topics, e.GetTopic()) || e.GetTopic() == "bogus" }
	}
	targets := map[string]func(*pb.Envelope) bool{
		"FuzzDecodeEnvelope":        func(e *pb.Envelope) bool { return e.GetFrom() == "n1" && e.GetPayloads() != nil },
		"FuzzCoordinatorStep":       topic(roles.TopicCoordinator),
		"FuzzMaintainerManagerStep": topic(roles.TopicMaintainerManager, roles.TopicMaintainer),
		"FuzzOrchestratorStep":      topic(roles.TopicDispatcherManagerManager, roles.TopicHeartbeatCollector),
		"FuzzNodeStep":              func(*pb.Envelope) bool { return true },
	}
	for name, keep := range targets {
		dir := filepath.Join("testdata", "fuzz", name)
		require.NoError(t, os.RemoveAll(dir))
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for i, b := range seedBytes(t, keep) {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(b)))
			require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), []byte(body), 0o644))
		}
	}
}

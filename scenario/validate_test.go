package scenario

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validScenario returns a valid scenario to break one field of.
func validScenario(t *testing.T) Scenario {
	t.Helper()
	s, ok := Lookup("owner-isolation")
	require.True(t, ok)
	require.NoError(t, s.Validate())
	return s
}

// problemsOf returns the problems of a *ValidationError.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.ErrorIs(t, err, ErrInvalid)
	return ve.Problems
}

// TestValidateEachProblem breaks one field at a time: each must give
// exactly one problem, at its own path, saying what is wanted.
// onStep mutates the scenario's first fault step.
func onStep(f func(*FaultStep)) func(*Scenario) {
	return func(s *Scenario) { f(&s.Faults[0]) }
}

// problemCase is one mutation of the valid scenario and the one problem it
// must cause.
type problemCase struct {
	name   string
	mutate func(*Scenario)
	path   string
	msg    string
}

var problemCases = []problemCase{
	{"name missing", func(s *Scenario) { s.Name = "" }, "name", "required"},
	{"name with a space", func(s *Scenario) { s.Name = "owner iso" }, "name", `"owner iso": want 1-64 letters`},
	{"name too long", func(s *Scenario) { s.Name = strings.Repeat("a", 65) }, "name", "want 1-64"},
	{"description two lines", func(s *Scenario) { s.Description = "a\nb" }, "description", "one line"},
	{"description invalid UTF-8", func(s *Scenario) { s.Description = "\xff" }, "description", "one line"},
	{"description too long", func(s *Scenario) { s.Description = strings.Repeat("x", 201) }, "description", "201 characters (max 200)"},
	{"nodes too many", func(s *Scenario) { s.Topology.Nodes = 10 }, "topology.nodes", "10 out of range 1..9"},
	{"nodes negative", func(s *Scenario) { s.Topology.Nodes = -1 }, "topology.nodes", "-1 out of range 1..9"},
	{"two brokers", func(s *Scenario) { s.Topology.KafkaBrokers = 2 }, "topology.kafka_brokers", "2: want 1 or 3"},
	{"partitions", func(s *Scenario) { s.Topology.Partitions = 65 }, "topology.partitions", "65 out of range 1..64"},
	{"tables", func(s *Scenario) { s.Topology.Tables = -2 }, "topology.tables", "out of range 1..2000"},
	{"tables of debezium", func(s *Scenario) {
		s.Target = TargetDebezium
		s.Faults[0].Target = TargetTaskWorker
		s.Topology.Tables = 65
	}, "topology.tables", "65 out of range 1..64"},
	{"ttl short", func(s *Scenario) { s.Topology.TTL = 500 * time.Millisecond }, "topology.ttl", "500ms: want at least 1s"},
	{"ttl long", func(s *Scenario) { s.Topology.TTL = time.Hour }, "topology.ttl", "want at most 5m0s"},
	{"changefeed name", func(s *Scenario) { s.Topology.Changefeed = "cf 1" }, "topology.changefeed", `"cf 1"`},
	{"workload unknown", func(s *Scenario) { s.Workload.Name = "bnk" }, "workload.name", `unknown workload "bnk" (want append, bank, hotkey)`},
	{"rate negative", func(s *Scenario) { s.Workload.Rate = -5 }, "workload.rate", "want transactions per second"},
	{"rate infinite", func(s *Scenario) { s.Workload.Rate = math.Inf(1) }, "workload.rate", "+Inf"},
	{"rate NaN", func(s *Scenario) { s.Workload.Rate = math.NaN() }, "workload.rate", "NaN"},
	{"workers", func(s *Scenario) { s.Workload.Workers = 1000 }, "workload.workers", "1000 out of range 1..256"},
	{"rows per txn", func(s *Scenario) { s.Workload.RowsPerTxn = 5000 }, "workload.rows_per_txn", "5000 out of range 1..1000"},
	{"rows per txn of bank", func(s *Scenario) { s.Workload.Name = "bank"; s.Workload.RowsPerTxn = 10 }, "workload.rows_per_txn", "only the append workload writes more than one row per transaction"},
	{"slo lag", func(s *Scenario) { s.SLOs.Lag = -time.Second }, "slos.lag", "-1s: must be positive"},
	{"slo window", func(s *Scenario) { s.SLOs.Window = -time.Second }, "slos.window", "must be positive"},
	{"slo recovery", func(s *Scenario) { s.SLOs.Recovery = -time.Second }, "slos.recovery", "must be positive"},
	{"slo zombie", func(s *Scenario) { s.SLOs.Zombie = -time.Second }, "slos.zombie", "-1s is negative"},
	{"slo too long", func(s *Scenario) { s.SLOs.Recovery = 25 * time.Hour }, "slos.recovery", "want at most 24h0m0s"},
	{"steady lag", func(s *Scenario) { s.Steady.Lag = -1 }, "steady.lag", "must be positive"},
	{"steady shorter than its window", func(s *Scenario) { s.Steady.Timeout = 2 * time.Second }, "steady.timeout", "2s is shorter than steady.window 5s"},
	{"recovery window", func(s *Scenario) { s.RecoveryWindow = -time.Second }, "recovery_window", "must be positive"},
	{"recovery window too long", func(s *Scenario) { s.RecoveryWindow = 25 * time.Hour }, "recovery_window", "want at most 24h0m0s"},
	{"drain deadline", func(s *Scenario) { s.DrainDeadline = -time.Second }, "drain_deadline", "must be positive"},
	{"timeout negative", func(s *Scenario) { s.Timeout = -time.Second }, "timeout", "must be positive"},
	{"timeout shorter than the phases", func(s *Scenario) { s.Timeout = 30 * time.Second }, "timeout",
		"30s is shorter than the worst case of the phases it bounds: steady gate 1m0s + faults 16s + recovery window 20s + drain 30s = 2m6s"},
	{"fault after the timeout", func(s *Scenario) { s.Timeout = 10 * time.Second }, "faults[0]", "can heal as late as 16s, after the run's timeout 10s"},
	{"kind missing", onStep(func(f *FaultStep) { f.Kind = "" }), "faults[0].kind", "required (want isolate, one-way-in, one-way-out, hold, delay, loss, pause, kill-restart)"},
	{"kind unknown", onStep(func(f *FaultStep) { f.Kind = "cut" }), "faults[0].kind", `unknown kind "cut"`},
	{"target missing", onStep(func(f *FaultStep) { f.Target = "" }), "faults[0].target", "required"},
	{"target unknown", onStep(func(f *FaultStep) { f.Target = "ownr" }), "faults[0].target", `unknown role "ownr" (want owner, maintainer-of:<cf>, node:<n>, bystander, kafka, meta, upstream; for the debezium target task-worker, leader, node:<n>, kafka, upstream)`},
	{"target with an argument", onStep(func(f *FaultStep) { f.Target = "owner:1" }), "faults[0].target", "owner takes no argument"},
	{"node beyond the topology", onStep(func(f *FaultStep) { f.Target = "node:4" }), "faults[0].target", `"node:4": node 4 does not exist (topology.nodes is 3)`},
	{"node zero", onStep(func(f *FaultStep) { f.Target = "node:0" }), "faults[0].target", "want node:<n> with n a number from 1 to 3"},
	{"node not canonical", onStep(func(f *FaultStep) { f.Target = "node:02" }), "faults[0].target", "want node:<n>"},
	{"node by id", onStep(func(f *FaultStep) { f.Target = "node:n2" }), "faults[0].target", "want node:<n>"},
	{"maintainer of nothing", onStep(func(f *FaultStep) { f.Target = "maintainer-of:" }), "faults[0].target", "want maintainer-of:<cf>"},
	{"maintainer of another changefeed", onStep(func(f *FaultStep) { f.Target = "maintainer-of:cf9" }), "faults[0].target",
		`no changefeed "cf9" (the changefeeds are cf1)`},
	{"maintainer of a changefeed past the last", func(s *Scenario) { s.Topology.Changefeeds, s.Faults[0].Target = 2, "maintainer-of:cf1.3" },
		"faults[0].target", `no changefeed "cf1.3" (the changefeeds are cf1, cf1.2)`},
	{"changefeeds too many", func(s *Scenario) { s.Topology.Changefeeds = 17 }, "topology.changefeeds", "17 out of range 1..16"},
	{"changefeeds of debezium", func(s *Scenario) {
		s.Target = TargetDebezium
		s.Faults[0].Target = TargetTaskWorker
		s.Topology.Changefeeds = 2
	}, "topology.changefeeds", "2 out of range 1..1"},
	{"changefeed names too long", func(s *Scenario) {
		s.Topology.Changefeed, s.Topology.Changefeeds = strings.Repeat("c", 63), 2
		s.Faults[0].Target = "owner"
	}, "topology.changefeed", "(" + strings.Repeat("c", 63) + ".2) must be at most 64 characters"},
	{"cut without links", onStep(func(f *FaultStep) { f.Links = nil }), "faults[0].links", "isolate needs at least one link set"},
	{"unknown link", onStep(func(f *FaultStep) { f.Links = []string{"peers", "etcd"} }), "faults[0].links[1]",
		`unknown link set "etcd" (want peers, meta, upstream, kafka)`},
	{"link twice", onStep(func(f *FaultStep) { f.Links = []string{"meta", "peers", "meta"} }), "faults[0].links[2]", `"meta" listed twice`},
	{"cut from itself", onStep(func(f *FaultStep) { f.Target, f.Links = "kafka", []string{"peers", "kafka"} }), "faults[0].links[1]",
		"target kafka cannot be cut from itself"},
	{"no peers", func(s *Scenario) { s.Topology.Nodes = 1 }, "faults[0].links[0]", "a node has no peers: topology.nodes is 1"},
	{"pause with links", onStep(func(f *FaultStep) { f.Kind = KindPause }), "faults[0].links", "pause takes no links"},
	{"unknown backend", onStep(func(f *FaultStep) { f.Backend = "iptables" }), "faults[0].backend", `unknown backend "iptables"`},
	{"process fault with a backend", onStep(func(f *FaultStep) { f.Kind, f.Links, f.Backend = KindPause, nil, BackendNetns }), "faults[0].backend",
		"pause is a process fault"},
	{"unknown restart", onStep(func(f *FaultStep) { f.Kind, f.Links, f.Restart = KindKillRestart, nil, "fresh" }), "faults[0].restart",
		`unknown restart mode "fresh" (want same-id or new-id)`},
	{"new id for kafka", onStep(func(f *FaultStep) { f.Kind, f.Links, f.Target, f.Restart = KindKillRestart, nil, "kafka", RestartNewID }),
		"faults[0].restart", "new-id only applies to CDC nodes, not to kafka"},
	{"restart of a cut", onStep(func(f *FaultStep) { f.Restart = RestartSameID }), "faults[0].restart", "only kill-restart restarts (kind is isolate)"},
	{"delay missing", onStep(func(f *FaultStep) { f.Kind = KindDelay }), "faults[0].delay", "required for delay (want 1ms..1m0s)"},
	{"delay too short", onStep(func(f *FaultStep) { f.Kind, f.Delay = KindDelay, 500*time.Microsecond }), "faults[0].delay", "500µs: want 1ms..1m0s"},
	{"delay too long", onStep(func(f *FaultStep) { f.Kind, f.Delay = KindDelay, 2*time.Minute }), "faults[0].delay", "2m0s: want 1ms..1m0s"},
	{"delay negative", onStep(func(f *FaultStep) { f.Kind, f.Delay = KindDelay, -time.Second }), "faults[0].delay", "-1s: want 1ms..1m0s"},
	{"delay on a cut", onStep(func(f *FaultStep) { f.Delay = time.Second }), "faults[0].delay", "only delay takes a delay (kind is isolate)"},
	{"delay on a hold", onStep(func(f *FaultStep) { f.Kind, f.Delay = KindHold, time.Second }), "faults[0].delay", "only delay takes a delay (kind is hold)"},
	{"delay on a pause", onStep(func(f *FaultStep) { f.Kind, f.Links, f.Delay = KindPause, nil, time.Second }), "faults[0].delay",
		"only delay takes a delay (kind is pause)"},
	{"loss missing", onStep(func(f *FaultStep) { f.Kind = KindLoss }), "faults[0].loss", "required for loss"},
	{"loss certain", onStep(func(f *FaultStep) { f.Kind, f.Loss = KindLoss, 1 }), "faults[0].loss", "1: want a probability strictly between 0 and 1"},
	{"loss negative", onStep(func(f *FaultStep) { f.Kind, f.Loss = KindLoss, -0.1 }), "faults[0].loss", "-0.1: want a probability"},
	{"loss NaN", onStep(func(f *FaultStep) { f.Kind, f.Loss = KindLoss, math.NaN() }), "faults[0].loss", "NaN: want a probability"},
	{"loss on a delay", onStep(func(f *FaultStep) { f.Kind, f.Delay, f.Loss = KindDelay, time.Second, 0.5 }), "faults[0].loss",
		"only loss takes a loss (kind is delay)"},
	{"loss on toxiproxy", onStep(func(f *FaultStep) { f.Kind, f.Loss, f.Backend = KindLoss, 0.3, BackendToxiproxy }), "faults[0].backend",
		"loss needs backend netns: toxiproxy relays TCP streams and has no packets to lose"},
	{"hold without links", onStep(func(f *FaultStep) { f.Kind, f.Links = KindHold, nil }), "faults[0].links", "hold needs at least one link set"},
	{"at negative", onStep(func(f *FaultStep) { f.At = Fixed(-time.Second) }), "faults[0].at", "-1s is negative"},
	{"at backwards", onStep(func(f *FaultStep) { f.At = Between(6*time.Second, 3*time.Second) }), "faults[0].at", "6s is after 3s"},
	{"at too late", onStep(func(f *FaultStep) { f.At = Fixed(25 * time.Hour) }), "faults[0].at", "want at most 24h0m0s"},
	{"duration zero", onStep(func(f *FaultStep) { f.Duration = Range{} }), "faults[0].duration", "0s: must be positive"},
	{"repeat negative", onStep(func(f *FaultStep) { f.Repeat.Count = -1 }), "faults[0].repeat.count", "-1: want 2..100 occurrences"},
	{"repeat too often", onStep(func(f *FaultStep) { f.Repeat = Repeat{Count: 101, Every: Fixed(time.Minute)} }), "faults[0].repeat.count", "101"},
	{"repeat without every", onStep(func(f *FaultStep) { f.Repeat.Count = 3 }), "faults[0].repeat.every", "required when repeat.count is 3"},
	{"every without repeat", onStep(func(f *FaultStep) { f.Repeat.Every = Fixed(time.Minute) }), "faults[0].repeat.every", "set, but repeat.count is 0"},
	{"repeats overlap", onStep(func(f *FaultStep) { f.Repeat = Repeat{Count: 2, Every: Fixed(5 * time.Second)} }), "faults[0].repeat.every",
		"5s leaves no gap after a duration of up to 10s"},
	{"steps overlap", func(s *Scenario) {
		s.Faults = append(s.Faults, FaultStep{Kind: KindPause, Target: TargetOwner, At: Fixed(12 * time.Second), Duration: Fixed(time.Second)})
	}, "faults[1].at", `overlaps faults[0] on target "owner": in the worst case it holds 12s..13s and faults[0] holds 3s..16s`},
	{"too many steps", func(s *Scenario) { s.Faults = make([]FaultStep, 33) }, "faults", "33 steps (max 32)"},
	{"unknown target system", func(s *Scenario) { s.Target = "kafka-connect" }, "target", `unknown target "kafka-connect" (want cdc or debezium)`},
	{"connect role on cdc", onStep(func(f *FaultStep) { f.Target = TargetTaskWorker }), "faults[0].target",
		`"task-worker" is a role of the debezium target, not of cdc`},
	{"control-plane role on debezium", func(s *Scenario) { s.Target = TargetDebezium }, "faults[0].target",
		`"owner" is a role of the cdc target, not of debezium`},
	{"unknown sink", func(s *Scenario) { s.Sink = "transactional" }, "sink", `unknown sink "transactional" (want idempotent or txn)`},
}

func TestValidateEachProblem(t *testing.T) {
	for _, tc := range problemCases {
		t.Run(tc.name, func(t *testing.T) {
			s := validScenario(t)
			tc.mutate(&s)
			ps := problemsOf(t, s.Validate())
			require.Len(t, ps, 1, "want exactly one problem, got %v", ps)
			assert.Equal(t, tc.path, ps[0].Path)
			assert.Contains(t, ps[0].Msg, tc.msg)
		})
	}
}

func TestValidateNetworkKinds(t *testing.T) {
	for _, k := range Kinds() {
		assert.Equal(t, k != KindPause && k != KindKillRestart, k.Network(), k)
	}
	for _, f := range []FaultStep{
		{Kind: KindHold, Target: TargetOwner, Links: []string{LinkPeers, LinkMeta}, Backend: BackendToxiproxy},
		{Kind: KindDelay, Target: "node:2", Links: []string{LinkUpstream}, Delay: time.Millisecond},
		{Kind: KindDelay, Target: "node:2", Links: []string{LinkUpstream}, Delay: time.Minute, Backend: BackendToxiproxy},
		{Kind: KindLoss, Target: TargetMeta, Links: []string{LinkPeers}, Loss: 0.001, Backend: BackendNetns},
		{Kind: KindLoss, Target: TargetKafka, Links: []string{LinkPeers}, Loss: 0.999},
	} {
		f.At, f.Duration = Fixed(time.Second), Fixed(2*time.Second)
		s := Scenario{Name: "net", Faults: []FaultStep{f}}
		require.NoError(t, s.Validate(), "%+v", f)
		p, err := s.Plan(1)
		require.NoError(t, err)
		assert.Equal(t, f.Delay, p.Steps[0].Delay)
		assert.Equal(t, f.Loss, p.Steps[0].Loss)
	}
	// A hold of the peers and a delay to the meta store may overlap.
	s := Scenario{Name: "overlap", Faults: []FaultStep{
		{Kind: KindHold, Target: TargetOwner, Links: []string{LinkPeers}, At: Fixed(time.Second), Duration: Fixed(5 * time.Second)},
		{Kind: KindDelay, Target: TargetOwner, Links: []string{LinkMeta}, Delay: 100 * time.Millisecond, At: Fixed(2 * time.Second), Duration: Fixed(time.Second)},
	}}
	require.NoError(t, s.Validate())
}

// TestParseNetworkKinds reads delay and loss from YAML and writes them
// back.
func TestParseNetworkKinds(t *testing.T) {
	s, err := Parse([]byte("name: n\nfaults:\n  - {kind: delay, target: owner, links: [peers], delay: 250ms, duration: 2s}\n" +
		"  - {kind: loss, target: meta, links: [peers], loss: 0.25, backend: netns, at: 5s, duration: 1s}\n"))
	require.NoError(t, err)
	assert.Equal(t, 250*time.Millisecond, s.Faults[0].Delay)
	assert.Equal(t, 0.25, s.Faults[1].Loss)
	text, err := s.YAML()
	require.NoError(t, err)
	assert.Contains(t, string(text), "delay: 250ms")
	assert.Contains(t, string(text), "loss: 0.25")

	_, err = Parse([]byte("name: n\nfaults:\n  - {kind: loss, target: owner, links: [peers], loss: 0.3, backend: toxiproxy, duration: 2s}\n"))
	assert.ErrorContains(t, err, "line 3: faults[0].backend: loss needs backend netns")
	_, err = Parse([]byte("name: n\nfaults:\n  - {kind: delay, target: owner, links: [peers], delay: lots, duration: 2s}\n"))
	assert.ErrorContains(t, err, "faults[0].delay: want a duration like 5s")
}

func TestValidateReportsEveryProblem(t *testing.T) {
	s := validScenario(t)
	s.Topology.Nodes = 12
	s.Workload.Name = "bnk"
	s.Faults[0].Target = "ownr"
	s.Faults = append(s.Faults, FaultStep{Kind: KindPause, Target: "node:2", Links: []string{"peers"}, At: Fixed(time.Second), Duration: Fixed(time.Second)})
	s.SLOs.Lag = -time.Second

	err := s.Validate()
	var paths []string
	for _, p := range problemsOf(t, err) {
		paths = append(paths, p.Path)
	}
	assert.Equal(t, []string{"topology.nodes", "workload.name", "slos.lag", "faults[0].target", "faults[1].links"}, paths)
	assert.Equal(t, `topology.nodes: 12 out of range 1..9
workload.name: unknown workload "bnk" (want append, bank, hotkey)
slos.lag: -1s: must be positive
faults[0].target: unknown role "ownr" (want owner, maintainer-of:<cf>, node:<n>, bystander, kafka, meta, upstream; for the debezium target task-worker, leader, node:<n>, kafka, upstream)
faults[1].links: pause takes no links (only the network kinds do: isolate, one-way-in, one-way-out, hold, delay, loss)`, err.Error())

	// Every problem is an error of its own.
	var p Problem
	require.ErrorAs(t, err, &p)
	assert.Equal(t, "topology.nodes", p.Path)
}

// TestValidateZeroMeansDefault: an empty scenario needs only a name.
// TestValidateOverlapDoesNotNeedTheTimeout: a bad timeout hides no overlap.
func TestValidateOverlapDoesNotNeedTheTimeout(t *testing.T) {
	s := validScenario(t)
	s.Timeout = -time.Second
	s.Faults = append(s.Faults, FaultStep{Kind: KindPause, Target: TargetOwner, At: Fixed(12 * time.Second), Duration: Fixed(time.Second)})
	var paths []string
	for _, p := range problemsOf(t, s.Validate()) {
		paths = append(paths, p.Path)
	}
	assert.Equal(t, []string{"timeout", "faults[1].at"}, paths)
}

func TestValidateZeroMeansDefault(t *testing.T) {
	assert.NoError(t, Scenario{Name: "baseline"}.Validate())
	s := Scenario{Name: "baseline"}.WithDefaults()
	assert.Equal(t, Topology{Nodes: 3, KafkaBrokers: 1, Partitions: 4, Tables: 2, TTL: 5 * time.Second, Changefeed: "cf1", Changefeeds: 1}, s.Topology)
	assert.Equal(t, Workload{Name: "append", Rate: 200, Workers: 4, RowsPerTxn: 1}, s.Workload)
	assert.Equal(t, SLOs{Lag: 3 * time.Second, Window: 5 * time.Second, Recovery: 30 * time.Second}, s.SLOs)
	assert.Equal(t, Steady{Lag: 3 * time.Second, Window: 5 * time.Second, Timeout: time.Minute}, s.Steady)
	assert.Equal(t, 20*time.Second, s.RecoveryWindow)
	assert.Equal(t, 30*time.Second, s.DrainDeadline)
	assert.Equal(t, ProvisionAllowance+time.Minute+20*time.Second+30*time.Second, s.Timeout)

	// The steady gate follows the SLOs unless set.
	s = Scenario{Name: "x", SLOs: SLOs{Lag: time.Second, Window: 2 * time.Second}}.WithDefaults()
	assert.Equal(t, Steady{Lag: time.Second, Window: 2 * time.Second, Timeout: time.Minute}, s.Steady)

	// kill-restart restarts under the same id unless told otherwise.
	s = Scenario{Name: "x", Faults: []FaultStep{{Kind: KindKillRestart, Target: "node:1", Duration: Fixed(time.Second)}}}.WithDefaults()
	assert.Equal(t, RestartSameID, s.Faults[0].Restart)
}

func TestWithDefaultsDoesNotAlias(t *testing.T) {
	s := Scenario{Name: "x", Faults: []FaultStep{{Kind: KindIsolate, Target: "owner", Links: []string{"peers"}, Duration: Fixed(time.Second)}}}
	d := s.WithDefaults()
	d.Faults[0].Links[0] = "kafka"
	d.Faults[0].Target = "meta"
	assert.Equal(t, "peers", s.Faults[0].Links[0])
	assert.Equal(t, "owner", s.Faults[0].Target)
}

func TestValidationErrorFormat(t *testing.T) {
	err := &ValidationError{Source: "x.yaml", Problems: []Problem{
		{Path: "topology.nodes", Msg: "12 out of range 1..9", Line: 4},
		{Path: "name", Msg: "required"},
	}}
	assert.Equal(t, "x.yaml:4: topology.nodes: 12 out of range 1..9\nx.yaml: name: required", err.Error())
	err.Source = ""
	assert.Equal(t, "line 4: topology.nodes: 12 out of range 1..9\nname: required", err.Error())
	assert.True(t, errors.Is(err, ErrInvalid))
	assert.Len(t, err.Unwrap(), 2)
}

// TestConnectBuiltinsValidate checks the debezium built-ins: valid, netns
// scenarios with the exactly-once A/B declared.
func TestConnectBuiltinsValidate(t *testing.T) {
	for _, name := range []string{"connect-task-worker-isolation", "connect-task-worker-kill", "connect-leader-isolation", "connect-task-worker-pause"} {
		s, ok := Lookup(name)
		require.True(t, ok, name)
		assert.NoError(t, s.Validate(), name)
		assert.Equal(t, TargetDebezium, s.Target, name)
		assert.Equal(t, ExpectPass, s.Expect.On, name)
		assert.NotEmpty(t, s.Expect.Reason, name)
	}
}

// TestValidateSink checks the sink field: empty, idempotent and txn are
// valid for cdc; the debezium target refuses txn (its exactly-once support
// is its transactional arm) and accepts idempotent.
func TestValidateSink(t *testing.T) {
	for _, sink := range []string{"", SinkIdempotent, SinkTxn} {
		s := validScenario(t)
		s.Sink = sink
		assert.NoError(t, s.Validate(), "sink %q", sink)
	}
	s, ok := Lookup("connect-task-worker-isolation")
	require.True(t, ok)
	s.Sink = SinkIdempotent
	assert.NoError(t, s.Validate())
	s.Sink = SinkTxn
	ps := problemsOf(t, s.Validate())
	require.Len(t, ps, 1, "%v", ps)
	assert.Equal(t, "sink", ps[0].Path)
	assert.Contains(t, ps[0].Msg, "txn is a cdc sink mode")
}

// TestSinkOf checks the precedence: the run's override, the scenario's,
// idempotent.
func TestSinkOf(t *testing.T) {
	assert.Equal(t, SinkIdempotent, SinkOf(Scenario{}, ""))
	assert.Equal(t, SinkTxn, SinkOf(Scenario{Sink: SinkTxn}, ""))
	assert.Equal(t, SinkIdempotent, SinkOf(Scenario{Sink: SinkTxn}, SinkIdempotent))
	assert.Equal(t, SinkTxn, SinkOf(Scenario{}, SinkTxn))
}

// TestParseSink checks that sink is a known YAML field and round-trips.
func TestParseSink(t *testing.T) {
	s, err := Parse([]byte("name: txn-baseline\nsink: txn\n"))
	require.NoError(t, err)
	assert.Equal(t, SinkTxn, s.Sink)
}

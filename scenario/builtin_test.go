package scenario

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/workloads"
)

func TestBuiltinsValidate(t *testing.T) {
	names := map[string]bool{}
	for _, s := range Builtins() {
		require.NoError(t, s.Validate(), s.Name)
		assert.False(t, names[s.Name], "duplicate %s", s.Name)
		names[s.Name] = true
		assert.NotEmpty(t, s.Description, s.Name)
		assert.NotContains(t, s.Description, "\n", s.Name)
		assert.LessOrEqual(t, len(s.Description), 100, "%s: one short line for chaosrun list", s.Name)
		assert.Equal(t, s, s.WithDefaults(), "%s: defaults filled in", s.Name)
	}
	assert.Equal(t, []string{"owner-isolation", "owner-meta-cut", "stale-bootstrap-in-flight", "owner-isolation-flapping", "owner-pause", "owner-kafka-cut",
		"asymmetric-owner", "maintainer-node-kill", "connect-task-worker-isolation", "connect-task-worker-kill", "connect-leader-isolation",
		"connect-task-worker-pause"}, Names())
}

func TestBuiltinsAreCopies(t *testing.T) {
	a := Builtins()
	a[0].Faults[0].Links[0] = "kafka"
	a[0].Name = "changed"
	b, ok := Lookup("owner-isolation")
	require.True(t, ok)
	assert.Equal(t, LinkPeers, b.Faults[0].Links[0])
	_, ok = Lookup("changed")
	assert.False(t, ok)
}

// TestBuiltinsParameters pins what each built-in promises in its name and
// description.
func TestBuiltinsParameters(t *testing.T) {
	get := func(name string) (Scenario, FaultStep) {
		s, ok := Lookup(name)
		require.True(t, ok, name)
		require.Len(t, s.Faults, 1, name)
		return s, s.Faults[0]
	}
	nodeLinks := []string{LinkPeers, LinkMeta, LinkUpstream}

	s, f := get("owner-isolation")
	assert.Equal(t, KindIsolate, f.Kind)
	assert.Equal(t, TargetOwner, f.Target)
	assert.Equal(t, nodeLinks, f.Links, "cut from peers, meta and upstream")
	assert.NotContains(t, f.Links, LinkKafka, "Kafka kept")
	assert.Equal(t, 3*time.Second, s.Topology.TTL)
	assert.Equal(t, Fixed(10*time.Second), f.Duration)
	assert.Greater(t, f.Duration.Min, s.Topology.TTL, "held past the TTL")

	s, f = get("owner-isolation-flapping")
	assert.Equal(t, KindIsolate, f.Kind)
	assert.Equal(t, nodeLinks, f.Links)
	assert.GreaterOrEqual(t, f.Repeat.Count, 3, "repeated")
	assert.LessOrEqual(t, f.Duration.Max, 2*s.Topology.TTL, "short cuts")

	s, f = get("owner-pause")
	assert.Equal(t, KindPause, f.Kind)
	assert.Equal(t, TargetOwner, f.Target)
	assert.Greater(t, f.Duration.Min, s.Topology.TTL, "paused past the TTL")

	_, f = get("owner-kafka-cut")
	assert.Equal(t, KindIsolate, f.Kind)
	assert.Equal(t, TargetOwner, f.Target)
	assert.Equal(t, []string{LinkKafka}, f.Links, "Kafka only")

	_, f = get("asymmetric-owner")
	assert.Equal(t, KindOneWayIn, f.Kind, "can send but not receive")
	assert.Equal(t, TargetOwner, f.Target)

	s, f = get("maintainer-node-kill")
	assert.Equal(t, KindKillRestart, f.Kind)
	assert.Equal(t, MaintainerOf(s.Topology.Changefeed), f.Target)
	assert.Equal(t, RestartSameID, f.Restart)
}

// TestBuiltinsSizedForCI: the timed phases of a built-in (steady window,
// faults, recovery window) leave room for provisioning and the drain inside
// about 90 s.
func TestBuiltinsSizedForCI(t *testing.T) {
	for _, s := range Builtins() {
		timed := s.Steady.Window + s.FaultsEnd() + s.RecoveryWindow
		assert.LessOrEqual(t, timed, 65*time.Second, s.Name)
	}
	s, _ := Lookup("owner-isolation")
	assert.LessOrEqual(t, s.Steady.Window+s.FaultsEnd()+s.RecoveryWindow, 45*time.Second)
	assert.Equal(t, 20*time.Second, s.RecoveryWindow)
}

func TestWorkloadNamesMatchWorkloads(t *testing.T) {
	assert.Equal(t, workloads.Names(), Workloads())
}

func TestDescriptionsMentionNoStaleTTL(t *testing.T) {
	for _, s := range Builtins() {
		if strings.Contains(s.Description, "TTL") {
			assert.Contains(t, s.Description, s.Topology.TTL.String()+" TTL", s.Name)
		}
		assert.True(t, slices.Contains(Names(), s.Name))
	}
}

// TestWithChangefeedRenamesEveryBuiltin gives every built-in another
// changefeed: it stays valid, and faults aimed at the old changefeed's
// maintainer now aim at the new one's.
func TestWithChangefeedRenamesEveryBuiltin(t *testing.T) {
	for _, sc := range Builtins() {
		renamed := sc.WithChangefeed("soak-1")
		require.NoError(t, renamed.WithDefaults().Validate(), sc.Name)
		assert.Equal(t, "soak-1", renamed.Topology.Changefeed, sc.Name)
		for i, f := range sc.Faults {
			want := f.Target
			if f.Target == MaintainerOf(DefaultChangefeed) {
				want = MaintainerOf("soak-1")
			}
			assert.Equal(t, want, renamed.Faults[i].Target, "%s fault %d", sc.Name, i)
		}
		assert.Equal(t, DefaultChangefeed, sc.WithDefaults().Topology.Changefeed, "%s: the original is untouched", sc.Name)
	}
}

// TestWithChangefeedRenamesEveryChangefeed: in a scenario of several
// changefeeds, a fault aimed at any one's maintainer follows it.
func TestWithChangefeedRenamesEveryChangefeed(t *testing.T) {
	sc, ok := Lookup("owner-isolation")
	require.True(t, ok)
	sc.Topology.Changefeeds = 3
	sc.Faults = append(sc.Faults, sc.Faults[0], sc.Faults[0])
	sc.Faults[0].Target, sc.Faults[1].Target, sc.Faults[2].Target = MaintainerOf("cf1.3"), MaintainerOf("cf1"), TargetOwner
	require.NoError(t, sc.WithDefaults().Validate())
	renamed := sc.WithChangefeed("run-7")
	require.NoError(t, renamed.WithDefaults().Validate())
	assert.Equal(t, []string{"run-7", "run-7.2", "run-7.3"}, renamed.Topology.ChangefeedNames())
	assert.Equal(t, []string{MaintainerOf("run-7.3"), MaintainerOf("run-7"), TargetOwner},
		[]string{renamed.Faults[0].Target, renamed.Faults[1].Target, renamed.Faults[2].Target})
}

// TestPlanWithChangefeedKeepsTheDraws: a plan renamed after another
// changefeed keeps its faults and times, with its steps aimed as the
// renamed scenario's faults are, and equals the renamed scenario's plan.
func TestPlanWithChangefeedKeepsTheDraws(t *testing.T) {
	for _, sc := range Builtins() {
		p, err := sc.Plan(7)
		require.NoError(t, err, sc.Name)
		renamed := p.WithChangefeed("cmp-1")
		want, err := sc.WithChangefeed("cmp-1").Plan(7)
		require.NoError(t, err, sc.Name)
		assert.Equal(t, want, renamed, sc.Name)
		assert.Equal(t, DefaultChangefeed, p.Scenario.Topology.Changefeed, "%s: the original is untouched", sc.Name)
		for i, s := range p.Steps {
			if s.Target == MaintainerOf(DefaultChangefeed) {
				assert.Equal(t, MaintainerOf("cmp-1"), renamed.Steps[i].Target, sc.Name)
				assert.Equal(t, s.Target, p.Steps[i].Target, "%s: the original's steps are untouched", sc.Name)
			}
		}
	}
}

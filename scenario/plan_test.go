package scenario

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPlanDeterministic(t *testing.T) {
	for _, s := range Builtins() {
		for _, seed := range []int64{0, 1, 42, -7} {
			a, err := s.Plan(seed)
			require.NoError(t, err, "%s seed %d", s.Name, seed)
			b, err := s.Plan(seed)
			require.NoError(t, err)
			assert.Equal(t, a, b, "%s seed %d", s.Name, seed)
			assert.Equal(t, seed, a.Seed)
			assert.Equal(t, seed, a.Scenario.Seed)
			assert.Equal(t, Disclaimer, a.Disclaimer)
		}
	}
}

func TestPlanSeedMatters(t *testing.T) {
	s, _ := Lookup("owner-isolation-flapping")
	seen := map[time.Duration]bool{}
	for seed := range int64(20) {
		p, err := s.Plan(seed)
		require.NoError(t, err)
		seen[p.Steps[0].At] = true
	}
	assert.Greater(t, len(seen), 10, "20 seeds should pick many different times from 3s..5s")
}

// TestPlanStaysInBounds checks every concrete step against its fault step
// for many seeds: the naive reading of the ranges.
func TestPlanStaysInBounds(t *testing.T) {
	s := Scenario{Name: "bounds", Faults: []FaultStep{
		{Kind: KindIsolate, Target: TargetOwner, Links: []string{LinkPeers}, At: Between(time.Second, 3*time.Second),
			Duration: Between(time.Second, 2*time.Second), Repeat: Repeat{Count: 5, Every: Between(3*time.Second, 4*time.Second)}},
		{Kind: KindPause, Target: TargetMeta, At: Fixed(2 * time.Second), Duration: Between(500*time.Millisecond, 1500*time.Millisecond)},
		{Kind: KindKillRestart, Target: "node:3", At: Between(40*time.Second, 41*time.Second), Duration: Fixed(time.Second), Restart: RestartNewID},
	}}
	for seed := range int64(200) {
		p, err := s.Plan(seed)
		require.NoError(t, err, "seed %d", seed)
		require.Len(t, p.Steps, 7, "seed %d", seed)
		prev := map[int]Step{}
		for i, st := range p.Steps {
			f := s.Faults[st.Fault]
			assert.Equal(t, "f"+strconv.Itoa(i+1), st.ID)
			if i > 0 {
				assert.LessOrEqual(t, p.Steps[i-1].At, st.At, "seed %d: time order", seed)
			}
			assert.Zero(t, st.At%time.Millisecond, "seed %d: whole milliseconds", seed)
			assert.True(t, f.Duration.Min <= st.Duration && st.Duration <= f.Duration.Max, "seed %d: duration %v", seed, st.Duration)
			if st.Occurrence == 0 {
				assert.True(t, f.At.Min <= st.At && st.At <= f.At.Max, "seed %d: at %v", seed, st.At)
			} else {
				gap := st.At - prev[st.Fault].At
				assert.True(t, f.Repeat.Every.Min <= gap && gap <= f.Repeat.Every.Max, "seed %d: every %v", seed, gap)
				assert.Equal(t, prev[st.Fault].Occurrence+1, st.Occurrence)
			}
			prev[st.Fault] = st
			assert.Equal(t, f.Kind, st.Kind)
			assert.Equal(t, f.Target, st.Target)
			assert.Equal(t, f.Links, st.Links)
		}
		assert.Equal(t, RestartNewID, p.Steps[6].Restart)
	}
}

// TestPlanStepsDrawIndependently: changing one fault step leaves the
// draws of the others alone.
func TestPlanStepsDrawIndependently(t *testing.T) {
	s := Scenario{Name: "independent", Faults: []FaultStep{
		{Kind: KindPause, Target: TargetMeta, At: Between(0, 10*time.Second), Duration: Fixed(time.Second)},
		{Kind: KindPause, Target: TargetUpstream, At: Between(0, 10*time.Second), Duration: Fixed(time.Second)},
	}}
	a, err := s.Plan(3)
	require.NoError(t, err)
	s.Faults[0].At = Fixed(time.Second)
	b, err := s.Plan(3)
	require.NoError(t, err)
	at := func(p Plan, fault int) time.Duration {
		for _, st := range p.Steps {
			if st.Fault == fault {
				return st.At
			}
		}
		t.Fatalf("no step of fault %d", fault)
		return 0
	}
	assert.Equal(t, at(a, 1), at(b, 1))
}

func TestPlanRoundTrip(t *testing.T) {
	for _, s := range append(Builtins(), Scenario{Name: "no-faults"}) {
		for _, seed := range []int64{1, 1 << 62} {
			p, err := s.Plan(seed)
			require.NoError(t, err)
			dir := t.TempDir()
			require.NoError(t, SavePlan(dir, p))
			back, err := LoadPlan(dir)
			require.NoError(t, err, "%s", s.Name)
			assert.Equal(t, p, back, "%s seed %d", s.Name, seed)

			// And through encoding/json, as part of another document.
			data, err := json.Marshal(struct{ Plan Plan }{p})
			require.NoError(t, err)
			var doc struct{ Plan Plan }
			require.NoError(t, json.Unmarshal(data, &doc))
			assert.Equal(t, p, doc.Plan)
		}
	}
}

// TestPlanGolden pins the expansion: a change of algorithm would break
// replaying old seeds, so it must show up here (rewrite with -rewrite).
func TestPlanGolden(t *testing.T) {
	for _, name := range []string{"owner-isolation", "owner-isolation-flapping"} {
		s, _ := Lookup(name)
		p, err := s.Plan(42)
		require.NoError(t, err)
		dir := t.TempDir()
		require.NoError(t, SavePlan(dir, p))
		got, err := os.ReadFile(filepath.Join(dir, PlanFile))
		require.NoError(t, err)
		golden := filepath.Join("testdata", "plans", name+".seed42.json")
		if *rewrite {
			require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
			require.NoError(t, os.WriteFile(golden, got, 0o644))
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err, "run go test ./scenario -run TestPlanGolden -rewrite")
		assert.Equal(t, string(want), string(got))
	}
}

func TestPlanValidateRejectsBadEdits(t *testing.T) {
	s, _ := Lookup("owner-isolation-flapping")
	tests := []struct {
		name string
		edit func(*Plan)
		path string
		msg  string
	}{
		{"version", func(p *Plan) { p.Version = 2 }, "version", "2: want 1"},
		{"seed", func(p *Plan) { p.Seed = 9 }, "seed", "9 differs from scenario.seed 42"},
		{"scenario", func(p *Plan) { p.Scenario.Topology.Nodes = 10 }, "scenario.topology.nodes", "10 out of range"},
		{"id", func(p *Plan) { p.Steps[1].ID = "F 2" }, "steps[1].id", `"F 2"`},
		{"duplicate id", func(p *Plan) { p.Steps[1].ID = "f1" }, "steps[1].id", `"f1" is also the id of steps[0]`},
		{"fault index", func(p *Plan) { p.Steps[0].Fault = 3 }, "steps[0].fault", "3: the scenario has 1 fault steps"},
		{"target", func(p *Plan) { p.Steps[0].Target = "node:7" }, "steps[0].target", "node 7 does not exist"},
		{"time order", func(p *Plan) { p.Steps[1].At = 0 }, "steps[1].at", "want time order"},
		{"overlap", func(p *Plan) { p.Steps[1].At = p.Steps[0].At + time.Millisecond }, "steps[1].at", `overlaps steps[0] on target "owner"`},
		{"after the timeout", func(p *Plan) { p.Steps[3].Duration = p.Scenario.Timeout }, "steps[3]", "after the run's timeout"},
		{"zero duration", func(p *Plan) { p.Steps[0].Duration = 0 }, "steps[0].duration", "must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.Plan(42)
			require.NoError(t, err)
			p.Scenario = p.Scenario.Clone()
			p.Steps = append([]Step(nil), p.Steps...)
			tc.edit(&p)
			ps := problemsOf(t, p.Validate())
			require.Len(t, ps, 1, "%v", ps)
			assert.Equal(t, tc.path, ps[0].Path)
			assert.Contains(t, ps[0].Msg, tc.msg)
		})
	}
}

func TestLoadPlanProblemsHaveLines(t *testing.T) {
	s, _ := Lookup("owner-pause")
	p, err := s.Plan(1)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, SavePlan(dir, p))
	path := filepath.Join(dir, PlanFile)
	data, err := os.ReadFile(path)
	require.NoError(t, err)

	edited := []byte(replaceFirst(t, string(data), `"target": "owner"`, `"target": "ownr"`))
	require.NoError(t, os.WriteFile(path, edited, 0o644))
	_, err = LoadPlan(path)
	ps := problemsOf(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, "steps[0].target", ps[0].Path)
	assert.Equal(t, 13, ps[0].Line, "%s", edited)
	assert.ErrorContains(t, err, path+":13: steps[0].target: unknown role")

	edited = []byte(replaceFirst(t, string(data), `"occurrence"`, `"occurence"`))
	require.NoError(t, os.WriteFile(path, edited, 0o644))
	_, err = LoadPlan(path)
	assert.ErrorContains(t, err, "steps[0].occurence: unknown field; did you mean occurrence?")
}

func TestSavePlanRefusesInvalid(t *testing.T) {
	err := SavePlan(t.TempDir(), Plan{})
	assert.ErrorIs(t, err, ErrInvalid)
}

// replaceFirst replaces the first old in s, which must hold one.
func replaceFirst(t *testing.T, s, old, new string) string {
	t.Helper()
	require.Contains(t, s, old)
	return strings.Replace(s, old, new, 1)
}

package scenario

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBuiltinYAMLRoundTrip: the YAML of every built-in parses back to the
// same scenario, which validates, and prints the same again.
func TestBuiltinYAMLRoundTrip(t *testing.T) {
	for _, s := range Builtins() {
		t.Run(s.Name, func(t *testing.T) {
			text, err := s.YAML()
			require.NoError(t, err)
			back, err := Parse(text)
			require.NoError(t, err, "%s", text)
			assert.Equal(t, s, back)
			require.NoError(t, back.Validate())
			again, err := back.YAML()
			require.NoError(t, err)
			assert.Equal(t, string(text), string(again))
		})
	}
}

// TestBuiltinJSONRoundTrip: the JSON shape (plan.json's scenario) round-trips
// too, with durations as strings.
func TestBuiltinJSONRoundTrip(t *testing.T) {
	for _, s := range Builtins() {
		data, err := json.Marshal(s)
		require.NoError(t, err)
		var back Scenario
		require.NoError(t, json.Unmarshal(data, &back), "%s", data)
		assert.Equal(t, s, back, "%s", data)
	}
	s, _ := Lookup("owner-isolation")
	data, err := json.Marshal(s)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(data), `{"name":"owner-isolation","description":`), "%s", data)
	assert.Contains(t, string(data), `"ttl":"3s"`)
	assert.Contains(t, string(data), `"at":"3s..6s"`)
	assert.Contains(t, string(data), `"links":["peers","meta","upstream"]`)

	var bad Scenario
	err = json.Unmarshal([]byte(`{"name":"x","topology":{"nodez":3}}`), &bad)
	assert.Equal(t, "topology.nodez: unknown field; did you mean nodes? (want one of nodes, kafka_brokers, partitions, tables, ttl, changefeed, changefeeds)",
		problemsOf(t, err)[0].Error())
}

// TestParseProblems: every way a file can be wrong gives problems with a
// path and, where there is one, the line.
func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []Problem // Path, Line, and a part of Msg
	}{
		{"unknown top-level field", "name: x\nnodes: 3\n",
			[]Problem{{Path: "nodes", Line: 2, Msg: "unknown field (want one of name, description, seed, target, sink, topology, workload, faults, slos, expect, steady, recovery_window, drain_deadline, timeout)"}}},
		{"typo", "name: x\ntopology:\n  ndoes: 3\n",
			[]Problem{{Path: "topology.ndoes", Line: 3, Msg: "did you mean nodes?"}}},
		{"not a number", "name: x\ntopology: {nodes: three}\n",
			[]Problem{{Path: "topology.nodes", Line: 2, Msg: `want a whole number, got "three"`}}},
		{"not a whole number", "name: x\ntopology: {nodes: 2.5}\n",
			[]Problem{{Path: "topology.nodes", Line: 2, Msg: `want a whole number, got "2.5"`}}},
		{"quoted number", "name: x\nworkload: {rate: \"200\"}\n",
			[]Problem{{Path: "workload.rate", Line: 2, Msg: `want a number, got "200"`}}},
		{"duration without unit", "name: x\nsteady:\n  timeout: 60\n",
			[]Problem{{Path: "steady.timeout", Line: 3, Msg: `want a duration like 5s, got "60"`}}},
		{"bad range", "name: x\nfaults:\n  - kind: pause\n    target: owner\n    at: soon\n    duration: 1s\n",
			[]Problem{{Path: "faults[0].at", Line: 5, Msg: `want a duration like 10s or a range like 10s..20s, got "soon"`}}},
		{"backwards range", "name: x\nfaults:\n  - kind: pause\n    target: owner\n    duration: 5s..1s\n",
			[]Problem{{Path: "faults[0].duration", Line: 5, Msg: `range "5s..1s": 5s is after 1s`}}},
		{"range as a list", "name: x\nfaults:\n  - kind: pause\n    target: owner\n    duration: [1s, 2s]\n",
			[]Problem{{Path: "faults[0].duration", Line: 5, Msg: "want a duration like 10s or a range like 10s..20s, got a list"}}},
		{"faults not a list", "name: x\nfaults:\n  kind: pause\n",
			[]Problem{{Path: "faults", Line: 3, Msg: "want a list, got a mapping"}}},
		{"links not a list", "name: x\nfaults:\n  - kind: isolate\n    target: owner\n    links: peers\n    duration: 1s\n",
			[]Problem{{Path: "faults[0].links", Line: 5, Msg: `want a list, got "peers"`}}},
		{"two unknown fields", "name: x\nnodes: 3\nbrokers: 1\n",
			[]Problem{{Path: "nodes", Line: 2, Msg: "unknown field"}, {Path: "brokers", Line: 3, Msg: "unknown field"}}},
		{"duplicate key", "name: x\nseed: 1\nseed: 2\n",
			[]Problem{{Path: "seed", Line: 3, Msg: "defined twice (first on line 2)"}}},
		{"not a mapping", "- name: x\n", []Problem{{Path: RootPath, Line: 1, Msg: "want a mapping, got a list"}}},
		{"syntax", "name: [x\n", []Problem{{Path: RootPath, Msg: "yaml: line 1"}}},
		{"empty", "", []Problem{{Path: RootPath, Msg: "empty document"}}},
		{"comments only", "# nothing\n", []Problem{{Path: RootPath, Msg: "empty document"}}},
		{"two documents", "name: x\n---\nname: y\n", []Problem{{Path: RootPath, Msg: "more than one YAML document"}}},
		{"alias cycle", "name: x\nfaults: &a [*a]\n", []Problem{{Path: "faults[0]", Line: 2, Msg: "an alias refers to a value that contains it"}}},
		{"semantic problem gets its line", "name: x\nfaults:\n  - kind: pause\n    target: ownr\n    duration: 1s\n",
			[]Problem{{Path: "faults[0].target", Line: 4, Msg: `unknown role "ownr"`}}},
		{"defaulted field has no line", "name: x\ntimeout: 1s\nfaults:\n  - {kind: pause, target: owner, duration: 1s, at: 2s}\n",
			[]Problem{{Path: "faults[0]", Line: 4, Msg: "can heal as late as 3s, after the run's timeout 1s"}}},
		{"shape and meaning problems together, in line order", `name: x
topology:
  nodes: many
faults:
  - kind: isolat
    targte: owner
    duration: 1s
workload: {name: bnk}
`, []Problem{
			{Path: "topology.nodes", Line: 3, Msg: "want a whole number"},
			{Path: "faults[0].kind", Line: 5, Msg: `unknown kind "isolat"`},
			{Path: "faults[0].target", Line: 5, Msg: "required"},
			{Path: "faults[0].targte", Line: 6, Msg: "did you mean target?"},
			{Path: "workload.name", Line: 8, Msg: `unknown workload "bnk"`},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			ps := problemsOf(t, err)
			require.Len(t, ps, len(tc.want), "%v", ps)
			for i, want := range tc.want {
				assert.Equal(t, want.Path, ps[i].Path)
				assert.Equal(t, want.Line, ps[i].Line, "line of %s", ps[i].Path)
				assert.Contains(t, ps[i].Msg, want.Msg)
			}
		})
	}
}

func TestParseFillsDefaults(t *testing.T) {
	s, err := Parse([]byte("name: minimal\n"))
	require.NoError(t, err)
	assert.Equal(t, Scenario{Name: "minimal"}.WithDefaults(), s)

	// null means the default too.
	s, err = Parse([]byte("name: minimal\ntopology:\n  nodes: ~\n"))
	require.NoError(t, err)
	assert.Equal(t, DefaultNodes, s.Topology.Nodes)
}

func TestParseAcceptsAnchorsAndMerges(t *testing.T) {
	s, err := Parse([]byte(`name: anchors
faults:
  - &cut {kind: isolate, target: owner, links: &links [peers, meta], at: 1s, duration: 2s}
  - <<: *cut
    target: node:2
    links: *links
`))
	require.NoError(t, err)
	require.Len(t, s.Faults, 2)
	assert.Equal(t, "node:2", s.Faults[1].Target)
	assert.Equal(t, []string{"peers", "meta"}, s.Faults[1].Links)
	assert.Equal(t, Fixed(2*time.Second), s.Faults[1].Duration)
}

func TestLoad(t *testing.T) {
	s, err := Load("owner-pause")
	require.NoError(t, err)
	assert.Equal(t, "owner-pause", s.Name)

	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(path, []byte("name: bad\nfaults:\n  - kind: pause\n    target: ownr\n    duration: 1s\n"), 0o644))
	_, err = Load(path)
	assert.EqualError(t, err, path+`:4: faults[0].target: unknown role "ownr" (want owner, maintainer-of:<cf>, node:<n>, bystander, kafka, meta, upstream; for the debezium target task-worker, leader, node:<n>, kafka, upstream)`)

	_, err = Load("no-such-scenario")
	assert.ErrorContains(t, err, `"no-such-scenario" is neither a built-in scenario (owner-isolation,`)
	assert.NotErrorIs(t, err, ErrInvalid)

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Range
		err  string
	}{
		{"10s", Fixed(10 * time.Second), ""},
		{"0", Range{}, ""},
		{"1.5s..2m", Between(1500*time.Millisecond, 2*time.Minute), ""},
		{" 1s .. 2s ", Between(time.Second, 2*time.Second), ""},
		{"2s..2s", Fixed(2 * time.Second), ""},
		{"", Range{}, `got ""`},
		{"10", Range{}, `got "10"`},
		{"1s..", Range{}, `got "1s.."`},
		{"..1s", Range{}, `got "..1s"`},
		{"2s..1s", Range{}, "2s is after 1s"},
		{"1s..2s..3s", Range{}, `got "1s..2s..3s"`},
	} {
		got, err := ParseRange(tc.in)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		back, err := ParseRange(got.String())
		require.NoError(t, err)
		assert.Equal(t, got, back, "String() of %q", tc.in)
	}
	assert.Equal(t, "10s..20s", Between(10*time.Second, 20*time.Second).String())
	assert.True(t, Range{}.IsZero())
	assert.True(t, Fixed(time.Second).IsFixed())
}

// TestExamplesValidate loads every user-facing example scenario.
func TestExamplesValidate(t *testing.T) {
	files, err := filepath.Glob("../examples/scenarios/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files, "examples/scenarios/*.yaml")
	for _, f := range files {
		s, err := Load(f)
		require.NoError(t, err)
		_, err = s.Plan(s.Seed)
		require.NoError(t, err, f)
	}
}

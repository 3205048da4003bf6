package scenario

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const fuzzCorpusDir = "testdata/fuzz/FuzzLoadYAML"

// FuzzLoadYAML feeds arbitrary bytes to the scenario parser and validator.
// It must never panic; every rejection must be a *ValidationError whose
// problems all carry a field path; and every accepted scenario must
// validate, print as YAML that parses back to itself, and expand into a
// plan that round-trips through plan.json. The committed seed corpus holds
// the built-ins' YAML, the examples and broken variants, so `go test` runs
// them as ordinary cases.
//
//	go test ./scenario -run '^$' -fuzz FuzzLoadYAML -fuzztime 1m
func FuzzLoadYAML(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			problems := problemsOf(t, err)
			require.NotEmpty(t, problems)
			for _, p := range problems {
				require.NotEmpty(t, p.Path, "problem without a path: %v", p)
				require.NotEmpty(t, p.Msg, "problem without a message: %v", p)
			}
			return
		}
		require.NoError(t, s.Validate())
		text, err := s.YAML()
		require.NoError(t, err)
		back, err := Parse(text)
		require.NoError(t, err, "%s", text)
		require.Equal(t, s, back, "%s", text)

		p, err := s.Plan(s.Seed)
		require.NoError(t, err)
		js, err := p.MarshalJSON()
		require.NoError(t, err)
		q, err := ParsePlan(js)
		require.NoError(t, err, "%s", js)
		require.Equal(t, p, q)
	})
}

// corpusSeeds returns the seed corpus: every built-in's YAML, the example
// files, and broken variants of each kind of problem.
func corpusSeeds(t *testing.T) map[string]string {
	t.Helper()
	seeds := map[string]string{}
	for _, s := range Builtins() {
		text, err := s.YAML()
		require.NoError(t, err)
		y := string(text)
		seeds["builtin-"+s.Name] = y
		seeds["broken-typo-"+s.Name] = strings.Replace(y, "target:", "targte:", 1)
		seeds["broken-type-"+s.Name] = strings.Replace(y, "nodes: 3", "nodes: three", 1)
		seeds["broken-range-"+s.Name] = strings.Replace(y, "duration: ", "duration: 9s..", 1)
		seeds["broken-role-"+s.Name] = strings.Replace(y, "target: ", "target: x", 1)
		seeds["broken-truncated-"+s.Name] = y[:len(y)/2]
	}
	examples, err := filepath.Glob("../examples/scenarios/*.yaml")
	require.NoError(t, err)
	for _, path := range examples {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		seeds["example-"+strings.TrimSuffix(filepath.Base(path), ".yaml")] = string(data)
	}
	for name, y := range map[string]string{
		"minimal":          "name: minimal\n",
		"empty":            "",
		"two-documents":    "name: a\n---\nname: b\n",
		"list":             "- name: x\n",
		"syntax":           "name: [x\n",
		"alias-cycle":      "name: x\nfaults: &a [*a]\n",
		"merge":            "name: m\nfaults:\n  - &c {kind: pause, target: owner, at: 1s, duration: 2s}\n  - <<: *c\n    target: meta\n",
		"json":             `{"name": "j", "seed": 5, "faults": [{"kind": "pause", "target": "node:2", "duration": "1s"}]}`,
		"overlap":          "name: o\nfaults:\n  - {kind: pause, target: owner, at: 1s, duration: 5s}\n  - {kind: isolate, target: owner, links: [peers], at: 3s, duration: 1s}\n",
		"every-problem":    "name: 'a b'\ntopology: {nodes: 12, kafka_brokers: 2, ttl: 10ms}\nworkload: {name: bnk, rate: -1}\nfaults:\n  - {kind: cut, target: node:9, links: [etcd, etcd], at: -1s, duration: 0s, repeat: {count: 3}}\nslos: {lag: -1s}\n",
		"duplicate-key":    "name: x\nseed: 1\nseed: 2\n",
		"binary":           "name: !!binary eA==\ndescription: !!binary /w==\n",
		"huge-numbers":     "name: h\nseed: 9223372036854775807\nworkload: {rate: 1e308, workers: 99999999999999999999}\n",
		"repeat-flapping":  "name: f\nfaults:\n  - {kind: one-way-out, target: upstream, links: [peers, kafka], at: 0s..1s, duration: 100ms..900ms, repeat: {count: 100, every: 1s..2s}}\n",
		"sink-txn":         "name: s\nsink: txn\n",
		"sink-broken":      "name: s\ntarget: debezium\nsink: transactional\n",
		"kill-restart-new": "name: k\nfaults:\n  - {kind: kill-restart, target: node:1, duration: 1s, restart: new-id}\n",
		"network-kinds": "name: n\nfaults:\n  - {kind: hold, target: owner, links: [peers], at: 1s, duration: 2s}\n" +
			"  - {kind: delay, target: owner, links: [meta, upstream], delay: 250ms, at: 2s, duration: 500ms..1s}\n" +
			"  - {kind: loss, target: meta, links: [peers], loss: 0.25, backend: netns, at: 5s, duration: 1s, repeat: {count: 2, every: 2s}}\n",
		"network-kinds-broken": "name: b\nfaults:\n  - {kind: delay, target: owner, links: [peers], delay: 2m, duration: 1s}\n" +
			"  - {kind: loss, target: node:1, links: [peers], loss: 1.5, backend: toxiproxy, at: 3s, duration: 1s}\n" +
			"  - {kind: isolate, target: node:2, links: [peers], delay: 1s, loss: 0.1, duration: 1s}\n" +
			"  - {kind: delay, target: node:3, links: [peers], duration: 1s}\n  - {kind: loss, target: meta, links: [peers], loss: .nan, duration: 1s}\n",
	} {
		seeds["hand-"+name] = y
	}
	return seeds
}

// TestFuzzCorpusCurrent checks that the committed seed corpus holds every
// seed as generated now (rewrite with -rewrite).
func TestFuzzCorpusCurrent(t *testing.T) {
	for name, y := range corpusSeeds(t) {
		path := filepath.Join(fuzzCorpusDir, "seed-"+name)
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(y))
		if *rewrite {
			require.NoError(t, os.MkdirAll(fuzzCorpusDir, 0o755))
			require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err, "run go test ./scenario -run TestFuzzCorpusCurrent -rewrite")
		assert.Equal(t, want, string(got), path)
	}
}

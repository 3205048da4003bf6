package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/reports/result"
)

// TestDiscriminatedAgainstDeclaration judges comparisons against what the
// scenario declares for each arm.
func TestDiscriminatedAgainstDeclaration(t *testing.T) {
	arm := func(name string, o result.Outcome) Arm {
		return Arm{Name: name, Run: RunSummary{Verdict: result.Verdict{Outcome: o}}}
	}
	bite := Expect{On: ExpectPass, Off: ExpectFail}
	quiet := Expect{On: ExpectPass, Off: ExpectPass, Reason: "nothing in flight"}
	race := Expect{On: ExpectPass, Off: ExpectEither, Reason: "a race the plan does not decide"}
	cases := []struct {
		name   string
		expect Expect
		arms   []Arm
		want   bool
	}{
		{"off flagged, on passed", bite, []Arm{arm("epoch", result.Pass), arm("off", result.Fail)}, true},
		{"off not flagged", bite, []Arm{arm("epoch", result.Pass), arm("off", result.Pass)}, false},
		{"on failed", bite, []Arm{arm("epoch", result.Fail), arm("off", result.Fail)}, false},
		{"self-fence arm must pass too", bite, []Arm{arm("epoch", result.Pass), arm("off", result.Fail), arm("epoch+self-fence", result.Fail)}, false},
		{"inconclusive off is not a flag", bite, []Arm{arm("epoch", result.Pass), arm("off", result.Inconclusive)}, false},
		{"declared off pass, met", quiet, []Arm{arm("epoch", result.Pass), arm("off", result.Pass)}, true},
		{"declared off pass, but flagged", quiet, []Arm{arm("epoch", result.Pass), arm("off", result.Fail)}, false},
		{"no off arm", bite, []Arm{arm("epoch", result.Pass)}, false},
		{"either: flagged", race, []Arm{arm("epoch", result.Pass), arm("off", result.Fail)}, true},
		{"either: not flagged", race, []Arm{arm("epoch", result.Pass), arm("off", result.Pass)}, true},
		{"either: inconclusive is no verdict", race, []Arm{arm("epoch", result.Pass), arm("off", result.Inconclusive)}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, Discriminated(c.expect, c.arms))
		})
	}
}

// TestExpectValidation refuses unknown verdicts and an unexplained
// "off: pass".
func TestExpectValidation(t *testing.T) {
	sc, ok := Lookup("owner-isolation")
	assert.True(t, ok)
	sc.Expect = Expect{On: "pass", Off: "maybe"}
	assert.ErrorContains(t, sc.Validate(), `expect.off: "maybe": want fail, pass or either`)
	sc.Expect = Expect{On: "either", Off: "fail"}
	assert.ErrorContains(t, sc.Validate(), `expect.on: "either": want pass or fail`)
	sc.Expect = Expect{On: "pass", Off: "either"}
	assert.ErrorContains(t, sc.Validate(), "expect.reason: required when fencing off is expected to either")
	sc.Expect = Expect{On: "pass", Off: "pass"}
	assert.ErrorContains(t, sc.Validate(), "expect.reason: required when fencing off is expected to pass")
	sc.Expect.Reason = "nothing is in flight when the generation is superseded"
	assert.NoError(t, sc.Validate())
}

// TestExpectPerBackend applies a backend's own declaration and validates it.
func TestExpectPerBackend(t *testing.T) {
	e := Expect{On: "pass", Off: "pass", Reason: "nothing in flight",
		Backends: []BackendExpect{{Backend: "toxiproxy", Off: "fail", Reason: "a hold delivers the new generation's bootstrap first"}}}
	assert.Equal(t, Expect{On: "pass", Off: "pass", Reason: "nothing in flight"}, e.ForBackend("netns"))
	assert.Equal(t, Expect{On: "pass", Off: "fail", Reason: "a hold delivers the new generation's bootstrap first"}, e.ForBackend("toxiproxy"))
	assert.True(t, e.Same(e))
	assert.False(t, e.Same(e.ForBackend("netns")))

	sc, ok := Lookup("stale-bootstrap-in-flight")
	assert.True(t, ok)
	sc.Expect.Backends = []BackendExpect{{Backend: "tc", Off: "maybe"}, {Backend: "tc", Off: "pass", Reason: "x"}}
	err := sc.Validate()
	assert.ErrorContains(t, err, `expect.backends[0].backend: "tc": want netns or toxiproxy`)
	assert.ErrorContains(t, err, `expect.backends[0].off: "maybe": want fail, pass or either`)
	assert.ErrorContains(t, err, "expect.backends[0].reason: required")
}

// TestExpectYAML reads per-backend declarations from a scenario file.
func TestExpectYAML(t *testing.T) {
	sc, err := Parse([]byte(`name: x
faults:
  - kind: isolate
    target: owner
    links: [peers]
    at: 3s
    duration: 5s
expect:
  off: pass
  reason: nothing in flight
  backends:
    - backend: toxiproxy
      off: fail
      reason: a hold delivers the new generation's message first
`))
	assert.NoError(t, err)
	assert.Equal(t, "fail", sc.Expect.ForBackend("toxiproxy").Off)
	assert.Equal(t, "pass", sc.Expect.ForBackend("netns").Off)
}

// TestExpectJudgesTheFencingPart judges the arms of the matrix by their
// fencing part: a sink suffix changes nothing, and fencing off must be
// flagged with either sink.
func TestExpectJudgesTheFencingPart(t *testing.T) {
	bite := Expect{On: ExpectPass, Off: ExpectFail}
	for arm, want := range map[string]string{
		"epoch": ExpectPass, "epoch+txn": ExpectPass, "epoch+self-fence": ExpectPass, "epoch+self-fence+txn": ExpectPass,
		"off": ExpectFail, "off+txn": ExpectFail,
	} {
		assert.Equal(t, want, bite.For(arm), arm)
	}
	arm := func(name string, o result.Outcome) Arm {
		return Arm{Name: name, Run: RunSummary{Verdict: result.Verdict{Outcome: o}}}
	}
	matrix := func(off, offTxn result.Outcome) []Arm {
		return []Arm{arm("epoch", result.Pass), arm("off", off), arm("epoch+txn", result.Pass), arm("off+txn", offTxn), arm("epoch+self-fence", result.Pass)}
	}
	assert.True(t, Discriminated(bite, matrix(result.Fail, result.Fail)))
	// The broker hid the stale rows, but the control plane's fault is the
	// declaration's subject: off+txn unflagged misses it.
	assert.False(t, Discriminated(bite, matrix(result.Fail, result.Pass)))
	assert.False(t, Met(bite, arm("off+txn", result.Pass)))
	assert.True(t, Met(bite, arm("epoch+txn", result.Pass)))
	quiet := Expect{On: ExpectPass, Off: ExpectPass, Reason: "nothing in flight"}
	assert.True(t, Discriminated(quiet, matrix(result.Pass, result.Pass)))
	assert.False(t, Discriminated(quiet, matrix(result.Pass, result.Fail)))
	assert.True(t, Discriminated(bite, []Arm{arm("epoch+txn", result.Pass), arm("off+txn", result.Fail)}), "compare --sink txn has an off arm")
}

// TestCompareLayeredDefenceRows writes a comparison of an idempotent and a
// txn arm and checks the rows of the layered-defence story: stale rows
// visible, aborted records, writers fenced (from the decision logs and the
// writer scan).
func TestCompareLayeredDefenceRows(t *testing.T) {
	dir := t.TempDir()
	idem := &result.Result{FencingMode: "off (netns)", Verdict: result.Verdict{Outcome: result.Fail},
		Counters: result.Counters{StaleRows: 12, HarmfulRows: 5, OrphanRows: 1}}
	txn := &result.Result{FencingMode: "off sink=txn (netns)", Verdict: result.Verdict{Outcome: result.Fail},
		Counters: result.Counters{Attempted: 110, Aborted: 10},
		SinkWriters: []result.SinkWriter{
			{ProducerID: 7, Epoch: 0, Transactional: true, Attempted: 60, Visible: 50, Aborted: 10},
			{ProducerID: 7, Epoch: 1, Transactional: true, Attempted: 40, Visible: 40},
			{ProducerID: 8, Epoch: 0, Transactional: true, Attempted: 10, Visible: 10},
		}}
	txnDir := filepath.Join(dir, "off+txn")
	require.NoError(t, os.MkdirAll(txnDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(txnDir, evidence.DecisionsFile("n1")),
		[]byte(`{"node":"n1","rule":"broker-fence","verdict":"fenced by broker"}`+"\n"+`{"node":"n1","rule":"epoch","verdict":"accepted"}`+"\n"), 0o644))
	arms := []Arm{
		{Name: "off", Dir: filepath.Join(dir, "off"), Run: RunSummary{Verdict: idem.Verdict, Result: idem}},
		{Name: "off+txn", Dir: txnDir, Run: RunSummary{Verdict: txn.Verdict, Result: txn}},
	}
	sc, ok := Lookup("owner-isolation")
	require.True(t, ok)
	require.NoError(t, WriteComparison(dir, Plan{Scenario: sc, Seed: 1}, Expect{On: ExpectPass, Off: ExpectFail}, arms))
	md, err := os.ReadFile(filepath.Join(dir, "compare.md"))
	require.NoError(t, err)
	for _, line := range []string{
		"| Measure | off | off+txn |",
		"| Configuration | off (netns) | off sink=txn (netns) |",
		"| Stale rows visible (harmful, orphan) | 12 (5, 1) | 0 (0, 0) |",
		"| Fenced writers | — | 1 stopped (decision logs), 1 superseded epochs (writer scan) |",
		"| Aborted records (writer scan) | — | 10 of 110 attempted |",
	} {
		assert.Contains(t, string(md), line)
	}
	page, err := os.ReadFile(filepath.Join(dir, "compare.html"))
	require.NoError(t, err)
	assert.Contains(t, string(page), "<th>off+txn</th>")
	assert.Contains(t, string(page), "<td>Fenced writers</td>")
}

// TestCompareLayeredGrid writes the four arms of compare --matrix and
// checks the control-plane fencing × sink grid: one row per fencing part,
// one column per sink, each cell judged against the declaration. A plain
// on/off comparison has no grid.
func TestCompareLayeredGrid(t *testing.T) {
	dir := t.TempDir()
	res := func(o result.Outcome, stale, orphan int64) *result.Result {
		return &result.Result{Verdict: result.Verdict{Outcome: o}, Counters: result.Counters{StaleRows: stale, OrphanRows: orphan, Duplicates: 3}}
	}
	arm := func(name string, r *result.Result) Arm {
		return Arm{Name: name, Dir: filepath.Join(dir, name), Run: RunSummary{Verdict: r.Verdict, Result: r}}
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "off+txn"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "off+txn", evidence.DecisionsFile("n2")),
		[]byte(`{"node":"n2","rule":"broker-fence","verdict":"fenced by broker"}`+"\n"), 0o644))
	arms := []Arm{
		arm("epoch", res(result.Pass, 0, 0)), arm("off", res(result.Fail, 40, 12)),
		arm("epoch+txn", res(result.Pass, 0, 0)), arm("off+txn", res(result.Pass, 2, 0)),
	}
	sc, ok := Lookup("stale-bootstrap-in-flight")
	require.True(t, ok)
	e := Expect{On: ExpectPass, Off: ExpectFail}
	require.NoError(t, WriteComparison(dir, Plan{Scenario: sc, Seed: 1}, e, arms))
	md, err := os.ReadFile(filepath.Join(dir, "compare.md"))
	require.NoError(t, err)
	for _, line := range []string{
		"| control-plane fencing | sink: idempotent | sink: txn |",
		"| epoch | pass, as declared<br>stale rows visible 0 (harmful 0, orphan 0)<br>broker fenced nothing<br>lost 0, duplicates 3 | pass, as declared<br>",
		"| off | fail, as declared<br>stale rows visible 40 (harmful 0, orphan 12)<br>broker fenced nothing<br>lost 0, duplicates 3 | pass, NOT as declared (fail)<br>stale rows visible 2 (harmful 0, orphan 0)<br>broker fenced 1 writers; 0 records visible after fenced<br>",
	} {
		assert.Contains(t, string(md), line)
	}
	page, err := os.ReadFile(filepath.Join(dir, "compare.html"))
	require.NoError(t, err)
	assert.Equal(t, 3, strings.Count(string(page), `<td class="met">`))
	assert.Equal(t, 1, strings.Count(string(page), `<td class="unmet">`))

	plain := t.TempDir()
	require.NoError(t, WriteComparison(plain, Plan{Scenario: sc, Seed: 1}, e, arms[:2]))
	md, err = os.ReadFile(filepath.Join(plain, "compare.md"))
	require.NoError(t, err)
	assert.NotContains(t, string(md), "Layered defence")
}

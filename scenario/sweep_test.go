package scenario

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/reports/result"
)

var (
	declaredFail   = Expect{On: ExpectPass, Off: ExpectFail}
	declaredPass   = Expect{On: ExpectPass, Off: ExpectPass, Reason: "the bug needs two owners and this cut leaves one"}
	declaredEither = Expect{On: ExpectPass, Off: ExpectEither, Reason: "a race the plan does not decide"}
)

// sweepRun builds a record of scenario "s" on backend "netns"; outcome is
// pass, fail (caught by the given invariants), inconclusive or error.
func sweepRun(e Expect, arm string, seed int64, outcome result.Outcome, violated ...string) SweepRun {
	r := SweepRun{Scenario: "s", Backend: "netns", Seed: seed, Arm: arm, Outcome: outcome, Violated: violated,
		Dir: fmt.Sprintf("s/netns/seed-%d/%s", seed, arm), Expect: e}
	if outcome == OutcomeError {
		r.Error = "boom"
	}
	return r
}

// armLine renders an ArmStats compactly for the table below.
func armLine(a ArmStats) string {
	ratio := "-"
	if a.Ratio != nil {
		ratio = fmt.Sprintf("%.2f", *a.Ratio)
	}
	return fmt.Sprintf("%s %s=%s runs=%d passed=%d flagged=%d inconclusive=%d errors=%d expected=%s met=%t",
		a.Arm, a.Measure, ratio, a.Runs, a.Passed, a.Flagged, a.Inconclusive, a.Errors, a.Expected, a.Met)
}

// sweepMatrixCase is a cell's runs and what Matrix must make of them.
type sweepMatrixCase struct {
	name   string
	runs   []SweepRun
	arms   []string // armLine of each arm, in order
	bar    bool
	misses []string
}

// Short names of the outcomes, for the table.
const (
	pass = result.Pass
	fail = result.Fail
	inc  = result.Inconclusive
	herr = OutcomeError
)

var sweepMatrixCases = []sweepMatrixCase{
	{
		name: "fencing off always caught, fencing on always passes",
		runs: []SweepRun{
			sweepRun(declaredFail, "epoch", 1, pass), sweepRun(declaredFail, "off", 1, fail, "completeness"),
			sweepRun(declaredFail, "epoch", 2, pass), sweepRun(declaredFail, "off", 2, fail, "stale-epoch"),
		},
		arms: []string{
			"epoch specificity=1.00 runs=2 passed=2 flagged=0 inconclusive=0 errors=0 expected=pass met=true",
			"off sensitivity=1.00 runs=2 passed=0 flagged=2 inconclusive=0 errors=0 expected=fail met=true",
		},
		bar: true,
	},
	{
		name: "one off run missed: sensitivity 0.75 misses the bar",
		runs: []SweepRun{
			sweepRun(declaredFail, "off", 1, fail, "completeness"), sweepRun(declaredFail, "off", 2, pass),
			sweepRun(declaredFail, "off", 3, fail, "completeness"), sweepRun(declaredFail, "off", 4, fail, "ordering"),
		},
		arms:   []string{"off sensitivity=0.75 runs=4 passed=1 flagged=3 inconclusive=0 errors=0 expected=fail met=false"},
		misses: []string{"off: 1 of 4 judged runs did not fail"},
	},
	{
		name: "a false alarm with fencing on: specificity 0.50",
		runs: []SweepRun{
			sweepRun(declaredFail, "epoch", 1, fail, "lag-recovery"), sweepRun(declaredFail, "epoch", 2, pass),
		},
		arms:   []string{"epoch specificity=0.50 runs=2 passed=1 flagged=1 inconclusive=0 errors=0 expected=pass met=false"},
		misses: []string{"epoch: 1 of 2 judged runs did not pass"},
	},
	{
		name: "inconclusive and error runs stay out of the ratios but miss the bar",
		runs: []SweepRun{
			sweepRun(declaredFail, "epoch", 1, pass), sweepRun(declaredFail, "off", 1, fail, "completeness"),
			sweepRun(declaredFail, "epoch", 2, inc), sweepRun(declaredFail, "off", 2, herr),
			sweepRun(declaredFail, "epoch", 3, pass), sweepRun(declaredFail, "off", 3, inc),
		},
		arms: []string{
			"epoch specificity=1.00 runs=3 passed=2 flagged=0 inconclusive=1 errors=0 expected=pass met=false",
			"off sensitivity=1.00 runs=3 passed=0 flagged=1 inconclusive=1 errors=1 expected=fail met=false",
		},
		misses: []string{
			"epoch: 1 of 3 runs inconclusive",
			"off: 1 of 3 runs inconclusive",
			"off: 1 of 3 runs ended in a harness error",
		},
	},
	{
		name: "no judged run: no ratio",
		runs: []SweepRun{sweepRun(declaredFail, "off", 1, inc)},
		arms: []string{"off sensitivity=- runs=1 passed=0 flagged=0 inconclusive=1 errors=0 expected=fail met=false"},
		misses: []string{
			"off: 1 of 1 runs inconclusive",
		},
	},
	{
		name: "declared off: pass is met by fencing off passing",
		runs: []SweepRun{
			sweepRun(declaredPass, "epoch", 1, pass), sweepRun(declaredPass, "off", 1, pass),
			sweepRun(declaredPass, "epoch", 2, pass), sweepRun(declaredPass, "off", 2, pass),
		},
		arms: []string{
			"epoch specificity=1.00 runs=2 passed=2 flagged=0 inconclusive=0 errors=0 expected=pass met=true",
			"off sensitivity=0.00 runs=2 passed=2 flagged=0 inconclusive=0 errors=0 expected=pass met=true",
		},
		bar: true,
	},
	{
		name: "declared off: pass is missed when fencing off is flagged",
		runs: []SweepRun{
			sweepRun(declaredPass, "off", 1, pass), sweepRun(declaredPass, "off", 2, fail, "completeness"),
		},
		arms:   []string{"off sensitivity=0.50 runs=2 passed=1 flagged=1 inconclusive=0 errors=0 expected=pass met=false"},
		misses: []string{"off: 1 of 2 judged runs did not pass"},
	},
	{
		name: "declared off: either is met whatever the verdict, and its sensitivity is reported",
		runs: []SweepRun{
			sweepRun(declaredEither, "off", 1, pass), sweepRun(declaredEither, "off", 2, fail, "stale-generation"),
		},
		arms: []string{"off sensitivity=0.50 runs=2 passed=1 flagged=1 inconclusive=0 errors=0 expected=either met=true"},
		bar:  true,
	},
	{
		name: "the self-fence arm is counted apart from epoch",
		runs: []SweepRun{
			sweepRun(declaredFail, "epoch", 1, pass), sweepRun(declaredFail, "off", 1, fail, "completeness"),
			sweepRun(declaredFail, "epoch+self-fence", 1, fail, "lag-recovery"),
			sweepRun(declaredFail, "epoch", 2, pass), sweepRun(declaredFail, "off", 2, fail, "completeness"),
			sweepRun(declaredFail, "epoch+self-fence", 2, pass),
		},
		arms: []string{
			"epoch specificity=1.00 runs=2 passed=2 flagged=0 inconclusive=0 errors=0 expected=pass met=true",
			"off sensitivity=1.00 runs=2 passed=0 flagged=2 inconclusive=0 errors=0 expected=fail met=true",
			"epoch+self-fence specificity=0.50 runs=2 passed=1 flagged=1 inconclusive=0 errors=0 expected=pass met=false",
		},
		misses: []string{"epoch+self-fence: 1 of 2 judged runs did not pass"},
	},
}

func TestSweepMatrix(t *testing.T) {
	for _, tc := range sweepMatrixCases {
		t.Run(tc.name, func(t *testing.T) {
			cells := Matrix(tc.runs)
			require.Len(t, cells, 1)
			c := cells[0]
			var arms []string
			for _, a := range c.Arms {
				arms = append(arms, armLine(a))
			}
			assert.Equal(t, tc.arms, arms)
			assert.Equal(t, tc.bar, c.MeetsBar)
			assert.Equal(t, tc.misses, c.Misses)
			assert.Equal(t, tc.runs[0].Expect, c.Expect)
		})
	}
}

// TestSweepMatrixCells: one cell per scenario and backend in order of first
// appearance; flagged runs carry the invariants that caught them.
func TestSweepMatrixCells(t *testing.T) {
	a1 := sweepRun(declaredFail, "off", 1, result.Fail, "completeness", "stale-epoch")
	b1 := sweepRun(declaredFail, "off", 1, result.Pass)
	b1.Backend = "toxiproxy"
	c1 := sweepRun(declaredPass, "off", 1, result.Pass)
	c1.Scenario = "other"
	a2 := sweepRun(declaredFail, "off", 2, result.Inconclusive)
	a3 := sweepRun(declaredFail, "epoch", 3, result.Fail, "lag-recovery")
	cells := Matrix([]SweepRun{a1, b1, c1, a2, a3})

	var keys []string
	for _, c := range cells {
		keys = append(keys, c.Scenario+"/"+c.Backend)
	}
	assert.Equal(t, []string{"s/netns", "s/toxiproxy", "other/netns"}, keys)

	s := cells[0]
	assert.Equal(t, []RunRef{
		{Seed: 1, Arm: "off", Dir: "s/netns/seed-1/off", Outcome: result.Fail, Violated: []string{"completeness", "stale-epoch"}},
		{Seed: 3, Arm: "epoch", Dir: "s/netns/seed-3/epoch", Outcome: result.Fail, Violated: []string{"lag-recovery"}},
	}, s.Flagged)
	assert.Equal(t, []RunRef{{Seed: 2, Arm: "off", Dir: "s/netns/seed-2/off", Outcome: result.Inconclusive}}, s.Unjudged)
	assert.False(t, s.MeetsBar)
	assert.False(t, cells[1].MeetsBar, "fencing off passed where it must fail")
	assert.True(t, cells[2].MeetsBar, "declared off: pass")
	assert.Empty(t, Matrix(nil))
}

// TestSweepRunJSON: a record round-trips through sweep.json, and the
// declaration is written with its YAML field names.
func TestSweepRunJSON(t *testing.T) {
	r := sweepRun(declaredPass, "off", 4, result.Pass)
	r.Expected, r.Met, r.DurationMs = ExpectPass, true, 61234
	b, err := json.Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"expect":{"on":"pass","off":"pass","reason":"the bug needs two owners and this cut leaves one"}`)
	var back SweepRun
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, r, back)
}

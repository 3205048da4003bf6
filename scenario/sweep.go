package scenario

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/chaosrun/chaosrun/reports/result"
)

// OutcomeError is the outcome of a sweep run that the harness could not
// finish (Run returned an error): it has no verdict at all.
const OutcomeError result.Outcome = "error"

// Measures of an arm in a sweep matrix.
const (
	// Sensitivity is flagged / judged runs of a fencing-off arm: how often
	// the harness catches the known-bad control plane.
	Sensitivity = "sensitivity"
	// Specificity is passed / judged runs of a fencing-on arm: how often
	// the harness leaves the fixed control plane alone.
	Specificity = "specificity"
)

// SweepRun is the record of one run of a sweep: one scenario on one
// backend with one seed and one fencing arm ("epoch", "off" or
// "epoch+self-fence"). A sweep records only runs that finished; an
// interrupted run leaves no record.
type SweepRun struct {
	Scenario string `json:"scenario"`
	Backend  string `json:"backend"`
	Seed     int64  `json:"seed"`
	Arm      string `json:"arm"`
	// Dir is the run directory, relative to the sweep directory.
	Dir string `json:"dir"`
	// Outcome is result.Pass, result.Fail, result.Inconclusive or
	// OutcomeError.
	Outcome result.Outcome `json:"outcome"`
	// Violated names the invariants that failed the run (Verdict.Violated).
	Violated []string `json:"violated,omitempty"`
	// Error is the harness error of an OutcomeError run.
	Error string `json:"error,omitempty"`
	// Expect is the scenario's declaration when the run was made.
	Expect Expect `json:"expect"`
	// Expected (Expect.For(Arm)) and Met (Outcome == Expected) are derived
	// from the fields above for readers of sweep.json; Matrix recomputes
	// them rather than trusting them.
	Expected string `json:"expected"`
	Met      bool   `json:"met"`
	// DurationMs is how long the run took, teardown included.
	DurationMs int64 `json:"duration_ms"`
}

// Judged reports whether the run got a verdict that counts in the ratios
// (pass or fail); inconclusive and error runs do not.
func (r SweepRun) Judged() bool { return r.Outcome == result.Pass || r.Outcome == result.Fail }

// ArmStats counts the runs of one arm in one cell of a sweep matrix.
type ArmStats struct {
	Arm string `json:"arm"`
	// Measure is Sensitivity for an arm with fencing off, else Specificity.
	Measure string `json:"measure"`
	// Expected is the verdict the scenario declares for the arm.
	Expected     string `json:"expected"`
	Runs         int    `json:"runs"`
	Passed       int    `json:"passed"`
	Flagged      int    `json:"flagged"`
	Inconclusive int    `json:"inconclusive"`
	Errors       int    `json:"errors"`
	// Ratio is the Measure: Flagged/Judged (sensitivity) or Passed/Judged
	// (specificity); nil when no run was judged.
	Ratio *float64 `json:"ratio"`
	// Met reports whether every run of the arm was judged and got Expected.
	Met bool `json:"met"`
}

// Judged is the number of runs that got a pass or fail verdict.
func (a ArmStats) Judged() int { return a.Passed + a.Flagged }

// RunRef points at one run of a cell from its report.
type RunRef struct {
	Seed     int64          `json:"seed"`
	Arm      string         `json:"arm"`
	Dir      string         `json:"dir"`
	Outcome  result.Outcome `json:"outcome"`
	Violated []string       `json:"violated,omitempty"`
	Error    string         `json:"error,omitempty"`
}

// Cell is the confusion matrix of one scenario on one backend.
type Cell struct {
	Scenario string `json:"scenario"`
	Backend  string `json:"backend"`
	// Expect is the scenario's declaration, as its first run recorded it.
	Expect Expect `json:"expect"`
	// Arms are in the order their first runs appear.
	Arms []ArmStats `json:"arms"`
	// Flagged are the failed runs of every arm, with the invariants that
	// caught them: the detections of the fencing-off arm and the false
	// alarms of the others.
	Flagged []RunRef `json:"flagged,omitempty"`
	// Unjudged are the inconclusive and error runs.
	Unjudged []RunRef `json:"unjudged,omitempty"`
	// MeetsBar reports whether every arm met its declaration: every judged
	// run got the arm's expected verdict (so sensitivity 1.0 when fencing
	// off must fail, specificity 1.0 with fencing on) and no run was
	// inconclusive or an error.
	MeetsBar bool `json:"meets_bar"`
	// Misses says why the bar was missed, one line per arm and cause.
	Misses []string `json:"misses,omitempty"`
}

// Matrix groups the runs of a sweep by scenario and backend, in the order
// each pair first appears, and counts each arm of each pair. It is pure.
// It judges every run of a pair by the declaration the pair's first run
// recorded (Expect.For(Arm)), not by the derived Expected and Met fields,
// and it counts every record it is given, so the caller passes each
// (scenario, backend, seed, arm) once.
func Matrix(runs []SweepRun) []Cell {
	type key struct{ scenario, backend string }
	var (
		cells []Cell
		index = map[key]int{}
	)
	for _, r := range runs {
		k := key{r.Scenario, r.Backend}
		i, ok := index[k]
		if !ok {
			i = len(cells)
			index[k] = i
			cells = append(cells, Cell{Scenario: r.Scenario, Backend: r.Backend, Expect: r.Expect})
		}
		cells[i].add(r)
	}
	for i := range cells {
		cells[i].judge()
	}
	return cells
}

// add counts r into the cell.
func (c *Cell) add(r SweepRun) {
	j := -1
	for i := range c.Arms {
		if c.Arms[i].Arm == r.Arm {
			j = i
			break
		}
	}
	if j < 0 {
		measure := Specificity
		if isOffArm(r.Arm) {
			measure = Sensitivity
		}
		c.Arms = append(c.Arms, ArmStats{Arm: r.Arm, Measure: measure, Expected: c.Expect.For(r.Arm)})
		j = len(c.Arms) - 1
	}
	a := &c.Arms[j]
	a.Runs++
	ref := RunRef{Seed: r.Seed, Arm: r.Arm, Dir: r.Dir, Outcome: r.Outcome, Violated: r.Violated, Error: r.Error}
	switch r.Outcome {
	case result.Pass:
		a.Passed++
	case result.Fail:
		a.Flagged++
		c.Flagged = append(c.Flagged, ref)
	case result.Inconclusive:
		a.Inconclusive++
		c.Unjudged = append(c.Unjudged, ref)
	default: // OutcomeError, and anything unknown: not a verdict
		a.Errors++
		c.Unjudged = append(c.Unjudged, ref)
	}
}

// judge computes the ratios and the bar once every run is counted.
func (c *Cell) judge() {
	c.MeetsBar = true
	for i := range c.Arms {
		a := &c.Arms[i]
		if n := a.Judged(); n > 0 {
			hits := a.Passed
			if a.Measure == Sensitivity {
				hits = a.Flagged
			}
			ratio := float64(hits) / float64(n)
			a.Ratio = &ratio
		}
		got := a.Flagged // judged runs whose verdict is not the expected one
		switch a.Expected {
		case string(result.Fail):
			got = a.Passed
		case ExpectEither:
			got = 0
		}
		a.Met = got == 0 && a.Inconclusive == 0 && a.Errors == 0
		if got > 0 {
			c.Misses = append(c.Misses, fmt.Sprintf("%s: %d of %d judged runs did not %s", a.Arm, got, a.Judged(), a.Expected))
		}
		if a.Inconclusive > 0 {
			c.Misses = append(c.Misses, fmt.Sprintf("%s: %d of %d runs inconclusive", a.Arm, a.Inconclusive, a.Runs))
		}
		if a.Errors > 0 {
			c.Misses = append(c.Misses, fmt.Sprintf("%s: %d of %d runs ended in a harness error", a.Arm, a.Errors, a.Runs))
		}
		c.MeetsBar = c.MeetsBar && a.Met
	}
}

// isOffArm reports whether an arm runs with fencing off, by the rule
// Expect.For applies.
func isOffArm(arm string) bool { return strings.HasPrefix(arm, "off") }

// expectJSON is Expect with the YAML field names as JSON keys.
type expectJSON struct {
	On       string          `json:"on"`
	Off      string          `json:"off"`
	Reason   string          `json:"reason,omitempty"`
	Backends []BackendExpect `json:"backends,omitempty"`
}

// MarshalJSON encodes e with its YAML field names (on, off, reason,
// backends), as sweep.json records it.
func (e Expect) MarshalJSON() ([]byte, error) {
	return json.Marshal(expectJSON(e))
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (e *Expect) UnmarshalJSON(data []byte) error {
	var v expectJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("scenario: expect: %w", err)
	}
	*e = Expect(v)
	return nil
}

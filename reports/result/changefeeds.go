package result

import (
	"fmt"
	"slices"
)

// ChangefeedVerdict is one changefeed's verdict in a run of several.
type ChangefeedVerdict struct {
	Changefeed string `json:"changefeed"`
	// Dir is the changefeed's directory, relative to the run directory:
	// its sink files, result.json and reports.
	Dir     string  `json:"dir"`
	Verdict Verdict `json:"verdict"`
	// Records and MaxLagMs are its sink's, for the summary.
	Records  int64 `json:"records"`
	MaxLagMs int64 `json:"max_lag_ms"`
}

// AddChangefeed folds another changefeed's result, sub, checked from dir,
// into r: r's invariants fail where sub's do (their violations add up and
// the summaries name the changefeeds), its reasons are r's too (those of
// the whole run once), and the
// verdict is composed again over both by decide (checker.Decide).
func (r *Result) AddChangefeed(dir string, sub *Result, decide func([]Invariant, []string) Verdict) {
	if len(r.Changefeeds) == 0 {
		r.Changefeeds = append(r.Changefeeds, verdictOf(".", r))
		for i := range r.Invariants {
			r.Invariants[i].Summary = fmt.Sprintf("%s: %s", r.Changefeed, r.Invariants[i].Summary)
		}
	}
	r.Changefeeds = append(r.Changefeeds, verdictOf(dir, sub))
	for _, si := range sub.Invariants {
		i := slices.IndexFunc(r.Invariants, func(inv Invariant) bool { return inv.Name == si.Name })
		switch {
		case i < 0:
			si.Summary = fmt.Sprintf("%s: %s", sub.Changefeed, si.Summary)
			r.Invariants = append(r.Invariants, si)
		case si.Status == StatusFail:
			inv := &r.Invariants[i]
			inv.Status = StatusFail
			inv.Summary += fmt.Sprintf("; %s: %s", sub.Changefeed, si.Summary)
			inv.Violations += si.Violations
			inv.Examples = append(inv.Examples, si.Examples...)
		}
	}
	reasons := slices.Clone(r.Verdict.Reasons)
	for _, reason := range sub.Verdict.Reasons {
		// A reason of the whole run (an environment failure) is every
		// changefeed's; it is said once.
		if !slices.Contains(r.Verdict.Reasons, reason) {
			reasons = append(reasons, fmt.Sprintf("%s: %s", sub.Changefeed, reason))
		}
	}
	r.Verdict = decide(r.Invariants, reasons)
}

func verdictOf(dir string, r *Result) ChangefeedVerdict {
	return ChangefeedVerdict{Changefeed: r.Changefeed, Dir: dir, Verdict: r.Verdict,
		Records: r.Counters.Records, MaxLagMs: r.Lag.MaxLagMs}
}

package reports

import (
	"fmt"

	"github.com/chaosrun/chaosrun/reports/result"
)

// sloRow is one line of the "SLOs vs measured" table. OK is nil for
// informational rows that no SLO judges.
type sloRow struct {
	Name     string
	Target   string
	Measured string
	OK       *bool
}

// Status returns the mark of the row ("✓", "✗" or "").
func (s sloRow) Status() string {
	if s.OK == nil {
		return ""
	}
	return mark(*s.OK)
}

// Class returns the CSS class of the row's status.
func (s sloRow) Class() string {
	switch {
	case s.OK == nil:
		return ""
	case *s.OK:
		return "ok"
	default:
		return "bad"
	}
}

// sloRows lists what each SLO was judged on, one row per judged recovery and
// per superseded epoch, followed by the informational lag figures. It only
// selects and formats fields of r.
func sloRows(r *result.Result) []sloRow {
	var rows []sloRow
	bound := "no bound"
	if r.SLOs.RecoveryBoundMs > 0 {
		bound = "≤ " + dur(r.SLOs.RecoveryBoundMs)
	}
	for _, rc := range r.Recoveries {
		if !rc.Judged {
			continue
		}
		measured := fmt.Sprintf("not recovered by the deadline %s (peak lag %s)", rel(rc.DeadlineMs), dur(rc.PeakLagMs))
		if rc.Recovered {
			measured = fmt.Sprintf("%s (peak lag %s)", dur(rc.DurationMs), dur(rc.PeakLagMs))
		}
		ok := rc.WithinBound
		rows = append(rows, sloRow{
			Name:     fmt.Sprintf("Lag recovery after %s of %s", rc.Anchor, rc.FaultID),
			Target:   fmt.Sprintf("%s to lag ≤ %s held for %s", bound, dur(r.SLOs.LagMs), dur(r.SLOs.StableMs)),
			Measured: measured,
			OK:       &ok,
		})
	}
	for _, se := range r.StaleEpochs {
		ok := se.Tolerated
		row := sloRow{
			Name:     fmt.Sprintf("Zombie window of epoch %d", se.Epoch),
			Target:   "≤ " + dur(r.SLOs.AllowedZombieMs) + " past the moment it could have learned (harmful acts are judged separately)",
			Measured: fmt.Sprintf("%s (%s rows, %s watermarks, %s harmful)", dur(se.WindowMs), num(se.Rows), num(se.Watermarks), num(se.Harmful)),
			OK:       &ok,
		}
		if r.SLOs.AllowedZombieMs == 0 {
			row.Target, row.OK = "reported, not judged (no zombie SLO); harmful acts are judged separately", nil
		}
		rows = append(rows, row)
	}
	final := "undefined"
	if r.Lag.FinalDefined {
		final = dur(r.Lag.FinalLagMs)
	}
	rows = append(rows,
		sloRow{Name: "Peak sink lag", Target: "—", Measured: dur(r.Lag.MaxLagMs)},
		sloRow{Name: "Final sink lag", Target: "—", Measured: final},
		sloRow{Name: "Record latency p50 / p95 / p99 / max", Target: "—", Measured: fmt.Sprintf("%s / %s / %s / %s over %s rows",
			dur(r.Latency.P50Ms), dur(r.Latency.P95Ms), dur(r.Latency.P99Ms), dur(r.Latency.MaxMs), num(r.Latency.Rows))},
	)
	return rows
}

// verdictLine is the one-line verdict.
func verdictLine(r *result.Result) string {
	s := string(r.Verdict.Outcome)
	if len(r.Verdict.Violated) > 0 {
		s += " — violated: "
		for i, v := range r.Verdict.Violated {
			if i > 0 {
				s += ", "
			}
			s += v
		}
	}
	return s
}

// failing returns the invariants with violations, in report order.
func failing(r *result.Result) []result.Invariant {
	var out []result.Invariant
	for _, inv := range r.Invariants {
		if inv.Status == result.StatusFail {
			out = append(out, inv)
		}
	}
	return out
}

package reports

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/chaosrun/chaosrun/reports/result"
)

// Markdown renders r as report.md.
func Markdown(w io.Writer, r *result.Result) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	row := func(cells ...string) {
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		p("| %s |\n", strings.Join(cells, " | "))
	}

	p("# chaosrun report: %s — %s\n\n", orDash(r.Scenario), strings.ToUpper(string(r.Verdict.Outcome)))
	row("Run", "")
	row("---", "---")
	row("Verdict", "**"+verdictLine(r)+"**")
	row("Scenario", orDash(r.Scenario))
	row("Seed", fmt.Sprint(r.Seed))
	row("Fencing", orDash(r.FencingMode))
	row("Changefeed", orDash(r.Changefeed))
	row("Window", fmt.Sprintf("%s → %s (%s)", r.Timings.Start.Format(timeLayout), r.Timings.End.Format(timeLayout), dur(r.Timings.DurationMs)))
	row("Records", fmt.Sprintf("%s (%s rows, %s watermarks) in %d partitions, %s keys", num(r.Counters.Records),
		num(r.Counters.Rows), num(r.Counters.Watermarks), r.Counters.Partitions, num(r.Counters.Keys)))
	row("Upstream changes", num(r.Counters.Changes))
	row("Schema", fmt.Sprintf("result.json v%d", r.SchemaVersion))
	p("\n> The seed fixes the plan: %s.\n", r.Disclaimer)
	if len(r.Verdict.Reasons) > 0 {
		if r.Verdict.Outcome == result.Inconclusive {
			p("\n**Why inconclusive:**\n\n")
		} else {
			p("\n**Noted (did not change the verdict):**\n\n")
		}
		for _, reason := range r.Verdict.Reasons {
			p("- %s\n", reason)
		}
	}

	p("\n## SLOs vs measured\n\n")
	row("SLO", "Target", "Measured", "")
	row("---", "---", "---", "---")
	for _, s := range sloRows(r) {
		row(s.Name, s.Target, s.Measured, s.Status())
	}

	p("\n## Invariants\n\n")
	row("Invariant", "Class", "Status", "Violations", "Summary")
	row("---", "---", "---", "---:", "---")
	for _, inv := range r.Invariants {
		row(inv.Name, string(inv.Class), string(inv.Status), num(inv.Violations), inv.Summary)
	}

	if len(r.Faults) > 0 {
		p("\n## Faults\n\n")
		row("Fault", "Kind", "Target", "Inject", "Heal", "Took effect", "Peak lag while in force")
		row("---", "---", "---", "---", "---", "---", "---")
		for _, f := range r.Faults {
			heal := "never"
			if f.Healed {
				heal = rel(f.HealMs)
			}
			row(f.ID, f.Kind, strings.TrimSpace(f.TargetRole+" "+f.TargetProcess), rel(f.InjectMs), heal, mark(f.Effective), dur(f.PeakLagMs))
		}
		p("\n## Recoveries\n\n")
		row("Fault", "From", "At", "Recovered", "Recovery time", "Peak lag", "Judged", "Within bound")
		row("---", "---", "---", "---", "---", "---", "---", "---")
		for _, rc := range r.Recoveries {
			at, took := "not by the deadline "+rel(rc.DeadlineMs), "—"
			if rc.Recovered {
				at, took = rel(rc.RecoveredMs), dur(rc.DurationMs)
			}
			judged := ""
			within := ""
			if rc.Judged {
				judged, within = "yes", mark(rc.WithinBound)
			}
			row(rc.FaultID, rc.Anchor+" "+rel(rc.AnchorMs), at, mark(rc.Recovered), took, dur(rc.PeakLagMs), judged, within)
		}
	}

	if len(r.StaleEpochs) > 0 || len(r.StaleMessages) > 0 {
		p("\n## Stale generations\n\n")
	}
	if len(r.StaleEpochs) > 0 {
		row("Epoch", "Owner", "Superseded", "By", "Rows", "Watermarks", "Harmful", "Last act", "Zombie window", "Writers", "Tolerated")
		row("---", "---", "---", "---", "---:", "---:", "---:", "---", "---", "---", "---")
		for _, se := range r.StaleEpochs {
			var ws []string
			for _, w := range se.Writers {
				ws = append(ws, fmt.Sprintf("%s=%s", w.Node, num(w.Records)))
			}
			row(fmt.Sprint(se.Epoch), orDash(se.Owner), rel(se.SupersededMs), fmt.Sprint(se.SupersededBy), num(se.Rows), num(se.Watermarks),
				num(se.Harmful), rel(se.LastMs), dur(se.WindowMs), strings.Join(ws, ", "), mark(se.Tolerated))
		}
		p("\n")
	}
	if len(r.StaleMessages) > 0 {
		row("At", "Receiver", "Message", "From", "Epoch (msg / local / granted)", "Verdict", "Effect", "Harmful", "Reason", "Tolerated")
		row("---", "---", "---", "---", "---", "---", "---", "---", "---", "---")
		for _, m := range r.StaleMessages {
			row(rel(m.AtMs), m.Role+" on "+m.Node, m.MsgType, m.Sender, fmt.Sprintf("%d / %d / %d", m.MsgEpoch, m.LocalEpoch, m.GrantedEpoch),
				m.Verdict, m.Effect, mark(m.Harmful), m.Reason, mark(m.Tolerated))
		}
	}

	if fs := failing(r); len(fs) > 0 {
		p("\n## Violations\n")
		for _, inv := range fs {
			p("\n### %s (%s)\n\n%s\n\n", inv.Name, num(inv.Violations), inv.Summary)
			for _, ex := range inv.Examples {
				p("- `%s` %s: %s\n", rel(ex.AtMs), ex.Kind, ex.Message)
			}
			if n := int64(len(inv.Examples)); n < inv.Violations {
				p("- … %s violations in all, the first %d shown\n", num(inv.Violations), n)
			}
		}
	}

	c := r.Counters
	p("\n## Counters\n\n")
	row("Counter", "Value")
	row("---", "---:")
	for _, kv := range []struct {
		k string
		v int64
	}{
		{"records", c.Records}, {"rows", c.Rows}, {"watermarks", c.Watermarks}, {"keys", c.Keys}, {"upstream changes", c.Changes},
		{"duplicates", c.Duplicates}, {"replayed rows", c.Replays}, {"missing", c.Missing}, {"phantoms", c.Phantoms},
		{"beyond the final watermark", c.BeyondFinalWatermark}, {"late rows", c.LateRows}, {"value mismatches", c.ValueMismatches},
		{"balance-sum violations", c.BalanceViolations}, {"order violations", c.OrderViolations}, {"stale rows", c.StaleRows},
		{"stale watermarks", c.StaleWatermarks}, {"stale messages acted on", c.StaleMessagesAccepted},
		{"harmful messages", c.HarmfulMessages}, {"harmful rows", c.HarmfulRows}, {"harmful watermarks", c.HarmfulWatermarks},
		{"orphan-dispatcher rows", c.OrphanRows},
		{"watermark regressions", c.WatermarkRegressions}, {"input errors", c.InputErrors}, {"foreign records", c.Foreign},
	} {
		row(kv.k, num(kv.v))
	}
	if len(c.DuplicatesBy) > 0 || len(c.ReplaysBy) > 0 {
		p("\n")
		row("Generation (epoch, node)", "Duplicates written", "Replayed rows")
		row("---", "---:", "---:")
		for _, g := range mergeGens(c.DuplicatesBy, c.ReplaysBy) {
			row(fmt.Sprintf("%d, %s", g.Epoch, g.Node), num(g.Dups), num(g.Replays))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

const timeLayout = "2006-01-02 15:04:05.000Z07:00"

type genRow struct {
	Epoch         uint64
	Node          string
	Dups, Replays int64
}

// mergeGens lays the duplicate and replay attributions side by side.
func mergeGens(dups, replays []result.GenCount) []genRow {
	var out []genRow
	find := func(e uint64, n string) *genRow {
		for i := range out {
			if out[i].Epoch == e && out[i].Node == n {
				return &out[i]
			}
		}
		out = append(out, genRow{Epoch: e, Node: n})
		return &out[len(out)-1]
	}
	for _, g := range dups {
		find(g.Epoch, g.Node).Dups = g.Records
	}
	for _, g := range replays {
		find(g.Epoch, g.Node).Replays = g.Records
	}
	slices.SortFunc(out, func(a, b genRow) int { return cmp.Or(cmp.Compare(a.Epoch, b.Epoch), cmp.Compare(a.Node, b.Node)) })
	return out
}

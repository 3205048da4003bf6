package scenario

import (
	"fmt"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/reports/result"
)

// Arm is one configuration of a comparison and the outcome of its run.
type Arm struct {
	// Name is the arm's fencing part ("epoch", "off", "epoch+self-fence"),
	// with "+txn" for the transactional sink; Expect.For judges it by the
	// fencing part.
	Name string
	Dir  string
	Run  RunSummary
}

// Met reports whether an arm's verdict is the one its scenario declares
// for it (see Expect.For).
func Met(e Expect, a Arm) bool {
	o := a.Run.Verdict.Outcome
	if e.For(a.Name) == ExpectEither {
		return o == result.Pass || o == result.Fail
	}
	return string(o) == e.For(a.Name)
}

// Discriminated reports whether a comparison told the fixed control plane
// from the known-bad one as the scenario declares: every arm got the
// verdict its scenario expects of it (fencing on pass; fencing off fail,
// unless the scenario says why the bug cannot show in it), and there was
// an arm with fencing off.
func Discriminated(e Expect, arms []Arm) bool {
	sawOff := false
	for _, a := range arms {
		sawOff = sawOff || strings.HasPrefix(a.Name, "off")
		if !Met(e, a) {
			return false
		}
	}
	return sawOff
}

// WriteComparison writes compare.md and compare.html side by side into dir;
// e is the scenario's declaration on the comparison's backend.
func WriteComparison(dir string, p Plan, e Expect, arms []Arm) error {
	var md strings.Builder
	fmt.Fprintf(&md, "# chaosrun compare: %s (seed %d)\n\n", p.Scenario.Name, p.Seed)
	fmt.Fprintf(&md, "> %s\n\n", Disclaimer)
	verdict := fmt.Sprintf("the harness did **not** meet the scenario's declaration (fencing on: %s, fencing off: %s)", e.On, e.Off)
	if Discriminated(e, arms) {
		verdict = fmt.Sprintf("the harness met the scenario's declaration (fencing on: %s, fencing off: %s)", e.On, e.Off)
	}
	if e.Reason != "" {
		verdict += ". Why fencing off is expected to " + e.Off + ": " + e.Reason
	}
	fmt.Fprintf(&md, "**Verdict:** %s.\n\n", verdict)
	fences := countFences(arms)
	g, isGrid := layeredGrid(arms, fences)
	if isGrid {
		md.WriteString(g.markdown(e) + "## Every measure\n\n")
	}
	rows := compareRows(arms, fences)
	md.WriteString("| Measure |")
	for _, a := range arms {
		fmt.Fprintf(&md, " %s |", a.Name)
	}
	md.WriteString("\n| --- |" + strings.Repeat(" --- |", len(arms)) + "\n")
	for _, r := range rows {
		fmt.Fprintf(&md, "| %s |", r[0])
		for _, c := range r[1:] {
			fmt.Fprintf(&md, " %s |", c)
		}
		md.WriteString("\n")
	}
	md.WriteString("\nEach run's full report is in its directory: ")
	for i, a := range arms {
		if i > 0 {
			md.WriteString(", ")
		}
		fmt.Fprintf(&md, "[%s](%s/report.html)", a.Name, a.Name)
	}
	md.WriteString(".\n")
	if err := os.WriteFile(filepath.Join(dir, "compare.md"), []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("scenario: write compare.md: %w", err)
	}

	var h strings.Builder
	fmt.Fprintf(&h, "<!doctype html><html><head><meta charset=\"utf-8\"><title>chaosrun compare: %s</title>", html.EscapeString(p.Scenario.Name))
	// NB: the reports' own style first, so that the lag charts copied from
	// them draw as they do there (their SVG is styled by class).
	if len(arms) > 0 {
		h.WriteString(reportStyle(filepath.Join(arms[0].Dir, "report.html")))
	}
	h.WriteString("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}h2{margin-top:2em}table.grid td{vertical-align:top}td.met{background:#e6f4ea}td.unmet{background:#fce8e6}td.none{background:#eee;color:#666}</style></head><body>")
	fmt.Fprintf(&h, "<h1>chaosrun compare: %s (seed %d)</h1><p><em>%s</em></p><p><strong>Verdict:</strong> %s.</p>",
		html.EscapeString(p.Scenario.Name), p.Seed, html.EscapeString(Disclaimer), strings.ReplaceAll(html.EscapeString(verdict), "**", ""))
	if isGrid {
		h.WriteString(g.html(e) + "<h2>Every measure</h2>")
	}
	h.WriteString("<table><tr><th>Measure</th>")
	for _, a := range arms {
		fmt.Fprintf(&h, "<th>%s</th>", html.EscapeString(a.Name))
	}
	h.WriteString("</tr>")
	for _, r := range rows {
		h.WriteString("<tr>")
		for _, c := range r {
			fmt.Fprintf(&h, "<td>%s</td>", html.EscapeString(c))
		}
		h.WriteString("</tr>")
	}
	h.WriteString("</table>")
	for _, a := range arms {
		fmt.Fprintf(&h, "<h2>%s: sink lag</h2>", html.EscapeString(a.Name))
		h.WriteString(firstSVG(filepath.Join(a.Dir, "report.html")))
		fmt.Fprintf(&h, "<p><a href=\"%s/report.html\">full report</a></p>", html.EscapeString(a.Name))
	}
	h.WriteString("</body></html>\n")
	if err := os.WriteFile(filepath.Join(dir, "compare.html"), []byte(h.String()), 0o644); err != nil {
		return fmt.Errorf("scenario: write compare.html: %w", err)
	}
	return nil
}

var (
	svgRe   = regexp.MustCompile(`(?s)<svg.*?</svg>`)
	styleRe = regexp.MustCompile(`(?s)<style>.*?</style>`)
)

// reportStyle returns the style sheet of a report ("" without one).
func reportStyle(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(styleRe.Find(b))
}

// firstSVG returns the first inline SVG (the lag chart) of a report.
func firstSVG(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "<p>(no report)</p>"
	}
	if m := svgRe.Find(b); m != nil {
		return string(m)
	}
	return "<p>(no chart)</p>"
}

func compareRows(arms []Arm, fences map[string]fenceCount) [][]string {
	get := func(f func(r *result.Result) string) []string {
		var out []string
		for _, a := range arms {
			if a.Run.Result == nil {
				out = append(out, "—")
				continue
			}
			out = append(out, f(a.Run.Result))
		}
		return out
	}
	ms := func(v int64) string { return fmt.Sprintf("%.1fs", float64(v)/1000) }
	recovery := func(anchor string) func(r *result.Result) string {
		return func(r *result.Result) string {
			var parts []string
			for _, rc := range r.Recoveries {
				if rc.Anchor != anchor {
					continue
				}
				if rc.Recovered {
					parts = append(parts, ms(rc.DurationMs))
				} else {
					parts = append(parts, "not recovered")
				}
			}
			return strings.Join(parts, ", ")
		}
	}
	row := func(name string, f func(r *result.Result) string) []string {
		return append([]string{name}, get(f)...)
	}
	return [][]string{
		row("Configuration", func(r *result.Result) string { return r.FencingMode }),
		row("Verdict", func(r *result.Result) string {
			v := string(r.Verdict.Outcome)
			if len(r.Verdict.Violated) > 0 {
				v += " (" + strings.Join(r.Verdict.Violated, ", ") + ")"
			}
			return v
		}),
		row("Recovery after heal", recovery("heal")),
		row("Recovery after inject", recovery("inject")),
		row("Zombie window", func(r *result.Result) string {
			var parts []string
			for _, se := range r.StaleEpochs {
				parts = append(parts, fmt.Sprintf("e%d: %s (%d records)", se.Epoch, ms(se.WindowMs), se.Rows+se.Watermarks))
			}
			return strings.Join(parts, ", ")
		}),
		row("Stale messages accepted", func(r *result.Result) string { return fmt.Sprint(r.Counters.StaleMessagesAccepted) }),
		row("Stale rows visible (harmful, orphan)", func(r *result.Result) string {
			c := r.Counters
			return fmt.Sprintf("%d (%d, %d)", c.StaleRows, c.HarmfulRows, c.OrphanRows)
		}),
		fencedRow(arms, fences),
		row("Lost rows", func(r *result.Result) string { return fmt.Sprint(r.Counters.Missing) }),
		row("Duplicate rows", func(r *result.Result) string { return fmt.Sprint(r.Counters.Duplicates) }),
		row("Aborted records (writer scan)", func(r *result.Result) string {
			if len(r.SinkWriters) == 0 {
				return "—"
			}
			return fmt.Sprintf("%d of %d attempted", r.Counters.Aborted, r.Counters.Attempted)
		}),
		row("Visible after fenced", func(r *result.Result) string {
			if len(r.SinkWriters) == 0 {
				return "—"
			}
			return fmt.Sprint(r.Counters.VisibleAfterFenced)
		}),
		row("Peak lag", func(r *result.Result) string { return ms(r.Lag.MaxLagMs) }),
	}
}

// verdictFencedByBroker is the verdict of the decision-log line a node
// writes when the broker fenced one of its transactional writers.
const verdictFencedByBroker = evidence.VerdictFencedByBroker

// fencedRow counts, per arm, the writers the broker fenced: the nodes' own
// decision-log lines ("stopped"), and the transactional writer epochs of
// the sink topic that a newer epoch of the same producer id superseded
// (the tailer's writer scan). An arm with neither a transactional writer
// nor such a line shows "—": its sink has nothing for the broker to fence.
func fencedRow(arms []Arm, fences map[string]fenceCount) []string {
	out := []string{"Fenced writers"}
	for _, a := range arms {
		stopped, err := fences[a.Name].n, fences[a.Name].err
		var superseded, txn int
		if a.Run.Result != nil {
			superseded, txn = supersededWriters(a.Run.Result.SinkWriters)
		}
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("? (decision logs: %v)", err))
		case stopped == 0 && txn == 0:
			out = append(out, "—")
		default:
			out = append(out, fmt.Sprintf("%d stopped (decision logs), %d superseded epochs (writer scan)", stopped, superseded))
		}
	}
	return out
}

// fenceCount is what fencedDecisions found for one arm.
type fenceCount struct {
	n   int
	err error
}

// countFences reads each arm's decision logs once, by arm name.
func countFences(arms []Arm) map[string]fenceCount {
	out := make(map[string]fenceCount, len(arms))
	for _, a := range arms {
		n, err := fencedDecisions(a.Dir)
		out[a.Name] = fenceCount{n, err}
	}
	return out
}

// fencedDecisions counts the decision-log lines of dir with the verdict
// "fenced by broker".
func fencedDecisions(dir string) (int, error) {
	paths, err := filepath.Glob(filepath.Join(dir, evidence.DecisionsGlob))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range paths {
		ds, err := evidence.ReadDecisions(p)
		if err != nil {
			return n, err
		}
		for _, d := range ds {
			if d.Verdict == verdictFencedByBroker {
				n++
			}
		}
	}
	return n, nil
}

// supersededWriters counts the transactional writers of ws, and those of
// them a newer epoch of the same producer id followed.
func supersededWriters(ws []result.SinkWriter) (superseded, txn int) {
	newest := map[int64]int16{}
	for _, w := range ws {
		if w.Transactional {
			txn++
			if e, ok := newest[w.ProducerID]; !ok || w.Epoch > e {
				newest[w.ProducerID] = w.Epoch
			}
		}
	}
	for _, w := range ws {
		if w.Transactional && w.Epoch < newest[w.ProducerID] {
			superseded++
		}
	}
	return superseded, txn
}

// The sink columns of the layered-defence grid.
const (
	gridIdempotent = "idempotent"
	gridTxn        = "txn"
)

// grid is the layered-defence view of a comparison: one row per fencing
// part of its arms (control-plane fencing), one column per sink mode, and
// in each cell the arm run with both.
type grid struct {
	fencing []string
	cells   map[[2]string]Arm // by fencing part and sink
	fences  map[string]fenceCount
}

// layeredGrid arranges arms as control-plane fencing × sink; ok is false
// unless they cover at least two fencing parts and both sinks, the shape
// of compare --matrix.
func layeredGrid(arms []Arm, fences map[string]fenceCount) (g grid, ok bool) {
	g.cells, g.fences = make(map[[2]string]Arm), fences
	sinks := map[string]bool{}
	for _, a := range arms {
		part, sink := strings.TrimSuffix(a.Name, "+txn"), gridIdempotent
		if part != a.Name {
			sink = gridTxn
		}
		if !slices.Contains(g.fencing, part) {
			g.fencing = append(g.fencing, part)
		}
		sinks[sink] = true
		g.cells[[2]string{part, sink}] = a
	}
	return g, len(g.fencing) >= 2 && len(sinks) == 2
}

// cell sums up one arm for the grid, one fact per line: its verdict
// against the declaration, the stale rows downstream consumers saw, what
// the broker fenced, and what was lost or duplicated.
func (g grid) cell(e Expect, part, sink string) []string {
	a, ok := g.cells[[2]string{part, sink}]
	if !ok {
		return []string{"not run"}
	}
	r := a.Run.Result
	if r == nil {
		return []string{string(a.Run.Verdict.Outcome) + " (no result)"}
	}
	met := "as declared"
	if !Met(e, a) {
		met = "NOT as declared (" + e.For(a.Name) + ")"
	}
	c := r.Counters
	fenced := "broker fenced nothing"
	if f := g.fences[a.Name]; f.err == nil && f.n > 0 {
		fenced = fmt.Sprintf("broker fenced %d writers; %d records visible after fenced", f.n, c.VisibleAfterFenced)
	}
	return []string{
		fmt.Sprintf("%s, %s", r.Verdict.Outcome, met),
		fmt.Sprintf("stale rows visible %d (harmful %d, orphan %d)", c.StaleRows, c.HarmfulRows, c.OrphanRows),
		fenced,
		fmt.Sprintf("lost %d, duplicates %d", c.Missing, c.Duplicates),
	}
}

// markdown renders the grid as a Markdown table.
func (g grid) markdown(e Expect) string {
	var b strings.Builder
	b.WriteString("## Layered defence: control-plane fencing × sink\n\n")
	b.WriteString("| control-plane fencing | sink: idempotent | sink: txn |\n| --- | --- | --- |\n")
	for _, part := range g.fencing {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", part,
			strings.Join(g.cell(e, part, gridIdempotent), "<br>"), strings.Join(g.cell(e, part, gridTxn), "<br>"))
	}
	return b.String() + "\n"
}

// html renders the grid as a table whose cells are coloured by whether the
// arm got the verdict the scenario declares for it (grey: not run).
func (g grid) html(e Expect) string {
	var b strings.Builder
	b.WriteString("<h2>Layered defence: control-plane fencing × sink</h2><table class=\"grid\"><tr><th>control-plane fencing</th><th>sink: idempotent</th><th>sink: txn</th></tr>")
	for _, part := range g.fencing {
		fmt.Fprintf(&b, "<tr><th>%s</th>", html.EscapeString(part))
		for _, sink := range []string{gridIdempotent, gridTxn} {
			class := "met"
			if a, ok := g.cells[[2]string{part, sink}]; !ok {
				class = "none"
			} else if !Met(e, a) {
				class = "unmet"
			}
			lines := g.cell(e, part, sink)
			for i, l := range lines {
				lines[i] = html.EscapeString(l)
			}
			fmt.Fprintf(&b, "<td class=\"%s\">%s</td>", class, strings.Join(lines, "<br>"))
		}
		b.WriteString("</tr>")
	}
	return b.String() + "</table>"
}

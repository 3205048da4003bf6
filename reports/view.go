package reports

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/chaosrun/chaosrun/reports/result"
)

// view is what report.md and report.html render: the Result, and the rows
// and lines both reports show, formatted once. Building it only selects and
// formats fields of the Result.
type view struct {
	Result  *result.Result
	Verdict string
	// ReasonsTitle heads the verdict's reasons: why the run is inconclusive,
	// or notes that did not change the verdict.
	ReasonsTitle string
	Summary      []summaryRow
	SLOs         []sloRow
	Faults       []faultRow
	Recoveries   []recoveryRow
	// CatchUps are the faults' backlogs and drains; empty without a change
	// log.
	CatchUps      []catchUpRow
	StaleEpochs   []staleEpochRow
	StaleMessages []staleMessageRow
	Violations    []violationList
	Generations   []generationRow
	// Writers are the sink topic's writer generations; empty without the
	// tailer's writer scan.
	Writers []writerRow
	// Changefeeds are each changefeed's own verdict in a run of several.
	Changefeeds []changefeedRow
}

// changefeedRow is one changefeed of a run of several.
type changefeedRow struct {
	Name, Verdict, Violated, Records, MaxLag, Report string
}

func changefeedRows(r *result.Result) []changefeedRow {
	var rows []changefeedRow
	for _, cf := range r.Changefeeds {
		rows = append(rows, changefeedRow{Name: cf.Changefeed, Verdict: string(cf.Verdict.Outcome),
			Violated: cmp.Or(strings.Join(cf.Verdict.Violated, ", "), "none"), Records: num(cf.Records),
			MaxLag: dur(cf.MaxLagMs), Report: path.Join(cf.Dir, HTMLFile)})
	}
	return rows
}

func newView(r *result.Result) view {
	v := view{
		Result:      r,
		Verdict:     verdictLine(r),
		Summary:     summaryRows(r),
		SLOs:        sloRows(r),
		Generations: generationRows(r.Counters.DuplicatesBy, r.Counters.ReplaysBy),
		Changefeeds: changefeedRows(r),
	}
	v.ReasonsTitle = "Noted (did not change the verdict)"
	if r.Verdict.Outcome == result.Inconclusive {
		v.ReasonsTitle = "Why inconclusive"
	}
	for _, f := range r.Faults {
		v.Faults = append(v.Faults, newFaultRow(f))
		if f.CatchUp != nil {
			v.CatchUps = append(v.CatchUps, newCatchUpRow(f.ID, *f.CatchUp))
		}
	}
	for _, rc := range r.Recoveries {
		v.Recoveries = append(v.Recoveries, newRecoveryRow(rc))
	}
	for _, se := range r.StaleEpochs {
		v.StaleEpochs = append(v.StaleEpochs, newStaleEpochRow(se))
	}
	for _, m := range r.StaleMessages {
		v.StaleMessages = append(v.StaleMessages, newStaleMessageRow(m))
	}
	for _, w := range mergeEpochs(r.SinkWriters) {
		v.Writers = append(v.Writers, newWriterRow(w.SinkWriter, w.lastEpoch))
	}
	for _, inv := range r.Invariants {
		if inv.Status == result.StatusFail {
			v.Violations = append(v.Violations, newViolationList(inv))
		}
	}
	return v
}

// timeLayout formats the absolute instants of a report.
const timeLayout = "2006-01-02 15:04:05.000Z07:00"

// summaryRow is one line of the run summary under the verdict.
type summaryRow struct {
	Name, Value string
}

func summaryRows(r *result.Result) []summaryRow {
	t, c := r.Timings, r.Counters
	return []summaryRow{
		{"Scenario", orDash(r.Scenario)},
		{"Seed", fmt.Sprint(r.Seed)},
		{"Fencing", orDash(r.FencingMode)},
		{"Changefeed", orDash(r.Changefeed)},
		{"Window", fmt.Sprintf("%s → %s (%s)", t.Start.Format(timeLayout), t.End.Format(timeLayout), dur(t.DurationMs))},
		{"Records", fmt.Sprintf("%s (%s rows, %s watermarks) in %d partitions, %s keys",
			num(c.Records), num(c.Rows), num(c.Watermarks), c.Partitions, num(c.Keys))},
		{"Upstream changes", num(c.Changes)},
		{"Schema", fmt.Sprintf("result.json v%d", r.SchemaVersion)},
	}
}

// verdictLine is the one-line verdict.
func verdictLine(r *result.Result) string {
	s := string(r.Verdict.Outcome)
	if len(r.Verdict.Violated) > 0 {
		s += " — violated: " + strings.Join(r.Verdict.Violated, ", ")
	}
	return s
}

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
// per superseded epoch, followed by the informational lag figures.
func sloRows(r *result.Result) []sloRow {
	var rows []sloRow
	bound := "no bound"
	if r.SLOs.RecoveryBoundMs > 0 {
		bound = "≤ " + dur(r.SLOs.RecoveryBoundMs)
	}
	for _, rc := range r.Recoveries {
		measured := fmt.Sprintf("not recovered by the deadline %s (peak lag %s)", rel(rc.DeadlineMs), dur(rc.PeakLagMs))
		if rc.Recovered {
			measured = fmt.Sprintf("%s (peak lag %s)", dur(rc.DurationMs), dur(rc.PeakLagMs))
		}
		within := bound
		if rc.DrainAllowanceMs > 0 {
			within += " + " + dur(rc.DrainAllowanceMs) + " to drain the fault's backlog"
		}
		row := sloRow{
			Name:     fmt.Sprintf("Lag recovery after %s of %s", rc.Anchor, rc.FaultID),
			Target:   fmt.Sprintf("%s to lag ≤ %s held for %s", within, dur(r.SLOs.LagMs), dur(r.SLOs.StableMs)),
			Measured: measured,
		}
		if rc.Judged {
			ok := rc.WithinBound
			row.OK = &ok
		} else {
			// The failover: from the inject, while the fault still holds.
			// Shown against the same bound, judged only at the heal.
			row.Target += " (failover: shown; the heal is judged)"
		}
		rows = append(rows, row)
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
	return append(rows,
		sloRow{Name: "Peak sink lag", Target: "—", Measured: dur(r.Lag.MaxLagMs)},
		sloRow{Name: "Final sink lag", Target: "—", Measured: final},
		sloRow{Name: "Record latency p50 / p95 / p99 / max", Target: "—", Measured: fmt.Sprintf("%s / %s / %s / %s over %s rows",
			dur(r.Latency.P50Ms), dur(r.Latency.P95Ms), dur(r.Latency.P99Ms), dur(r.Latency.MaxMs), num(r.Latency.Rows))},
	)
}

// faultRow is one line of the faults table.
type faultRow struct {
	ID, Kind, Target, Inject, Heal, Effective, PeakLag string
}

func newFaultRow(f result.Fault) faultRow {
	heal := "never"
	if f.Healed {
		heal = rel(f.HealMs)
	}
	return faultRow{
		ID:        f.ID,
		Kind:      f.Kind,
		Target:    strings.TrimSpace(f.TargetRole + " " + f.TargetProcess),
		Inject:    rel(f.InjectMs),
		Heal:      heal,
		Effective: mark(f.Effective),
		PeakLag:   dur(f.PeakLagMs),
	}
}

// catchUpRow is one line of the catch-up table: what a fault left to drain
// and how fast it went.
type catchUpRow struct {
	FaultID, AtInject, AtHeal, Peak, Drain, DrainRate, Incoming, Capacity, Expected string
}

func newCatchUpRow(id string, c result.CatchUp) catchUpRow {
	perSec := func(v float64) string { return num(int64(v+0.5)) + " rows/s" }
	row := catchUpRow{
		FaultID: id, AtInject: num(c.BacklogAtInject) + " rows", AtHeal: num(c.BacklogAtHeal) + " rows",
		Peak: num(c.PeakBacklog) + " rows at " + rel(c.PeakMs), Drain: "not drained", DrainRate: "—", Incoming: "—",
		Capacity: perSec(c.PipelineRowsPerSec), Expected: "—",
	}
	if c.Drained {
		row.Drain = dur(c.DrainMs)
	}
	if c.DrainRowsPerSec > 0 || c.IncomingRowsPerSec > 0 {
		row.DrainRate, row.Incoming = perSec(c.DrainRowsPerSec), perSec(c.IncomingRowsPerSec)
	}
	if c.ExpectedDrainMs > 0 {
		row.Expected = dur(c.ExpectedDrainMs)
	}
	return row
}

// recoveryRow is one line of the recoveries table. Judged and WithinBound
// are empty for an anchor that no bound judges.
type recoveryRow struct {
	FaultID, From, At, Recovered, Took, PeakLag, Judged, WithinBound string
}

func newRecoveryRow(rc result.Recovery) recoveryRow {
	row := recoveryRow{
		FaultID:   rc.FaultID,
		From:      rc.Anchor + " " + rel(rc.AnchorMs),
		At:        "not by the deadline " + rel(rc.DeadlineMs),
		Recovered: mark(rc.Recovered),
		Took:      "—",
		PeakLag:   dur(rc.PeakLagMs),
	}
	if rc.Recovered {
		row.At, row.Took = rel(rc.RecoveredMs), dur(rc.DurationMs)
	}
	if rc.Judged {
		row.Judged, row.WithinBound = "yes", mark(rc.WithinBound)
	}
	return row
}

// staleEpochRow is one line of the superseded epochs table.
type staleEpochRow struct {
	Epoch, Owner, Superseded, SupersededBy, Rows, Watermarks, Harmful, LastAct, Window, Writers, Tolerated string
}

func newStaleEpochRow(se result.StaleEpoch) staleEpochRow {
	writers := make([]string, len(se.Writers))
	for i, w := range se.Writers {
		writers[i] = w.Node + "=" + num(w.Records)
	}
	return staleEpochRow{
		Epoch:        fmt.Sprint(se.Epoch),
		Owner:        orDash(se.Owner),
		Superseded:   rel(se.SupersededMs),
		SupersededBy: fmt.Sprint(se.SupersededBy),
		Rows:         num(se.Rows),
		Watermarks:   num(se.Watermarks),
		Harmful:      num(se.Harmful),
		LastAct:      rel(se.LastMs),
		Window:       dur(se.WindowMs),
		Writers:      strings.Join(writers, ", "),
		Tolerated:    mark(se.Tolerated),
	}
}

// staleMessageRow is one line of the table of stale control messages acted on.
type staleMessageRow struct {
	At, Receiver, Message, From, Epochs, Verdict, Effect, Harmful, Reason, Tolerated string
}

func newStaleMessageRow(m result.StaleMessage) staleMessageRow {
	return staleMessageRow{
		At:        rel(m.AtMs),
		Receiver:  m.Role + " on " + m.Node,
		Message:   m.MsgType,
		From:      m.Sender,
		Epochs:    fmt.Sprintf("%d / %d / %d", m.MsgEpoch, m.LocalEpoch, m.GrantedEpoch),
		Verdict:   m.Verdict,
		Effect:    m.Effect,
		Harmful:   mark(m.Harmful),
		Reason:    m.Reason,
		Tolerated: mark(m.Tolerated),
	}
}

// violationList is a violated invariant with the examples of its violations.
type violationList struct {
	Name, Count, Summary string
	Examples             []exampleLine
	// More says how many violations the examples leave out; empty when they
	// show them all.
	More string
}

// exampleLine is one example violation.
type exampleLine struct {
	At, Kind, Message string
}

func newViolationList(inv result.Invariant) violationList {
	vl := violationList{Name: inv.Name, Count: num(inv.Violations), Summary: inv.Summary}
	for _, ex := range inv.Examples {
		vl.Examples = append(vl.Examples, exampleLine{At: rel(ex.AtMs), Kind: ex.Kind, Message: ex.Message})
	}
	if n := int64(len(inv.Examples)); n < inv.Violations {
		vl.More = fmt.Sprintf("… %s violations in all, the first %d shown", num(inv.Violations), n)
	}
	return vl
}

// generationRow is what one generation (epoch, node) wrote twice: the
// duplicates and the replayed rows attributed to it.
type generationRow struct {
	Epoch      uint64
	Node       string
	Duplicates int64
	Replays    int64
}

// generationRows lays the duplicate and replay attributions side by side,
// ordered by epoch and node.
func generationRows(duplicates, replays []result.GenCount) []generationRow {
	var out []generationRow
	find := func(e uint64, n string) *generationRow {
		for i := range out {
			if out[i].Epoch == e && out[i].Node == n {
				return &out[i]
			}
		}
		out = append(out, generationRow{Epoch: e, Node: n})
		return &out[len(out)-1]
	}
	for _, g := range duplicates {
		find(g.Epoch, g.Node).Duplicates = g.Records
	}
	for _, g := range replays {
		find(g.Epoch, g.Node).Replays = g.Records
	}
	slices.SortFunc(out, func(a, b generationRow) int {
		return cmp.Or(cmp.Compare(a.Epoch, b.Epoch), cmp.Compare(a.Node, b.Node))
	})
	return out
}

// writerRow is one line of the table of writers at the sink: a Kafka
// producer id and epoch, and what it wrote.
type writerRow struct {
	Producer, Epoch, Kind, Attempted, Visible, Aborted, AfterFenced, First, Last string
}

// epochRun is a writer with the epochs from its Epoch to lastEpoch merged.
type epochRun struct {
	result.SinkWriter
	lastEpoch int16
}

// mergeEpochs merges the consecutive epochs of one transactional producer
// id that aborted nothing into one row: Kafka 4's transactions (KIP-890)
// bump the epoch at every commit, so one writer shows as one epoch per
// transaction. A row ends where records were aborted or an epoch is
// missing, which is where a writer was fenced or killed. The result keeps
// every epoch.
func mergeEpochs(ws []result.SinkWriter) []epochRun {
	var out []epochRun
	for _, w := range ws {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if w.Transactional && last.Transactional && w.ProducerID == last.ProducerID &&
				w.Epoch == last.lastEpoch+1 && w.Aborted == 0 && last.Aborted == 0 {
				last.lastEpoch = w.Epoch
				last.Attempted += w.Attempted
				last.Visible += w.Visible
				last.VisibleAfterFenced += w.VisibleAfterFenced
				last.FirstMs, last.LastMs = min(last.FirstMs, w.FirstMs), max(last.LastMs, w.LastMs)
				continue
			}
		}
		out = append(out, epochRun{SinkWriter: w, lastEpoch: w.Epoch})
	}
	return out
}

func newWriterRow(w result.SinkWriter, lastEpoch int16) writerRow {
	epoch := fmt.Sprint(w.Epoch)
	if lastEpoch != w.Epoch {
		epoch = fmt.Sprintf("%d–%d", w.Epoch, lastEpoch)
	}
	row := writerRow{
		Producer:    fmt.Sprint(w.ProducerID),
		Epoch:       epoch,
		Kind:        "idempotent",
		Attempted:   num(w.Attempted),
		Visible:     num(w.Visible),
		Aborted:     num(w.Aborted),
		AfterFenced: num(w.VisibleAfterFenced),
		First:       rel(w.FirstMs),
		Last:        rel(w.LastMs),
	}
	switch {
	case w.ProducerID < 0:
		row.Producer, row.Epoch, row.Kind = "none", "—", "plain"
	case w.Transactional:
		row.Kind = "transactional"
	}
	return row
}

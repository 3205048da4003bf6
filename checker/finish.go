package checker

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/chaosrun/chaosrun/reports/result"
)

// Finish resolves every buffered row, computes the lag timeline, the
// recoveries, the stale-generation acts, completeness and the verdict, and
// returns the Result. It must be called once; the Checker is spent after.
func (c *Checker) Finish() *result.Result {
	if c.finished {
		panic("checker: Finish called twice")
	}
	c.finished = true
	if !c.cfg.NoChangeLog {
		for i := range c.states {
			if len(c.states[i].pend) > 0 {
				c.drain(&c.states[i], true)
			}
		}
	}

	start, end := c.window()
	res := &result.Result{
		SchemaVersion: result.SchemaVersion,
		Scenario:      c.cfg.Run.Scenario,
		Seed:          c.cfg.Run.Seed,
		Disclaimer:    result.Disclaimer,
		FencingMode:   c.cfg.Run.FencingMode,
		Changefeed:    c.cfg.Changefeed,
		Timings: result.Timings{
			Start:      time.UnixMilli(start).UTC(),
			End:        time.UnixMilli(end).UTC(),
			DurationMs: end - start,
		},
		SLOs: result.SLOs{
			LagMs:           c.cfg.SLOs.L.Milliseconds(),
			StableMs:        c.cfg.SLOs.W.Milliseconds(),
			RecoveryBoundMs: c.cfg.SLOs.RecoveryBound.Milliseconds(),
			AllowedZombieMs: c.cfg.SLOs.AllowedZombie.Milliseconds(),
		},
	}
	for _, g := range c.epochs.byTime {
		res.Epochs = append(res.Epochs, result.Epoch{Epoch: g.Epoch, Node: g.Node, GrantedAt: g.GrantedAt.UTC(), GrantedMs: g.GrantedAt.UnixMilli() - start})
	}

	// Lag.
	var wms []Watermark
	var parts []int32
	for id, p := range c.parts {
		if p != nil {
			parts = append(parts, int32(id))
			wms = append(wms, p.wms...)
		}
	}
	steps := GlobalSteps(wms, parts)
	samples := LagSamples(steps, start, end, c.stepMs)
	res.Lag = result.Lag{StepMs: c.stepMs, Samples: samples, FirstDefinedMs: -1}
	if len(steps) > 0 {
		res.Lag.FirstDefinedMs = steps[0].AtMs - start
	}
	for _, s := range samples {
		if !s.Undefined {
			res.Lag.MaxLagMs = max(res.Lag.MaxLagMs, s.LagMs)
		}
	}
	final, finalOK := GlobalAt(steps, end)
	if finalOK {
		res.Lag.FinalWatermark = final
		res.Lag.FinalDefined = true
		res.Lag.FinalLagMs = end - PhysicalMs(final)
	}
	res.Latency = result.Latency{
		Rows:     c.lat.Count(),
		P50Ms:    c.lat.Quantile(0.50),
		P95Ms:    c.lat.Quantile(0.95),
		P99Ms:    c.lat.Quantile(0.99),
		MaxMs:    c.lat.Max(),
		Excluded: c.latExcluded,
		Negative: c.latNegative,
	}

	c.faults(res, samples, start)
	c.completeness(final, finalOK)
	c.staleEpochs(res, start)
	res.StaleMessages = staleMessages(c.cfg.Decisions, c.epochs, c.cfg.Faults, c.cfg.Changefeed, start)
	for _, m := range res.StaleMessages {
		c.cnt.StaleMessagesAccepted++
		if m.Harmful {
			c.cnt.HarmfulMessages++
		}
		if !m.Tolerated {
			c.violate(exStale, "accepted-message", m.AtMs+start, "%s on %s accepted %s from %s: %s",
				m.Role, m.Node, m.MsgType, m.Sender, m.Reason)
		}
	}
	if c.bank != nil && finalOK {
		ws := make([]uint64, len(steps))
		for i, s := range steps {
			ws[i] = s.Ts
		}
		for _, v := range c.bank.Check(ws) {
			c.cnt.BalanceViolations++
			c.violate(exHonesty, "balance", PhysicalMs(v.Watermark), "at global watermark %d the %s balances rebuilt from the topic are off by %+d",
				v.Watermark, c.cfg.Bank.Table, v.Net)
		}
	}
	res.Swimlanes = c.swimlanes(start, end)

	c.cnt.Partitions = len(parts)
	c.cnt.Keys = int64(len(c.states))
	c.cnt.DuplicatesBy, c.cnt.ReplaysBy = c.genCounts()
	res.Counters = c.cnt
	res.Invariants = c.invariants(res, start)
	res.Verdict = Decide(res.Invariants, c.reasons(res, start))
	return res
}

// window returns the observed window in Unix ms.
func (c *Checker) window() (start, end int64) {
	switch {
	case !c.cfg.Start.IsZero():
		start = c.cfg.Start.UnixMilli()
	case c.anyRecord:
		start = c.firstAt
	case len(c.cfg.Faults) > 0:
		start = slices.MinFunc(c.cfg.Faults, func(a, b FaultEvent) int { return a.Inject.Compare(b.Inject) }).Inject.UnixMilli()
	}
	switch {
	case !c.cfg.End.IsZero():
		end = c.cfg.End.UnixMilli()
	case c.anyRecord:
		end = c.lastAt
	}
	return start, max(start, end)
}

// faults fills the fault timeline and the recoveries.
func (c *Checker) faults(res *result.Result, samples []result.LagSample, start int64) {
	fs := slices.Clone(c.cfg.Faults)
	slices.SortStableFunc(fs, func(a, b FaultEvent) int { return a.Inject.Compare(b.Inject) })
	l, w := res.SLOs.LagMs, res.SLOs.StableMs
	bound := res.SLOs.RecoveryBoundMs
	for _, f := range fs {
		rf := result.Fault{
			ID: f.ID, Kind: f.Kind, TargetRole: f.TargetRole, TargetProcess: f.TargetProcess,
			Inject: f.Inject.UTC(), InjectMs: f.Inject.UnixMilli() - start, Effective: f.Effective,
		}
		until := int64(-1)
		if len(samples) > 0 {
			until = samples[len(samples)-1].TMs
		}
		if !f.Heal.IsZero() {
			rf.Healed, rf.Heal, rf.HealMs = true, f.Heal.UTC(), f.Heal.UnixMilli()-start
			until = rf.HealMs
		}
		rf.PeakLagMs, _ = peakLag(samples, rf.InjectMs, until)
		res.Faults = append(res.Faults, rf)

		type anchor struct {
			name string
			at   int64
		}
		anchors := []anchor{{"inject", rf.InjectMs}}
		if rf.Healed {
			anchors = append(anchors, anchor{"heal", rf.HealMs})
		}
		// A heal while another fault still holds is not a recovery point:
		// the lag then measures the other fault. Overlapping faults are
		// judged at the last heal of the overlap.
		overlapped := rf.Healed && heldAt(fs, f, f.Heal)
		for i, a := range anchors {
			r := Recover(samples, a.at, l, w)
			r.FaultID, r.Anchor = f.ID, a.name
			r.Judged = i == len(anchors)-1 && !overlapped
			r.WithinBound = r.Recovered && (bound == 0 || r.DurationMs <= bound)
			res.Recoveries = append(res.Recoveries, r)
			if !r.Judged || r.WithinBound {
				continue
			}
			if r.Recovered {
				c.violate(exRecovery, "slow-recovery", r.AnchorMs+start, "fault %s: lag recovered %s after %s, over the bound %s (peak lag %s)",
					f.ID, fmtMs(r.DurationMs), a.name, fmtMs(bound), fmtMs(r.PeakLagMs))
			} else {
				c.violate(exRecovery, "not-recovered", r.AnchorMs+start, "fault %s: lag did not stay ≤ %s for %s after %s before the deadline (+%s; peak lag %s)",
					f.ID, fmtMs(l), fmtMs(w), a.name, fmtMs(r.DeadlineMs), fmtMs(r.PeakLagMs))
			}
		}
	}
}

// heldAt reports whether a fault other than f was in force at t: injected
// at or before it and healed after it. A fault with no heal (a kill left
// dead) is a permanent change, not one that ends: it does not hold.
func heldAt(fs []FaultEvent, f FaultEvent, t time.Time) bool {
	for _, g := range fs {
		if g.ID != f.ID && !g.Inject.After(t) && g.Heal.After(t) {
			return true
		}
	}
	return false
}

// completeness lists the upstream changes the final watermark covers that
// never reached the topic.
func (c *Checker) completeness(final uint64, finalOK bool) {
	if c.cfg.NoChangeLog {
		return
	}
	var miss []missing
	for i := range c.states {
		s := &c.states[i]
		for _, e := range s.exp[s.expHead:] {
			if finalOK && e.ts <= final {
				miss = append(miss, missing{key: c.keyName(s.id), ts: e.ts})
			} else {
				c.cnt.BeyondFinalWatermark++
			}
		}
	}
	slices.SortFunc(miss, func(a, b missing) int { return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(a.key, b.key)) })
	c.cnt.Missing = int64(len(miss))
	for _, m := range miss {
		c.violate(exCompleteness, "missing", PhysicalMs(m.ts), "change %s commit_ts %d is not in the topic although the final global watermark %d covers it",
			m.key, m.ts, final)
	}
}

// staleEpochs sums up each superseded epoch's zombie window.
func (c *Checker) staleEpochs(res *result.Result, start int64) {
	allowed := res.SLOs.AllowedZombieMs
	for _, e := range sortedKeys(c.stale) {
		a := c.stale[e]
		supAt, by, _ := c.epochs.supersededAt(e)
		se := result.StaleEpoch{
			Epoch: e, Owner: c.epochs.owner(e), SupersededBy: by, SupersededMs: supAt - start,
			Rows: a.rows, Watermarks: a.wms, FirstMs: a.first - start, LastMs: a.last - start,
			WindowMs: a.last - supAt, Harmful: a.harmful,
		}
		for _, n := range sortedKeys(a.writers) {
			se.Writers = append(se.Writers, result.NodeCount{Node: c.nodes.name(n), Records: a.writers[n]})
		}
		slices.SortStableFunc(se.Writers, func(x, y result.NodeCount) int { return cmp.Compare(x.Node, y.Node) })
		// Harmful records are judged where they are read (addHarm). The
		// window of the rest is judged only against an explicit zombie SLO:
		// its clock starts when the superseded generation could first learn
		// of its successor, at the grant or at the heal of a fault that had
		// it cut off then.
		se.Tolerated = allowed == 0 || a.last-zombieClock(c.cfg.Faults, supAt) <= allowed
		res.StaleEpochs = append(res.StaleEpochs, se)
		if se.Tolerated {
			continue
		}
		writers := ""
		for i, w := range se.Writers {
			if i > 0 {
				writers += ", "
			}
			writers += fmt.Sprintf("%s=%d", w.Node, w.Records)
		}
		c.violateN(exStale, a.rows+a.wms, "zombie-writes", a.first, "epoch %d (owner %s) wrote %d rows and %d watermarks for %s after epoch %d was granted, %s after it could have learned of it (allowed %s; writers %s)",
			e, orNone(se.Owner), a.rows, a.wms, fmtMs(se.WindowMs), by, fmtMs(a.last-zombieClock(c.cfg.Faults, supAt)), fmtMs(allowed), writers)
	}
}

// swimlanes coarsens each node's activity to about swimlaneBuckets columns
// and merges adjacent columns of one epoch into bars.
func (c *Checker) swimlanes(start, end int64) []result.Swimlane {
	width := int64(laneBucketMs)
	if span := end - start; span > swimlaneBuckets*laneBucketMs {
		width = (span/swimlaneBuckets + laneBucketMs - 1) / laneBucketMs * laneBucketMs
	}
	byNode := make(map[uint32][]result.Bar)
	for k, l := range c.lanes {
		cols := make(map[int64]*laneCount)
		for idx, b := range l.buckets {
			col := floorDiv(idx*laneBucketMs-start, width)
			x := cols[col]
			if x == nil {
				x = &laneCount{}
				cols[col] = x
			}
			x.rows += b.rows
			x.wms += b.wms
			x.stale += b.stale
		}
		var bar *result.Bar
		var bars []result.Bar
		for _, col := range sortedKeys(cols) {
			x := cols[col]
			// A stale column starts its own bar so that the stale stretch can be
			// drawn distinctly.
			if bar == nil || col*width > bar.EndMs || (x.stale > 0) != (bar.Stale > 0) {
				bars = append(bars, result.Bar{Epoch: k.epoch, StartMs: col * width})
				bar = &bars[len(bars)-1]
			}
			bar.EndMs = (col + 1) * width
			bar.Rows += x.rows
			bar.Watermarks += x.wms
			bar.Stale += x.stale
		}
		byNode[k.node] = append(byNode[k.node], bars...)
	}
	var out []result.Swimlane
	for node, bars := range byNode {
		slices.SortFunc(bars, func(a, b result.Bar) int {
			return cmp.Or(cmp.Compare(a.StartMs, b.StartMs), cmp.Compare(a.Epoch, b.Epoch))
		})
		out = append(out, result.Swimlane{Node: c.nodes.name(node), Bars: bars})
	}
	slices.SortFunc(out, func(a, b result.Swimlane) int { return cmp.Compare(a.Node, b.Node) })
	return out
}

func (c *Checker) genCounts() (dups, replays []result.GenCount) {
	ks := mapKeys(c.gens)
	slices.SortFunc(ks, func(a, b genKey) int {
		return cmp.Or(cmp.Compare(a.epoch, b.epoch), cmp.Compare(c.nodes.name(a.node), c.nodes.name(b.node)))
	})
	for _, k := range ks {
		g := c.gens[k]
		if g.dups > 0 {
			dups = append(dups, result.GenCount{Epoch: k.epoch, Node: c.nodes.name(k.node), Records: g.dups})
		}
		if g.replays > 0 {
			replays = append(replays, result.GenCount{Epoch: k.epoch, Node: c.nodes.name(k.node), Records: g.replays})
		}
	}
	return dups, replays
}

// invariants turns the collected violations into the report's invariants.
func (c *Checker) invariants(res *result.Result, start int64) []result.Invariant {
	cnt := res.Counters
	mk := func(name string, class result.Class, ex int, summary string) result.Invariant {
		e := c.ex[ex]
		inv := result.Invariant{Name: name, Class: class, Status: result.StatusPass, Summary: summary, Violations: e.n}
		if e.n > 0 {
			inv.Status = result.StatusFail
		}
		for _, x := range e.list {
			inv.Examples = append(inv.Examples, result.Example{Kind: x.kind, AtMs: x.at - start, Message: x.msg})
		}
		slices.SortStableFunc(inv.Examples, func(a, b result.Example) int { return cmp.Compare(a.AtMs, b.AtMs) })
		return inv
	}
	skip := func(inv result.Invariant, why string) result.Invariant {
		if inv.Status == result.StatusPass {
			inv.Status, inv.Summary = result.StatusSkipped, why
		}
		return inv
	}

	judged := 0
	for _, r := range res.Recoveries {
		if r.Judged {
			judged++
		}
	}
	recovery := mk(result.LagRecovery, result.Liveness, exRecovery,
		fmt.Sprintf("%d of %d judged recoveries reached lag ≤ %s for %s within %s", judged-int(c.ex[exRecovery].n), judged,
			fmtMs(res.SLOs.LagMs), fmtMs(res.SLOs.StableMs), boundText(res.SLOs.RecoveryBoundMs)))
	if judged == 0 {
		recovery = skip(recovery, "no faults were injected")
	}

	window := "not judged"
	if res.SLOs.AllowedZombieMs > 0 {
		window = "≤ " + fmtMs(res.SLOs.AllowedZombieMs)
	}
	stale := mk(result.StaleGeneration, result.Safety, exStale,
		fmt.Sprintf("harmful acts of superseded generations: %d control messages, %d rows, %d watermarks, %d rows of orphan dispatchers (judged, none allowed); uninformed acts: %d stale rows, %d stale watermarks in %d superseded epochs, %d stale control messages acted on (window %s)",
			cnt.HarmfulMessages, cnt.HarmfulRows, cnt.HarmfulWatermarks, cnt.OrphanRows,
			cnt.StaleRows, cnt.StaleWatermarks, len(res.StaleEpochs), cnt.StaleMessagesAccepted-cnt.HarmfulMessages, window))
	if c.epochs.empty() {
		stale = skip(stale, "no epoch history")
	}

	complete := mk(result.Completeness, result.Safety, exCompleteness,
		fmt.Sprintf("%d upstream changes: %d missing under the final watermark, %d phantom rows, %d duplicates, %d beyond the final watermark",
			cnt.Changes, cnt.Missing, cnt.Phantoms, cnt.Duplicates, cnt.BeyondFinalWatermark))
	if c.cfg.NoChangeLog {
		complete = skip(complete, "no upstream change log")
	}

	order := mk(result.Order, result.Safety, exOrder,
		fmt.Sprintf("%d rows over %d keys: %d regressions; %d replayed rows after a generation change", cnt.Rows, cnt.Keys, cnt.OrderViolations, cnt.Replays))

	honesty := mk(result.WatermarkHonesty, result.Safety, exHonesty,
		fmt.Sprintf("%d watermarks: %d rows appended after a watermark covering them, %d rows differing from upstream, %d balance-sum violations",
			cnt.Watermarks, cnt.LateRows, cnt.ValueMismatches, cnt.BalanceViolations))
	return []result.Invariant{recovery, stale, complete, order, honesty}
}

// reasons lists what makes the run inconclusive.
func (c *Checker) reasons(res *result.Result, start int64) []string {
	var out []string
	for _, f := range res.Faults {
		if !f.Effective {
			out = append(out, fmt.Sprintf("fault %s (%s on %s) did not take effect", f.ID, f.Kind, orNone(f.TargetProcess)))
		}
	}
	for _, e := range c.cfg.EnvErrors {
		out = append(out, "environment: "+e)
	}
	if e := c.ex[exInput]; e.n > 0 {
		r := fmt.Sprintf("%d inconsistencies in the recorded input", e.n)
		if len(e.list) > 0 {
			r += fmt.Sprintf(", first at +%s: %s", fmtMs(e.list[0].at-start), e.list[0].msg)
		}
		out = append(out, r)
	}
	if res.Lag.FirstDefinedMs < 0 && (c.anyRecord || len(res.Faults) > 0) {
		out = append(out, "no global watermark was ever visible at the sink")
	}
	return out
}

// Decide composes the verdict. A violated safety invariant fails the run
// whatever else happened: a zombie write is proof on its own. Otherwise any
// reason (a fault without effect, an environment or input error) makes the
// run inconclusive, because a liveness failure might be the environment's
// doing. Otherwise a violated liveness invariant fails it, and the run
// passes.
func Decide(invs []result.Invariant, reasons []string) result.Verdict {
	v := result.Verdict{Outcome: result.Pass, Reasons: reasons}
	safety := false
	for _, inv := range invs {
		if inv.Status != result.StatusFail {
			continue
		}
		v.Violated = append(v.Violated, inv.Name)
		safety = safety || inv.Class == result.Safety
	}
	switch {
	case safety:
		v.Outcome = result.Fail
	case len(reasons) > 0:
		v.Outcome = result.Inconclusive
	case len(v.Violated) > 0:
		v.Outcome = result.Fail
	}
	return v
}

func boundText(ms int64) string {
	if ms == 0 {
		return "any time (no bound)"
	}
	return fmtMs(ms)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func mapKeys(m map[genKey]*genStats) []genKey {
	ks := make([]genKey, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

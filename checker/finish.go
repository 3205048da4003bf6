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
		c.completeness.flush()
	}

	start, end := c.window()
	res := c.newResult(start, end)
	partitions := c.seenPartitions()
	steps, final, finalOK := c.lag.finish(res, partitions, c.cfg.Faults, start, end, c.stepMs)
	res.Latency = c.latency.result()
	if !c.cfg.NoChangeLog {
		c.completeness.finish(final, finalOK)
		c.completeness.flow.catchUp(res, start, end)
	}
	c.lag.judge(res, start)
	c.stale.finish(res, start)
	if c.bank != nil && finalOK {
		c.bank.finish(steps, &c.honesty.violations)
	}
	res.Swimlanes = c.activity.swimlanes(start, end, &c.names.nodes)

	res.Counters = c.counters(len(partitions))
	res.Invariants = c.invariants(res, start)
	res.Verdict = Decide(res.Invariants, c.reasons(res, start))
	return res
}

// newResult returns a Result with what the run's configuration and window
// say: its identity, timings, SLOs and epoch history.
func (c *Checker) newResult(start, end int64) *result.Result {
	res := &result.Result{
		SchemaVersion: result.SchemaVersion,
		Scenario:      c.cfg.Run.Scenario,
		Seed:          c.cfg.Run.Seed,
		Disclaimer:    result.Disclaimer,
		FencingMode:   c.cfg.Run.FencingMode,
		Changefeed:    c.cfg.Changefeed,
		Judging: result.Judging{NoWatermarkPromise: c.cfg.NoWatermarkPromise, ExactlyOnce: c.cfg.ExactlyOnce,
			RowProgress: c.cfg.RowProgress},
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
	for _, g := range c.stale.epochs.byTime {
		res.Epochs = append(res.Epochs, result.Epoch{Epoch: g.Epoch, Node: g.Node, GrantedAt: g.GrantedAt.UTC(), GrantedMs: g.GrantedAt.UnixMilli() - start})
	}
	return res
}

// window returns the observed window in Unix ms.
func (c *Checker) window() (start, end int64) {
	switch {
	case !c.cfg.Start.IsZero():
		start = c.cfg.Start.UnixMilli()
	case c.anyRecord:
		start = c.firstMs
	case len(c.cfg.Faults) > 0:
		start = slices.MinFunc(c.cfg.Faults, func(a, b FaultEvent) int { return a.Inject.Compare(b.Inject) }).Inject.UnixMilli()
	}
	switch {
	case !c.cfg.End.IsZero():
		end = c.cfg.End.UnixMilli()
	case c.anyRecord:
		end = c.lastMs
	}
	return start, max(start, end)
}

// seenPartitions lists the configured partitions and those records named,
// in id order.
func (c *Checker) seenPartitions() []int32 {
	var out []int32
	for id, p := range c.partitions {
		if p.seen {
			out = append(out, int32(id))
		}
	}
	return out
}

// counters gathers the counters of the checker and its accumulators.
func (c *Checker) counters(partitions int) result.Counters {
	out := result.Counters{
		Records:     c.records,
		Rows:        c.rows,
		Watermarks:  c.watermarks,
		Partitions:  partitions,
		Keys:        int64(c.keys.len()),
		InputErrors: c.input.count,
		Foreign:     c.foreign,
	}
	c.completeness.count(&out, &c.names.nodes)
	c.order.count(&out, &c.names.nodes)
	c.honesty.count(&out)
	c.stale.count(&out)
	if c.bank != nil {
		out.BalanceViolations = c.bank.failed
	}
	return out
}

// invariants collects the accumulators' verdicts, in report order.
func (c *Checker) invariants(res *result.Result, start int64) []result.Invariant {
	complete := c.completeness.invariant(res.Counters, start)
	if c.cfg.NoChangeLog {
		complete = skipUnlessFailed(complete, "no upstream change log")
	}
	return []result.Invariant{
		c.lag.invariant(res, start),
		c.stale.invariant(res, start),
		complete,
		c.order.invariant(res.Counters, start),
		c.honesty.invariant(res.Counters, start),
	}
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
	if e := c.input; e.count > 0 {
		r := fmt.Sprintf("%d inconsistencies in the recorded input", e.count)
		if len(e.examples) > 0 {
			r += fmt.Sprintf(", first at +%s: %s", fmtMs(e.examples[0].atMs-start), e.examples[0].message)
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

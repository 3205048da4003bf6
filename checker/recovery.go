package checker

import (
	"fmt"
	"slices"
	"time"

	"github.com/chaosrun/chaosrun/reports/result"
)

// Recover measures lag recovery from anchorMs on samples (both relative to
// the same origin, samples in time order): the recovery instant is the
// first sample at or after the anchor such that it and every later sample
// up to and including the first one at least W later are defined and ≤ L
// (on the regular grid LagSamples makes, exactly the samples in
// [instant, instant+W]). The deadline is the last sample; when no instant
// qualifies,
// Recovered is false ("not recovered by the deadline"). Peak lag is taken
// over the defined samples from the anchor to the end of the proof window
// (or to the deadline). FaultID, Anchor, Judged and WithinBound are left to
// the caller. Results resolve to the sampling step: lag grows at 1 ms/ms
// between watermark advances, so a peak between samples is under-read by
// at most one step.
func Recover(samples []result.LagSample, anchorMs, lMs, wMs int64) result.Recovery {
	rec := result.Recovery{AnchorMs: anchorMs, DeadlineMs: anchorMs, PeakMs: anchorMs}
	if len(samples) == 0 {
		return rec
	}
	rec.DeadlineMs = samples[len(samples)-1].TMs
	first := len(samples)
	for i, s := range samples {
		if s.TMs >= anchorMs {
			first = i
			break
		}
	}
	run := -1
	for i := first; i < len(samples); i++ {
		s := samples[i]
		if s.Undefined || s.LagMs > lMs {
			run = -1
			continue
		}
		if run < 0 {
			run = i
		}
		if s.TMs-samples[run].TMs >= wMs {
			rec.Recovered = true
			rec.RecoveredMs = samples[run].TMs
			rec.DurationMs = rec.RecoveredMs - anchorMs
			break
		}
	}
	until := rec.DeadlineMs
	if rec.Recovered {
		until = rec.RecoveredMs + wMs
	}
	rec.PeakLagMs, rec.PeakMs = peakLag(samples, anchorMs, until)
	return rec
}

// peakLag returns the highest defined lag among samples in [from, to] and
// its time; (0, from) when there is none.
func peakLag(samples []result.LagSample, from, to int64) (lag, at int64) {
	at = from
	found := false
	for _, s := range samples {
		if s.TMs < from || s.TMs > to || s.Undefined {
			continue
		}
		if !found || s.LagMs > lag {
			lag, at, found = s.LagMs, s.TMs, true
		}
	}
	return lag, at
}

// lagRecovery judges the lag recovery invariant: after each fault the lag
// comes back to ≤ L and stays there for W, within the recovery bound. It
// keeps every watermark, reduced to what the lag needs, per partition.
type lagRecovery struct {
	watermarks [][]Watermark // indexed by partition id
	violations violations
}

func newLagRecovery(maxExamples int) lagRecovery {
	return lagRecovery{violations: violations{limit: maxExamples}}
}

// observe keeps a watermark ts of partition p appended at atMs.
func (l *lagRecovery) observe(p int32, atMs int64, ts uint64) {
	wms := grownAt(&l.watermarks, p)
	*wms = append(*wms, Watermark{Partition: p, AtMs: atMs, Ts: ts})
}

// observeProgress adds a progress mark (Config.RowProgress) unless the
// partition has seen as much already: only advances count, which keeps
// memory to the marks that move the lag.
func (l *lagRecovery) observeProgress(p int32, atMs int64, ts uint64) {
	wms := grownAt(&l.watermarks, p)
	if n := len(*wms); n > 0 && (*wms)[n-1].Ts >= ts {
		return
	}
	*wms = append(*wms, Watermark{Partition: p, AtMs: atMs, Ts: ts})
}

// finish computes the global watermark over partitions, samples the lag
// every stepMs over [startMs, endMs] into res.Lag and judges the recovery
// from every fault into res.Faults and res.Recoveries (res.SLOs must be
// set). It returns the global watermark's steps and its final value.
func (l *lagRecovery) finish(res *result.Result, partitions []int32, faults []FaultEvent, startMs, endMs, stepMs int64) (steps []Step, final uint64, finalOK bool) {
	var wms []Watermark
	for _, p := range partitions {
		if int(p) < len(l.watermarks) {
			wms = append(wms, l.watermarks[p]...)
		}
	}
	steps = GlobalSteps(wms, partitions)
	samples := LagSamples(steps, startMs, endMs, stepMs)
	res.Lag = result.Lag{StepMs: stepMs, Samples: samples, FirstDefinedMs: -1}
	if len(steps) > 0 {
		res.Lag.FirstDefinedMs = steps[0].AtMs - startMs
	}
	for _, s := range samples {
		if !s.Undefined {
			res.Lag.MaxLagMs = max(res.Lag.MaxLagMs, s.LagMs)
		}
	}
	final, finalOK = GlobalAt(steps, endMs)
	if finalOK {
		res.Lag.FinalWatermark = final
		res.Lag.FinalDefined = true
		res.Lag.FinalLagMs = endMs - PhysicalMs(final)
	}
	l.judgeFaults(res, faults, samples, startMs)
	return steps, final, finalOK
}

// judgeFaults fills the fault timeline and measures the recoveries; judge
// holds them to the bound once the catch-up is known.
func (l *lagRecovery) judgeFaults(res *result.Result, faults []FaultEvent, samples []result.LagSample, startMs int64) {
	fs := slices.Clone(faults)
	slices.SortStableFunc(fs, func(a, b FaultEvent) int { return a.Inject.Compare(b.Inject) })
	for _, f := range fs {
		rf := result.Fault{
			ID: f.ID, Kind: f.Kind, TargetRole: f.TargetRole, TargetProcess: f.TargetProcess,
			Inject: f.Inject.UTC(), InjectMs: f.Inject.UnixMilli() - startMs, Effective: f.Effective,
		}
		until := int64(-1)
		if len(samples) > 0 {
			until = samples[len(samples)-1].TMs
		}
		if !f.Heal.IsZero() {
			rf.Healed, rf.Heal, rf.HealMs = true, f.Heal.UTC(), f.Heal.UnixMilli()-startMs
			until = rf.HealMs
		}
		rf.PeakLagMs, _ = peakLag(samples, rf.InjectMs, until)
		res.Faults = append(res.Faults, rf)
		// A heal while another fault still holds is not a recovery point:
		// the lag then measures the other fault. Overlapping faults are
		// judged at the last heal of the overlap.
		overlapped := rf.Healed && heldAt(fs, f, f.Heal)
		res.Recoveries = append(res.Recoveries, l.recoveries(res.SLOs, rf, overlapped, samples)...)
	}
}

// recoveries measures the recovery from a fault's inject and from its
// heal; the last of them is the one judged, unless overlapped.
func (l *lagRecovery) recoveries(slos result.SLOs, f result.Fault, overlapped bool, samples []result.LagSample) []result.Recovery {
	anchors := []string{"inject"}
	at := []int64{f.InjectMs}
	if f.Healed {
		anchors, at = append(anchors, "heal"), append(at, f.HealMs)
	}
	var out []result.Recovery
	for i, a := range anchors {
		r := Recover(samples, at[i], slos.LagMs, slos.StableMs)
		r.FaultID, r.Anchor = f.ID, a
		r.Judged = i == len(anchors)-1 && !overlapped
		out = append(out, r)
	}
	return out
}

// judge holds every recovery of res to the recovery bound plus its fault's
// drain allowance (the catch-up's expected drain, when measured: a backlog
// takes the time it takes at the pipeline's best rate) and records a
// violation for each judged one that missed it.
func (l *lagRecovery) judge(res *result.Result, startMs int64) {
	bound := res.SLOs.RecoveryBoundMs
	allowance := map[string]int64{}
	for _, f := range res.Faults {
		if f.CatchUp != nil && bound > 0 {
			allowance[f.ID] = f.CatchUp.ExpectedDrainMs
		}
	}
	for i := range res.Recoveries {
		r := &res.Recoveries[i]
		r.DrainAllowanceMs = allowance[r.FaultID]
		limit := bound + r.DrainAllowanceMs
		r.WithinBound = r.Recovered && (bound == 0 || r.DurationMs <= limit)
		if !r.Judged || r.WithinBound {
			continue
		}
		if r.Recovered {
			l.violations.add("slow-recovery", r.AnchorMs+startMs, "fault %s: lag recovered %s after %s, over the bound %s (%s + drain allowance %s; peak lag %s)",
				r.FaultID, fmtMs(r.DurationMs), r.Anchor, fmtMs(limit), fmtMs(bound), fmtMs(r.DrainAllowanceMs), fmtMs(r.PeakLagMs))
		} else {
			l.violations.add("not-recovered", r.AnchorMs+startMs, "fault %s: lag did not stay ≤ %s for %s after %s before the deadline (+%s; peak lag %s)",
				r.FaultID, fmtMs(res.SLOs.LagMs), fmtMs(res.SLOs.StableMs), r.Anchor, fmtMs(r.DeadlineMs), fmtMs(r.PeakLagMs))
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

// invariant is the check's verdict.
func (l *lagRecovery) invariant(res *result.Result, startMs int64) result.Invariant {
	judged, allowed := 0, ""
	for _, r := range res.Recoveries {
		if r.Judged {
			judged++
			if r.DrainAllowanceMs > 0 {
				allowed = " (plus the drain allowance of each fault's backlog)"
			}
		}
	}
	inv := l.violations.invariant(result.LagRecovery, result.Liveness,
		fmt.Sprintf("%d of %d judged recoveries reached lag ≤ %s for %s within %s%s", judged-int(l.violations.count), judged,
			fmtMs(res.SLOs.LagMs), fmtMs(res.SLOs.StableMs), boundText(res.SLOs.RecoveryBoundMs), allowed), startMs)
	if judged == 0 {
		inv = skipUnlessFailed(inv, "no faults were injected")
	}
	return inv
}

func boundText(ms int64) string {
	if ms == 0 {
		return "any time (no bound)"
	}
	return fmtMs(ms)
}

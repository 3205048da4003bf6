package checker

import "github.com/chaosrun/chaosrun/reports/result"

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

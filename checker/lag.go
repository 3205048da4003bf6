package checker

import (
	"cmp"
	"slices"

	"github.com/chaosrun/chaosrun/reports/result"
)

// Watermark is a watermark record reduced to what the lag needs.
type Watermark struct {
	Partition int32
	// AtMs is the record's append time in Unix milliseconds.
	AtMs int64
	Ts   uint64
}

// Step is a change point of the global watermark: from AtMs (Unix ms) until
// the next step the global watermark visible in the topic is Ts.
type Step struct {
	AtMs int64
	Ts   uint64
}

// GlobalSteps computes the global watermark as a step function of append
// time. A partition's visible watermark at t is the highest ts among its
// watermark records appended at or before t (a consumer keeps the maximum;
// an older watermark appended later does not take the promise back). The
// global watermark is the minimum over partitions and is undefined until
// every listed partition has a watermark, so the first step is the instant
// it becomes defined. Watermarks of unlisted partitions are ignored. The
// steps are strictly increasing in AtMs and in Ts. wms is not modified.
func GlobalSteps(wms []Watermark, partitions []int32) []Step {
	if len(partitions) == 0 {
		return nil
	}
	idx := make(map[int32]int, len(partitions))
	for _, p := range partitions {
		if _, dup := idx[p]; !dup {
			idx[p] = len(idx)
		}
	}
	sorted := slices.Clone(wms)
	// Stable, so that records of one partition keep their (offset) order.
	slices.SortStableFunc(sorted, func(a, b Watermark) int { return cmp.Compare(a.AtMs, b.AtMs) })

	cur := make([]uint64, len(idx))
	has := make([]bool, len(idx))
	missing := len(idx)
	var steps []Step
	for i := 0; i < len(sorted); {
		at := sorted[i].AtMs
		// Everything appended in the same millisecond becomes visible at once.
		for ; i < len(sorted) && sorted[i].AtMs == at; i++ {
			p, ok := idx[sorted[i].Partition]
			if !ok {
				continue
			}
			if !has[p] {
				has[p] = true
				missing--
				cur[p] = sorted[i].Ts
			} else if sorted[i].Ts > cur[p] {
				cur[p] = sorted[i].Ts
			}
		}
		if missing > 0 {
			continue
		}
		g := slices.Min(cur)
		if len(steps) == 0 || g > steps[len(steps)-1].Ts {
			steps = append(steps, Step{AtMs: at, Ts: g})
		}
	}
	return steps
}

// GlobalAt returns the global watermark visible at t (Unix ms) and whether
// it is defined.
func GlobalAt(steps []Step, t int64) (uint64, bool) {
	i, found := slices.BinarySearchFunc(steps, t, func(s Step, t int64) int { return cmp.Compare(s.AtMs, t) })
	if !found {
		i--
	}
	if i < 0 {
		return 0, false
	}
	return steps[i].Ts, true
}

// LagSamples samples lag(t) = t − physical(global watermark at t) every
// stepMs from startMs to endMs (Unix ms), plus endMs itself when it is not
// on the grid, so consecutive samples are at most stepMs apart. Sample
// times are relative to startMs. Samples before the global watermark is
// defined are marked Undefined.
func LagSamples(steps []Step, startMs, endMs, stepMs int64) []result.LagSample {
	if endMs < startMs || stepMs <= 0 {
		return nil
	}
	out := make([]result.LagSample, 0, (endMs-startMs)/stepMs+2)
	j := -1
	sample := func(t int64) {
		for j+1 < len(steps) && steps[j+1].AtMs <= t {
			j++
		}
		if j < 0 {
			out = append(out, result.LagSample{TMs: t - startMs, Undefined: true})
			return
		}
		out = append(out, result.LagSample{TMs: t - startMs, LagMs: t - PhysicalMs(steps[j].Ts)})
	}
	t := startMs
	for ; t <= endMs; t += stepMs {
		sample(t)
	}
	if t-stepMs != endMs {
		sample(endMs)
	}
	return out
}

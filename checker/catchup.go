package checker

import (
	"slices"

	"github.com/chaosrun/chaosrun/reports/result"
)

// catchUpBucketMs is the resolution of the backlog: commits and first
// deliveries are counted per bucket of this many ms.
const catchUpBucketMs = 100

// pipelineWindowBuckets is the window, in buckets, over which the
// pipeline's peak delivery rate is taken (1 s).
const pipelineWindowBuckets = 1000 / catchUpBucketMs

// flow counts, per bucket of Unix time, the upstream changes committed and
// the first copies of changes appended to the topic: the backlog at t is
// what was committed by t and not yet delivered.
type flow struct {
	committed, delivered map[int64]int64 // by Unix ms / catchUpBucketMs
}

func newFlow() flow {
	return flow{committed: make(map[int64]int64), delivered: make(map[int64]int64)}
}

func (f *flow) commit(atMs int64)  { f.committed[atMs/catchUpBucketMs]++ }
func (f *flow) deliver(atMs int64) { f.delivered[atMs/catchUpBucketMs]++ }

// series is the flow over the buckets from startMs to endMs: commits and
// deliveries per bucket, and the backlog at the end of each.
type series struct {
	first                         int64 // bucket index of element 0
	committed, delivered, backlog []int64
}

func (f *flow) series(startMs, endMs int64) series {
	first, last := startMs/catchUpBucketMs, endMs/catchUpBucketMs
	s := series{first: first}
	var before int64 // backlog carried in from before the window
	for b, n := range f.committed {
		if b < first {
			before += n
		}
	}
	for b, n := range f.delivered {
		if b < first {
			before -= n
		}
	}
	backlog := before
	for b := first; b <= last; b++ {
		c, d := f.committed[b], f.delivered[b]
		backlog += c - d
		s.committed = append(s.committed, c)
		s.delivered = append(s.delivered, d)
		s.backlog = append(s.backlog, backlog)
	}
	return s
}

// at returns the index of the last bucket that ended at or before Unix ms
// t, clamped to the series: its backlog is the backlog at t.
func (s series) at(t int64) int {
	i := int(t/catchUpBucketMs - s.first - 1)
	return max(0, min(i, len(s.backlog)-1))
}

// end returns the Unix ms at which bucket i ends.
func (s series) end(i int) int64 { return (s.first + int64(i) + 1) * catchUpBucketMs }

// peakRate is the highest number of first deliveries in any window of
// pipelineWindowBuckets, per second: the most the pipeline was seen to
// deliver.
func (s series) peakRate() float64 {
	var sum, peak int64
	for i, d := range s.delivered {
		sum += d
		if i >= pipelineWindowBuckets {
			sum -= s.delivered[i-pipelineWindowBuckets]
		}
		peak = max(peak, sum)
	}
	return float64(peak) * 1000 / float64(pipelineWindowBuckets*catchUpBucketMs)
}

// rate is the per-second rate of counts over buckets [i, j).
func rate(counts []int64, i, j int) float64 {
	if j <= i {
		return 0
	}
	var n int64
	for _, c := range counts[i:j] {
		n += c
	}
	return float64(n) * 1000 / float64((j-i)*catchUpBucketMs)
}

// catchUp measures, for each fault of res (res.Faults and res.Recoveries
// set, relative to startMs), the backlog it built and how fast it drained:
// from the backlog's peak, between the inject and the last recovery from
// the fault (or the end of the window), to the first recovery at or after
// that peak — the failover's while the fault still holds, else the heal's.
func (f *flow) catchUp(res *result.Result, startMs, endMs int64) {
	if len(res.Faults) == 0 {
		return
	}
	s := f.series(startMs, endMs)
	if len(s.backlog) == 0 {
		return
	}
	pipeline := s.peakRate()
	for i := range res.Faults {
		fault := &res.Faults[i]
		heal := fault.InjectMs
		if fault.Healed {
			heal = fault.HealMs
		}
		var recovered []int64 // recovery instants from this fault, ascending
		last := endMs - startMs
		for _, r := range res.Recoveries {
			if r.FaultID == fault.ID && r.Recovered {
				recovered = append(recovered, r.RecoveredMs)
			}
		}
		slices.Sort(recovered)
		if n := len(recovered); n > 0 && fault.Healed && recovered[n-1] >= heal {
			last = recovered[n-1]
		}
		inject := s.at(fault.InjectMs + startMs)
		cu := &result.CatchUp{BacklogAtInject: s.backlog[inject], BacklogAtHeal: s.backlog[s.at(heal+startMs)],
			PipelineRowsPerSec: pipeline}
		peak := inject
		for b := inject; b <= s.at(last+startMs); b++ {
			if s.backlog[b] > s.backlog[peak] {
				peak = b
			}
		}
		cu.PeakBacklog, cu.PeakMs = s.backlog[peak], s.end(peak)-startMs
		for _, r := range recovered {
			if r < cu.PeakMs {
				continue
			}
			until := s.at(r + startMs)
			cu.Drained, cu.DrainMs = true, r-cu.PeakMs
			if until > peak {
				cu.DrainRowsPerSec = rate(s.delivered, peak+1, until+1)
				cu.IncomingRowsPerSec = rate(s.committed, peak+1, until+1)
			}
			break
		}
		if spare := pipeline - cu.IncomingRowsPerSec; spare > 0 && cu.PeakBacklog > cu.BacklogAtInject {
			cu.ExpectedDrainMs = int64(float64(cu.PeakBacklog-cu.BacklogAtInject) / spare * 1000)
		}
		fault.CatchUp = cu
	}
}

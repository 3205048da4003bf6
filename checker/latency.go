package checker

import "github.com/chaosrun/chaosrun/reports/result"

// latency is the distribution of commit-to-append latency over the rows
// that raised their key's commit_ts (first copies, in effect); replays and
// duplicates are counted as excluded.
type latency struct {
	hist     Histogram
	excluded int64
	negative int64 // appended before their commit time: clocks disagree
}

// observe records a row appended at atMs with commit ts commitTs; newest
// says whether it raised its key's commit_ts.
func (l *latency) observe(atMs int64, commitTs uint64, newest bool) {
	if !newest {
		l.excluded++
		return
	}
	d := atMs - PhysicalMs(commitTs)
	if d < 0 {
		l.negative++
	}
	l.hist.Add(d)
}

// result returns the percentiles.
func (l *latency) result() result.Latency {
	return result.Latency{
		Rows:     l.hist.Count(),
		P50Ms:    l.hist.Quantile(0.50),
		P95Ms:    l.hist.Quantile(0.95),
		P99Ms:    l.hist.Quantile(0.99),
		MaxMs:    l.hist.Max(),
		Excluded: l.excluded,
		Negative: l.negative,
	}
}

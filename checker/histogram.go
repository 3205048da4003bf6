package checker

import "math/bits"

// Histogram buckets: values below 128 get their own bucket; above, each
// power of two is split into 64 buckets, so a bucket's width is at most 1/64
// of its lower bound. 3776 buckets cover every uint64.
const (
	histSubBits = 7
	histHalf    = 1 << (histSubBits - 1)
	histBuckets = (64 - histSubBits + 2) * histHalf
)

// Histogram is a log-linear histogram of non-negative integers (latencies
// in ms) with fixed memory. The zero value is empty and ready to use.
type Histogram struct {
	counts [histBuckets]uint64
	total  uint64
	max    uint64
}

func histBucket(v uint64) int {
	if v < 2*histHalf {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits
	return shift*histHalf + int(v>>shift)
}

// histHigh returns the largest value that falls into bucket i.
func histHigh(i int) uint64 {
	if i < 2*histHalf {
		return uint64(i)
	}
	shift := i/histHalf - 1
	m := uint64(i - shift*histHalf)
	return (m+1)<<shift - 1
}

// Add records v; negative values count as 0.
func (h *Histogram) Add(v int64) {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	h.counts[histBucket(u)]++
	h.total++
	if u > h.max {
		h.max = u
	}
}

// Count returns the number of recorded values.
func (h *Histogram) Count() int64 { return int64(h.total) }

// Max returns the largest recorded value exactly (0 when empty).
func (h *Histogram) Max() int64 { return int64(h.max) }

// Quantile returns the nearest-rank q-quantile (0 < q ≤ 1): the smallest
// bucket bound below which at least ⌈q·n⌉ values lie, capped at Max. It is
// exact below 128 and within 1/64 above; 0 when empty.
func (h *Histogram) Quantile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q * float64(h.total))
	if float64(rank) < q*float64(h.total) {
		rank++
	}
	rank = max(rank, 1)
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			return int64(min(histHigh(i), h.max))
		}
	}
	return int64(h.max)
}

package checker

import (
	"cmp"
	"slices"

	"github.com/chaosrun/chaosrun/reports/result"
)

const (
	// laneBucketMs is the resolution at which swimlane activity is kept.
	laneBucketMs = 100
	// swimlaneBuckets is roughly how many columns a swimlane is drawn with.
	swimlaneBuckets = 400
)

// activity counts what each node wrote under each epoch per 100 ms, for
// the swimlanes of the report.
type activity struct {
	lanes map[lane]*laneBuckets
	// A one-entry cache: consecutive records mostly share their writer.
	lastLane    lane
	lastBuckets *laneBuckets
}

// lane is a node writing under one epoch.
type lane struct {
	node  uint32
	epoch uint64
}

// laneBuckets are a lane's counts by bucket index (append time divided by
// laneBucketMs), with the last one used cached.
type laneBuckets struct {
	byIndex   map[int64]*laneCount
	lastIndex int64
	last      *laneCount
}

type laneCount struct {
	rows, watermarks, stale int64
}

func newActivity() activity {
	return activity{lanes: make(map[lane]*laneBuckets)}
}

// observe counts a record of kind written by node under epoch at atMs.
func (a *activity) observe(node uint32, epoch uint64, atMs int64, kind Kind, stale bool) {
	k := lane{node, epoch}
	l := a.lastBuckets
	if l == nil || k != a.lastLane {
		l = a.lanes[k]
		if l == nil {
			l = &laneBuckets{byIndex: make(map[int64]*laneCount)}
			a.lanes[k] = l
		}
		a.lastLane, a.lastBuckets = k, l
	}
	idx := floorDiv(atMs, laneBucketMs)
	b := l.last
	if b == nil || idx != l.lastIndex {
		b = l.byIndex[idx]
		if b == nil {
			b = &laneCount{}
			l.byIndex[idx] = b
		}
		l.last, l.lastIndex = b, idx
	}
	if kind == KindRow {
		b.rows++
	} else {
		b.watermarks++
	}
	if stale {
		b.stale++
	}
}

// swimlanes coarsens each node's activity over [startMs, endMs] to about
// swimlaneBuckets columns and merges adjacent columns of one epoch into
// bars.
func (a *activity) swimlanes(startMs, endMs int64, nodes *interner) []result.Swimlane {
	width := int64(laneBucketMs)
	if span := endMs - startMs; span > swimlaneBuckets*laneBucketMs {
		width = (span/swimlaneBuckets + laneBucketMs - 1) / laneBucketMs * laneBucketMs
	}
	byNode := make(map[uint32][]result.Bar)
	for k, l := range a.lanes {
		byNode[k.node] = append(byNode[k.node], l.bars(k.epoch, startMs, width)...)
	}
	var out []result.Swimlane
	for node, bars := range byNode {
		slices.SortFunc(bars, func(a, b result.Bar) int {
			return cmp.Or(cmp.Compare(a.StartMs, b.StartMs), cmp.Compare(a.Epoch, b.Epoch))
		})
		out = append(out, result.Swimlane{Node: nodes.name(node), Bars: bars})
	}
	slices.SortFunc(out, func(a, b result.Swimlane) int { return cmp.Compare(a.Node, b.Node) })
	return out
}

// bars sums the lane's buckets into columns width ms wide from startMs and
// merges adjacent columns into bars.
func (l *laneBuckets) bars(epoch uint64, startMs, width int64) []result.Bar {
	cols := make(map[int64]*laneCount)
	for idx, b := range l.byIndex {
		col := floorDiv(idx*laneBucketMs-startMs, width)
		x := cols[col]
		if x == nil {
			x = &laneCount{}
			cols[col] = x
		}
		x.rows += b.rows
		x.watermarks += b.watermarks
		x.stale += b.stale
	}
	var bar *result.Bar
	var bars []result.Bar
	for _, col := range sortedKeys(cols) {
		x := cols[col]
		// A stale column starts its own bar so that the stale stretch can be
		// drawn distinctly.
		if bar == nil || col*width > bar.EndMs || (x.stale > 0) != (bar.Stale > 0) {
			bars = append(bars, result.Bar{Epoch: epoch, StartMs: col * width})
			bar = &bars[len(bars)-1]
		}
		bar.EndMs = (col + 1) * width
		bar.Rows += x.rows
		bar.Watermarks += x.watermarks
		bar.Stale += x.stale
	}
	return bars
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

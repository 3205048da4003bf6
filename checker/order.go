package checker

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/chaosrun/chaosrun/reports/result"
)

// orderCheck judges the order invariant: per key, commit_ts never goes back
// within one writer. A new writer generation (a newer epoch, or another
// node or dispatcher of the same epoch) may replay from its checkpoint,
// which is counted; a superseded generation may not go back.
type orderCheck struct {
	keys        *keyIndex
	perKey      []keyOrder
	violations  violations
	regressions int64
	replays     int64
	replaysBy   map[generation]int64
}

// keyOrder is what the order check keeps per key.
type keyOrder struct {
	seen  bool
	maxTs uint64 // highest commit_ts of any row
	// The key's current writer generation and the last commit_ts it wrote.
	writer   writer
	writerTs uint64
}

// writer is a writer generation: an epoch's dispatcher on one node.
type writer struct {
	epoch      uint64
	node       uint32
	dispatcher uint32
}

// generation is an epoch on one node, to which duplicates and replays are
// attributed.
type generation struct {
	epoch uint64
	node  uint32
}

func newOrderCheck(keys *keyIndex, maxExamples int) orderCheck {
	return orderCheck{keys: keys, violations: violations{limit: maxExamples}, replaysBy: make(map[generation]int64)}
}

// observe checks a row of key k (r, appended at atMs by node and dispatcher)
// and reports whether it raised the key's highest commit_ts.
func (o *orderCheck) observe(k int32, r *Record, atMs int64, node, dispatcher uint32) bool {
	s := grownAt(&o.perKey, k)
	ts, w := r.CommitTs, writer{epoch: r.Epoch, node: node, dispatcher: dispatcher}
	if !s.seen {
		s.seen, s.maxTs = true, ts
		s.writer, s.writerTs = w, ts
		return true
	}
	switch {
	case w.epoch > s.writer.epoch || (w.epoch == s.writer.epoch && w != s.writer):
		if ts < s.maxTs {
			o.replay(w)
		}
		s.writer, s.writerTs = w, ts
	case w.epoch == s.writer.epoch:
		if ts < s.writerTs {
			o.regressions++
			o.violations.add("regression", atMs, "key %s went back from commit_ts %d to %d within one writer (epoch %d, node %s, dispatcher %s)",
				o.keys.name(k), s.writerTs, ts, w.epoch, r.Node, r.Dispatcher)
			break
		}
		if ts < s.maxTs {
			o.replay(w)
		}
		s.writerTs = ts
	default:
		if ts < s.maxTs {
			o.regressions++
			o.violations.add("superseded-writer", atMs, "key %s went back from commit_ts %d to %d, written by superseded epoch %d (node %s) after epoch %d wrote",
				o.keys.name(k), s.maxTs, ts, w.epoch, r.Node, s.writer.epoch)
		}
	}
	if ts > s.maxTs {
		s.maxTs = ts
		return true
	}
	return false
}

func (o *orderCheck) replay(w writer) {
	o.replays++
	o.replaysBy[generation{w.epoch, w.node}]++
}

// count fills in the check's counters.
func (o *orderCheck) count(counters *result.Counters, nodes *interner) {
	counters.OrderViolations = o.regressions
	counters.Replays = o.replays
	counters.ReplaysBy = genCounts(o.replaysBy, nodes)
}

// invariant is the check's verdict.
func (o *orderCheck) invariant(counters result.Counters, startMs int64) result.Invariant {
	return o.violations.invariant(result.Order, result.Safety,
		fmt.Sprintf("%d rows over %d keys: %d regressions; %d replayed rows after a generation change", counters.Rows, counters.Keys, counters.OrderViolations, counters.Replays),
		startMs)
}

// genCounts lists the counts by generation, by epoch then node name.
func genCounts(m map[generation]int64, nodes *interner) []result.GenCount {
	gs := slices.Collect(maps.Keys(m))
	slices.SortFunc(gs, func(a, b generation) int {
		return cmp.Or(cmp.Compare(a.epoch, b.epoch), cmp.Compare(nodes.name(a.node), nodes.name(b.node)))
	})
	var out []result.GenCount
	for _, g := range gs {
		out = append(out, result.GenCount{Epoch: g.epoch, Node: nodes.name(g.node), Records: m[g]})
	}
	return out
}

package checker

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/chaosrun/chaosrun/reports/result"
)

// completeness judges the completeness invariant: every upstream change the
// final global watermark covers is in the topic. A row matching a change
// not matched yet is its first copy; a later copy is a duplicate,
// attributed to its writer generation; a row matching no change is a
// phantom. Rows whose change has not been added yet wait for it.
type completeness struct {
	keys   *keyIndex
	nodes  *interner
	perKey []keyChanges
	// coverage is the highest commit_ts added to the change log so far:
	// every change at or below it has been added.
	coverage uint64
	// honesty judges each row that matched its change: the change's first
	// copy.
	honesty *honesty

	violations violations
	changes    int64
	duplicates int64
	// exactlyOnce makes every duplicate a violation (Config.ExactlyOnce).
	exactlyOnce  bool
	duplicatesBy map[generation]int64
	phantoms     int64
	missing      int64
	beyondFinal  int64
	// flow counts commits and first deliveries over time (the backlog).
	flow flow
}

// keyChanges is what completeness keeps per key.
type keyChanges struct {
	// expected are the upstream changes not matched yet, ascending from
	// expectedHead.
	expected     []expectedChange
	expectedHead int
	maxMatched   uint64 // highest matched commit_ts
	// pending are the rows waiting for the change log, in arrival order.
	pending []pendingRow
}

// expectedChange is an upstream change: its commit_ts and the fingerprint
// of its op and columns (rowHash).
type expectedChange struct {
	ts   uint64
	hash uint64
}

// pendingRow is a row waiting to be matched with the change log, with the
// promise its partition had made when it was appended.
type pendingRow struct {
	ts      uint64
	epoch   uint64
	hash    uint64
	atMs    int64
	promise promise
	node    uint32
}

func newCompleteness(keys *keyIndex, nodes *interner, maxExamples int, honesty *honesty, exactlyOnce bool) completeness {
	return completeness{keys: keys, nodes: nodes, honesty: honesty, exactlyOnce: exactlyOnce,
		violations: violations{limit: maxExamples}, duplicatesBy: make(map[generation]int64), flow: newFlow()}
}

// observeChange adds an upstream change; one that goes back in the change
// log is reported to input.
func (c *completeness) observeChange(ch *Change, input *violations) {
	c.changes++
	if ch.CommitTs < c.coverage {
		input.add("input", PhysicalMs(ch.CommitTs), "change log goes back: %s:%d at commit_ts %d after %d",
			ch.Table, ch.PK, ch.CommitTs, c.coverage)
	} else {
		c.coverage = ch.CommitTs
	}
	c.flow.commit(PhysicalMs(ch.CommitTs))
	k := c.keys.index(ch.Table, ch.PK)
	s := grownAt(&c.perKey, k)
	e := expectedChange{ts: ch.CommitTs, hash: rowHash(ch.Op, ch.Columns)}
	if n := len(s.expected); n > s.expectedHead && s.expected[n-1].ts >= e.ts {
		// Out of order (already reported): keep the queue sorted.
		i, _ := slices.BinarySearchFunc(s.expected[s.expectedHead:], e.ts, compareExpected)
		s.expected = slices.Insert(s.expected, s.expectedHead+i, e)
	} else {
		s.expected = append(s.expected, e)
	}
	if len(s.pending) > 0 {
		c.drain(k, s, false)
	}
}

// observeRow matches a row of key k with the change log, or keeps it until
// the change log covers it.
func (c *completeness) observeRow(k int32, row pendingRow) {
	s := grownAt(&c.perKey, k)
	if len(s.pending) > 0 {
		c.drain(k, s, false)
	}
	if len(s.pending) == 0 && row.ts <= c.coverage {
		c.resolve(k, s, &row)
		return
	}
	s.pending = append(s.pending, row)
}

// flush resolves every row still waiting: the change log is complete.
func (c *completeness) flush() {
	for i := range c.perKey {
		if s := &c.perKey[i]; len(s.pending) > 0 {
			c.drain(int32(i), s, true)
		}
	}
}

// drain resolves the key's waiting rows the change log now covers (all of
// them when final), in arrival order.
func (c *completeness) drain(k int32, s *keyChanges, final bool) {
	n := 0
	for n < len(s.pending) && (final || s.pending[n].ts <= c.coverage) {
		c.resolve(k, s, &s.pending[n])
		n++
	}
	switch {
	case n == len(s.pending):
		s.pending = s.pending[:0]
	case n > 0:
		s.pending = append(s.pending[:0], s.pending[n:]...)
	}
}

// resolve matches one row against the key's unmatched changes: a match is
// the row's first copy, a commit_ts at or below an already matched one is
// a duplicate, anything else a phantom.
func (c *completeness) resolve(k int32, s *keyChanges, row *pendingRow) {
	if i := s.findExpected(row.ts); i >= 0 {
		want := s.expected[i].hash
		s.removeExpected(i)
		s.maxMatched = max(s.maxMatched, row.ts)
		c.flow.deliver(row.atMs)
		c.honesty.matched(k, row, want)
		return
	}
	if row.ts <= s.maxMatched {
		c.duplicatesBy[generation{row.epoch, row.node}]++
		c.duplicates++
		if c.exactlyOnce {
			c.violations.add("duplicate", row.atMs, "row %s commit_ts %d is a second copy, and the target promises each change once to a read_committed consumer",
				c.keys.name(k), row.ts)
		}
		return
	}
	c.phantoms++
	c.violations.add("phantom", row.atMs, "row %s commit_ts %d (epoch %d, node %s) matches no upstream change",
		c.keys.name(k), row.ts, row.epoch, c.nodes.name(row.node))
}

// finish lists the upstream changes the final global watermark covers
// that never reached the topic.
func (c *completeness) finish(final uint64, finalOK bool) {
	type missing struct {
		key string
		ts  uint64
	}
	var miss []missing
	for i := range c.perKey {
		s := &c.perKey[i]
		for _, e := range s.expected[s.expectedHead:] {
			if finalOK && e.ts <= final {
				miss = append(miss, missing{key: c.keys.name(int32(i)), ts: e.ts})
			} else {
				c.beyondFinal++
			}
		}
	}
	slices.SortFunc(miss, func(a, b missing) int { return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(a.key, b.key)) })
	c.missing = int64(len(miss))
	for _, m := range miss {
		c.violations.add("missing", PhysicalMs(m.ts), "change %s commit_ts %d is not in the topic although the final global watermark %d covers it",
			m.key, m.ts, final)
	}
}

// count fills in the check's counters.
func (c *completeness) count(counters *result.Counters, nodes *interner) {
	counters.Changes = c.changes
	counters.Duplicates = c.duplicates
	counters.DuplicatesBy = genCounts(c.duplicatesBy, nodes)
	counters.Missing = c.missing
	counters.Phantoms = c.phantoms
	counters.BeyondFinalWatermark = c.beyondFinal
}

// invariant is the check's verdict.
func (c *completeness) invariant(counters result.Counters, startMs int64) result.Invariant {
	return c.violations.invariant(result.Completeness, result.Safety,
		fmt.Sprintf("%d upstream changes: %d missing under the final watermark, %d phantom rows, %d duplicates, %d beyond the final watermark",
			counters.Changes, counters.Missing, counters.Phantoms, counters.Duplicates, counters.BeyondFinalWatermark), startMs)
}

func compareExpected(x expectedChange, ts uint64) int { return cmp.Compare(x.ts, ts) }

func (s *keyChanges) findExpected(ts uint64) int {
	q := s.expected[s.expectedHead:]
	if len(q) == 0 {
		return -1
	}
	if q[0].ts == ts {
		return s.expectedHead
	}
	i, ok := slices.BinarySearchFunc(q, ts, compareExpected)
	if !ok {
		return -1
	}
	return s.expectedHead + i
}

func (s *keyChanges) removeExpected(i int) {
	if i == s.expectedHead {
		s.expectedHead++
		if s.expectedHead == len(s.expected) {
			s.expected, s.expectedHead = s.expected[:0], 0
		}
		return
	}
	s.expected = slices.Delete(s.expected, i, i+1)
}

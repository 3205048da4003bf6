package checker

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/chaosrun/chaosrun/reports/result"
)

// ErrConfig is wrapped by every configuration error New reports.
var ErrConfig = errors.New("checker: invalid config")

const (
	// maxStep is the coarsest lag sampling the checker accepts.
	maxStep = 100 * time.Millisecond
	// maxPartition bounds partition ids; Kafka's are small and dense.
	maxPartition = 1 << 16
	// laneBucketMs is the resolution at which swimlane activity is kept.
	laneBucketMs = 100
	// swimlaneBuckets is roughly how many columns a swimlane is drawn with.
	swimlaneBuckets = 400
)

// Example collectors, one per invariant plus one for input errors.
const (
	exRecovery = iota
	exStale
	exCompleteness
	exOrder
	exHonesty
	exInput
	numEx
)

// Checker is the streaming accumulator. Feed it the upstream change log
// with AddChange and the consumed records with Add, then call Finish once.
//
// Obligations of the caller:
//   - Add records of one partition in offset order (partitions may
//     interleave freely);
//   - AddChange changes in commit_ts order;
//   - for memory proportional to keys rather than records, add each change
//     no later than the records that carry it (Feed does this from two
//     files). Records whose change has not been added yet are buffered
//     until it is (or until Finish), so any interleaving gives the same
//     counts and verdict.
//
// A Checker is not safe for concurrent use.
type Checker struct {
	cfg    Config
	stepMs int64
	epochs *epochIndex
	sup    map[uint64]supInfo

	parts  []*partState // indexed by partition id
	tables interner
	nodes  interner
	disps  interner
	// keys maps each table's primary keys to their index in states; one
	// map per table id keeps the hot lookup on the fast int64 path.
	keys    []map[int64]int32
	states  []keyState
	lastKey keyID
	lastIdx int32

	// coverage is the highest commit_ts added to the change log so far:
	// every change at or below it has been added.
	coverage uint64

	lat         Histogram
	latExcluded int64
	latNegative int64

	gens  map[genKey]*genStats
	stale map[uint64]*staleAgg
	// harmSeen has one entry per writer and kind of harm already given an
	// example.
	harmSeen map[string]bool
	lanes    map[laneKey]*lane
	// One-entry caches for the per-record lookups: consecutive records
	// mostly share their epoch and writer.
	lastSupEpoch uint64
	lastSup      supInfo
	lastSupOK    bool
	lastLaneKey  laneKey
	lastLane     *lane

	bank       *BalanceCheck
	bankTable  uint32
	bankColumn string

	ex  [numEx]examples
	cnt result.Counters

	anyRecord bool
	firstAt   int64
	lastAt    int64
	finished  bool
}

type keyID struct {
	table uint32
	pk    int64
}

// keyState is everything kept per key; its size bounds the checker's memory.
type keyState struct {
	id        keyID
	partition int32 // -1 until a row is seen
	seen      bool
	lastTs    uint64 // highest commit_ts of any row
	// The key's current writer generation and the last commit_ts it wrote.
	genEpoch uint64
	genNode  uint32
	genDisp  uint32
	genTs    uint64
	// Completeness: upstream changes not yet matched (ascending from
	// expHead), the highest matched commit_ts, and rows waiting for the
	// change log to catch up (in arrival order).
	exp        []expEntry
	expHead    int
	maxMatched uint64
	pend       []pendEntry
	// Bank: the account's balance after its newest row.
	bal    int64
	hasBal bool
}

type expEntry struct {
	ts   uint64
	hash uint64
}

// pendEntry is a row waiting to be matched with the change log, with what
// its partition promised when it was appended.
type pendEntry struct {
	ts      uint64
	epoch   uint64
	hash    uint64
	wm      uint64 // partition's highest watermark before the row
	wmEpoch uint64
	at      int64
	wmAt    int64
	node    uint32
	wmNode  uint32
}

type partState struct {
	hasOffset  bool
	lastOffset int64
	maxWm      uint64
	maxWmEpoch uint64
	maxWmNode  uint32
	maxWmAt    int64
	wms        []Watermark
}

type supInfo struct {
	at int64
	ok bool
}

type genKey struct {
	epoch uint64
	node  uint32
}

type genStats struct {
	dups    int64
	replays int64
}

type staleAgg struct {
	rows, wms   int64
	harmful     int64 // of rows and wms, written by a writer that knew better
	first, last int64
	writers     map[uint32]int64
}

type laneKey struct {
	node  uint32
	epoch uint64
}

type laneCount struct {
	rows, wms, stale int64
}

type lane struct {
	buckets map[int64]*laneCount
	lastIdx int64
	last    *laneCount
}

type examples struct {
	n    int64
	list []rawExample
}

type rawExample struct {
	kind string
	at   int64 // Unix ms
	msg  string
}

type missing struct {
	key string
	ts  uint64
}

// New validates cfg and returns an empty Checker.
func New(cfg Config) (*Checker, error) {
	if cfg.Step == 0 {
		cfg.Step = maxStep
	}
	if cfg.Step < time.Millisecond || cfg.Step > maxStep {
		return nil, fmt.Errorf("%w: step %v outside [1ms, %v]", ErrConfig, cfg.Step, maxStep)
	}
	s := cfg.SLOs
	if s.L < 0 || s.W < 0 || s.RecoveryBound < 0 || s.AllowedZombie < 0 {
		return nil, fmt.Errorf("%w: negative SLO in %+v", ErrConfig, s)
	}
	if cfg.Partitions < 0 || cfg.Partitions > maxPartition {
		return nil, fmt.Errorf("%w: %d partitions", ErrConfig, cfg.Partitions)
	}
	if b := cfg.Bank; b != nil && (b.Table == "" || b.Column == "") {
		return nil, fmt.Errorf("%w: bank check needs a table and a column", ErrConfig)
	}
	for _, f := range cfg.Faults {
		if !f.Heal.IsZero() && f.Heal.Before(f.Inject) {
			return nil, fmt.Errorf("%w: fault %q healed before it was injected", ErrConfig, f.ID)
		}
	}
	if cfg.MaxExamples <= 0 {
		cfg.MaxExamples = 10
	}
	c := &Checker{
		cfg:      cfg,
		stepMs:   cfg.Step.Milliseconds(),
		epochs:   newEpochIndex(cfg.Grants, cfg.Changefeed),
		sup:      make(map[uint64]supInfo),
		lastIdx:  -1,
		gens:     make(map[genKey]*genStats),
		stale:    make(map[uint64]*staleAgg),
		harmSeen: make(map[string]bool),
		lanes:    make(map[laneKey]*lane),
	}
	for p := range cfg.Partitions {
		c.part(int32(p))
	}
	if b := cfg.Bank; b != nil {
		c.bank = NewBalanceCheck()
		c.bankTable = c.tables.id(b.Table)
		c.bankColumn = b.Column
	}
	return c, nil
}

// AddChange adds one upstream change. Changes must come in commit_ts order.
// It is ignored when the Config says there is no change log.
func (c *Checker) AddChange(ch Change) {
	if c.cfg.NoChangeLog || ch.CommitTs < c.cfg.StartTs {
		return
	}
	c.cnt.Changes++
	if ch.CommitTs < c.coverage {
		c.inputError(PhysicalMs(ch.CommitTs), "change log goes back: %s:%d at commit_ts %d after %d",
			ch.Table, ch.PK, ch.CommitTs, c.coverage)
	} else {
		c.coverage = ch.CommitTs
	}
	s := &c.states[c.key(ch.Table, ch.PK)]
	e := expEntry{ts: ch.CommitTs, hash: rowHash(ch.Op, ch.Columns)}
	if n := len(s.exp); n > s.expHead && s.exp[n-1].ts >= e.ts {
		// Out of order (already reported): keep the queue sorted.
		i, _ := slices.BinarySearchFunc(s.exp[s.expHead:], e.ts, func(x expEntry, ts uint64) int { return cmp.Compare(x.ts, ts) })
		s.exp = slices.Insert(s.exp, s.expHead+i, e)
	} else {
		s.exp = append(s.exp, e)
	}
	if len(s.pend) > 0 {
		c.drain(s, false)
	}
}

// Add adds one consumed record.
func (c *Checker) Add(r Record) {
	if c.finished {
		panic("checker: Add after Finish")
	}
	if c.cfg.Changefeed != "" && r.Changefeed != "" && r.Changefeed != c.cfg.Changefeed {
		c.cnt.Foreign++
		return
	}
	at := r.AppendTime.UnixMilli()
	if r.Partition < 0 || r.Partition >= maxPartition {
		c.inputError(at, "partition %d out of range", r.Partition)
		return
	}
	c.cnt.Records++
	if !c.anyRecord || at < c.firstAt {
		c.firstAt = at
	}
	if !c.anyRecord || at > c.lastAt {
		c.lastAt = at
	}
	c.anyRecord = true

	p := c.part(r.Partition)
	if p.hasOffset && r.Offset <= p.lastOffset {
		c.inputError(at, "partition %d offset %d after %d", r.Partition, r.Offset, p.lastOffset)
	}
	p.hasOffset, p.lastOffset = true, r.Offset

	node := c.nodes.id(r.Node)
	stale := c.isStale(r.Epoch, at)
	switch r.Kind {
	case KindRow:
		c.addRow(p, &r, at, node)
	case KindWatermark:
		c.addWatermark(p, &r, at, node)
	default:
		c.inputError(at, "partition %d offset %d has kind %v", r.Partition, r.Offset, r.Kind)
		return
	}
	c.activity(node, r.Epoch, at, r.Kind, stale)
	if stale {
		c.addStale(r.Epoch, node, at, r.Kind)
	}
	if why := HarmfulRecord(&r); why != "" {
		c.addHarm(&r, why, at)
	}
}

// addHarm counts a record its writer wrote for a generation it knew to be
// superseded (see HarmfulRecord); one example per writer and kind of harm.
func (c *Checker) addHarm(r *Record, why string, at int64) {
	switch {
	case why == "orphan-dispatcher":
		c.cnt.OrphanRows++
	case r.Kind == KindRow:
		c.cnt.HarmfulRows++
	default:
		c.cnt.HarmfulWatermarks++
	}
	if a := c.stale[r.Epoch]; a != nil {
		a.harmful++
	}
	k := r.Node + "/" + why + "/" + r.Dispatcher
	if c.harmSeen[k] {
		c.ex[exStale].n++
		return
	}
	c.harmSeen[k] = true
	what := fmt.Sprintf("watermark %d", r.WatermarkTs)
	if r.Kind == KindRow {
		what = fmt.Sprintf("row %s:%d commit_ts %d", r.Table, r.PK, r.CommitTs)
	}
	switch why {
	case "orphan-dispatcher":
		c.violate(exStale, why, at, "node %s: orphan dispatcher %s, created by epoch %d after its manager had accepted epoch %d, wrote %s",
			r.Node, r.Dispatcher, r.DispatcherEpoch, r.DispatcherSeen, what)
	default:
		c.violate(exStale, why, at, "node %s wrote %s under epoch %d after it had accepted epoch %d (later ones from this writer counted, not shown)",
			r.Node, what, r.Epoch, r.Seen)
	}
}

func (c *Checker) part(id int32) *partState {
	if int(id) >= len(c.parts) {
		c.parts = append(c.parts, make([]*partState, int(id)+1-len(c.parts))...)
	}
	p := c.parts[id]
	if p == nil {
		p = &partState{}
		c.parts[id] = p
	}
	return p
}

func (c *Checker) key(table string, pk int64) int32 {
	id := keyID{table: c.tables.id(table), pk: pk}
	// A change is usually followed by its row: remember the last key.
	if c.lastIdx >= 0 && id == c.lastKey {
		return c.lastIdx
	}
	for int(id.table) >= len(c.keys) {
		c.keys = append(c.keys, make(map[int64]int32))
	}
	m := c.keys[id.table]
	i, ok := m[pk]
	if !ok {
		i = int32(len(c.states))
		m[pk] = i
		c.states = append(c.states, keyState{id: id, partition: -1})
	}
	c.lastKey, c.lastIdx = id, i
	return i
}

func (c *Checker) keyName(id keyID) string {
	return c.tables.name(id.table) + ":" + strconv.FormatInt(id.pk, 10)
}

// isStale reports whether epoch was superseded at or before at.
func (c *Checker) isStale(epoch uint64, at int64) bool {
	if c.epochs.empty() {
		return false
	}
	if c.lastSupOK && epoch == c.lastSupEpoch {
		return c.lastSup.ok && at >= c.lastSup.at
	}
	s, ok := c.sup[epoch]
	if !ok {
		s.at, _, s.ok = c.epochs.supersededAt(epoch)
		c.sup[epoch] = s
		if !s.ok && !c.epochs.known(epoch) {
			// Newer than every grant: the history is incomplete.
			c.inputError(at, "records carry epoch %d, which the epoch history never granted", epoch)
		}
	}
	c.lastSupEpoch, c.lastSup, c.lastSupOK = epoch, s, true
	return s.ok && at >= s.at
}

func (c *Checker) addWatermark(p *partState, r *Record, at int64, node uint32) {
	c.cnt.Watermarks++
	p.wms = append(p.wms, Watermark{Partition: r.Partition, AtMs: at, Ts: r.WatermarkTs})
	if r.WatermarkTs < p.maxWm {
		c.cnt.WatermarkRegressions++
		return
	}
	p.maxWm, p.maxWmEpoch, p.maxWmNode, p.maxWmAt = r.WatermarkTs, r.Epoch, node, at
}

func (c *Checker) addRow(p *partState, r *Record, at int64, node uint32) {
	c.cnt.Rows++
	ki := c.key(r.Table, r.PK)
	s := &c.states[ki]
	switch {
	case s.partition < 0:
		s.partition = r.Partition
	case s.partition != r.Partition:
		c.inputError(at, "key %s in partitions %d and %d", c.keyName(s.id), s.partition, r.Partition)
	}
	newMax := c.order(s, r, at, node, c.disps.id(r.Dispatcher))

	if newMax {
		lat := at - PhysicalMs(r.CommitTs)
		if lat < 0 {
			c.latNegative++
		}
		c.lat.Add(lat)
	} else {
		c.latExcluded++
	}
	if c.bank != nil && newMax && s.id.table == c.bankTable {
		c.applyBank(s, r, at)
	}

	if c.cfg.NoChangeLog {
		// Without the change log a row is known to be a first copy only when
		// it raises its key's commit_ts.
		if newMax && p.maxWm >= r.CommitTs {
			c.lateRow(s, r.CommitTs, r.Epoch, node, at, p.maxWm, p.maxWmEpoch, p.maxWmNode, p.maxWmAt)
		}
		return
	}
	e := pendEntry{
		ts: r.CommitTs, epoch: r.Epoch, hash: rowHash(r.Op, r.Columns), at: at, node: node,
		wm: p.maxWm, wmEpoch: p.maxWmEpoch, wmNode: p.maxWmNode, wmAt: p.maxWmAt,
	}
	if len(s.pend) > 0 {
		c.drain(s, false)
	}
	if len(s.pend) == 0 && e.ts <= c.coverage {
		c.resolve(s, &e)
		return
	}
	s.pend = append(s.pend, e)
}

// order checks that the key's commit_ts never goes back, except when a new
// writer generation (a newer epoch, or another dispatcher of the same epoch)
// replays from its checkpoint. It reports whether the row raised the key's
// highest commit_ts.
func (c *Checker) order(s *keyState, r *Record, at int64, node, disp uint32) bool {
	ts, e := r.CommitTs, r.Epoch
	if !s.seen {
		s.seen, s.lastTs = true, ts
		s.genEpoch, s.genNode, s.genDisp, s.genTs = e, node, disp, ts
		return true
	}
	switch {
	case e > s.genEpoch || (e == s.genEpoch && (node != s.genNode || disp != s.genDisp)):
		if ts < s.lastTs {
			c.gen(e, node).replays++
			c.cnt.Replays++
		}
		s.genEpoch, s.genNode, s.genDisp, s.genTs = e, node, disp, ts
	case e == s.genEpoch:
		if ts < s.genTs {
			c.cnt.OrderViolations++
			c.violate(exOrder, "regression", at, "key %s went back from commit_ts %d to %d within one writer (epoch %d, node %s, dispatcher %s)",
				c.keyName(s.id), s.genTs, ts, e, r.Node, r.Dispatcher)
			break
		}
		if ts < s.lastTs {
			c.gen(e, node).replays++
			c.cnt.Replays++
		}
		s.genTs = ts
	default:
		if ts < s.lastTs {
			c.cnt.OrderViolations++
			c.violate(exOrder, "superseded-writer", at, "key %s went back from commit_ts %d to %d, written by superseded epoch %d (node %s) after epoch %d wrote",
				c.keyName(s.id), s.lastTs, ts, e, r.Node, s.genEpoch)
		}
	}
	if ts > s.lastTs {
		s.lastTs = ts
		return true
	}
	return false
}

// drain resolves the key's buffered rows the change log now covers (all of
// them when final), in arrival order.
func (c *Checker) drain(s *keyState, final bool) {
	n := 0
	for n < len(s.pend) && (final || s.pend[n].ts <= c.coverage) {
		c.resolve(s, &s.pend[n])
		n++
	}
	switch {
	case n == len(s.pend):
		s.pend = s.pend[:0]
	case n > 0:
		s.pend = append(s.pend[:0], s.pend[n:]...)
	}
}

// resolve matches one row against the key's unmatched upstream changes: a
// match is the row's first copy (checked for its value and against the
// watermark its partition had already published), a commit_ts at or below
// an already matched one is a duplicate, anything else a phantom.
func (c *Checker) resolve(s *keyState, e *pendEntry) {
	if i := s.findExp(e.ts); i >= 0 {
		want := s.exp[i].hash
		s.removeExp(i)
		s.maxMatched = max(s.maxMatched, e.ts)
		if want != e.hash {
			c.cnt.ValueMismatches++
			c.violate(exHonesty, "value", e.at, "row %s commit_ts %d (epoch %d, node %s) differs from the upstream change in op or columns",
				c.keyName(s.id), e.ts, e.epoch, c.nodes.name(e.node))
		}
		if e.wm >= e.ts {
			c.lateRow(s, e.ts, e.epoch, e.node, e.at, e.wm, e.wmEpoch, e.wmNode, e.wmAt)
		}
		return
	}
	if e.ts <= s.maxMatched {
		c.gen(e.epoch, e.node).dups++
		c.cnt.Duplicates++
		return
	}
	c.cnt.Phantoms++
	c.violate(exCompleteness, "phantom", e.at, "row %s commit_ts %d (epoch %d, node %s) matches no upstream change",
		c.keyName(s.id), e.ts, e.epoch, c.nodes.name(e.node))
}

func (c *Checker) lateRow(s *keyState, ts, epoch uint64, node uint32, at int64, wm, wmEpoch uint64, wmNode uint32, wmAt int64) {
	c.cnt.LateRows++
	c.violate(exHonesty, "late-row", at, "row %s commit_ts %d (epoch %d, node %s) was appended %s after its partition's watermark %d (epoch %d, node %s) promised it",
		c.keyName(s.id), ts, epoch, c.nodes.name(node), fmtMs(at-wmAt), wm, wmEpoch, c.nodes.name(wmNode))
}

func (s *keyState) findExp(ts uint64) int {
	q := s.exp[s.expHead:]
	if len(q) == 0 {
		return -1
	}
	if q[0].ts == ts {
		return s.expHead
	}
	i, ok := slices.BinarySearchFunc(q, ts, func(x expEntry, ts uint64) int { return cmp.Compare(x.ts, ts) })
	if !ok {
		return -1
	}
	return s.expHead + i
}

func (s *keyState) removeExp(i int) {
	if i == s.expHead {
		s.expHead++
		if s.expHead == len(s.exp) {
			s.exp, s.expHead = s.exp[:0], 0
		}
		return
	}
	s.exp = slices.Delete(s.exp, i, i+1)
}

func (c *Checker) applyBank(s *keyState, r *Record, at int64) {
	v, ok := r.Columns[c.bankColumn]
	bal, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil {
		c.inputError(at, "bank row %s commit_ts %d has no integer %q column", c.keyName(s.id), r.CommitTs, c.bankColumn)
		return
	}
	prev := c.cfg.Bank.Initial
	if s.hasBal {
		prev = s.bal
	}
	s.bal, s.hasBal = bal, true
	c.bank.Apply(r.CommitTs, prev, bal)
}

func (c *Checker) gen(epoch uint64, node uint32) *genStats {
	k := genKey{epoch, node}
	g := c.gens[k]
	if g == nil {
		g = &genStats{}
		c.gens[k] = g
	}
	return g
}

func (c *Checker) addStale(epoch uint64, node uint32, at int64, kind Kind) {
	a := c.stale[epoch]
	if a == nil {
		a = &staleAgg{first: at, last: at, writers: make(map[uint32]int64)}
		c.stale[epoch] = a
	}
	if kind == KindRow {
		a.rows++
		c.cnt.StaleRows++
	} else {
		a.wms++
		c.cnt.StaleWatermarks++
	}
	a.first, a.last = min(a.first, at), max(a.last, at)
	a.writers[node]++
}

func (c *Checker) activity(node uint32, epoch uint64, at int64, kind Kind, stale bool) {
	k := laneKey{node, epoch}
	l := c.lastLane
	if l == nil || k != c.lastLaneKey {
		l = c.lanes[k]
		if l == nil {
			l = &lane{buckets: make(map[int64]*laneCount)}
			c.lanes[k] = l
		}
		c.lastLaneKey, c.lastLane = k, l
	}
	idx := floorDiv(at, laneBucketMs)
	b := l.last
	if b == nil || idx != l.lastIdx {
		b = l.buckets[idx]
		if b == nil {
			b = &laneCount{}
			l.buckets[idx] = b
		}
		l.last, l.lastIdx = b, idx
	}
	if kind == KindRow {
		b.rows++
	} else {
		b.wms++
	}
	if stale {
		b.stale++
	}
}

func (c *Checker) violate(ex int, kind string, at int64, format string, args ...any) {
	c.violateN(ex, 1, kind, at, format, args...)
}

// violateN counts n violations under one example.
func (c *Checker) violateN(ex int, n int64, kind string, at int64, format string, args ...any) {
	e := &c.ex[ex]
	e.n += n
	if len(e.list) < c.cfg.MaxExamples {
		e.list = append(e.list, rawExample{kind: kind, at: at, msg: fmt.Sprintf(format, args...)})
	}
}

func (c *Checker) inputError(at int64, format string, args ...any) {
	c.cnt.InputErrors++
	c.violate(exInput, "input", at, format, args...)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

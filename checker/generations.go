package checker

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/chaosrun/chaosrun/reports/result"
)

// staleGenerations judges the stale-generation invariant: records and
// control messages of an epoch already superseded. A harmful act, by a
// writer or receiver that knew of a newer epoch, is a violation (see
// HarmfulRecord and Harmful); the uninformed acts of a superseded epoch are
// judged only against the zombie-window SLO.
type staleGenerations struct {
	cfg    *Config
	epochs *epochIndex
	nodes  *interner
	// superseded caches, per epoch seen, when it stopped being current,
	// with a one-entry cache in front: consecutive records mostly share
	// their epoch.
	superseded map[uint64]supersession
	lastEpoch  uint64
	last       supersession
	lastOK     bool

	byEpoch map[uint64]*staleTally
	// harmShown has one entry per writer and kind of harm given an example.
	harmShown  map[harmKey]bool
	violations violations

	rows, watermarks                        int64 // stale records
	harmfulRows, harmfulWatermarks, orphans int64
	messages, harmfulMessages               int64
}

// supersession is when (Unix ms) an epoch stopped being current; ok is
// false while it never was superseded.
type supersession struct {
	atMs int64
	ok   bool
}

// staleTally is what a superseded epoch wrote after it was superseded.
type staleTally struct {
	rows, watermarks int64
	harmful          int64 // of rows and watermarks, written by a writer that knew better
	firstMs, lastMs  int64
	writers          map[uint32]int64 // records by node
}

// harmKey is a writer and a kind of harm.
type harmKey struct {
	node, why, dispatcher string
}

func newStaleGenerations(cfg *Config, nodes *interner) staleGenerations {
	return staleGenerations{
		cfg:        cfg,
		epochs:     newEpochIndex(cfg.Grants, cfg.Changefeed),
		nodes:      nodes,
		superseded: make(map[uint64]supersession),
		byEpoch:    make(map[uint64]*staleTally),
		harmShown:  make(map[harmKey]bool),
		violations: violations{limit: cfg.MaxExamples},
	}
}

// isStale reports whether epoch was superseded at or before atMs. An epoch
// the history never granted is reported to input.
func (g *staleGenerations) isStale(epoch uint64, atMs int64, input *violations) bool {
	if g.epochs.empty() {
		return false
	}
	if g.lastOK && epoch == g.lastEpoch {
		return g.last.ok && atMs >= g.last.atMs
	}
	s, ok := g.superseded[epoch]
	if !ok {
		s.atMs, _, s.ok = g.epochs.supersededAt(epoch)
		g.superseded[epoch] = s
		if !s.ok && !g.epochs.known(epoch) {
			// Newer than every grant: the history is incomplete.
			input.add("input", atMs, "records carry epoch %d, which the epoch history never granted", epoch)
		}
	}
	g.lastEpoch, g.last, g.lastOK = epoch, s, true
	return s.ok && atMs >= s.atMs
}

// observe counts a record written by node at atMs, stale as isStale said,
// and judges it if its writer knew better.
func (g *staleGenerations) observe(r *Record, node uint32, atMs int64, stale bool) {
	if stale {
		g.tally(r.Epoch, node, atMs, r.Kind)
	}
	if why := HarmfulRecord(r); why != "" {
		g.harm(r, why, atMs)
	}
}

func (g *staleGenerations) tally(epoch uint64, node uint32, atMs int64, kind Kind) {
	t := g.byEpoch[epoch]
	if t == nil {
		t = &staleTally{firstMs: atMs, lastMs: atMs, writers: make(map[uint32]int64)}
		g.byEpoch[epoch] = t
	}
	if kind == KindRow {
		t.rows++
		g.rows++
	} else {
		t.watermarks++
		g.watermarks++
	}
	t.firstMs, t.lastMs = min(t.firstMs, atMs), max(t.lastMs, atMs)
	t.writers[node]++
}

// harm counts a record its writer wrote for a generation it knew to be
// superseded; one example per writer and kind of harm.
func (g *staleGenerations) harm(r *Record, why string, atMs int64) {
	switch {
	case why == "orphan-dispatcher":
		g.orphans++
	case r.Kind == KindRow:
		g.harmfulRows++
	default:
		g.harmfulWatermarks++
	}
	if t := g.byEpoch[r.Epoch]; t != nil {
		t.harmful++
	}
	k := harmKey{node: r.Node, why: why, dispatcher: r.Dispatcher}
	if g.harmShown[k] {
		g.violations.count++
		return
	}
	g.harmShown[k] = true
	what := fmt.Sprintf("watermark %d", r.WatermarkTs)
	if r.Kind == KindRow {
		what = fmt.Sprintf("row %s:%d commit_ts %d", r.Table, r.PK, r.CommitTs)
	}
	switch why {
	case "orphan-dispatcher":
		g.violations.add(why, atMs, "node %s: orphan dispatcher %s, created by epoch %d after its manager had accepted epoch %d, wrote %s",
			r.Node, r.Dispatcher, r.DispatcherEpoch, r.DispatcherSeen, what)
	default:
		g.violations.add(why, atMs, "node %s wrote %s under epoch %d after it had accepted epoch %d (later ones from this writer counted, not shown)",
			r.Node, what, r.Epoch, r.Seen)
	}
}

// finish sums up each superseded epoch's writes into res.StaleEpochs and
// judges the control messages acted on into res.StaleMessages (res.SLOs
// must be set).
func (g *staleGenerations) finish(res *result.Result, startMs int64) {
	for _, e := range sortedKeys(g.byEpoch) {
		res.StaleEpochs = append(res.StaleEpochs, g.staleEpoch(e, res.SLOs.AllowedZombieMs, startMs))
	}
	res.StaleMessages = staleMessages(g.cfg.Decisions, g.epochs, g.cfg.Faults, g.cfg.Changefeed, startMs)
	for _, m := range res.StaleMessages {
		g.messages++
		if m.Harmful {
			g.harmfulMessages++
		}
		if !m.Tolerated {
			g.violations.add("accepted-message", m.AtMs+startMs, "%s on %s accepted %s from %s: %s",
				m.Role, m.Node, m.MsgType, m.Sender, m.Reason)
		}
	}
}

// staleEpoch sums up what superseded epoch e wrote and judges its zombie
// window against allowedMs.
func (g *staleGenerations) staleEpoch(e uint64, allowedMs, startMs int64) result.StaleEpoch {
	t := g.byEpoch[e]
	supAt, by, _ := g.epochs.supersededAt(e)
	se := result.StaleEpoch{
		Epoch: e, Owner: g.epochs.owner(e), SupersededBy: by, SupersededMs: supAt - startMs,
		Rows: t.rows, Watermarks: t.watermarks, FirstMs: t.firstMs - startMs, LastMs: t.lastMs - startMs,
		WindowMs: t.lastMs - supAt, Harmful: t.harmful,
	}
	for _, n := range sortedKeys(t.writers) {
		se.Writers = append(se.Writers, result.NodeCount{Node: g.nodes.name(n), Records: t.writers[n]})
	}
	slices.SortStableFunc(se.Writers, func(x, y result.NodeCount) int { return cmp.Compare(x.Node, y.Node) })
	// Harmful records are judged where they are read (harm). The window of
	// the rest is judged only against an explicit zombie SLO: its clock
	// starts when the superseded generation could first learn of its
	// successor, at the grant or at the heal of a fault that had it cut off
	// then.
	se.Tolerated = allowedMs == 0 || t.lastMs-zombieClock(g.cfg.Faults, supAt) <= allowedMs
	if se.Tolerated {
		return se
	}
	writers := ""
	for i, w := range se.Writers {
		if i > 0 {
			writers += ", "
		}
		writers += fmt.Sprintf("%s=%d", w.Node, w.Records)
	}
	g.violations.addN(t.rows+t.watermarks, "zombie-writes", t.firstMs, "epoch %d (owner %s) wrote %d rows and %d watermarks for %s after epoch %d was granted, %s after it could have learned of it (allowed %s; writers %s)",
		e, orNone(se.Owner), t.rows, t.watermarks, fmtMs(se.WindowMs), by, fmtMs(t.lastMs-zombieClock(g.cfg.Faults, supAt)), fmtMs(allowedMs), writers)
	return se
}

// count fills in the check's counters.
func (g *staleGenerations) count(counters *result.Counters) {
	counters.StaleRows = g.rows
	counters.StaleWatermarks = g.watermarks
	counters.HarmfulRows = g.harmfulRows
	counters.HarmfulWatermarks = g.harmfulWatermarks
	counters.OrphanRows = g.orphans
	counters.StaleMessagesAccepted = g.messages
	counters.HarmfulMessages = g.harmfulMessages
}

// invariant is the check's verdict.
func (g *staleGenerations) invariant(res *result.Result, startMs int64) result.Invariant {
	counters := res.Counters
	window := "not judged"
	if res.SLOs.AllowedZombieMs > 0 {
		window = "≤ " + fmtMs(res.SLOs.AllowedZombieMs)
	}
	inv := g.violations.invariant(result.StaleGeneration, result.Safety,
		fmt.Sprintf("harmful acts of superseded generations: %d control messages, %d rows, %d watermarks, %d rows of orphan dispatchers (judged, none allowed); uninformed acts: %d stale rows, %d stale watermarks in %d superseded epochs, %d stale control messages acted on (window %s)",
			counters.HarmfulMessages, counters.HarmfulRows, counters.HarmfulWatermarks, counters.OrphanRows,
			counters.StaleRows, counters.StaleWatermarks, len(res.StaleEpochs), counters.StaleMessagesAccepted-counters.HarmfulMessages, window), startMs)
	if g.epochs.empty() {
		inv = skipUnlessFailed(inv, "no epoch history")
	}
	return inv
}

package checker

import (
	"fmt"

	"github.com/chaosrun/chaosrun/reports/result"
)

// honesty judges the watermark honesty invariant: each row is in its
// partition before any watermark that covers it, and carries the
// upstream's op and columns. The bank balance check (bankBalances) adds its
// violations here.
type honesty struct {
	keys  *keyIndex
	nodes *interner
	// promises holds each partition's promise, indexed by partition id.
	promises []promise
	// noPromise skips the late-row check (Config.NoWatermarkPromise).
	noPromise bool

	violations      violations
	lateRows        int64
	valueMismatches int64
	regressions     int64 // watermarks below their partition's promise
}

// promise is the highest watermark appended to a partition so far: every
// row with commit_ts ≤ ts is in the partition before it. The zero promise
// covers nothing.
type promise struct {
	ts    uint64
	epoch uint64
	atMs  int64
	node  uint32
}

func newHonesty(keys *keyIndex, nodes *interner, maxExamples int, noPromise bool) honesty {
	return honesty{keys: keys, nodes: nodes, noPromise: noPromise, violations: violations{limit: maxExamples}}
}

// observeWatermark raises partition p's promise to the watermark ts
// (written under epoch by node, appended at atMs); a lower one is counted
// as a regression and promises nothing new.
func (h *honesty) observeWatermark(p int32, ts, epoch uint64, node uint32, atMs int64) {
	pr := grownAt(&h.promises, p)
	if ts < pr.ts {
		h.regressions++
		return
	}
	*pr = promise{ts: ts, epoch: epoch, atMs: atMs, node: node}
}

// promiseOf returns partition p's promise as it stands.
func (h *honesty) promiseOf(p int32) promise {
	if int(p) >= len(h.promises) {
		return promise{}
	}
	return h.promises[p]
}

// matched checks a row of key k that matched its upstream change (whose
// fingerprint is want) and is therefore the change's first copy.
func (h *honesty) matched(k int32, row *pendingRow, want uint64) {
	if want != row.hash {
		h.valueMismatches++
		h.violations.add("value", row.atMs, "row %s commit_ts %d (epoch %d, node %s) differs from the upstream change in op or columns",
			h.keys.name(k), row.ts, row.epoch, h.nodes.name(row.node))
	}
	h.firstCopy(k, row)
}

// firstCopy checks that the first copy of a change of key k was not
// appended after a watermark of its partition had covered it.
func (h *honesty) firstCopy(k int32, row *pendingRow) {
	pr := row.promise
	if h.noPromise || pr.ts < row.ts {
		return
	}
	h.lateRows++
	h.violations.add("late-row", row.atMs, "row %s commit_ts %d (epoch %d, node %s) was appended %s after its partition's watermark %d (epoch %d, node %s) promised it",
		h.keys.name(k), row.ts, row.epoch, h.nodes.name(row.node), fmtMs(row.atMs-pr.atMs), pr.ts, pr.epoch, h.nodes.name(pr.node))
}

// count fills in the check's counters.
func (h *honesty) count(counters *result.Counters) {
	counters.LateRows = h.lateRows
	counters.ValueMismatches = h.valueMismatches
	counters.WatermarkRegressions = h.regressions
}

// invariant is the check's verdict.
func (h *honesty) invariant(counters result.Counters, startMs int64) result.Invariant {
	if h.noPromise {
		return h.violations.invariant(result.WatermarkHonesty, result.Safety,
			fmt.Sprintf("%d watermarks: %s; %d rows differing from upstream, %d balance-sum violations",
				counters.Watermarks, NoWatermarkPromiseNote, counters.ValueMismatches, counters.BalanceViolations), startMs)
	}
	return h.violations.invariant(result.WatermarkHonesty, result.Safety,
		fmt.Sprintf("%d watermarks: %d rows appended after a watermark covering them, %d rows differing from upstream, %d balance-sum violations",
			counters.Watermarks, counters.LateRows, counters.ValueMismatches, counters.BalanceViolations), startMs)
}

// NoWatermarkPromiseNote is what watermark honesty's summary says when
// Config.NoWatermarkPromise is set.
const NoWatermarkPromiseNote = "watermark order not judged: the target makes no watermark promise"

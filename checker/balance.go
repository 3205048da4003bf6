package checker

import (
	"cmp"
	"slices"
)

// BalanceCheck is the balance-sum helper for bank workloads. It keeps the
// net balance change of each commit_ts (transactions whose rows have all
// arrived net to zero and are dropped, so memory stays proportional to the
// accounts and the transactions still in flight) and checks, at every
// global watermark W, that the changes committed at or before W sum to zero:
// the balances rebuilt from the topic at W add up to the initial total.
//
// Apply each account's rows in commit_ts order (the checker applies the rows
// that raise their key's commit_ts; replays and duplicates are skipped).
type BalanceCheck struct {
	net map[uint64]int64
}

// BalanceViolation is a global watermark at which the rebuilt balances do
// not add up: they differ from the initial total by Net.
type BalanceViolation struct {
	Watermark uint64
	Net       int64
}

// NewBalanceCheck returns an empty BalanceCheck.
func NewBalanceCheck() *BalanceCheck {
	return &BalanceCheck{net: make(map[uint64]int64)}
}

// Apply records that an account went from prev to next at commit_ts ts.
func (b *BalanceCheck) Apply(ts uint64, prev, next int64) {
	d := b.net[ts] + next - prev
	if d == 0 {
		delete(b.net, ts)
		return
	}
	b.net[ts] = d
}

// Check returns the watermarks (ascending, as GlobalSteps yields them) at
// which the balances do not sum to the initial total.
func (b *BalanceCheck) Check(watermarks []uint64) []BalanceViolation {
	type entry struct {
		ts  uint64
		net int64
	}
	open := make([]entry, 0, len(b.net))
	for ts, d := range b.net {
		open = append(open, entry{ts, d})
	}
	slices.SortFunc(open, func(a, b entry) int { return cmp.Compare(a.ts, b.ts) })
	var out []BalanceViolation
	var sum int64
	i := 0
	for _, w := range watermarks {
		for ; i < len(open) && open[i].ts <= w; i++ {
			sum += open[i].net
		}
		if sum != 0 {
			out = append(out, BalanceViolation{Watermark: w, Net: sum})
		}
	}
	return out
}

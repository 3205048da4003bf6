package checker

import (
	"cmp"
	"slices"
	"strconv"
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

// bankBalances feeds a BalanceCheck with the rows of the bank table: it
// keeps each account's balance after its newest row.
type bankBalances struct {
	cfg      BankConfig
	table    uint32 // the table's id
	check    *BalanceCheck
	balances []balance // indexed by key
	keys     *keyIndex
	failed   int64 // watermarks at which the balances did not add up
}

// balance is an account's balance; known is false before its first row.
type balance struct {
	value int64
	known bool
}

func newBankBalances(cfg BankConfig, keys *keyIndex) *bankBalances {
	return &bankBalances{cfg: cfg, table: keys.tables.id(cfg.Table), check: NewBalanceCheck(), keys: keys}
}

// observe applies a row of key k that raised the key's commit_ts (an
// account's rows must come in commit_ts order); rows of other tables are
// ignored, and a bank row without an integer balance is reported to input.
func (b *bankBalances) observe(k int32, r *Record, atMs int64, input *violations) {
	if b.keys.table(k) != b.table {
		return
	}
	v, ok := r.Columns[b.cfg.Column]
	next, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil {
		input.add("input", atMs, "bank row %s commit_ts %d has no integer %q column", b.keys.name(k), r.CommitTs, b.cfg.Column)
		return
	}
	bal := grownAt(&b.balances, k)
	if !bal.known && r.Op == "insert" {
		// The account is created with its opening balance while the
		// changefeed runs (the workload's setup): that creates money, it
		// moves none, so only later changes must net to zero.
		*bal = balance{value: next, known: true}
		return
	}
	prev := b.cfg.Initial
	if bal.known {
		prev = bal.value
	}
	*bal = balance{value: next, known: true}
	b.check.Apply(r.CommitTs, prev, next)
}

// finish checks the balances at every global watermark step and reports
// each violation into honesty's.
func (b *bankBalances) finish(steps []Step, into *violations) {
	ws := make([]uint64, len(steps))
	for i, s := range steps {
		ws[i] = s.Ts
	}
	for _, v := range b.check.Check(ws) {
		b.failed++
		into.add("balance", PhysicalMs(v.Watermark), "at global watermark %d the %s balances rebuilt from the topic are off by %+d",
			v.Watermark, b.cfg.Table, v.Net)
	}
}

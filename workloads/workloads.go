package workloads

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// Op is the kind of a row write.
type Op string

// Row write kinds.
const (
	OpInsert Op = "insert"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// Write is one row change inside a transaction.
type Write struct {
	Table   string            `json:"table"`
	PK      int64             `json:"pk"`
	Op      Op                `json:"op"`
	Columns map[string]string `json:"columns,omitempty"`
}

// ErrNotApplied marks a Store error that proves the transaction was not
// committed (a fail in the history). Any other error is an unknown outcome.
var ErrNotApplied = errors.New("workloads: transaction not applied")

// Store commits transactions to the upstream source.
type Store interface {
	// Commit applies writes atomically and returns the commit timestamp.
	// An error wrapping ErrNotApplied means nothing was written.
	Commit(ctx context.Context, writes []Write) (commitTs uint64, err error)
}

// Workload decides the next transaction.
type Workload interface {
	// Name is the workload's registry name.
	Name() string
	// Tables lists the tables the workload writes.
	Tables() []string
	// Setup returns the transactions that create the initial state; they
	// run before the paced load and must all succeed.
	Setup() [][]Write
	// Next returns the next transaction. ok is false when the workload has
	// nothing it can safely write right now.
	Next(r *rand.Rand) (txn []Write, ok bool)
	// Done reports the outcome of a transaction returned by Next.
	Done(txn []Write, outcome TxnOutcome)
}

// TxnOutcome is the result of one transaction.
type TxnOutcome string

// Transaction outcomes, as recorded in the history.
const (
	OutcomeOK      TxnOutcome = "ok"
	OutcomeFail    TxnOutcome = "fail"
	OutcomeUnknown TxnOutcome = "info"
)

// Classify maps a Store error to an outcome.
func Classify(err error) TxnOutcome {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrNotApplied):
		return OutcomeFail
	default:
		return OutcomeUnknown
	}
}

// New returns the named workload. Names: append, bank, hotkey.
func New(name string, opts Options) (Workload, error) {
	opts = opts.withDefaults()
	switch name {
	case "append":
		return newAppend(opts), nil
	case "bank":
		return newBank(opts), nil
	case "hotkey":
		return newHotkey(opts), nil
	default:
		return nil, fmt.Errorf("workloads: unknown workload %q (have %v)", name, Names())
	}
}

// Names lists the registered workloads.
func Names() []string { return []string{"append", "bank", "hotkey"} }

// Options tunes a workload.
type Options struct {
	Tables    int   // number of tables (default 2)
	Accounts  int   // bank: accounts (default 20)
	Balance   int64 // bank: initial balance per account (default 1000)
	HotKeys   int   // hotkey: hot keys (default 4)
	KeySpace  int64 // hotkey: all keys (default 1000)
	HotWeight int   // hotkey: percent of writes to hot keys (default 90)
	RowsPerTx int   // append: rows per transaction (default 1)
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Tables, 2)
	def(&o.Accounts, 20)
	def(&o.HotKeys, 4)
	def(&o.HotWeight, 90)
	def(&o.RowsPerTx, 1)
	if o.Balance <= 0 {
		o.Balance = 1000
	}
	if o.KeySpace <= 0 {
		o.KeySpace = 1000
	}
	o.HotWeight = min(o.HotWeight, 100)
	return o
}

func tableNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "t" + strconv.Itoa(i+1)
	}
	return out
}

// appendWL inserts rows with unique primary keys.
type appendWL struct {
	tables []string
	rows   int
	next   int64
}

func newAppend(o Options) *appendWL {
	return &appendWL{tables: tableNames(o.Tables), rows: o.RowsPerTx}
}

func (a *appendWL) Name() string     { return "append" }
func (a *appendWL) Tables() []string { return a.tables }
func (a *appendWL) Setup() [][]Write { return nil }
func (a *appendWL) Done([]Write, TxnOutcome) {
}

func (a *appendWL) Next(r *rand.Rand) ([]Write, bool) {
	txn := make([]Write, a.rows)
	for i := range txn {
		a.next++
		txn[i] = Write{
			Table:   a.tables[r.IntN(len(a.tables))],
			PK:      a.next,
			Op:      OpInsert,
			Columns: map[string]string{"v": strconv.FormatInt(a.next, 10)},
		}
	}
	return txn, true
}

// bank transfers money between accounts; the total is invariant. It writes
// absolute balances, so an account whose last write had an unknown outcome
// is never written again: its true balance is whatever the upstream holds,
// and every other write stays consistent with the truth.
type bank struct {
	table    string
	balances []int64
	frozen   []bool
	// busy marks accounts written by a transaction in flight: a second
	// transfer computed from the same stale balance would break the sum.
	busy []bool
}

// BankTable is the table the bank workload writes.
const BankTable = "accounts"

func newBank(o Options) *bank {
	b := &bank{table: BankTable, balances: make([]int64, o.Accounts), frozen: make([]bool, o.Accounts), busy: make([]bool, o.Accounts)}
	for i := range b.balances {
		b.balances[i] = o.Balance
	}
	return b
}

func (b *bank) Name() string     { return "bank" }
func (b *bank) Tables() []string { return []string{b.table} }

func (b *bank) Setup() [][]Write {
	txn := make([]Write, len(b.balances))
	for i, bal := range b.balances {
		txn[i] = Write{Table: b.table, PK: int64(i), Op: OpInsert, Columns: balanceCols(bal)}
	}
	return [][]Write{txn}
}

// Total is the invariant sum of all balances.
func (b *bank) Total() int64 {
	var s int64
	for _, v := range b.balances {
		s += v
	}
	return s
}

func balanceCols(v int64) map[string]string {
	return map[string]string{"balance": strconv.FormatInt(v, 10)}
}

func (b *bank) Next(r *rand.Rand) ([]Write, bool) {
	live := make([]int, 0, len(b.balances))
	for i, f := range b.frozen {
		if !f && !b.busy[i] {
			live = append(live, i)
		}
	}
	if len(live) < 2 {
		return nil, false
	}
	i := r.IntN(len(live))
	j := r.IntN(len(live) - 1)
	if j >= i {
		j++
	}
	from, to := live[i], live[j]
	amount := 1 + r.Int64N(10)
	b.busy[from], b.busy[to] = true, true
	// Balances may go negative: the invariant is the sum, not positivity.
	return []Write{
		{Table: b.table, PK: int64(from), Op: OpUpdate, Columns: balanceCols(b.balances[from] - amount)},
		{Table: b.table, PK: int64(to), Op: OpUpdate, Columns: balanceCols(b.balances[to] + amount)},
	}, true
}

func (b *bank) Done(txn []Write, o TxnOutcome) {
	for _, w := range txn {
		b.busy[w.PK] = false
		switch o {
		case OutcomeOK:
			v, _ := strconv.ParseInt(w.Columns["balance"], 10, 64)
			b.balances[w.PK] = v
		case OutcomeUnknown:
			b.frozen[w.PK] = true
		}
	}
}

// hotkey updates a few keys most of the time and the rest of the key space
// otherwise.
type hotkey struct {
	tables  []string
	hot     int
	space   int64
	weight  int
	version int64
	seen    map[string]bool
}

func newHotkey(o Options) *hotkey {
	return &hotkey{tables: tableNames(o.Tables), hot: o.HotKeys, space: o.KeySpace, weight: o.HotWeight, seen: map[string]bool{}}
}

func (h *hotkey) Name() string             { return "hotkey" }
func (h *hotkey) Tables() []string         { return h.tables }
func (h *hotkey) Setup() [][]Write         { return nil }
func (h *hotkey) Done([]Write, TxnOutcome) {}

func (h *hotkey) Next(r *rand.Rand) ([]Write, bool) {
	var pk int64
	if r.IntN(100) < h.weight {
		pk = int64(r.IntN(h.hot))
	} else {
		pk = int64(h.hot) + r.Int64N(max(h.space-int64(h.hot), 1))
	}
	table := h.tables[r.IntN(len(h.tables))]
	key := table + ":" + strconv.FormatInt(pk, 10)
	op := OpUpdate
	if !h.seen[key] {
		op = OpInsert
		h.seen[key] = true
	}
	h.version++
	return []Write{{Table: table, PK: pk, Op: op, Columns: map[string]string{"v": strconv.FormatInt(h.version, 10)}}}, true
}

func (s *Stats) invoked() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Invoked++
}

// Stats counts outcomes of a run.
type Stats struct {
	mu      sync.Mutex
	Invoked int64
	OK      int64
	Fail    int64
	Unknown int64
	Rows    int64
}

func (s *Stats) add(o TxnOutcome, rows int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch o {
	case OutcomeOK:
		s.OK++
		s.Rows += int64(rows)
	case OutcomeFail:
		s.Fail++
	default:
		s.Unknown++
	}
}

// Snapshot returns a copy of the counters.
func (s *Stats) Snapshot() (invoked, ok, fail, unknown, rows int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Invoked, s.OK, s.Fail, s.Unknown, s.Rows
}

// Config tells Run how to drive a workload.
type Config struct {
	Rate     float64       // transactions per second; <= 0 means unpaced
	Workers  int           // concurrent senders (default 4)
	Seed     uint64        // seed of the choices
	Timeout  time.Duration // per-transaction timeout (default 2 s)
	History  *History      // where events go; may be nil
	Stats    *Stats        // counters; may be nil
	Duration time.Duration // stop after this long; 0 = until ctx is done
}

// Run applies w's setup, then paces transactions into s until ctx is done or
// cfg.Duration elapses. It returns an error only if the setup fails.
func Run(ctx context.Context, w Workload, s Store, cfg Config) error {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Stats == nil {
		cfg.Stats = &Stats{}
	}
	for i, txn := range w.Setup() {
		if _, err := s.Commit(ctx, txn); err != nil {
			return fmt.Errorf("workloads: %s setup transaction %d: %w", w.Name(), i, err)
		}
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	jobs := make(chan job)
	results := make(chan result, cfg.Workers)
	var wg sync.WaitGroup
	for worker := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				results <- runOne(ctx, s, cfg, worker, j)
			}
		}()
	}
	go func() {
		wg.Wait()
		close(results)
	}()

	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	start := time.Now()
	var issued int64
	var next *job
	for {
		if next == nil && ctx.Err() == nil {
			if txn, ok := w.Next(r); ok {
				next = &job{txn: txn, id: issued + 1}
			}
		}
		var pace <-chan time.Time
		var send chan<- job
		var cur job
		if next != nil {
			if d := time.Until(start.Add(time.Duration(issued) * interval)); d > 0 {
				pace = time.After(d)
			} else {
				send, cur = jobs, *next
			}
		}
		select {
		case send <- cur:
			issued++
			cfg.Stats.invoked()
			next = nil
		case <-pace:
		case res := <-results:
			w.Done(res.txn, res.outcome)
		case <-ctx.Done():
			close(jobs)
			for res := range results {
				w.Done(res.txn, res.outcome)
			}
			return nil
		}
	}
}

type job struct {
	txn []Write
	id  int64
}

type result struct {
	job
	outcome TxnOutcome
}

// runOne sends one transaction and records its invoke and completion.
func runOne(ctx context.Context, s Store, cfg Config, worker int, j job) result {
	cfg.History.Record(Event{Type: "invoke", Worker: worker, TxnID: j.id, Writes: j.txn})
	// NB: a transaction in flight when the run stops still gets its full
	// timeout, so its outcome is known rather than cut short.
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Timeout)
	ts, err := s.Commit(tctx, j.txn)
	cancel()
	o := Classify(err)
	ev := Event{Type: string(o), Worker: worker, TxnID: j.id, CommitTs: ts}
	if err != nil {
		ev.Err = err.Error()
	}
	cfg.History.Record(ev)
	cfg.Stats.add(o, len(j.txn))
	return result{job: j, outcome: o}
}

package workloads

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memStore is an in-memory upstream stand-in for workload logic tests. It
// fails a seeded share of commits: some provably (not applied), some with
// an unknown outcome that was in fact applied, some unknown and not applied.
type memStore struct {
	mu   sync.Mutex
	rows map[string]map[string]string
	ts   uint64
	r    *rand.Rand
	bad  int // percent of commits that fail
}

func newMemStore(seed uint64, badPercent int) *memStore {
	return &memStore{rows: map[string]map[string]string{}, r: rand.New(rand.NewPCG(seed, 1)), bad: badPercent}
}

var errUnknown = errors.New("connection reset")

func (m *memStore) Commit(_ context.Context, ws []Write) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	roll := m.r.IntN(100)
	if roll < m.bad/3 {
		return 0, ErrNotApplied
	}
	if roll < 2*m.bad/3 {
		return 0, errUnknown // not applied, but the client cannot know
	}
	for _, w := range ws {
		k := w.Table + ":" + strconv.FormatInt(w.PK, 10)
		if w.Op == OpDelete {
			delete(m.rows, k)
		} else {
			m.rows[k] = w.Columns
		}
	}
	m.ts++
	if roll < m.bad {
		return 0, errUnknown // applied, outcome lost
	}
	return m.ts, nil
}

func (m *memStore) sum(col string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var s int64
	for _, r := range m.rows {
		v, _ := strconv.ParseInt(r[col], 10, 64)
		s += v
	}
	return s
}

func TestBankConservesTotalInMemoryStore(t *testing.T) {
	for _, bad := range []int{0, 30} {
		st := newMemStore(7, bad)
		w, err := New("bank", Options{Accounts: 200, Balance: 100})
		require.NoError(t, err)
		var stats Stats
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, w, st, Config{Workers: 8, Seed: 3, Stats: &stats}) }()
		require.Eventually(t, func() bool { _, ok, _, _, _ := stats.Snapshot(); return ok > 200 }, 10*time.Second, 5*time.Millisecond)
		cancel()
		require.NoError(t, <-done)
		assert.Equal(t, int64(200*100), st.sum("balance"), "bad=%d%%", bad)
		inv, ok, fail, unk, _ := stats.Snapshot()
		assert.Equal(t, inv, ok+fail+unk, "every invoke completes")
		if bad > 0 {
			assert.Positive(t, fail)
			assert.Positive(t, unk)
		}
	}
}

func TestBankWithoutGuardsWouldBreakTheSum(t *testing.T) {
	// The guard matters: a naive transfer from a stale balance loses money.
	b := newBank(Options{Accounts: 2, Balance: 100}.withDefaults())
	r := rand.New(rand.NewPCG(1, 1))
	t1, ok := b.Next(r)
	require.True(t, ok)
	_, ok = b.Next(r)
	assert.False(t, ok, "both accounts are busy: a second transfer must wait")
	b.Done(t1, OutcomeUnknown)
	_, ok = b.Next(r)
	assert.False(t, ok, "accounts with unknown outcomes are frozen")
}

func TestAppendUniqueKeysAndHistory(t *testing.T) {
	st := newMemStore(1, 0)
	w, err := New("append", Options{Tables: 3, RowsPerTx: 2})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "history.jsonl")
	h, err := CreateHistory(path)
	require.NoError(t, err)
	var stats Stats
	require.NoError(t, Run(context.Background(), w, st, Config{Workers: 4, Seed: 1, History: h, Stats: &stats, Duration: 200 * time.Millisecond}))
	require.NoError(t, h.Close())
	evs, err := ReadHistory(path)
	require.NoError(t, err)
	inv, ok, _, _, rows := stats.Snapshot()
	require.Positive(t, ok)
	assert.Equal(t, 2*inv, int64(len(evs)))
	assert.Equal(t, rows, int64(len(st.rows)), "every row has a unique key")
	seen := map[int64]bool{}
	for _, ev := range evs {
		for _, wr := range ev.Writes {
			assert.False(t, seen[wr.PK], "pk %d written twice", wr.PK)
			seen[wr.PK] = true
		}
	}
	for i := 1; i < len(evs); i++ {
		assert.Equal(t, evs[i-1].Seq+1, evs[i].Seq)
	}
}

func TestRatePacesTransactions(t *testing.T) {
	st := newMemStore(1, 0)
	w, err := New("hotkey", Options{})
	require.NoError(t, err)
	var stats Stats
	require.NoError(t, Run(context.Background(), w, st, Config{Rate: 100, Workers: 4, Seed: 2, Stats: &stats, Duration: 500 * time.Millisecond}))
	inv, _, _, _, _ := stats.Snapshot()
	// Paced at 100/s for 0.5 s: at most 51 issued (the first is due at once).
	assert.LessOrEqual(t, inv, int64(51))
	assert.Positive(t, inv)
}

func TestHotkeyConcentratesOnHotKeys(t *testing.T) {
	w := newHotkey(Options{HotKeys: 2, KeySpace: 1000, HotWeight: 90, Tables: 1}.withDefaults())
	r := rand.New(rand.NewPCG(5, 5))
	hot := 0
	for range 10000 {
		txn, ok := w.Next(r)
		require.True(t, ok)
		if txn[0].PK < 2 {
			hot++
		}
	}
	assert.InDelta(t, 9000, hot, 300)
}

func TestUnknownWorkload(t *testing.T) {
	_, err := New("nope", Options{})
	require.ErrorContains(t, err, `unknown workload "nope"`)
}

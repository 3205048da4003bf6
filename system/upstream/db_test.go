package upstream

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/internal/logtest"
)

func TestCommitSemantics(t *testing.T) {
	c, _ := serve(t, t.TempDir(), "t1", "t2")
	ctx := testCtx(t, 30*time.Second)

	ts1, err := c.Commit(ctx, ins("t1", 1, map[string]Value{"a": Str("x"), "n": Int(1)}), ins("t2", 1, nil))
	require.NoError(t, err)
	ts2, err := c.Commit(ctx, upd("t1", 1, map[string]Value{"n": Int(2)}))
	require.NoError(t, err)
	require.Greater(t, ts2, ts1)

	rows, readTs, err := c.Snapshot(ctx, WholeTable("t1"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, readTs, ts2)
	require.Equal(t, []Row{{PK: 1, Columns: map[string]Value{"a": Str("x"), "n": Int(2)}, CommitTs: ts2}}, rows, "update merges columns")

	for _, tc := range []struct {
		name string
		ws   []Write
		want error
	}{
		{"duplicate insert", []Write{ins("t1", 1, nil)}, ErrDuplicateKey},
		{"update missing", []Write{upd("t1", 99, nil)}, ErrRowNotFound},
		{"delete missing", []Write{del("t1", 99)}, ErrRowNotFound},
		{"unknown table", []Write{ins("nope", 1, nil)}, ErrUnknownTable},
		{"empty txn", nil, ErrInvalid},
		{"bad op", []Write{{Table: "t1", PK: 5}}, ErrInvalid},
		{"row twice", []Write{ins("t1", 5, nil), upd("t1", 5, nil)}, ErrInvalid},
		{"stale expect", []Write{{Table: "t1", PK: 1, Op: OpUpdate, ExpectCommitTs: u64(ts1)}}, ErrConflict},
		{"expect absent", []Write{{Table: "t1", PK: 1, Op: OpUpdate, ExpectCommitTs: u64(0)}}, ErrConflict},
		// The second write fails, so the first must not be applied either.
		{"atomic", []Write{ins("t1", 7, nil), ins("t2", 1, nil)}, ErrDuplicateKey},
	} {
		_, err := c.Commit(ctx, tc.ws...)
		require.ErrorIs(t, err, tc.want, tc.name)
	}
	rows, _, err = c.Snapshot(ctx, Span{Table: "t1", StartPK: 7, EndPK: 8})
	require.NoError(t, err)
	require.Empty(t, rows, "an aborted transaction leaves nothing")

	ts3, err := c.Commit(ctx, Write{Table: "t1", PK: 1, Op: OpDelete, ExpectCommitTs: u64(ts2)})
	require.NoError(t, err)
	tables, err := c.Tables(ctx)
	require.NoError(t, err)
	require.Equal(t, []TableInfo{{Name: "t1", Rows: 0}, {Name: "t2", Rows: 1}}, tables)

	got, err := ReadChangeLog(filepath.Join(t.TempDir(), "missing"))
	require.Error(t, err)
	require.Nil(t, got)

	gts, err := c.GetTS(ctx)
	require.NoError(t, err)
	require.Greater(t, gts, ts3)
}

// feedRecorder collects a feed and checks its promises as it goes.
type feedRecorder struct {
	span     Span
	rows     []Change
	resolved []uint64
	err      error
}

// runFeed reads a feed until its resolved ts reaches until (or ctx ends).
func runFeed(ctx context.Context, c *Client, span Span, startTs uint64, until func() uint64) *feedRecorder {
	r := &feedRecorder{span: span}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f, err := c.EventFeed(ctx, span, startTs)
	if err != nil {
		r.err = err
		return r
	}
	var lastResolved, lastRow uint64 = startTs, 0
	for {
		ev, err := f.Recv()
		if err != nil {
			r.err = err
			return r
		}
		for _, ch := range ev.Rows {
			switch {
			case ch.CommitTs <= lastResolved:
				r.err = errors.New("dishonest resolved ts: row at or below an earlier resolved ts")
			case ch.CommitTs < lastRow:
				r.err = errors.New("rows out of commit ts order")
			case !span.Contains(ch.PK) || ch.Table != span.Table:
				r.err = errors.New("row outside the span")
			}
			if r.err != nil {
				return r
			}
			lastRow = ch.CommitTs
			r.rows = append(r.rows, ch)
		}
		if ev.ResolvedTs != 0 {
			if ev.ResolvedTs <= lastResolved {
				r.err = errors.New("resolved ts not increasing")
				return r
			}
			lastResolved = ev.ResolvedTs
			r.resolved = append(r.resolved, ev.ResolvedTs)
			if u := until(); u != 0 && lastResolved >= u {
				return r
			}
		}
	}
}

func expectedFor(log []Change, span Span, startTs uint64) []Change {
	var out []Change
	for _, c := range log {
		if c.Table == span.Table && span.Contains(c.PK) && c.CommitTs > startTs {
			out = append(out, c)
		}
	}
	return out
}

func TestFeedOrderingResolvedHonestUnderConcurrency(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	dir := t.TempDir()
	c, stop := serve(t, dir, "t1", "t2")
	ctx := testCtx(t, 90*time.Second)

	spans := []Span{WholeTable("t1"), {Table: "t1", StartPK: 0, EndPK: 50}, {Table: "t2", StartPK: 25, EndPK: 75}, WholeTable("t2")}
	var (
		mu    sync.Mutex
		maxTs uint64
		done  = make(chan struct{})
	)
	until := func() uint64 {
		select {
		case <-done:
			mu.Lock()
			defer mu.Unlock()
			return maxTs
		default:
			return 0
		}
	}
	recs := make([]*feedRecorder, len(spans))
	var feeds sync.WaitGroup
	for i, sp := range spans {
		feeds.Go(func() { recs[i] = runFeed(ctx, c, sp, 0, until) })
	}

	const writers, txns = 8, 150
	var wg sync.WaitGroup
	for w := range writers {
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		wg.Go(func() {
			for i := range txns {
				var ws []Write
				for j := range 1 + rng.IntN(3) {
					tbl := []string{"t1", "t2"}[rng.IntN(2)]
					pk := int64(w*100_000 + i*10 + j)
					if rng.IntN(2) == 0 {
						pk = int64(rng.IntN(100)) // shared hot keys: inserts may collide
					}
					ws = append(ws, Write{Table: tbl, PK: pk, Op: OpInsert, Columns: map[string]Value{"w": Int(int64(w)), "i": Int(int64(i))}})
				}
				ts, err := c.Commit(ctx, ws...)
				if errors.Is(err, ErrDuplicateKey) || errors.Is(err, ErrInvalid) {
					continue
				}
				if err != nil {
					t.Errorf("commit: %v", err)
					return
				}
				mu.Lock()
				maxTs = max(maxTs, ts)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(done)
	feeds.Wait()

	log, err := ReadChangeLog(filepath.Join(dir, ChangeLogFile))
	require.NoError(t, err)
	require.NotEmpty(t, log)
	for i, r := range recs {
		require.NoError(t, r.err, "feed %s", spans[i])
		require.Equal(t, expectedFor(log, spans[i], 0), r.rows, "feed %s delivers exactly the log's changes", spans[i])
		require.NotEmpty(t, r.resolved)
	}

	// A late feed from the middle replays only what follows start ts.
	mid := log[len(log)/2].CommitTs
	r := runFeed(ctx, c, WholeTable("t1"), mid, func() uint64 { return maxTs })
	require.NoError(t, r.err)
	require.Equal(t, expectedFor(log, WholeTable("t1"), mid), r.rows)

	stop()
}

func TestBankTransfersKeepTotal(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	dir := t.TempDir()
	c, stop := serve(t, dir, "accounts")
	ctx := testCtx(t, 60*time.Second)
	const accounts, initial = 10, 100
	var init []Write
	for pk := range int64(accounts) {
		init = append(init, ins("accounts", pk, map[string]Value{"balance": Int(initial)}))
	}
	_, err := c.Commit(ctx, init...)
	require.NoError(t, err)

	var wg sync.WaitGroup
	var mu sync.Mutex
	conflicts, ok := 0, 0
	for w := range 6 {
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		wg.Go(func() {
			for range 60 {
				from, to := int64(rng.IntN(accounts)), int64(rng.IntN(accounts))
				if from == to {
					continue
				}
				rows, _, err := c.Snapshot(ctx, WholeTable("accounts"))
				if err != nil {
					t.Error(err)
					return
				}
				bf, _ := rows[from].Columns["balance"].Int64()
				bt, _ := rows[to].Columns["balance"].Int64()
				amt := int64(rng.IntN(10))
				_, err = c.Commit(ctx,
					Write{Table: "accounts", PK: from, Op: OpUpdate, Columns: map[string]Value{"balance": Int(bf - amt)}, ExpectCommitTs: u64(rows[from].CommitTs)},
					Write{Table: "accounts", PK: to, Op: OpUpdate, Columns: map[string]Value{"balance": Int(bt + amt)}, ExpectCommitTs: u64(rows[to].CommitTs)},
				)
				mu.Lock()
				switch {
				case errors.Is(err, ErrConflict):
					conflicts++
				case err != nil:
					t.Error(err)
				default:
					ok++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("transfers: %d ok, %d conflicts", ok, conflicts)
	require.Positive(t, ok)

	// Replaying the change log gives the same invariant.
	stop()
	log, err := ReadChangeLog(filepath.Join(dir, ChangeLogFile))
	require.NoError(t, err)
	bal := map[int64]int64{}
	for _, ch := range log {
		b, _ := ch.Columns["balance"].Int64()
		bal[ch.PK] = b
	}
	var total int64
	for _, b := range bal {
		total += b
	}
	require.Equal(t, int64(accounts*initial), total)
}

func TestRestartRecoversFromLog(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t, 30*time.Second)
	db, err := Open(ctx, Config{Dir: dir, Tables: []string{"t1"}, Logger: logtest.New(t)})
	require.NoError(t, err)
	var last uint64
	for i := range int64(20) {
		last, err = db.Commit(ctx, []Write{ins("t1", i, map[string]Value{"v": Int(i)})})
		require.NoError(t, err)
	}
	_, err = db.Commit(ctx, []Write{del("t1", 3), upd("t1", 4, map[string]Value{"s": Str("four")})})
	require.NoError(t, err)
	before, _, err := db.Snapshot(WholeTable("t1"))
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "Close is idempotent")
	_, err = db.Commit(ctx, []Write{ins("t1", 100, nil)})
	require.ErrorIs(t, err, ErrClosed)

	// A torn tail (a write cut by a crash) is ignored and truncated.
	f, err := os.OpenFile(filepath.Join(dir, ChangeLogFile), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"commit_ts":99999999999999999,"rows":[{"tab`)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	log, err := ReadChangeLog(filepath.Join(dir, ChangeLogFile))
	require.NoError(t, err)
	require.Len(t, log, 22)

	db2, err := Open(ctx, Config{Dir: dir, Logger: logtest.New(t)})
	require.NoError(t, err)
	defer db2.Close()
	after, readTs, err := db2.Snapshot(WholeTable("t1"))
	require.NoError(t, err)
	require.Equal(t, before, after)
	require.Greater(t, readTs, last)
	next, err := db2.Commit(ctx, []Write{ins("t1", 100, nil)})
	require.NoError(t, err)
	require.Greater(t, next, readTs, "no ts reused after restart")

	var replay []Change
	fctx, cancel := context.WithCancel(ctx)
	err = db2.Feed(fctx, WholeTable("t1"), 0, func(ev FeedEvent) error {
		replay = append(replay, ev.Rows...)
		if ev.ResolvedTs >= next {
			cancel()
		}
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, replay, 23)
}

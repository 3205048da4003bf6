package upstream

import (
	"context"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/internal/proctest"
)

type ackedTxn struct {
	ts     uint64
	writes []Write
}

// TestChangeLogSurvivesSIGKILL runs the upstream role as its own OS process,
// kills it with SIGKILL under write load, and checks that every
// acknowledged commit is in the change log, and that a restart on the same
// dir recovers exactly the logged state and never reuses a ts.
func TestChangeLogSurvivesSIGKILL(t *testing.T) {
	bin := proctest.BuildOrSkip(t)
	dir := t.TempDir()
	ctx := testCtx(t, 2*time.Minute)

	p := proctest.Start(t, bin, "upstream", "--dir", dir, "--listen", "127.0.0.1:0", "--tables", "2")
	acked := commitUntilKilled(ctx, t, p, 300)
	log, err := ReadChangeLog(filepath.Join(dir, ChangeLogFile))
	require.NoError(t, err)
	checkAckedLogged(t, acked, log)

	// Restart on the same dir.
	p2 := proctest.Start(t, bin, "upstream", "--dir", dir, "--tables", "2")
	c2, err := Dial(ctx, p2.Ready("addr"))
	require.NoError(t, err)
	defer c2.Close()
	ts := checkRecovered(ctx, t, c2, log)
	checkReplay(ctx, t, c2, log, ts)

	// SIGTERM is a clean shutdown.
	require.NoError(t, p2.Signal(syscall.SIGTERM))
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	assert.NoError(t, p2.Wait(wctx), "output:\n%s", p2.Stderr())

	_, err = Dial(testCtx(t, 500*time.Millisecond), p2.Ready("addr"))
	assert.ErrorIs(t, err, context.DeadlineExceeded, "nothing listens after shutdown")
}

// commitUntilKilled commits from four writers to the upstream p until at
// least n commits are acknowledged, kills p with SIGKILL mid-load and
// returns the acknowledged commits.
func commitUntilKilled(ctx context.Context, t *testing.T, p *proctest.Proc, n int) []ackedTxn {
	t.Helper()
	c, err := Dial(ctx, p.Ready("addr"))
	require.NoError(t, err)
	defer c.Close()
	var (
		mu    sync.Mutex
		acked []ackedTxn
		wg    sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			for i := int64(0); ; i++ {
				ws := []Write{
					ins("t1", int64(w)<<32|i, map[string]Value{"w": Int(int64(w)), "s": Str("row")}),
					ins("t2", int64(w)<<32|i, map[string]Value{"i": Int(i)}),
				}
				ts, err := c.Commit(ctx, ws...)
				if err != nil {
					return // the server died: this commit's outcome is unknown
				}
				mu.Lock()
				acked = append(acked, ackedTxn{ts, ws})
				mu.Unlock()
			}
		})
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= n
	}, 60*time.Second, 10*time.Millisecond)
	p.Kill()
	wg.Wait()
	return acked
}

// checkAckedLogged checks that every acknowledged commit is in the change
// log, whole. It reports the first one that is not.
func checkAckedLogged(t *testing.T, acked []ackedTxn, log []Change) {
	t.Helper()
	byTs := map[uint64][]Change{}
	for _, ch := range log {
		byTs[ch.CommitTs] = append(byTs[ch.CommitTs], ch)
	}
	for _, a := range acked {
		want := make([]Change, len(a.writes))
		for i, w := range a.writes {
			want[i] = Change{CommitTs: a.ts, Table: w.Table, PK: w.PK, Op: OpInsert, Columns: w.Columns}
		}
		if !assert.Equal(t, want, byTs[a.ts], "acked commit %d in the change log", a.ts) {
			return
		}
	}
	t.Logf("%d acked, %d transactions in the log (the rest had unknown outcomes)", len(acked), len(byTs))
}

// checkRecovered checks that c, an upstream restarted on the log's
// directory, holds exactly the logged rows and never reuses a logged ts. It
// returns the ts of a new commit.
func checkRecovered(ctx context.Context, t *testing.T, c *Client, log []Change) uint64 {
	t.Helper()
	want := map[string]map[int64]map[string]Value{"t1": {}, "t2": {}}
	for _, ch := range log {
		want[ch.Table][ch.PK] = ch.Columns
	}
	var maxLogged uint64
	if len(log) > 0 {
		maxLogged = log[len(log)-1].CommitTs
	}
	for tbl, rows := range want {
		got, readTs, err := c.Snapshot(ctx, WholeTable(tbl))
		require.NoError(t, err)
		assert.Greater(t, readTs, maxLogged)
		gotRows := map[int64]map[string]Value{}
		for _, r := range got {
			gotRows[r.PK] = r.Columns
		}
		assert.Equal(t, rows, gotRows, "table %s recovered from the log", tbl)
	}
	ts, err := c.Commit(ctx, ins("t1", -1, nil))
	require.NoError(t, err)
	assert.Greater(t, ts, maxLogged, "no ts reused after a SIGKILL restart")
	return ts
}

// checkReplay checks that a feed of t2 from 0 replays the log up to the
// commit at ts.
func checkReplay(ctx context.Context, t *testing.T, c *Client, log []Change, ts uint64) {
	t.Helper()
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f, err := c.EventFeed(fctx, WholeTable("t2"), 0)
	require.NoError(t, err)
	var replay []Change
	for {
		ev, err := f.Recv()
		require.NoError(t, err)
		replay = append(replay, ev.Rows...)
		if ev.ResolvedTs >= ts {
			break
		}
	}
	assert.Equal(t, expectedFor(log, WholeTable("t2"), 0), replay)
}

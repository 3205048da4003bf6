package upstream

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

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
	if testing.Short() {
		t.Skip("builds and runs the chaosrun binary")
	}
	bin := proctest.Build(t)
	dir := t.TempDir()
	ctx := testCtx(t, 2*time.Minute)

	p := proctest.Start(t, bin, "upstream", "--dir", dir, "--listen", "127.0.0.1:0", "--tables", "2")
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
		return len(acked) >= 300
	}, 60*time.Second, 10*time.Millisecond)
	p.Kill() // SIGKILL mid-load
	wg.Wait()

	log, err := ReadChangeLog(filepath.Join(dir, ChangeLogFile))
	require.NoError(t, err)
	byTs := map[uint64][]Change{}
	for _, ch := range log {
		byTs[ch.CommitTs] = append(byTs[ch.CommitTs], ch)
	}
	for _, a := range acked {
		got := byTs[a.ts]
		require.Len(t, got, len(a.writes), "acked commit %d missing from the change log", a.ts)
		for i, w := range a.writes {
			require.Equal(t, Change{CommitTs: a.ts, Table: w.Table, PK: w.PK, Op: OpInsert, Columns: w.Columns}, got[i])
		}
	}
	t.Logf("%d acked, %d transactions in the log (the rest had unknown outcomes)", len(acked), len(byTs))

	// Restart on the same dir.
	p2 := proctest.Start(t, bin, "upstream", "--dir", dir, "--tables", "2")
	c2, err := Dial(ctx, p2.Ready("addr"))
	require.NoError(t, err)
	defer c2.Close()

	want := map[string]map[int64]map[string]Value{"t1": {}, "t2": {}}
	for _, ch := range log {
		want[ch.Table][ch.PK] = ch.Columns
	}
	var maxLogged uint64
	if len(log) > 0 {
		maxLogged = log[len(log)-1].CommitTs
	}
	for tbl, rows := range want {
		got, readTs, err := c2.Snapshot(ctx, WholeTable(tbl))
		require.NoError(t, err)
		require.Greater(t, readTs, maxLogged)
		gotRows := map[int64]map[string]Value{}
		for _, r := range got {
			gotRows[r.PK] = r.Columns
		}
		require.Equal(t, rows, gotRows, "table %s recovered from the log", tbl)
	}
	ts, err := c2.Commit(ctx, ins("t1", -1, nil))
	require.NoError(t, err)
	require.Greater(t, ts, maxLogged, "no ts reused after a SIGKILL restart")

	// A feed from 0 replays the log and then the new commit.
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f, err := c2.EventFeed(fctx, WholeTable("t2"), 0)
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
	require.Equal(t, expectedFor(log, WholeTable("t2"), 0), replay)
	cancel()

	// SIGTERM is a clean shutdown.
	require.NoError(t, p2.Signal(syscall.SIGTERM))
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	require.NoError(t, p2.Wait(wctx), "stderr:\n%s", p2.Stderr())

	_, err = Dial(testCtx(t, 500*time.Millisecond), p2.Ready("addr"))
	require.True(t, errors.Is(err, context.DeadlineExceeded), "nothing listens after shutdown: %v", err)
}

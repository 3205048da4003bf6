package pgstore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/system/upstream"
	"github.com/chaosrun/chaosrun/target/debezium/pg"
	"github.com/chaosrun/chaosrun/target/debezium/pg/pgtest"
	"github.com/chaosrun/chaosrun/workloads"
)

func TestCommitAndChangeLog(t *testing.T) {
	srv := pgtest.Start(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, srv.DSN(pg.Database), []string{"t1", "t2"})
	require.NoError(t, err)
	defer s.Close()
	_, err = Open(ctx, srv.DSN(pg.Database), []string{"t1", "t2"}) // idempotent
	require.NoError(t, err)

	txns := [][]workloads.Write{
		{{Table: "t1", PK: 1, Op: workloads.OpInsert, Columns: map[string]string{"v": "1", "w": "a"}},
			{Table: "t2", PK: 7, Op: workloads.OpInsert, Columns: map[string]string{"balance": "1000"}}},
		{{Table: "t1", PK: 1, Op: workloads.OpUpdate, Columns: map[string]string{"v": "2"}}},
		{{Table: "t2", PK: 7, Op: workloads.OpDelete}},
		{{Table: "t1", PK: 2, Op: workloads.OpInsert, Columns: map[string]string{"v": "x"}}},
	}
	var last uint64
	for i, txn := range txns {
		ts, err := s.Commit(ctx, txn)
		require.NoError(t, err, "txn %d", i)
		require.Greater(t, ts, last, "txn %d: commit ts increase", i)
		require.WithinDuration(t, time.Now(), checker.Physical(ts), 5*time.Second, "the physical part is the wall clock")
		last = ts
	}

	// Definite failures: nothing written.
	for _, bad := range [][]workloads.Write{
		{{Table: "t1", PK: 1, Op: workloads.OpInsert, Columns: map[string]string{"v": "dup"}}},
		{{Table: "t1", PK: 3, Op: workloads.OpInsert, Columns: map[string]string{"v": "3"}},
			{Table: "t1", PK: 99, Op: workloads.OpUpdate, Columns: map[string]string{"v": "none"}}},
		{{Table: "t2", PK: 99, Op: workloads.OpDelete}},
		{{Table: "nosuch", PK: 1, Op: workloads.OpInsert}},
		nil,
	} {
		_, err := s.Commit(ctx, bad)
		require.ErrorIs(t, err, workloads.ErrNotApplied, "%v", bad)
		require.Equal(t, workloads.OutcomeFail, workloads.Classify(err))
	}

	// An unknown outcome that did commit, and one that did not, resolved
	// at WriteChangeLog.
	ts, err := s.Commit(ctx, []workloads.Write{{Table: "t1", PK: 4, Op: workloads.OpInsert, Columns: map[string]string{"v": "4"}}})
	require.NoError(t, err)
	s.mu.Lock()
	committed := s.committed[len(s.committed)-1]
	s.committed = s.committed[:len(s.committed)-1]
	committed.ts = 0
	s.unknown = append(s.unknown, committed)
	s.mu.Unlock()
	tx, err := s.pool.Begin(ctx)
	require.NoError(t, err)
	aborted, err := apply(ctx, tx, []workloads.Write{{Table: "t1", PK: 5, Op: workloads.OpInsert, Columns: map[string]string{"v": "5"}}})
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	s.addUnknown(aborted)

	path := filepath.Join(t.TempDir(), "changelog.jsonl")
	require.NoError(t, s.WriteChangeLog(ctx, path))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	t.Logf("change log:\n%s", raw)

	changes, err := upstream.ReadChangeLog(path)
	require.NoError(t, err, "the upstream's reader takes it (strictly increasing commit ts)")
	type got struct {
		table string
		pk    int64
		op    string
		cols  map[string]string
	}
	var rows []got
	for _, c := range changes {
		cols := map[string]string{}
		for k, v := range c.Columns {
			sv, ok := v.Str()
			require.True(t, ok, "columns are strings")
			cols[k] = sv
		}
		rows = append(rows, got{c.Table, c.PK, c.Op.String(), cols})
	}
	assert.Equal(t, []got{
		{"t1", 1, "insert", map[string]string{"v": "1", "w": "a"}},
		{"t2", 7, "insert", map[string]string{"balance": "1000"}},
		{"t1", 1, "update", map[string]string{"v": "2", "w": "a"}}, // merged, full image
		{"t2", 7, "delete", map[string]string{"balance": "1000"}},  // the image before
		{"t1", 2, "insert", map[string]string{"v": "x"}},
		{"t1", 4, "insert", map[string]string{"v": "4"}}, // the resolved unknown
	}, rows)
	require.Equal(t, ts, changes[len(changes)-1].CommitTs, "the resolved ts is the one Commit returned")

	// The checker's reader takes it too.
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var n int
	require.NoError(t, checker.ReadChangeLog(f, func(c checker.Change) error {
		n++
		return nil
	}))
	require.Equal(t, len(rows), n)
}

func TestEqualCommitTsShareALine(t *testing.T) {
	s := &Store{committed: []txn{
		{ts: 20, rows: []row{{Table: "t1", PK: 2, Op: workloads.OpInsert}}},
		{ts: 10, rows: []row{{Table: "t1", PK: 1, Op: workloads.OpInsert}}},
		{ts: 20, rows: []row{{Table: "t1", PK: 3, Op: workloads.OpInsert}}},
	}}
	path := filepath.Join(t.TempDir(), "changelog.jsonl")
	require.NoError(t, s.WriteChangeLog(context.Background(), path))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, `{"commit_ts":10,"rows":[{"table":"t1","pk":1,"op":"insert"}]}
{"commit_ts":20,"rows":[{"table":"t1","pk":2,"op":"insert"},{"table":"t1","pk":3,"op":"insert"}]}
`, string(raw))
}

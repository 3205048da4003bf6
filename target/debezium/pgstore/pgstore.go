// Package pgstore is the workloads' Store over PostgreSQL for the Debezium
// target, and the writer of the upstream change log the checker compares
// Debezium's output with.
//
// Every workload table is (pk bigint PRIMARY KEY, cols jsonb) with REPLICA
// IDENTITY FULL, so Debezium's delete events carry the old row. A commit's
// ts is its PostgreSQL commit timestamp (track_commit_timestamp) mapped by
// evidence.TSOMicros, the same mapping the decoder applies to Debezium's
// source.ts_us.
//
// NB: PostgreSQL takes a commit's timestamp just before it writes the
// commit record, so two concurrent commits can reach the WAL (the order
// Debezium emits) in the opposite order of their timestamps.
package pgstore

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/workloads"
)

// HeartbeatTable is the table Debezium's heartbeat.action.query writes, so
// the slot advances while the workload is idle.
const HeartbeatTable = "chaosrun_heartbeat"

// Store commits workload transactions to PostgreSQL and remembers what
// committed. Safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool

	mu        sync.Mutex
	committed []txn // in the order the commits returned
	unknown   []txn // COMMIT sent, outcome not seen; resolved by WriteChangeLog
}

// txn is one transaction with the row images it wrote.
type txn struct {
	xid  int64 // 32-bit transaction id (txid_current() modulo 2^32)
	ts   uint64
	rows []row
}

// row is one line of a change log transaction (system/upstream's rowRecord).
type row struct {
	Table   string            `json:"table"`
	PK      int64             `json:"pk"`
	Op      workloads.Op      `json:"op"`
	Columns map[string]string `json:"columns,omitempty"`
}

// Open connects to dsn and creates the tables (and the heartbeat table)
// unless they exist, owned by the connecting user.
func Open(ctx context.Context, dsn string, tables []string) (*Store, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	for _, t := range tables {
		id := pgx.Identifier{t}.Sanitize()
		for _, q := range []string{
			"CREATE TABLE IF NOT EXISTS " + id + " (pk bigint PRIMARY KEY, cols jsonb NOT NULL)",
			// Deletes and updates then carry the whole old row (G6).
			"ALTER TABLE " + id + " REPLICA IDENTITY FULL",
		} {
			if _, err := pool.Exec(ctx, q); err != nil {
				pool.Close()
				return nil, fmt.Errorf("pgstore: table %s: %w", t, err)
			}
		}
	}
	q := "CREATE TABLE IF NOT EXISTS " + HeartbeatTable + " (id int PRIMARY KEY, ts timestamptz NOT NULL)"
	if _, err := pool.Exec(ctx, q); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: table %s: %w", HeartbeatTable, err)
	}
	return &Store{pool: pool}, nil
}

// Close closes the connections.
func (s *Store) Close() { s.pool.Close() }

// Commit implements workloads.Store: one transaction with one statement per
// write. An insert of an existing key, or an update or delete of a missing
// row, fails the transaction. Errors before COMMIT was sent wrap
// workloads.ErrNotApplied; an error of COMMIT or after it is an unknown
// outcome (WriteChangeLog resolves it).
func (s *Store) Commit(ctx context.Context, writes []workloads.Write) (uint64, error) {
	if len(writes) == 0 {
		return 0, fmt.Errorf("pgstore: empty transaction: %w", workloads.ErrNotApplied)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("pgstore: begin: %w: %w", workloads.ErrNotApplied, err)
	}
	t, err := apply(ctx, tx, writes)
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return 0, fmt.Errorf("pgstore: %w: %w", workloads.ErrNotApplied, err)
	}
	if err := tx.Commit(ctx); err != nil {
		s.addUnknown(t)
		return 0, fmt.Errorf("pgstore: commit of xid %d, outcome unknown: %w", t.xid, err)
	}
	at, ok, err := s.commitTime(ctx, t.xid)
	if err == nil && !ok {
		err = errors.New("no commit timestamp")
	}
	if err != nil {
		// Committed, but without its ts the history cannot say when.
		s.addUnknown(t)
		return 0, fmt.Errorf("pgstore: commit timestamp of xid %d: %w", t.xid, err)
	}
	t.ts = evidence.TSOMicros(at)
	s.mu.Lock()
	s.committed = append(s.committed, t)
	s.mu.Unlock()
	return t.ts, nil
}

// apply runs writes in tx and returns them with their row images (the
// row after an insert or update, before a delete) and tx's xid.
func apply(ctx context.Context, tx pgx.Tx, writes []workloads.Write) (txn, error) {
	var t txn
	if err := tx.QueryRow(ctx, "SELECT txid_current() % 4294967296").Scan(&t.xid); err != nil {
		return t, fmt.Errorf("txid: %w", err)
	}
	t.rows = make([]row, 0, len(writes))
	for _, w := range writes {
		id := pgx.Identifier{w.Table}.Sanitize()
		var q string
		args := []any{w.PK}
		switch w.Op {
		case workloads.OpInsert:
			q = "INSERT INTO " + id + " (pk, cols) VALUES ($1, $2) RETURNING cols"
			args = append(args, jsonCols(w.Columns))
		case workloads.OpUpdate:
			// Columns merge into the row, as system/upstream does.
			q = "UPDATE " + id + " SET cols = cols || $2 WHERE pk = $1 RETURNING cols"
			args = append(args, jsonCols(w.Columns))
		case workloads.OpDelete:
			q = "DELETE FROM " + id + " WHERE pk = $1 RETURNING cols"
		default:
			return t, fmt.Errorf("%s/%d: unknown op %q", w.Table, w.PK, w.Op)
		}
		var image map[string]string
		if err := tx.QueryRow(ctx, q, args...).Scan(&image); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				err = errors.New("no such row")
			}
			return t, fmt.Errorf("%s %s/%d: %w", w.Op, w.Table, w.PK, err)
		}
		t.rows = append(t.rows, row{Table: w.Table, PK: w.PK, Op: w.Op, Columns: image})
	}
	return t, nil
}

// jsonCols is cols as a jsonb argument (an empty object, not null, for
// none).
func jsonCols(cols map[string]string) map[string]string {
	if cols == nil {
		return map[string]string{}
	}
	return cols
}

// commitTime asks for xid's commit timestamp; ok is false when xid has not
// committed (aborted, or never finished).
func (s *Store) commitTime(ctx context.Context, xid int64) (at time.Time, ok bool, err error) {
	var ts *time.Time
	err = s.pool.QueryRow(ctx, "SELECT pg_xact_commit_timestamp($1::bigint::text::xid)", xid).Scan(&ts)
	if err != nil || ts == nil {
		return time.Time{}, false, err
	}
	return *ts, true, nil
}

func (s *Store) addUnknown(t txn) {
	s.mu.Lock()
	s.unknown = append(s.unknown, t)
	s.mu.Unlock()
}

// changeLine is one line of the change log (system/upstream's txnRecord).
type changeLine struct {
	CommitTs uint64 `json:"commit_ts"`
	Rows     []row  `json:"rows"`
}

// WriteChangeLog writes every committed transaction to path in the format
// of system/upstream's changelog.jsonl: one JSON line per commit ts,
// strictly increasing; transactions with equal commit ts share a line.
// Transactions whose outcome was unknown are looked up first
// (pg_xact_commit_timestamp) and written if they committed. Call it when
// the workload has stopped; the server must be up.
func (s *Store) WriteChangeLog(ctx context.Context, path string) error {
	if err := s.resolve(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	all := slices.Clone(s.committed)
	s.mu.Unlock()
	slices.SortStableFunc(all, func(a, b txn) int { return cmp.Compare(a.ts, b.ts) })

	tmp, err := os.CreateTemp(filepath.Dir(path), ".changelog-*")
	if err != nil {
		return fmt.Errorf("pgstore: write change log: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	w := bufio.NewWriter(tmp)
	enc := json.NewEncoder(w)
	for i := 0; i < len(all); {
		line := changeLine{CommitTs: all[i].ts}
		for ; i < len(all) && all[i].ts == line.CommitTs; i++ {
			line.Rows = append(line.Rows, all[i].rows...)
		}
		if err := enc.Encode(line); err != nil {
			_ = tmp.Close()
			return fmt.Errorf("pgstore: write change log: %w", err)
		}
	}
	if err := errors.Join(w.Flush(), tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("pgstore: write change log: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("pgstore: write change log: %w", err)
	}
	return nil
}

// resolve moves the unknown transactions that committed to committed and
// forgets those that did not.
func (s *Store) resolve(ctx context.Context) error {
	s.mu.Lock()
	unknown := s.unknown
	s.unknown = nil
	s.mu.Unlock()
	var keep []txn
	var err error
	i := 0
	for ; i < len(unknown); i++ {
		at, ok, qerr := s.commitTime(ctx, unknown[i].xid)
		if qerr != nil {
			err = fmt.Errorf("pgstore: resolve xid %d: %w", unknown[i].xid, qerr)
			break
		}
		if ok {
			t := unknown[i]
			t.ts = evidence.TSOMicros(at)
			keep = append(keep, t)
		}
	}
	s.mu.Lock()
	s.committed = append(s.committed, keep...)
	s.unknown = append(s.unknown, unknown[i:]...) // those not asked yet
	s.mu.Unlock()
	return err
}

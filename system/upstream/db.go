package upstream

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"slices"
	"sort"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultResolvedInterval = 100 * time.Millisecond
	maxCommitBatch          = 512  // transactions per fsync
	maxFeedBatch            = 1024 // changes per feed delivery
)

// Config configures a DB.
type Config struct {
	// Dir holds the change log and the TSO mark; created if missing.
	Dir string
	// Tables are created (empty) if they do not exist yet. Tables found in
	// the change log always exist.
	Tables []string
	// ResolvedInterval is how often the resolved ts advances. Default 100 ms.
	ResolvedInterval time.Duration
	// Logger gets the DB's log lines. Nil discards.
	Logger *slog.Logger
	// Now is the TSO's clock. Default time.Now.
	Now func() time.Time
}

type rowState struct {
	cols     map[string]Value
	commitTs uint64
}

type table struct {
	name    string
	rows    map[int64]*rowState // guarded by DB.mu for writes; the writer reads freely
	changes []Change            // append-only, commit ts ascending
}

type commitReq struct {
	ctx    context.Context
	writes []Write
	reply  chan commitResult
}

type commitResult struct {
	ts  uint64
	err error
}

// DB is the upstream database. It is safe for concurrent use.
type DB struct {
	cfg Config
	log *slog.Logger
	tso *tso
	cl  *changeLog

	queue chan *commitReq
	stop  chan struct{} // closed by Close
	done  chan struct{} // closed when the writer has exited

	closeOnce sync.Once
	closeErr  error

	// mu guards everything below and the tables' rows and changes.
	mu          sync.Mutex
	tables      map[string]*table
	resolved    uint64
	lastApplied uint64
	notify      chan struct{} // closed and replaced on every change
	failed      error         // set once the change log failed
}

// Open opens (or creates) the DB in cfg.Dir, rebuilding its state from the
// change log.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: empty data dir", ErrInvalid)
	}
	if cfg.ResolvedInterval <= 0 {
		cfg.ResolvedInterval = DefaultResolvedInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("upstream: data dir %s: %w", cfg.Dir, err)
	}
	db := &DB{
		cfg:    cfg,
		log:    cfg.Logger,
		queue:  make(chan *commitReq, 1024),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		tables: map[string]*table{},
		notify: make(chan struct{}),
	}
	for _, name := range cfg.Tables {
		if name == "" {
			return nil, fmt.Errorf("%w: empty table name", ErrInvalid)
		}
		db.table(name)
	}
	var txns int
	cl, err := openChangeLog(cfg.Dir, func(t txnRecord) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, r := range t.Rows {
			db.apply(Change{CommitTs: t.CommitTs, Table: r.Table, PK: r.PK, Op: r.Op, Columns: r.Columns})
		}
		db.lastApplied = t.CommitTs
		txns++
		return nil
	})
	if err != nil {
		return nil, err
	}
	db.cl = cl
	if db.tso, err = openTSO(cfg.Dir, cfg.Now, db.lastApplied); err != nil {
		cl.close()
		return nil, err
	}
	// Everything in the log is applied, so a fresh ts is an honest resolved ts.
	if db.resolved, err = db.tso.Next(); err != nil {
		cl.close()
		return nil, err
	}
	db.log.Info("upstream db open", "dir", cfg.Dir, "tables", len(db.tables), "recovered_txns", txns,
		"last_commit_ts", db.lastApplied, "resolved_ts", db.resolved)
	go db.writer()
	return db, nil
}

// table returns the named table, creating it. Callers hold mu or own db.
func (db *DB) table(name string) *table {
	t := db.tables[name]
	if t == nil {
		t = &table{name: name, rows: map[int64]*rowState{}}
		db.tables[name] = t
	}
	return t
}

// apply installs a committed change. Callers hold mu (or own db in Open).
func (db *DB) apply(c Change) {
	t := db.table(c.Table)
	if c.Op == OpDelete {
		delete(t.rows, c.PK)
	} else {
		t.rows[c.PK] = &rowState{cols: c.Columns, commitTs: c.CommitTs}
	}
	t.changes = append(t.changes, c)
}

// signal wakes every feed. Callers hold mu.
func (db *DB) signal() {
	close(db.notify)
	db.notify = make(chan struct{})
}

// Close stops accepting commits, waits for the batch in flight, ends every
// feed with ErrClosed and closes the change log. Idempotent.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.stop)
		<-db.done
		db.closeErr = db.cl.close()
		db.log.Info("upstream db closed", "dir", db.cfg.Dir)
	})
	return db.closeErr
}

// Commit applies writes atomically and returns the commit ts once the
// transaction is durable in the change log. If ctx ends first the outcome
// is unknown (the transaction may still commit).
func (db *DB) Commit(ctx context.Context, writes []Write) (uint64, error) {
	if err := validateWrites(writes); err != nil {
		return 0, err
	}
	req := &commitReq{ctx: ctx, writes: writes, reply: make(chan commitResult, 1)}
	select {
	case <-db.stop:
		return 0, ErrClosed
	default:
	}
	select {
	case db.queue <- req:
	case <-db.stop:
		return 0, ErrClosed
	case <-ctx.Done():
		return 0, fmt.Errorf("upstream: commit not queued: %w", ctx.Err())
	}
	select {
	case r := <-req.reply:
		return r.ts, r.err
	case <-db.done:
		// The writer has exited: it either answered (drain) or never saw
		// the request, which therefore did not commit.
		select {
		case r := <-req.reply:
			return r.ts, r.err
		default:
			return 0, ErrClosed
		}
	case <-ctx.Done():
		return 0, fmt.Errorf("upstream: commit outcome unknown: %w", ctx.Err())
	}
}

func validateWrites(ws []Write) error {
	if len(ws) == 0 {
		return fmt.Errorf("%w: empty transaction", ErrInvalid)
	}
	type key struct {
		t  string
		pk int64
	}
	seen := make(map[key]bool, len(ws))
	for _, w := range ws {
		switch {
		case !w.Op.Valid():
			return fmt.Errorf("%w: op %d on %s/%d", ErrInvalid, w.Op, w.Table, w.PK)
		case w.PK == math.MaxInt64:
			return fmt.Errorf("%w: pk %d is reserved (span end)", ErrInvalid, w.PK)
		case seen[key{w.Table, w.PK}]:
			return fmt.Errorf("%w: %s/%d written twice in one transaction", ErrInvalid, w.Table, w.PK)
		}
		for c := range w.Columns {
			if c == "" {
				return fmt.Errorf("%w: empty column name on %s/%d", ErrInvalid, w.Table, w.PK)
			}
		}
		seen[key{w.Table, w.PK}] = true
	}
	return nil
}

// writer is the only goroutine that allocates commit ts, writes the log and
// mutates tables, so ts order = log order = apply order.
func (db *DB) writer() {
	defer close(db.done)
	tick := time.NewTicker(db.cfg.ResolvedInterval)
	defer tick.Stop()
	for {
		select {
		case <-db.stop:
			db.drain()
			db.mu.Lock()
			db.signal()
			db.mu.Unlock()
			return
		case r := <-db.queue:
			batch := []*commitReq{r}
		more:
			for len(batch) < maxCommitBatch {
				select {
				case r := <-db.queue:
					batch = append(batch, r)
				default:
					break more
				}
			}
			db.commitBatch(batch)
		case <-tick.C:
			db.advanceResolved()
		}
	}
}

func (db *DB) drain() {
	for {
		select {
		case r := <-db.queue:
			r.reply <- commitResult{err: ErrClosed}
		default:
			return
		}
	}
}

// advanceResolved publishes a fresh ts as resolved. Honest because only the
// writer allocates commit ts and it has applied every earlier commit.
func (db *DB) advanceResolved() {
	db.mu.Lock()
	failed := db.failed
	db.mu.Unlock()
	if failed != nil {
		return
	}
	ts, err := db.tso.Next()
	if err != nil {
		db.log.Error("tso failed; resolved ts not advanced", "err", err)
		return
	}
	db.mu.Lock()
	db.resolved = ts
	db.signal()
	db.mu.Unlock()
}

type rowKey struct {
	table string
	pk    int64
}

type prepared struct {
	req     *commitReq
	changes []Change
}

// commitBatch validates each transaction against the state plus the
// batch's earlier transactions, assigns commit ts, logs and fsyncs the batch
// once, then applies it and replies.
func (db *DB) commitBatch(batch []*commitReq) {
	db.mu.Lock()
	failed := db.failed
	db.mu.Unlock()
	if failed != nil {
		for _, r := range batch {
			r.reply <- commitResult{err: failed}
		}
		return
	}
	overlay := map[rowKey]*rowState{} // nil value: deleted in this batch
	var ok []prepared
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range batch {
		if r.ctx.Err() != nil {
			r.reply <- commitResult{err: fmt.Errorf("upstream: commit abandoned before it started: %w", r.ctx.Err())}
			continue
		}
		changes, err := db.prepare(r.writes, overlay)
		if err != nil {
			r.reply <- commitResult{err: err}
			continue
		}
		ts, err := db.tso.Next()
		if err != nil {
			// Nothing of this batch is logged yet, so nothing committed.
			for _, p := range ok {
				p.req.reply <- commitResult{err: err}
			}
			r.reply <- commitResult{err: err}
			return
		}
		rec := txnRecord{CommitTs: ts, Rows: make([]rowRecord, len(changes))}
		for i := range changes {
			c := &changes[i]
			c.CommitTs = ts
			rec.Rows[i] = rowRecord{Table: c.Table, PK: c.PK, Op: c.Op, Columns: c.Columns}
			if c.Op == OpDelete {
				overlay[rowKey{c.Table, c.PK}] = nil
			} else {
				overlay[rowKey{c.Table, c.PK}] = &rowState{cols: c.Columns, commitTs: ts}
			}
		}
		_ = enc.Encode(rec) // cannot fail: plain data
		ok = append(ok, prepared{req: r, changes: changes})
	}
	if len(ok) == 0 {
		return
	}
	if err := db.cl.append(buf.Bytes()); err != nil {
		// NB: the lines may be partly on disk: every outcome is unknown, and
		// no later commit may be acknowledged on top of an unknown state.
		db.log.Error("change log failed; refusing further commits", "err", err)
		db.mu.Lock()
		db.failed = err
		db.mu.Unlock()
		for _, p := range ok {
			p.req.reply <- commitResult{err: err}
		}
		return
	}
	db.mu.Lock()
	for _, p := range ok {
		for _, c := range p.changes {
			db.apply(c)
		}
		db.lastApplied = p.changes[0].CommitTs
	}
	db.signal()
	db.mu.Unlock()
	for _, p := range ok {
		p.req.reply <- commitResult{ts: p.changes[0].CommitTs}
	}
}

// prepare checks one transaction and builds its changes (without commit ts).
// Only the writer calls it, so reading rows without mu is safe.
func (db *DB) prepare(ws []Write, overlay map[rowKey]*rowState) ([]Change, error) {
	out := make([]Change, 0, len(ws))
	for _, w := range ws {
		t := db.tables[w.Table]
		if t == nil {
			return nil, fmt.Errorf("%w: %q", ErrUnknownTable, w.Table)
		}
		cur, inBatch := overlay[rowKey{w.Table, w.PK}]
		if !inBatch {
			cur = t.rows[w.PK]
		}
		if w.ExpectCommitTs != nil {
			var have uint64
			if cur != nil {
				have = cur.commitTs
			}
			if have != *w.ExpectCommitTs {
				return nil, fmt.Errorf("%w: %s/%d at commit ts %d, expected %d", ErrConflict, w.Table, w.PK, have, *w.ExpectCommitTs)
			}
		}
		c := Change{Table: w.Table, PK: w.PK, Op: w.Op}
		switch w.Op {
		case OpInsert:
			if cur != nil {
				return nil, fmt.Errorf("%w: %s/%d", ErrDuplicateKey, w.Table, w.PK)
			}
			c.Columns = maps.Clone(w.Columns)
		case OpUpdate:
			if cur == nil {
				return nil, fmt.Errorf("%w: update %s/%d", ErrRowNotFound, w.Table, w.PK)
			}
			c.Columns = maps.Clone(cur.cols)
			if c.Columns == nil {
				c.Columns = map[string]Value{}
			}
			maps.Copy(c.Columns, w.Columns)
		case OpDelete:
			if cur == nil {
				return nil, fmt.Errorf("%w: delete %s/%d", ErrRowNotFound, w.Table, w.PK)
			}
			c.Columns = cur.cols // the image before the delete; never mutated
		}
		out = append(out, c)
	}
	return out, nil
}

// Feed calls fn with the span's changes with commit ts > startTs, in commit
// ts order, first those already committed and then live ones, each delivery
// followed by the resolved ts when it advanced (at most every
// ResolvedInterval once caught up). It returns fn's error, ctx's error, or
// ErrClosed when the DB closes. fn must not retain or modify the rows'
// Columns maps beyond reading them.
func (db *DB) Feed(ctx context.Context, span Span, startTs uint64, fn func(FeedEvent) error) error {
	if span.StartPK >= span.EndPK {
		return fmt.Errorf("%w: empty span %s", ErrInvalid, span)
	}
	db.mu.Lock()
	t := db.tables[span.Table]
	var idx int
	if t != nil {
		idx = sort.Search(len(t.changes), func(i int) bool { return t.changes[i].CommitTs > startTs })
	}
	db.mu.Unlock()
	if t == nil {
		return fmt.Errorf("%w: %q", ErrUnknownTable, span.Table)
	}
	sent := startTs
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		db.mu.Lock()
		n := len(t.changes)
		end := min(n, idx+maxFeedBatch)
		batch := t.changes[idx:end:end]
		resolved, notify, failed := db.resolved, db.notify, db.failed
		db.mu.Unlock()
		caughtUp := end == n
		idx = end

		var ev FeedEvent
		for _, c := range batch {
			if span.Contains(c.PK) {
				ev.Rows = append(ev.Rows, c)
			}
		}
		// Only once caught up: then every change <= resolved was in batch.
		if caughtUp && resolved > sent && failed == nil {
			ev.ResolvedTs = resolved
		}
		if len(ev.Rows) > 0 || ev.ResolvedTs > 0 {
			if err := fn(ev); err != nil {
				return err
			}
			if ev.ResolvedTs > 0 {
				sent = ev.ResolvedTs
			}
		}
		if !caughtUp {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-db.done:
			return ErrClosed
		case <-notify:
		}
	}
}

// Snapshot returns the span's current rows sorted by pk and the ts they are
// read at: they reflect exactly the commits with commit ts <= readTs.
func (db *DB) Snapshot(span Span) (rows []Row, readTs uint64, err error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	t := db.tables[span.Table]
	if t == nil {
		return nil, 0, fmt.Errorf("%w: %q", ErrUnknownTable, span.Table)
	}
	for pk, r := range t.rows {
		if span.Contains(pk) {
			rows = append(rows, Row{PK: pk, Columns: r.cols, CommitTs: r.commitTs})
		}
	}
	slices.SortFunc(rows, func(a, b Row) int { return cmp.Compare(a.PK, b.PK) })
	return rows, max(db.resolved, db.lastApplied), nil
}

// Tables lists the tables sorted by name with their current row counts.
func (db *DB) Tables() []TableInfo {
	db.mu.Lock()
	defer db.mu.Unlock()
	out := make([]TableInfo, 0, len(db.tables))
	for name, t := range db.tables {
		out = append(out, TableInfo{Name: name, Rows: int64(len(t.rows))})
	}
	slices.SortFunc(out, func(a, b TableInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// GetTS allocates a fresh ts from the TSO.
func (db *DB) GetTS() (uint64, error) { return db.tso.Next() }

// ResolvedTs is the current resolved ts of every span.
func (db *DB) ResolvedTs() uint64 {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.resolved
}

// ChangeLogPath is the path of the DB's change log.
func (db *DB) ChangeLogPath() string { return db.cl.path }

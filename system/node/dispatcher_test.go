package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/sink/kafka"
	"github.com/chaosrun/chaosrun/system/upstream"
)

// fakeWriter returns errs[i] from its i-th write (nil beyond) and records
// what was written.
type fakeWriter struct {
	mu     sync.Mutex
	errs   []error
	writes [][]evidence.Message
	closed bool
}

func (w *fakeWriter) write(_ context.Context, msgs []evidence.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, msgs)
	if i := len(w.writes) - 1; i < len(w.errs) {
		return w.errs[i]
	}
	return nil
}

func (w *fakeWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}

func (w *fakeWriter) snapshot() (writes [][]evidence.Message, closed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]evidence.Message(nil), w.writes...), w.closed
}

// testManager starts an upstream with table t1 and returns a txn-mode
// manager of cf1 on node n1 whose writers are w, the upstream client and
// the decision log's path.
func testManager(t *testing.T, w *fakeWriter) (*manager, *upstream.Client, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addr := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- upstream.Serve(ctx, upstream.ServeConfig{DB: upstream.Config{Dir: t.TempDir(), Tables: []string{"t1"}}},
			func(a string) { addr <- a })
	}()
	var up *upstream.Client
	select {
	case a := <-addr:
		var err error
		up, err = upstream.Dial(ctx, a)
		require.NoError(t, err)
		t.Cleanup(func() { up.Close() })
	case err := <-served:
		t.Fatalf("upstream: %v", err)
	}
	dir := t.TempDir()
	dlog, err := openDecisionLog(filepath.Join(dir, evidence.DecisionsFile("n1")))
	require.NoError(t, err)
	t.Cleanup(func() { dlog.Close() })
	n := &node{cfg: Config{Sink: SinkTxn}, log: slog.New(slog.DiscardHandler), up: up, dlog: dlog,
		met: newMetrics("n1"), events: make(chan func(), 1024), managers: map[string]*manager{}}
	go func() { // progress reports go to the roles, which this test has none of
		for {
			select {
			case <-n.events:
			case <-ctx.Done():
				return
			}
		}
	}()
	mctx, mcancel := context.WithCancel(ctx)
	m := &manager{n: n, cf: "cf1", topic: "cf1", node: "n1", ctx: mctx, cancel: mcancel, ready: make(chan struct{}),
		wmWant: make(chan wmRequest, 1), dispatchers: map[string]*dispatcher{},
		newWriter: func(context.Context, string) batchWriter { return w }}
	m.setEpoch(1)
	n.managers["cf1"] = m
	t.Cleanup(func() { mcancel(); m.wg.Wait() })
	return m, up, filepath.Join(dir, evidence.DecisionsFile("n1"))
}

// TestDispatcherRetriesAbortedAndStopsWhenFenced drives a txn-mode
// dispatcher against a real upstream with a scripted writer: an aborted
// transaction is retried from the checkpoint (the same rows again), and a
// fenced writer stops the dispatcher for good, closes its producer and
// leaves a "fenced by broker" line in the decision log.
func TestDispatcherRetriesAbortedAndStopsWhenFenced(t *testing.T) {
	aborted := fmt.Errorf("transaction produce of cf1/t1/0-100: %w", kafka.ErrAborted)
	fenced := fmt.Errorf("transaction produce of cf1/t1/0-100: %w", kafka.ErrFenced)
	w := &fakeWriter{errs: []error{aborted, nil, fenced}}
	m, up, dlogPath := testManager(t, w)
	ctx := context.Background()
	start, cancel, done := startDispatcher(t, m, up)
	defer cancel()

	// The aborted batch is written again; then the checkpoint moves past it.
	require.Eventually(t, func() bool { ws, _ := w.snapshot(); return len(ws) >= 2 }, 10*time.Second, 20*time.Millisecond)
	ws, _ := w.snapshot()
	require.Len(t, ws[0], 1)
	assert.Equal(t, ws[0], ws[1], "the aborted transaction's rows are written again from the checkpoint")
	require.Eventually(t, func() bool { return m.minCheckpoint() > start }, 10*time.Second, 20*time.Millisecond)

	// The next batch is fenced: the dispatcher stops without another write.
	_, err := up.Commit(ctx, upstream.Write{Table: "t1", PK: 2, Op: upstream.OpInsert, Columns: map[string]upstream.Value{"v": upstream.Int(2)}})
	require.NoError(t, err)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a fenced dispatcher kept running")
	}
	ws, closed := w.snapshot()
	assert.Len(t, ws, 3, "no write after the fence")
	assert.True(t, closed, "the fenced producer is closed")

	ds, err := evidence.ReadDecisions(dlogPath)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	assert.Equal(t, "dispatcher", ds[0].Role)
	assert.Equal(t, "cf1/t1/0-100", ds[0].Sender)
	assert.Equal(t, "fenced by broker", ds[0].Verdict)
	assert.Equal(t, "broker-fence", ds[0].Rule)
	assert.False(t, ds[0].Acted)
	assert.Contains(t, ds[0].Reason, "t1@e1")
}

// TestDispatcherReopensAFatalWriter: a writer whose transaction state is
// fatal for a reason other than a fence is closed and replaced by a new one
// of the same transactional id, which writes the rows again from the
// checkpoint; no "fenced by broker" line is written.
func TestDispatcherReopensAFatalWriter(t *testing.T) {
	fatal := fmt.Errorf("transaction begin of cf1/t1/0-100: %w", kafka.ErrFatal)
	first, second := &fakeWriter{errs: []error{fatal}}, &fakeWriter{}
	m, up, dlogPath := testManager(t, first)
	var opened []string
	var mu sync.Mutex
	m.newWriter = func(_ context.Context, txnID string) batchWriter {
		mu.Lock()
		defer mu.Unlock()
		opened = append(opened, txnID)
		if len(opened) == 1 {
			return first
		}
		return second
	}
	_, cancel, done := startDispatcher(t, m, up)
	require.Eventually(t, func() bool { ws, _ := second.snapshot(); return len(ws) >= 1 }, 10*time.Second, 20*time.Millisecond)
	cancel()
	<-done

	firstWrites, firstClosed := first.snapshot()
	secondWrites, secondClosed := second.snapshot()
	assert.True(t, firstClosed, "the failed producer is closed")
	assert.True(t, secondClosed, "the new producer is closed when the dispatcher ends")
	assert.Equal(t, firstWrites[0], secondWrites[0], "the new producer writes the same rows again")
	mu.Lock()
	assert.Equal(t, []string{"cf1/t1/0-100", "cf1/t1/0-100"}, opened, "the same transactional id, opened twice")
	mu.Unlock()
	ds, err := evidence.ReadDecisions(dlogPath)
	if !os.IsNotExist(err) {
		require.NoError(t, err)
	}
	assert.Empty(t, ds, "a fatal writer is not a fenced one")
}

// startDispatcher commits row t1:1, then runs dispatcher t1@e1 of span
// t1 [0, 100) on m from a ts before it; cancel stops it and done closes
// when it returned.
func startDispatcher(t *testing.T, m *manager, up *upstream.Client) (start uint64, cancel context.CancelFunc, done chan struct{}) {
	t.Helper()
	ctx := context.Background()
	start, err := up.GetTS(ctx)
	require.NoError(t, err)
	_, err = up.Commit(ctx, upstream.Write{Table: "t1", PK: 1, Op: upstream.OpInsert, Columns: map[string]upstream.Value{"v": upstream.Int(1)}})
	require.NoError(t, err)
	dctx, cancel := context.WithCancel(m.ctx)
	d := &dispatcher{id: "t1@e1", epoch: 1, seen: 1, cancel: cancel, checkpoint: start,
		span: upstream.Span{Table: "t1", StartPK: 0, EndPK: 100}}
	m.dispatchers[d.id] = d
	done = make(chan struct{})
	go func() {
		defer close(done)
		m.runDispatcher(dctx, d, start)
	}()
	return start, cancel, done
}

// gatedWriter blocks its first write until gate closes.
type gatedWriter struct {
	fakeWriter
	gate chan struct{}
	once sync.Once
	in   chan struct{}
}

func (w *gatedWriter) write(ctx context.Context, msgs []evidence.Message) error {
	w.once.Do(func() {
		close(w.in)
		<-w.gate
	})
	return w.fakeWriter.write(ctx, msgs)
}

// TestDispatcherCatchesUpInFewWrites: deliveries that queue up while a
// write is in flight go out together in the next write, not one write per
// resolved ts, so a dispatcher that fell behind catches up. Before, a
// backlog drained at one resolved ts (100ms of changes) per Kafka round
// trip, and never drained while a round trip took longer than that.
func TestDispatcherCatchesUpInFewWrites(t *testing.T) {
	w := &gatedWriter{gate: make(chan struct{}), in: make(chan struct{})}
	m, up, _ := testManager(t, &w.fakeWriter)
	m.newWriter = func(context.Context, string) batchWriter { return w }
	ctx := context.Background()
	_, cancel, done := startDispatcher(t, m, up)
	defer func() { cancel(); <-done }()
	<-w.in // the first row's write is in flight and held
	// A commit every 10ms for 600ms, as a workload's: the held dispatcher
	// falls behind by six of the upstream's 100ms resolved ts, each a
	// delivery that asks for a write.
	const behind = 60
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for pk := int64(2); pk < 2+behind; pk++ {
		<-tick.C
		_, err := up.Commit(ctx, upstream.Write{Table: "t1", PK: pk, Op: upstream.OpInsert, Columns: map[string]upstream.Value{"v": upstream.Int(pk)}})
		require.NoError(t, err)
	}
	close(w.gate)
	rows := func() int {
		ws, _ := w.snapshot()
		n := 0
		for _, b := range ws {
			n += len(b)
		}
		return n
	}
	require.Eventually(t, func() bool { return rows() == 1+behind }, 10*time.Second, 20*time.Millisecond)
	ws, _ := w.snapshot()
	t.Logf("%d rows in %d writes", 1+behind, len(ws))
	assert.LessOrEqual(t, len(ws), 4, "the held write, then the queued deliveries together (one per resolved ts before: 8)")
}

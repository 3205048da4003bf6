package node

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/internal/wait"
	"github.com/chaosrun/chaosrun/sink/kafka"
	"github.com/chaosrun/chaosrun/system/roles"
	"github.com/chaosrun/chaosrun/system/upstream"
)

// TopicOf is the Kafka topic of a changefeed: its id.
func TopicOf(changefeed string) string { return changefeed }

// manager is the I/O side of one dispatcher manager: its sink producer, its
// span dispatchers and the watermark writer.
type manager struct {
	n     *node
	cf    string
	topic string
	node  string
	epoch atomic.Uint64 // the owner's epoch: the generation rows are written under
	// seen is the highest owner epoch the manager ever accepted. NB: a
	// takeover stores epoch before seen and writers load seen before epoch,
	// so a writer never pairs an old epoch with the newer seen of a
	// legitimate takeover; epoch < seen is only ever an overwrite by an older
	// generation.
	seen   atomic.Uint64
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	ready chan struct{} // closed once prod is set (or the manager is closed)
	prod  *kafka.Producer

	wmWant chan wmRequest // latest watermark to write (size 1)
	// newWriter opens the writer of a transactional id (openWriter; tests
	// replace it).
	newWriter func(ctx context.Context, txnID string) batchWriter

	mu          sync.Mutex
	dispatchers map[string]*dispatcher
	lastWM      uint64
}

type dispatcher struct {
	id string
	// epoch is the epoch of the maintainer that created the dispatcher and
	// seen the manager's highest accepted epoch at that moment.
	epoch, seen uint64

	span       upstream.Span
	cancel     context.CancelFunc
	checkpoint uint64 // guarded by manager.mu
}

func (n *node) openManager(ctx context.Context, e roles.OpenManager) {
	if old := n.managers[e.Changefeed]; old != nil {
		// A takeover keeps the producer and the dispatchers, which act for
		// the new owner from now on.
		old.setEpoch(e.Epoch)
		n.log.Info("dispatcher manager taken over", "changefeed", e.Changefeed, "owner", e.Owner, "epoch", e.Epoch)
		return
	}
	mctx, cancel := context.WithCancel(ctx)
	m := &manager{n: n, cf: e.Changefeed, topic: TopicOf(e.Changefeed), node: n.id,
		ctx: mctx, cancel: cancel, ready: make(chan struct{}), wmWant: make(chan wmRequest, 1),
		dispatchers: map[string]*dispatcher{}}
	m.newWriter = m.openWriter
	m.setEpoch(e.Epoch)
	n.managers[e.Changefeed] = m
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		defer close(m.ready)
		for mctx.Err() == nil {
			p, err := kafka.NewProducer(mctx, kafka.ProducerConfig{Brokers: n.cfg.KafkaBrokers, ClientID: "chaosrun-" + n.id, Logger: n.log, Timeout: 10 * time.Second})
			if err == nil {
				m.prod = p
				return
			}
			n.log.Warn("open producer failed; retrying", "changefeed", m.cf, "err", err)
			_ = wait.Sleep(mctx, 500*time.Millisecond)
		}
	}()
	go func() {
		defer m.wg.Done()
		m.watermarkWriter()
	}()
	n.log.Info("dispatcher manager opened", "changefeed", e.Changefeed, "owner", e.Owner, "epoch", e.Epoch)
}

// setEpoch records the owner's epoch (see manager.seen for the order).
func (m *manager) setEpoch(e uint64) {
	m.epoch.Store(e)
	if e > m.seen.Load() {
		m.seen.Store(e)
	}
}

// generation returns the highest accepted epoch and the current one.
func (m *manager) generation() (seen, epoch uint64) {
	seen = m.seen.Load()
	return seen, m.epoch.Load()
}

func (n *node) closeManager(cf string) {
	m := n.managers[cf]
	if m == nil {
		return
	}
	delete(n.managers, cf)
	m.cancel()
	m.wg.Wait()
	if m.prod != nil {
		if err := m.prod.Close(); err != nil {
			n.log.Debug("close producer", "changefeed", cf, "err", err)
		}
	}
	n.log.Info("dispatcher manager closed", "changefeed", cf)
}

func (m *manager) createDispatcher(_ context.Context, e roles.CreateDispatcher) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.dispatchers[e.DispatcherID]; ok {
		return
	}
	dctx, cancel := context.WithCancel(m.ctx)
	d := &dispatcher{id: e.DispatcherID, cancel: cancel, checkpoint: e.StartTs, epoch: e.Epoch, seen: m.seen.Load(),
		span: upstream.Span{Table: TableName(e.Span.GetTableId()), StartPK: e.Span.GetStartPk(), EndPK: e.Span.GetEndPk()}}
	m.dispatchers[d.id] = d
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.runDispatcher(dctx, d, e.StartTs)
	}()
}

func (m *manager) removeDispatcher(id string) {
	m.mu.Lock()
	d := m.dispatchers[id]
	delete(m.dispatchers, id)
	m.mu.Unlock()
	if d != nil {
		d.cancel()
	}
}

func (m *manager) minCheckpoint() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var lo uint64
	for _, d := range m.dispatchers {
		if lo == 0 || d.checkpoint < lo {
			lo = d.checkpoint
		}
	}
	return lo
}

func (m *manager) lastWatermark() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastWM
}

func (m *manager) producer(ctx context.Context) *kafka.Producer {
	select {
	case <-m.ready:
		return m.prod
	case <-ctx.Done():
		return nil
	}
}

// maxBatch bounds the rows a dispatcher buffers before producing.
const maxBatch = 2000

// runDispatcher pulls the span's feed from startTs and writes every row to
// Kafka; its checkpoint advances to a resolved ts only after every row up to
// it is acknowledged (in txn mode: committed, one transaction per batch up
// to a resolved ts, so a watermark computed from checkpoints only covers
// committed rows). Any failure reopens the feed from the checkpoint, so
// rows may be written twice but never skipped. A writer fenced by the
// broker stops the dispatcher for good: no retry and no new producer, which
// would fence the newer writer of the span back.
func (m *manager) runDispatcher(ctx context.Context, d *dispatcher, startTs uint64) {
	txnID := spanTxnID(m.cf, d.span)
	w := m.newWriter(ctx, txnID)
	if w == nil {
		return
	}
	defer func() {
		if w != nil {
			w.close()
		}
	}()
	checkpoint := startTs
	log := m.n.log.With("changefeed", m.cf, "dispatcher", d.id)
	for ctx.Err() == nil {
		fctx, endFeed := context.WithCancel(ctx)
		stream, err := m.n.up.EventFeed(fctx, d.span, checkpoint)
		if err != nil {
			endFeed()
			log.Debug("open feed failed; retrying", "err", err)
			_ = wait.Sleep(ctx, 200*time.Millisecond)
			continue
		}
		events := feedEvents(fctx, stream)
		var ok bool
		checkpoint, ok = m.replicate(ctx, d, &w, txnID, events, checkpoint, log)
		endFeed()
		for range events { // the reader ends with the feed's context
		}
		if !ok {
			return
		}
		if ctx.Err() == nil {
			_ = wait.Sleep(ctx, 100*time.Millisecond)
		}
	}
}

// feedItem is one delivery of a feed, or the error that ended it.
type feedItem struct {
	ev  upstream.FeedEvent
	err error
}

// feedBuffer is how many deliveries a feed reads ahead of its dispatcher.
const feedBuffer = 256

// feedEvents reads stream ahead of its dispatcher until it fails or ctx
// ends; the channel closes after the error, or when ctx ends.
func feedEvents(ctx context.Context, stream *upstream.FeedStream) <-chan feedItem {
	ch := make(chan feedItem, feedBuffer)
	go func() {
		defer close(ch)
		for {
			ev, err := stream.Recv()
			select {
			case ch <- feedItem{ev: ev, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// replicate writes dispatcher d's feed to Kafka through *w until the feed
// breaks or a write fails, and returns the checkpoint reached; ok is false
// when the dispatcher must stop. Every write takes all the deliveries
// already read (up to maxBatch rows), not one delivery: a dispatcher that
// fell behind catches up in fewer, larger writes instead of one round trip
// to Kafka per delivery. Its checkpoint moves only after the write of every
// row up to it.
func (m *manager) replicate(ctx context.Context, d *dispatcher, w *batchWriter, txnID string, events <-chan feedItem, checkpoint uint64, log *slog.Logger) (uint64, bool) {
	var pending []evidence.Message
	for {
		var resolved uint64
		var err error
		pending, resolved, err = m.take(pending, d, events, log)
		if err != nil {
			if ctx.Err() == nil {
				log.Debug("feed broken; reopening", "from", checkpoint, "err", err)
			}
			return checkpoint, true
		}
		if resolved == 0 && len(pending) < maxBatch {
			continue
		}
		if len(pending) > 0 {
			if err := (*w).write(ctx, pending); err != nil {
				var ok bool
				if *w, ok = m.afterWriteError(ctx, d.id, txnID, *w, err, log); !ok {
					return checkpoint, false
				}
				log.Debug("write failed; retrying from the checkpoint", "from", checkpoint, "err", err)
				return checkpoint, true
			}
			m.n.met.rowsWritten.WithLabelValues(m.cf).Add(float64(len(pending)))
			pending = nil
		}
		if resolved > checkpoint {
			checkpoint = resolved
			m.progress(d, checkpoint)
		}
	}
}

// take waits for the next delivery and takes those already read after it,
// up to maxBatch rows, appending their rows to pending; resolved is the
// highest resolved ts among them (0: none).
func (m *manager) take(pending []evidence.Message, d *dispatcher, events <-chan feedItem, log *slog.Logger) (_ []evidence.Message, resolved uint64, err error) {
	it, open := <-events
	for {
		switch {
		case !open:
			return pending, 0, context.Canceled
		case it.err != nil:
			return pending, 0, it.err
		}
		pending = m.encodeRows(pending, d, it.ev.Rows, log)
		resolved = max(resolved, it.ev.ResolvedTs)
		if len(pending) >= maxBatch {
			return pending, resolved, nil
		}
		select {
		case it, open = <-events:
		default:
			return pending, resolved, nil
		}
	}
}

// encodeRows appends the records of rows, written by dispatcher d, to
// pending.
func (m *manager) encodeRows(pending []evidence.Message, d *dispatcher, rows []upstream.Change, log *slog.Logger) []evidence.Message {
	for _, c := range rows {
		seen, epoch := m.generation()
		msg, err := evidence.EncodeRow(m.topic, evidence.Row{
			Changefeed: m.cf, Epoch: epoch, Node: m.node, Dispatcher: d.id,
			Seen: seen, DispatcherEpoch: d.epoch, DispatcherSeen: d.seen,
			Table: c.Table, PK: c.PK, Op: evidence.Op(c.Op.String()), CommitTs: c.CommitTs, Columns: columnsText(c.Columns),
		})
		if err != nil {
			log.Error("encode row", "err", err)
			continue
		}
		pending = append(pending, msg)
	}
	return pending
}

// afterWriteError handles a failed write of w, the writer of txnID for
// dispatcher id, and returns the writer to retry with; ok false stops the
// dispatcher. A fenced writer is reported and stops it; a writer in a fatal
// state is replaced by a new one of the same id (ok false when ctx ended
// first, nil then); any other error keeps w.
func (m *manager) afterWriteError(ctx context.Context, id, txnID string, w batchWriter, err error, log *slog.Logger) (batchWriter, bool) {
	switch {
	case errors.Is(err, kafka.ErrFenced):
		m.fenced(id, txnID, err)
		return w, false
	case errors.Is(err, kafka.ErrFatal):
		// Not fenced, yet unusable: a new producer of the same id, then the
		// feed again from the checkpoint.
		log.Warn("transactional producer failed for good; opening a new one", "txn_id", txnID, "err", err)
		w.close()
		w = m.newWriter(ctx, txnID)
		return w, w != nil
	}
	return w, true
}

// produceAll writes msgs and reports whether every one was acknowledged.
func (m *manager) produceAll(ctx context.Context, prod *kafka.Producer, msgs []evidence.Message) bool {
	ok := true
	for _, r := range prod.Produce(ctx, msgs) {
		if r.Delivery != kafka.DeliveryAcked {
			ok = false
			if r.Delivery == kafka.DeliveryUnknown {
				m.n.met.produceUnknown.Inc()
			}
		}
	}
	return ok
}

// progress records d's checkpoint and reports it to the roles.
func (m *manager) progress(d *dispatcher, checkpoint uint64) {
	m.mu.Lock()
	d.checkpoint = checkpoint
	m.mu.Unlock()
	n := m.n
	n.post(m.ctx, func() {
		if n.managers[m.cf] == m {
			n.roles.Dispatchers.DispatcherProgress(m.cf, d.id, checkpoint)
		}
	})
}

// wmRequest is a watermark to write and the manager's highest accepted
// epoch when the roles asked for it (the write itself is asynchronous).
type wmRequest struct {
	roles.WriteWatermark
	seen uint64
}

func (m *manager) writeWatermark(_ context.Context, e roles.WriteWatermark) {
	// Keep only the newest request: an older watermark never overtakes.
	select {
	case <-m.wmWant:
	default:
	}
	m.wmWant <- wmRequest{WriteWatermark: e, seen: m.seen.Load()}
}

// watermarkWriter broadcasts requested watermarks to every partition, one at
// a time and in increasing order. In txn mode each broadcast is one
// transaction of the producer <cf>/watermark.
func (m *manager) watermarkWriter() {
	prod := m.producer(m.ctx)
	if prod == nil {
		return
	}
	txnID := watermarkTxnID(m.cf)
	var w batchWriter // opened at the first watermark
	// fencedAt is the epoch of the request whose write the broker fenced
	// (0: never fenced). The fenced producer is never used again, and
	// requests of that epoch or older are dropped: the node's maintainer is
	// superseded. A request of a newer epoch is a later generation's
	// maintainer on this node (the manager outlives takeovers), which opens
	// a producer of its own, fencing in turn whoever wrote in between.
	var fencedAt uint64
	defer func() {
		if w != nil {
			w.close()
		}
	}()
	for {
		var e wmRequest
		select {
		case e = <-m.wmWant:
		case <-m.ctx.Done():
			return
		}
		if e.Ts <= m.lastWatermark() || e.Epoch <= fencedAt {
			continue
		}
		parts, err := prod.Partitions(m.topic)
		if err != nil {
			m.n.log.Debug("watermark: partitions", "err", err)
			continue
		}
		msgs, err := evidence.EncodeWatermark(m.topic, evidence.Watermark{Changefeed: m.cf, Epoch: e.Epoch, Node: m.node, Ts: e.Ts, Seen: e.seen}, parts)
		if err != nil {
			m.n.log.Error("watermark: encode", "err", err)
			continue
		}
		if w == nil {
			if w = m.newWriter(m.ctx, txnID); w == nil {
				return
			}
		}
		if err := w.write(m.ctx, msgs); err != nil {
			if errors.Is(err, kafka.ErrFenced) {
				m.fenced("", txnID, err)
				w.close()
				w, fencedAt = nil, e.Epoch
				continue
			}
			if errors.Is(err, kafka.ErrFatal) {
				m.n.log.Warn("watermark writer failed for good; opening a new one", "txn_id", txnID, "err", err)
				w.close()
				w = nil
				continue
			}
			m.n.log.Debug("watermark: write", "ts", e.Ts, "err", err)
		} else {
			m.mu.Lock()
			m.lastWM = e.Ts
			m.mu.Unlock()
			m.n.met.watermarks.WithLabelValues(m.cf).Inc()
		}
	}
}

func columnsText(cols map[string]upstream.Value) map[string]string {
	if cols == nil {
		return nil
	}
	out := make(map[string]string, len(cols))
	for k, v := range cols {
		out[k] = v.String()
	}
	return out
}

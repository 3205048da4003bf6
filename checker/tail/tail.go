package tail

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/checker/rundir"
	"github.com/chaosrun/chaosrun/evidence"
)

// Sentinel errors; compare with errors.Is.
var (
	// ErrConfig means the Config is incomplete.
	ErrConfig = errors.New("tail: invalid config")
	// ErrClosed means the Tailer was closed (or its context ended) before the
	// call could finish.
	ErrClosed = errors.New("tail: closed")
	// ErrNotCaughtUp means Drain's context ended before every partition was
	// read up to its high watermark.
	ErrNotCaughtUp = errors.New("tail: not caught up with the high watermarks")
)

// WatermarkWriter returns the node that wrote the newest watermark of
// changefeed cf written to the dump so far (only the node of the
// changefeed's maintainer writes watermarks); ok is false before the first.
func (t *Tailer) WatermarkWriter(cf string) (node string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	node, ok = t.wmWriter[cf]
	return node, ok
}

// Offsets maps a partition to an offset.
type Offsets map[int32]int64

// Tailer consumes one topic into a run directory. Its methods are safe for
// concurrent use.
type Tailer struct {
	cfg Config
	log *slog.Logger

	cancel     context.CancelFunc
	runDone    chan struct{}
	writerDone chan struct{}
	items      chan []item
	flushReq   chan chan error

	// Owned by the writer goroutine (and by Close after it exited).
	recf, malf *os.File
	recw, malw *bufio.Writer

	mu         sync.Mutex
	parts      map[int32]*partState
	known      bool // the topic's partitions are known from metadata
	records    int64
	rows       int64
	watermarks int64
	// wmWriter is the node of the newest watermark written, per changefeed.
	wmWriter   map[string]string
	malformed  int64
	skipped    int64
	reconnects int
	connected  bool
	abort      context.CancelCauseFunc // ends the current session; nil between sessions
	lastErr    error
	writeErr   error         // first file error; sticky
	progress   chan struct{} // closed and replaced after every written batch

	closeOnce sync.Once
	closeErr  error
}

type partState struct {
	next    int64 // offset after the last written record; -1 before the first
	records int64
	wm      uint64
	hasWm   bool
	wmAt    time.Time
}

// item is one consumed record, encoded by its partition's goroutine.
type item struct {
	partition int32
	offset    int64
	// line is the record's bytes in its file: a dump record (size prefix
	// included) or a JSON line of the malformed list (newline included).
	line      []byte
	malformed bool
	// skipped marks a record that carries no change (evidence.ErrNotChange):
	// counted, not written.
	skipped bool
	kind    checker.Kind
	wmTs    uint64
	at      time.Time
	// changefeed and node name a watermark's writer.
	changefeed, node string
}

// batchSize bounds the records a partition goroutine hands over at once.
const batchSize = 256

// maxMalformedLogs bounds the log lines about malformed records; all of
// them are listed in the file.
const maxMalformedLogs = 10

// Start creates (truncating) the dump files in cfg.Dir and starts tailing
// in the background; it does not wait for Kafka. The Tailer runs until
// Close is called or ctx is done; Close must be called either way.
func Start(ctx context.Context, cfg Config) (*Tailer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	recf, err := os.Create(filepath.Join(cfg.Dir, rundir.SinkRecordsFile))
	if err != nil {
		return nil, fmt.Errorf("tail: %w", err)
	}
	// A stale list from an earlier tailer in the same directory would be
	// read as this run's.
	if err := os.Remove(filepath.Join(cfg.Dir, rundir.SinkMalformedFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		recf.Close()
		return nil, fmt.Errorf("tail: %w", err)
	}
	for _, name := range []string{rundir.SinkOffsetsFile, rundir.SinkWritersFile} {
		if err := os.Remove(filepath.Join(cfg.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			recf.Close()
			return nil, fmt.Errorf("tail: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	t := &Tailer{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "tailer", "topic", cfg.Topic),
		cancel:     cancel,
		runDone:    make(chan struct{}),
		writerDone: make(chan struct{}),
		items:      make(chan []item, 16),
		flushReq:   make(chan chan error),
		recf:       recf,
		recw:       bufio.NewWriterSize(recf, 1<<20),
		parts:      make(map[int32]*partState),
		progress:   make(chan struct{}),
	}
	go t.run(ctx)
	go t.writer()
	return t, nil
}

// run keeps a consuming session alive until ctx is done, reconnecting with
// exponential backoff. It closes items when it returns: it is the only
// sender, through the sessions it waits for.
func (t *Tailer) run(ctx context.Context) {
	defer close(t.runDone)
	defer close(t.items)
	backoff := t.cfg.MinBackoff
	for {
		began := time.Now()
		err := t.session(ctx)
		if ctx.Err() != nil {
			return
		}
		t.mu.Lock()
		t.reconnects++
		t.lastErr = err
		t.mu.Unlock()
		if time.Since(began) > 10*t.cfg.MaxBackoff {
			// The session was healthy for a while: this is a new outage.
			backoff = t.cfg.MinBackoff
		}
		t.log.Warn("tailer session ended, reconnecting", "err", err, "backoff", backoff)
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff = min(2*backoff, t.cfg.MaxBackoff)
	}
}

// session connects, starts one consumer per partition at the offset after
// the last written record (the oldest offset at first), and returns the
// first error any of them meets, after stopping them all.
func (t *Tailer) session(ctx context.Context) error {
	client, err := connect(ctx, t.cfg.Brokers, saramaConfig(t.cfg.ClientID, t.cfg.ReadCommitted))
	if err != nil {
		return err
	}
	defer func() { _ = client.Close() }()
	parts, err := client.Partitions(t.cfg.Topic)
	if err != nil {
		return fmt.Errorf("tail: partitions of %s: %w", t.cfg.Topic, err)
	}
	if len(parts) == 0 {
		return fmt.Errorf("tail: topic %s has no partitions", t.cfg.Topic)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("tail: consumer of %s: %w", t.cfg.Topic, err)
	}
	defer func() { _ = consumer.Close() }()

	starts := t.startOffsets(parts)
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errc := make(chan error, len(parts))
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Go(func() { errc <- t.consume(sctx, consumer, p, starts[p]) })
	}
	t.mu.Lock()
	t.connected, t.abort = true, cancel
	t.mu.Unlock()
	select {
	case err = <-errc:
	case <-sctx.Done():
		err = context.Cause(sctx)
	}
	cancel(err)
	wg.Wait()
	t.mu.Lock()
	t.connected, t.abort = false, nil
	t.mu.Unlock()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// startOffsets records the topic's partitions and returns where each
// resumes.
func (t *Tailer) startOffsets(parts []int32) map[int32]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.known = true
	out := make(map[int32]int64, len(parts))
	for _, p := range parts {
		ps := t.part(p)
		out[p] = sarama.OffsetOldest
		if ps.next >= 0 {
			out[p] = ps.next
		}
	}
	return out
}

// part returns the state of partition p; t.mu must be held.
func (t *Tailer) part(p int32) *partState {
	ps := t.parts[p]
	if ps == nil {
		ps = &partState{next: -1}
		t.parts[p] = ps
	}
	return ps
}

// consume reads one partition from start until ctx is done (nil) or the
// partition consumer fails (the error). Each record is encoded here, so
// that decoding runs in parallel across partitions.
func (t *Tailer) consume(ctx context.Context, consumer sarama.Consumer, p int32, start int64) error {
	pc, err := consumer.ConsumePartition(t.cfg.Topic, p, start)
	if err != nil {
		return fmt.Errorf("tail: consume %s/%d from %d: %w", t.cfg.Topic, p, start, err)
	}
	defer func() { _ = pc.Close() }()
	msgs, errs := pc.Messages(), pc.Errors()
	batch := make([]item, 0, batchSize)
	var (
		headers []evidence.Header // scratch for encode, reused record after record
		lines   []byte            // where encode appends dump records (see encode)
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-msgs:
			if !ok {
				return fmt.Errorf("tail: consume %s/%d: partition consumer stopped", t.cfg.Topic, p)
			}
			batch = append(batch[:0], t.encode(m, &headers, &lines))
			// Take whatever else is already buffered, up to a batch.
		more:
			for len(batch) < batchSize {
				select {
				case m, ok := <-msgs:
					if !ok {
						break more
					}
					batch = append(batch, t.encode(m, &headers, &lines))
				default:
					break more
				}
			}
			select {
			case t.items <- slices.Clone(batch):
			case <-ctx.Done():
				return nil
			}
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// sarama retries fetches itself (leader moves, broker restarts);
			// a lost position it cannot.
			if errors.Is(e.Err, sarama.ErrOffsetOutOfRange) {
				return fmt.Errorf("tail: consume %s/%d: %w", t.cfg.Topic, p, e.Err)
			}
			t.log.Debug("fetch error, sarama retries", "partition", p, "err", e.Err)
		}
	}
}

// linesChunk is the size of the buffers dump records are appended to: one
// allocation for hundreds of records instead of one each.
const linesChunk = 64 << 10

// encode turns a consumed message into its dump record, or its line of the
// malformed list. Dump records are appended to *lines, and each item's line
// is its own piece of it: nothing writes that piece again (a full buffer is
// replaced, not reused).
func (t *Tailer) encode(m *sarama.ConsumerMessage, headers *[]evidence.Header, lines *[]byte) item {
	it := item{partition: m.Partition, offset: m.Offset, at: m.Timestamp}
	// NB: Decode keeps nothing of the headers, so the scratch is reused.
	*headers = (*headers)[:0]
	for _, h := range m.Headers {
		if h != nil {
			*headers = append(*headers, evidence.Header{Key: h.Key, Value: h.Value})
		}
	}
	rec, derr := t.cfg.Decode(evidence.Consumed{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp, Key: m.Key, Value: m.Value, Headers: *headers})
	if derr == nil {
		cr := rundir.Record(rec)
		it.kind, it.wmTs, it.changefeed, it.node = cr.Kind, cr.WatermarkTs, cr.Changefeed, cr.Node
		if cap(*lines)-len(*lines) < 1024 {
			*lines = make([]byte, 0, linesChunk)
		}
		start := len(*lines)
		*lines = checker.AppendDumpRecord(*lines, &cr)
		it.line = (*lines)[start:len(*lines):len(*lines)]
		return it
	}
	if errors.Is(derr, evidence.ErrNotChange) {
		it.skipped = true
		return it
	}
	it.malformed = true
	line, err := json.Marshal(rundir.Malformed{Partition: m.Partition, Offset: m.Offset, AppendTime: m.Timestamp.UTC(), Key: string(m.Key), Error: derr.Error()})
	if err != nil {
		// Malformed cannot fail to encode; keep the position anyway.
		line, _ = json.Marshal(rundir.Malformed{Partition: m.Partition, Offset: m.Offset, Error: "encode: " + err.Error()})
	}
	it.line = append(line, '\n')
	return it
}

// writer appends consumed records to the files, updates the live state and
// flushes regularly, until items is closed.
func (t *Tailer) writer() {
	defer close(t.writerDone)
	tick := time.NewTicker(t.cfg.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case batch, ok := <-t.items:
			if !ok {
				t.flush()
				return
			}
			t.write(batch)
		case <-tick.C:
			t.flush()
		case reply := <-t.flushReq:
			reply <- t.flush()
		}
	}
}

// write appends one batch; records at offsets already written (resent by a
// session that replaced a failed one) are skipped.
func (t *Tailer) write(batch []item) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range batch {
		it := &batch[i]
		ps := t.part(it.partition)
		if it.offset < ps.next {
			continue
		}
		var err error
		switch {
		case it.skipped:
			t.skipped++
		case it.malformed:
			err = t.writeMalformed(it.line)
			t.malformed++
		default:
			_, err = t.recw.Write(it.line)
			t.records++
			ps.records++
			switch it.kind {
			case checker.KindRow:
				t.rows++
			case checker.KindWatermark:
				t.watermarks++
				if t.wmWriter == nil {
					t.wmWriter = map[string]string{}
				}
				t.wmWriter[it.changefeed] = it.node
				if !ps.hasWm || it.wmTs > ps.wm {
					ps.wm, ps.hasWm, ps.wmAt = it.wmTs, true, it.at
				}
			}
		}
		if err != nil && t.writeErr == nil {
			t.writeErr = fmt.Errorf("tail: write dump: %w", err)
			t.log.Error("cannot write the record dump", "err", err)
		}
		ps.next = it.offset + 1
	}
	close(t.progress)
	t.progress = make(chan struct{})
}

// writeMalformed appends a line to the malformed list, creating it on first
// use; t.mu is held.
func (t *Tailer) writeMalformed(line []byte) error {
	if t.malw == nil {
		f, err := os.Create(filepath.Join(t.cfg.Dir, rundir.SinkMalformedFile))
		if err != nil {
			return err
		}
		t.malf, t.malw = f, bufio.NewWriter(f)
	}
	if t.malformed < maxMalformedLogs {
		t.log.Warn("malformed record in the topic", "line", strings.TrimSpace(string(line)))
	}
	_, err := t.malw.Write(line)
	return err
}

// flush writes the buffers to the files; it runs on the writer goroutine.
func (t *Tailer) flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.recw.Flush()
	if t.malw != nil {
		err = errors.Join(err, t.malw.Flush())
	}
	if err != nil && t.writeErr == nil {
		t.writeErr = fmt.Errorf("tail: flush dump: %w", err)
	}
	return t.writeErr
}

// Flush writes every record consumed so far to the file.
func (t *Tailer) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case t.flushReq <- reply:
	case <-t.writerDone:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("tail: flush: %w", ctx.Err())
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("tail: flush: %w", ctx.Err())
	}
}

// Offsets returns, per partition of the topic, the oldest offset still in
// the log and the high watermark (the offset the next record will get), or,
// for a read_committed Tailer, the last stable offset, asked of the brokers
// through a client of its own.
func (t *Tailer) Offsets(ctx context.Context) (oldest, high Offsets, err error) {
	return topicOffsets(ctx, t.cfg.Brokers, t.cfg.Topic, t.cfg.ReadCommitted)
}

// TopicOffsets returns the oldest offsets and high watermarks of every
// partition of topic.
func TopicOffsets(ctx context.Context, brokers []string, topic string) (oldest, high Offsets, err error) {
	return topicOffsets(ctx, brokers, topic, false)
}

// topicOffsets returns the oldest offsets and the high watermarks, or the
// last stable offsets when readCommitted, of every partition of topic.
func topicOffsets(ctx context.Context, brokers []string, topic string, readCommitted bool) (oldest, high Offsets, err error) {
	client, err := connect(ctx, brokers, saramaConfig("chaosrun-offsets", readCommitted))
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = client.Close() }()
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, nil, fmt.Errorf("tail: partitions of %s: %w", topic, err)
	}
	oldest, high = make(Offsets, len(parts)), make(Offsets, len(parts))
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("tail: offsets of %s: %w", topic, err)
		}
		if oldest[p], err = client.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
			return nil, nil, fmt.Errorf("tail: oldest offset of %s/%d: %w", topic, p, err)
		}
		if readCommitted {
			high[p], err = lastStableOffset(client, topic, p)
		} else {
			high[p], err = client.GetOffset(topic, p, sarama.OffsetNewest)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("tail: high watermark of %s/%d: %w", topic, p, err)
		}
	}
	return oldest, high, nil
}

// probeEvery is how long a read_committed Drain waits for progress before
// it asks the broker whether what remains below the last stable offset is
// visible at all.
const probeEvery = 250 * time.Millisecond

// Drain waits until every partition is consumed up to the high watermark
// it has when Drain is called, flushes the dump and writes
// sink-offsets.json, whose account it also returns. Call it after the
// system under test stopped writing; records appended meanwhile may or may
// not be in the dump. The Tailer keeps tailing afterwards. When ctx ends
// first the error wraps ErrNotCaughtUp and says what is missing.
//
// A read_committed Tailer drains up to the last stable offsets instead. The
// consumer never hands over transaction markers or aborted records, so a
// partition whose last records are such is caught up when the broker shows
// nothing visible between the consumer's position and the last stable
// offset; its Next is then recorded as that offset.
//
// Drain then scans the record batches of what it drained, [Oldest, Next)
// of each partition, and writes sink-writers.json: each writer
// generation's records, visible or aborted. A failed scan is logged and
// recorded in that file; it does not fail Drain.
func (t *Tailer) Drain(ctx context.Context) (rundir.SinkOffsets, error) {
	oldest, high, err := t.Offsets(ctx)
	if err != nil {
		return rundir.SinkOffsets{}, fmt.Errorf("tail: drain %s: %w", t.cfg.Topic, err)
	}
	// reached holds the partitions verified to hold nothing visible between
	// the consumer's position and high.
	reached := map[int32]bool{}
	for {
		t.mu.Lock()
		behind := t.behind(oldest, high, reached)
		progress, lastErr := t.progress, t.lastErr
		next := t.nextOffsets(behind, oldest)
		t.mu.Unlock()
		if len(behind) == 0 {
			break
		}
		var probe <-chan time.Time
		if t.cfg.ReadCommitted {
			probe = time.After(probeEvery)
		}
		select {
		case <-progress:
		case <-probe:
			if err := t.probe(ctx, next, high, reached); err != nil {
				t.log.Debug("drain probe failed, waiting on", "err", err)
			}
		case <-t.runDone:
			return rundir.SinkOffsets{}, fmt.Errorf("%w: %s: %s", ErrClosed, t.cfg.Topic, describeBehind(behind, oldest, high, next))
		case <-ctx.Done():
			return rundir.SinkOffsets{}, fmt.Errorf("%w: %s: %s (last error: %v): %w", ErrNotCaughtUp, t.cfg.Topic, describeBehind(behind, oldest, high, next), lastErr, ctx.Err())
		}
	}
	if err := t.Flush(ctx); err != nil {
		return rundir.SinkOffsets{}, err
	}
	out := rundir.SinkOffsets{Topic: t.cfg.Topic, DrainedAt: time.Now().UTC()}
	if t.cfg.ReadCommitted {
		out.Isolation = rundir.IsolationReadCommitted
	}
	t.mu.Lock()
	for p, h := range high {
		next := max(t.part(p).next, oldest[p])
		if reached[p] {
			next = max(next, h)
		}
		out.Partitions = append(out.Partitions, rundir.PartitionOffset{Partition: p, Oldest: oldest[p], High: h, Next: next})
	}
	out.Records, out.Malformed, out.Skipped = t.records, t.malformed, t.skipped
	t.mu.Unlock()
	slices.SortFunc(out.Partitions, func(a, b rundir.PartitionOffset) int { return int(a.Partition - b.Partition) })
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return out, fmt.Errorf("tail: encode %s: %w", rundir.SinkOffsetsFile, err)
	}
	if err := writeAtomic(filepath.Join(t.cfg.Dir, rundir.SinkOffsetsFile), append(b, '\n')); err != nil {
		return out, err
	}
	t.writeWriters(ctx, out)
	return out, nil
}

// probe asks the brokers, for each partition of next, whether anything
// visible read_committed lies between next and high, and marks those with
// nothing in reached.
func (t *Tailer) probe(ctx context.Context, next, high Offsets, reached map[int32]bool) error {
	client, err := connect(ctx, t.cfg.Brokers, saramaConfig("chaosrun-drain-probe", true))
	if err != nil {
		return err
	}
	defer func() { _ = client.Close() }()
	for p, from := range next {
		visible, err := anyVisible(ctx, client, t.cfg.Topic, p, from, high[p])
		if err != nil {
			return err
		}
		if !visible {
			reached[p] = true
		}
	}
	return nil
}

// nextOffsets returns the consumer position of each partition of ps, the
// oldest offset before the first record; t.mu must be held.
func (t *Tailer) nextOffsets(ps []int32, oldest Offsets) Offsets {
	out := make(Offsets, len(ps))
	for _, p := range ps {
		out[p] = max(t.part(p).next, oldest[p])
	}
	return out
}

// behind lists, in id order, the partitions not yet consumed up to high
// and not verified to be there (reached); t.mu must be held.
func (t *Tailer) behind(oldest, high Offsets, reached map[int32]bool) []int32 {
	var out []int32
	for _, p := range slices.Sorted(maps.Keys(high)) {
		if h := high[p]; h > oldest[p] && !reached[p] && t.part(p).next < h {
			out = append(out, p)
		}
	}
	return out
}

// describeBehind says where the partitions behind are.
func describeBehind(behind []int32, oldest, high, next Offsets) string {
	var b strings.Builder
	b.WriteString("partitions at offset/high")
	for _, p := range behind {
		fmt.Fprintf(&b, " %d:%d/%d", p, max(next[p], oldest[p]), high[p])
	}
	return b.String()
}

// writeAtomic writes b to path through a temporary file and a rename, so a
// reader never sees half a file.
func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("tail: write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("tail: write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// Close stops tailing, waits for every goroutine, flushes and closes the
// files. It returns the first error writing the files met. Idempotent.
func (t *Tailer) Close() error {
	t.closeOnce.Do(func() {
		t.cancel()
		<-t.runDone
		<-t.writerDone
		t.mu.Lock()
		defer t.mu.Unlock()
		err := t.writeErr
		if cerr := t.recf.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("tail: close dump: %w", cerr)
		}
		if t.malf != nil {
			if cerr := t.malf.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("tail: close malformed list: %w", cerr)
			}
		}
		t.closeErr = err
	})
	return t.closeErr
}

// connect opens a sarama client, giving up when ctx is done. sarama's
// constructor takes no context; when ctx wins, the client it may still
// return is closed in the background.
func connect(ctx context.Context, brokers []string, cfg *sarama.Config) (sarama.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tail: connect to %v: %w", brokers, err)
	}
	type res struct {
		c   sarama.Client
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := sarama.NewClient(brokers, cfg)
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("tail: connect to %v: %w", brokers, r.err)
		}
		return r.c, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				_ = r.c.Close()
			}
		}()
		return nil, fmt.Errorf("tail: connect to %v: %w", brokers, ctx.Err())
	}
}

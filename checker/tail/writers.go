package tail

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/IBM/sarama"

	"github.com/chaosrun/chaosrun/checker/rundir"
)

// Control record types, the second int16 of a control record's key.
const (
	controlAbort  = 0
	controlCommit = 1
)

// scanFetchBytes bounds one fetch of the writer scan.
const scanFetchBytes = 4 << 20

// writerKey is a writer generation on the wire: a batch's producer id and
// epoch.
type writerKey struct {
	pid   int64
	epoch int16
}

// writerScan attributes data records to their writer generation.
type writerScan struct {
	writers map[writerKey]*rundir.WriterCount
	// visible are each writer's visible batches, by append time, for
	// VisibleAfterFenced.
	visible map[writerKey][]appended
	// last is the writer of the last data batch seen in each partition, so
	// that consecutive batches of one writer make one run.
	last map[int32]writerKey
	// problem is the first inconsistency in the broker's account.
	problem string
}

// appended is a visible batch: n records appended at at.
type appended struct {
	at time.Time
	n  int64
}

// span is where a batch's counted records are: partition p, offsets
// [from, to].
type span struct {
	p        int32
	from, to int64
}

func newWriterScan() *writerScan {
	return &writerScan{writers: map[writerKey]*rundir.WriterCount{}, visible: map[writerKey][]appended{}, last: map[int32]writerKey{}}
}

// add counts n data records of writer (pid, epoch) from one batch
// appended at at, whose counted records are at sp; a negative pid is
// NoProducer.
func (s *writerScan) add(pid int64, epoch int16, txn bool, at time.Time, n int64, aborted bool, sp span) {
	if n == 0 {
		return
	}
	if pid < 0 {
		pid, epoch = rundir.NoProducer, rundir.NoProducer
	}
	k := writerKey{pid, epoch}
	w := s.writers[k]
	if w == nil {
		w = &rundir.WriterCount{ProducerID: pid, Epoch: epoch, FirstAppend: at, LastAppend: at}
		s.writers[k] = w
	}
	w.Transactional = w.Transactional || txn
	w.Attempted += n
	prev, hasPrev := s.last[sp.p]
	s.last[sp.p] = k
	if aborted {
		w.Aborted += n
	} else {
		w.Visible += n
		s.visible[k] = append(s.visible[k], appended{at, n})
		if r := len(w.Runs) - 1; hasPrev && prev == k && r >= 0 && w.Runs[r].Partition == sp.p {
			w.Runs[r].To = sp.to
		} else {
			w.Runs = append(w.Runs, rundir.OffsetRun{Partition: sp.p, From: sp.from, To: sp.to})
		}
	}
	if at.Before(w.FirstAppend) {
		w.FirstAppend = at
	}
	if at.After(w.LastAppend) {
		w.LastAppend = at
	}
}

// result returns the writers ordered by producer id and epoch, each with
// the visible records it appended after a newer epoch of its producer id
// first appended.
func (s *writerScan) result() []rundir.WriterCount {
	out := make([]rundir.WriterCount, 0, len(s.writers))
	for k, w := range s.writers {
		c := *w
		if k.pid != rundir.NoProducer {
			var newer time.Time
			for k2, w2 := range s.writers {
				if k2.pid == k.pid && k2.epoch > k.epoch && (newer.IsZero() || w2.FirstAppend.Before(newer)) {
					newer = w2.FirstAppend
				}
			}
			for _, a := range s.visible[k] {
				if !newer.IsZero() && a.at.After(newer) {
					c.VisibleAfterFenced += a.n
				}
			}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b rundir.WriterCount) int {
		return cmp.Or(cmp.Compare(a.ProducerID, b.ProducerID), cmp.Compare(a.Epoch, b.Epoch))
	})
	return out
}

// block attributes the data records of a fetched block (read_committed, so
// that it lists the aborted transactions) at offsets in [from, to), and
// returns the offset after the last complete batch it read. It tells
// aborted records apart as Kafka's consumer does: a producer id is in an
// aborted transaction from the first batch that reaches the listed first
// offset until that producer's next control batch; a transactional data
// batch of such a producer is aborted. Control batches hold no data.
func (s *writerScan) block(block *sarama.FetchResponseBlock, p int32, from, to int64) (next int64) {
	next = from
	pending := slices.Clone(block.AbortedTransactions)
	slices.SortFunc(pending, func(a, b *sarama.AbortedTransaction) int { return cmp.Compare(a.FirstOffset, b.FirstOffset) })
	aborted := map[int64]bool{}
	for _, rs := range block.RecordsSet {
		b := rs.RecordBatch
		if b == nil {
			// A legacy message set carries no producer id.
			if rs.MsgSet == nil {
				continue
			}
			for _, m := range rs.MsgSet.Messages {
				if m.Offset >= from && m.Offset < to {
					s.add(rundir.NoProducer, rundir.NoProducer, false, m.Msg.Timestamp.UTC(), 1, false, span{p, m.Offset, m.Offset})
				}
				next = max(next, m.Offset+1)
			}
			continue
		}
		if b.PartialTrailingRecord {
			// Cut off by the fetch size; the next fetch starts at it.
			break
		}
		last := b.LastOffset()
		for len(pending) > 0 && pending[0].FirstOffset <= last {
			aborted[pending[0].ProducerID] = true
			pending = pending[1:]
		}
		if b.Control {
			switch typ, ok := controlType(b); {
			case !ok:
				s.note(fmt.Sprintf("control batch at offset %d has no control record", b.FirstOffset))
			case typ == controlAbort:
				delete(aborted, b.ProducerID)
			case typ == controlCommit && aborted[b.ProducerID]:
				s.note(fmt.Sprintf("producer %d commits at offset %d a transaction the broker lists as aborted", b.ProducerID, b.FirstOffset))
				delete(aborted, b.ProducerID)
			}
			next = max(next, last+1)
			continue
		}
		var n int64
		sp := span{p: p, from: -1}
		for _, r := range b.Records {
			if off := b.FirstOffset + r.OffsetDelta; off >= from && off < to {
				n++
				if sp.from < 0 {
					sp.from = off
				}
				sp.to = off
			}
		}
		s.add(b.ProducerID, b.ProducerEpoch, b.IsTransactional, b.MaxTimestamp.UTC(), n, b.IsTransactional && aborted[b.ProducerID], sp)
		next = max(next, last+1)
	}
	return next
}

func (s *writerScan) note(p string) {
	if s.problem == "" {
		s.problem = p
	}
}

// controlType decodes the type of a control batch's record, whose key is
// a version (int16) and a type (int16).
func controlType(b *sarama.RecordBatch) (int16, bool) {
	if len(b.Records) == 0 || len(b.Records[0].Key) < 4 {
		return 0, false
	}
	return int16(binary.BigEndian.Uint16(b.Records[0].Key[2:4])), true
}

// scanPartition attributes the data records of partition p at offsets in
// [from, to) and returns the offset it reached. It fetches read_committed,
// the only isolation level for which the broker lists aborted transactions
// (the batches come unfiltered), so it cannot read past the last stable
// offset.
func scanPartition(ctx context.Context, client sarama.Client, topic string, p int32, from, to int64, s *writerScan) (int64, error) {
	stuck := 0
	for from < to {
		if err := ctx.Err(); err != nil {
			return from, err
		}
		broker, err := client.Leader(topic, p)
		if err != nil {
			return from, err
		}
		req := &sarama.FetchRequest{Version: 12, MinBytes: 1, MaxBytes: scanFetchBytes, Isolation: sarama.ReadCommitted, SessionID: 0, SessionEpoch: -1}
		req.AddBlock(topic, p, from, scanFetchBytes, -1)
		resp, err := broker.Fetch(req)
		if err != nil {
			return from, fmt.Errorf("fetch %s/%d at %d: %w", topic, p, from, err)
		}
		block := resp.GetBlock(topic, p)
		if block == nil {
			return from, fmt.Errorf("fetch %s/%d at %d: %w", topic, p, from, sarama.ErrIncompleteResponse)
		}
		if !errors.Is(block.Err, sarama.ErrNoError) {
			return from, fmt.Errorf("fetch %s/%d at %d: %w", topic, p, from, block.Err)
		}
		next := s.block(block, p, from, to)
		if next <= from {
			if stuck++; stuck >= maxProbeFetches {
				return from, fmt.Errorf("%s/%d: no batch at %d below %d (last stable offset %d)", topic, p, from, to, block.LastStableOffset)
			}
			continue
		}
		stuck, from = 0, next
	}
	return from, nil
}

// scanWriters attributes every data record of the ranges offs drained,
// [Oldest, Next) of each partition, to its writer generation. On error the
// account covers what was read (each range's Reached).
func (t *Tailer) scanWriters(ctx context.Context, offs rundir.SinkOffsets) (rundir.SinkWriters, error) {
	out := rundir.SinkWriters{Topic: t.cfg.Topic, ScannedAt: time.Now().UTC(), Writers: []rundir.WriterCount{}}
	for _, p := range offs.Partitions {
		out.Partitions = append(out.Partitions, rundir.ScannedRange{Partition: p.Partition, From: p.Oldest, To: p.Next, Reached: p.Oldest})
	}
	s := newWriterScan()
	client, err := connect(ctx, t.cfg.Brokers, saramaConfig("chaosrun-writer-scan", true))
	if err == nil {
		defer func() { _ = client.Close() }()
		for i := range out.Partitions {
			r := &out.Partitions[i]
			if r.Reached, err = scanPartition(ctx, client, t.cfg.Topic, r.Partition, r.From, r.To, s); err != nil {
				break
			}
		}
	}
	out.Writers = s.result()
	if err != nil {
		return out, fmt.Errorf("tail: writer scan of %s: %w", t.cfg.Topic, err)
	}
	if s.problem != "" {
		return out, fmt.Errorf("tail: writer scan of %s: %s", t.cfg.Topic, s.problem)
	}
	return out, nil
}

// writeWriters scans the writers of what Drain drained and writes
// SinkWritersFile. A failed scan is recorded in the file and logged; it
// does not fail the drain, whose dump is complete.
func (t *Tailer) writeWriters(ctx context.Context, offs rundir.SinkOffsets) {
	w, err := t.scanWriters(ctx, offs)
	if err != nil {
		t.log.Warn("writer scan incomplete; the dump is not affected", "err", err)
		w.Error = err.Error()
	}
	b, err := json.MarshalIndent(w, "", "  ")
	if err == nil {
		err = writeAtomic(filepath.Join(t.cfg.Dir, rundir.SinkWritersFile), append(b, '\n'))
	}
	if err != nil {
		t.log.Error("cannot write the writer scan", "err", err)
	}
}

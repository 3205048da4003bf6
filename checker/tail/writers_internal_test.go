package tail

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/checker/rundir"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// data is a data batch of n records at first by producer (pid, epoch).
func data(first int64, n int, pid int64, epoch int16, txn bool) *sarama.Records {
	b := &sarama.RecordBatch{FirstOffset: first, LastOffsetDelta: int32(n - 1), ProducerID: pid, ProducerEpoch: epoch,
		IsTransactional: txn, MaxTimestamp: t0.Add(time.Duration(first) * time.Millisecond)}
	for i := range n {
		b.Records = append(b.Records, &sarama.Record{OffsetDelta: int64(i), Value: []byte("v")})
	}
	return &sarama.Records{RecordBatch: b}
}

// marker is a control batch of producer pid at off: abort (0) or commit (1).
func marker(off, pid int64, epoch int16, typ byte) *sarama.Records {
	return &sarama.Records{RecordBatch: &sarama.RecordBatch{FirstOffset: off, ProducerID: pid, ProducerEpoch: epoch,
		IsTransactional: true, Control: true, Records: []*sarama.Record{{Key: []byte{0, 0, 0, typ}}}}}
}

func counts(ws []rundir.WriterCount) map[[2]int64][3]int64 {
	out := map[[2]int64][3]int64{}
	for _, w := range ws {
		out[[2]int64{w.ProducerID, int64(w.Epoch)}] = [3]int64{w.Attempted, w.Visible, w.Aborted}
	}
	return out
}

// TestWriterScanAbortRanges interleaves two transactional producers, an
// idempotent one and a plain one: a producer's transactional records are
// aborted from its listed first offset up to its abort marker, and not
// after it.
func TestWriterScanAbortRanges(t *testing.T) {
	block := &sarama.FetchResponseBlock{
		AbortedTransactions: []*sarama.AbortedTransaction{{ProducerID: 7, FirstOffset: 13}, {ProducerID: 5, FirstOffset: 4}},
		RecordsSet: []*sarama.Records{
			data(0, 3, 5, 0, true),   // 0-2 committed below
			marker(3, 5, 0, 1),       // commit
			data(4, 2, 5, 0, true),   // 4-5 aborted
			data(6, 4, 7, 2, true),   // 6-9 committed: 7's abort starts at 13
			data(10, 2, 9, 0, false), // idempotent
			marker(12, 7, 2, 1),      // commit
			data(13, 1, 7, 2, true),  // aborted
			data(14, 2, -1, -1, false),
			marker(16, 5, 1, 0), // abort: ends 5's range
			marker(17, 7, 3, 0),
			data(18, 3, 5, 2, true), // 5 after its abort: visible
			marker(21, 5, 2, 1),
		},
	}
	s := newWriterScan()
	next := s.block(block, 0, 0, 100)
	assert.EqualValues(t, 22, next)
	assert.Empty(t, s.problem)
	assert.Equal(t, map[[2]int64][3]int64{
		{5, 0}:   {5, 3, 2},
		{5, 2}:   {3, 3, 0},
		{7, 2}:   {5, 4, 1},
		{9, 0}:   {2, 2, 0},
		{-1, -1}: {2, 2, 0},
	}, counts(s.result()))
	ws := s.result()
	require.Equal(t, int64(-1), ws[0].ProducerID, "ordered by producer id")
	assert.False(t, ws[0].Transactional)
	assert.True(t, ws[1].Transactional)
	assert.Equal(t, t0, ws[1].FirstAppend)
	assert.Equal(t, t0.Add(4*time.Millisecond), ws[1].LastAppend)
}

// TestWriterScanRange counts only the records in [from, to), and stops at
// a batch cut off by the fetch size.
func TestWriterScanRange(t *testing.T) {
	cut := data(10, 5, 3, 0, false)
	cut.RecordBatch.PartialTrailingRecord = true
	block := &sarama.FetchResponseBlock{RecordsSet: []*sarama.Records{data(0, 5, 3, 0, false), data(5, 5, 3, 0, false), cut}}
	s := newWriterScan()
	assert.EqualValues(t, 10, s.block(block, 0, 2, 8))
	assert.Equal(t, map[[2]int64][3]int64{{3, 0}: {6, 6, 0}}, counts(s.result()))
}

// TestWriterScanCommitOfAbortedTxn notes a commit marker that closes a
// transaction the broker listed as aborted.
func TestWriterScanCommitOfAbortedTxn(t *testing.T) {
	block := &sarama.FetchResponseBlock{
		AbortedTransactions: []*sarama.AbortedTransaction{{ProducerID: 5, FirstOffset: 0}},
		RecordsSet:          []*sarama.Records{data(0, 2, 5, 0, true), marker(2, 5, 0, 1)},
	}
	s := newWriterScan()
	s.block(block, 0, 0, 3)
	assert.Contains(t, s.problem, "lists as aborted")
}

// TestWriterScanRunsAndFenced records each writer's visible offsets as
// runs (consecutive batches of one writer merge; another writer's batch in
// between splits them; aborted batches are not runs) and counts the visible
// records a generation appended after a newer epoch of its producer id
// first appended.
func TestWriterScanRunsAndFenced(t *testing.T) {
	block := &sarama.FetchResponseBlock{
		AbortedTransactions: []*sarama.AbortedTransaction{{ProducerID: 5, FirstOffset: 9}},
		RecordsSet: []*sarama.Records{
			data(0, 2, 5, 0, true), // 0-1
			data(2, 2, 5, 0, true), // 2-3: one run with 0-1
			marker(4, 5, 0, 1),
			data(5, 2, 8, 0, false), // 5-6: another writer
			data(7, 1, 5, 1, true),  // 7: epoch 1 appears at t0+7ms
			marker(8, 5, 1, 1),
			data(9, 2, 5, 1, true), // 9-10 aborted: no run
			marker(11, 5, 1, 0),
			data(12, 2, 5, 0, true), // 12-13: epoch 0 visible after epoch 1 began
			marker(14, 5, 0, 1),
		},
	}
	s := newWriterScan()
	s.block(block, 3, 0, 100)
	require.Empty(t, s.problem)
	byKey := map[[2]int64]rundir.WriterCount{}
	for _, w := range s.result() {
		byKey[[2]int64{w.ProducerID, int64(w.Epoch)}] = w
	}
	assert.Equal(t, []rundir.OffsetRun{{Partition: 3, From: 0, To: 3}, {Partition: 3, From: 12, To: 13}}, byKey[[2]int64{5, 0}].Runs)
	assert.Equal(t, []rundir.OffsetRun{{Partition: 3, From: 7, To: 7}}, byKey[[2]int64{5, 1}].Runs)
	assert.EqualValues(t, 2, byKey[[2]int64{5, 0}].VisibleAfterFenced, "records 12-13 of the superseded epoch")
	assert.Zero(t, byKey[[2]int64{5, 1}].VisibleAfterFenced)

	sw := rundir.SinkWriters{Writers: s.result()}
	ix := sw.Index()
	assert.Equal(t, "producer 5.0", ix.WriterOf(3, 2))
	assert.Equal(t, "producer 8.0", ix.WriterOf(3, 6))
	assert.Equal(t, "producer 5.1", ix.WriterOf(3, 7))
	assert.Equal(t, "", ix.WriterOf(3, 9), "aborted")
	assert.Equal(t, "producer 5.0", ix.WriterOf(3, 13))
	assert.Equal(t, "", ix.WriterOf(4, 0))
}

package tail_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/checker/rundir"
	"github.com/chaosrun/chaosrun/checker/tail"
	"github.com/chaosrun/chaosrun/evidence/debezium"
	"github.com/chaosrun/chaosrun/sink/kafka"
)

// producerConfig is a sarama producer writing to chosen partitions,
// idempotent, transactional when txnID is set.
func producerConfig(txnID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Transaction.ID = txnID
	cfg.Net.MaxOpenRequests = 1
	return cfg
}

// TestTailerScansWriters fences a transactional producer with an open
// transaction: A commits 10 records and leaves 5 in an open transaction,
// B initialises the same transactional id (which aborts A's transaction)
// and commits 7, and an idempotent producer writes 3. The drain's writer
// scan attributes each record to its producer generation, A's 5 aborted;
// the judge counts them and finds the visible ones are what the
// read_committed tailer consumed.
func TestTailerScansWriters(t *testing.T) {
	log := testLogger(t)
	_, addrs := startKafka(t, log)
	ctx := within(t, 3*time.Minute)
	dir := t.TempDir()
	const topic, parts = "dbz", 2
	require.NoError(t, kafka.CreateTopic(ctx, addrs, kafka.TopicSpec{Name: topic, Partitions: parts}))

	tl, err := tail.Start(ctx, tail.Config{Brokers: addrs, Topic: topic, Dir: dir, Logger: log,
		ReadCommitted: true, Decode: debezium.Options{Changefeed: "pg"}.Decoder()})
	require.NoError(t, err)
	defer func() { require.NoError(t, tl.Close()) }()

	us := time.Now().UnixMicro()
	rows := func(first, n int64) []*sarama.ProducerMessage {
		var msgs []*sarama.ProducerMessage
		for pk := first; pk < first+n; pk++ {
			us++
			msgs = append(msgs, dbzRow(topic, int32(pk%parts), pk, us))
		}
		return msgs
	}
	began := time.Now().Add(-time.Second)

	a, err := sarama.NewSyncProducer(addrs, producerConfig("task-0"))
	require.NoError(t, err)
	require.NoError(t, a.BeginTxn())
	require.NoError(t, a.SendMessages(rows(0, 10)))
	require.NoError(t, a.CommitTxn())
	require.NoError(t, a.BeginTxn())
	require.NoError(t, a.SendMessages(rows(100, 5)))

	// B's InitProducerId fences A and aborts its open transaction.
	b, err := sarama.NewSyncProducer(addrs, producerConfig("task-0"))
	require.NoError(t, err)
	defer func() { require.NoError(t, b.Close()) }()
	require.NoError(t, b.BeginTxn())
	require.NoError(t, b.SendMessages(rows(10, 7)))
	require.NoError(t, b.CommitTxn())
	require.ErrorIs(t, a.CommitTxn(), sarama.ErrProducerFenced, "A is fenced")
	require.NoError(t, a.Close())

	idem, err := sarama.NewSyncProducer(addrs, producerConfig(""))
	require.NoError(t, err)
	defer func() { require.NoError(t, idem.Close()) }()
	require.NoError(t, idem.SendMessages(rows(20, 3)))

	offs, err := tl.Drain(ctx)
	require.NoError(t, err)
	consumed := offs.Records + offs.Malformed + offs.Skipped
	assert.EqualValues(t, 20, consumed)

	w, ok, err := rundir.LoadWriters(dir)
	require.NoError(t, err)
	require.True(t, ok, "Drain writes %s", rundir.SinkWritersFile)
	t.Logf("writers: %+v", w)
	assert.Empty(t, w.Error)
	assert.Equal(t, topic, w.Topic)
	require.Len(t, w.Partitions, parts)
	for _, r := range w.Partitions {
		assert.Equal(t, r.To, r.Reached, "partition %d scanned to the end", r.Partition)
	}
	require.Len(t, w.Writers, 3)
	byAttempted := slices.Clone(w.Writers)
	slices.SortFunc(byAttempted, func(x, y rundir.WriterCount) int { return int(y.Attempted - x.Attempted) })
	wa, wb, wi := byAttempted[0], byAttempted[1], byAttempted[2]
	assert.Equal(t, [3]int64{15, 10, 5}, [3]int64{wa.Attempted, wa.Visible, wa.Aborted}, "A: %+v", wa)
	assert.Equal(t, [3]int64{7, 7, 0}, [3]int64{wb.Attempted, wb.Visible, wb.Aborted}, "B: %+v", wb)
	assert.Equal(t, [3]int64{3, 3, 0}, [3]int64{wi.Attempted, wi.Visible, wi.Aborted}, "idempotent: %+v", wi)
	assert.True(t, wa.Transactional)
	assert.True(t, wb.Transactional)
	assert.False(t, wi.Transactional)
	assert.Equal(t, wa.ProducerID, wb.ProducerID, "one transactional id, one producer id")
	assert.Greater(t, wb.Epoch, wa.Epoch, "fencing bumps the epoch")
	assert.NotEqual(t, wa.ProducerID, wi.ProducerID)
	assert.GreaterOrEqual(t, wi.ProducerID, int64(0), "an idempotent producer has a producer id")
	for _, x := range w.Writers {
		assert.True(t, x.FirstAppend.After(began) && !x.LastAppend.Before(x.FirstAppend), "%+v", x)
	}
	attempted, visible, aborted := w.Totals()
	assert.Equal(t, consumed, visible, "Σ visible is what the read_committed tailer consumed")
	assert.EqualValues(t, 25, attempted)
	assert.EqualValues(t, 5, aborted)

	res, err := rundir.CheckRunDir(dir, checker.SLOs{L: time.Minute, W: time.Second}, rundir.Info{Changefeed: "pg", NoWatermarkPromise: true, RowProgress: true})
	require.NoError(t, err)
	assert.NotContains(t, strings.Join(res.Verdict.Reasons, "\n"), "writer")
	assert.EqualValues(t, 25, res.Counters.Attempted)
	assert.EqualValues(t, 5, res.Counters.Aborted)
	require.Len(t, res.SinkWriters, 3)
}

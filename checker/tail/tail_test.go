package tail_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/checker/rundir"
	"github.com/chaosrun/chaosrun/checker/tail"
	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/sink/kafka"
)

const partitions = 4

// batchMsgs encodes n rows (PKs from first) followed by one watermark
// broadcast at the current time, written by node wmNode.
func batchMsgs(t *testing.T, topic string, first, n int, wmNode string) ([]evidence.Message, uint64) {
	t.Helper()
	var msgs []evidence.Message
	for i := first; i < first+n; i++ {
		m, err := evidence.EncodeRow(topic, evidence.Row{
			Changefeed: "cf1", Epoch: 1, Node: "n1", Dispatcher: "d" + strconv.Itoa(i%3),
			Table: "t1", PK: int64(i), Op: evidence.OpInsert, CommitTs: checker.ComposeTS(time.Now().UnixMilli(), uint64(i)),
			Columns: map[string]string{"v": strconv.Quote(strconv.Itoa(i))},
		})
		require.NoError(t, err)
		msgs = append(msgs, m)
	}
	wmTs := checker.ComposeTS(time.Now().UnixMilli(), 0)
	wms, err := evidence.EncodeWatermark(topic, evidence.Watermark{Changefeed: "cf1", Epoch: 1, Node: wmNode, Ts: wmTs}, partitions)
	require.NoError(t, err)
	return append(msgs, wms...), wmTs
}

// produceAll sends msgs, resending whatever was not acknowledged (as a
// dispatcher does) until everything is, so duplicates are possible.
func produceAll(ctx context.Context, t *testing.T, p *kafka.Producer, msgs []evidence.Message) {
	t.Helper()
	for len(msgs) > 0 {
		require.NoError(t, ctx.Err(), "%d records never acknowledged", len(msgs))
		var retry []evidence.Message
		for i, r := range p.Produce(ctx, msgs) {
			if r.Delivery != kafka.DeliveryAcked {
				retry = append(retry, msgs[i])
			}
		}
		msgs = retry
	}
}

// TestTailerFollowsSurvivesRestartAndDrains starts the tailer before its
// topic exists, follows live writes (and a record that is not a cdc
// record), keeps going across a SIGKILL and restart of the only broker, and
// drains: the dump holds every offset of the topic exactly once.
func TestTailerFollowsSurvivesRestartAndDrains(t *testing.T) {
	log := testLogger(t)
	l, addrs := startKafka(t, log)
	ctx := within(t, 3*time.Minute)
	dir := t.TempDir()
	const topic = "cf1"

	tl, err := tail.Start(ctx, tail.Config{Brokers: addrs, Topic: topic, Dir: dir, Logger: log, MaxBackoff: 500 * time.Millisecond})
	require.NoError(t, err)
	defer func() { require.NoError(t, tl.Close()) }()
	require.False(t, tl.State().GlobalDefined)

	require.NoError(t, kafka.CreateTopic(ctx, addrs, kafka.TopicSpec{Name: topic, Partitions: partitions}))
	prod, err := kafka.NewProducer(ctx, kafka.ProducerConfig{Brokers: addrs, Logger: log, RetryBackoff: 200 * time.Millisecond, Timeout: 20 * time.Second})
	require.NoError(t, err)
	defer func() { require.NoError(t, prod.Close()) }()

	_, ok := tl.WatermarkWriter("cf1")
	require.False(t, ok, "no watermark yet")
	msgs, wm1 := batchMsgs(t, topic, 0, 2000, "n1")
	// A record without the cdc headers is listed, not fatal.
	msgs = append(msgs, evidence.Message{Topic: topic, Key: []byte("junk"), Value: []byte("{}"), Partition: 0})
	produceAll(ctx, t, prod, msgs)
	require.Eventually(t, func() bool {
		s := tl.State()
		return s.Records >= 2000+partitions && s.Malformed == 1 && s.GlobalDefined
	}, time.Minute, 20*time.Millisecond, "tailer never caught up: %+v", tl.State())
	s := tl.State()
	require.Equal(t, wm1, s.Global)
	require.Len(t, s.Partitions, partitions)
	lag, ok := s.Lag(time.Now())
	require.True(t, ok)
	require.Less(t, lag, time.Minute)
	writer, ok := tl.WatermarkWriter("cf1")
	require.True(t, ok)
	assert.Equal(t, "n1", writer)

	// A failed session resumes where the dump ends, without duplicates.
	require.True(t, tl.AbortSession(errors.New("test: injected session failure")))
	msgs, _ = batchMsgs(t, topic, 4000, 500, "n1")
	produceAll(ctx, t, prod, msgs)
	require.Eventually(t, func() bool { s := tl.State(); return s.Reconnects == 1 && s.Connected }, 30*time.Second, 10*time.Millisecond)
	require.ErrorContains(t, tl.State().LastError, "injected")

	require.NoError(t, l.KillBroker(1))
	require.NoError(t, l.StartBroker(ctx, 1))
	msgs, wm2 := batchMsgs(t, topic, 2000, 2000, "n2.r7")
	produceAll(ctx, t, prod, msgs)

	offs, err := tl.Drain(ctx)
	require.NoError(t, err)
	s = tl.State()
	t.Logf("after drain: %d records, %d malformed, %d reconnects (last error %v)", s.Records, s.Malformed, s.Reconnects, s.LastError)
	require.Equal(t, wm2, s.Global)
	writer, _ = tl.WatermarkWriter("cf1")
	assert.Equal(t, "n2.r7", writer, "the newest watermark's writer")
	require.Equal(t, offs.Total(), offs.Records+offs.Malformed, "offsets %+v", offs)
	require.GreaterOrEqual(t, offs.Records, int64(4500+3*partitions))
	require.EqualValues(t, 1, offs.Malformed)
	for _, p := range offs.Partitions {
		require.Equal(t, p.High, p.Next, "partition %d", p.Partition)
	}

	requireEveryOffsetOnce(ctx, t, tl, dir, offs)

	// The run directory checks: the malformed record makes it inconclusive.
	res, err := rundir.CheckRunDir(dir, checker.SLOs{L: time.Second, W: time.Second}, rundir.Info{Changefeed: "cf1"})
	require.NoError(t, err)
	require.Equal(t, offs.Records, res.Counters.Records)
	require.Equal(t, partitions, res.Counters.Partitions)
	require.Contains(t, strings.Join(res.Verdict.Reasons, "\n"), "not valid cdc records")
}

// requireEveryOffsetOnce checks that every offset of the drained topic is
// in the dump (or the malformed list) exactly once.
func requireEveryOffsetOnce(ctx context.Context, t *testing.T, tl *tail.Tailer, dir string, offs rundir.SinkOffsets) {
	t.Helper()
	require.NoError(t, tl.Flush(ctx))
	seen := map[int32]map[int64]int{}
	mark := func(p int32, off int64) {
		if seen[p] == nil {
			seen[p] = map[int64]int{}
		}
		seen[p][off]++
	}
	f, err := os.Open(filepath.Join(dir, rundir.SinkRecordsFile))
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, checker.ReadDump(f, func(r checker.Record) error {
		mark(r.Partition, r.Offset)
		return nil
	}))
	bad, err := rundir.LoadMalformed(dir)
	require.NoError(t, err)
	require.Len(t, bad, 1)
	assert.Equal(t, "junk", bad[0].Key)
	assert.Contains(t, bad[0].Error, "cdc-kind")
	mark(bad[0].Partition, bad[0].Offset)
	for _, p := range offs.Partitions {
		for o := p.Oldest; o < p.High; o++ {
			require.Equal(t, 1, seen[p.Partition][o], "partition %d offset %d", p.Partition, o)
		}
		require.Len(t, seen[p.Partition], int(p.High-p.Oldest))
	}
}

// TestTailerUnreachable closes promptly while it cannot connect, and a
// Drain against an unreachable cluster fails with the context.
func TestTailerUnreachable(t *testing.T) {
	dir := t.TempDir()
	tl, err := tail.Start(context.Background(), tail.Config{Brokers: []string{"127.0.0.1:1"}, Topic: "cf1", Dir: dir, Logger: testLogger(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = tl.Drain(ctx)
	require.Error(t, err)
	require.Eventually(t, func() bool { return tl.State().Reconnects > 0 }, 10*time.Second, 10*time.Millisecond)
	require.Error(t, tl.State().LastError)
	require.False(t, tl.State().Connected)
	done := make(chan error, 1)
	go func() { done <- tl.Close() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung")
	}
	require.NoError(t, tl.Close(), "idempotent")
	require.ErrorIs(t, tl.Flush(context.Background()), tail.ErrClosed)
	b, err := os.ReadFile(filepath.Join(dir, rundir.SinkRecordsFile))
	require.NoError(t, err)
	require.Empty(t, b)
}

func TestConfigRequired(t *testing.T) {
	_, err := tail.Start(context.Background(), tail.Config{Topic: "x"})
	require.ErrorIs(t, err, tail.ErrConfig)
}

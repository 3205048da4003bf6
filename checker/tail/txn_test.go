package tail_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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

// dbzRow is a Debezium insert event of table t1 for pk, committed at us.
func dbzRow(topic string, p int32, pk int64, us int64) *sarama.ProducerMessage {
	v := fmt.Sprintf(`{"before":null,"after":{"pk":%d,"cols":"{\"v\": \"%d\"}"},"source":{"connector":"postgresql",
		"name":"dbz","ts_ms":%d,"ts_us":%d,"snapshot":"false","db":"app","schema":"public","table":"t1","txId":1,"lsn":1},
		"op":"c","ts_ms":%d,"transaction":null}`, pk, pk, us/1000, us, us/1000)
	return &sarama.ProducerMessage{Topic: topic, Partition: p, Key: sarama.StringEncoder(fmt.Sprintf(`{"pk":%d}`, pk)), Value: sarama.StringEncoder(v)}
}

// dbzHeartbeat is a heartbeat-table event committed at us.
func dbzHeartbeat(topic string, p int32, us int64) *sarama.ProducerMessage {
	v := fmt.Sprintf(`{"before":null,"after":{"id":1,"ts":"x"},"source":{"connector":"postgresql","ts_us":%d,"table":%q},"op":"u"}`,
		us, debezium.DefaultHeartbeatTable)
	return &sarama.ProducerMessage{Topic: topic, Partition: p, Key: sarama.StringEncoder(`{"id":1}`), Value: sarama.StringEncoder(v)}
}

// TestTailerReadCommittedDrain writes committed and aborted transactions
// of Debezium records, the last one aborted so that each partition ends in
// markers and aborted records; a read_committed tailer with the Debezium
// decoder drains to the last stable offsets, the dump holds exactly the
// committed records, and the judge finds it complete.
func TestTailerReadCommittedDrain(t *testing.T) {
	log := testLogger(t)
	_, addrs := startKafka(t, log)
	ctx := within(t, 3*time.Minute)
	dir := t.TempDir()
	const topic, parts = "dbz", 2
	require.NoError(t, kafka.CreateTopic(ctx, addrs, kafka.TopicSpec{Name: topic, Partitions: parts}))

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Transaction.ID = "dbz-test-0"
	cfg.Net.MaxOpenRequests = 1
	prod, err := sarama.NewSyncProducer(addrs, cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, prod.Close()) }()

	us := time.Now().UnixMicro()
	var committed []int64
	txn := func(commit bool, first, n int64, extra ...*sarama.ProducerMessage) {
		t.Helper()
		require.NoError(t, prod.BeginTxn())
		var msgs []*sarama.ProducerMessage
		for pk := first; pk < first+n; pk++ {
			us++
			msgs = append(msgs, dbzRow(topic, int32(pk%parts), pk, us))
		}
		require.NoError(t, prod.SendMessages(append(msgs, extra...)))
		if commit {
			require.NoError(t, prod.CommitTxn())
			for pk := first; pk < first+n; pk++ {
				committed = append(committed, pk)
			}
			return
		}
		require.NoError(t, prod.AbortTxn())
	}
	hb := func() []*sarama.ProducerMessage {
		us++
		return []*sarama.ProducerMessage{dbzHeartbeat(topic, 0, us), dbzHeartbeat(topic, 1, us)}
	}
	tomb := &sarama.ProducerMessage{Topic: topic, Partition: 1, Key: sarama.StringEncoder(`{"pk":1}`)}

	tl, err := tail.Start(ctx, tail.Config{Brokers: addrs, Topic: topic, Dir: dir, Logger: log,
		ReadCommitted: true, Decode: debezium.Options{Changefeed: "pg"}.Decoder()})
	require.NoError(t, err)
	defer func() { require.NoError(t, tl.Close()) }()

	txn(true, 0, 10, hb()...)
	txn(false, 100, 10, hb()...)
	txn(true, 10, 10, append(hb(), tomb)...)
	txn(false, 200, 6, hb()...) // the log ends in an aborted transaction

	offs, err := tl.Drain(ctx)
	require.NoError(t, err)
	t.Logf("drained: %+v", offs)
	assert.Equal(t, rundir.IsolationReadCommitted, offs.Isolation)
	assert.True(t, offs.Sparse())
	require.Len(t, offs.Partitions, parts)
	for _, p := range offs.Partitions {
		assert.Equal(t, p.High, p.Next, "partition %d reached its last stable offset", p.Partition)
	}
	assert.EqualValues(t, 20+2*parts, offs.Records, "committed rows and heartbeats")
	assert.EqualValues(t, 0, offs.Malformed)
	assert.EqualValues(t, 1, offs.Skipped, "the tombstone")
	assert.Greater(t, offs.Total(), offs.Records+offs.Skipped, "offsets are sparse: markers and aborted records")

	// The dump holds exactly the committed rows, once each.
	var pks []int64
	wms := 0
	f, err := os.Open(filepath.Join(dir, rundir.SinkRecordsFile))
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, checker.ReadDump(f, func(r checker.Record) error {
		switch r.Kind {
		case checker.KindRow:
			pks = append(pks, r.PK)
			assert.Equal(t, "pg", r.Changefeed)
			assert.Equal(t, "t1", r.Table)
		case checker.KindWatermark:
			wms++
		}
		return nil
	}))
	slices.Sort(pks)
	assert.Equal(t, committed, pks)
	assert.Equal(t, 2*parts, wms)

	res, err := rundir.CheckRunDir(dir, checker.SLOs{L: time.Minute, W: time.Second}, rundir.Info{Changefeed: "pg", NoWatermarkPromise: true})
	require.NoError(t, err)
	reasons := strings.Join(res.Verdict.Reasons, "\n")
	assert.NotContains(t, reasons, "record dump")
	assert.NotContains(t, reasons, "last stable offset")
	assert.EqualValues(t, 20+2*parts, res.Counters.Records)

	// A dump that lost a record, or a partition short of its last stable
	// offset, is not complete.
	short := offs
	short.Partitions = slices.Clone(offs.Partitions)
	short.Partitions[0].Next--
	short.Records++
	b, err := jsonMarshal(short)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.SinkOffsetsFile), b, 0o644))
	res, err = rundir.CheckRunDir(dir, checker.SLOs{L: time.Minute, W: time.Second}, rundir.Info{Changefeed: "pg", NoWatermarkPromise: true})
	require.NoError(t, err)
	reasons = strings.Join(res.Verdict.Reasons, "\n")
	assert.Contains(t, reasons, "last stable offset")
	assert.Contains(t, reasons, "record dump holds")
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

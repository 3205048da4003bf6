package kafka

import (
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/evidence"
)

// testRows returns n rows over 7 tables with increasing commit ts; row i has
// PK i, so PKs identify records.
func testRows(n int, epoch uint64) []evidence.Row {
	rows := make([]evidence.Row, n)
	for i := range rows {
		rows[i] = evidence.Row{
			Changefeed: "cf-test", Epoch: epoch, Node: "node-" + strconv.Itoa(i%3), Dispatcher: "d" + strconv.Itoa(i%5),
			Table: "t" + strconv.Itoa(i%7), PK: int64(i), Op: evidence.OpInsert, CommitTs: uint64(1000 + i),
			Columns: map[string]string{"v": strconv.Itoa(i), "pad": "0123456789abcdef0123456789abcdef"},
		}
	}
	return rows
}

func encodeRows(tb testing.TB, topic string, rows []evidence.Row, ts time.Time) []evidence.Message {
	msgs := make([]evidence.Message, len(rows))
	for i, r := range rows {
		m, err := evidence.EncodeRow(topic, r)
		require.NoError(tb, err)
		m.Timestamp = ts
		msgs[i] = m
	}
	return msgs
}

func topicConfig(tb testing.TB, addrs []string, topic, name string) string {
	admin, err := sarama.NewClusterAdmin(addrs, baseConfig("test-admin"))
	require.NoError(tb, err)
	defer func() { _ = admin.Close() }()
	res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{name}}}, sarama.DescribeConfigsOptions{})
	require.NoError(tb, err)
	for _, r := range res {
		for _, e := range r.Configs {
			if e.Name == name {
				return e.Value
			}
		}
	}
	tb.Fatalf("topic %s has no config %s", topic, name)
	return ""
}

// TestRoundTrip100k produces 100,000 keyed rows with headers to a
// 4-partition topic and reads them all back: each exactly once, in produce
// order per partition, headers intact, stamped with the broker's append
// time.
func TestRoundTrip100k(t *testing.T) {
	const n, batch = 100_000, 10_000
	_, addrs := startLocal(t, 1)
	ctx := within(t, 3*time.Minute)
	const topic = "roundtrip"
	require.NoError(t, CreateTopic(ctx, addrs, TopicSpec{Name: topic, Partitions: 4}))
	require.Equal(t, "LogAppendTime", topicConfig(t, addrs, topic, "message.timestamp.type"))
	err := CreateTopic(ctx, addrs, TopicSpec{Name: topic, Partitions: 4})
	require.ErrorIs(t, err, ErrTopicExists)

	p, err := NewProducer(ctx, ProducerConfig{Brokers: addrs, Logger: testLogger(t)})
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Close()) }()
	parts, err := p.Partitions(topic)
	require.NoError(t, err)
	require.Equal(t, int32(4), parts)

	rows := testRows(n, 1)
	// A CreateTime a day old: if the topic kept producer time, it would show.
	createTime := time.Now().Add(-24 * time.Hour).Truncate(time.Millisecond)
	msgs := encodeRows(t, topic, rows, createTime)
	start := time.Now().Add(-time.Second) // broker and test share a clock; allow ms truncation
	results := make([]Result, 0, n)
	t0 := time.Now()
	for i := 0; i < n; i += batch {
		results = append(results, p.Produce(ctx, msgs[i:i+batch])...)
	}
	t.Logf("produced %d records in %v", n, time.Since(t0))
	wms, err := evidence.EncodeWatermark(topic, evidence.Watermark{Changefeed: "cf-test", Epoch: 1, Node: "node-0", Ts: uint64(1000 + n)}, parts)
	require.NoError(t, err)
	wmResults := p.Produce(ctx, wms)
	end := time.Now().Add(time.Second)

	// Produce order per partition, from the acknowledgements.
	wantOrder := map[int32][]int64{}
	for i, r := range results {
		require.Equal(t, OutcomeOK, r.Outcome, "record %d: %v", i, r.Err)
		wantOrder[r.Partition] = append(wantOrder[r.Partition], rows[i].PK)
		require.WithinRange(t, r.Timestamp, start, end, "ack timestamp of record %d is the append time", i)
	}
	for i, r := range wmResults {
		require.Equal(t, OutcomeOK, r.Outcome, "watermark %d: %v", i, r.Err)
		require.Equal(t, int32(i), r.Partition)
	}
	require.Len(t, wantOrder, 4, "murmur2 spreads the keys over every partition")

	c, err := NewConsumer(ctx, ConsumerConfig{Brokers: addrs, Topic: topic, Logger: testLogger(t)})
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	t0 = time.Now()
	recs, err := c.ReadToEnd(ctx)
	require.NoError(t, err)
	t.Logf("consumed %d records in %v", len(recs), time.Since(t0))
	require.Len(t, recs, n+int(parts))

	gotOrder := map[int32][]int64{}
	seen := make([]int, n)
	lastOffset := map[int32]int64{}
	watermarks := 0
	for _, rec := range recs {
		if last, ok := lastOffset[rec.Partition]; ok {
			require.Greater(t, rec.Offset, last, "offsets grow within partition %d", rec.Partition)
		}
		lastOffset[rec.Partition] = rec.Offset
		require.WithinRange(t, rec.Timestamp, start, end, "record %s/%d@%d carries the broker's append time", rec.Topic, rec.Partition, rec.Offset)
		if rec.Kind == evidence.KindWatermark {
			watermarks++
			require.Equal(t, uint64(1000+n), rec.Watermark.Ts)
			continue
		}
		require.Equal(t, evidence.KindRow, rec.Kind)
		pk := rec.Row.PK
		seen[pk]++
		require.Equal(t, rows[pk], *rec.Row, "row %d with its headers round-trips", pk)
		require.Equal(t, results[pk].Partition, rec.Partition)
		require.Equal(t, results[pk].Offset, rec.Offset)
		gotOrder[rec.Partition] = append(gotOrder[rec.Partition], pk)
	}
	for pk, k := range seen {
		require.Equal(t, 1, k, "row %d seen %d times", pk, k)
	}
	assert.Equal(t, int(parts), watermarks)
	for part, want := range wantOrder {
		require.Equal(t, want, gotOrder[part], "partition %d order", part)
	}
}

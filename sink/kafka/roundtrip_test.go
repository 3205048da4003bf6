package kafka

import (
	"context"
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
	const n = 100_000
	_, addrs := startLocal(t, 1)
	ctx := within(t, 3*time.Minute)
	const topic = "roundtrip"
	require.NoError(t, CreateTopic(ctx, addrs, TopicSpec{Name: topic, Partitions: 4}))
	assert.Equal(t, "LogAppendTime", topicConfig(t, addrs, topic, "message.timestamp.type"))
	err := CreateTopic(ctx, addrs, TopicSpec{Name: topic, Partitions: 4})
	assert.ErrorIs(t, err, ErrTopicExists)

	p, err := NewProducer(ctx, ProducerConfig{Brokers: addrs, Logger: testLogger(t)})
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Close()) }()
	parts, err := p.Partitions(topic)
	require.NoError(t, err)
	require.Equal(t, int32(4), parts)

	pr := produceAll(ctx, t, p, topic, testRows(n, 1), parts)
	wantOrder := checkAcks(t, pr)

	c, err := NewConsumer(ctx, ConsumerConfig{Brokers: addrs, Topic: topic, Logger: testLogger(t)})
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	t0 := time.Now()
	recs, err := c.ReadToEnd(ctx)
	require.NoError(t, err)
	t.Logf("consumed %d records in %v", len(recs), time.Since(t0))
	require.Len(t, recs, n+int(parts))
	checkRecords(t, pr, recs, wantOrder)
}

// produced is what produceAll sent and what the broker acknowledged, with
// a window around the produce calls that every append time falls in.
type produced struct {
	rows       []evidence.Row
	results    []Receipt // of rows, in order
	watermarks []Receipt // one per partition, in partition order
	wmTs       uint64
	start, end time.Time
}

// produceAll produces rows in batches of 10,000, stamped a day old (the
// topic must replace that with the append time), then a watermark to each
// of parts partitions.
func produceAll(ctx context.Context, t *testing.T, p *Producer, topic string, rows []evidence.Row, parts int32) produced {
	t.Helper()
	const batch = 10_000
	// A CreateTime a day old: if the topic kept producer time, it would show.
	createTime := time.Now().Add(-24 * time.Hour).Truncate(time.Millisecond)
	msgs := encodeRows(t, topic, rows, createTime)
	pr := produced{rows: rows, results: make([]Receipt, 0, len(rows)), wmTs: uint64(1000 + len(rows))}
	pr.start = time.Now().Add(-time.Second) // broker and test share a clock; allow ms truncation
	t0 := time.Now()
	for i := 0; i < len(msgs); i += batch {
		pr.results = append(pr.results, p.Produce(ctx, msgs[i:min(i+batch, len(msgs))])...)
	}
	t.Logf("produced %d records in %v", len(msgs), time.Since(t0))
	wms, err := evidence.EncodeWatermark(topic, evidence.Watermark{Changefeed: "cf-test", Epoch: 1, Node: "node-0", Ts: pr.wmTs}, parts)
	require.NoError(t, err)
	pr.watermarks = p.Produce(ctx, wms)
	pr.end = time.Now().Add(time.Second)
	return pr
}

// checkAcks checks that every record and watermark was acknowledged with
// an append time, and returns the produce order of the rows' PKs per
// partition.
func checkAcks(t *testing.T, pr produced) map[int32][]int64 {
	t.Helper()
	order := map[int32][]int64{}
	for i, r := range pr.results {
		if !assert.Equal(t, DeliveryAcked, r.Delivery, "record %d: %v", i, r.Err) ||
			!assert.WithinRange(t, r.Timestamp, pr.start, pr.end, "ack timestamp of record %d is the append time", i) {
			break
		}
		order[r.Partition] = append(order[r.Partition], pr.rows[i].PK)
	}
	for i, r := range pr.watermarks {
		assert.Equal(t, DeliveryAcked, r.Delivery, "watermark %d: %v", i, r.Err)
		assert.Equal(t, int32(i), r.Partition)
	}
	assert.Len(t, order, len(pr.watermarks), "murmur2 spreads the keys over every partition")
	return order
}

// checkRecords checks what was read back against what was produced: every
// row exactly once, at its acknowledged partition and offset, with its
// headers, in produce order per partition, stamped with the append time;
// and one watermark per partition.
func checkRecords(t *testing.T, pr produced, recs []evidence.Record, wantOrder map[int32][]int64) {
	t.Helper()
	gotOrder := map[int32][]int64{}
	seen := make([]int, len(pr.rows))
	lastOffset := map[int32]int64{}
	watermarks := 0
	for _, rec := range recs {
		if !checkRecord(t, pr, rec, lastOffset) {
			return
		}
		if rec.Kind == evidence.KindWatermark {
			watermarks++
			continue
		}
		seen[rec.Row.PK]++
		gotOrder[rec.Partition] = append(gotOrder[rec.Partition], rec.Row.PK)
	}
	for pk, k := range seen {
		if !assert.Equal(t, 1, k, "row %d seen %d times", pk, k) {
			break
		}
	}
	assert.Equal(t, len(pr.watermarks), watermarks)
	for part, want := range wantOrder {
		assert.Equal(t, want, gotOrder[part], "partition %d order", part)
	}
}

// checkRecord checks one record read back; lastOffset holds the offset of
// the previous record of each partition.
func checkRecord(t *testing.T, pr produced, rec evidence.Record, lastOffset map[int32]int64) bool {
	t.Helper()
	if last, ok := lastOffset[rec.Partition]; ok && !assert.Greater(t, rec.Offset, last, "offsets grow within partition %d", rec.Partition) {
		return false
	}
	lastOffset[rec.Partition] = rec.Offset
	if !assert.WithinRange(t, rec.Timestamp, pr.start, pr.end, "record %s/%d@%d carries the broker's append time", rec.Topic, rec.Partition, rec.Offset) {
		return false
	}
	if rec.Kind == evidence.KindWatermark {
		return assert.Equal(t, pr.wmTs, rec.Watermark.Ts)
	}
	if !assert.Equal(t, evidence.KindRow, rec.Kind) {
		return false
	}
	pk := rec.Row.PK
	if !assert.True(t, pk >= 0 && pk < int64(len(pr.rows)), "row %d was produced", pk) {
		return false
	}
	return assert.Equal(t, pr.rows[pk], *rec.Row, "row %d with its headers round-trips", pk) &&
		assert.Equal(t, pr.results[pk].Partition, rec.Partition) &&
		assert.Equal(t, pr.results[pk].Offset, rec.Offset)
}

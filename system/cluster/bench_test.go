package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/internal/proctest"
	"github.com/chaosrun/chaosrun/sink/kafka"
	"github.com/chaosrun/chaosrun/system/cluster"
	"github.com/chaosrun/chaosrun/system/upstream"
)

// BenchmarkEndToEnd measures sink throughput through the whole system
// (upstream commit → dispatcher → Kafka ack, visible as a watermark past
// the last commit, seen by a consumer that decodes watermark records only:
// the harness's judge, which decodes every row, has its own benchmark in
// checker/tail and is not the pipeline's cost) against raw sarama producing the same number of records
// of the same size to the same broker, in the same run. It reports both
// rates, their ratio, the rate the upstream accepted the commits at (the
// pipeline cannot beat it) and the sink lag seen while loading, with one,
// 100 and 1,000 rows per upstream transaction: at 1,000 the commits no
// longer hold the pipeline back, so that case shows the pipeline's own
// ceiling on the machine.
//
//	go test -run '^$' -bench BenchmarkEndToEnd -benchtime 1x ./system/cluster/
func BenchmarkEndToEnd(b *testing.B) {
	c := startClusterB(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	require.NoError(b, c.CreateChangefeed(ctx, "cf1", []string{"t1", "t2"}, 4))
	tl := watchWatermarks(ctx, b, c.Brokers, "cf1")
	require.Eventually(b, func() bool { _, ok := tl.global(); return ok }, time.Minute, 50*time.Millisecond)
	var pk atomic.Int64
	for _, tc := range []struct{ rows, perTxn int }{{20000, 1}, {200000, 100}, {400000, 1000}} {
		b.Run(fmt.Sprintf("rows-per-txn=%d", tc.perTxn), func(b *testing.B) {
			var e2e, commit, raw, maxLag time.Duration
			for range b.N {
				d, cd, lag := loadThrough(ctx, b, c, tl, &pk, tc.rows, tc.perTxn)
				e2e, commit = e2e+d, commit+cd
				maxLag = max(maxLag, lag)
				raw += rawProduce(b, c.Brokers, tc.rows)
			}
			n := float64(tc.rows * b.N)
			b.ReportMetric(n/e2e.Seconds(), "e2e-rows/s")
			b.ReportMetric(n/commit.Seconds(), "commit-rows/s")
			b.ReportMetric(n/raw.Seconds(), "raw-rows/s")
			b.ReportMetric(raw.Seconds()/e2e.Seconds(), "ratio")
			b.ReportMetric(maxLag.Seconds(), "max-lag-s")
		})
	}
}

// loadThrough commits rows new rows, perTxn per transaction, from 16
// clients as fast as they go, and returns how long until the sink's
// watermark passed the last commit, how long the commits took, and the
// highest sink lag seen meanwhile.
func loadThrough(ctx context.Context, b *testing.B, c *cluster.Cluster, tl *sinkWatermark, pk *atomic.Int64, rows, perTxn int) (e2e, commit, maxLag time.Duration) {
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var last atomic.Uint64
	value := upstream.Str(fmt.Sprintf("%064d", 0))
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(int64(perTxn)) <= int64(rows) {
				txn := make([]upstream.Write, perTxn)
				for i := range txn {
					id := pk.Add(1)
					txn[i] = upstream.Write{Table: "t" + strconv.Itoa(int(id%2)+1), PK: id, Op: upstream.OpInsert, Columns: map[string]upstream.Value{"v": value}}
				}
				ts, err := c.Up.Commit(ctx, txn...)
				if err != nil {
					continue
				}
				for {
					old := last.Load()
					if ts <= old || last.CompareAndSwap(old, ts) {
						break
					}
				}
			}
		}()
	}
	stopLag, lagDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(lagDone)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopLag:
				return
			case now := <-t.C:
				if wm, ok := tl.global(); ok && now.Sub(checker.Physical(wm)) > maxLag {
					maxLag = now.Sub(checker.Physical(wm))
				}
			}
		}
	}()
	wg.Wait()
	committed := time.Since(start)
	require.Eventually(b, func() bool { wm, _ := tl.global(); return wm >= last.Load() }, 2*time.Minute, 20*time.Millisecond,
		"the watermark never passed the last commit")
	d := time.Since(start)
	close(stopLag)
	<-lagDone
	return d, committed, maxLag
}

func startClusterB(b *testing.B) *cluster.Cluster {
	b.Helper()
	if testing.Short() {
		b.Skip("starts a whole cluster")
	}
	kafkaLibs(b)
	bin := proctest.Build(b)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Spec{Dir: b.TempDir(), Binary: bin, Nodes: 3})
	require.NoError(b, err)
	b.Cleanup(func() { c.Close() })
	return c
}

func rawProduce(b *testing.B, brokers []string, n int) time.Duration {
	b.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	topic := fmt.Sprintf("raw-%d-%d", n, time.Now().UnixNano())
	require.NoError(b, kafka.CreateTopic(context.Background(), brokers, kafka.TopicSpec{Name: topic, Partitions: 4}))
	p, err := sarama.NewAsyncProducer(brokers, cfg)
	require.NoError(b, err)
	defer p.Close()
	start := time.Now()
	go func() {
		for i := range n {
			p.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("t1:" + strconv.Itoa(i)),
				Value: sarama.StringEncoder(fmt.Sprintf(`{"table":"t1","pk":%d,"op":"insert","commit_ts":470000000000000000,"columns":{"v":"%064d"}}`, i, i)),
				Headers: []sarama.RecordHeader{{Key: []byte("cdc-changefeed"), Value: []byte("cf1")}, {Key: []byte("cdc-epoch"), Value: []byte("1")},
					{Key: []byte("cdc-node"), Value: []byte("n1")}, {Key: []byte("cdc-dispatcher"), Value: []byte("t1-e1")},
					{Key: []byte("cdc-commit-ts"), Value: []byte("470000000000000000")}, {Key: []byte("cdc-kind"), Value: []byte("row")}}}
		}
	}()
	for range n {
		select {
		case <-p.Successes():
		case err := <-p.Errors():
			b.Fatalf("raw produce: %v", err)
		}
	}
	return time.Since(start)
}

// sinkWatermark follows a topic's global watermark (the minimum over
// partitions of each one's newest watermark) from its watermark records
// alone: rows are read off the wire and dropped undecoded.
type sinkWatermark struct {
	mu    sync.Mutex
	parts int
	wm    map[int32]uint64
}

// watchWatermarks consumes every partition of topic from the oldest offset
// until ctx ends.
func watchWatermarks(ctx context.Context, b *testing.B, brokers []string, topic string) *sinkWatermark {
	b.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cons, err := sarama.NewConsumer(brokers, cfg)
	require.NoError(b, err)
	b.Cleanup(func() { _ = cons.Close() })
	parts, err := cons.Partitions(topic)
	require.NoError(b, err)
	w := &sinkWatermark{parts: len(parts), wm: map[int32]uint64{}}
	for _, p := range parts {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		require.NoError(b, err)
		go func() {
			defer pc.AsyncClose()
			for {
				select {
				case <-ctx.Done():
					return
				case m, ok := <-pc.Messages():
					if !ok {
						return
					}
					w.add(m)
				}
			}
		}()
	}
	return w
}

// add takes m's watermark, if it is one.
func (w *sinkWatermark) add(m *sarama.ConsumerMessage) {
	if !slices.ContainsFunc(m.Headers, func(h *sarama.RecordHeader) bool {
		return string(h.Key) == evidence.HeaderKind && string(h.Value) == string(evidence.KindWatermark)
	}) {
		return
	}
	hs := make([]evidence.Header, 0, len(m.Headers))
	for _, h := range m.Headers {
		hs = append(hs, evidence.Header{Key: h.Key, Value: h.Value})
	}
	rec, err := evidence.Decode(evidence.Consumed{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp,
		Key: m.Key, Value: m.Value, Headers: hs})
	if err != nil || rec.Watermark == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wm[m.Partition] = max(w.wm[m.Partition], rec.Watermark.Ts)
}

// global returns the global watermark; ok is false until every partition
// has one.
func (w *sinkWatermark) global() (wm uint64, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.wm) < w.parts {
		return 0, false
	}
	first := true
	for _, v := range w.wm {
		if first || v < wm {
			wm, first = v, false
		}
	}
	return wm, true
}

package cluster_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/checker/tail"
	"github.com/chaosrun/chaosrun/internal/proctest"
	"github.com/chaosrun/chaosrun/sink/kafka"
	"github.com/chaosrun/chaosrun/system/cluster"
	"github.com/chaosrun/chaosrun/system/upstream"
)

// BenchmarkEndToEnd measures sink throughput through the whole system
// (upstream commit → dispatcher → Kafka ack, visible as a watermark past
// the last commit) against raw sarama producing the same number of records
// of the same size to the same broker, in the same run. It reports both
// rates, their ratio and the sink lag seen while loading.
//
//	go test -run '^$' -bench BenchmarkEndToEnd -benchtime 1x ./system/cluster/
func BenchmarkEndToEnd(b *testing.B) {
	const rows = 20000
	c := startClusterB(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	require.NoError(b, c.CreateChangefeed(ctx, "cf1", []string{"t1", "t2"}, 4))
	tl, err := tail.Start(ctx, tail.Config{Brokers: c.Brokers, Topic: "cf1", Dir: b.TempDir()})
	require.NoError(b, err)
	defer tl.Close()
	require.Eventually(b, func() bool { return tl.State().GlobalDefined }, time.Minute, 50*time.Millisecond)

	b.ResetTimer()
	var e2e, raw time.Duration
	var maxLag time.Duration
	for range b.N {
		// The system: commit rows from 16 clients as fast as they go.
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		var last atomic.Uint64
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > rows {
						return
					}
					ts, err := c.Up.Commit(ctx, upstream.Write{Table: "t" + strconv.Itoa(int(i%2)+1), PK: i + int64(time.Now().UnixNano()%1e9)*rows, Op: upstream.OpInsert,
						Columns: map[string]upstream.Value{"v": upstream.Str(fmt.Sprintf("%064d", i))}})
					if err == nil {
						for {
							old := last.Load()
							if ts <= old || last.CompareAndSwap(old, ts) {
								break
							}
						}
					}
				}
			}()
		}
		stopLag := make(chan struct{})
		lagDone := make(chan struct{})
		go func() {
			defer close(lagDone)
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopLag:
					return
				case now := <-t.C:
					if l, ok := tl.State().Lag(now); ok && l > maxLag {
						maxLag = l
					}
				}
			}
		}()
		wg.Wait()
		require.Eventually(b, func() bool { return tl.State().Global >= last.Load() }, 2*time.Minute, 20*time.Millisecond,
			"the watermark never passed the last commit")
		e2e += time.Since(start)
		close(stopLag)
		<-lagDone

		// Raw sarama: the same number of records of a comparable size.
		raw += rawProduce(b, c.Brokers, rows)
	}
	b.StopTimer()
	n := float64(rows * b.N)
	b.ReportMetric(n/e2e.Seconds(), "e2e-rows/s")
	b.ReportMetric(n/raw.Seconds(), "raw-rows/s")
	b.ReportMetric(raw.Seconds()/e2e.Seconds(), "ratio")
	b.ReportMetric(maxLag.Seconds(), "max-lag-s")
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
	require.NoError(b, kafka.CreateTopic(context.Background(), brokers, kafka.TopicSpec{Name: "raw-" + strconv.Itoa(b.N), Partitions: 4}))
	p, err := sarama.NewAsyncProducer(brokers, cfg)
	require.NoError(b, err)
	defer p.Close()
	start := time.Now()
	go func() {
		for i := range n {
			p.Input() <- &sarama.ProducerMessage{Topic: "raw-" + strconv.Itoa(b.N), Key: sarama.StringEncoder("t1:" + strconv.Itoa(i)),
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

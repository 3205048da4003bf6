package kafka

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
)

// BenchmarkProducer compares Producer with a raw sarama AsyncProducer built
// from the same configuration (idempotent, acks=all, one in-flight request,
// murmur2), on the same broker, topic and records, in alternating rounds.
// It reports records/s of each and their ratio (goal >= 0.7).
//
//	go test -run '^$' -bench BenchmarkProducer -benchtime 40x ./sink/kafka/
func BenchmarkProducer(b *testing.B) {
	const perRound = 10_000
	addrs := shared.get(b)
	ctx := context.Background()
	topic := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	require.NoError(b, CreateTopic(ctx, addrs, TopicSpec{Name: topic, Partitions: 4}))
	msgs := encodeRows(b, topic, testRows(perRound, 1), time.Time{})
	size := len(msgs[0].Key) + len(msgs[0].Value)
	for _, h := range msgs[0].Headers {
		size += len(h.Key) + len(h.Value)
	}

	cfg := ProducerConfig{Brokers: addrs, Logger: testLogger(b)}.withDefaults()
	w, err := NewProducer(ctx, cfg)
	require.NoError(b, err)
	defer func() { require.NoError(b, w.Close()) }()
	raw, err := sarama.NewAsyncProducer(addrs, producerConfig(cfg, sarama.NewMurmur2Partitioner))
	require.NoError(b, err)
	defer func() { require.NoError(b, raw.Close()) }()

	wrapperRound := func() time.Duration {
		t0 := time.Now()
		for i, r := range w.Produce(ctx, msgs) {
			if r.Outcome != OutcomeOK {
				b.Fatalf("wrapper record %d: %v %v", i, r.Outcome, r.Err)
			}
		}
		return time.Since(t0)
	}
	rawRound := func() time.Duration {
		done := make(chan error, 1)
		go func() {
			var first error
			for range msgs {
				select {
				case <-raw.Successes():
				case e := <-raw.Errors():
					if first == nil {
						first = e
					}
				}
			}
			done <- first
		}()
		// The baseline gets its headers in sarama's type for free.
		headers := make([][]sarama.RecordHeader, len(msgs))
		for i, m := range msgs {
			for _, h := range m.Headers {
				headers[i] = append(headers[i], sarama.RecordHeader{Key: h.Key, Value: h.Value})
			}
		}
		t0 := time.Now()
		for i := range msgs {
			m := &msgs[i]
			raw.Input() <- &sarama.ProducerMessage{Topic: m.Topic, Key: sarama.ByteEncoder(m.Key), Value: sarama.ByteEncoder(m.Value), Headers: headers[i]}
		}
		if err := <-done; err != nil {
			b.Fatalf("raw sarama: %v", err)
		}
		return time.Since(t0)
	}

	// Warm up connections, producer ids and the broker's JIT for both.
	for range 3 {
		wrapperRound()
		rawRound()
	}
	b.ResetTimer()
	var wd, rd time.Duration
	ratios := make([]float64, 0, b.N)
	for i := range b.N {
		var w, r time.Duration
		if i%2 == 0 {
			w = wrapperRound()
			r = rawRound()
		} else {
			r = rawRound()
			w = wrapperRound()
		}
		wd, rd = wd+w, rd+r
		ratios = append(ratios, r.Seconds()/w.Seconds())
	}
	b.StopTimer()
	n := float64(perRound * b.N)
	wRate, rRate := n/wd.Seconds(), n/rd.Seconds()
	// The median of per-pair ratios resists bursts of load from other
	// processes on a shared machine better than the ratio of totals.
	slices.Sort(ratios)
	median := ratios[len(ratios)/2]
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(wRate, "wrapper-rec/s")
	b.ReportMetric(rRate, "raw-rec/s")
	b.ReportMetric(wRate/rRate, "ratio")
	b.ReportMetric(median, "median-ratio")
	b.Logf("%d rounds of %d records of %d bytes (key+value+headers): wrapper %.0f rec/s, raw %.0f rec/s, ratio %.2f, median pair ratio %.2f",
		b.N, perRound, size, wRate, rRate, wRate/rRate, median)
}

// BenchmarkLocalStart measures a local cluster's start: storage format plus
// broker start until ready (metadata lists every broker and a topic can be
// created). Close is not timed.
//
//	go test -run '^$' -bench BenchmarkLocalStart -benchtime 3x ./sink/kafka/
func BenchmarkLocalStart(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("brokers=%d", n), func(b *testing.B) {
			needBroker(b)
			var total, format time.Duration
			for range b.N {
				dir := b.TempDir()
				l, err := NewLocal(LocalConfig{Dir: dir, Brokers: n, LibsDir: testLibs(b), Logger: testLogger(b)})
				require.NoError(b, err)
				t0 := time.Now()
				_, err = l.Start(context.Background())
				took := time.Since(t0)
				b.StopTimer()
				require.NoError(b, l.Close())
				require.NoError(b, err)
				assertNoProcesses(b, dir, nil)
				total += took
				format += l.formatTook
				b.StartTimer()
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(total.Seconds()/float64(b.N), "s/start")
			b.ReportMetric(format.Seconds()/float64(b.N), "s/format")
		})
	}
}

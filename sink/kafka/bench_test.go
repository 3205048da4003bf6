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

	"github.com/chaosrun/chaosrun/evidence"
)

// BenchmarkProducer compares Producer with a raw sarama AsyncProducer built
// from the same configuration (idempotent, acks=all, one in-flight request,
// murmur2), on the same broker, topic and records, in alternating rounds.
// It reports records/s of each and their ratio (goal >= 0.7).
//
//	go test -run '^$' -bench BenchmarkProducer -benchtime 40x ./sink/kafka/
func BenchmarkProducer(b *testing.B) {
	const perRound = 10_000
	pb := newProducerBench(b, perRound)
	// Warm up connections, producer ids and the broker's JIT for both.
	for range 3 {
		pb.wrapperRound()
		pb.rawRound()
	}
	b.ResetTimer()
	var wd, rd time.Duration
	ratios := make([]float64, 0, b.N)
	for i := range b.N {
		var w, r time.Duration
		if i%2 == 0 {
			w = pb.wrapperRound()
			r = pb.rawRound()
		} else {
			r = pb.rawRound()
			w = pb.wrapperRound()
		}
		wd, rd = wd+w, rd+r
		ratios = append(ratios, r.Seconds()/w.Seconds())
	}
	b.StopTimer()
	pb.report(wd, rd, ratios)
}

// producerBench sends the same records through Producer and through a raw
// sarama AsyncProducer of the same configuration.
type producerBench struct {
	b    *testing.B
	msgs []evidence.Message
	w    *Producer
	raw  sarama.AsyncProducer
}

// newProducerBench makes a topic on the shared broker, perRound records for
// it and both producers, closed at the end of the benchmark.
func newProducerBench(b *testing.B, perRound int) *producerBench {
	addrs := shared.get(b)
	ctx := context.Background()
	topic := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	require.NoError(b, CreateTopic(ctx, addrs, TopicSpec{Name: topic, Partitions: 4}))
	pb := &producerBench{b: b, msgs: encodeRows(b, topic, testRows(perRound, 1), time.Time{})}
	cfg := ProducerConfig{Brokers: addrs, Logger: testLogger(b)}.withDefaults()
	var err error
	pb.w, err = NewProducer(ctx, cfg)
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, pb.w.Close()) })
	pb.raw, err = sarama.NewAsyncProducer(addrs, producerConfig(cfg, sarama.NewMurmur2Partitioner))
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, pb.raw.Close()) })
	return pb
}

// wrapperRound sends every record through Producer and returns how long
// that took.
func (pb *producerBench) wrapperRound() time.Duration {
	t0 := time.Now()
	for i, r := range pb.w.Produce(context.Background(), pb.msgs) {
		if r.Delivery != DeliveryAcked {
			pb.b.Fatalf("wrapper record %d: %v %v", i, r.Delivery, r.Err)
		}
	}
	return time.Since(t0)
}

// rawRound sends every record through the raw producer and returns how
// long that took, acknowledgements included.
func (pb *producerBench) rawRound() time.Duration {
	done := make(chan error, 1)
	go func() {
		var first error
		for range pb.msgs {
			select {
			case <-pb.raw.Successes():
			case e := <-pb.raw.Errors():
				if first == nil {
					first = e
				}
			}
		}
		done <- first
	}()
	// The baseline gets its headers in sarama's type for free.
	headers := make([][]sarama.RecordHeader, len(pb.msgs))
	for i, m := range pb.msgs {
		for _, h := range m.Headers {
			headers[i] = append(headers[i], sarama.RecordHeader{Key: h.Key, Value: h.Value})
		}
	}
	t0 := time.Now()
	for i := range pb.msgs {
		m := &pb.msgs[i]
		pb.raw.Input() <- &sarama.ProducerMessage{Topic: m.Topic, Key: sarama.ByteEncoder(m.Key), Value: sarama.ByteEncoder(m.Value), Headers: headers[i]}
	}
	if err := <-done; err != nil {
		pb.b.Fatalf("raw sarama: %v", err)
	}
	return time.Since(t0)
}

// report reports the rates of both producers from their total times and
// the median of the per-round ratios.
func (pb *producerBench) report(wd, rd time.Duration, ratios []float64) {
	b := pb.b
	n := float64(len(pb.msgs) * b.N)
	wRate, rRate := n/wd.Seconds(), n/rd.Seconds()
	// The median of per-pair ratios resists bursts of load from other
	// processes on a shared machine better than the ratio of totals.
	slices.Sort(ratios)
	median := ratios[len(ratios)/2]
	size := len(pb.msgs[0].Key) + len(pb.msgs[0].Value)
	for _, h := range pb.msgs[0].Headers {
		size += len(h.Key) + len(h.Value)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(wRate, "wrapper-rec/s")
	b.ReportMetric(rRate, "raw-rec/s")
	b.ReportMetric(wRate/rRate, "ratio")
	b.ReportMetric(median, "median-ratio")
	b.Logf("%d rounds of %d records of %d bytes (key+value+headers): wrapper %.0f rec/s, raw %.0f rec/s, ratio %.2f, median pair ratio %.2f",
		b.N, len(pb.msgs), size, wRate, rRate, wRate/rRate, median)
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

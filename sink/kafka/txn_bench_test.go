package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/evidence"
)

// The dispatcher's write path, as system/node runs it: rows gather until
// the upstream's resolved ts advances (every upstream.DefaultResolvedInterval,
// 100 ms; nothing in the harness overrides it), or until maxBatch (2000)
// rows are pending, and are then written in one call: Produce for the
// idempotent sink, one transaction (Transact) for the txn sink. So the txn
// sink's commit interval is the resolved-ts interval. The constants below
// copy those values; sink/kafka cannot import system/ without a cycle.
const (
	benchCommitInterval = 100 * time.Millisecond
	benchMaxBatch       = 2000
)

// BenchmarkTxnSink compares the transactional producer with the idempotent
// one on one broker in one run, as ratios txn/idempotent:
//
//   - throughput: each iteration writes the same benchTxnRound records in
//     flushes of benchMaxBatch (what a saturated dispatcher does), through
//     the idempotent producer with Produce and through a transactional one
//     with a transaction per flush, in alternating order. Reported:
//     idem-rec/s, txn-rec/s, their ratio and the median of per-pair ratios.
//   - end-to-end latency: after the iterations, a steady load of
//     benchLatencyRate rows/s is written for benchLatencyWindow per window,
//     flushed every benchCommitInterval (so the txn sink commits at the
//     default commit interval), two windows per sink alternating; a
//     read_committed consumer times each row from its creation to its
//     delivery. Reported: p50 and p99 of each sink and the p50 and p99
//     ratios; also flush-p50, the part from the flush's start to delivery,
//     which leaves out the wait for the next flush that both sinks share.
//
// It measures; it asserts nothing about the numbers. The bar is a
// p50 ratio (lat-p50-ratio) of at most 2.
//
//	go test -run '^$' -bench BenchmarkTxnSink -benchtime 10x ./sink/kafka/
func BenchmarkTxnSink(b *testing.B) {
	addrs := shared.get(b)
	ctx := context.Background()
	tb := &txnBench{b: b, addrs: addrs}
	idemTopic, txnTopic := tb.topic("idem"), tb.topic("txn")
	idem := tb.producer(ctx, "")
	txn := tb.producer(ctx, "bench-span-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	idemMsgs := encodeRows(b, idemTopic, testRows(benchTxnRound, 1), time.Time{})
	txnMsgs := encodeRows(b, txnTopic, testRows(benchTxnRound, 1), time.Time{})
	write := func(p *Producer, transactional bool, msgs []evidence.Message) time.Duration {
		t0 := time.Now()
		for chunk := range slices.Chunk(msgs, benchMaxBatch) {
			if err := flush(ctx, p, transactional, chunk); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	for range 2 { // warm up connections, producer ids, the coordinator
		write(idem, false, idemMsgs)
		write(txn, true, txnMsgs)
	}
	b.ResetTimer()
	var idemTook, txnTook time.Duration
	ratios := make([]float64, 0, b.N)
	for i := range b.N {
		var it, tt time.Duration
		if i%2 == 0 {
			it, tt = write(idem, false, idemMsgs), write(txn, true, txnMsgs)
		} else {
			tt, it = write(txn, true, txnMsgs), write(idem, false, idemMsgs)
		}
		idemTook, txnTook = idemTook+it, txnTook+tt
		ratios = append(ratios, it.Seconds()/tt.Seconds()) // txn rate / idem rate
	}
	b.StopTimer()
	n := float64(benchTxnRound * b.N)
	idemRate, txnRate := n/idemTook.Seconds(), n/txnTook.Seconds()
	slices.Sort(ratios)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(idemRate, "idem-rec/s")
	b.ReportMetric(txnRate, "txn-rec/s")
	b.ReportMetric(txnRate/idemRate, "thru-ratio")
	b.ReportMetric(ratios[len(ratios)/2], "thru-median-ratio")

	var idemLat, txnLat latencies
	for range 2 {
		idemLat.add(tb.latency(ctx, idem, false, idemTopic))
		txnLat.add(tb.latency(ctx, txn, true, txnTopic))
	}
	ip50, ip99, if50 := idemLat.summary()
	tp50, tp99, tf50 := txnLat.summary()
	b.ReportMetric(ms(ip50), "idem-p50-ms")
	b.ReportMetric(ms(tp50), "txn-p50-ms")
	b.ReportMetric(ms(tp50)/ms(ip50), "lat-p50-ratio")
	b.ReportMetric(ms(tp99)/ms(ip99), "lat-p99-ratio")
	b.ReportMetric(ms(if50), "idem-flush-p50-ms")
	b.ReportMetric(ms(tf50), "txn-flush-p50-ms")
	b.Logf("throughput, %d rounds of %d records in flushes of %d: idempotent %.0f rec/s, txn %.0f rec/s, ratio %.2f (median pair %.2f)",
		b.N, benchTxnRound, benchMaxBatch, idemRate, txnRate, txnRate/idemRate, ratios[len(ratios)/2])
	b.Logf("latency, %d rows/s flushed every %s, read_committed, %d+%d rows: idempotent p50 %.1f ms p99 %.1f ms (flush→read p50 %.1f ms); txn p50 %.1f ms p99 %.1f ms (flush→read p50 %.1f ms); p50 ratio %.2f, p99 ratio %.2f",
		benchLatencyRate, benchCommitInterval, len(idemLat.total), len(txnLat.total), ms(ip50), ms(ip99), ms(if50), ms(tp50), ms(tp99), ms(tf50), ms(tp50)/ms(ip50), ms(tp99)/ms(ip99))
}

const (
	benchTxnRound      = 20_000
	benchLatencyRate   = 2000 // rows/s
	benchLatencyWindow = 3 * time.Second
)

type txnBench struct {
	b     *testing.B
	addrs []string
	seq   int
}

// topic makes a fresh topic of 4 partitions.
func (tb *txnBench) topic(name string) string {
	tb.seq++
	t := fmt.Sprintf("bench-%s-%d-%s", name, tb.seq, strconv.FormatInt(time.Now().UnixNano(), 36))
	require.NoError(tb.b, CreateTopic(context.Background(), tb.addrs, TopicSpec{Name: t, Partitions: 4}))
	return t
}

// producer is an idempotent producer, or a transactional one with txnID;
// closed at the end of the benchmark.
func (tb *txnBench) producer(ctx context.Context, txnID string) *Producer {
	p, err := NewProducer(ctx, ProducerConfig{Brokers: tb.addrs, TransactionalID: txnID, Logger: testLogger(tb.b)})
	require.NoError(tb.b, err)
	tb.b.Cleanup(func() { require.NoError(tb.b, p.Close()) })
	return p
}

// flush writes msgs as the dispatcher does in either sink mode.
func flush(ctx context.Context, p *Producer, transactional bool, msgs []evidence.Message) error {
	if transactional {
		_, err := p.Transact(ctx, msgs)
		return err
	}
	for i, r := range p.Produce(ctx, msgs) {
		if r.Delivery != DeliveryAcked {
			return fmt.Errorf("record %d: %v %w", i, r.Delivery, r.Err)
		}
	}
	return nil
}

// latencies are per-row latencies: from the row's creation (total) and
// from the start of the flush that wrote it (flush), to its delivery to a
// read_committed consumer.
type latencies struct{ total, flush []time.Duration }

func (l *latencies) add(o latencies) {
	l.total = append(l.total, o.total...)
	l.flush = append(l.flush, o.flush...)
}

// summary returns the p50 and p99 of total and the p50 of flush.
func (l *latencies) summary() (p50, p99, flushP50 time.Duration) {
	slices.Sort(l.total)
	slices.Sort(l.flush)
	at := func(d []time.Duration, q float64) time.Duration { return d[int(q*float64(len(d)-1))] }
	return at(l.total, 0.5), at(l.total, 0.99), at(l.flush, 0.5)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// errAllRead ends readArrivals' read once every row arrived.
var errAllRead = errors.New("all rows read")

// readArrivals reads c from from until rows base..base+total-1 all
// arrived, noting when each first did; done gets the read's end
// (errAllRead when complete). got is safe to read once done has sent.
func readArrivals(ctx context.Context, c *Consumer, from map[int32]int64, base int64, total int) (got []time.Time, done <-chan error) {
	got = make([]time.Time, total)
	ch := make(chan error, 1)
	go func() {
		seen := 0
		ch <- c.Read(ctx, from, nil, func(r evidence.Record) error {
			now := time.Now()
			if r.Row == nil {
				return nil
			}
			i := int(r.Row.PK - base)
			if i < 0 || i >= total || !got[i].IsZero() {
				return nil
			}
			got[i] = now
			if seen++; seen == total {
				return errAllRead
			}
			return nil
		})
	}()
	return got, ch
}

// latency writes benchLatencyRate rows/s for benchLatencyWindow into a
// fresh partition range of topic through p, flushing every
// benchCommitInterval (or at benchMaxBatch rows), and times each row to
// its delivery to a read_committed consumer that tails the topic.
func (tb *txnBench) latency(ctx context.Context, p *Producer, transactional bool, topic string) latencies {
	b := tb.b
	c, err := NewConsumer(ctx, ConsumerConfig{Brokers: tb.addrs, Topic: topic, ReadCommitted: true, Logger: testLogger(b)})
	require.NoError(b, err)
	defer func() { require.NoError(b, c.Close()) }()
	from, err := c.HighWatermarks(ctx)
	require.NoError(b, err)

	total := int(benchLatencyRate * benchLatencyWindow / time.Second)
	base := int64(1_000_000 * (tb.seq + 1))
	tb.seq++
	var (
		mu       sync.Mutex
		created  = make([]time.Time, total)
		flushed  = make([]time.Time, total)
		pending  []evidence.Message
		pendingI []int
	)
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	got, readDone := readArrivals(rctx, c, from, base, total)

	genDone := make(chan struct{})
	go func() { // the upstream: rows at a steady rate, 20 per 10 ms
		defer close(genDone)
		const tick = 10 * time.Millisecond
		per := int(benchLatencyRate * tick / time.Second)
		t := time.NewTicker(tick)
		defer t.Stop()
		for i := 0; i < total; {
			<-t.C
			mu.Lock()
			for k := 0; k < per && i < total; k, i = k+1, i+1 {
				m, err := evidence.EncodeRow(topic, evidence.Row{Changefeed: "cf-bench", Epoch: 1, Node: "n1", Dispatcher: "d1",
					Table: "t", PK: base + int64(i), Op: evidence.OpInsert, CommitTs: uint64(i + 1),
					Columns: map[string]string{"v": strconv.Itoa(i), "pad": "0123456789abcdef0123456789abcdef"}})
				if err != nil {
					panic(err)
				}
				created[i] = time.Now()
				pending, pendingI = append(pending, m), append(pendingI, i)
			}
			mu.Unlock()
		}
	}()

	// The dispatcher: a flush at every resolved-ts tick.
	t := time.NewTicker(benchCommitInterval)
	defer t.Stop()
	for last := false; !last; {
		select {
		case <-t.C:
		case <-genDone:
			last = true
		}
		mu.Lock()
		msgs, idx := pending, pendingI
		pending, pendingI = nil, nil
		mu.Unlock()
		start := time.Now()
		for _, i := range idx {
			flushed[i] = start
		}
		for chunk := range slices.Chunk(msgs, benchMaxBatch) {
			require.NoError(b, flush(ctx, p, transactional, chunk))
		}
	}
	select {
	case err := <-readDone:
		require.ErrorIs(b, err, errAllRead)
	case <-time.After(30 * time.Second):
		b.Fatalf("read_committed consumer of %s did not see all %d rows within 30s", topic, total)
	}
	var out latencies
	for i := range total {
		out.total = append(out.total, got[i].Sub(created[i]))
		out.flush = append(out.flush, got[i].Sub(flushed[i]))
	}
	return out
}

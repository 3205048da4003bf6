package kafka

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/evidence"
)

// produceUntilAcked sends msgs in batches, resending every record whose
// outcome is not OK (as a CDC dispatcher would), until all are acknowledged
// or ctx is done. onAcked sees the running count of acknowledged records.
// It returns the outcome counts of all attempts.
func produceUntilAcked(ctx context.Context, tb testing.TB, p *Producer, msgs []evidence.Message, batch int, onAcked func(int)) map[Delivery]int {
	tb.Helper()
	counts := map[Delivery]int{}
	acked := 0
	pending := make([]int, len(msgs))
	for i := range pending {
		pending[i] = i
	}
	for len(pending) > 0 {
		require.NoError(tb, ctx.Err(), "%d records still unacknowledged", len(pending))
		take := pending[:min(batch, len(pending))]
		rest := pending[len(take):]
		send := make([]evidence.Message, len(take))
		for i, idx := range take {
			send[i] = msgs[idx]
		}
		var retry []int
		var first error
		for i, r := range p.Produce(ctx, send) {
			counts[r.Delivery]++
			if r.Delivery == DeliveryAcked {
				acked++
				continue
			}
			if first == nil {
				first = r.Err
			}
			retry = append(retry, take[i])
		}
		if len(retry) > 0 {
			tb.Logf("%d of %d records not acknowledged, resending (first: %v)", len(retry), len(take), first)
		}
		pending = append(retry, rest...)
		if onAcked != nil {
			onAcked(acked)
		}
	}
	return counts
}

// TestBrokerKilledMidProduction kills the only broker with SIGKILL while
// records are being produced and restarts it on the same data directory:
// the producer recovers, and no acknowledged record is lost. Duplicates
// (from resent unknown records) are allowed and counted.
func TestBrokerKilledMidProduction(t *testing.T) {
	const n, batch = 30_000, 500
	l, addrs := startLocal(t, 1)
	ctx := within(t, 3*time.Minute)
	const topic = "kill"
	require.NoError(t, CreateTopic(ctx, addrs, TopicSpec{Name: topic, Partitions: 4}))
	p, err := NewProducer(ctx, ProducerConfig{Brokers: addrs, RetryMax: 5, RetryBackoff: 200 * time.Millisecond, Timeout: 20 * time.Second, Logger: testLogger(t)})
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Close()) }()

	rows := testRows(n, 1)
	msgs := encodeRows(t, topic, rows, time.Time{})
	oldPID := l.PIDs()[1]
	killAt := n / 5
	faultDone := make(chan error, 1)
	killed := false
	counts := produceUntilAcked(ctx, t, p, msgs, batch, func(acked int) {
		if killed || acked < killAt {
			return
		}
		killed = true
		require.NoError(t, l.KillBroker(1))
		t.Logf("broker killed after %d acknowledged records", acked)
		// Restart while production goes on.
		go func() {
			faultDone <- l.StartBroker(ctx, 1)
		}()
	})
	require.True(t, killed)
	require.NoError(t, <-faultDone)
	require.ErrorIs(t, syscall.Kill(oldPID, 0), syscall.ESRCH, "the killed JVM is gone")
	require.NotEqual(t, oldPID, l.PIDs()[1])
	t.Logf("outcomes over all attempts: ok=%d unknown=%d failed=%d", counts[DeliveryAcked], counts[DeliveryUnknown], counts[DeliveryFailed])
	require.Equal(t, n, counts[DeliveryAcked])

	c, err := NewConsumer(ctx, ConsumerConfig{Brokers: addrs, Topic: topic, Logger: testLogger(t)})
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	recs, err := c.ReadToEnd(ctx)
	require.NoError(t, err)
	seen := make([]int, n)
	for _, r := range recs {
		seen[r.Row.PK]++
	}
	dups := 0
	for pk, k := range seen {
		require.NotZero(t, k, "acknowledged row %d is missing", pk)
		dups += k - 1
	}
	t.Logf("%d records in the topic for %d rows: %d duplicates", len(recs), n, dups)
	assert.LessOrEqual(t, dups, counts[DeliveryUnknown], "only resent unknown records can duplicate")
}

// TestThreeBrokersOneDown starts a 3-broker cluster; a topic with
// replication factor 3 and min.insync.replicas 2 keeps taking acks=all
// writes while one broker is down, and the broker rejoins after a restart.
func TestThreeBrokersOneDown(t *testing.T) {
	const n = 5_000
	l, addrs := startLocal(t, 3)
	require.ElementsMatch(t, []int32{1, 2, 3}, l.Brokers())
	ctx := within(t, 3*time.Minute)
	const topic = "replicated"
	require.NoError(t, CreateTopic(ctx, addrs, TopicSpec{Name: topic, Partitions: 4, ReplicationFactor: 3, MinInsyncReplicas: 2}))
	require.Equal(t, "2", topicConfig(t, addrs, topic, "min.insync.replicas"))

	p, err := NewProducer(ctx, ProducerConfig{Brokers: addrs, Logger: testLogger(t)})
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Close()) }()
	rows := testRows(2*n, 1)
	msgs := encodeRows(t, topic, rows, time.Time{})
	for i, r := range p.Produce(ctx, msgs[:n]) {
		require.Equal(t, DeliveryAcked, r.Delivery, "record %d before the fault: %v", i, r.Err)
	}

	require.NoError(t, l.KillBroker(3))
	t0 := time.Now()
	// The controller fences the dead broker after its session timeout and
	// shrinks the ISRs; from then on writes need only the two live replicas.
	waitBrokers(ctx, t, addrs[:2], 2)
	t.Logf("broker 3 fenced %v after the kill", time.Since(t0).Round(time.Millisecond))
	for i, r := range p.Produce(ctx, msgs[n:]) {
		require.Equal(t, DeliveryAcked, r.Delivery, "record %d with broker 3 down: %v", n+i, r.Err)
	}
	t.Logf("%d records acknowledged with one broker down, %v after the kill", n, time.Since(t0).Round(time.Millisecond))

	c, err := NewConsumer(ctx, ConsumerConfig{Brokers: addrs[:2], Topic: topic, Logger: testLogger(t)})
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	recs, err := c.ReadToEnd(ctx)
	require.NoError(t, err)
	require.Len(t, recs, 2*n)

	require.NoError(t, l.StartBroker(ctx, 3))
	waitBrokers(ctx, t, addrs[2:], 3)
}

// waitBrokers polls metadata from addrs until it lists exactly want brokers.
func waitBrokers(ctx context.Context, tb testing.TB, addrs []string, want int) {
	tb.Helper()
	cfg := baseConfig("test-probe")
	cfg.Metadata.Retry.Max = 0
	var got int
	for {
		if c, err := sarama.NewClient(addrs, cfg); err == nil {
			got = len(c.Brokers())
			_ = c.Close()
			if got == want {
				return
			}
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("metadata from %v lists %d brokers, want %d: %v", addrs, got, want, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

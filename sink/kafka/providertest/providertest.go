// Package providertest is the contract every sink/kafka Provider must pass,
// in the manner of hashicorp/raft's transport tests and testing/fstest: one
// suite, run against each implementation from its own test file.
//
//	providertest.Run(t, func(t *testing.T) kafka.Provider { ... },
//		providertest.Records(10_000), providertest.NothingLeft(check))
//
// The suite starts the provider, round-trips records with headers through a
// fresh topic, closes it and checks that nothing of it is left: its client
// ports refuse connections, and the provider-specific check (processes,
// containers) passes. The factory must return a provider that has not been
// started; the suite closes it, also when a step fails.
package providertest

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/sink/kafka"
)

// Check inspects a started provider just before the suite closes it and
// returns the check to run after Close, which fails t if anything of the
// provider is left (a process, a container, a network, a volume).
type Check func(t *testing.T, p kafka.Provider) (after func(t *testing.T))

// Option adjusts a Run.
type Option func(*config)

type config struct {
	records     int
	partitions  int32
	nothingLeft Check
}

// Records sets how many records the round trip writes and reads; default
// 1,000.
func Records(n int) Option { return func(c *config) { c.records = n } }

// NothingLeft adds a provider-specific leftover check.
func NothingLeft(c Check) Option { return func(cfg *config) { cfg.nothingLeft = c } }

// Timings is what a Run measured.
type Timings struct {
	// Start is how long Start took.
	Start time.Duration
}

// Run runs the contract against the provider newProvider returns, as
// subtests Start, RoundTrip, Close and StartAfterClose; a failed Start skips
// the round trip.
func Run(t *testing.T, newProvider func(t *testing.T) kafka.Provider, opts ...Option) Timings {
	t.Helper()
	cfg := config{records: 1000, partitions: 4}
	for _, o := range opts {
		o(&cfg)
	}
	p := newProvider(t)
	require.NotNil(t, p)
	require.NotEmpty(t, p.Name(), "a provider has a name")
	// NB: Start's context bounds the cluster's life, not only the start, so
	// it lives until the suite ends; each provider bounds its start itself.
	life, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		_ = p.Close() // in case a step failed; Close is idempotent
		cancel()
	})

	var res Timings
	var addrs []string
	started := t.Run("Start", func(t *testing.T) {
		t0 := time.Now()
		var err error
		addrs, err = p.Start(life)
		res.Start = time.Since(t0)
		require.NoError(t, err, "start %s provider", p.Name())
		require.NotEmpty(t, addrs, "Start returns the bootstrap list")
		for _, a := range addrs {
			_, port, err := net.SplitHostPort(a)
			require.NoError(t, err, "bootstrap address %q is host:port", a)
			_, err = strconv.Atoi(port)
			require.NoError(t, err, "bootstrap address %q has a numeric port", a)
		}
		t.Logf("%s provider started in %v: %v", p.Name(), res.Start.Round(time.Millisecond), addrs)
	})
	if started {
		t.Run("RoundTrip", func(t *testing.T) { roundTrip(t, addrs, cfg) })
	}
	t.Run("Close", func(t *testing.T) {
		var after func(*testing.T)
		if cfg.nothingLeft != nil {
			after = cfg.nothingLeft(t, p)
		}
		require.NoError(t, p.Close(), "close %s provider", p.Name())
		require.NoError(t, p.Close(), "Close is idempotent")
		for _, a := range addrs {
			requireRefused(t, a)
		}
		if after != nil {
			after(t)
		}
	})
	t.Run("StartAfterClose", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := p.Start(ctx)
		require.ErrorIs(t, err, kafka.ErrClosed, "a closed provider does not start again")
	})
	return res
}

// roundTrip writes cfg.records rows, each with the cdc-* headers, to a fresh
// topic and reads every one back exactly once, headers intact.
func roundTrip(t *testing.T, addrs []string, cfg config) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic = "providertest"
	require.NoError(t, kafka.CreateTopic(ctx, addrs, kafka.TopicSpec{Name: topic, Partitions: cfg.partitions}))

	rows := make([]evidence.Row, cfg.records)
	msgs := make([]evidence.Message, cfg.records)
	for i := range rows {
		rows[i] = evidence.Row{
			Changefeed: "cf-contract", Epoch: uint64(1 + i%3), Node: "node-" + strconv.Itoa(i%3),
			Dispatcher: "d" + strconv.Itoa(i%5), Table: "t" + strconv.Itoa(i%7), PK: int64(i),
			Op: evidence.OpInsert, CommitTs: uint64(1000 + i), Columns: map[string]string{"v": strconv.Itoa(i)},
		}
		m, err := evidence.EncodeRow(topic, rows[i])
		require.NoError(t, err)
		require.NotEmpty(t, m.Headers, "rows travel with headers")
		msgs[i] = m
	}
	prod, err := kafka.NewProducer(ctx, kafka.ProducerConfig{Brokers: addrs})
	require.NoError(t, err)
	t0 := time.Now()
	const batch = 5000
	for i := 0; i < len(msgs); i += batch {
		for j, r := range prod.Produce(ctx, msgs[i:min(i+batch, len(msgs))]) {
			require.Equal(t, kafka.DeliveryAcked, r.Delivery, "record %d: %v", i+j, r.Err)
		}
	}
	require.NoError(t, prod.Close())
	t.Logf("produced %d records in %v", cfg.records, time.Since(t0).Round(time.Millisecond))

	cons, err := kafka.NewConsumer(ctx, kafka.ConsumerConfig{Brokers: addrs, Topic: topic})
	require.NoError(t, err)
	defer func() { require.NoError(t, cons.Close()) }()
	t0 = time.Now()
	recs, err := cons.ReadToEnd(ctx)
	require.NoError(t, err)
	t.Logf("consumed %d records in %v", len(recs), time.Since(t0).Round(time.Millisecond))
	require.Len(t, recs, cfg.records)
	seen := make([]bool, cfg.records)
	for _, rec := range recs {
		require.Equal(t, evidence.KindRow, rec.Kind, "%s/%d@%d", rec.Topic, rec.Partition, rec.Offset)
		require.NotNil(t, rec.Row)
		pk := rec.Row.PK
		require.False(t, seen[pk], "row %d read twice", pk)
		seen[pk] = true
		// Changefeed, epoch, node and dispatcher come from the headers.
		require.Equal(t, rows[pk], *rec.Row, "row %d round-trips with its headers", pk)
	}
}

// requireRefused fails t unless addr refuses TCP connections within 30s
// (a proxy in front of a dying listener may accept for a moment).
func requireRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			var op *net.OpError
			require.True(t, errors.As(err, &op), "dial %s: %v", addr, err)
			return
		}
		_ = c.Close()
		require.True(t, time.Now().Before(deadline), "%s still accepts connections after Close", addr)
		time.Sleep(200 * time.Millisecond) // polling a port with a deadline; nothing to wait on
	}
}

package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/IBM/sarama"

	"github.com/chaosrun/chaosrun/evidence"
)

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	// Brokers is the bootstrap list. Required.
	Brokers []string
	// Topic is the topic to read. Required.
	Topic string
	// ClientID names the client in broker logs; default "chaosrun-consumer".
	ClientID string
	// Logger receives the consumer's logs; default slog.Default().
	Logger *slog.Logger
	// ReadCommitted hides the records of aborted and open transactions,
	// as downstream consumers of a transactional sink see the topic.
	ReadCommitted bool
}

// Consumer reads every partition of one topic with plain partition
// consumers: no group, no rebalances, no committed offsets.
type Consumer struct {
	topic    string
	log      *slog.Logger
	client   sarama.Client
	consumer sarama.Consumer
}

// NewConsumer connects to cfg.Brokers. An unreachable cluster gives an error
// wrapping ErrUnreachable.
func NewConsumer(ctx context.Context, cfg ConsumerConfig) (*Consumer, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" {
		return nil, fmt.Errorf("new consumer for %q: brokers and topic are required: %w", cfg.Topic, ErrBadConfig)
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "chaosrun-consumer"
	}
	client, err := connect(ctx, cfg.Brokers, consumerConfig(cfg.ClientID, cfg.ReadCommitted))
	if err != nil {
		return nil, fmt.Errorf("new consumer for %s: %w", cfg.Topic, err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("new consumer for %s: %w", cfg.Topic, err)
	}
	return &Consumer{
		topic: cfg.Topic, log: orDefault(cfg.Logger).With("component", "kafka-consumer", "topic", cfg.Topic),
		client: client, consumer: consumer,
	}, nil
}

// Offsets maps a partition to an offset.
type Offsets map[int32]int64

// HighWatermarks returns, per partition, the offset the next record will get.
func (c *Consumer) HighWatermarks(ctx context.Context) (Offsets, error) {
	return c.offsets(ctx, sarama.OffsetNewest)
}

func (c *Consumer) offsets(ctx context.Context, which int64) (Offsets, error) {
	if err := c.client.RefreshMetadata(c.topic); err != nil {
		return nil, fmt.Errorf("offsets of %s: %w", c.topic, err)
	}
	parts, err := c.client.Partitions(c.topic)
	if err != nil {
		return nil, fmt.Errorf("offsets of %s: %w", c.topic, err)
	}
	out := make(Offsets, len(parts))
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("offsets of %s: %w", c.topic, err)
		}
		o, err := c.client.GetOffset(c.topic, p, which)
		if err != nil {
			return nil, fmt.Errorf("offset of %s/%d: %w", c.topic, p, err)
		}
		out[p] = o
	}
	return out, nil
}

// Read calls fn for each record of every partition, one call at a time, in
// offset order within a partition (partitions interleave). A partition
// starts at from[p], or at its oldest record when from has no entry.
// With until == nil, Read tails until ctx is done and returns ctx's error;
// otherwise a partition stops before offset until[p] (a partition missing
// from until is not read) and Read returns nil once all have. A record that
// does not decode stops Read with an error wrapping evidence.ErrMalformed; an
// error from fn stops Read and is returned as is.
//
// TODO(sink): with transactional producers the last offsets below a high
// watermark can be control records that are never delivered; bounded reads
// then need the last stable offset instead.
func (c *Consumer) Read(ctx context.Context, from, until Offsets, fn func(evidence.Record) error) error {
	parts, err := c.client.Partitions(c.topic)
	if err != nil {
		return fmt.Errorf("read %s: %w", c.topic, err)
	}
	var oldest Offsets
	if until != nil {
		if oldest, err = c.offsets(ctx, sarama.OffsetOldest); err != nil {
			return fmt.Errorf("read %s: %w", c.topic, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	recs := make(chan evidence.Record, 256)
	errc := make(chan error, len(parts))
	fail := func(err error) {
		errc <- err
		cancel()
	}
	var wg sync.WaitGroup
	for _, p := range parts {
		start, ok := from[p]
		if !ok {
			start = sarama.OffsetOldest
		}
		end := int64(-1)
		if until != nil {
			end = until[p]
			first := start
			if first < 0 {
				first = oldest[p]
			}
			if first >= end {
				continue
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.readPartition(ctx, p, start, end, recs, fail)
		}()
	}
	go func() {
		wg.Wait()
		close(recs)
	}()
	for r := range recs {
		if err := fn(r); err != nil {
			cancel()
			for range recs { //nolint:revive // drain so the readers can exit
			}
			return err
		}
	}
	select {
	case err := <-errc:
		return err
	default:
	}
	if until == nil {
		return fmt.Errorf("tail %s: %w", c.topic, context.Cause(ctx))
	}
	return nil
}

// readPartition feeds recs from one partition until end (exclusive; -1 for
// none), ctx is done, or an error, which it reports through fail.
func (c *Consumer) readPartition(ctx context.Context, p int32, start, end int64, recs chan<- evidence.Record, fail func(error)) {
	pc, err := c.consumer.ConsumePartition(c.topic, p, start)
	if err != nil {
		fail(fmt.Errorf("consume %s/%d from %d: %w", c.topic, p, start, err))
		return
	}
	defer func() { _ = pc.Close() }()
	msgs, errs := pc.Messages(), pc.Errors()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				fail(fmt.Errorf("consume %s/%d: partition consumer stopped", c.topic, p))
				return
			}
			rec, err := evidence.Decode(consumed(m))
			if err != nil {
				fail(err)
				return
			}
			select {
			case recs <- rec:
			case <-ctx.Done():
				return
			}
			if end >= 0 && m.Offset+1 >= end {
				return
			}
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// sarama retries fetches itself (leader moves, broker restarts);
			// an error it cannot recover from closes msgs.
			if errors.Is(e.Err, sarama.ErrOffsetOutOfRange) {
				fail(fmt.Errorf("consume %s/%d: %w", c.topic, p, e.Err))
				return
			}
			c.log.Warn("fetch error, sarama retries", "partition", p, "err", e.Err)
		}
	}
}

// ReadToEnd reads every record below the high watermarks taken when it is
// called.
func (c *Consumer) ReadToEnd(ctx context.Context) ([]evidence.Record, error) {
	hw, err := c.HighWatermarks(ctx)
	if err != nil {
		return nil, err
	}
	var out []evidence.Record
	err = c.Read(ctx, nil, hw, func(r evidence.Record) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// Close closes the consumer and its connections. Call it once, after Read
// has returned.
func (c *Consumer) Close() error {
	err := c.consumer.Close()
	if cerr := c.client.Close(); err == nil && cerr != nil && !errors.Is(cerr, sarama.ErrClosedClient) {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("close consumer of %s: %w", c.topic, err)
	}
	return nil
}

// consumed is m as evidence.Decode takes it.
func consumed(m *sarama.ConsumerMessage) evidence.Consumed {
	hs := make([]evidence.Header, 0, len(m.Headers))
	for _, h := range m.Headers {
		if h != nil {
			hs = append(hs, evidence.Header{Key: h.Key, Value: h.Value})
		}
	}
	return evidence.Consumed{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp, Key: m.Key, Value: m.Value, Headers: hs}
}

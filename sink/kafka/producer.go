package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/chaosrun/chaosrun/evidence"
)

//go:generate stringer -type=Delivery -linecomment -output=delivery_string.go

// Delivery is what the producer knows about one record after Produce.
type Delivery uint8

// The deliveries. The zero value is DeliveryUnknown, so a receipt nobody
// filled in never claims more than is known.
const (
	// DeliveryUnknown: the record may or may not be in the topic (a timeout,
	// a broken connection, retries exhausted after a send).
	DeliveryUnknown Delivery = iota // unknown
	// DeliveryAcked: the broker acknowledged the record with acks=all.
	DeliveryAcked // ok
	// DeliveryFailed: the record is certainly not in the topic (never sent,
	// or rejected for its content, which every attempt would have been).
	DeliveryFailed // failed
)

// Receipt is the outcome of one record of a Produce call.
type Receipt struct {
	Delivery Delivery
	// Partition, Offset and Timestamp are set when Delivery is DeliveryAcked.
	// Timestamp is the broker's append time on LogAppendTime topics.
	Partition int32
	Offset    int64
	Timestamp time.Time
	// Err says why the outcome is not DeliveryAcked.
	Err error
}

// Producer writes Messages through an idempotent, acks=all sarama async
// producer and reports a per-record Delivery. It is safe for concurrent use.
//
// NB: when sarama finally gives up on an idempotent batch it bumps the
// producer epoch, so resending an DeliveryUnknown record can duplicate it, and
// records sent after a failure may land before the resent ones. Callers that
// need per-key order rebuild the producer and resend from the last
// acknowledged record.
type Producer struct {
	cfg    ProducerConfig
	log    *slog.Logger
	client sarama.Client
	ap     sarama.AsyncProducer

	// mu guards sends into ap.Input() against Close: sarama forbids sending
	// after AsyncClose.
	mu      sync.RWMutex
	closed  bool
	closing chan struct{} // closed first by Close, to unblock senders

	// fencedBy is the first error that showed a newer instance of the
	// transactional id; the producer stays fenced after it.
	fencedBy atomic.Pointer[error]

	drained   chan struct{} // closed when both result channels are drained
	closeOnce sync.Once
	closeErr  error
}

// ticket rides in sarama's ProducerMessage.Metadata and routes the result
// back to its Produce call.
type ticket struct {
	b        *batch
	i        int
	explicit bool // the message names its partition
}

// batch collects the results of one Produce call.
type batch struct {
	mu        sync.Mutex
	results   []Receipt
	settled   []bool
	open      int
	done      chan struct{}
	abandoned bool
}

func newBatch(n int) *batch {
	return &batch{results: make([]Receipt, n), settled: make([]bool, n), open: n, done: make(chan struct{})}
}

// settle records the outcome of record i; it reports false when the batch
// no longer wants it (already settled, or the caller stopped waiting).
func (b *batch) settle(i int, r Receipt) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.abandoned || b.settled[i] {
		return false
	}
	b.results[i], b.settled[i] = r, true
	b.open--
	if b.open == 0 {
		close(b.done)
	}
	return true
}

// abandon marks every unsettled record unknown; later outcomes are dropped.
func (b *batch) abandon(cause error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, ok := range b.settled {
		if !ok {
			b.results[i] = Receipt{Delivery: DeliveryUnknown, Err: fmt.Errorf("%w: %w", ErrOutcomeTimeout, cause)}
		}
	}
	b.abandoned = true
}

// partitioner sends messages that name their partition (watermarks) there,
// and hashes the key of all others with murmur2, like the Java client.
type partitioner struct{ hash sarama.Partitioner }

func newPartitioner(topic string) sarama.Partitioner {
	return partitioner{hash: sarama.NewMurmur2Partitioner(topic)}
}

// Partition picks the partition of m among n.
func (p partitioner) Partition(m *sarama.ProducerMessage, n int32) (int32, error) {
	if t, ok := m.Metadata.(*ticket); ok && t.explicit {
		if m.Partition < 0 || m.Partition >= n {
			return -1, sarama.ErrInvalidPartition
		}
		return m.Partition, nil
	}
	return p.hash.Partition(m, n)
}

// RequiresConsistency is true: a key must always map to the same partition.
func (partitioner) RequiresConsistency() bool { return true }

// NewProducer connects to cfg.Brokers and returns a ready producer. An
// unreachable cluster gives an error wrapping ErrUnreachable.
func NewProducer(ctx context.Context, cfg ProducerConfig) (*Producer, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Brokers) == 0 {
		return nil, fmt.Errorf("new producer: no brokers: %w", ErrBadConfig)
	}
	client, err := connect(ctx, cfg.Brokers, producerConfig(cfg, newPartitioner))
	if err != nil {
		return nil, fmt.Errorf("new producer: %w", err)
	}
	ap, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("new producer for %v: %w", cfg.Brokers, err)
	}
	p := &Producer{
		cfg: cfg, log: cfg.Logger.With("component", "kafka-producer"), client: client, ap: ap,
		closing: make(chan struct{}), drained: make(chan struct{}),
	}
	go p.drain()
	return p, nil
}

// drain reads both result channels until sarama closes them; sarama
// deadlocks if either is left unread.
func (p *Producer) drain() {
	defer close(p.drained)
	succ, errs := p.ap.Successes(), p.ap.Errors()
	for succ != nil || errs != nil {
		select {
		case m, ok := <-succ:
			if !ok {
				succ = nil
				continue
			}
			p.settle(m, Receipt{Delivery: DeliveryAcked, Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp})
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			p.settle(e.Msg, Receipt{
				Delivery: classify(e.Err),
				Err:      fmt.Errorf("produce to %s/%d: %w", e.Msg.Topic, e.Msg.Partition, e.Err),
			})
		}
	}
}

func (p *Producer) settle(m *sarama.ProducerMessage, r Receipt) {
	t, ok := m.Metadata.(*ticket)
	if !ok {
		return
	}
	if !t.b.settle(t.i, r) {
		p.log.Debug("outcome after the caller stopped waiting", "topic", m.Topic,
			"partition", m.Partition, "offset", m.Offset, "outcome", r.Delivery.String())
	}
}

// definiteFailures are errors that prove a record is not in the topic: it
// never left the client, or the broker rejected its content, which it would
// have done on every attempt. Anything else after a send is unknown.
var definiteFailures = []error{
	ErrNotSent,
	ErrBadConfig,
	sarama.ErrShuttingDown,
	sarama.ErrInvalidPartition,
	sarama.ErrMessageSizeTooLarge,
	sarama.ErrInvalidMessage,
	sarama.ErrInvalidMessageSize,
	sarama.ErrMessageSetSizeTooLarge,
	sarama.ErrInvalidTopic,
	sarama.ErrTopicAuthorizationFailed,
	sarama.ErrClusterAuthorizationFailed,
	sarama.ErrInvalidRecord,
	sarama.ErrInvalidTimestamp,
	sarama.ErrUnsupportedForMessageFormat,
	sarama.ErrInvalidRequiredAcks,
}

// classify maps a produce error to an outcome (maelstrom's rule: only errors
// that prove nothing was written are failures).
func classify(err error) Delivery {
	for _, f := range definiteFailures {
		if errors.Is(err, f) {
			return DeliveryFailed
		}
	}
	var ce sarama.ConfigurationError
	if errors.As(err, &ce) {
		return DeliveryFailed
	}
	return DeliveryUnknown
}

// Produce sends msgs and waits until each has an outcome, the context is
// done, or ProducerConfig.Timeout passes; records still unacknowledged then
// are DeliveryUnknown. Results are in the order of msgs. Records of one key
// (or one explicit partition) keep their order within a call and across
// sequential calls, as long as nothing fails.
func (p *Producer) Produce(ctx context.Context, msgs []evidence.Message) []Receipt {
	if len(msgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	b := newBatch(len(msgs))
	tickets := make([]ticket, len(msgs))
	pms := make([]sarama.ProducerMessage, len(msgs))
	sent, cause := p.send(ctx, b, msgs, tickets, pms)
	for i := sent; i < len(msgs); i++ {
		b.settle(i, Receipt{Delivery: DeliveryFailed, Err: fmt.Errorf("%w: %w", ErrNotSent, cause)})
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		b.abandon(ctx.Err())
	}
	return b.results
}

// send hands msgs to sarama in order and returns how many it handed over;
// when it stops early it also returns why.
func (p *Producer) send(ctx context.Context, b *batch, msgs []evidence.Message, tickets []ticket, pms []sarama.ProducerMessage) (int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return 0, ErrClosed
	}
	in := p.ap.Input()
	// One allocation for every record's headers in sarama's type; the
	// capacity is exact, so appending never moves what earlier records got.
	n := 0
	for i := range msgs {
		n += len(msgs[i].Headers)
	}
	headers := make([]sarama.RecordHeader, 0, n)
	for i := range msgs {
		m := &msgs[i]
		if m.Topic == "" || m.Partition < evidence.AnyPartition {
			b.settle(i, Receipt{Delivery: DeliveryFailed, Err: fmt.Errorf("produce record %d: topic %q partition %d: %w", i, m.Topic, m.Partition, ErrBadConfig)})
			continue
		}
		tickets[i] = ticket{b: b, i: i, explicit: m.Partition != evidence.AnyPartition}
		pm := &pms[i]
		pm.Topic, pm.Timestamp, pm.Metadata = m.Topic, m.Timestamp, &tickets[i]
		first := len(headers)
		for _, h := range m.Headers {
			headers = append(headers, sarama.RecordHeader{Key: h.Key, Value: h.Value})
		}
		pm.Headers = headers[first:len(headers):len(headers)]
		if m.Partition != evidence.AnyPartition {
			pm.Partition = m.Partition
		}
		// NB: a nil Encoder, not ByteEncoder(nil), is what marks a null key.
		if m.Key != nil {
			pm.Key = sarama.ByteEncoder(m.Key)
		}
		if m.Value != nil {
			pm.Value = sarama.ByteEncoder(m.Value)
		}
		select {
		case in <- pm: // fast path: room in sarama's input buffer
			continue
		default:
		}
		select {
		case in <- pm:
		case <-ctx.Done():
			return i, ctx.Err()
		case <-p.closing:
			return i, ErrClosed
		}
	}
	return len(msgs), nil
}

// Partitions returns the number of partitions of topic, for evidence.EncodeWatermark.
func (p *Producer) Partitions(topic string) (int32, error) {
	ps, err := p.client.Partitions(topic)
	if err != nil {
		return 0, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	return int32(len(ps)), nil
}

// Close flushes what sarama still holds (retrying as configured), waits for
// every outcome to be drained, and closes the connection. Produce calls that
// are still sending see ErrClosed. Idempotent.
func (p *Producer) Close() error {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.ap.AsyncClose()
		<-p.drained
		if err := p.client.Close(); err != nil {
			p.closeErr = fmt.Errorf("close producer client: %w", err)
		}
	})
	return p.closeErr
}

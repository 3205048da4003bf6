package kafka

import (
	"log/slog"
	"time"

	"github.com/IBM/sarama"
)

// protocolVersion is the Kafka protocol level sarama speaks. Kafka 4.x dropped
// the pre-2.1 request versions (KIP-896), so it must stay well above 2.1.
var protocolVersion = sarama.V4_0_0_0

// ProducerConfig configures a Producer. Zero values take the defaults noted.
type ProducerConfig struct {
	// Brokers is the bootstrap list. Required.
	Brokers []string
	// ClientID names the client in broker logs; default "chaosrun".
	ClientID string
	// RetryMax is how often sarama retries a batch before it reports the
	// records as errors; default 10.
	RetryMax int
	// RetryBackoff is the wait between retries; default 250ms.
	RetryBackoff time.Duration
	// Timeout bounds how long Produce waits for outcomes (the context may
	// shorten it); records still unacknowledged then are DeliveryUnknown.
	// Default 30s.
	Timeout time.Duration
	// Logger receives the producer's logs; default slog.Default().
	Logger *slog.Logger
	// TransactionalID, when set, makes the producer transactional: records
	// go through Transact, and a newer producer started with the same id
	// fences this one at the broker. It names the unit that owns the
	// writes, stable across its incarnations.
	TransactionalID string
	// TransactionTimeout is how long the broker keeps an open transaction
	// of this producer before aborting it; default 10s.
	TransactionTimeout time.Duration
}

func (c ProducerConfig) withDefaults() ProducerConfig {
	if c.TransactionTimeout == 0 {
		c.TransactionTimeout = 10 * time.Second
	}
	if c.ClientID == "" {
		c.ClientID = "chaosrun"
	}
	if c.RetryMax == 0 {
		c.RetryMax = 10
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = 250 * time.Millisecond
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	c.Logger = orDefault(c.Logger)
	return c
}

// baseConfig is the sarama configuration every client of this package
// shares: protocol level and network timeouts that fail fast on a dead
// broker instead of sarama's 30s defaults.
func baseConfig(clientID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = clientID
	cfg.Version = protocolVersion
	cfg.Net.DialTimeout = 3 * time.Second
	cfg.Net.ReadTimeout = 15 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 5
	cfg.Metadata.Retry.Backoff = 250 * time.Millisecond
	// NB: unset, a metadata refresh against a dead cluster can take
	// DialTimeout x brokers x (Retry.Max+1).
	cfg.Metadata.Timeout = 15 * time.Second
	cfg.Metadata.RefreshFrequency = time.Minute
	return cfg
}

// producerConfig is the sarama configuration of Producer; the benchmark
// builds its raw sarama producer from the same function.
func producerConfig(c ProducerConfig, partitioner sarama.PartitionerConstructor) *sarama.Config {
	cfg := baseConfig(c.ClientID)
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	// Idempotence requires one in-flight request per broker, which also
	// keeps per-partition order across retries.
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max = c.RetryMax
	cfg.Producer.Retry.Backoff = c.RetryBackoff
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Partitioner = partitioner
	cfg.Producer.Timeout = 10 * time.Second // broker-side wait for acks=all
	if c.TransactionalID != "" {
		cfg.Producer.Transaction.ID = c.TransactionalID
		cfg.Producer.Transaction.Timeout = c.TransactionTimeout
	}
	return cfg
}

// consumerConfig is the sarama configuration of Consumer.
func consumerConfig(clientID string, readCommitted bool) *sarama.Config {
	cfg := baseConfig(clientID)
	if readCommitted {
		cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	}
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.MaxWaitTime = 250 * time.Millisecond
	return cfg
}

// orDefault returns l, or slog.Default() when l is nil.
func orDefault(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

package tail

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/evidence"
)

// Config configures a Tailer. Zero values take the defaults noted.
type Config struct {
	// Brokers is the bootstrap list. Required.
	Brokers []string
	// Topic is the changefeed topic. Required. It may not exist yet: the
	// Tailer retries until it does (it never creates it).
	Topic string
	// Dir is the run directory the files go to; it must exist. Required.
	Dir string
	// ClientID names the client in broker logs; default "chaosrun-tailer".
	ClientID string
	// FlushInterval is how often the dump is flushed to the file; default
	// 200 ms. Drain and Close flush too.
	FlushInterval time.Duration
	// MinBackoff and MaxBackoff bound the exponential wait between
	// reconnections; defaults 100 ms and 2 s.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives the tailer's logs; default slog.Default().
	Logger *slog.Logger
	// Decode decodes each consumed record; nil means evidence.Decode's
	// format with checker.UnmarshalJSON as the JSON engine. A
	// record whose error wraps evidence.ErrNotChange is counted as skipped;
	// any other error lists it as malformed.
	Decode func(evidence.Consumed) (evidence.Record, error)
	// ReadCommitted consumes with isolation level read_committed, for a
	// topic written in Kafka transactions: records of aborted transactions
	// are never seen, and offsets have gaps (commit and abort markers,
	// aborted records), so Drain waits for each partition's position to
	// reach the last stable offset rather than counting records.
	ReadCommitted bool
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Brokers) == 0 || c.Topic == "" || c.Dir == "" {
		return c, fmt.Errorf("%w: brokers, topic and dir are required (topic %q, dir %q)", ErrConfig, c.Topic, c.Dir)
	}
	if c.ClientID == "" {
		c.ClientID = "chaosrun-tailer"
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 200 * time.Millisecond
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(c.MinBackoff, 2*time.Second)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Decode == nil {
		c.Decode = evidence.Decoder{Unmarshal: checker.UnmarshalJSON}.Decode
	}
	return c, nil
}

// How long a fetch waits for how many bytes (see saramaConfig).
const (
	fetchMaxWait  = 50 * time.Millisecond
	fetchMinBytes = 64 << 10
)

// saramaConfig is the consumer configuration, read_committed when asked.
// It mirrors sink/kafka's consumer (protocol level, fail-fast network
// timeouts) with shorter retry
// backoffs, so that the tailer resumes soon after a broker comes back, and
// without automatic topic creation: asking for the metadata of a topic that
// does not exist yet must not create it with the broker's defaults.
func saramaConfig(clientID string, readCommitted bool) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = clientID
	// NB: Kafka 4.x dropped the pre-2.1 request versions (KIP-896); this is
	// sink/kafka's protocolVersion.
	cfg.Version = sarama.V4_0_0_0
	cfg.Net.DialTimeout = 3 * time.Second
	cfg.Net.ReadTimeout = 15 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 3
	cfg.Metadata.Retry.Backoff = 250 * time.Millisecond
	cfg.Metadata.Timeout = 10 * time.Second
	cfg.Metadata.RefreshFrequency = time.Minute
	cfg.Metadata.AllowAutoTopicCreation = false
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	// NB: a fetch waits for fetchMinBytes or fetchMaxWait, whichever comes
	// first. With sarama's default of one byte, a fetch returned as soon as
	// any of the nodes' small produce requests landed, so every tailer asked
	// about as often as the nodes wrote: the judge's load on the broker the
	// system under test shares the two cores with grew with the number of
	// changefeeds. The live view is at most fetchMaxWait behind; the checker
	// judges the lag from append times, which no wait changes.
	cfg.Consumer.MaxWaitTime = fetchMaxWait
	cfg.Consumer.Fetch.Min = fetchMinBytes
	cfg.Consumer.Retry.Backoff = 250 * time.Millisecond
	cfg.Consumer.Fetch.Default = 1 << 20
	cfg.ChannelBufferSize = 512
	if readCommitted {
		cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	}
	return cfg
}

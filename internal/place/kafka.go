package place

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"time"

	"github.com/chaosrun/chaosrun/sink/kafka"
)

// KafkaName is the placement name of the local Kafka provider's brokers:
// all of them run where the placement puts "kafka" (one host, distinct
// ports).
const KafkaName = "kafka"

// Listener is implemented by placements whose hosts the harness cannot
// bind in its own network namespace (netns): Listen opens a TCP listener
// on addr where process name runs. The local Kafka provider reserves its
// ports with it.
type Listener interface {
	Listen(name, addr string) (net.Listener, error)
}

// Kafka points the local Kafka provider at the placement of
// KafkaName: the host its brokers bind and advertise, the command that
// starts their JVMs and, for a Listener, where free ports are reserved.
// Fields the caller set are kept. Under Loopback this is the provider's
// default behaviour.
func Kafka(cfg *kafka.LocalConfig, pl Placement) {
	if cfg.Host == "" {
		cfg.Host = pl.Host(KafkaName)
	}
	if cfg.Command == nil {
		cfg.Command = func(ctx context.Context, _ int, name string, args ...string) *exec.Cmd {
			return pl.Command(ctx, KafkaName, name, args...)
		}
	}
	if l, ok := pl.(Listener); ok && cfg.Listen == nil {
		cfg.Listen = func(_, addr string) (net.Listener, error) { return l.Listen(KafkaName, addr) }
	}
}

// StartKafka starts the Kafka provider opts chooses, its brokers (for the
// local provider) where pl puts KafkaName and their data under dir, and
// returns it with its bootstrap addresses. The brokers live until the
// provider is closed, not until ctx ends.
func StartKafka(ctx context.Context, opts kafka.Options, dir string, pl Placement, log *slog.Logger) (kafka.Provider, []string, error) {
	if opts.Provider == "" || opts.Provider == kafka.ProviderLocal {
		opts.Local.Dir = dir
		Kafka(&opts.Local, pl)
	}
	if opts.Logger == nil {
		opts.Logger = log
	}
	t0 := time.Now()
	p, err := kafka.NewProvider(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka provider: %w", err)
	}
	// NB: the provider ties its brokers to the context it starts with.
	brokers, err := p.Start(context.WithoutCancel(ctx))
	if err != nil {
		return p, nil, fmt.Errorf("start kafka: %w", err)
	}
	log.Info("kafka ready", "brokers", brokers, "took", time.Since(t0).Round(time.Millisecond))
	return p, brokers, nil
}

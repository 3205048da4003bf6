package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/chaosrun/chaosrun/chaos"
	"github.com/chaosrun/chaosrun/internal/place"
	"github.com/chaosrun/chaosrun/sink/kafka"
)

// SharedKafka is one local Kafka cluster that many runs use in turn or at
// once, each with a changefeed and topic of its own (a sweep's): the runs
// skip starting and stopping a broker each. On the netns backend it lives in
// a namespace of a network of its own, which every run's network shares
// (chaos.Network.Share); on toxiproxy it listens on loopback.
type SharedKafka struct {
	brokers  []string
	provider kafka.Provider
	net      *chaos.Network
	ledger   *chaos.Ledger
	ns       *chaos.Namespace
}

// StartSharedKafka starts a local Kafka of brokers brokers for runs on
// backend, with its data, logs and (netns) fault ledger in dir, which
// `chaosrun clean dir` cleans after a crash. On error it leaves nothing.
func StartSharedKafka(ctx context.Context, backend, dir string, brokers int, log *slog.Logger) (*SharedKafka, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("shared kafka: %w", err)
	}
	s := &SharedKafka{}
	var pl place.Placement = place.Loopback{}
	if backend == chaos.BackendNetns {
		run := chaos.NewRunID()
		var err error
		if s.ledger, err = chaos.OpenLedger(dir, run); err != nil {
			return nil, fmt.Errorf("shared kafka: %w", err)
		}
		if s.net, err = chaos.NewNetwork(ctx, run, s.ledger, log); err != nil {
			return nil, errors.Join(fmt.Errorf("shared kafka: %w", err), s.Close(ctx))
		}
		npl, err := chaos.NewNetnsPlacement(ctx, s.net, place.KafkaName)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("shared kafka: %w", err), s.Close(ctx))
		}
		s.ns, _ = npl.Namespace(place.KafkaName)
		pl = npl
	}
	opts := kafka.Options{Provider: kafka.ProviderLocal, Local: kafka.LocalConfig{Brokers: brokers}}
	var err error
	s.provider, s.brokers, err = place.StartKafka(ctx, opts, filepath.Join(dir, "kafka"), pl, log)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("shared kafka: %w", err), s.Close(ctx))
	}
	return s, nil
}

// Apply points a run at the shared cluster: an external provider with its
// bootstrap and, on netns, the namespace the run's network must share.
// The run's changefeed must be its own.
func (s *SharedKafka) Apply(opt *RunOptions) {
	opt.Kafka.Provider, opt.Kafka.Bootstrap = kafka.ProviderExternal, s.brokers
	opt.KafkaNetns = s.ns
}

// Bootstrap returns the cluster's bootstrap addresses.
func (s *SharedKafka) Bootstrap() []string { return s.brokers }

// Where says where the brokers run: "loopback", or the namespace.
func (s *SharedKafka) Where() string {
	if s.ns == nil {
		return "loopback"
	}
	return s.ns.Name
}

// Close stops the brokers and removes the network. Idempotent.
func (s *SharedKafka) Close(ctx context.Context) error {
	var errs []error
	if s.provider != nil {
		errs = append(errs, s.provider.Close())
		s.provider = nil
	}
	if s.net != nil {
		errs = append(errs, s.net.Close(context.WithoutCancel(ctx)))
		s.net = nil
	}
	if s.ledger != nil {
		errs = append(errs, s.ledger.Close())
		s.ledger = nil
	}
	return errors.Join(errs...)
}

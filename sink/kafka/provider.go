package kafka

import (
	"context"
	"fmt"
	"log/slog"
)

// Provider gives a run a Kafka cluster.
type Provider interface {
	// Name returns the provider's kind ("local", "external", "testcontainers").
	Name() string
	// Start makes the cluster ready and returns its bootstrap addresses
	// (host:port). It is called at most once. For providers that start
	// processes, cancelling ctx later also stops them.
	Start(ctx context.Context) ([]string, error)
	// Close stops whatever Start started and releases its resources. It is
	// idempotent and safe to call when Start failed or never ran.
	Close() error
}

// BrokerController is implemented by providers whose brokers the harness
// can stop and restart (local). Brokers are named by their node.id, 1..N,
// which is also their sarama Broker.ID().
type BrokerController interface {
	// Brokers returns the node ids of the cluster.
	Brokers() []int32
	// KillBroker kills the broker's process group with SIGKILL and waits
	// until it is gone. Its data directory is kept. Idempotent.
	KillBroker(id int32) error
	// StopBroker stops the broker with SIGTERM (a controlled shutdown),
	// and with SIGKILL if it has not exited when ctx is done. Idempotent.
	StopBroker(ctx context.Context, id int32) error
	// StartBroker restarts a stopped or killed broker on its data directory
	// and waits, until ctx is done, for it to serve metadata with every
	// broker of the cluster. Starting a running broker is a no-op.
	StartBroker(ctx context.Context, id int32) error
}

// Provider names for Options.Provider (ProviderTestcontainers is in
// testcontainers.go).
const (
	ProviderLocal    = "local"
	ProviderExternal = "external"
)

// Options chooses and configures a provider.
type Options struct {
	// Provider is ProviderLocal (the default), ProviderExternal or
	// ProviderTestcontainers.
	Provider string
	// Local configures ProviderLocal.
	Local LocalConfig
	// Testcontainers configures ProviderTestcontainers.
	Testcontainers TestcontainersConfig
	// Bootstrap is the broker list for ProviderExternal.
	Bootstrap []string
	// Logger receives the provider's logs; default slog.Default().
	Logger *slog.Logger
}

// NewProvider returns the provider o names; it starts nothing.
func NewProvider(o Options) (Provider, error) {
	p, err := newProvider(o)
	if err != nil {
		// NB: not p, which may be a typed nil that compares unequal to nil.
		return nil, err
	}
	return p, nil
}

func newProvider(o Options) (Provider, error) {
	switch o.Provider {
	case "", ProviderLocal:
		cfg := o.Local
		if cfg.Logger == nil {
			cfg.Logger = o.Logger
		}
		return NewLocal(cfg)
	case ProviderExternal:
		return NewExternal(o.Bootstrap, o.Logger)
	case ProviderTestcontainers:
		cfg := o.Testcontainers
		if cfg.Logger == nil {
			cfg.Logger = o.Logger
		}
		return NewTestcontainers(cfg)
	default:
		return nil, fmt.Errorf("new provider %q (want %s, %s or %s): %w",
			o.Provider, ProviderLocal, ProviderExternal, ProviderTestcontainers, ErrUnknownProvider)
	}
}

package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
)

// External is a Provider for a cluster somebody else runs.
type External struct {
	addrs []string
	log   *slog.Logger
}

// NewExternal returns a provider for the given bootstrap list (host:port
// entries); it checks the syntax only.
func NewExternal(addrs []string, log *slog.Logger) (*External, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("external provider: empty bootstrap list: %w", ErrBadConfig)
	}
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("external provider: bootstrap %q: %w: %w", a, ErrBadConfig, err)
		}
	}
	return &External{addrs: slices.Clone(addrs), log: orDefault(log).With("provider", ProviderExternal)}, nil
}

// Name returns "external".
func (e *External) Name() string { return ProviderExternal }

// Start checks that some bootstrap broker answers a metadata request and
// returns the list. An unreachable list gives an error wrapping
// ErrUnreachable.
func (e *External) Start(ctx context.Context) ([]string, error) {
	cfg := baseConfig("chaosrun-probe")
	cfg.Metadata.Retry.Max = 1
	client, err := connect(ctx, e.addrs, cfg)
	if err != nil {
		return nil, fmt.Errorf("start external provider: %w", err)
	}
	n := len(client.Brokers())
	_ = client.Close()
	e.log.Info("external Kafka reachable", "bootstrap", e.addrs, "brokers", n)
	return slices.Clone(e.addrs), nil
}

// Close does nothing: the cluster is not ours.
func (e *External) Close() error { return nil }

package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"
)

// RestartFunc restarts a killed process the way the scenario says (same
// data dir; same or new node id) and returns it with its new pid and start
// time. The runner provides it; the kill backend calls it on heal.
type RestartFunc func(ctx context.Context, old Process) (Process, error)

// Env is what a backend factory may need. The runner builds one per run.
type Env struct {
	// Run is the run id. Required.
	Run string
	// Ledger records intents. Required outside unit tests.
	Ledger *Ledger
	// Topology is the run's processes. Required.
	Topology *Topology
	// Network is the run's namespaces (netns backend).
	Network *Network
	// Proxies is the run's toxiproxy server (toxiproxy backend).
	Proxies *Proxies
	// Restart restarts killed processes (kill backend); nil means a kill
	// is never healed.
	Restart RestartFunc
	// ProbeTimeout bounds one probe (default 250ms).
	ProbeTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (e Env) probeTimeout() time.Duration {
	if e.ProbeTimeout <= 0 {
		return 250 * time.Millisecond
	}
	return e.ProbeTimeout
}

func (e Env) logger() *slog.Logger {
	if e.Logger == nil {
		return slog.Default()
	}
	return e.Logger
}

// Factory builds a backend for one run.
type Factory func(env Env) (Backend, error)

// Registry maps backend names to factories. Backends are added explicitly
// (Register), never from init functions.
type Registry struct {
	factories map[string]Factory
}

// ErrUnknownBackend reports a backend name missing from a Registry.
var ErrUnknownBackend = errors.New("chaos: unknown backend")

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{factories: map[string]Factory{}} }

// Add registers f under name; names are unique.
func (r *Registry) Add(name string, f Factory) error {
	if _, dup := r.factories[name]; dup {
		return fmt.Errorf("chaos: backend %q registered twice", name)
	}
	r.factories[name] = f
	return nil
}

// New builds the backend called name.
func (r *Registry) New(name string, env Env) (Backend, error) {
	f, ok := r.factories[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q (have %v)", ErrUnknownBackend, name, r.Names())
	}
	if err := ValidateRunID(env.Run); err != nil {
		return nil, err
	}
	if env.Topology == nil {
		return nil, fmt.Errorf("chaos: backend %s: env has no topology", name)
	}
	return f(env)
}

// Names returns the registered names, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.factories))
	for n := range r.factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return slices.Clip(out)
}

// Backend names.
const (
	BackendNetns     = "netns"
	BackendToxiproxy = "toxiproxy"
	BackendKill      = "kill"
	BackendPause     = "pause"
	BackendNoop      = "noop"
)

// Register adds every backend of this package to r.
func Register(r *Registry) error {
	return errors.Join(
		r.Add(BackendNetns, newNetnsBackend),
		r.Add(BackendToxiproxy, newToxiproxyBackend),
		r.Add(BackendKill, newKillBackend),
		r.Add(BackendPause, newPauseBackend),
		r.Add(BackendNoop, newNoopBackend),
	)
}

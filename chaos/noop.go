package chaos

import (
	"context"
	"time"
)

// noopBackend injects nothing and observes nothing. It is always present so
// a scenario can run its full plan without faults (a baseline run); every
// observation reports OK, and the record says so in its note.
type noopBackend struct{}

func newNoopBackend(Env) (Backend, error) { return noopBackend{}, nil }

func (noopBackend) Name() string                                   { return BackendNoop }
func (noopBackend) Inject(context.Context, *Fault) error           { return nil }
func (noopBackend) Heal(context.Context, *Fault) (*Process, error) { return nil, nil }

func (noopBackend) Observe(_ context.Context, _ *Fault, phase Phase) (Observation, error) {
	now := time.Now()
	return Observation{Phase: phase, OK: true, Start: now, End: now, Note: "noop backend: nothing injected"}, nil
}

package chaos

import (
	"context"
	"errors"
	"time"
)

// Backend injects one fault at a time. Callers drive it through a Guard,
// which enforces the order of calls (see Guard) and serialises them, so a
// backend need not be safe for concurrent use by several Guards unless it
// says so. Every method that changes state records its intent in the run's
// Ledger before acting.
type Backend interface {
	// Name is the registry name ("netns", "toxiproxy", "kill", "pause").
	Name() string
	// Inject applies f. f is resolved; its Kind is one the backend
	// supports, else Inject returns ErrUnsupported without acting. On error
	// the fault may be partly applied: callers must Heal.
	Inject(ctx context.Context, f *Fault) error
	// Observe runs one round of probes for f and reports whether f is in
	// effect (PhaseInjected) or gone (PhaseHealed). It only observes and
	// never changes state. An error means the round could not observe
	// (e.g. iptables failed), not that the fault is ineffective.
	Observe(ctx context.Context, f *Fault, phase Phase) (Observation, error)
	// Heal undoes f. Idempotent, and safe after a partial or failed Inject.
	// It may return a replacement target (kill: the restarted process).
	Heal(ctx context.Context, f *Fault) (*Process, error)
}

// Preparer is a Backend with state that outlives one fault (toxiproxy's
// toxics, netns chains); the Guard calls Prepare before the first fault and
// Cleanup after the last. Both are idempotent.
type Preparer interface {
	// Prepare readies the backend for a run (toxiproxy: reset all toxics).
	Prepare(ctx context.Context) error
	// Cleanup releases what Prepare took (toxiproxy: reset toxics).
	Cleanup(ctx context.Context) error
}

// ErrUnsupported reports a fault kind a backend cannot inject.
var ErrUnsupported = errors.New("chaos: fault kind not supported by backend")

// Phase says what an observation expects.
type Phase string

const (
	// PhaseInjected expects the fault to be in effect.
	PhaseInjected Phase = "injected"
	// PhaseHealed expects the fault to be gone.
	PhaseHealed Phase = "healed"
)

// Reach is the outcome of one probe.
type Reach string

const (
	// Open means data (or at least a TCP handshake) went through.
	Open Reach = "open"
	// Blocked means the probe timed out or the packets were dropped.
	Blocked Reach = "blocked"
	// Unclear means the probe could not run or ended in an unexpected way
	// (e.g. connection reset), which proves neither.
	Unclear Reach = "unclear"
	// Any, as a probe's Want, means the probe only drives traffic (for a
	// loss, whose proof is the drop counters) and any outcome will do.
	Any Reach = "any"
)

// Probe roles within an observation.
const (
	ProbeCut     = "cut"     // a link the fault drops
	ProbeControl = "control" // a link a one-way cut must leave open
	ProbeTarget  = "target"  // the target's own endpoint (process faults)
)

// ProbeResult is one probe of one directed link.
type ProbeResult struct {
	Link     string        `json:"link"` // "from->to/endpoint"
	From     string        `json:"from,omitempty"`
	To       string        `json:"to"`
	Endpoint string        `json:"endpoint"`
	Addr     string        `json:"addr"` // address dialled (the proxy's, for toxiproxy)
	Kind     ProbeKind     `json:"kind"`
	Role     string        `json:"role"` // ProbeCut, ProbeControl or ProbeTarget
	Want     Reach         `json:"want"`
	Got      Reach         `json:"got"`
	Err      string        `json:"err,omitempty"`
	Start    time.Time     `json:"start"`
	Took     time.Duration `json:"took_ns"`
}

// Counter is one counter of a fault's effect: an iptables rule's packet
// and byte counts, the packets a queue handler held, delayed or released,
// or the bytes a toxiproxy hold toxic kept back.
type Counter struct {
	Where   string `json:"where"` // netns or proxy name
	What    string `json:"what"`  // the rule, or the toxic name and stream
	Packets uint64 `json:"packets,omitempty"`
	Bytes   uint64 `json:"bytes"`
}

// Observation is one round of probes and counters.
type Observation struct {
	Phase Phase `json:"phase"`
	// OK says the phase's expectation held: every probe got its Want and,
	// after inject, the counters show the fault acting (where the backend
	// has them).
	OK bool `json:"ok"`
	// Start and End bound the round.
	Start    time.Time     `json:"start"`
	End      time.Time     `json:"end"`
	Probes   []ProbeResult `json:"probes,omitempty"`
	Counters []Counter     `json:"counters,omitempty"`
	// Note explains a failed expectation in one line.
	Note string `json:"note,omitempty"`
}

// at returns the moment the observation proves its phase: for an inject the
// start of the round (the dropped probes were sent then), for a heal its
// end (the last probe had got through by then).
func (o Observation) at() time.Time {
	if o.Phase == PhaseInjected {
		return o.Start
	}
	return o.End
}

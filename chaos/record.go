package chaos

import (
	"time"
)

// FaultRecord is the proof trail of one fault: what the scenario asked for,
// what it resolved to, when it was injected and healed, and what the probes
// and counters saw. The runner copies it into result.json; a record with
// Effective=false makes the run inconclusive.
type FaultRecord struct {
	Run       string       `json:"run"`
	Backend   string       `json:"backend"`
	ID        string       `json:"id"`
	Kind      Kind         `json:"kind"`
	Role      Role         `json:"role"`
	Target    ProcessRef   `json:"target"`
	Peers     []ProcessRef `json:"peers,omitempty"`
	Links     []string     `json:"links,omitempty"`
	Direction Direction    `json:"direction,omitempty"`
	// Delay and Loss are a delay's and a loss's parameters.
	Delay time.Duration `json:"delay_ns,omitempty"`
	Loss  float64       `json:"loss,omitempty"`
	// Restarted is the process that replaced Target after a kill heal.
	Restarted *ProcessRef `json:"restarted,omitempty"`

	// InjectAt is when Inject was called; EffectAt when the first round
	// proving the fault started (zero if never). HealAt and RestoredAt are
	// the same for the heal.
	InjectAt   time.Time `json:"inject_at"`
	EffectAt   time.Time `json:"effect_at,omitzero"`
	HealAt     time.Time `json:"heal_at,omitzero"`
	RestoredAt time.Time `json:"restored_at,omitzero"`

	// Effective: a round after inject saw every expectation hold.
	Effective bool `json:"effective"`
	// Restored: a round after heal saw every link open again.
	Restored bool `json:"restored"`
	// Lapses counts later verifications, after the effect was proved, that
	// found the fault no longer holding (something undid it mid-hold).
	Lapses int `json:"lapses,omitempty"`

	// InjectProof and HealProof are the deciding rounds (the last ones if
	// none succeeded); InjectRounds/HealRounds count the rounds run.
	InjectProof  *Observation `json:"inject_proof,omitempty"`
	HealProof    *Observation `json:"heal_proof,omitempty"`
	InjectRounds int          `json:"inject_rounds,omitempty"`
	HealRounds   int          `json:"heal_rounds,omitempty"`

	// Errors lists backend errors met along the way.
	Errors []string `json:"errors,omitempty"`
}

// InjectToEffect is EffectAt − InjectAt, or -1 if the fault never proved.
func (r *FaultRecord) InjectToEffect() time.Duration {
	if r.EffectAt.IsZero() {
		return -1
	}
	return r.EffectAt.Sub(r.InjectAt)
}

// HealToRestored is RestoredAt − HealAt, or -1 if the heal never proved.
func (r *FaultRecord) HealToRestored() time.Duration {
	if r.RestoredAt.IsZero() || r.HealAt.IsZero() {
		return -1
	}
	return r.RestoredAt.Sub(r.HealAt)
}

func newRecord(backend string, f *Fault, now time.Time) *FaultRecord {
	r := &FaultRecord{
		Run: f.Run, Backend: backend, ID: f.ID, Kind: f.Kind, Role: f.Spec.Target,
		Target: f.Target.Ref(), Links: f.Links, Delay: f.Delay, Loss: f.Loss, InjectAt: now,
	}
	if f.Kind.Network() {
		r.Direction = f.direction()
	}
	for _, p := range f.Peers {
		r.Peers = append(r.Peers, p.Ref())
	}
	return r
}

func (r *FaultRecord) clone() FaultRecord {
	c := *r
	c.Peers = append([]ProcessRef(nil), r.Peers...)
	c.Errors = append([]string(nil), r.Errors...)
	if r.InjectProof != nil {
		o := *r.InjectProof
		c.InjectProof = &o
	}
	if r.HealProof != nil {
		o := *r.HealProof
		c.HealProof = &o
	}
	if r.Restarted != nil {
		p := *r.Restarted
		c.Restarted = &p
	}
	return c
}

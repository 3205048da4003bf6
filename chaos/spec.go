package chaos

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Kind is what a fault does.
type Kind string

const (
	// KindCut partitions the target from its peers (netns, toxiproxy).
	KindCut Kind = "cut"
	// KindHold holds the traffic between the target and its peers, both
	// ways, without dropping it: nothing arrives while it is in force, and
	// at heal what was held is delivered, in order. netns: NFQUEUE rules
	// and a handler that withholds the verdicts (see nfQueue); toxiproxy:
	// the hold toxic, which is what a cut is there.
	KindHold Kind = "hold"
	// KindDelay delays every packet (netns) or chunk (toxiproxy) between
	// the target and its peers, both ways, by Spec.Delay. netns: the
	// NFQUEUE handler releases each packet after the delay; toxiproxy: the
	// latency toxic.
	KindDelay Kind = "delay"
	// KindLoss drops each packet between the target and its peers, both
	// ways, with probability Spec.Loss (netns only: the iptables statistic
	// match; toxiproxy proxies TCP streams and cannot lose packets).
	KindLoss Kind = "loss"
	// KindKill sends SIGKILL to the target's process group; heal restarts it
	// through the runner's RestartFunc.
	KindKill Kind = "kill"
	// KindPause sends SIGSTOP to the target's process group; heal sends
	// SIGCONT.
	KindPause Kind = "pause"
)

// Network reports whether k acts on the links between the target and its
// peers (and so takes link sets and resolves peers).
func (k Kind) Network() bool {
	return k == KindCut || k == KindHold || k == KindDelay || k == KindLoss
}

// Bounds of Spec.Delay.
const (
	MinDelay = time.Millisecond
	MaxDelay = 60 * time.Second
)

// Direction selects which links between the target and its peers a cut
// drops. It is defined by who opens the TCP connection, not by packet
// direction.
//
// NB: every link in the system under test is TCP, and TCP needs packets in
// both directions. A packet-level one-way drop ("only INPUT") therefore
// breaks connections opened from either side and no TCP probe can tell it
// from a symmetric cut, while still letting data already in flight on
// established connections leak one way. Defining direction by connection
// initiator gives a one-way cut that is observable, means the same in both
// backends, and is what an asymmetric partition does to a client/server
// system: one side can still reach the other's listeners, the other cannot.
type Direction string

const (
	// Both drops every packet between the target and each peer.
	Both Direction = "both"
	// Inbound drops the connections peers open to the target's listeners
	// (both streams of them); the target's own connections keep working.
	Inbound Direction = "inbound"
	// Outbound drops the connections the target opens to peers' listeners;
	// peers can still reach the target.
	Outbound Direction = "outbound"
)

// cutsInbound reports whether d drops peer→target connections.
func (d Direction) cutsInbound() bool { return d == Both || d == Inbound }

// cutsOutbound reports whether d drops target→peer connections.
func (d Direction) cutsOutbound() bool { return d == Both || d == Outbound }

func (d Direction) valid() bool { return d == Both || d == Inbound || d == Outbound }

// Role names a fault target, resolved to a concrete process when the fault
// fires. Forms:
//
//	owner                  the current owner node
//	maintainer-of:<cf>     the node running changefeed <cf>'s maintainer
//	node:<id>              the node with NodeID <id>; "node:*" is every node
//	kafka, meta, upstream  processes with that Role
//	process:<name>         the process called <name>
type Role string

// Role kinds.
const (
	RoleKindOwner        = "owner"
	RoleKindMaintainerOf = "maintainer-of"
	RoleKindNode         = "node"
	RoleKindProcess      = "process"
)

// ErrBadRole reports a role string that is not one of the documented forms.
var ErrBadRole = errors.New("chaos: bad role")

// Split returns the role's kind and argument ("node:3" → "node", "3").
func (r Role) Split() (kind, arg string) {
	k, a, _ := strings.Cut(string(r), ":")
	return k, a
}

// Validate returns ErrBadRole (wrapped) unless r is a documented form.
func (r Role) Validate() error {
	kind, arg := r.Split()
	hasArg := strings.Contains(string(r), ":")
	switch kind {
	case RoleKindOwner, RoleKafka, RoleMeta, RoleUpstream:
		if hasArg {
			return fmt.Errorf("%w: %q takes no argument", ErrBadRole, r)
		}
	case RoleKindMaintainerOf, RoleKindNode, RoleKindProcess:
		if arg == "" {
			return fmt.Errorf("%w: %q needs an argument", ErrBadRole, r)
		}
	default:
		return fmt.Errorf("%w: %q", ErrBadRole, r)
	}
	return nil
}

// LinkPeers is the link set of every other node. Other link-set names are
// roles ("meta", "upstream", "kafka", "node:2", ...).
const LinkPeers = "peers"

// Spec is a fault as a scenario states it: role targets, not processes.
type Spec struct {
	// ID names the fault within the run ("f1"); it tags rules and toxics.
	ID string `json:"id"`
	// Kind is what the fault does.
	Kind Kind `json:"kind"`
	// Target is resolved when the fault fires.
	Target Role `json:"target"`
	// Links lists the link sets a network fault acts on: LinkPeers or
	// roles. Network kinds only.
	Links []string `json:"links,omitempty"`
	// Direction of a cut; "" means Both, the only direction of the other
	// network kinds.
	Direction Direction `json:"direction,omitempty"`
	// Delay is what KindDelay adds to every packet or chunk, MinDelay to
	// MaxDelay. Delay faults only.
	Delay time.Duration `json:"delay,omitempty"`
	// Loss is the probability, strictly between 0 and 1, that KindLoss
	// drops a packet. Loss faults only.
	Loss float64 `json:"loss,omitempty"`
}

// validFaultID reports whether s is 1-16 of [a-z0-9-]: fault ids end up in
// iptables comments and toxic names.
func validFaultID(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ErrBadSpec reports an invalid fault spec.
var ErrBadSpec = errors.New("chaos: bad fault spec")

// Validate checks the spec without resolving anything.
func (s Spec) Validate() error {
	if !validFaultID(s.ID) {
		return fmt.Errorf("%w: id %q (want 1-16 of [a-z0-9-])", ErrBadSpec, s.ID)
	}
	if err := s.Target.Validate(); err != nil {
		return fmt.Errorf("%w: fault %s: %w", ErrBadSpec, s.ID, err)
	}
	switch s.Kind {
	case KindCut, KindHold, KindDelay, KindLoss:
		if len(s.Links) == 0 {
			return fmt.Errorf("%w: fault %s: a %s needs link sets", ErrBadSpec, s.ID, s.Kind)
		}
		for _, l := range s.Links {
			if l == LinkPeers {
				continue
			}
			if err := Role(l).Validate(); err != nil {
				return fmt.Errorf("%w: fault %s: link set: %w", ErrBadSpec, s.ID, err)
			}
		}
		if s.Direction != "" && !s.Direction.valid() {
			return fmt.Errorf("%w: fault %s: direction %q", ErrBadSpec, s.ID, s.Direction)
		}
		if s.Kind != KindCut && s.Direction != "" && s.Direction != Both {
			return fmt.Errorf("%w: fault %s: a %s acts both ways (direction %q)", ErrBadSpec, s.ID, s.Kind, s.Direction)
		}
	case KindKill, KindPause:
		if len(s.Links) != 0 || s.Direction != "" {
			return fmt.Errorf("%w: fault %s: %s takes no links or direction", ErrBadSpec, s.ID, s.Kind)
		}
	default:
		return fmt.Errorf("%w: fault %s: kind %q", ErrBadSpec, s.ID, s.Kind)
	}
	switch {
	case s.Kind == KindDelay && (s.Delay < MinDelay || s.Delay > MaxDelay):
		return fmt.Errorf("%w: fault %s: delay %v (want %v..%v)", ErrBadSpec, s.ID, s.Delay, MinDelay, MaxDelay)
	case s.Kind != KindDelay && s.Delay != 0:
		return fmt.Errorf("%w: fault %s: a %s takes no delay", ErrBadSpec, s.ID, s.Kind)
	case s.Kind == KindLoss && !(s.Loss > 0 && s.Loss < 1):
		return fmt.Errorf("%w: fault %s: loss %v (want a probability strictly between 0 and 1)", ErrBadSpec, s.ID, s.Loss)
	case s.Kind != KindLoss && (s.Loss != 0 || math.IsNaN(s.Loss)):
		return fmt.Errorf("%w: fault %s: a %s takes no loss", ErrBadSpec, s.ID, s.Kind)
	}
	return nil
}

// Fault is a Spec resolved at fire time.
type Fault struct {
	Spec
	// Run is the run id (tags rules, names namespaces).
	Run string
	// Target is the concrete process the role resolved to.
	Target Process
	// Peers are the concrete processes at the other end of a network
	// fault's links.
	Peers []Process
}

// describe returns the fault in a few words for logs and the ledger:
// "cut both", "hold", "delay 2s", "loss 0.3".
func (f *Fault) describe() string {
	switch f.Kind {
	case KindCut:
		return string(f.Kind) + " " + string(f.direction())
	case KindDelay:
		return string(f.Kind) + " " + f.Delay.String()
	case KindLoss:
		return string(f.Kind) + " " + strconv.FormatFloat(f.Loss, 'g', -1, 64)
	}
	return string(f.Kind)
}

// direction returns the effective direction (Both when unset).
func (f *Fault) direction() Direction {
	if f.Direction == "" {
		return Both
	}
	return f.Direction
}

// Link is one directed client→server link of a network fault: From
// connects to To's endpoint.
type Link struct {
	From     Process
	To       Process
	Endpoint Endpoint
}

// String returns "from->to/endpoint".
func (l Link) String() string { return l.From.Name + "->" + l.To.Name + "/" + l.Endpoint.Name }

// links returns the links a network fault acts on (cut) and, for one-way
// cuts, the opposite links that must keep working (control). Every kind
// but a one-way cut acts on every link both ways.
func (f *Fault) links() (cut, control []Link) {
	d := f.direction()
	for _, p := range f.Peers {
		for _, e := range f.Target.Endpoints {
			l := Link{From: p, To: f.Target, Endpoint: e}
			if d.cutsInbound() {
				cut = append(cut, l)
			} else {
				control = append(control, l)
			}
		}
		for _, e := range p.Endpoints {
			l := Link{From: f.Target, To: p, Endpoint: e}
			if d.cutsOutbound() {
				cut = append(cut, l)
			} else {
				control = append(control, l)
			}
		}
	}
	return cut, control
}

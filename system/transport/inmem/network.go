package inmem

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/chaosrun/chaosrun/heartbeatpb"
	"github.com/chaosrun/chaosrun/system/transport"
)

// ErrDuplicateNode is returned by Join when a live endpoint already has the id.
var ErrDuplicateNode = errors.New("inmem: node already joined")

// DefaultInboxSize is the Recv buffer of an endpoint when Config.InboxSize is 0.
const DefaultInboxSize = 1024

// Config configures a Network. The zero value is a lossless network with no
// delay in automatic mode.
type Config struct {
	Seed      int64   // seeds drop and delay decisions
	DropRate  float64 // probability in [0,1] that a sent envelope is lost
	MaxDelay  int     // each envelope is delayed by 0..MaxDelay ticks
	Manual    bool    // hold every envelope until Deliver
	InboxSize int     // Recv buffer per endpoint; DefaultInboxSize if 0
}

// Flight is one envelope on the wire.
type Flight struct {
	Seq  uint64 // network-wide send order
	Due  int    // first tick at which it may be delivered
	Held bool   // delayed by Hold until Release
	Env  *heartbeatpb.Envelope
}

// Drop records an envelope the network lost and why.
type Drop struct {
	Flight
	Reason string // "cut", "random" or "closed"
}

// Stats counts what the network did.
type Stats struct {
	Sent, Delivered, DroppedCut, DroppedRandom, DroppedClosed uint64
}

type link struct{ from, to string }

// Network connects endpoints. It is safe for concurrent use.
type Network struct {
	mu       sync.Mutex
	cfg      Config
	rng      *rand.Rand
	now      int
	seq      uint64
	eps      map[string]*Endpoint
	cuts     map[link]bool
	isolated map[string]bool
	inflight []Flight
	perLink  map[link]int
	drops    []Drop
	stats    Stats
}

// New returns an empty network.
func New(cfg Config) *Network {
	if cfg.InboxSize <= 0 {
		cfg.InboxSize = DefaultInboxSize
	}
	return &Network{
		cfg:      cfg,
		rng:      rand.New(rand.NewSource(cfg.Seed)),
		eps:      map[string]*Endpoint{},
		cuts:     map[link]bool{},
		isolated: map[string]bool{},
		perLink:  map[link]int{},
	}
}

// Join attaches a new endpoint for node id.
func (n *Network) Join(id string) (*Endpoint, error) {
	if id == "" {
		return nil, fmt.Errorf("inmem: join: empty node id")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.eps[id]; ok {
		return nil, fmt.Errorf("%w: %s", ErrDuplicateNode, id)
	}
	e := &Endpoint{
		net:   n,
		id:    id,
		inbox: make(chan *heartbeatpb.Envelope, n.cfg.InboxSize),
		done:  make(chan struct{}),
	}
	n.eps[id] = e
	return e, nil
}

// Cut drops traffic from one node to another (one way).
func (n *Network) Cut(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cuts[link{from, to}] = true
}

// Partition cuts both directions between a and b.
func (n *Network) Partition(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cuts[link{a, b}] = true
	n.cuts[link{b, a}] = true
}

// Isolate cuts every link to and from id, except id's link to itself.
func (n *Network) Isolate(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.isolated[id] = true
}

// Heal removes every cut, partition and isolation.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cuts)
	clear(n.isolated)
}

// IsCut reports whether traffic from one node to another is currently cut.
func (n *Network) IsCut(from, to string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.isCut(link{from, to})
}

func (n *Network) isCut(l link) bool {
	if l.from == l.to {
		return false
	}
	return n.cuts[l] || n.isolated[l.from] || n.isolated[l.to]
}

// Now returns the current logical tick.
func (n *Network) Now() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.now
}

// Tick advances logical time by one. In automatic mode it then delivers
// every due envelope.
func (n *Network) Tick() {
	n.mu.Lock()
	n.now++
	manual := n.cfg.Manual
	n.mu.Unlock()
	if !manual {
		n.Deliver(nil)
	}
}

// InFlight returns a copy of the envelopes on the wire, in send order.
func (n *Network) InFlight() []Flight {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Flight(nil), n.inflight...)
}

// Deliver hands every due, unheld envelope on an uncut link that match
// accepts (nil accepts all) to its receiver, in send order, and returns
// them. An envelope that cannot be delivered blocks the later matching ones
// on its link, so a link stays in order among the envelopes delivered
// together.
func (n *Network) Deliver(match func(Flight) bool) []Flight {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Flight
	keep := make([]Flight, 0, len(n.inflight))
	blocked := map[link]bool{}
	for _, f := range n.inflight {
		l := link{f.Env.From, f.Env.To}
		if f.Held || (match != nil && !match(f)) {
			keep = append(keep, f)
			continue
		}
		if blocked[l] || f.Due > n.now || n.isCut(l) {
			blocked[l] = true
			keep = append(keep, f)
			continue
		}
		dst := n.eps[f.Env.To]
		if dst == nil {
			n.dropLocked(f, "closed")
			n.perLink[l]--
			continue
		}
		if !dst.tryPush(f.Env) {
			blocked[l] = true
			keep = append(keep, f)
			continue
		}
		n.perLink[l]--
		n.stats.Delivered++
		out = append(out, f)
	}
	n.inflight = keep
	return out
}

// Drop removes every in-flight envelope that match accepts (nil accepts
// all), held or not, and returns them.
func (n *Network) Drop(match func(Flight) bool) []Flight {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.removeLocked(match, "")
}

// Hold marks the matching in-flight envelopes as delayed: Deliver skips them
// until Release. It returns how many it marked.
func (n *Network) Hold(match func(Flight) bool) int { return n.setHeld(match, true) }

// Release undoes Hold for the matching envelopes and returns how many.
func (n *Network) Release(match func(Flight) bool) int { return n.setHeld(match, false) }

func (n *Network) setHeld(match func(Flight) bool, held bool) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for i := range n.inflight {
		if n.inflight[i].Held != held && (match == nil || match(n.inflight[i])) {
			n.inflight[i].Held = held
			c++
		}
	}
	return c
}

// TakeDrops returns the envelopes lost since the last call.
func (n *Network) TakeDrops() []Drop {
	n.mu.Lock()
	defer n.mu.Unlock()
	d := n.drops
	n.drops = nil
	return d
}

// Stats returns the network's counters.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

func (n *Network) removeLocked(match func(Flight) bool, reason string) []Flight {
	var out []Flight
	keep := make([]Flight, 0, len(n.inflight))
	for _, f := range n.inflight {
		if match != nil && !match(f) {
			keep = append(keep, f)
			continue
		}
		n.perLink[link{f.Env.From, f.Env.To}]--
		if reason != "" {
			n.dropLocked(f, reason)
		}
		out = append(out, f)
	}
	n.inflight = keep
	return out
}

func (n *Network) dropLocked(f Flight, reason string) {
	switch reason {
	case "cut":
		n.stats.DroppedCut++
	case "random":
		n.stats.DroppedRandom++
	default:
		n.stats.DroppedClosed++
	}
	n.drops = append(n.drops, Drop{Flight: f, Reason: reason})
}

func (n *Network) send(ctx context.Context, from *Endpoint, env *heartbeatpb.Envelope) error {
	n.mu.Lock()
	if n.eps[from.id] != from {
		n.mu.Unlock()
		return fmt.Errorf("inmem: send from %s: %w", from.id, transport.ErrClosed)
	}
	dst, ok := n.eps[env.To]
	if !ok {
		n.mu.Unlock()
		return fmt.Errorf("inmem: send %s->%s: %w", from.id, env.To, transport.ErrUnknownPeer)
	}
	n.seq++
	n.stats.Sent++
	f := Flight{Seq: n.seq, Due: n.now, Env: env}
	l := link{env.From, env.To}
	if n.isCut(l) {
		n.dropLocked(f, "cut")
		n.mu.Unlock()
		return nil
	}
	if n.cfg.DropRate > 0 && l.from != l.to && n.rng.Float64() < n.cfg.DropRate {
		n.dropLocked(f, "random")
		n.mu.Unlock()
		return nil
	}
	if n.cfg.MaxDelay > 0 {
		f.Due += n.rng.Intn(n.cfg.MaxDelay + 1)
	}
	if !n.cfg.Manual && f.Due == n.now && n.perLink[l] == 0 {
		n.mu.Unlock()
		if err := dst.push(ctx, env); err != nil {
			return fmt.Errorf("inmem: send %s->%s: %w", from.id, env.To, err)
		}
		n.mu.Lock()
		n.stats.Delivered++
		n.mu.Unlock()
		return nil
	}
	n.perLink[l]++
	n.inflight = append(n.inflight, f)
	n.mu.Unlock()
	return nil
}

// Endpoint is one node's transport.Transport on a Network.
type Endpoint struct {
	net   *Network
	id    string
	inbox chan *heartbeatpb.Envelope
	done  chan struct{}
	once  sync.Once

	mu     sync.RWMutex // guards closed against close(inbox)
	closed bool
}

var _ transport.Transport = (*Endpoint)(nil)

// ID returns the endpoint's node id.
func (e *Endpoint) ID() string { return e.id }

// Send implements transport.Transport.
func (e *Endpoint) Send(ctx context.Context, env *heartbeatpb.Envelope) error {
	if env == nil || env.GetTo() == "" {
		return fmt.Errorf("inmem: send from %s: %w", e.id, transport.ErrInvalidEnvelope)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inmem: send %s->%s: %w", e.id, env.GetTo(), err)
	}
	c := proto.Clone(env).(*heartbeatpb.Envelope)
	c.From = e.id
	return e.net.send(ctx, e, c)
}

// Recv implements transport.Transport.
func (e *Endpoint) Recv() <-chan *heartbeatpb.Envelope { return e.inbox }

// Close implements transport.Transport.
func (e *Endpoint) Close() error {
	e.once.Do(func() {
		n := e.net
		n.mu.Lock()
		if n.eps[e.id] == e {
			delete(n.eps, e.id)
		}
		n.removeLocked(func(f Flight) bool { return f.Env.To == e.id }, "closed")
		n.mu.Unlock()
		close(e.done)
		e.mu.Lock()
		e.closed = true
		close(e.inbox)
		e.mu.Unlock()
	})
	return nil
}

// push blocks until env is in the inbox, the endpoint closes or ctx is done.
func (e *Endpoint) push(ctx context.Context, env *heartbeatpb.Envelope) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return transport.ErrUnknownPeer
	}
	select {
	case e.inbox <- env:
		return nil
	case <-e.done:
		return transport.ErrUnknownPeer
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Endpoint) tryPush(env *heartbeatpb.Envelope) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return false
	}
	select {
	case e.inbox <- env:
		return true
	default:
		return false
	}
}

package chaos

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
)

// NetnsPeerPort is the peer port NetnsPlacement gives every node: each
// namespace has its own address, so one constant port never collides.
const NetnsPeerPort = 8300

// NetnsPlacement runs every process of a cluster in its own network
// namespace of a Network, with its own address on the run's bridge, and
// gives the harness an uplink to them (Network.Uplink). Processes dial each
// other directly; cuts are the netns backend's iptables rules inside the
// target's namespace.
//
// It implements internal/place's Placement and its optional PortPicker and
// Listener structurally (the assertions live in system/cluster's tests).
// The runner:
//
//	pl, err := chaos.NewNetnsPlacement(ctx, network, "kafka", "meta", "upstream", "n1", "n2", "n3")
//	defer pl.Close(ctx) // or network.Close: the same
//	c, err := cluster.Start(ctx, cluster.Spec{Placement: pl, ...})
//
// and then fills the Topology with pl.Namespace(name) for each process. The
// names are the processes' placement names: place.KafkaName for every
// local Kafka broker (they share one namespace), "meta", "upstream" and
// cluster.NodeName(i). Safe for concurrent use.
type NetnsPlacement struct {
	net    *Network
	uplink netip.Addr
}

// NewNetnsPlacement creates network's uplink and a namespace for each of
// procs (Network.Add). On error it returns what failed and leaves the
// network for the caller to close.
func NewNetnsPlacement(ctx context.Context, network *Network, procs ...string) (*NetnsPlacement, error) {
	up, err := network.Uplink(ctx)
	if err != nil {
		return nil, err
	}
	p := &NetnsPlacement{net: network, uplink: up}
	for _, name := range procs {
		if _, err := network.Add(ctx, name); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Add creates the namespace of one more process.
func (p *NetnsPlacement) Add(ctx context.Context, name string) (*Namespace, error) {
	return p.net.Add(ctx, name)
}

// Network returns the network the placement lives in (for Env.Network).
func (p *NetnsPlacement) Network() *Network { return p.net }

// Uplink returns the harness's address on the run's subnet.
func (p *NetnsPlacement) Uplink() netip.Addr { return p.uplink }

// Namespace returns the namespace of process name.
func (p *NetnsPlacement) Namespace(name string) (*Namespace, bool) { return p.net.Namespace(name) }

// unplacedHost is what Host returns for a process without a namespace: a
// name that no listener can bind and no resolver knows (RFC 6761 .invalid),
// so a forgotten process fails at start instead of quietly running in the
// root namespace.
func unplacedHost(name string) string { return name + ".unplaced.invalid" }

// Host returns the address of process name's namespace.
func (p *NetnsPlacement) Host(name string) string {
	ns, ok := p.net.Namespace(name)
	if !ok {
		return unplacedHost(name)
	}
	return ns.Addr.String()
}

// Command returns a command that runs bin inside process name's namespace
// (Namespace.Command). For a process without a namespace, the command's
// Start fails.
func (p *NetnsPlacement) Command(ctx context.Context, name, bin string, args ...string) *exec.Cmd {
	ns, ok := p.net.Namespace(name)
	if !ok {
		c := exec.CommandContext(ctx, bin, args...)
		c.Err = fmt.Errorf("chaos: netns placement: process %q has no namespace", name)
		return c
	}
	return ns.Command(ctx, bin, args...)
}

// Route returns addr: every namespace reaches every other directly over
// the bridge.
func (p *NetnsPlacement) Route(_ context.Context, _, _, addr string) (string, error) {
	return addr, nil
}

// PeerPort returns NetnsPeerPort for a process with a namespace.
func (p *NetnsPlacement) PeerPort(name string) (int, error) {
	if _, ok := p.net.Namespace(name); !ok {
		return 0, fmt.Errorf("chaos: netns placement: process %q has no namespace", name)
	}
	return NetnsPeerPort, nil
}

// Listen opens a TCP listener on addr inside process name's namespace, the
// way the process would bind (the Kafka provider reserves ports with it).
func (p *NetnsPlacement) Listen(name, addr string) (net.Listener, error) {
	ns, ok := p.net.Namespace(name)
	if !ok {
		return nil, fmt.Errorf("chaos: netns placement: process %q has no namespace", name)
	}
	return ns.Listen(addr)
}

// Close closes the network: the uplink, every namespace (killing what
// still runs inside) and the hub. Idempotent; the same as Network.Close.
func (p *NetnsPlacement) Close(ctx context.Context) error { return p.net.Close(ctx) }

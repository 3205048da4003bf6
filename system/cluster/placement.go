package cluster

import (
	"context"
	"fmt"
	"net"
	"os/exec"
)

// Placement decides where each process of the cluster runs and how the
// others reach it. The chaos backends provide placements: netns puts every
// process in its own namespace with its own address; toxiproxy routes every
// link through a proxy.
type Placement interface {
	// Host is the address process name binds and advertises.
	Host(name string) string
	// Command builds the command that starts process name.
	Command(ctx context.Context, name, bin string, args ...string) *exec.Cmd
	// Route returns the address process from must dial to reach process
	// to, which listens on addr.
	Route(ctx context.Context, from, to, addr string) (string, error)
}

// PortPicker is implemented by placements that choose the fixed peer
// ports of nodes themselves (a namespace's address is not bindable from
// the harness, so the kernel cannot be asked there).
type PortPicker interface {
	PeerPort(name string) (int, error)
}

// Loopback runs every process on 127.0.0.1 and connects them directly.
type Loopback struct{}

// Host implements Placement.
func (Loopback) Host(string) string { return "127.0.0.1" }

// Command implements Placement.
func (Loopback) Command(ctx context.Context, name, bin string, args ...string) *exec.Cmd {
	return DefaultCommand(ctx, name, bin, args...)
}

// Route implements Placement.
func (Loopback) Route(_ context.Context, _, _, addr string) (string, error) { return addr, nil }

// freePort asks the kernel for a free TCP port on host.
func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("cluster: find a free port on %s: %w", host, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

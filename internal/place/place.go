// Package place says where the processes of a system under test run and how
// the others reach them: on loopback, inside network namespaces (chaos's
// NetnsPlacement) or behind proxies. Every target starts its processes
// through a Placement.
package place

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Placement decides where each process of a target runs and how the
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

// DefaultCommand starts bin directly.
func DefaultCommand(ctx context.Context, _ string, bin string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, bin, args...)
}

// Route implements Placement.
func (Loopback) Route(_ context.Context, _, _, addr string) (string, error) { return addr, nil }

// FreePort finds a TCP port on host that is free now, for a process that
// will listen on it later.
//
// NB: the port is released before its process binds it. A port from the
// kernel's ephemeral range (what ":0" hands out) can be taken in between by
// any outgoing connection or ":0" listener on the machine, which happened
// with tests running in parallel; so it tries random ports below that
// range first and falls back to ":0".
func FreePort(host string) (int, error) {
	lo := ephemeralLow()
	for range 64 {
		port := minFixedPort + rand.IntN(max(lo-minFixedPort, 1))
		if ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port))); err == nil {
			ln.Close()
			return port, nil
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("place: find a free port on %s: %w", host, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// minFixedPort is the lowest port freePort picks at random.
const minFixedPort = 20000

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	const linuxDefault = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return linuxDefault
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return linuxDefault
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo <= minFixedPort {
		return linuxDefault
	}
	return lo
}

package kafka

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
)

// bindMarkers are what a JVM prints when a listener port is taken.
var bindMarkers = []string{"Address already in use", "failed to bind"}

func mentionsPortInUse(tail string) bool {
	for _, m := range bindMarkers {
		if strings.Contains(tail, m) {
			return true
		}
	}
	return false
}

// Ports are drawn from below the usual ephemeral range (32768-60999), so
// that a restarted broker does not find its port taken by some outgoing
// connection's local port.
const (
	portLow  = 20000
	portHigh = 32000
)

// reservePorts returns n distinct ports on host that were free a moment ago.
// All are held open until every one is found, so they differ from each
// other; another process can still take one before the broker binds it,
// which the broker's start reports as ErrPortInUse.
func reservePorts(host string, n int) ([]int, error) {
	return reservePortsWith(net.Listen, host, n)
}

// reservePortsWith is reservePorts with listeners opened by listen
// (LocalConfig.Listen).
func reservePortsWith(listen func(network, address string) (net.Listener, error), host string, n int) ([]int, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > 200 {
			return nil, fmt.Errorf("reserve %d ports on %s: %w: none free in %d tries", n, host, ErrPortInUse, tries)
		}
		port := portLow + rand.IntN(portHigh-portLow)
		l, err := listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		held = append(held, l)
		ports = append(ports, port)
	}
	return ports, nil
}

// holdPort binds port on host with listen, or reports ErrPortInUse.
func holdPort(listen func(network, address string) (net.Listener, error), host string, port int) (net.Listener, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	l, err := listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("port %s: %w: %w", addr, ErrPortInUse, err)
	}
	return l, nil
}

//go:build !linux

package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
)

func doInNetns(ns string, fn func() error) error {
	return fmt.Errorf("chaos: netns %s: %w", ns, errors.ErrUnsupported)
}

func dialInNetns(ctx context.Context, ns, addr string) (net.Conn, error) {
	if ns == "" {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	return nil, doInNetns(ns, nil)
}

func listenInNetns(ns, addr string) (net.Listener, error) {
	if ns == "" {
		return net.Listen("tcp", addr)
	}
	return nil, doInNetns(ns, nil)
}

func isRoot() bool { return false }

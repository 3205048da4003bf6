//go:build linux

package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"

	"github.com/vishvananda/netns"
)

// doInNetns runs fn on a locked OS thread switched into network namespace
// ns (named as `ip netns` names it), then switches back. Sockets created by
// fn belong to ns for their whole life, whichever thread later uses them.
//
// NB: fn must not start goroutines that create sockets (they would run on
// other threads, in the original namespace). If switching back fails the
// thread stays locked, so the runtime discards it when the goroutine ends
// instead of reusing a thread in the wrong namespace.
func doInNetns(ns string, fn func() error) error {
	target, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("chaos: netns %s: %w", ns, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("chaos: netns: own namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("chaos: setns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("chaos: setns back from %s: %w", ns, err))
			return // thread stays locked: discarded on goroutine exit
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// dialInNetns dials addr over TCP from inside namespace ns ("" = here).
func dialInNetns(ctx context.Context, ns, addr string) (net.Conn, error) {
	var d net.Dialer
	if ns == "" {
		return d.DialContext(ctx, "tcp", addr)
	}
	var c net.Conn
	err := doInNetns(ns, func() error {
		var err error
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	return c, err
}

// listenInNetns listens on addr over TCP inside namespace ns ("" = here).
func listenInNetns(ns, addr string) (net.Listener, error) {
	if ns == "" {
		return net.Listen("tcp", addr)
	}
	var l net.Listener
	err := doInNetns(ns, func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

func isRoot() bool { return os.Geteuid() == 0 }

package kafka

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestWaitReadyEndsOnExit(t *testing.T) {
	exit := errors.New("node 1 exited")
	r := readiness{nodes: []readyNode{{id: 1, addr: closedAddr(t)}}, want: func() []int32 { return []int32{1} },
		exited: func(context.Context) error { return exit }}
	assert.ErrorIs(t, waitReady(t.Context(), r), exit)
}

func TestWaitReadyTimesOut(t *testing.T) {
	calls := 0
	r := readiness{nodes: []readyNode{{id: 1, addr: closedAddr(t)}}, want: func() []int32 { return []int32{1} },
		exited: func(context.Context) error { calls++; return nil }}
	ctx, cancel := context.WithTimeout(t.Context(), 3*readyPoll)
	defer cancel()
	err := waitReady(ctx, r)
	require.ErrorIs(t, err, ErrNotReady)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "node 1 at ", "the last probe's failure")
	assert.Greater(t, calls, 1, "it polls")
}

func TestWaitReadyCancelledFirst(t *testing.T) {
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("run aborted")
	cancel(cause)
	r := readiness{want: func() []int32 { return nil }, exited: func(context.Context) error {
		return errors.New("processes die with the context: not the news")
	}}
	err := waitReady(ctx, r)
	require.ErrorIs(t, err, ErrNotReady)
	assert.ErrorIs(t, err, cause)
}

func TestProbeReadyNoNodes(t *testing.T) {
	r := readiness{want: func() []int32 { return []int32{1} }}
	assert.NoError(t, probeReady(t.Context(), r), "nothing to probe, no topic to create")
}

package transporttest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/chaosrun/chaosrun/heartbeatpb"
	"github.com/chaosrun/chaosrun/system/transport"
)

// Timeout bounds every wait of the suite; a transport that needs longer to
// deliver between two local peers fails.
const Timeout = 5 * time.Second

// NewPair returns two connected transports.
type NewPair func(t *testing.T) (a, b transport.Transport)

// Run runs the contract suite against the transports made by newPair.
func Run(t *testing.T, newPair NewPair) {
	tests := []struct {
		name string
		fn   func(*testing.T, NewPair)
	}{
		{"Identity", testIdentity},
		{"InOrderDelivery", testInOrder},
		{"SendToSelf", testSendToSelf},
		{"NoAliasing", testNoAliasing},
		{"UnknownPeer", testUnknownPeer},
		{"InvalidEnvelope", testInvalidEnvelope},
		{"CancelledContext", testCancelledContext},
		{"CloseSemantics", testClose},
		{"SendToClosedPeer", testSendToClosedPeer},
		{"ConcurrentSenders", testConcurrentSenders},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Registered first so it runs last, after the pair's Close cleanups.
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
			tc.fn(t, newPair)
		})
	}
}

func pair(t *testing.T, newPair NewPair) (transport.Transport, transport.Transport) {
	a, b := newPair(t)
	require.NotEqual(t, a.ID(), b.ID(), "newPair must return two distinct nodes")
	t.Cleanup(func() {
		assert.NoError(t, a.Close())
		assert.NoError(t, b.Close())
		drain(a)
		drain(b)
	})
	return a, b
}

// drain empties a closed transport's Recv channel.
func drain(tr transport.Transport) {
	for {
		select {
		case _, ok := <-tr.Recv():
			if !ok {
				return
			}
		case <-time.After(Timeout):
			return
		}
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	return c
}

func envelope(to, topic string, seq uint64) *heartbeatpb.Envelope {
	return &heartbeatpb.Envelope{
		To:    to,
		Topic: topic,
		Seq:   seq,
		Payloads: []*heartbeatpb.Message{{Body: &heartbeatpb.Message_CheckpointTsMessage{
			CheckpointTsMessage: &heartbeatpb.CheckpointTsMessage{ChangefeedId: topic, CheckpointTs: seq, MaintainerEpoch: seq},
		}}},
	}
}

func recv(t *testing.T, tr transport.Transport) *heartbeatpb.Envelope {
	t.Helper()
	select {
	case env, ok := <-tr.Recv():
		require.True(t, ok, "%s: Recv closed while waiting", tr.ID())
		return env
	case <-time.After(Timeout):
		require.FailNow(t, "timed out waiting for an envelope", "at %s", tr.ID())
		return nil
	}
}

func testIdentity(t *testing.T, newPair NewPair) {
	a, b := pair(t, newPair)
	require.NotEmpty(t, a.ID())
	require.NotEmpty(t, b.ID())
	require.Equal(t, a.Recv(), a.Recv(), "Recv must return the same channel")
}

func testInOrder(t *testing.T, newPair NewPair) {
	a, b := pair(t, newPair)
	const n = 200
	for _, dir := range [][2]transport.Transport{{a, b}, {b, a}} {
		src, dst := dir[0], dir[1]
		for i := range uint64(n) {
			require.NoError(t, src.Send(ctx(t), envelope(dst.ID(), "t", i)))
		}
		for i := range uint64(n) {
			env := recv(t, dst)
			require.Equal(t, i, env.GetSeq(), "envelopes out of order")
			require.Equal(t, src.ID(), env.GetFrom(), "From must be stamped by the sender's transport")
			require.Equal(t, dst.ID(), env.GetTo())
			require.Equal(t, "t", env.GetTopic())
			require.Len(t, env.GetPayloads(), 1)
			require.Equal(t, i, env.GetPayloads()[0].GetCheckpointTsMessage().GetCheckpointTs())
		}
	}
}

func testSendToSelf(t *testing.T, newPair NewPair) {
	a, _ := pair(t, newPair)
	require.NoError(t, a.Send(ctx(t), envelope(a.ID(), "self", 7)))
	env := recv(t, a)
	require.Equal(t, a.ID(), env.GetFrom())
	require.Equal(t, uint64(7), env.GetSeq())
}

func testNoAliasing(t *testing.T, newPair NewPair) {
	a, b := pair(t, newPair)
	env := envelope(b.ID(), "t", 1)
	env.From = "spoofed"
	require.NoError(t, a.Send(ctx(t), env))
	require.Equal(t, "spoofed", env.GetFrom(), "Send must not modify the caller's envelope")
	env.Payloads[0].GetCheckpointTsMessage().CheckpointTs = 99
	got := recv(t, b)
	require.Equal(t, a.ID(), got.GetFrom())
	require.Equal(t, uint64(1), got.GetPayloads()[0].GetCheckpointTsMessage().GetCheckpointTs(),
		"Send must not retain the caller's envelope")
}

func testUnknownPeer(t *testing.T, newPair NewPair) {
	a, _ := pair(t, newPair)
	err := a.Send(ctx(t), envelope("no-such-node", "t", 1))
	require.ErrorIs(t, err, transport.ErrUnknownPeer)
}

func testInvalidEnvelope(t *testing.T, newPair NewPair) {
	a, _ := pair(t, newPair)
	require.ErrorIs(t, a.Send(ctx(t), nil), transport.ErrInvalidEnvelope)
	require.ErrorIs(t, a.Send(ctx(t), &heartbeatpb.Envelope{Topic: "t"}), transport.ErrInvalidEnvelope)
}

func testCancelledContext(t *testing.T, newPair NewPair) {
	a, b := pair(t, newPair)
	c, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, a.Send(c, envelope(b.ID(), "t", 1)), context.Canceled)
}

func testClose(t *testing.T, newPair NewPair) {
	a, b := pair(t, newPair)
	require.NoError(t, a.Send(ctx(t), envelope(b.ID(), "t", 1)))
	require.Equal(t, uint64(1), recv(t, b).GetSeq())
	require.NoError(t, a.Close())
	require.NoError(t, a.Close(), "Close must be idempotent")
	require.ErrorIs(t, a.Send(ctx(t), envelope(b.ID(), "t", 2)), transport.ErrClosed)
	// Recv is closed once drained.
	deadline := time.After(Timeout)
	for {
		select {
		case _, ok := <-a.Recv():
			if !ok {
				return
			}
		case <-deadline:
			require.FailNow(t, "Recv not closed after Close")
		}
	}
}

func testSendToClosedPeer(t *testing.T, newPair NewPair) {
	a, b := pair(t, newPair)
	require.NoError(t, b.Close())
	// Best effort: the send may fail or be lost, but it must return promptly
	// and never panic.
	done := make(chan error, 1)
	go func() { done <- a.Send(ctx(t), envelope(b.ID(), "t", 1)) }()
	select {
	case <-done:
	case <-time.After(Timeout):
		require.FailNow(t, "Send to a closed peer blocked")
	}
}

func testConcurrentSenders(t *testing.T, newPair NewPair) {
	a, b := pair(t, newPair)
	const senders, each = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, 2*senders)
	for s := range senders {
		for _, dir := range [][2]transport.Transport{{a, b}, {b, a}} {
			wg.Add(1)
			go func(src, dst transport.Transport) {
				defer wg.Done()
				for i := range uint64(each) {
					if err := src.Send(ctx(t), envelope(dst.ID(), fmt.Sprint(s), i)); err != nil {
						errs <- err
						return
					}
				}
			}(dir[0], dir[1])
		}
	}
	// Receive concurrently so a transport with back-pressure cannot stall.
	for _, dst := range []transport.Transport{a, b} {
		next := map[string]uint64{}
		for range senders * each {
			env := recv(t, dst)
			topic := env.GetTopic()
			require.Equal(t, next[topic], env.GetSeq(), "sender %s reordered", topic)
			next[topic]++
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

package grpctransport_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/chaosrun/chaosrun/heartbeatpb"
	"github.com/chaosrun/chaosrun/system/transport"
	"github.com/chaosrun/chaosrun/system/transport/grpctransport"
	"github.com/chaosrun/chaosrun/system/transport/transporttest"
)

// members is a mutable membership table shared by the transports of a test.
type members struct {
	mu    sync.Mutex
	addrs map[string]string
}

func (m *members) set(id, addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addrs[id] = addr
}

func (m *members) remove(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.addrs, id)
}

func (m *members) resolve(id string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.addrs[id]
	return a, ok
}

func newNode(t *testing.T, m *members, id string) *grpctransport.Transport {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	m.set(id, ln.Addr().String())
	tr, err := grpctransport.New(grpctransport.Config{ID: id, Listener: ln, Resolve: m.resolve, RedialInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	return tr
}

func TestContract(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) (transport.Transport, transport.Transport) {
		m := &members{addrs: map[string]string{}}
		return newNode(t, m, "a"), newNode(t, m, "b")
	})
}

func ckpt(to string, seq uint64) *heartbeatpb.Envelope {
	return &heartbeatpb.Envelope{To: to, Topic: "t", Seq: seq, Payloads: []*heartbeatpb.Message{{
		Body: &heartbeatpb.Message_CheckpointTsMessage{CheckpointTsMessage: &heartbeatpb.CheckpointTsMessage{CheckpointTs: seq}},
	}}}
}

// TestRefusesNonMembers checks that a node the receiver does not know
// cannot deliver, even though it can reach the receiver's address.
func TestRefusesNonMembers(t *testing.T) {
	defer goleak.VerifyNone(t)
	known := &members{addrs: map[string]string{}}
	b := newNode(t, known, "b")
	defer b.Close()
	// The outsider resolves b, but b does not resolve the outsider.
	outsiderView := &members{addrs: map[string]string{"b": b.Addr()}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	out, err := grpctransport.New(grpctransport.Config{ID: "outsider", Listener: ln, Resolve: outsiderView.resolve, RedialInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	defer out.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range uint64(20) {
		require.NoError(t, out.Send(ctx, ckpt("b", i)))
	}
	select {
	case env := <-b.Recv():
		assert.Failf(t, "non-member delivered", "got %v", env)
	case <-time.After(500 * time.Millisecond):
	}
}

// TestReconnectsAfterPeerRestart checks that a sender's stream is re-opened
// when the peer comes back on the same address.
func TestReconnectsAfterPeerRestart(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := &members{addrs: map[string]string{}}
	a := newNode(t, m, "a")
	defer a.Close()
	b := newNode(t, m, "b")
	addr := b.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, a.Send(ctx, ckpt("b", 1)))
	require.Equal(t, uint64(1), (<-b.Recv()).GetSeq())
	require.NoError(t, b.Close())

	var ln net.Listener
	require.Eventually(t, func() bool {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)
	b2, err := grpctransport.New(grpctransport.Config{ID: "b", Listener: ln, Resolve: m.resolve})
	require.NoError(t, err)
	defer b2.Close()
	// Best effort: resend until one arrives, as the control plane does.
	got := make(chan *heartbeatpb.Envelope, 1)
	go func() { got <- <-b2.Recv() }()
	for seq := uint64(2); ; seq++ {
		require.NoError(t, a.Send(ctx, ckpt("b", seq)))
		select {
		case env := <-got:
			require.Equal(t, "a", env.GetFrom())
			return
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			require.FailNow(t, "no delivery after the peer restarted")
		}
	}
}

// TestMembershipRemovalStopsDelivery checks that dropping a node from the
// membership makes sends to it fail.
func TestMembershipRemovalStopsDelivery(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := &members{addrs: map[string]string{}}
	a := newNode(t, m, "a")
	defer a.Close()
	b := newNode(t, m, "b")
	defer b.Close()
	m.remove("b")
	err := a.Send(context.Background(), ckpt("b", 1))
	require.ErrorIs(t, err, transport.ErrUnknownPeer)
}

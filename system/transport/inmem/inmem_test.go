package inmem_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/heartbeatpb"
	"github.com/chaosrun/chaosrun/system/transport"
	"github.com/chaosrun/chaosrun/system/transport/inmem"
	"github.com/chaosrun/chaosrun/system/transport/transporttest"
)

func TestContract(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) (transport.Transport, transport.Transport) {
		n := inmem.New(inmem.Config{Seed: 1})
		a, err := n.Join("a")
		require.NoError(t, err)
		b, err := n.Join("b")
		require.NoError(t, err)
		return a, b
	})
}

func join(t *testing.T, n *inmem.Network, ids ...string) map[string]*inmem.Endpoint {
	out := map[string]*inmem.Endpoint{}
	for _, id := range ids {
		e, err := n.Join(id)
		require.NoError(t, err)
		out[id] = e
	}
	return out
}

func send(t *testing.T, e *inmem.Endpoint, to string, seq uint64) {
	require.NoError(t, e.Send(context.Background(), &heartbeatpb.Envelope{To: to, Topic: "t", Seq: seq}))
}

func seqs(fs []inmem.Flight) []uint64 {
	var out []uint64
	for _, f := range fs {
		out = append(out, f.Env.Seq)
	}
	return out
}

func TestManualDeliverPartitionHeal(t *testing.T) {
	n := inmem.New(inmem.Config{Manual: true})
	e := join(t, n, "a", "b", "c")
	send(t, e["a"], "b", 1)
	n.Partition("a", "b")
	send(t, e["a"], "b", 2) // dropped at send: the link is cut
	send(t, e["a"], "c", 3)
	require.Empty(t, seqs(n.Deliver(func(f inmem.Flight) bool { return f.Env.To == "b" })),
		"in-flight envelope waits while its link is cut")
	require.Equal(t, []uint64{3}, seqs(n.Deliver(nil)))
	n.Heal()
	require.Equal(t, []uint64{1}, seqs(n.Deliver(nil)))
	require.Equal(t, uint64(1), n.Stats().DroppedCut)
	drops := n.TakeDrops()
	require.Len(t, drops, 1)
	require.Equal(t, "cut", drops[0].Reason)
	require.Equal(t, uint64(1), (<-e["b"].Recv()).Seq)
	require.Equal(t, uint64(3), (<-e["c"].Recv()).Seq)
}

func TestOneWayCutAndIsolate(t *testing.T) {
	n := inmem.New(inmem.Config{Manual: true})
	e := join(t, n, "a", "b", "c")
	n.Cut("a", "b")
	require.True(t, n.IsCut("a", "b"))
	require.False(t, n.IsCut("b", "a"))
	n.Heal()
	n.Isolate("c")
	require.True(t, n.IsCut("a", "c"))
	require.True(t, n.IsCut("c", "b"))
	require.False(t, n.IsCut("c", "c"), "a node always reaches itself")
	send(t, e["c"], "c", 1)
	require.Equal(t, []uint64{1}, seqs(n.Deliver(nil)))
}

func TestHoldReleaseDrop(t *testing.T) {
	n := inmem.New(inmem.Config{Manual: true})
	e := join(t, n, "a", "b")
	for i := uint64(1); i <= 3; i++ {
		send(t, e["a"], "b", i)
	}
	require.Equal(t, 1, n.Hold(func(f inmem.Flight) bool { return f.Env.Seq == 1 }))
	require.Equal(t, []uint64{2, 3}, seqs(n.Deliver(nil)), "a held envelope is overtaken")
	require.Equal(t, 1, n.Release(nil))
	require.Equal(t, []uint64{1}, seqs(n.Drop(nil)))
	require.Empty(t, n.InFlight())
}

func TestDelayKeepsLinkOrder(t *testing.T) {
	n := inmem.New(inmem.Config{Seed: 7, MaxDelay: 3})
	e := join(t, n, "a", "b")
	for i := range uint64(50) {
		send(t, e["a"], "b", i)
	}
	for range 200 {
		n.Tick()
	}
	require.Empty(t, n.InFlight())
	for i := range uint64(50) {
		require.Equal(t, i, (<-e["b"].Recv()).Seq)
	}
}

func TestSeededDropIsDeterministic(t *testing.T) {
	run := func() []uint64 {
		n := inmem.New(inmem.Config{Seed: 42, DropRate: 0.3, Manual: true})
		e := join(t, n, "a", "b")
		for i := range uint64(100) {
			send(t, e["a"], "b", i)
		}
		return seqs(n.Deliver(nil))
	}
	first := run()
	require.Equal(t, first, run())
	require.Less(t, len(first), 100)
	require.Greater(t, len(first), 40)
}

func TestRestartSameID(t *testing.T) {
	n := inmem.New(inmem.Config{Manual: true})
	e := join(t, n, "a", "b")
	send(t, e["a"], "b", 1)
	require.NoError(t, e["b"].Close())
	require.Empty(t, n.InFlight(), "closing discards envelopes in flight to the node")
	_, err := n.Join("a")
	require.ErrorIs(t, err, inmem.ErrDuplicateNode)
	b2, err := n.Join("b")
	require.NoError(t, err)
	send(t, e["a"], "b", 2)
	require.Len(t, n.Deliver(nil), 1)
	require.Equal(t, uint64(2), (<-b2.Recv()).Seq)
	require.ErrorIs(t, e["b"].Send(context.Background(), &heartbeatpb.Envelope{To: "a"}), transport.ErrClosed)
}

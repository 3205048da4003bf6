package chaos

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestToxiproxyHold: a hold through proxies is the hold toxic on every
// stream of a's links: links blocked, bytes counted, and data written on an
// established connection during the hold arrives in order after heal.
func TestToxiproxyHold(t *testing.T) {
	fx := newToxiFixture(t)
	ctx := context.Background()
	conn := fx.conn(t, "b", "a")

	g := fx.guard(t)
	require.NoError(t, g.Prepare(ctx))
	require.NoError(t, g.Inject(ctx, Spec{ID: "h1", Kind: KindHold, Target: "node:1", Links: []string{LinkPeers}}))
	msg := "held-1|held-2"
	conn.stalls(t, msg)
	obs := verifyOK(ctx, t, g)
	require.Equal(t, map[string]bool{"a->b": false, "a->c": false, "b->a": false, "c->a": false, "b->c": true, "c->b": true}, fx.matrix())
	var held uint64
	for _, ct := range obs.Counters {
		held += ct.Bytes
	}
	require.Positive(t, held)
	require.Len(t, obs.Counters, 8)

	require.NoError(t, g.Heal(ctx))
	got, err := conn.read(len(msg), 2*time.Second)
	require.NoError(t, err)
	require.Equal(t, msg, got)
	verifyOK(ctx, t, g)
	require.Equal(t, allOpen(), fx.matrix())
	r := restored(t, g)
	t.Logf("toxiproxy hold: %d bytes held; inject→effect %v, heal→connectivity %v", held, r.InjectToEffect(), r.HealToRestored())
	require.NoError(t, g.Cleanup(ctx))
}

// TestToxiproxyDelay: a delay is the latency toxic on both streams: echo
// probes through a's links get through but no faster than the delay, an
// independent echo round trip takes at least two delays (one per stream),
// and after heal probes are faster than the delay.
func TestToxiproxyDelay(t *testing.T) {
	fx := newToxiFixture(t)
	ctx := context.Background()
	const d = 200 * time.Millisecond
	g := fx.guard(t)
	obs := injectOK(ctx, t, g, Spec{ID: "d1", Kind: KindDelay, Target: "node:1", Links: []string{"node:2"}, Delay: d})
	requireDelayed(t, obs, d)
	for _, link := range [][2]string{{"b", "a"}, {"a", "b"}} {
		addr, _ := fx.px.Addr(link[0], link[1], "echo")
		took, err := echoTook("", addr, 10*d)
		require.NoError(t, err)
		require.GreaterOrEqual(t, took, 2*d, "%s->%s", link[0], link[1])
		t.Logf("toxiproxy delay %v: echo %s->%s took %v", d, link[0], link[1], took)
	}

	obs = healOK(ctx, t, g)
	for _, p := range obs.Probes {
		require.Less(t, p.Took, d, "healed %s", p.Link)
	}
	r := restored(t, g)
	t.Logf("toxiproxy delay: inject→effect %v, heal→restored %v", r.InjectToEffect(), r.HealToRestored())
	require.NoError(t, g.Cleanup(ctx))
}

// TestToxiproxyRefusesLoss: a proxy relays streams, so a loss is refused
// before anything is injected, naming the backend that can do it.
func TestToxiproxyRefusesLoss(t *testing.T) {
	fx := newToxiFixture(t)
	ctx := context.Background()
	g := fx.guard(t)
	require.NoError(t, g.Prepare(ctx))
	err := g.Inject(ctx, Spec{ID: "l1", Kind: KindLoss, Target: "node:1", Links: []string{LinkPeers}, Loss: 0.3})
	require.ErrorIs(t, err, ErrUnsupported)
	require.ErrorContains(t, err, "use netns")
	require.Equal(t, Failed, g.State(), "refused without acting: nothing to heal")
	require.Equal(t, allOpen(), fx.matrix())
}

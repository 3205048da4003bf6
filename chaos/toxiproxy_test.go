package chaos

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// toxiFixture is three loopback echo servers a, b, c with a toxiproxy
// proxy on every directed link between them. Needs no privileges.
type toxiFixture struct {
	run string
	px  *Proxies
	top *Topology
	reg *Registry
}

func newToxiFixture(t *testing.T) *toxiFixture {
	t.Helper()
	// Registered first, so it runs after every other cleanup.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	ctx := context.Background()
	fx := &toxiFixture{run: NewRunID()}
	fx.top, _ = NewTopology()
	for i, name := range []string{"a", "b", "c"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { _ = l.Close() })
		go serveEcho(l)
		require.NoError(t, fx.top.Add(Process{Name: name, Role: RoleNode, NodeID: strconv.Itoa(i + 1),
			Endpoints: []Endpoint{{Name: "echo", Addr: l.Addr().String(), Probe: ProbeEcho}}}))
	}
	ledger, err := OpenLedger(t.TempDir(), fx.run)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ledger.Close() })
	fx.px, err = NewProxies(fx.run, ledger, testLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, fx.px.Close(context.Background())) })
	require.NoError(t, fx.px.Mesh(ctx, fx.top))
	fx.reg = NewRegistry()
	require.NoError(t, Register(fx.reg))
	return fx
}

func (fx *toxiFixture) guard(t *testing.T) *Guard {
	t.Helper()
	b, err := fx.reg.New(BackendToxiproxy, Env{Run: fx.run, Topology: fx.top, Proxies: fx.px, Logger: testLogger(t)})
	require.NoError(t, err)
	g, err := NewGuard(GuardConfig{Backend: b, Run: fx.run, Resolver: &TopologyResolver{Topology: fx.top}, Logger: testLogger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, g.Close(context.Background())) })
	return g
}

// conn dials to's echo endpoint through the proxy for from -> to; the
// connection closes when the test ends.
func (fx *toxiFixture) conn(t *testing.T, from, to string) holdConn {
	t.Helper()
	addr, _ := fx.px.Addr(from, to, "echo")
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return holdConn{c}
}

func (fx *toxiFixture) matrix() map[string]bool {
	m := map[string]bool{}
	for _, from := range []string{"a", "b", "c"} {
		for _, to := range []string{"a", "b", "c"} {
			if from != to {
				addr, ok := fx.px.Addr(from, to, "echo")
				m[from+"->"+to] = ok && echoOnce("", addr, 300*time.Millisecond) == nil
			}
		}
	}
	return m
}

// TestToxiproxyCuts is TestNetnsCuts through proxies.
func TestToxiproxyCuts(t *testing.T) {
	fx := newToxiFixture(t)
	checkCut := func(t *testing.T, _ string, dir Direction, obs Observation) {
		var held uint64
		for _, c := range obs.Counters {
			held += c.Bytes
		}
		require.Positive(t, held, "hold toxics must count the probes' bytes")
		require.Len(t, obs.Counters, map[Direction]int{Both: 8, Inbound: 4, Outbound: 4}[dir])
	}
	runCuts(context.Background(), t, fx, "toxiproxy", checkCut, func(*testing.T, string) {})
}

// TestToxiproxyHeldDataResumes: an established connection across the cut
// stalls without being closed, and after the heal it delivers what was
// written during the cut, in order, and keeps working, as TCP does after a
// real partition heals.
func TestToxiproxyHeldDataResumes(t *testing.T) {
	fx := newToxiFixture(t)
	ctx := context.Background()
	conn := fx.conn(t, "b", "a")
	conn.echo(t, "before")

	g := fx.guard(t)
	require.NoError(t, g.Prepare(ctx))
	require.NoError(t, g.Inject(ctx, Spec{ID: "t1", Kind: KindCut, Target: "node:1", Links: []string{LinkPeers}}))
	conn.stalls(t, "during-1|during-2")
	verifyOK(ctx, t, g)

	require.NoError(t, g.Heal(ctx))
	got, err := conn.read(len("during-1|during-2"), 2*time.Second)
	require.NoError(t, err, "held data must arrive after the heal on the same connection")
	require.Equal(t, "during-1|during-2", got)
	conn.echo(t, "after")
	_, err = g.Verify(ctx)
	require.NoError(t, err)
}

// TestToxiproxyMissingProxy: a cut over a link that has no proxy is
// refused before anything is injected (that traffic would bypass it).
func TestToxiproxyMissingProxy(t *testing.T) {
	fx := newToxiFixture(t)
	require.NoError(t, fx.top.Add(Process{Name: "d", Role: RoleNode, NodeID: "4", Endpoints: []Endpoint{{Name: "echo", Addr: "127.0.0.1:1", Probe: ProbeEcho}}}))
	g := fx.guard(t)
	ctx := context.Background()
	require.NoError(t, g.Prepare(ctx))
	err := g.Inject(ctx, Spec{ID: "t1", Kind: KindCut, Target: "node:1", Links: []string{LinkPeers}})
	require.ErrorContains(t, err, "without a proxy")
	require.Equal(t, Broken, g.State())
}

// TestToxiproxyOverlappingGuards: a second guard's Prepare and Cleanup must
// not undo the first guard's fault (only the run-level reset does).
func TestToxiproxyOverlappingGuards(t *testing.T) {
	fx := newToxiFixture(t)
	ctx := context.Background()
	g1, g2 := fx.guard(t), fx.guard(t)
	injectOK(ctx, t, g1, Spec{ID: "t1", Kind: KindCut, Target: "node:1", Links: []string{"node:2"}})

	injectOK(ctx, t, g2, Spec{ID: "t2", Kind: KindCut, Target: "node:3", Links: []string{"node:2"}, Direction: Inbound})
	require.NoError(t, g2.Heal(ctx))
	_, err := g2.Verify(ctx)
	require.NoError(t, err)
	require.NoError(t, g2.Cleanup(ctx))

	obs, err := g1.Verify(ctx)
	require.NoError(t, err)
	require.True(t, obs.OK, "g2 undid g1's fault: %s", obs.Note)
	require.Equal(t, map[string]bool{"a->b": false, "b->a": false, "a->c": true, "c->a": true, "b->c": true, "c->b": true}, fx.matrix())
	require.Zero(t, g1.Records()[0].Lapses)
}

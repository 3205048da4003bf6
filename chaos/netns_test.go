package chaos

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// netnsFixture is a Network of three namespaces a, b, c, each running an
// echo server started the way the runner will start processes: with
// Namespace.Command (the test binary re-executed in echo mode).
type netnsFixture struct {
	run    string
	dir    string
	ledger *Ledger
	net    *Network
	top    *Topology
	reg    *Registry
}

func newNetnsFixture(t *testing.T) *netnsFixture {
	t.Helper()
	ctx := context.Background()
	fx := &netnsFixture{}
	fx.run, fx.dir, fx.ledger, fx.net = newRunNetwork(ctx, t)
	// Registered first, so it runs last: after the echo servers died.
	closeRunNetwork(t, fx.run, fx.ledger, fx.net)
	fx.top, _ = NewTopology()
	for i, name := range []string{"a", "b", "c"} {
		ns, err := fx.net.Add(ctx, name)
		require.NoError(t, err)
		addr := net.JoinHostPort(ns.Addr.String(), "7000")
		echo, _ := startHelper(t, ns.Command, envEcho+"="+addr)
		p, err := fx.ledger.AddProcess(Process{Name: name, Role: RoleNode, NodeID: strconv.Itoa(i + 1), Pid: echo.Pid(),
			Namespace: ns.Name, Addr: ns.Addr, Endpoints: []Endpoint{{Name: "echo", Addr: addr, Probe: ProbeEcho}}})
		require.NoError(t, err)
		require.NoError(t, fx.top.Add(p))
	}
	fx.reg = NewRegistry()
	require.NoError(t, Register(fx.reg))
	return fx
}

// newRunNetwork creates the network of a fresh run, with its ledger in a
// temporary directory. It skips the test unless it runs as root.
func newRunNetwork(ctx context.Context, t *testing.T) (run, dir string, ledger *Ledger, nw *Network) {
	t.Helper()
	requireRoot(t)
	run, dir = NewRunID(), t.TempDir()
	ledger, err := OpenLedger(dir, run)
	require.NoError(t, err)
	nw, err = NewNetwork(ctx, run, ledger, testLogger(t))
	require.NoError(t, err)
	return run, dir, ledger, nw
}

// closeRunNetwork closes nw and its ledger when the test ends and checks
// that nothing of the run is left on the host.
func closeRunNetwork(t *testing.T, run string, ledger *Ledger, nw *Network) {
	t.Cleanup(func() {
		require.NoError(t, nw.Close(context.Background()))
		assertNoLeftovers(t, run)
		require.NoError(t, ledger.Close())
	})
}

func (fx *netnsFixture) guard(t *testing.T) *Guard {
	t.Helper()
	b, err := fx.reg.New(BackendNetns, Env{Run: fx.run, Ledger: fx.ledger, Topology: fx.top, Network: fx.net, Logger: testLogger(t)})
	require.NoError(t, err)
	g, err := NewGuard(GuardConfig{Backend: b, Run: fx.run, Ledger: fx.ledger, Resolver: &TopologyResolver{Topology: fx.top},
		Logger: testLogger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, g.Close(context.Background())) })
	return g
}

// reach probes from → to's echo endpoint independently of the backend.
func (fx *netnsFixture) reach(from, to string) bool {
	f, _ := fx.top.Process(from)
	p, _ := fx.top.Process(to)
	return echoOnce(f.Namespace, p.Endpoints[0].Addr, 300*time.Millisecond) == nil
}

// matrix returns which of the six directed links are open, as "a->b" keys.
func (fx *netnsFixture) matrix() map[string]bool {
	m := map[string]bool{}
	for _, from := range []string{"a", "b", "c"} {
		for _, to := range []string{"a", "b", "c"} {
			if from != to {
				m[from+"->"+to] = fx.reach(from, to)
			}
		}
	}
	return m
}

func allOpen() map[string]bool {
	return map[string]bool{"a->b": true, "a->c": true, "b->a": true, "b->c": true, "c->a": true, "c->b": true}
}

// cutCases are the reachability matrices expected while a (node:1) is cut
// from its peers in each direction, whichever backend cuts.
var cutCases = []struct {
	dir  Direction
	open map[string]bool
}{
	{Both, map[string]bool{"a->b": false, "a->c": false, "b->a": false, "c->a": false, "b->c": true, "c->b": true}},
	{Inbound, map[string]bool{"a->b": true, "a->c": true, "b->a": false, "c->a": false, "b->c": true, "c->b": true}},
	{Outbound, map[string]bool{"a->b": false, "a->c": false, "b->a": true, "c->a": true, "b->c": true, "c->b": true}},
}

// TestNetnsCuts isolates a from b and c symmetrically, then one way in each
// direction, and heals each time; probes, counters and independent echo
// checks must agree, and the rules must be gone after each heal.
func TestNetnsCuts(t *testing.T) {
	fx := newNetnsFixture(t)
	ctx := context.Background()
	checkCut := func(t *testing.T, id string, dir Direction, obs Observation) {
		// Rules live in a's namespace only, in the run's chain, tagged.
		save, err := iptablesSave(ctx, nsName(fx.run, "a"))
		require.NoError(t, err)
		require.Equal(t, 4, strings.Count(save, Tag(fx.run, id)), save)
		for _, other := range []string{"b", "c"} {
			save, err := iptablesSave(ctx, nsName(fx.run, other))
			require.NoError(t, err)
			require.NotContains(t, save, Tag(fx.run, id))
		}
		var dropped uint64
		for _, c := range obs.Counters {
			dropped += c.Packets
		}
		require.Positive(t, dropped, "counters must rise")
		cut := 0
		for _, p := range obs.Probes {
			if p.Role == ProbeCut {
				cut++
				require.Equal(t, Blocked, p.Got, p.Link)
			}
		}
		require.Equal(t, map[Direction]int{Both: 4, Inbound: 2, Outbound: 2}[dir], cut)
	}
	checkHealed := func(t *testing.T, id string) {
		save, err := iptablesSave(ctx, nsName(fx.run, "a"))
		require.NoError(t, err)
		require.NotContains(t, save, Tag(fx.run, id))
	}
	runCuts(ctx, t, fx, "netns", checkCut, checkHealed)
}

// cutFixture is a backend's fixture of three echo processes a, b and c.
type cutFixture interface {
	guard(t *testing.T) *Guard
	matrix() map[string]bool
}

// runCuts cuts a (node:1) from its peers in each direction of cutCases with
// one guard, healing each time. It requires cutCases' matrix while cut and
// every link open after the heal; cut and healed add the backend's own
// checks of fault id.
func runCuts(ctx context.Context, t *testing.T, fx cutFixture, backend string,
	cut func(t *testing.T, id string, dir Direction, obs Observation), healed func(t *testing.T, id string)) {
	t.Helper()
	require.Equal(t, allOpen(), fx.matrix())
	g := fx.guard(t)
	require.NoError(t, g.Prepare(ctx))
	for i, tc := range cutCases {
		id := "f" + strconv.Itoa(i+1)
		t.Run(string(tc.dir), func(t *testing.T) {
			require.NoError(t, g.Inject(ctx, Spec{ID: id, Kind: KindCut, Target: "node:1", Links: []string{LinkPeers}, Direction: tc.dir}))
			obs := verifyOK(ctx, t, g)
			require.Equal(t, tc.open, fx.matrix())
			cut(t, id, tc.dir, obs)

			healOK(ctx, t, g)
			require.Equal(t, allOpen(), fx.matrix())
			healed(t, id)
			r := restored(t, g)
			t.Logf("%s %s: inject→effect %v, heal→connectivity %v", backend, tc.dir, r.InjectToEffect(), r.HealToRestored())
		})
	}
	require.NoError(t, g.Cleanup(ctx))
}

// TestNetnsIneffectiveFault: a cut whose peer set leaves the real traffic
// path alone (here: the rules target an address nobody uses) must be
// recorded as not effective rather than passing.
func TestNetnsIneffectiveFault(t *testing.T) {
	fx := newNetnsFixture(t)
	ctx := context.Background()
	// Make b's recorded address wrong: rules will drop an unused address.
	b, _ := fx.top.Process("b")
	b.Addr = addrN(fx.net.Prefix(), 200)
	require.NoError(t, fx.top.Update(b))
	g := fx.guard(t)
	g.cfg.VerifyTimeout = 500 * time.Millisecond
	require.NoError(t, g.Prepare(ctx))
	require.NoError(t, g.Inject(ctx, Spec{ID: "f1", Kind: KindCut, Target: "node:1", Links: []string{"node:2"}}))
	obs, err := g.Verify(ctx)
	require.NoError(t, err)
	require.False(t, obs.OK)
	require.NoError(t, g.Heal(ctx))
	_, err = g.Verify(ctx)
	require.NoError(t, err)
	r := g.Records()[0]
	require.False(t, r.Effective, "a cut that did not bite must not count")
	require.Equal(t, time.Duration(-1), r.InjectToEffect())
	require.NotEmpty(t, r.InjectProof.Note)
}

// TestNetnsHealAfterPartialInject: heal must remove whatever part of a cut
// exists even when the exact -D transaction cannot apply.
func TestNetnsHealAfterPartialInject(t *testing.T) {
	fx := newNetnsFixture(t)
	ctx := context.Background()
	a, _ := fx.top.Process("a")
	b, _ := fx.top.Process("b")
	specs := cutRules(Tag(fx.run, "f1"), []netip.Addr{b.Addr}, Both)
	// Only the first rule made it in before the "crash".
	require.NoError(t, iptablesRestore(ctx, a.Namespace, renderRules("-A", chainName(fx.run), specs[:1])))
	be, err := fx.reg.New(BackendNetns, Env{Run: fx.run, Ledger: fx.ledger, Topology: fx.top, Network: fx.net})
	require.NoError(t, err)
	f := &Fault{Spec: Spec{ID: "f1", Kind: KindCut}, Run: fx.run, Target: a, Peers: []Process{b}}
	_, err = be.Heal(ctx, f)
	require.NoError(t, err)
	save, err := iptablesSave(ctx, a.Namespace)
	require.NoError(t, err)
	require.NotContains(t, save, Tag(fx.run, "f1"))
	require.Contains(t, save, chainName(fx.run), "the chain itself stays until the namespace goes")
	_, err = be.Heal(ctx, f)
	require.NoError(t, err, "heal is idempotent")
}

package cluster_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/chaos"
	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/checker/rundir"
	"github.com/chaosrun/chaosrun/internal/place"
	"github.com/chaosrun/chaosrun/sink/kafka"
	"github.com/chaosrun/chaosrun/system/cluster"
	"github.com/chaosrun/chaosrun/system/meta"
	"github.com/chaosrun/chaosrun/workloads"
)

// chaos implements the placement interfaces structurally (it does not
// import this package); these keep the two in step.
var (
	_ place.Placement  = (*chaos.NetnsPlacement)(nil)
	_ place.PortPicker = (*chaos.NetnsPlacement)(nil)
	_ place.Listener   = (*chaos.NetnsPlacement)(nil)
)

// netnsCluster is a cluster whose every process runs in its own network
// namespace.
type netnsCluster struct {
	*cluster.Cluster
	run    string
	ledger *chaos.Ledger
	pl     *chaos.NetnsPlacement
	dir    string // the cluster's directory: logs and decision logs
}

// startNetnsCluster starts Kafka (one broker), meta, upstream and nodes CDC
// nodes, each in its own namespace of a fresh run. Cleanup closes the
// cluster and the network, then asserts that nothing of the run is left:
// no namespace, link, iptables rule or process.
func startNetnsCluster(t *testing.T, nodes int) *netnsCluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: the netns placement needs root (network namespaces, veths, iptables)")
	}
	bin, dir := prepareRun(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nc := &netnsCluster{run: chaos.NewRunID(), dir: dir}
	var err error
	nc.ledger, err = chaos.OpenLedger(dir, nc.run)
	require.NoError(t, err)
	log := netnsLogger(t)
	nw, err := chaos.NewNetwork(ctx, nc.run, nc.ledger, log)
	require.NoError(t, err)
	t.Cleanup(func() {
		// Registered first, so it runs last.
		require.NoError(t, nw.Close(context.Background()))
		assertNoRunLeftovers(t, nc.run)
		require.NoError(t, nc.ledger.Close())
	})
	names := []string{place.KafkaName, "meta", "upstream"}
	for i := 1; i <= nodes; i++ {
		names = append(names, cluster.NodeName(i))
	}
	nc.pl, err = chaos.NewNetnsPlacement(ctx, nw, names...)
	require.NoError(t, err)

	t0 := time.Now()
	c, err := cluster.Start(ctx, cluster.Spec{Dir: dir, Binary: bin, Nodes: nodes, SessionTTL: 3 * time.Second,
		Placement: nc.pl, Logger: log})
	require.NoError(t, err)
	t.Logf("netns cluster of run %s up in %s (uplink %s)", nc.run, time.Since(t0).Round(time.Millisecond), nc.pl.Uplink())
	nc.Cluster = c
	t.Cleanup(func() {
		assert.NoError(t, c.Close())
		for _, p := range append(c.Nodes, c.Meta, c.Upstream) {
			assert.False(t, p.Running(), "%s still running", p.Name)
		}
		if l, ok := c.Provider.(*kafka.Local); ok {
			assert.Empty(t, l.PIDs(), "Kafka brokers still running")
		}
	})

	// Every process runs inside its own namespace, at its address.
	kns, ok := nc.pl.Namespace(place.KafkaName)
	require.True(t, ok)
	for _, b := range c.Brokers {
		require.True(t, strings.HasPrefix(b, kns.Addr.String()+":"), "broker %s in the kafka namespace", b)
	}
	for _, p := range append([]*cluster.Process{c.Meta, c.Upstream}, c.Nodes...) {
		ns, ok := nc.pl.Namespace(p.Name)
		require.True(t, ok)
		requireInNetns(t, p.Pid(), ns.Name)
	}
	if l, ok := c.Provider.(*kafka.Local); ok {
		for _, pid := range l.PIDs() {
			requireInNetns(t, pid, kns.Name)
		}
	}
	return nc
}

// requireInNetns checks that process pid is one of namespace ns's.
func requireInNetns(t *testing.T, pid int, ns string) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	require.NoError(t, err)
	require.Contains(t, strings.Fields(string(out)), strconv.Itoa(pid), "pid %d in %s", pid, ns)
}

// topology describes the cluster's processes for the chaos backends, with
// their namespaces, addresses and listeners (gRPC ones probed with the
// HTTP/2 preface, so a probe proves data flows both ways), and records
// them in the ledger.
func (nc *netnsCluster) topology(t *testing.T) *chaos.Topology {
	t.Helper()
	top, err := chaos.NewTopology()
	require.NoError(t, err)
	add := func(name, placed, role, nodeID string, pid int, eps ...chaos.Endpoint) {
		ns, ok := nc.pl.Namespace(placed)
		require.True(t, ok, "namespace of %s", placed)
		p, err := nc.ledger.AddProcess(chaos.Process{Name: name, Role: role, NodeID: nodeID, Pid: pid,
			Namespace: ns.Name, Addr: ns.Addr, Endpoints: eps})
		require.NoError(t, err)
		require.NoError(t, top.Add(p))
	}
	add("meta", "meta", chaos.RoleMeta, "", nc.Meta.Pid(), chaos.Endpoint{Name: "client", Addr: nc.Meta.Ready["addr"], Probe: chaos.ProbeTLS})
	add("upstream", "upstream", chaos.RoleUpstream, "", nc.Upstream.Pid(), chaos.Endpoint{Name: "grpc", Addr: nc.UpstreamAddr(), Probe: chaos.ProbeTLS})
	for _, p := range nc.Nodes {
		add(p.Name, p.Name, chaos.RoleNode, p.Name, p.Pid(), chaos.Endpoint{Name: "peer", Addr: nc.PeerAddr(p.Name), Probe: chaos.ProbeTLS})
	}
	l, ok := nc.Provider.(*kafka.Local)
	require.True(t, ok)
	pids := l.PIDs()
	for i, b := range nc.Brokers {
		id := int32(i + 1)
		add("kafka-"+strconv.Itoa(int(id)), place.KafkaName, chaos.RoleKafka, "", pids[id], chaos.Endpoint{Name: "kafka", Addr: b})
	}
	return top
}

// TestNetnsAppendReplicatesEverything runs the append workload through
// three nodes, each in its own namespace, and checks every committed
// change reaches Kafka: the harness's clients (workload, meta, Kafka
// consumer) reach the namespaces over the uplink.
func TestNetnsAppendReplicatesEverything(t *testing.T) {
	c := startNetnsCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, c.CreateChangefeed(ctx, "cf1", []string{"t1", "t2"}, 4))
	w, err := workloads.New("append", workloads.Options{Tables: 2})
	require.NoError(t, err)
	var stats workloads.Stats
	require.NoError(t, workloads.Run(ctx, w, cluster.WorkloadStore{Client: c.Up},
		workloads.Config{Rate: 500, Workers: 4, Stats: &stats, Duration: 10 * time.Second}))
	_, ok, _, _, _ := stats.Snapshot()
	require.Positive(t, ok)
	assertComplete(t, ctx, c.Cluster, "cf1")
}

// TestNetnsOwnerIsolation cuts the owner from its peers, the meta store and
// the upstream (Kafka kept) for 15 s with the netns backend: a new owner
// must be elected, the probes must show the old one cut off, and after the
// heal the old node must register again.
func TestNetnsOwnerIsolation(t *testing.T) {
	const hold = 15 * time.Second
	c := startNetnsCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stopLoad := replicateUnderLoad(t, ctx, c.Cluster, 500)
	defer stopLoad()

	ownerOf := func(ctx context.Context, _ string) (string, error) {
		o, err := c.Store.Owner(ctx)
		return o.Node, err
	}
	g := c.netnsGuard(t, ownerOf)
	defer func() { require.NoError(t, g.Close(context.Background())) }()

	old, err := ownerOf(ctx, "")
	require.NoError(t, err)
	require.NoError(t, g.Prepare(ctx))
	injectAt := time.Now()
	injectVerified(t, ctx, g, chaos.Spec{ID: "f1", Kind: chaos.KindCut, Target: chaos.RoleKindOwner,
		Links: []string{chaos.LinkPeers, chaos.RoleMeta, chaos.RoleUpstream}})

	// A new owner is elected once the old one's lease runs out.
	var newOwner string
	require.Eventually(t, func() bool {
		o, err := ownerOf(ctx, "")
		newOwner = o
		return err == nil && o != "" && o != old
	}, hold, 50*time.Millisecond, "no new owner while %s is cut off", old)
	failover := time.Since(injectAt)
	// The old one's capture key is gone with its lease.
	require.Eventually(t, func() bool { return !hasCapture(ctx, c.Cluster, old) }, time.Until(injectAt.Add(hold)), 50*time.Millisecond,
		"%s still registered while cut off", old)

	// Hold the cut, check it still bites, heal.
	waitUntil(t, ctx, injectAt.Add(hold))
	obs, err := g.Verify(ctx)
	require.NoError(t, err)
	require.True(t, obs.OK, "still cut at the end of the hold: %s", obs.Note)
	healAt := time.Now()
	healVerified(t, ctx, g)

	// The old node reconnects: it registers its capture again.
	require.Eventually(t, func() bool { return hasCapture(ctx, c.Cluster, old) }, 60*time.Second, 50*time.Millisecond,
		"%s never registered again after the heal", old)
	reconnect := time.Since(healAt)
	require.NoError(t, g.Cleanup(ctx))

	recs := g.Records()
	require.Len(t, recs, 1)
	r := recs[0]
	assertOwnerCut(t, r, c.Cluster, old)
	t.Logf("owner %s isolated: inject→effect %s, inject→new owner %s (%s), heal→connectivity %s, heal→%s re-registered %s",
		old, r.InjectToEffect().Round(time.Millisecond), failover.Round(time.Millisecond), newOwner,
		r.HealToRestored().Round(time.Millisecond), old, reconnect.Round(time.Millisecond))

	stopLoad()
	assertComplete(t, ctx, c.Cluster, "cf1")
}

// assertOwnerCut checks the record of a cut of owner old from its peers,
// the meta store and the upstream: it took effect and was healed, every
// peer link was probed blocked both ways, and packets were dropped.
func assertOwnerCut(t *testing.T, r chaos.FaultRecord, c *cluster.Cluster, old string) {
	t.Helper()
	assert.Equal(t, old, r.Target.NodeID)
	assert.True(t, r.Effective, "the cut took effect")
	assert.True(t, r.Restored, "the heal restored every link")
	assert.Zero(t, r.Lapses)
	var peers []string
	for _, p := range r.Peers {
		peers = append(peers, p.Name)
	}
	slices.Sort(peers)
	wantPeers := []string{"meta", "upstream"}
	for _, p := range c.Nodes {
		if p.Name != old {
			wantPeers = append(wantPeers, p.Name)
		}
	}
	slices.Sort(wantPeers)
	assert.Equal(t, wantPeers, peers, "cut from peers, meta and upstream; Kafka kept")
	cut := 0
	for _, p := range r.InjectProof.Probes {
		if p.Role == chaos.ProbeCut {
			cut++
			assert.Equal(t, chaos.Blocked, p.Got, p.Link)
		}
	}
	assert.Equal(t, 2*len(wantPeers), cut, "each peer link probed both ways")
	var dropped uint64
	for _, ctr := range r.InjectProof.Counters {
		dropped += ctr.Packets
	}
	assert.Positive(t, dropped)
}

// injectVerified injects spec through g and requires the probes to show it
// took effect.
func injectVerified(t *testing.T, ctx context.Context, g *chaos.Guard, spec chaos.Spec) {
	t.Helper()
	require.NoError(t, g.Inject(ctx, spec))
	obs, err := g.Verify(ctx)
	require.NoError(t, err)
	require.True(t, obs.OK, obs.Note)
}

// healVerified heals g's fault and requires the probes to show every link
// back.
func healVerified(t *testing.T, ctx context.Context, g *chaos.Guard) {
	t.Helper()
	require.NoError(t, g.Heal(ctx))
	obs, err := g.Verify(ctx)
	require.NoError(t, err)
	require.True(t, obs.OK, obs.Note)
}

// waitUntil waits until deadline, failing if ctx ends first.
func waitUntil(t *testing.T, ctx context.Context, deadline time.Time) {
	t.Helper()
	select {
	case <-time.After(time.Until(deadline)):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
}

// TestNetnsMetaCutZombieKeepsActing cuts the maintainer's node from the meta
// store only. Its lease expires and its session is lost, but — as a TiCDC
// node's maintainers do until its process exits — its roles keep running on
// the links that still work: its decision log grows after it noticed the
// loss and before the heal. A node whose loop froze on session loss (an
// implicit self-fence) would log nothing then.
func TestNetnsMetaCutZombieKeepsActing(t *testing.T) {
	const hold = 12 * time.Second
	c := startNetnsCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stopLoad := replicateUnderLoad(t, ctx, c.Cluster, 200)
	defer stopLoad()

	// The maintainer's node is the one counting heartbeats.
	var maint string
	require.Eventually(t, func() bool {
		ds, err := rundir.LoadDecisions(c.dir)
		if err != nil {
			return false
		}
		for _, d := range ds {
			if d.Role == "maintainer" && d.MsgType == "HeartBeatRequest" {
				maint = d.Node
			}
		}
		return maint != ""
	}, 30*time.Second, 100*time.Millisecond, "no maintainer counts heartbeats")

	g := c.netnsGuard(t, nil)
	defer func() { require.NoError(t, g.Close(context.Background())) }()
	require.NoError(t, g.Prepare(ctx))
	injectAt := time.Now()
	injectVerified(t, ctx, g, chaos.Spec{ID: "f1", Kind: chaos.KindCut, Target: chaos.Role(chaos.RoleKindNode + ":" + maint),
		Links: []string{chaos.RoleMeta}})

	require.Eventually(t, func() bool { return !hasCapture(ctx, c.Cluster, maint) }, hold, 50*time.Millisecond,
		"%s still registered while cut from the meta store", maint)
	expired := time.Now()
	waitUntil(t, ctx, injectAt.Add(hold))
	healAt := time.Now()
	healVerified(t, ctx, g)
	require.NoError(t, g.Cleanup(ctx))

	// The node notices the loss within about a second of the expiry (the
	// etcd client checks its lease deadline every second); allow two.
	noticed := expired.Add(2 * time.Second)
	require.Less(t, noticed, healAt, "the hold must outlast the notice")
	ds, err := rundir.LoadDecisions(c.dir)
	require.NoError(t, err)
	var during []checker.DecisionEntry
	for _, d := range ds {
		if d.Node == maint && d.Time.After(noticed) && d.Time.Before(healAt) {
			during = append(during, d)
		}
	}
	assert.NotEmpty(t, during, "%s decided nothing between noticing its session loss (%s) and the heal (%s)",
		maint, noticed.Format(time.TimeOnly), healAt.Format(time.TimeOnly))
	t.Logf("%s cut from meta: lease gone after %s; %d decisions between notice and heal",
		maint, expired.Sub(injectAt).Round(time.Millisecond), len(during))

	// The node rejoins after the heal, and nothing was lost.
	require.Eventually(t, func() bool { return hasCapture(ctx, c.Cluster, maint) }, 60*time.Second, 50*time.Millisecond,
		"%s never registered again after the heal", maint)
	stopLoad()
	assertComplete(t, ctx, c.Cluster, "cf1")
}

// netnsGuard is a guard over the netns backend of the cluster's run;
// owner resolves the owner role (nil: unresolvable). The caller closes it.
func (nc *netnsCluster) netnsGuard(t *testing.T, owner chaos.NodeFunc) *chaos.Guard {
	t.Helper()
	top := nc.topology(t)
	reg := chaos.NewRegistry()
	require.NoError(t, chaos.Register(reg))
	log := netnsLogger(t)
	be, err := reg.New(chaos.BackendNetns, chaos.Env{Run: nc.run, Ledger: nc.ledger, Topology: top, Network: nc.pl.Network(), Logger: log})
	require.NoError(t, err)
	g, err := chaos.NewGuard(chaos.GuardConfig{Backend: be, Run: nc.run, Ledger: nc.ledger, Logger: log,
		Resolver: &chaos.TopologyResolver{Topology: top, Owner: owner}})
	require.NoError(t, err)
	return g
}

// hasCapture reports whether node id is registered in the meta store.
func hasCapture(ctx context.Context, c *cluster.Cluster, id string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	caps, _, err := c.Store.Captures(ctx)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(caps, func(ci meta.CaptureInfo) bool { return ci.ID == id })
}

// assertNoRunLeftovers lists namespaces, links and iptables rules and
// checks none carries the run id.
func assertNoRunLeftovers(t *testing.T, run string) {
	t.Helper()
	for _, args := range [][]string{{"ip", "netns", "list"}, {"ip", "-o", "link", "show"}, {"iptables-save"}} {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
		assert.NotContains(t, string(out), run, "%v lists something of run %s", args, run)
	}
}

// netnsLogger sends slog output to the test's output.
func netnsLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

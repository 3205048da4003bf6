package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netns"

	"github.com/chaosrun/chaosrun/internal/proc"
)

// harnessMain is a small chaos harness for the crash tests, run as a child
// of the test binary. It builds a netns network of three namespaces with an
// echo server in each, a paused `sleep` inside one namespace and another
// on the host (both recorded in the ledger), two toxiproxy proxies, and
// holds a netns cut, hold (with its queue handler) and loss, and a
// toxiproxy cut. It prints "READY ..." and waits for SIGINT; then it
// recovers the way the runner will (Guard.Close under a context that
// survives cancellation, then the fabric) and prints "CLEAN-EXIT".
func harnessMain(runDir, run string) int {
	code := harnessBody(runDir, run)
	if code == 0 {
		fmt.Println("CLEAN-EXIT")
	}
	return code
}

func harnessBody(runDir, run string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := &harness{run: run, log: discardLogger()}
	defer h.undo()
	if err := h.setUp(ctx, runDir); err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 2
	}
	<-ctx.Done()
	return 0
}

// harness is the state of harnessMain. Every step pushes what undoes it;
// undo runs them in reverse, the way deferred calls would.
type harness struct {
	run    string
	log    *slog.Logger
	ledger *Ledger
	nw     *Network
	px     *Proxies
	top    *Topology // the netns processes, and the sleepers
	ptop   *Topology // the toxiproxy processes
	undos  []func()
}

func (h *harness) push(f func()) { h.undos = append(h.undos, f) }

func (h *harness) undo() {
	for _, f := range slices.Backward(h.undos) {
		f()
	}
}

// setUp builds the fabric and the processes, injects every fault and
// prints the READY line.
func (h *harness) setUp(ctx context.Context, runDir string) error {
	var err error
	if h.ledger, err = OpenLedger(runDir, h.run); err != nil {
		return err
	}
	h.push(func() { _ = h.ledger.Close() })
	if err := h.echoNamespaces(ctx); err != nil {
		return err
	}
	sleeps, err := h.startSleepers()
	if err != nil {
		return err
	}
	if err := h.proxyMesh(ctx); err != nil {
		return err
	}
	if err := h.injectFaults(ctx); err != nil {
		return err
	}
	proxyAddr, _ := h.px.Addr("y", "x", "echo")
	b, _ := h.top.Process("b")
	fmt.Printf("READY sleepns=%d sleeproot=%d proxy=%s echob=%s\n", sleeps[0].Pid, sleeps[1].Pid, proxyAddr, b.Endpoints[0].Addr)
	return nil
}

// echoNamespaces makes the netns network with an echo server in each of
// the namespaces a, b and c.
func (h *harness) echoNamespaces(ctx context.Context) error {
	var err error
	if h.nw, err = NewNetwork(ctx, h.run, h.ledger, h.log); err != nil {
		return err
	}
	// The recovery outlives the signal that cancels ctx.
	h.push(func() { _ = h.nw.Close(context.WithoutCancel(ctx)) })
	h.top, _ = NewTopology()
	for i, name := range []string{"a", "b", "c"} {
		ns, err := h.nw.Add(ctx, name)
		if err != nil {
			return err
		}
		addr := net.JoinHostPort(ns.Addr.String(), "7000")
		l, err := ns.Listen(addr)
		if err != nil {
			return err
		}
		h.push(func() { _ = l.Close() })
		go serveEcho(l)
		_ = h.top.Add(Process{Name: name, Role: RoleNode, NodeID: strconv.Itoa(i + 1), Namespace: ns.Name, Addr: ns.Addr,
			Endpoints: []Endpoint{{Name: "echo", Addr: addr, Probe: ProbeEcho}}})
	}
	return nil
}

// startSleepers starts the processes the run records: a `sleep` inside
// namespace a and one on the host.
func (h *harness) startSleepers() ([]Process, error) {
	nsA, _ := h.nw.Namespace("a")
	// NB: not bound to ctx: a crashed harness must leave it for clean to
	// find. Its own session, because a process group that becomes orphaned
	// with a stopped member gets SIGHUP and SIGCONT from the kernel when
	// the harness dies; a session leader's group is orphaned from the start,
	// so it stays stopped and clean has to resume it.
	sleepNs := nsA.Command(context.Background(), "sleep", "600")
	sleepNs.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	sleepRoot := exec.Command("sleep", "600")
	sleepRoot.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var sleeps []Process
	for i, c := range []*exec.Cmd{sleepNs, sleepRoot} {
		if err := c.Start(); err != nil {
			return nil, err
		}
		// NB: killed before Wait reaps it, so its group id cannot have been
		// reused meanwhile.
		h.push(func() { _ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL); _ = c.Wait() })
		p, err := h.ledger.AddProcess(Process{Name: "sleep-" + strconv.Itoa(i), Role: "sleeper", Pid: c.Process.Pid})
		if err != nil {
			return nil, err
		}
		_ = h.top.Add(p)
		sleeps = append(sleeps, p)
	}
	return sleeps, nil
}

// proxyMesh starts two loopback echo servers x and y and a toxiproxy mesh
// between them.
func (h *harness) proxyMesh(ctx context.Context) error {
	var err error
	if h.px, err = NewProxies(h.run, h.ledger, h.log); err != nil {
		return err
	}
	h.push(func() { _ = h.px.Close(context.WithoutCancel(ctx)) })
	h.ptop, _ = NewTopology()
	for i, name := range []string{"x", "y"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		h.push(func() { _ = l.Close() })
		go serveEcho(l)
		_ = h.ptop.Add(Process{Name: name, Role: RoleNode, NodeID: strconv.Itoa(i + 1),
			Endpoints: []Endpoint{{Name: "echo", Addr: l.Addr().String(), Probe: ProbeEcho}}})
	}
	return h.px.Mesh(ctx, h.ptop)
}

// injectFaults injects, through a guard each, a pause, the netns cut, loss
// and hold, and the toxiproxy cut, and verifies each.
func (h *harness) injectFaults(ctx context.Context) error {
	reg := NewRegistry()
	if err := Register(reg); err != nil {
		return err
	}
	faults := []struct {
		backend string
		top     *Topology
		spec    Spec
	}{
		{BackendPause, h.top, Spec{ID: "p1", Kind: KindPause, Target: "process:sleep-0"}},
		{BackendNetns, h.top, Spec{ID: "f1", Kind: KindCut, Target: "node:1", Links: []string{LinkPeers}}},
		// NB: the loss and the hold share the only link a's cut leaves, b-c.
		// The guards close in reverse, so the hold heals first and proves it
		// through the loss: keep the loss light, or that takes the whole
		// verify timeout.
		{BackendNetns, h.top, Spec{ID: "l1", Kind: KindLoss, Target: "node:3", Links: []string{"node:2"}, Loss: 0.1}},
		{BackendNetns, h.top, Spec{ID: "h1", Kind: KindHold, Target: "node:2", Links: []string{"node:3"}}},
		{BackendToxiproxy, h.ptop, Spec{ID: "t1", Kind: KindCut, Target: "node:1", Links: []string{LinkPeers}}},
	}
	for _, f := range faults {
		b, err := reg.New(f.backend, Env{Run: h.run, Ledger: h.ledger, Topology: f.top, Network: h.nw, Proxies: h.px, Logger: h.log})
		if err != nil {
			return err
		}
		g, err := NewGuard(GuardConfig{Backend: b, Run: h.run, Ledger: h.ledger, Resolver: &TopologyResolver{Topology: f.top}, Logger: h.log})
		if err != nil {
			return err
		}
		h.push(func() {
			if err := g.Close(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "harness: close:", err)
			}
		})
		if err := g.Prepare(ctx); err != nil {
			return err
		}
		if err := g.Inject(ctx, f.spec); err != nil {
			return err
		}
		if obs, err := g.Verify(ctx); err != nil || !obs.OK {
			return fmt.Errorf("%s not effective: %v %s", f.spec.ID, err, obs.Note)
		}
	}
	return nil
}

// harnessChild starts the crash-test harness and waits for its READY line.
// At cleanup it kills the harness and cleans whatever the run left.
func harnessChild(t *testing.T, runDir, run string) (*proc.Proc, map[string]string) {
	t.Helper()
	p, err := startChild(t, nil, envHarness+"="+runDir, envHarnessID+"="+run)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, p.Kill())
		// Whatever happened, leave nothing behind.
		_, _ = Clean(context.Background(), CleanOptions{RunDir: runDir, Force: true, Logger: discardLogger()})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fields, err := p.WaitReady(ctx)
	require.NoError(t, err, "harness never became active")
	return p, fields
}

// TestCrashSIGINT: SIGINT in the middle of a cut; the harness recovers on
// its own and nothing of the run is left.
func TestCrashSIGINT(t *testing.T) {
	requireRoot(t)
	run, dir := NewRunID(), t.TempDir()
	p, fields := harnessChild(t, dir, run)
	assertRunPresent(t, run)

	require.NoError(t, p.Signal(syscall.SIGINT))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.Wait(ctx))
	require.Contains(t, proc.Tail(p.LogPath(), 5), "CLEAN-EXIT")

	assertNoLeftovers(t, run)
	for _, k := range []string{"sleepns", "sleeproot"} {
		pid, _ := strconv.Atoi(fields[k])
		assertProcessGone(t, pid)
	}
	_, err := net.DialTimeout("tcp", fields["proxy"], time.Second)
	require.Error(t, err, "proxy still listening")
	// And clean finds nothing.
	rep, err := Clean(context.Background(), CleanOptions{RunDir: dir, Logger: testLogger(t)})
	require.NoError(t, err)
	require.Empty(t, rep.Actions)
}

// TestCrashSIGKILL: SIGKILL in the middle of a cut leaves namespaces, rules
// and a stopped process behind; Clean removes all of it, and a second
// Clean finds nothing.
func TestCrashSIGKILL(t *testing.T) {
	requireRoot(t)
	run, dir := NewRunID(), t.TempDir()
	p, fields := harnessChild(t, dir, run)
	require.NoError(t, p.Kill())

	assertRunPresent(t, run)
	sleepNs, _ := strconv.Atoi(fields["sleepns"])
	sleepRoot, _ := strconv.Atoi(fields["sleeproot"])
	pi, err := proc.ReadStat(sleepNs)
	require.NoError(t, err)
	require.Equal(t, byte('T'), pi.State, "paused process should still be stopped")
	out, err := iptablesSave(context.Background(), nsName(run, "a"))
	require.NoError(t, err)
	require.Contains(t, out, Tag(run, "f1"))
	// The hold's handler died with the harness and its rules stay: packets
	// are dropped, not let through (no --queue-bypass).
	out, err = iptablesSave(context.Background(), nsName(run, "b"))
	require.NoError(t, err)
	require.Contains(t, out, Tag(run, "h1"))
	require.Error(t, echoOnce(nsName(run, "c"), fields["echob"], 300*time.Millisecond), "a dead hold must fail closed")

	// --all dry run sees the run and changes nothing.
	dry, err := Clean(context.Background(), CleanOptions{All: true, DryRun: true, Logger: testLogger(t)})
	require.NoError(t, err)
	require.Contains(t, actionNames(dry), nsName(run, "a"))
	assertRunPresent(t, run)

	rep, err := Clean(context.Background(), CleanOptions{RunDir: dir, Logger: testLogger(t)})
	require.NoError(t, err)
	for _, a := range rep.Actions {
		t.Log(a)
	}
	got := actionNames(rep)
	for _, want := range []string{"sleep-0", "sleep-1", nsName(run, "a"), nsName(run, "b"), nsName(run, "c"), hubName(run),
		bridgeName(run), chainName(run)} {
		require.Contains(t, got, want)
	}
	all := strings.Join(got, "\n")
	require.Contains(t, all, Tag(run, "f1"))
	require.Contains(t, all, Tag(run, "h1"))
	require.Contains(t, all, "-j NFQUEUE", "the hold's rules outlive the harness: clean removes them")
	require.Contains(t, all, Tag(run, "l1"))
	require.Contains(t, all, "-m statistic")
	assertNoLeftovers(t, run)
	assertProcessGone(t, sleepNs)
	assertProcessGone(t, sleepRoot)

	rep, err = Clean(context.Background(), CleanOptions{RunDir: dir, Logger: testLogger(t)})
	require.NoError(t, err)
	require.Empty(t, rep.Actions, "clean is idempotent")
}

func actionNames(rep CleanReport) []string {
	var out []string
	for _, a := range rep.Actions {
		out = append(out, a.Name)
	}
	return out
}

// assertRunPresent checks that the run's namespaces exist.
func assertRunPresent(t *testing.T, run string) {
	t.Helper()
	names, err := listNetns(context.Background())
	require.NoError(t, err)
	require.Contains(t, names, hubName(run))
	require.Contains(t, names, nsName(run, "a"))
}

// assertNoLeftovers lists namespaces, root links and root iptables rules
// and fails if anything carries the run id.
func assertNoLeftovers(t *testing.T, run string) {
	t.Helper()
	ctx := context.Background()
	nsList, err := ip(ctx, "netns", "list")
	require.NoError(t, err)
	require.NotContains(t, nsList, "cr-"+run, "namespaces left")
	links, err := ip(ctx, "-o", "link", "show")
	require.NoError(t, err)
	require.NotContains(t, links, run, "links left")
	save, err := run2(ctx, "iptables-save")
	require.NoError(t, err)
	require.NotContains(t, save, run, "root iptables mentions the run")
	_, err = netns.GetFromName(hubName(run))
	require.ErrorIs(t, err, os.ErrNotExist, "the hub namespace is gone")
}

func run2(ctx context.Context, name string, args ...string) (string, error) {
	return run(ctx, nil, name, args...)
}

func assertProcessGone(t *testing.T, pid int) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		if pi, err := proc.ReadStat(pid); err == nil && pi.Alive() {
			return fmt.Errorf("pid %d still alive (state %c)", pid, pi.State)
		}
		return nil
	})
}

package chaos

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// harnessMain is a small chaos harness for the crash tests, run as a child
// of the test binary. It builds a netns network of three namespaces with an
// echo server in each, a paused `sleep` inside one namespace and another
// on the host (both recorded in the ledger), two toxiproxy proxies, and
// holds a netns cut, hold (with its queue handler) and loss, and a
// toxiproxy cut. It prints "ACTIVE ..." and waits for SIGINT; then it
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
	log := discardLogger()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "harness:", err); return 2 }

	ledger, err := OpenLedger(runDir, run)
	if err != nil {
		return fail(err)
	}
	defer ledger.Close()
	recover := context.WithoutCancel(ctx)

	nw, err := NewNetwork(ctx, run, ledger, log)
	if err != nil {
		return fail(err)
	}
	defer nw.Close(recover)
	top, _ := NewTopology()
	for i, name := range []string{"a", "b", "c"} {
		ns, err := nw.Add(ctx, name)
		if err != nil {
			return fail(err)
		}
		addr := net.JoinHostPort(ns.Addr.String(), "7000")
		l, err := ns.Listen(addr)
		if err != nil {
			return fail(err)
		}
		defer l.Close()
		go serveEcho(l)
		_ = top.Add(Process{Name: name, Role: RoleNode, NodeID: strconv.Itoa(i + 1), Namespace: ns.Name, Addr: ns.Addr,
			Endpoints: []Endpoint{{Name: "echo", Addr: addr, Probe: ProbeEcho}}})
	}
	// Processes the run started: one inside namespace a, one on the host.
	nsA, _ := nw.Namespace("a")
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
			return fail(err)
		}
		p, err := ledger.AddProcess(Process{Name: "sleep-" + strconv.Itoa(i), Role: "sleeper", Pid: c.Process.Pid})
		if err != nil {
			return fail(err)
		}
		_ = top.Add(p)
		sleeps = append(sleeps, p)
		defer func() { _ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL); _ = c.Wait() }()
	}

	// Toxiproxy: two loopback echo servers and a proxy mesh between them.
	px, err := NewProxies(run, ledger, log)
	if err != nil {
		return fail(err)
	}
	defer px.Close(recover)
	ptop, _ := NewTopology()
	for i, name := range []string{"x", "y"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fail(err)
		}
		defer l.Close()
		go serveEcho(l)
		_ = ptop.Add(Process{Name: name, Role: RoleNode, NodeID: strconv.Itoa(i + 1), Endpoints: []Endpoint{{Name: "echo", Addr: l.Addr().String(), Probe: ProbeEcho}}})
	}
	if err := px.Mesh(ctx, ptop); err != nil {
		return fail(err)
	}

	reg := NewRegistry()
	if err := Register(reg); err != nil {
		return fail(err)
	}
	type fault struct {
		backend string
		top     *Topology
		spec    Spec
	}
	faults := []fault{
		{BackendPause, top, Spec{ID: "p1", Kind: KindPause, Target: "process:sleep-0"}},
		{BackendNetns, top, Spec{ID: "f1", Kind: KindCut, Target: "node:1", Links: []string{LinkPeers}}},
		// NB: the loss and the hold share the only link a's cut leaves, b-c.
		// The guards close in reverse, so the hold heals first and proves it
		// through the loss: keep the loss light, or that takes the whole
		// verify timeout.
		{BackendNetns, top, Spec{ID: "l1", Kind: KindLoss, Target: "node:3", Links: []string{"node:2"}, Loss: 0.1}},
		{BackendNetns, top, Spec{ID: "h1", Kind: KindHold, Target: "node:2", Links: []string{"node:3"}}},
		{BackendToxiproxy, ptop, Spec{ID: "t1", Kind: KindCut, Target: "node:1", Links: []string{LinkPeers}}},
	}
	for _, f := range faults {
		b, err := reg.New(f.backend, Env{Run: run, Ledger: ledger, Topology: f.top, Network: nw, Proxies: px, Logger: log})
		if err != nil {
			return fail(err)
		}
		g, err := NewGuard(GuardConfig{Backend: b, Run: run, Ledger: ledger, Resolver: &TopologyResolver{Topology: f.top}, Logger: log})
		if err != nil {
			return fail(err)
		}
		defer func() {
			if err := g.Close(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "harness: close:", err)
			}
		}()
		if err := g.Prepare(ctx); err != nil {
			return fail(err)
		}
		if err := g.Inject(ctx, f.spec); err != nil {
			return fail(err)
		}
		if obs, err := g.Verify(ctx); err != nil || !obs.OK {
			return fail(fmt.Errorf("%s not effective: %v %s", f.spec.ID, err, obs.Note))
		}
	}
	proxyAddr, _ := px.Addr("y", "x", "echo")
	b, _ := top.Process("b")
	fmt.Printf("ACTIVE sleepns=%d sleeproot=%d proxy=%s echob=%s\n", sleeps[0].Pid, sleeps[1].Pid, proxyAddr, b.Endpoints[0].Addr)
	<-ctx.Done()
	return 0
}

// harnessChild starts the crash-test harness and waits for ACTIVE.
func harnessChild(t *testing.T, runDir, run string) (*exec.Cmd, map[string]string, *lineWaiter) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHarness+"="+runDir, envHarnessID+"="+run)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	w := newLineWaiter(out)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		// Whatever happened, leave nothing behind.
		_, _ = Clean(context.Background(), CleanOptions{RunDir: runDir, Force: true, Logger: discardLogger()})
	})
	fields, err := w.wait("ACTIVE", 30*time.Second)
	require.NoError(t, err, "harness never became active")
	return cmd, fields, w
}

// TestCrashSIGINT: SIGINT in the middle of a cut; the harness recovers on
// its own and nothing of the run is left.
func TestCrashSIGINT(t *testing.T) {
	requireRoot(t)
	run, dir := NewRunID(), t.TempDir()
	cmd, fields, w := harnessChild(t, dir, run)
	assertRunPresent(t, run)

	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	_, err := w.wait("CLEAN-EXIT", 30*time.Second)
	require.NoError(t, err)
	require.NoError(t, cmd.Wait())

	assertNoLeftovers(t, run)
	for _, k := range []string{"sleepns", "sleeproot"} {
		pid, _ := strconv.Atoi(fields[k])
		assertProcessGone(t, pid)
	}
	_, err = net.DialTimeout("tcp", fields["proxy"], time.Second)
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
	cmd, fields, _ := harnessChild(t, dir, run)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	assertRunPresent(t, run)
	sleepNs, _ := strconv.Atoi(fields["sleepns"])
	sleepRoot, _ := strconv.Atoi(fields["sleeproot"])
	pi, err := readProc(sleepNs)
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
	_, err = os.Stat(netnsDir + hubName(run))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func run2(ctx context.Context, name string, args ...string) (string, error) {
	return run(ctx, nil, name, args...)
}

func assertProcessGone(t *testing.T, pid int) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		if pi, err := readProc(pid); err == nil && pi.State != 'Z' {
			return fmt.Errorf("pid %d still alive (state %c)", pid, pi.State)
		}
		return nil
	})
}

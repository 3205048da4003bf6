package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/chaos"
)

// runCleanCmd runs `chaosrun <args>` in-process and returns stdout.
func runCleanCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	stdout, stderr, err := execute(context.Background(), args...)
	t.Logf("chaosrun %s:\n%s%s", strings.Join(args, " "), stdout, stderr)
	return stdout, err
}

func TestCleanUsage(t *testing.T) {
	_, err := runCleanCmd(t, "clean")
	require.ErrorContains(t, err, "run directory or --all")
	_, err = runCleanCmd(t, "clean", t.TempDir())
	require.ErrorContains(t, err, "not a run directory")
}

// TestCleanRunDir leaves a cut in place the way a crashed harness would
// (namespaces, rules, a process inside a namespace), runs `chaosrun clean
// <run-dir>` and checks by listing that nothing of the run is left; a second
// clean finds nothing.
func TestCleanRunDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: clean of a netns run needs root")
	}
	ctx := context.Background()
	run, dir := chaos.NewRunID(), t.TempDir()
	ledger, err := chaos.OpenLedger(dir, run)
	require.NoError(t, err)
	defer ledger.Close()
	nw, err := chaos.NewNetwork(ctx, run, ledger, nil)
	require.NoError(t, err)
	top, _ := chaos.NewTopology()
	for i, name := range []string{"a", "b"} {
		ns, err := nw.Add(ctx, name)
		require.NoError(t, err)
		addr := net.JoinHostPort(ns.Addr.String(), "7000")
		l, err := ns.Listen(addr)
		require.NoError(t, err)
		defer l.Close()
		require.NoError(t, top.Add(chaos.Process{Name: name, Role: chaos.RoleNode, NodeID: string(rune('1' + i)),
			Namespace: ns.Name, Addr: ns.Addr, Endpoints: []chaos.Endpoint{{Name: "tcp", Addr: addr}}}))
	}
	nsA, _ := nw.Namespace("a")
	sleep := nsA.Command(ctx, "sleep", "600")
	require.NoError(t, sleep.Start())
	defer func() { _ = syscall.Kill(-sleep.Process.Pid, syscall.SIGKILL); _ = sleep.Wait() }()
	_, err = ledger.AddProcess(chaos.Process{Name: "sleep", Pid: sleep.Process.Pid})
	require.NoError(t, err)

	reg := chaos.NewRegistry()
	require.NoError(t, chaos.Register(reg))
	b, err := reg.New(chaos.BackendNetns, chaos.Env{Run: run, Ledger: ledger, Topology: top, Network: nw})
	require.NoError(t, err)
	g, err := chaos.NewGuard(chaos.GuardConfig{Backend: b, Run: run, Ledger: ledger, Resolver: &chaos.TopologyResolver{Topology: top}})
	require.NoError(t, err)
	require.NoError(t, g.Prepare(ctx))
	require.NoError(t, g.Inject(ctx, chaos.Spec{ID: "f1", Kind: chaos.KindCut, Target: "node:1", Links: []string{chaos.LinkPeers}}))
	obs, err := g.Verify(ctx)
	require.NoError(t, err)
	require.True(t, obs.OK, obs.Note)
	// "Crash": no Heal, no Close.

	_, err = runCleanCmd(t, "clean", dir)
	require.ErrorIs(t, err, chaos.ErrRunActive, "this process is the harness and still alive")

	out, err := runCleanCmd(t, "clean", dir, "--force")
	require.NoError(t, err)
	for _, want := range []string{"killed", "sleep", chaos.Tag(run, "f1"), "cr-" + run + "-a", "cr-" + run + "-hub", "crb-" + run} {
		require.Contains(t, out, want)
	}
	cleanAssertNothingLeft(t, run)

	out, err = runCleanCmd(t, "clean", dir, "--force")
	require.NoError(t, err)
	require.Equal(t, "nothing to clean\n", out)
}

func cleanAssertNothingLeft(t *testing.T, run string) {
	t.Helper()
	for _, args := range [][]string{{"ip", "netns", "list"}, {"ip", "link"}, {"iptables-save"}} {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		require.NoError(t, err, string(out))
		require.NotContains(t, string(out), run, "%v", args)
	}
}

// TestCleanFindsRunDirs: a sweep's directory is cleaned run by run, and its
// shared Kafka's ledger is one of them; a directory without any is refused.
func TestCleanFindsRunDirs(t *testing.T) {
	sweep := t.TempDir()
	var want []string
	for _, d := range []string{"kafka-netns", "owner-isolation/netns/seed-1/epoch", "owner-isolation/netns/seed-1/off"} {
		dir := filepath.Join(sweep, filepath.FromSlash(d))
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, chaos.LedgerFile), nil, 0o644))
		want = append(want, dir)
	}
	got, err := runDirsIn(sweep)
	require.NoError(t, err)
	assert.ElementsMatch(t, want, got)
	got, err = runDirsIn(want[1])
	require.NoError(t, err)
	assert.Equal(t, want[1:2], got, "a run directory is itself")
	_, err = runDirsIn(t.TempDir())
	assert.ErrorContains(t, err, "is not a run directory and holds none")
}

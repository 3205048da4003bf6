package hostaudit

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDiff checks the line arithmetic: appeared, gone, repeats counted,
// and rules compared in order.
func TestDiff(t *testing.T) {
	before := Snapshot{Items: map[string][]string{
		"netns":             {"a", "b"},
		"rules host/filter": {"*filter", "-A X -j RETURN", "-A X -j DROP", "COMMIT"},
	}}
	after := Snapshot{Items: map[string][]string{
		"netns":             {"b", "c"},
		"rules host/filter": {"*filter", "-A X -j DROP", "-A X -j RETURN", "COMMIT"},
		"temp":              {"x", "x"},
	}}
	assert.Equal(t, []string{
		"+ netns: c", "- netns: a",
		"~ rules host/filter: same rules, another order",
		"+ temp: x", "+ temp: x",
	}, Diff(before, after))
	assert.Empty(t, Diff(after, after))
}

// TestTakeSeesWhatARunLeaves creates what a run could leave — a namespace
// with a rule in it, a host chain, a listener, a temp entry and a process —
// checks each shows in the diff against a snapshot from before, removes
// them and checks the diff is gone. Root only (namespaces and iptables).
func TestTakeSeesWhatARunLeaves(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces and iptables")
	}
	ctx := context.Background()
	tmp := t.TempDir()
	marker := fmt.Sprintf("hostaudit-test-%d", os.Getpid())
	opts := Options{ProcessMarker: marker, TempDir: tmp}
	before, err := Take(ctx, opts)
	require.NoError(t, err)

	ns, chain := "ha-"+fmt.Sprint(os.Getpid()), "HA-"+fmt.Sprint(os.Getpid())
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
	}
	run("ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run("ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "DROP")
	run("iptables", "-N", chain)
	t.Cleanup(func() { _ = exec.Command("iptables", "-X", chain).Run() })
	// A Docker network named like the namespace, when an engine answers.
	withDocker := exec.Command("docker", "info").Run() == nil
	if withDocker {
		run("docker", "network", "create", ns)
		t.Cleanup(func() { _ = exec.Command("docker", "network", "rm", ns).Run() })
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "left"), nil, 0o644))
	sleep := exec.Command("sh", "-c", "sleep 60 # "+marker) // the marker rides on its command line
	require.NoError(t, sleep.Start())
	t.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })

	after, err := Take(ctx, opts)
	require.NoError(t, err)
	diff := strings.Join(Diff(before, after), "\n")
	for _, want := range []string{
		"+ netns: " + ns,
		"+ rules " + ns + "/filter: -A INPUT -p tcp -m tcp --dport 9 -j DROP",
		"+ rules host/filter: :" + chain + " - ",
		"+ listener: tcp ",
		"+ temp: left",
		"+ process: sh -c sleep 60 # " + marker,
	} {
		assert.Contains(t, diff, strings.TrimSpace(want))
	}
	if withDocker {
		assert.Regexp(t, `\+ docker network: [0-9a-f]+ `+ns, diff)
	}

	ln.Close()
	require.NoError(t, os.Remove(filepath.Join(tmp, "left")))
	_ = sleep.Process.Kill()
	_ = sleep.Wait()
	run("iptables", "-X", chain)
	run("ip", "netns", "del", ns)
	if withDocker {
		run("docker", "network", "rm", ns)
	}
	again, err := Take(ctx, opts)
	require.NoError(t, err)
	for _, l := range Diff(before, again) {
		assert.False(t, strings.Contains(l, ns) || strings.Contains(l, chain) || strings.Contains(l, marker) || strings.HasSuffix(l, "temp: left"),
			"still there after removal: %s", l)
	}
}

package chaos

import (
	"context"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/internal/proc"
)

// startEcho starts the test binary as a loopback echo server that also
// runs a `sleep` child in its process group, and returns it as a Process.
func startEcho(t *testing.T, name, addr string) (Process, int) {
	t.Helper()
	p, fields := startHelper(t, nil, envEcho+"="+addr, envEchoChild+"=1")
	child, err := strconv.Atoi(fields["child"])
	require.NoError(t, err)
	st, err := procStartTime(p.Pid())
	require.NoError(t, err)
	return Process{Name: name, Role: RoleNode, NodeID: "1", Pid: p.Pid(), StartTime: st,
		Endpoints: []Endpoint{{Name: "echo", Addr: fields["addr"], Probe: ProbeEcho}}}, child
}

func processGuard(t *testing.T, backend string, top *Topology, restart RestartFunc) *Guard {
	t.Helper()
	reg := NewRegistry()
	require.NoError(t, Register(reg))
	b, err := reg.New(backend, Env{Run: "abc123", Topology: top, Restart: restart, Logger: testLogger(t)})
	require.NoError(t, err)
	g, err := NewGuard(GuardConfig{Backend: b, Run: "abc123", Resolver: &TopologyResolver{Topology: top}, Logger: testLogger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, g.Close(context.Background())) })
	return g
}

// TestPauseStopsWholeGroup: SIGSTOP reaches the leader and its child; echo
// stops answering; SIGCONT brings both back.
func TestPauseStopsWholeGroup(t *testing.T) {
	p, child := startEcho(t, "n1", "127.0.0.1:0")
	top, _ := NewTopology(p)
	g := processGuard(t, BackendPause, top, nil)
	ctx := context.Background()
	injectOK(ctx, t, g, Spec{ID: "p1", Kind: KindPause, Target: "node:1"})
	for _, pid := range []int{p.Pid, child} {
		pi, err := proc.ReadStat(pid)
		require.NoError(t, err)
		require.Equal(t, byte('T'), pi.State, "pid %d", pid)
	}
	require.Error(t, echoOnce("", p.Endpoints[0].Addr, 200*time.Millisecond))

	healOK(ctx, t, g)
	pi, err := proc.ReadStat(child)
	require.NoError(t, err)
	require.NotEqual(t, byte('T'), pi.State)
	require.NoError(t, echoOnce("", p.Endpoints[0].Addr, time.Second))
}

// TestKillAndRestart: SIGKILL takes the whole group down; heal restarts the
// process through the runner's callback on the same address, and the
// record and topology carry the new pid.
func TestKillAndRestart(t *testing.T) {
	p, child := startEcho(t, "n1", "127.0.0.1:0")
	top, _ := NewTopology(p)
	restarts := 0
	restart := func(ctx context.Context, old Process) (Process, error) {
		restarts++
		np, _ := startEcho(t, old.Name, old.Endpoints[0].Addr) // same address, as with the same data dir
		return np, nil
	}
	g := processGuard(t, BackendKill, top, restart)
	ctx := context.Background()
	injectOK(ctx, t, g, Spec{ID: "k1", Kind: KindKill, Target: "node:1"})
	assertProcessGone(t, child)

	healOK(ctx, t, g)
	require.Equal(t, 1, restarts)
	r := g.Records()[0]
	require.NotNil(t, r.Restarted)
	require.NotEqual(t, p.Pid, r.Restarted.Pid)
	now, _ := top.Process("n1")
	require.Equal(t, r.Restarted.Pid, now.Pid)
	require.NoError(t, echoOnce("", p.Endpoints[0].Addr, time.Second))
}

// TestSignalNeverHitsReusedPid: a pid whose start time differs from the
// recorded one is another process and must not be signalled.
func TestSignalNeverHitsReusedPid(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	st, err := procStartTime(pid)
	require.NoError(t, err)

	_, err = signalGroup(pid, pid, st+1, syscall.SIGKILL)
	require.ErrorIs(t, err, ErrProcessGone)
	_, ok := alive(pid, st)
	require.True(t, ok, "the process with a different start time was killed")

	pids, err := signalGroup(pid, pid, st, syscall.SIGKILL)
	require.NoError(t, err)
	require.Equal(t, []int{pid}, pids)
	_ = cmd.Wait()
	_, ok = alive(pid, st)
	require.False(t, ok)
}

package proc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// start runs script under sh as a supervised process and kills it at the
// end of the test.
func start(t *testing.T, ctx context.Context, script string, ready bool, grace time.Duration) *Proc {
	t.Helper()
	p, err := Start(ctx, Spec{Name: "sh", Path: "sh", Args: []string{"-c", script},
		Log: filepath.Join(t.TempDir(), "out.log"), Ready: ready, Grace: grace})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Kill()) })
	return p
}

// done waits for p's Done, failing the test after d.
func done(t *testing.T, p *Proc, d time.Duration) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(d):
		t.Fatalf("%s still running after %s", p, d)
	}
}

func signalOf(t *testing.T, err error) syscall.Signal {
	t.Helper()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, ws.Signaled(), "exit status %v", ee)
	return ws.Signal()
}

// requireGone checks that pid is not a live process (a zombie counts as
// gone: it no longer runs).
func requireGone(t *testing.T, pid int) {
	t.Helper()
	s, err := ReadStat(pid)
	if err == nil {
		require.False(t, s.Alive(), "pid %d still alive (state %c)", pid, s.State)
		return
	}
	require.ErrorIs(t, err, os.ErrNotExist)
}

func childPid(t *testing.T, fields map[string]string) int {
	t.Helper()
	pid, err := strconv.Atoi(fields["child"])
	require.NoError(t, err)
	return pid
}

func TestReadyAndKill(t *testing.T) {
	p := start(t, t.Context(), "echo starting; echo 'READY addr=127.0.0.1:1 k=v'; exec sleep 600", true, 0)
	fields, err := p.WaitReady(t.Context())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"addr": "127.0.0.1:1", "k": "v"}, fields)
	assert.False(t, p.Exited())

	require.NoError(t, p.Kill())
	assert.True(t, p.Exited())
	assert.Equal(t, syscall.SIGKILL, signalOf(t, p.Err()))
	assert.Equal(t, "starting\nREADY addr=127.0.0.1:1 k=v", Tail(p.LogPath(), 5), "stdout reaches the log")
	require.NoError(t, p.Kill(), "Kill is idempotent")
}

func TestExitBeforeReady(t *testing.T) {
	p := start(t, t.Context(), "echo boom >&2; exit 3", true, 0)
	_, err := p.WaitReady(t.Context())
	require.ErrorIs(t, err, ErrExited)
	assert.Contains(t, err.Error(), "boom", "the error carries the log's tail")
	var ee *exec.ExitError
	require.ErrorAs(t, p.Err(), &ee)
	assert.Equal(t, 3, ee.ExitCode())
}

func TestNotReadyInTime(t *testing.T) {
	p := start(t, t.Context(), "echo waiting; exec sleep 600", true, 0)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := p.WaitReady(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "waiting")
	assert.False(t, p.Exited(), "WaitReady leaves the process alone")
}

// TestCancelKillsGroup: ending the context kills the leader and the child
// it started in its group.
func TestCancelKillsGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	p := start(t, ctx, "sleep 600 & echo READY child=$!; wait", true, 0)
	fields, err := p.WaitReady(t.Context())
	require.NoError(t, err)
	cancel()
	done(t, p, 10*time.Second)
	assert.Equal(t, syscall.SIGKILL, signalOf(t, p.Err()))
	requireGone(t, childPid(t, fields))
}

// TestCancelTermThenKill: with a grace period, the context's end sends
// SIGTERM, and SIGKILL only to a group that ignores it.
func TestCancelTermThenKill(t *testing.T) {
	t.Run("honours SIGTERM", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		p := start(t, ctx, "echo READY; exec sleep 600", true, time.Minute)
		_, err := p.WaitReady(t.Context())
		require.NoError(t, err)
		cancel()
		done(t, p, 10*time.Second)
		assert.Equal(t, syscall.SIGTERM, signalOf(t, p.Err()))
	})
	t.Run("ignores SIGTERM", func(t *testing.T) {
		const grace = 300 * time.Millisecond
		ctx, cancel := context.WithCancel(t.Context())
		p := start(t, ctx, "trap '' TERM; sleep 600 & echo READY child=$!; wait", true, grace)
		fields, err := p.WaitReady(t.Context())
		require.NoError(t, err)
		t0 := time.Now()
		cancel()
		done(t, p, 10*time.Second)
		assert.GreaterOrEqual(t, time.Since(t0), grace)
		assert.Equal(t, syscall.SIGKILL, signalOf(t, p.Err()))
		requireGone(t, childPid(t, fields))
	})
}

// TestLeaderExitKillsRest: when the leader exits on its own, what it left
// in its group is killed before Done closes.
func TestLeaderExitKillsRest(t *testing.T) {
	p := start(t, t.Context(), "sleep 600 & echo READY child=$!; exit 0", true, 0)
	fields, err := p.WaitReady(t.Context())
	require.NoError(t, err)
	done(t, p, 10*time.Second)
	require.NoError(t, p.Err())
	requireGone(t, childPid(t, fields))
}

// TestNoSignalAfterExit: once the leader has exited, its group id may be
// reused: nothing is signalled any more.
func TestNoSignalAfterExit(t *testing.T) {
	p := start(t, t.Context(), "exit 0", false, 0)
	done(t, p, 10*time.Second)
	err := p.Signal(syscall.SIGTERM)
	require.ErrorIs(t, err, os.ErrProcessDone)
	require.NoError(t, p.Kill())
	require.NoError(t, p.Stop(t.Context()))
	require.NoError(t, p.Wait(t.Context()))
}

// TestStopResumesPaused: Stop reaches a stopped group with SIGCONT, so it
// ends by SIGTERM rather than waiting for the kill.
func TestStopResumesPaused(t *testing.T) {
	p := start(t, t.Context(), "exec sleep 600", false, 0)
	require.NoError(t, p.Signal(syscall.SIGSTOP))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	require.NoError(t, p.Stop(ctx))
	assert.Equal(t, syscall.SIGTERM, signalOf(t, p.Err()))
}

func TestWaitLeavesProcessAlone(t *testing.T) {
	p := start(t, t.Context(), "exec sleep 600", false, 0)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.Wait(ctx), context.DeadlineExceeded)
	assert.False(t, p.Exited())
}

func TestStartFails(t *testing.T) {
	_, err := Start(t.Context(), Spec{Path: filepath.Join(t.TempDir(), "missing"), Log: filepath.Join(t.TempDir(), "log")})
	require.Error(t, err)
	_, err = Start(t.Context(), Spec{Path: "sh", Log: filepath.Join(t.TempDir(), "no", "such", "dir")})
	require.ErrorIs(t, err, os.ErrNotExist)
	cmdErr := errors.New("no namespace")
	_, err = Start(t.Context(), Spec{Path: "sh", Log: filepath.Join(t.TempDir(), "log"),
		Command: func(ctx context.Context, path string, args ...string) *exec.Cmd {
			c := exec.CommandContext(ctx, path, args...)
			c.Err = cmdErr
			return c
		}})
	require.ErrorIs(t, err, cmdErr)
}

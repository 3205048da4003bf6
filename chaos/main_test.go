package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/internal/proc"
)

// Helper modes: the test binary re-executes itself as a child process.
const (
	envEcho      = "CHAOSRUN_TEST_ECHO"       // listen address: run an echo server
	envEchoChild = "CHAOSRUN_TEST_ECHO_CHILD" // also start a `sleep` in the same process group
	envHarness   = "CHAOSRUN_TEST_HARNESS"    // run dir: run the crash-test harness
	envHarnessID = "CHAOSRUN_TEST_RUN"        // run id for the harness
)

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(envEcho) != "":
		os.Exit(echoMain(os.Getenv(envEcho), os.Getenv(envEchoChild) != ""))
	case os.Getenv(envHarness) != "":
		os.Exit(harnessMain(os.Getenv(envHarness), os.Getenv(envHarnessID)))
	}
	os.Exit(m.Run())
}

// echoMain serves TCP echo on addr and prints "READY addr=<addr>", with
// child=<pid> when it also runs a `sleep` in its process group.
func echoMain(addr string, child bool) int {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		return 2
	}
	ready := "READY addr=" + l.Addr().String()
	if child {
		c := exec.Command("sleep", "600") // inherits our process group
		if err := c.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "echo child:", err)
			return 2
		}
		ready += " child=" + strconv.Itoa(c.Process.Pid)
	}
	fmt.Println(ready)
	serveEcho(l)
	return 0
}

// serveEcho echoes every connection of l until l is closed.
func serveEcho(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// testLogger sends slog output to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startHelper starts the test binary as a helper (env selects the mode)
// through mk (nil: exec.CommandContext), waits up to 15s for its READY line
// and returns the process and the line's fields. The process group is
// killed at test cleanup.
func startHelper(t *testing.T, mk func(ctx context.Context, name string, args ...string) *exec.Cmd, env ...string) (*proc.Proc, map[string]string) {
	t.Helper()
	p, err := startChild(t, mk, env...)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Kill()) })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	fields, err := p.WaitReady(ctx)
	require.NoError(t, err)
	return p, fields
}

// startChild starts the test binary as a helper with env added to the
// environment, its output in a temporary file of t.
func startChild(t *testing.T, mk func(ctx context.Context, name string, args ...string) *exec.Cmd, env ...string) (*proc.Proc, error) {
	return proc.Start(context.Background(), proc.Spec{Name: "test helper", Path: os.Args[0], Args: []string{"-test.run=^$"},
		Env: append(os.Environ(), env...), Command: mk, Log: filepath.Join(t.TempDir(), "helper.log"), Ready: true})
}

// echoOnce dials addr from namespace ns ("" = here) and checks an echo
// within timeout.
func echoOnce(ns, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	got, err := probe(ctx, func(ctx context.Context) (net.Conn, error) { return dialInNetns(ctx, ns, addr) }, ProbeEcho, timeout, true)
	if got != Open {
		return fmt.Errorf("echo %s from %q: %s: %w", addr, ns, got, err)
	}
	return nil
}

// eventually polls cond every 10ms until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond) // NB: polling interval, not a readiness wait
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if !isRoot() {
		t.Skip("skipping: netns tests need root (network namespaces and iptables)")
	}
}

// verifyOK runs g.Verify and requires that it succeeds and finds the fault,
// or after a heal the restored connectivity, as expected.
func verifyOK(ctx context.Context, t *testing.T, g *Guard) Observation {
	t.Helper()
	obs, err := g.Verify(ctx)
	require.NoError(t, err)
	require.True(t, obs.OK, obs.Note)
	return obs
}

// injectOK prepares g, injects spec and requires Verify to find the fault
// in effect.
func injectOK(ctx context.Context, t *testing.T, g *Guard, spec Spec) Observation {
	t.Helper()
	require.NoError(t, g.Prepare(ctx))
	require.NoError(t, g.Inject(ctx, spec))
	return verifyOK(ctx, t, g)
}

// healOK heals g and requires Verify to find connectivity restored.
func healOK(ctx context.Context, t *testing.T, g *Guard) Observation {
	t.Helper()
	require.NoError(t, g.Heal(ctx))
	return verifyOK(ctx, t, g)
}

// restored returns g's newest record and requires that its fault took
// effect and that the heal restored connectivity.
func restored(t *testing.T, g *Guard) FaultRecord {
	t.Helper()
	recs := g.Records()
	require.NotEmpty(t, recs)
	r := recs[len(recs)-1]
	require.True(t, r.Effective)
	require.True(t, r.Restored)
	return r
}

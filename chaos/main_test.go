package chaos

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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

// echoMain serves TCP echo on addr and prints "READY addr=<addr>".
func echoMain(addr string, child bool) int {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		return 2
	}
	if child {
		c := exec.Command("sleep", "600") // inherits our process group
		if err := c.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "echo child:", err)
			return 2
		}
		fmt.Printf("CHILD pid=%d\n", c.Process.Pid)
	}
	fmt.Printf("READY addr=%s\n", l.Addr())
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

// startHelper starts cmd (stdout piped), waits up to 15s for its READY
// line and returns the fields of every line before it, READY's included.
// The process is killed (whole group) and reaped at test cleanup.
func startHelper(t *testing.T, cmd *exec.Cmd) map[string]string {
	t.Helper()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	var once sync.Once
	reap := func() {
		once.Do(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		})
	}
	t.Cleanup(reap)
	fields := map[string]string{}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			for _, f := range strings.Fields(line)[1:] {
				if k, v, ok := strings.Cut(f, "="); ok {
					fields[k] = v
				}
			}
			if strings.HasPrefix(line, "READY") {
				ready <- nil
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		ready <- fmt.Errorf("helper exited before READY: %v", sc.Err())
	}()
	select {
	case err := <-ready:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatalf("helper %v: no READY within 15s", cmd.Args)
	}
	return fields
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

// lineWaiter collects a child's stdout lines.
type lineWaiter struct {
	mu    sync.Mutex
	lines []string
	more  chan struct{} // closed and replaced on every new line
	done  bool
}

func newLineWaiter(r io.Reader) *lineWaiter {
	w := &lineWaiter{more: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			close(w.more)
			w.more = make(chan struct{})
			w.mu.Unlock()
		}
		w.mu.Lock()
		w.done = true
		close(w.more)
		w.mu.Unlock()
	}()
	return w
}

// wait returns the key=value fields of the first line starting with
// prefix, waiting up to timeout for it.
func (w *lineWaiter) wait(prefix string, timeout time.Duration) (map[string]string, error) {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		for _, line := range w.lines {
			if strings.HasPrefix(line, prefix) {
				w.mu.Unlock()
				fields := map[string]string{}
				for _, f := range strings.Fields(line)[1:] {
					if k, v, ok := strings.Cut(f, "="); ok {
						fields[k] = v
					}
				}
				return fields, nil
			}
		}
		if w.done {
			w.mu.Unlock()
			return nil, fmt.Errorf("output ended without %q", prefix)
		}
		more := w.more
		w.mu.Unlock()
		select {
		case <-more:
		case <-deadline:
			return nil, fmt.Errorf("no %q line within %s", prefix, timeout)
		}
	}
}

package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	shared.close()
	if code == 0 {
		// rcrowley/go-metrics starts one global ticker the first time sarama
		// registers a meter; it never stops by design.
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testLogger sends slog output to the test's output.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// testLibs returns the jar directory: $CHAOSRUN_KAFKA_LIBS as the Makefile
// exports it, else the module's .cache/kafka/libs when `make kafka-jars` ran.
func testLibs(tb testing.TB) string {
	if d := os.Getenv(EnvLibs); d != "" {
		return d
	}
	d, err := filepath.Abs(filepath.Join("..", "..", ".cache", "kafka", "libs"))
	require.NoError(tb, err)
	if checkLibs(d) != nil {
		tb.Fatalf("Kafka jars not found: run `make kafka-jars` (or set %s)", EnvLibs)
	}
	return d
}

// needBroker skips broker tests under -short.
func needBroker(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("starts real Kafka brokers; skipped with -short")
	}
}

// startLocal starts a local cluster of n brokers in a fresh directory and
// registers its Close and a check that no process of it outlives the test.
func startLocal(tb testing.TB, n int) (*Local, []string) {
	tb.Helper()
	needBroker(tb)
	dir := tb.TempDir()
	l, err := NewLocal(LocalConfig{Dir: dir, Brokers: n, LibsDir: testLibs(tb), Logger: testLogger(tb)})
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(func() {
		pids := l.PIDs()
		require.NoError(tb, l.Close())
		cancel()
		assertNoProcesses(tb, dir, pids)
	})
	addrs, err := l.Start(ctx)
	require.NoError(tb, err)
	return l, addrs
}

// assertNoProcesses fails when any of pids is alive or any process has dir
// on its command line.
func assertNoProcesses(tb testing.TB, dir string, pids map[int32]int) {
	tb.Helper()
	for id, pid := range pids {
		err := syscall.Kill(pid, 0)
		require.ErrorIs(tb, err, syscall.ESRCH, "broker %d (pid %d) still alive", id, pid)
	}
	require.Empty(tb, pgrep(tb, dir), "processes left with %s on their command line", dir)
}

// pgrepPath is resolved once, before any test changes PATH.
var pgrepPath, _ = exec.LookPath("pgrep")

// pgrep lists the processes whose command line contains pattern, or none.
func pgrep(tb testing.TB, pattern string) string {
	if pgrepPath == "" {
		tb.Fatal("pgrep not found: install procps (`make deps-apt`)")
	}
	out, err := exec.Command(pgrepPath, "-f", "-a", pattern).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return "" // no match
	}
	require.NoError(tb, err, "pgrep")
	return strings.TrimSpace(string(out))
}

// shared is one single-broker cluster for the benchmarks, started on first
// use and closed by TestMain.
var shared sharedCluster

type sharedCluster struct {
	once  sync.Once
	l     *Local
	addrs []string
	err   error
}

func (s *sharedCluster) get(tb testing.TB) []string {
	tb.Helper()
	needBroker(tb)
	s.once.Do(func() {
		dir, err := os.MkdirTemp("", "chaosrun-kafka-bench-")
		if err != nil {
			s.err = err
			return
		}
		s.l, s.err = NewLocal(LocalConfig{Dir: dir, LibsDir: testLibs(tb), Logger: slog.New(slog.DiscardHandler)})
		if s.err == nil {
			s.addrs, s.err = s.l.Start(context.Background())
		}
	})
	require.NoError(tb, s.err)
	return s.addrs
}

func (s *sharedCluster) close() {
	if s.l != nil {
		_ = s.l.Close()
		_ = os.RemoveAll(s.l.cfg.Dir)
	}
}

// within returns a context that ends after d, cancelled with the test.
func within(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

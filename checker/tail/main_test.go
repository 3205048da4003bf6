package tail_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/chaosrun/chaosrun/sink/kafka"
)

func TestMain(m *testing.M) {
	if os.Getenv(envBenchChild) != "" {
		os.Exit(benchChild())
	}
	code := m.Run()
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

// kafkaLibs returns the jar directory ($CHAOSRUN_KAFKA_LIBS, else the
// module's .cache/kafka/libs) and whether the broker jars are there.
func kafkaLibs(tb testing.TB) (string, bool) {
	d := os.Getenv(kafka.EnvLibs)
	if d == "" {
		var err error
		d, err = filepath.Abs(filepath.Join("..", "..", ".cache", "kafka", "libs"))
		require.NoError(tb, err)
	}
	jars, _ := filepath.Glob(filepath.Join(d, "kafka_*.jar"))
	return d, len(jars) > 0
}

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// startKafka starts a one-broker local cluster for the test and stops it
// when the test ends.
func startKafka(tb testing.TB, log *slog.Logger) (*kafka.Local, []string) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("starts a real Kafka broker; skipped with -short")
	}
	libs, ok := kafkaLibs(tb)
	if !ok {
		tb.Skipf("Kafka jars missing in %s: run `make kafka-jars`", libs)
	}
	l, err := kafka.NewLocal(kafka.LocalConfig{Dir: tb.TempDir(), LibsDir: libs, Logger: log})
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, l.Close()) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// NB: the brokers live as long as the context Start is given.
	addrs, err := l.Start(context.WithoutCancel(ctx))
	require.NoError(tb, err)
	return l, addrs
}

func within(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

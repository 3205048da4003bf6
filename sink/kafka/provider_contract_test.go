package kafka_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/sink/kafka"
	"github.com/chaosrun/chaosrun/sink/kafka/providertest"
)

// localLibs returns the Kafka jar directory: $CHAOSRUN_KAFKA_LIBS as the
// Makefile exports it, else the module's .cache/kafka/libs.
func localLibs(t *testing.T) string {
	t.Helper()
	if d := os.Getenv(kafka.EnvLibs); d != "" {
		return d
	}
	d, err := filepath.Abs(filepath.Join("..", "..", ".cache", "kafka", "libs"))
	require.NoError(t, err)
	if m, _ := filepath.Glob(filepath.Join(d, "kafka_2.13-*.jar")); len(m) == 0 {
		t.Fatalf("Kafka jars not found: run `make kafka-jars` (or set %s)", kafka.EnvLibs)
	}
	return d
}

// TestLocalContract runs the provider contract against the local provider;
// its leftover check is that no broker process survives Close.
func TestLocalContract(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real Kafka brokers; skipped with -short")
	}
	libs := localLibs(t)
	noProcess := func(t *testing.T, p kafka.Provider) func(t *testing.T) {
		pids := p.(*kafka.Local).PIDs()
		require.NotEmpty(t, pids, "a started local provider has broker processes")
		return func(t *testing.T) {
			for id, pid := range pids {
				require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "broker %d (pid %d) outlived Close", id, pid)
			}
		}
	}
	providertest.Run(t, func(t *testing.T) kafka.Provider {
		p, err := kafka.NewProvider(kafka.Options{Local: kafka.LocalConfig{Dir: t.TempDir(), LibsDir: libs}})
		require.NoError(t, err)
		return p
	}, providertest.Records(10_000), providertest.NothingLeft(noProcess))
}

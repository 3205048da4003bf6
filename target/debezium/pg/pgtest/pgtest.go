// Package pgtest starts a PostgreSQL server for tests, or skips them when
// it cannot run here.
package pgtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/internal/logtest"
	"github.com/chaosrun/chaosrun/target/debezium/pg"
)

// Dir returns a fresh directory for a server that user postgres can reach
// (t.TempDir is root's, mode 0700).
func Dir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	require.NoError(t, os.Chmod(d, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(d), 0o755))
	return filepath.Join(d, "pg")
}

// Start starts a server in dir (Dir(t) when "") on loopback and closes it
// when the test ends. It skips t under -short, when not root, and when
// PostgreSQL is not installed (`make deps`).
func Start(t testing.TB, dir string) *pg.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real PostgreSQL; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: the cluster runs as user postgres")
	}
	if dir == "" {
		dir = Dir(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Now()
	s, err := pg.Start(ctx, pg.Config{Dir: dir, Logger: logtest.New(t)})
	if errors.Is(err, pg.ErrNotInstalled) {
		t.Skipf("%v", err)
	}
	require.NoError(t, err)
	t.Logf("postgres ready in %v (pid %d, %s)", time.Since(t0).Round(time.Millisecond), s.Pid(), s.Addr())
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

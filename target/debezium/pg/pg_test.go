package pg_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/internal/logtest"
	"github.com/chaosrun/chaosrun/target/debezium/pg"
)

// startOrSkip starts a server in a fresh directory, or skips the test when
// it cannot run here.
func startOrSkip(t *testing.T, dir string) *pg.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real PostgreSQL; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: the cluster runs as user postgres")
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
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// runDir returns a fresh directory user postgres can reach (t.TempDir is
// mode 0700, root's).
func runDir(t *testing.T) string {
	d := t.TempDir()
	require.NoError(t, os.Chmod(d, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(d), 0o755))
	return filepath.Join(d, "pg")
}

func TestStartConnectStop(t *testing.T) {
	dir := runDir(t)
	s := startOrSkip(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	conn, err := pgx.Connect(ctx, s.DSN(pg.Database))
	require.NoError(t, err, "dbz connects over TCP with its password")
	var walLevel, user string
	var repl bool
	require.NoError(t, conn.QueryRow(ctx, "SELECT current_setting('wal_level'), current_user, rolreplication FROM pg_roles WHERE rolname = current_user").
		Scan(&walLevel, &user, &repl))
	require.Equal(t, "logical", walLevel)
	require.Equal(t, pg.User, user)
	require.True(t, repl, "dbz may open a replication slot")
	var track string
	require.NoError(t, conn.QueryRow(ctx, "SHOW track_commit_timestamp").Scan(&track))
	require.Equal(t, "on", track)
	require.NoError(t, conn.Close(ctx))

	pid := s.Pid()
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	requireGone(t, pid)

	// A second Start on the same directory reuses the cluster (a restart).
	s2 := startOrSkip(t, dir)
	conn, err = pgx.Connect(ctx, s2.DSN(pg.Database))
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	pid = s2.Pid()
	require.NoError(t, s2.Close())
	requireGone(t, pid)
}

func TestKilledServerLeavesNothing(t *testing.T) {
	s := startOrSkip(t, runDir(t))
	pid := s.Pid()
	require.NoError(t, s.Proc().Signal(syscall.SIGKILL), "a kill fault")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = s.Proc().Wait(ctx)
	require.NoError(t, s.Close())
	requireGone(t, pid)
}

// requireGone fails unless no process of the server's group (postmaster and
// backends) runs any more.
func requireGone(t *testing.T, pgid int) {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		g, err := syscall.Getpgid(pid)
		if err == nil && g == pgid {
			comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
			t.Errorf("process %d (%s) of postgres's group %d still runs", pid, comm, pgid)
		}
	}
}

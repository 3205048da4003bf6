package pg_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/internal/proctest"
	"github.com/chaosrun/chaosrun/target/debezium/pg"
	"github.com/chaosrun/chaosrun/target/debezium/pg/pgtest"
)

func TestStartConnectStop(t *testing.T) {
	dir := pgtest.Dir(t)
	s := pgtest.Start(t, dir)
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
	proctest.RequireGroupGone(t, pid)

	// A second Start on the same directory reuses the cluster (a restart).
	s2 := pgtest.Start(t, dir)
	conn, err = pgx.Connect(ctx, s2.DSN(pg.Database))
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	pid = s2.Pid()
	require.NoError(t, s2.Close())
	proctest.RequireGroupGone(t, pid)
}

func TestKilledServerLeavesNothing(t *testing.T) {
	s := pgtest.Start(t, "")
	pid := s.Pid()
	require.NoError(t, s.Proc().Signal(syscall.SIGKILL), "a kill fault")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = s.Proc().Wait(ctx)
	require.NoError(t, s.Close())
	proctest.RequireGroupGone(t, pid)
}

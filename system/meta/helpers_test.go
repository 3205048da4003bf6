package meta

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/chaosrun/chaosrun/internal/logtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Process-wide singletons started by etcd and gRPC on first use.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	)
}

// startServer runs an embedded etcd in the test process; it stops when the
// test ends.
func startServer(t testing.TB, dir string) *Server {
	t.Helper()
	log := logtest.New(t)
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := StartServer(context.Background(), ServerConfig{Dir: dir, Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// openStore opens a client store with its own connection, closed at test end.
func openStore(t testing.TB, endpoint string, ttl time.Duration) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := Open(ctx, Config{Endpoints: []string{endpoint}, Cluster: "test", SessionTTL: ttl, Logger: logtest.New(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newSession(t testing.TB, st *Store) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ss, err := st.NewSession(ctx)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = ss.Close(ctx)
	})
	return ss
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

package meta

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/internal/logtest"
)

func TestServerRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t, time.Minute)

	s, err := StartServer(ctx, ServerConfig{Dir: dir, Logger: logtest.New(t)})
	require.NoError(t, err)
	st := openStore(t, s.Endpoint(), 0)
	require.NoError(t, st.CreateChangefeed(ctx, ChangefeedInfo{ID: "cf", Topic: "t", StartTs: 7}))
	e, err := st.BumpEpoch(ctx, "cf", 0, "n1")
	require.NoError(t, err)
	require.Equal(t, uint64(1), e)
	require.NoError(t, st.Close())
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")

	s2 := startServer(t, dir)
	st2 := openStore(t, s2.Endpoint(), 0)
	hist, err := st2.EpochHistory(ctx, "cf")
	require.NoError(t, err)
	require.Len(t, hist, 1)
	require.Equal(t, "n1", hist[0].Node)
	info, _, err := st2.Changefeed(ctx, "cf")
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.Epoch)
}

func TestServerStopsOnContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	readyc := make(chan *Server, 1)
	go func() {
		errc <- RunServer(ctx, ServerConfig{Dir: t.TempDir(), Logger: logtest.New(t)}, func(s *Server) { readyc <- s })
	}()
	var s *Server
	select {
	case s = <-readyc:
	case err := <-errc:
		t.Fatalf("server exited before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server not ready")
	}
	require.NotEmpty(t, s.Addr())
	cancel()
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop after cancel")
	}
}

func TestOpenUnreachable(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	start := time.Now()
	_, err := Open(ctx, Config{Endpoints: []string{"http://127.0.0.1:1"}, DialTimeout: 500 * time.Millisecond})
	require.Error(t, err)
	require.Less(t, time.Since(start), 5*time.Second)
}

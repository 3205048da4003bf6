package upstream

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/chaosrun/chaosrun/internal/logtest"
	"github.com/chaosrun/chaosrun/system/mtls"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	)
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// serve runs Serve in the test process over loopback and returns a client;
// both stop when the test ends (or when stop is called).
func serve(t testing.TB, dir string, tables ...string) (c *Client, stop func()) {
	t.Helper()
	return serveAs(t, ServeConfig{DB: Config{Dir: dir, Tables: tables, Logger: logtest.New(t)}}, nil)
}

// serveAs is serve with cfg, the client presenting client (nil: plaintext,
// as cfg.Identity must then be).
func serveAs(t testing.TB, cfg ServeConfig, client *mtls.Identity) (c *Client, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- Serve(ctx, cfg, func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-errc:
		cancel()
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("serve not ready")
	}
	c, err := Dial(testCtx(t, 10*time.Second), addr, grpc.WithTransportCredentials(client.ClientCreds(Member)))
	require.NoError(t, err)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = c.Close()
			cancel()
			select {
			case err := <-errc:
				require.NoError(t, err)
			case <-time.After(15 * time.Second):
				t.Error("serve did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return c, stop
}

func ins(table string, pk int64, cols map[string]Value) Write {
	return Write{Table: table, PK: pk, Op: OpInsert, Columns: cols}
}

func upd(table string, pk int64, cols map[string]Value) Write {
	return Write{Table: table, PK: pk, Op: OpUpdate, Columns: cols}
}

func del(table string, pk int64) Write { return Write{Table: table, PK: pk, Op: OpDelete} }

func u64(v uint64) *uint64 { return &v }

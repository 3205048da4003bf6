package chaos

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/system/mtls/mtlstest"
)

// TestProbeTLS checks that the tls probe sees a mutual-TLS member server
// answer without holding a certificate, and calls a listener that never
// answers blocked. Loopback only; no namespaces.
func TestProbeTLS(t *testing.T) {
	id := mtlstest.Issue(t, "upstream")["upstream"]
	srv, err := tls.Listen("tcp", "127.0.0.1:0", id.ServerConfig())
	require.NoError(t, err)
	defer srv.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	for _, ln := range []net.Listener{srv, silent} {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				if tc, ok := c.(*tls.Conn); ok {
					_ = tc.Handshake()
				}
				defer c.Close()
			}
		}()
	}
	dial := func(addr string) dialFunc {
		return func(ctx context.Context) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		}
	}
	ctx := context.Background()
	got, err := probe(ctx, dial(srv.Addr().String()), ProbeTLS, 2*time.Second, true)
	require.NoError(t, err)
	assert.Equal(t, Open, got)
	got, err = probe(ctx, dial(silent.Addr().String()), ProbeTLS, 300*time.Millisecond, true)
	assert.Error(t, err)
	assert.Equal(t, Blocked, got)
}

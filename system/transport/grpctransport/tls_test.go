package grpctransport_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/chaosrun/chaosrun/heartbeatpb"
	"github.com/chaosrun/chaosrun/system/mtls"
	"github.com/chaosrun/chaosrun/system/mtls/mtlstest"
	"github.com/chaosrun/chaosrun/system/transport"
	"github.com/chaosrun/chaosrun/system/transport/grpctransport"
	"github.com/chaosrun/chaosrun/system/transport/transporttest"
)

// syncBuffer is a log sink the transport's goroutines may write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newTLSNode(t *testing.T, m *members, id string, ident *mtls.Identity, log *slog.Logger) *grpctransport.Transport {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	m.set(id, ln.Addr().String())
	tr, err := grpctransport.New(grpctransport.Config{ID: id, Listener: ln, Resolve: m.resolve,
		RedialInterval: 20 * time.Millisecond, Identity: ident, Logger: log})
	require.NoError(t, err)
	return tr
}

// TestContractTLS runs the transport contract over mutual TLS, with one
// node under a rejoin id of its member ("b.2" holds b's certificate).
func TestContractTLS(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) (transport.Transport, transport.Transport) {
		ids := mtlstest.Issue(t, "a", "b")
		m := &members{addrs: map[string]string{}}
		return newTLSNode(t, m, "a", ids["a"], nil), newTLSNode(t, m, "b.2", ids["b"], nil)
	})
}

// rawStream opens a PeerService stream to addr the way a node does, but
// with the given credentials and claimed node id, so a test can lie.
func rawStream(ctx context.Context, t *testing.T, addr string, creds credentials.TransportCredentials, claim string) (heartbeatpb.PeerService_StreamClient, func()) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	require.NoError(t, err)
	ctx = metadata.AppendToOutgoingContext(ctx, "chaosrun-node", claim)
	st, err := heartbeatpb.NewPeerServiceClient(conn).Stream(ctx)
	if err != nil {
		conn.Close()
		return nil, func() {}
	}
	return st, func() { conn.Close() }
}

// refused reports whether the receiver ended the stream after one send, as
// it does for a stream it refuses or a connection whose handshake failed.
func refused(t *testing.T, st heartbeatpb.PeerService_StreamClient) codes.Code {
	t.Helper()
	if st == nil {
		return codes.Unavailable
	}
	_ = st.Send(ckpt("b", 1))
	_, err := st.Recv()
	require.Error(t, err, "the receiver must end a refused stream")
	return status.Code(err)
}

// TestTLSRefusesForeignAndMissingCertificates connects to a member with a
// certificate of another CA that names a member, and with none: both are
// refused and nothing is delivered.
func TestTLSRefusesForeignAndMissingCertificates(t *testing.T) {
	defer goleak.VerifyNone(t)
	ids := mtlstest.Issue(t, "a", "b")
	foreign := mtlstest.Issue(t, "a", "b") // same names, another run's CA
	m := &members{addrs: map[string]string{}}
	m.set("a", "127.0.0.1:1") // a is a member; the test speaks for it
	b := newTLSNode(t, m, "b", ids["b"], nil)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	noCert := ids["a"].ClientConfig("b")
	noCert.Certificates = nil
	cases := map[string]credentials.TransportCredentials{
		"foreign certificate": foreign["a"].ClientCreds("b"),
		"no certificate":      credentials.NewTLS(noCert),
		"plaintext":           insecure.NewCredentials(),
	}
	for name, creds := range cases {
		t.Run(name, func(t *testing.T) {
			st, done := rawStream(ctx, t, b.Addr(), creds, "a")
			defer done()
			assert.Equal(t, codes.Unavailable, refused(t, st), "the handshake must fail, not the stream")
		})
	}
	// The same member with the run's certificate gets through.
	st, done := rawStream(ctx, t, b.Addr(), ids["a"].ClientCreds("b"), "a")
	defer done()
	require.NotNil(t, st)
	env := ckpt("b", 7)
	env.From = "a"
	require.NoError(t, st.Send(env))
	select {
	case got := <-b.Recv():
		assert.Equal(t, uint64(7), got.GetSeq(), "only the run member's envelope arrives")
	case <-ctx.Done():
		require.FailNow(t, "a member with the run's certificate was not heard")
	}
}

// TestTLSRejectsLyingSender has member c speak for member a: a stream that
// claims a is refused, and on c's own stream an envelope whose from says a
// is dropped; both are logged and only c's honest envelope arrives.
func TestTLSRejectsLyingSender(t *testing.T) {
	defer goleak.VerifyNone(t)
	ids := mtlstest.Issue(t, "a", "b", "c")
	m := &members{addrs: map[string]string{"a": "127.0.0.1:1", "c": "127.0.0.1:1"}}
	var logs syncBuffer
	b := newTLSNode(t, m, "b", ids["b"], slog.New(slog.NewTextHandler(&logs, nil)))
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	st, done := rawStream(ctx, t, b.Addr(), ids["c"].ClientCreds("b"), "a")
	assert.Equal(t, codes.PermissionDenied, refused(t, st), "a stream claiming another member's node")
	done()

	st, done = rawStream(ctx, t, b.Addr(), ids["c"].ClientCreds("b"), "c")
	defer done()
	require.NotNil(t, st)
	lie, honest := ckpt("b", 1), ckpt("b", 2)
	lie.From, honest.From = "a", "c"
	require.NoError(t, st.Send(lie))
	require.NoError(t, st.Send(honest))
	select {
	case got := <-b.Recv():
		assert.Equal(t, "c", got.GetFrom())
		assert.Equal(t, uint64(2), got.GetSeq(), "the lying envelope must not arrive")
	case <-ctx.Done():
		require.FailNow(t, "the honest envelope did not arrive")
	}
	out := logs.String()
	assert.Contains(t, out, "refused stream: sender does not match its certificate")
	assert.Contains(t, out, "certificate=c")
	assert.Contains(t, out, "rejected envelope: sender or receiver is not the stream's")
	assert.Contains(t, out, "from=a")
}

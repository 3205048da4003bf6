package mtls_test

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/system/mtls"
	"github.com/chaosrun/chaosrun/system/mtls/mtlstest"
)

// handshake runs one TLS handshake between a client and a server config
// over loopback and returns each side's error.
func handshake(t *testing.T, client, server *tls.Config) (clientErr, serverErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(5 * time.Second))
		ts := tls.Server(s, server)
		err = ts.Handshake()
		if err == nil {
			// TLS 1.3 clients finish first; read so a rejected client
			// certificate surfaces on the server side.
			_, err = ts.Read(make([]byte, 1))
		}
		s.Close()
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	tc := tls.Client(c, client)
	clientErr = tc.Handshake()
	if clientErr == nil {
		_, _ = tc.Write([]byte{1})
	}
	c.Close()
	return clientErr, <-done
}

func TestIssueWritesOwnerOnlyKeysAndNoCAKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	require.NoError(t, mtls.Issue(dir, "meta", "n1"))
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"ca.pem", "meta.pem", "meta.key", "n1.pem", "n1.key"}, names, "the CA key is never written")
	_, key := mtls.CertFiles(dir, "n1")
	kst, err := os.Stat(key)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), kst.Mode().Perm())
	id, err := mtls.Load(dir, "n1")
	require.NoError(t, err)
	assert.Equal(t, "n1", id.Name)
}

func TestIssueRejectsBadNames(t *testing.T) {
	for _, m := range []string{"", "n1.2", "../x", "a/b"} {
		assert.Error(t, mtls.Issue(t.TempDir(), m), "%q", m)
	}
}

// TestHandshakes checks who gets through: members of the run both ways,
// and nobody else — another run's CA, no client certificate, or a member
// answering for another member's name.
func TestHandshakes(t *testing.T) {
	run, other := mtlstest.Issue(t, "n1", "n2", "n3"), mtlstest.Issue(t, "n1", "n2")
	n1, n2, n3 := run["n1"], run["n2"], run["n3"]

	cErr, sErr := handshake(t, n1.ClientConfig("n2"), n2.ServerConfig())
	require.NoError(t, cErr)
	require.NoError(t, sErr)

	noCert := n1.ClientConfig("n2")
	noCert.Certificates = nil
	cases := map[string]struct{ client, server *tls.Config }{
		"foreign client":     {other["n1"].ClientConfig("n2"), n2.ServerConfig()},
		"no client cert":     {noCert, n2.ServerConfig()},
		"foreign server":     {n1.ClientConfig("n2"), other["n2"].ServerConfig()},
		"impostor member n3": {n1.ClientConfig("n2"), n3.ServerConfig()},
	}
	for name, c := range cases {
		cErr, sErr := handshake(t, c.client, c.server)
		assert.True(t, cErr != nil || sErr != nil, "%s got through", name)
	}
}

func TestMember(t *testing.T) {
	assert.Equal(t, "n1", mtls.Member("n1"))
	assert.Equal(t, "n1", mtls.Member("n1.2"))
	assert.Equal(t, "n1", mtls.Member("n1.r7"))
}

package meta

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chaosrun/chaosrun/internal/logtest"
	"github.com/chaosrun/chaosrun/system/mtls/mtlstest"
)

// TestServerMutualTLS serves etcd with the run's certificate and reads it
// as a member, with another CA's certificate, with none and in plaintext:
// only the member gets an answer.
func TestServerMutualTLS(t *testing.T) {
	run, other := mtlstest.Issue(t, Member, "n1"), mtlstest.Issue(t, Member, "n1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := StartServer(ctx, ServerConfig{Dir: t.TempDir(), Identity: run[Member], Logger: logtest.New(t)})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.Contains(t, s.Endpoint(), "https://")

	st, err := Open(ctx, Config{Endpoints: []string{s.Endpoint()}, Cluster: "tls", Identity: run["n1"]})
	require.NoError(t, err, "a member is served")
	require.NoError(t, st.Close())

	get := func(endpoint string, cfg *tls.Config) error {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: time.Second, TLS: cfg, Logger: zap.NewNop()})
		if err != nil {
			return err
		}
		defer cli.Close()
		gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err = cli.Get(gctx, "/chaosrun/probe")
		return err
	}
	noCert := run["n1"].ClientConfig(Member)
	noCert.Certificates = nil
	assert.Error(t, get(s.Endpoint(), other["n1"].ClientConfig(Member)), "foreign certificate")
	assert.Error(t, get(s.Endpoint(), noCert), "no certificate")
	assert.Error(t, get(Endpoint(s.Addr(), false), nil), "plaintext")
}

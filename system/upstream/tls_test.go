package upstream

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/chaosrun/chaosrun/internal/logtest"
	"github.com/chaosrun/chaosrun/system/mtls/mtlstest"
)

// TestServeMutualTLS serves the upstream with the run's certificate and
// calls it as a member, with another CA's certificate, with none and in
// plaintext: only the member is served.
func TestServeMutualTLS(t *testing.T) {
	run, other := mtlstest.Issue(t, Member, "n1"), mtlstest.Issue(t, Member, "n1")
	ctx, cancel := context.WithCancel(context.Background())
	addrc, errc := make(chan string, 1), make(chan error, 1)
	go func() {
		cfg := ServeConfig{DB: Config{Dir: t.TempDir(), Tables: []string{"t1"}, Logger: logtest.New(t)}, Identity: run[Member]}
		errc <- Serve(ctx, cfg, func(a string) { addrc <- a })
	}()
	defer func() {
		cancel()
		require.NoError(t, <-errc)
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-errc:
		require.NoError(t, err)
	}

	call := func(creds credentials.TransportCredentials) error {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		c, err := Dial(cctx, addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.GetTS(cctx)
		return err
	}
	require.NoError(t, call(run["n1"].ClientCreds(Member)), "a member is served")
	noCert := run["n1"].ClientConfig(Member)
	noCert.Certificates = nil
	for name, creds := range map[string]credentials.TransportCredentials{
		"foreign certificate": other["n1"].ClientCreds(Member),
		"no certificate":      credentials.NewTLS(noCert),
		"plaintext":           insecure.NewCredentials(),
	} {
		assert.Error(t, call(creds), name)
	}
}

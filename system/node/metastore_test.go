package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/system/meta"
	"github.com/chaosrun/chaosrun/system/roles"
	"github.com/chaosrun/chaosrun/system/roles/metaeffect"
	"github.com/chaosrun/chaosrun/system/roles/metaeffect/metaeffecttest"
)

// TestMetaStoreContract runs the effect store contract against an embedded
// etcd, one cluster prefix per case so that every case starts empty.
func TestMetaStoreContract(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := meta.StartServer(ctx, meta.ServerConfig{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })

	metaeffecttest.Run(t, func(t *testing.T) metaeffecttest.Target {
		cluster := strings.NewReplacer("/", "-").Replace(t.Name())
		st, err := meta.Open(ctx, meta.Config{Endpoints: []string{srv.Endpoint()}, Cluster: cluster})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		var owner *meta.Session
		return metaeffecttest.Target{
			Create: func(t *testing.T, info roles.ChangefeedInfo) {
				var tables []string
				for _, id := range info.Tables {
					tables = append(tables, TableName(id))
				}
				require.NoError(t, st.CreateChangefeed(ctx, meta.ChangefeedInfo{ID: info.ID, Topic: TopicOf(info.ID),
					Tables: tables, StartTs: info.Checkpoint, Epoch: info.Epoch}))
			},
			Elect: func(t *testing.T, node string) (metaeffect.Store, int64) {
				if owner != nil {
					require.NoError(t, owner.Resign(ctx))
				}
				sess, err := st.NewSession(ctx)
				require.NoError(t, err)
				t.Cleanup(func() { _ = sess.Close(context.Background()) })
				o, err := sess.Campaign(ctx, node)
				require.NoError(t, err)
				owner = sess
				return metaStore{store: st, node: node, ownerKey: o.Key}, o.Rev
			},
			Bystander: func(_ *testing.T, node string) metaeffect.Store { return metaStore{store: st, node: node} },
		}
	})
}

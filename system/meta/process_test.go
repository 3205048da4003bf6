package meta

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/internal/proctest"
)

// TestMetaProcess runs the meta store as its own OS process through the
// hidden subcommand and checks the fencing-relevant behaviour against it:
// lease expiry hands ownership over, the deposed owner's checkpoint write is
// refused by etcd, epoch history persists across a restart.
func TestMetaProcess(t *testing.T) {
	bin := proctest.BuildOrSkip(t)
	dir := t.TempDir()
	ctx := testCtx(t, 2*time.Minute)

	p := proctest.Start(t, bin, "meta", "--dir", dir, "--listen", "127.0.0.1:0")
	ep := "http://" + p.Ready("addr")
	const ttl = 2 * time.Second
	stA, stB := openStore(t, ep, ttl), openStore(t, ep, ttl)
	a, b := newSession(t, stA), newSession(t, stB)
	require.NoError(t, stA.CreateChangefeed(ctx, ChangefeedInfo{ID: "cf", StartTs: 1}))

	oa, err := a.Campaign(ctx, "a")
	require.NoError(t, err)
	_, err = stA.BumpEpoch(ctx, "cf", 0, "a")
	require.NoError(t, err)
	require.NoError(t, stA.SaveCheckpoint(ctx, "cf", 10, oa.Key, oa.Rev, true))

	bc := campaignAsync(ctx, b, "b")
	ob := takeOver(t, a, bc, ttl)
	_, err = stB.BumpEpoch(ctx, "cf", 0, "b")
	require.NoError(t, err)
	require.ErrorIs(t, stA.SaveCheckpoint(ctx, "cf", 20, oa.Key, oa.Rev, true), ErrDeposed)
	require.NoError(t, stB.SaveCheckpoint(ctx, "cf", 15, ob.Key, ob.Rev, true))

	require.NoError(t, p.Signal(syscall.SIGTERM))
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, p.Wait(wctx), "clean exit on SIGTERM; stderr:\n%s", p.Stderr())

	p2 := proctest.Start(t, bin, "meta", "--dir", dir)
	st := openStore(t, "http://"+p2.Ready("addr"), 0)
	hist, err := st.EpochHistory(ctx, "cf")
	require.NoError(t, err)
	require.Equal(t, []evidence.Epoch{{Changefeed: "cf", Epoch: 1, Node: "a"}, {Changefeed: "cf", Epoch: 2, Node: "b"}}, stripVolatile(hist))
	status, err := st.Status(ctx, "cf")
	require.NoError(t, err)
	require.Equal(t, uint64(15), status.CheckpointTs)
}

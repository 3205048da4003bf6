package meta

import (
	"encoding/json"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/evidence"
)

func TestBumpEpochMonotonicUnderConcurrentCallers(t *testing.T) {
	srv := startServer(t, "")
	ctx := testCtx(t, 2*time.Minute)
	st := openStore(t, srv.Endpoint(), 0)
	require.NoError(t, st.CreateChangefeed(ctx, ChangefeedInfo{ID: "cf", Topic: "topic", Tables: []string{"t1"}}))

	const callers, perCaller = 6, 5
	stores := make([]*Store, callers)
	for i := range stores {
		stores[i] = openStore(t, srv.Endpoint(), 0) // one connection per node
	}
	got := make([][]uint64, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			for range perCaller {
				e, err := stores[i].BumpEpoch(ctx, "cf", 0, "n"+string(rune('a'+i)))
				if !assertNoError(t, err) {
					return
				}
				got[i] = append(got[i], e)
			}
		})
	}
	wg.Wait()

	var all []uint64
	for i, es := range got {
		require.Len(t, es, perCaller)
		require.True(t, sort.SliceIsSorted(es, func(a, b int) bool { return es[a] < es[b] }), "caller %d saw %v", i, es)
		all = append(all, es...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	for i, e := range all {
		require.Equal(t, uint64(i+1), e, "epochs are distinct and gap-free with candidate 0")
	}

	hist, err := st.EpochHistory(ctx, "cf")
	require.NoError(t, err)
	require.Len(t, hist, callers*perCaller)
	for i, r := range hist {
		require.Equal(t, uint64(i+1), r.Epoch)
		require.Equal(t, "cf", r.Changefeed)
		require.NotEmpty(t, r.Node)
		require.False(t, r.GrantedAt.IsZero())
		if i > 0 {
			require.Greater(t, r.Revision, hist[i-1].Revision, "history order = grant order")
		}
	}
	info, _, err := st.Changefeed(ctx, "cf")
	require.NoError(t, err)
	require.Equal(t, uint64(callers*perCaller), info.Epoch)
	require.Equal(t, "topic", info.Topic, "bump preserves the other fields")

	// A candidate above the persisted epoch is taken as is; below, persisted+1.
	e, err := st.BumpEpoch(ctx, "cf", 1000, "x")
	require.NoError(t, err)
	require.Equal(t, uint64(1000), e)
	e, err = st.BumpEpoch(ctx, "cf", 5, "x")
	require.NoError(t, err)
	require.Equal(t, uint64(1001), e)

	_, err = st.BumpEpoch(ctx, "missing", 0, "x")
	require.ErrorIs(t, err, ErrChangefeedNotFound)
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("unexpected error: %v", err)
		return false
	}
	return true
}

func TestBumpEpochPreservesUnknownFields(t *testing.T) {
	srv := startServer(t, "")
	ctx := testCtx(t, time.Minute)
	st := openStore(t, srv.Endpoint(), 0)
	_, err := st.Client().Put(ctx, st.infoKey("cf"), `{"id":"cf","epoch":3,"future_field":{"x":1}}`)
	require.NoError(t, err)
	e, err := st.BumpEpoch(ctx, "cf", 0, "n")
	require.NoError(t, err)
	require.Equal(t, uint64(4), e)
	resp, err := st.Client().Get(ctx, st.infoKey("cf"))
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(resp.Kvs[0].Value, &raw))
	require.Equal(t, map[string]any{"x": float64(1)}, raw["future_field"])
	require.Equal(t, float64(4), raw["epoch"])
}

func TestSaveCheckpoint(t *testing.T) {
	srv := startServer(t, "")
	ctx := testCtx(t, time.Minute)
	st := openStore(t, srv.Endpoint(), 0)
	ss := newSession(t, st)
	require.NoError(t, st.CreateChangefeed(ctx, ChangefeedInfo{ID: "cf", StartTs: 100}))
	o, err := ss.Campaign(ctx, "n1")
	require.NoError(t, err)

	status := func() uint64 {
		s, err := st.Status(ctx, "cf")
		require.NoError(t, err)
		return s.CheckpointTs
	}
	require.Equal(t, uint64(100), status(), "created with checkpoint = start ts")
	require.NoError(t, st.SaveCheckpoint(ctx, "cf", 200, o.Key, o.Rev, true))
	require.Equal(t, uint64(200), status())
	require.NoError(t, st.SaveCheckpoint(ctx, "cf", 150, o.Key, o.Rev, true), "older ts is a no-op")
	require.Equal(t, uint64(200), status(), "checkpoint only moves forward")

	require.ErrorIs(t, st.SaveCheckpoint(ctx, "cf", 300, "", 0, true), ErrNotOwner)
	require.ErrorIs(t, st.SaveCheckpoint(ctx, "cf", 300, st.infoKey("cf"), 1, true), ErrInvalid)
	require.ErrorIs(t, st.SaveCheckpoint(ctx, "cf", 300, o.Key, o.Rev+1, true), ErrDeposed)
	require.ErrorIs(t, st.SaveCheckpoint(ctx, "nope", 300, o.Key, o.Rev, true), ErrChangefeedNotFound)
	require.Equal(t, uint64(200), status())

	// After resigning, the same owner revision is refused, directly in etcd.
	require.NoError(t, ss.Resign(ctx))
	require.ErrorIs(t, st.SaveCheckpoint(ctx, "cf", 300, o.Key, o.Rev, true), ErrDeposed)
	require.Equal(t, uint64(200), status())

	// Concurrent writers: the result is the maximum.
	o2, err := ss.Campaign(ctx, "n1")
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			assertNoError(t, st.SaveCheckpoint(ctx, "cf", uint64(1000+i), o2.Key, o2.Rev, true))
		})
	}
	wg.Wait()
	require.Equal(t, uint64(1007), status())
}

func TestChangefeedLifecycle(t *testing.T) {
	srv := startServer(t, "")
	ctx := testCtx(t, time.Minute)
	st := openStore(t, srv.Endpoint(), 0)
	require.NoError(t, st.CreateChangefeed(ctx, ChangefeedInfo{ID: "b", Epoch: 5}))
	require.NoError(t, st.CreateChangefeed(ctx, ChangefeedInfo{ID: "a"}))
	require.ErrorIs(t, st.CreateChangefeed(ctx, ChangefeedInfo{ID: "a"}), ErrChangefeedExists)
	require.ErrorIs(t, st.CreateChangefeed(ctx, ChangefeedInfo{ID: "x/y"}), ErrInvalid)
	_, _, err := st.Changefeed(ctx, "zz")
	require.ErrorIs(t, err, ErrChangefeedNotFound)

	cfs, err := st.Changefeeds(ctx)
	require.NoError(t, err)
	require.Len(t, cfs, 2)
	require.Equal(t, "a", cfs[0].ID)

	_, err = st.BumpEpoch(ctx, "a", 0, "n1")
	require.NoError(t, err)
	_, err = st.BumpEpoch(ctx, "b", 0, "n2")
	require.NoError(t, err)

	hist, err := st.EpochHistory(ctx, "")
	require.NoError(t, err)
	require.Equal(t, []evidence.Epoch{
		{Changefeed: "a", Epoch: 1, Node: "n1"},
		{Changefeed: "b", Epoch: 5, Node: ""},
		{Changefeed: "b", Epoch: 6, Node: "n2"},
	}, stripVolatile(hist))

	require.NoError(t, st.RemoveChangefeed(ctx, "b"))
	require.ErrorIs(t, st.RemoveChangefeed(ctx, "b"), ErrChangefeedNotFound)
	hist, err = st.EpochHistory(ctx, "b")
	require.NoError(t, err)
	require.Len(t, hist, 2, "history survives removal")
}

func stripVolatile(rs []evidence.Epoch) []evidence.Epoch {
	out := make([]evidence.Epoch, len(rs))
	for i, r := range rs {
		r.GrantedAt, r.Revision = time.Time{}, 0
		out[i] = r
	}
	return out
}

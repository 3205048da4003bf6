package meta

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type campaignResult struct {
	owner Owner
	err   error
}

func campaignAsync(ctx context.Context, ss *Session, node string) <-chan campaignResult {
	ch := make(chan campaignResult, 1)
	go func() {
		o, err := ss.Campaign(ctx, node)
		ch <- campaignResult{o, err}
	}()
	return ch
}

// takeOver cuts a off from etcd, so that its keepalives stop and its lease
// expires, and returns what b's pending campaign bc wins; it fails the test
// unless b wins within ttl + 5 s.
func takeOver(t testing.TB, a *Session, bc <-chan campaignResult, ttl time.Duration) Owner {
	t.Helper()
	a.orphan()
	select {
	case r := <-bc:
		require.NoError(t, r.err)
		return r.owner
	case <-time.After(ttl + 5*time.Second):
		t.Fatal("b did not win within TTL + 5 s of a's lease going silent")
		return Owner{}
	}
}

func TestElectionTwoSessions(t *testing.T) {
	srv := startServer(t, "")
	ctx := testCtx(t, time.Minute)
	stA, stB := openStore(t, srv.Endpoint(), 0), openStore(t, srv.Endpoint(), 0)
	a, b := newSession(t, stA), newSession(t, stB)

	_, err := stA.Owner(ctx)
	require.ErrorIs(t, err, ErrNoOwner)
	require.ErrorIs(t, a.Resign(ctx), ErrNotOwner)

	oa, err := a.Campaign(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "a", oa.Node)
	require.Positive(t, oa.Rev)

	bc := campaignAsync(ctx, b, "b")
	obs := b.ObserveOwner(ctx)
	require.Equal(t, oa, <-obs)
	select {
	case r := <-bc:
		t.Fatalf("b won while a holds the owner key: %+v", r)
	case <-time.After(300 * time.Millisecond): // negative check: b must stay blocked
	}
	cur, err := stB.Owner(ctx)
	require.NoError(t, err)
	require.Equal(t, oa, cur)

	require.NoError(t, a.Resign(ctx))
	var ob Owner
	select {
	case r := <-bc:
		require.NoError(t, r.err)
		ob = r.owner
	case <-ctx.Done():
		t.Fatal("b did not win after a resigned")
	}
	require.Equal(t, "b", ob.Node)
	require.Greater(t, ob.Rev, oa.Rev, "a later owner generation has a higher revision")
	require.Eventually(t, func() bool {
		select {
		case o := <-obs:
			return o == ob
		default:
			return false
		}
	}, 10*time.Second, 10*time.Millisecond)
}

func TestLeaseExpiryHandsOwnershipOver(t *testing.T) {
	srv := startServer(t, "")
	ctx := testCtx(t, time.Minute)
	const ttl = 2 * time.Second
	stA, stB := openStore(t, srv.Endpoint(), ttl), openStore(t, srv.Endpoint(), ttl)
	a, b := newSession(t, stA), newSession(t, stB)
	require.NoError(t, a.RegisterCapture(ctx, CaptureInfo{ID: "a", Addr: "127.0.0.1:1"}))
	require.NoError(t, b.RegisterCapture(ctx, CaptureInfo{ID: "b", Addr: "127.0.0.1:2"}))
	require.NoError(t, stA.CreateChangefeed(ctx, ChangefeedInfo{ID: "cf", StartTs: 1}))

	oa, err := a.Campaign(ctx, "a")
	require.NoError(t, err)
	require.NoError(t, stA.SaveCheckpoint(ctx, "cf", 10, oa.Key, oa.Rev, true))
	bc := campaignAsync(ctx, b, "b")

	cut := time.Now()
	ob := takeOver(t, a, bc, ttl)
	t.Logf("b won %s after a went silent", time.Since(cut))
	require.Equal(t, "b", ob.Node)
	select {
	case <-a.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a's session not done after its lease expired")
	}
	caps, _, err := stB.Captures(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"b"}, captureIDs(caps), "a's capture key went with its lease")

	// The deposed owner still believes it owns: the revision compare stops it.
	err = stA.SaveCheckpoint(ctx, "cf", 20, oa.Key, oa.Rev, true)
	require.ErrorIs(t, err, ErrDeposed)
	require.ErrorIs(t, err, ErrNotOwner)
	st, err := stB.Status(ctx, "cf")
	require.NoError(t, err)
	require.Equal(t, uint64(10), st.CheckpointTs)

	// The new owner writes; an unguarded (fencing off) stale write also lands.
	require.NoError(t, stB.SaveCheckpoint(ctx, "cf", 15, ob.Key, ob.Rev, true))
	require.NoError(t, stA.SaveCheckpoint(ctx, "cf", 30, oa.Key, oa.Rev, false))
	st, err = stB.Status(ctx, "cf")
	require.NoError(t, err)
	require.Equal(t, uint64(30), st.CheckpointTs)

	// Campaigning on the dead session fails instead of winning.
	_, err = a.Campaign(testCtx(t, 5*time.Second), "a")
	require.Error(t, err)
}

func captureIDs(cs []CaptureInfo) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func TestCapturesAndWatch(t *testing.T) {
	srv := startServer(t, "")
	ctx := testCtx(t, time.Minute)
	st := openStore(t, srv.Endpoint(), 0)
	w := st.WatchCaptures(ctx)
	require.Empty(t, <-w)

	s1, s2 := newSession(t, st), newSession(t, st)
	require.NoError(t, s1.RegisterCapture(ctx, CaptureInfo{ID: "n1", StartedAt: time.Now()}))
	require.NoError(t, s2.RegisterCapture(ctx, CaptureInfo{ID: "n2", StartedAt: time.Now()}))
	waitCaptures(t, w, []string{"n1", "n2"})

	require.NoError(t, s1.Close(ctx)) // revokes the lease: n1 leaves at once
	waitCaptures(t, w, []string{"n2"})
	require.ErrorIs(t, s2.RegisterCapture(ctx, CaptureInfo{ID: "a/b"}), ErrInvalid)
}

func waitCaptures(t *testing.T, w <-chan []CaptureInfo, want []string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case cs := <-w:
			if slices.Equal(captureIDs(cs), want) {
				return
			}
		case <-deadline:
			t.Fatalf("captures never became %v", want)
		}
	}
}

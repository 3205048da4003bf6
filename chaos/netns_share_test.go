package chaos

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNetnsShare: a namespace of one network (a sweep's Kafka) shared with
// another (a run) is reached from the run's namespaces made before and after
// the share, and not from a third network that did not share it; closing the
// run leaves the shared namespace as it was.
func TestNetnsShare(t *testing.T) {
	ctx := context.Background()
	srun, _, sledger, snet := newRunNetwork(ctx, t)
	closeRunNetwork(t, srun, sledger, snet)
	svc, err := snet.Add(ctx, "kafka")
	require.NoError(t, err)
	addr := net.JoinHostPort(svc.Addr.String(), "7000")
	startHelper(t, svc.Command, envEcho+"="+addr)
	before, err := linkNames(ctx, svc.Name)
	require.NoError(t, err)

	run, dir, ledger, nw := newRunNetwork(ctx, t)
	early, err := nw.Add(ctx, "n1")
	require.NoError(t, err)
	require.NoError(t, nw.Share(ctx, svc))
	late, err := nw.Add(ctx, "n2")
	require.NoError(t, err)
	for _, ns := range []*Namespace{early, late} {
		assert.NoError(t, echoOnce(ns.Name, addr, 2*time.Second), "%s reaches the shared namespace", ns.Proc)
		// Towards the run it speaks with its own address, which cuts match.
		route, err := ip(ctx, "-n", svc.Name, "route", "get", ns.Addr.String())
		require.NoError(t, err)
		assert.Contains(t, route, " src "+svc.Addr.String()+" ")
	}
	entries, _, err := readRunLedger(dir)
	require.NoError(t, err)
	assert.True(t, slices.ContainsFunc(entries, func(e Entry) bool {
		return e.Op == LedgerIntent && e.Kind == EntryVeth && e.Netns == hubName(run) && e.Name == vethName(run, sharedIdx)
	}), "the link is in the ledger before it exists")

	orun, _, oledger, onet := newRunNetwork(ctx, t)
	closeRunNetwork(t, orun, oledger, onet)
	other, err := onet.Add(ctx, "n1")
	require.NoError(t, err)
	assert.Error(t, echoOnce(other.Name, addr, 300*time.Millisecond), "a network that did not share it has no route")

	require.NoError(t, nw.Close(ctx))
	assertNoLeftovers(t, run)
	require.NoError(t, ledger.Close())
	after, err := linkNames(ctx, svc.Name)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the run's end of the link went with its hub")
}

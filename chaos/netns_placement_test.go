package chaos

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestNetnsPlacement starts an echo server in a namespace the way
// system/cluster starts processes (Command, Host, PeerPort) and checks that
// the harness reaches it over the uplink, that another namespace reaches
// it over the bridge, and that an unplaced process cannot start.
func TestNetnsPlacement(t *testing.T) {
	ctx := context.Background()
	run, _, ledger, nw := newRunNetwork(ctx, t)
	closeRunNetwork(t, run, ledger, nw)
	pl, err := NewNetnsPlacement(ctx, nw, "a", "b")
	require.NoError(t, err)
	require.Equal(t, addrN(nw.Prefix(), uplinkIdx), pl.Uplink())
	up, err := nw.Uplink(ctx)
	require.NoError(t, err, "Uplink is idempotent")
	require.Equal(t, pl.Uplink(), up)

	port, err := pl.PeerPort("a")
	require.NoError(t, err)
	addr := net.JoinHostPort(pl.Host("a"), strconv.Itoa(port))
	inA := func(ctx context.Context, name string, args ...string) *exec.Cmd {
		return pl.Command(ctx, "a", name, args...)
	}
	startHelper(t, inA, envEcho+"="+addr)
	nsB, ok := pl.Namespace("b")
	require.True(t, ok)
	require.NoError(t, echoOnce("", addr, 2*time.Second), "harness -> a over the uplink")
	require.NoError(t, echoOnce(nsB.Name, addr, 2*time.Second), "b -> a over the bridge")

	// Listen binds where the process runs; the harness reaches it too.
	l, err := pl.Listen("b", net.JoinHostPort(pl.Host("b"), "0"))
	require.NoError(t, err)
	go serveEcho(l)
	require.NoError(t, echoOnce("", l.Addr().String(), 2*time.Second))
	require.NoError(t, l.Close())
	_, err = net.Listen("tcp", net.JoinHostPort(pl.Host("b"), "0"))
	require.Error(t, err, "a namespace's address is not bindable from the root namespace")

	// The uplink is recorded before it is made, and named for clean.
	entries, err := ReadLedger(ledger.Path())
	require.NoError(t, err)
	require.Contains(t, entriesOf(entries, EntryVeth), uplinkName(run))
	require.True(t, linkOfRun.MatchString(uplinkName(run)))
	require.LessOrEqual(t, len(uplinkName(run)), 15)

	// A process without a namespace fails loudly instead of running in the
	// root namespace.
	require.True(t, strings.HasSuffix(pl.Host("zzz"), ".invalid"))
	require.Error(t, pl.Command(ctx, "zzz", "true").Start())
	_, err = pl.PeerPort("zzz")
	require.Error(t, err)
	_, err = pl.Listen("zzz", "127.0.0.1:0")
	require.Error(t, err)

	// Close removes the uplink (then everything else) and is idempotent.
	require.NoError(t, pl.Close(ctx))
	links, err := ip(ctx, "-o", "link", "show")
	require.NoError(t, err)
	require.NotContains(t, links, uplinkName(run))
	_, err = nw.Uplink(ctx)
	require.Error(t, err, "no uplink on a closed network")
}

// TestCleanRemovesUplink leaves a network with its uplink behind, as a
// crashed harness would, and checks that clean of the run directory
// removes it with everything else.
func TestCleanRemovesUplink(t *testing.T) {
	ctx := context.Background()
	run, dir, ledger, nw := newRunNetwork(ctx, t)
	t.Cleanup(func() { _ = nw.Close(context.Background()) }) // NB: only if the test fails midway
	_, err := NewNetnsPlacement(ctx, nw, "a")
	require.NoError(t, err)
	require.NoError(t, ledger.Close())

	rep, err := Clean(ctx, CleanOptions{RunDir: dir, Force: true, Logger: testLogger(t)})
	require.NoError(t, err)
	var removed []string
	for _, a := range rep.Actions {
		removed = append(removed, a.Name)
	}
	require.Contains(t, removed, vethName(run, uplinkIdx), "the uplink's hub end goes with the hub")
	assertNoLeftovers(t, run)
}

// entriesOf returns the names of the ledger's intents of kind.
func entriesOf(entries []Entry, kind string) []string {
	var out []string
	for _, e := range entries {
		if e.Op == LedgerIntent && e.Kind == kind {
			out = append(out, e.Name)
		}
	}
	return out
}

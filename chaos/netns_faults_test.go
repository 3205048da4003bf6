package chaos

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// noLeaks fails the test if it leaves goroutines behind (queue handlers
// included). Call it first: its check then runs after every other cleanup.
func noLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// echoTook dials addr from namespace ns and times one echo round trip,
// handshake included.
func echoTook(ns, addr string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	err := echoOnce(ns, addr, timeout)
	return time.Since(start), err
}

// counterSum sums the packets of the counters whose What contains sub.
// requireDelayed requires the two probes of a delayed link, one each way,
// to get through but no faster than d.
func requireDelayed(t *testing.T, obs Observation, d time.Duration) {
	t.Helper()
	require.Len(t, obs.Probes, 2)
	for _, p := range obs.Probes {
		require.Equal(t, Open, p.Got, p.Link)
		require.GreaterOrEqual(t, p.Took, d, p.Link)
	}
}

func counterSum(obs Observation, sub string) uint64 {
	var n uint64
	for _, c := range obs.Counters {
		if strings.Contains(c.What, sub) {
			n += c.Packets
		}
	}
	return n
}

// queueBound reports whether queue num is bound in namespace ns.
func queueBound(t *testing.T, ns string, num uint16) bool {
	t.Helper()
	_, err := readQueueProc(ns, num)
	if err != nil {
		require.ErrorContains(t, err, "not bound")
		return false
	}
	return true
}

// holdConn is an echo connection between two processes, opened before a
// fault.
type holdConn struct{ c net.Conn }

func (fx *netnsFixture) conn(t *testing.T, from, to string) holdConn {
	t.Helper()
	f, _ := fx.top.Process(from)
	p, _ := fx.top.Process(to)
	c, err := dialInNetns(context.Background(), f.Namespace, p.Endpoints[0].Addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return holdConn{c}
}

// echo requires msg to come back within a second.
func (h holdConn) echo(t *testing.T, msg string) {
	t.Helper()
	_, err := h.c.Write([]byte(msg))
	require.NoError(t, err)
	got, err := h.read(len(msg), time.Second)
	require.NoError(t, err)
	require.Equal(t, msg, got)
}

// stalls writes msg, which must succeed, and requires that nothing comes
// back within 300 ms: the fault holds the data rather than refusing it.
func (h holdConn) stalls(t *testing.T, msg string) {
	t.Helper()
	_, err := h.c.Write([]byte(msg))
	require.NoError(t, err, "writes still succeed: the data is held, not refused")
	_, err = h.read(len(msg), 300*time.Millisecond)
	require.True(t, isTimeout(err), "nothing may arrive while held, got %v", err)
}

// read reads n bytes within d.
func (h holdConn) read(n int, d time.Duration) (string, error) {
	_ = h.c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, n)
	_, err := io.ReadFull(h.c, buf)
	return string(buf), err
}

// TestNetnsHold holds a's traffic with b and c: connects across it do not
// complete, data written on an established connection does not arrive, the
// handler counts held packets; after heal the kernel had them all, they
// are released in order (the connection delivers exactly what was written
// and carries on), every link is open, and rules and queue are gone.
func TestNetnsHold(t *testing.T) {
	noLeaks(t)
	fx := newNetnsFixture(t)
	ctx := context.Background()
	conn := fx.conn(t, "b", "a")
	conn.echo(t, "before")

	g := fx.guard(t)
	require.NoError(t, g.Prepare(ctx))
	require.NoError(t, g.Inject(ctx, Spec{ID: "h1", Kind: KindHold, Target: "node:1", Links: []string{LinkPeers}}))
	msg := "during-1|during-2|during-3"
	conn.stalls(t, msg)

	obs := verifyOK(ctx, t, g)
	for _, p := range obs.Probes {
		require.Equal(t, Blocked, p.Got, p.Link)
	}
	require.Len(t, obs.Probes, 4)
	held := counterSum(obs, " held")
	require.Positive(t, held, "the handler must count held packets")
	require.Positive(t, counterSum(obs, "NFQUEUE"), "the rules must count queued packets")
	require.Equal(t, map[string]bool{"a->b": false, "a->c": false, "b->a": false, "c->a": false, "b->c": true, "c->b": true}, fx.matrix())

	a, _ := fx.top.Process("a")
	num, err := fx.net.queueNum("h1")
	require.NoError(t, err)
	save, err := iptablesSave(ctx, a.Namespace)
	require.NoError(t, err)
	require.Equal(t, 4, strings.Count(save, "-j NFQUEUE --queue-num "+strconv.Itoa(int(num))), save)
	require.NotContains(t, save, "queue-bypass")
	require.True(t, queueBound(t, a.Namespace, num))

	require.NoError(t, g.Heal(ctx))
	got, err := conn.read(len(msg), 2*time.Second)
	require.NoError(t, err, "held data must arrive after the heal on the same connection")
	require.Equal(t, msg, got, "in order, nothing lost")
	conn.echo(t, "after")

	obs = verifyOK(ctx, t, g)
	released := counterSum(obs, "released at heal")
	heldTotal := counterSum(obs, " held")
	require.GreaterOrEqual(t, released, heldTotal, "every packet the handler saw held was still queued at heal")
	require.Positive(t, released)
	require.Equal(t, allOpen(), fx.matrix())
	save, err = iptablesSave(ctx, a.Namespace)
	require.NoError(t, err)
	require.NotContains(t, save, Tag(fx.run, "h1"))
	require.False(t, queueBound(t, a.Namespace, num), "heal unbinds the queue")

	r := restored(t, g)
	require.Equal(t, Both, r.Direction)
	t.Logf("netns hold: %d packets held, %d released at heal; inject→effect %v, heal→connectivity %v",
		heldTotal, released, r.InjectToEffect(), r.HealToRestored())
	require.NoError(t, g.Cleanup(ctx))
}

// TestNetnsHoldFailsClosed: if the handler dies while the rules are in
// place, packets are dropped, not let through, and the record says that
// the heal did not release what was held.
func TestNetnsHoldFailsClosed(t *testing.T) {
	noLeaks(t)
	fx := newNetnsFixture(t)
	ctx := context.Background()
	g := fx.guard(t)
	g.cfg.VerifyTimeout = 500 * time.Millisecond
	injectOK(ctx, t, g, Spec{ID: "h1", Kind: KindHold, Target: "node:1", Links: []string{"node:2"}})

	// The handler dies without releasing anything.
	b := g.cfg.Backend.(*netnsBackend)
	require.NoError(t, b.queue("h1").close(ctx))
	a, _ := fx.top.Process("a")
	num, _ := fx.net.queueNum("h1")
	require.False(t, queueBound(t, a.Namespace, num))
	require.False(t, fx.reach("b", "a"), "with no handler the rules must drop, not pass")
	require.False(t, fx.reach("a", "b"))
	require.True(t, fx.reach("b", "c"))

	obs, err := g.Verify(ctx)
	require.NoError(t, err)
	require.False(t, obs.OK, "a dead handler does not prove a hold")

	require.NoError(t, g.Heal(ctx))
	obs, err = g.Verify(ctx)
	require.NoError(t, err)
	require.False(t, obs.OK)
	require.Contains(t, obs.Note, "heal released 0 packets of the")
	require.False(t, g.Records()[0].Restored, "the held packets were lost")
	require.Equal(t, allOpen(), fx.matrix(), "but the rules are gone")
}

// TestNetnsHoldAbort: the abort path (Guard.Close under a cancelled
// context, as after SIGINT or a run timeout) releases what a hold held,
// removes its rules and stops its handler (noLeaks checks the goroutines).
func TestNetnsHoldAbort(t *testing.T) {
	noLeaks(t)
	fx := newNetnsFixture(t)
	conn := fx.conn(t, "c", "a")
	g := fx.guard(t)
	ctx, cancel := context.WithCancel(context.Background())
	injectOK(ctx, t, g, Spec{ID: "h1", Kind: KindHold, Target: "node:1", Links: []string{LinkPeers}})
	_, err := conn.c.Write([]byte("in-flight"))
	require.NoError(t, err)

	cancel()
	require.NoError(t, g.Close(ctx))
	require.Equal(t, Closed, g.State())
	got, err := conn.read(len("in-flight"), 2*time.Second)
	require.NoError(t, err, "abort releases what was held")
	require.Equal(t, "in-flight", got)
	a, _ := fx.top.Process("a")
	num, _ := fx.net.queueNum("h1")
	require.False(t, queueBound(t, a.Namespace, num))
	save, err := iptablesSave(context.Background(), a.Namespace)
	require.NoError(t, err)
	require.NotContains(t, save, Tag(fx.run, "h1"))
	r := g.Records()[0]
	require.True(t, r.Restored, "Close verifies the heal")
}

// TestNetnsDelay delays a's traffic with b by 300ms: probes across it get
// through but no faster than the delay, the handler counts delayed
// packets, and an independent echo takes at least two delays (a handshake
// is two delayed packets); after heal probes are faster than the delay.
func TestNetnsDelay(t *testing.T) {
	noLeaks(t)
	fx := newNetnsFixture(t)
	ctx := context.Background()
	const d = 300 * time.Millisecond
	g := fx.guard(t)
	obs := injectOK(ctx, t, g, Spec{ID: "d1", Kind: KindDelay, Target: "node:1", Links: []string{"node:2"}, Delay: d})
	requireDelayed(t, obs, d)
	require.Positive(t, counterSum(obs, "delayed "+d.String()))

	a, _ := fx.top.Process("a")
	b, _ := fx.top.Process("b")
	took, err := echoTook(b.Namespace, a.Endpoints[0].Addr, 10*d)
	require.NoError(t, err)
	require.GreaterOrEqual(t, took, 2*d, "b->a echo round trip under the delay")
	took2, err := echoTook(a.Namespace, b.Endpoints[0].Addr, 10*d)
	require.NoError(t, err)
	require.GreaterOrEqual(t, took2, 2*d, "a->b echo round trip under the delay")
	t.Logf("netns delay %v: probe %s took %v, %s took %v; echo b->a %v, a->b %v", d,
		obs.Probes[0].Link, obs.Probes[0].Took, obs.Probes[1].Link, obs.Probes[1].Took, took, took2)

	obs = healOK(ctx, t, g)
	for _, p := range obs.Probes {
		require.Less(t, p.Took, d, "healed %s", p.Link)
	}
	num, _ := fx.net.queueNum("d1")
	require.False(t, queueBound(t, a.Namespace, num))
	r := restored(t, g)
	require.Equal(t, d, r.Delay)
	t.Logf("netns delay: inject→effect %v, heal→restored %v", r.InjectToEffect(), r.HealToRestored())
	require.NoError(t, g.Cleanup(ctx))
}

// TestNetnsLoss drops half of a's packets with b and c: the statistic DROP
// rules count drops of the probes' traffic (the counting rules count what
// reached them), and after heal every link is open and no rule is left.
func TestNetnsLoss(t *testing.T) {
	noLeaks(t)
	fx := newNetnsFixture(t)
	ctx := context.Background()
	g := fx.guard(t)
	obs := injectOK(ctx, t, g, Spec{ID: "l1", Kind: KindLoss, Target: "node:1", Links: []string{LinkPeers}, Loss: 0.5})
	require.Len(t, obs.Counters, 8, "a counting and a DROP rule per peer and way")
	var dropped, seen uint64
	for _, c := range obs.Counters {
		if strings.HasSuffix(c.What, "-j DROP") {
			require.Contains(t, c.What, "-m statistic --mode random --probability")
			dropped += c.Packets
		} else {
			seen += c.Packets
		}
	}
	require.Positive(t, dropped)
	require.GreaterOrEqual(t, seen, dropped)
	for _, p := range obs.Probes {
		require.Equal(t, Any, p.Want)
	}
	t.Logf("netns loss 0.5: %d of %d packets dropped (%.2f) in %d round(s)", dropped, seen, float64(dropped)/float64(seen), g.Records()[0].InjectRounds)

	obs = healOK(ctx, t, g)
	require.Empty(t, obs.Counters)
	require.Equal(t, allOpen(), fx.matrix())
	r := restored(t, g)
	require.Equal(t, 0.5, r.Loss)
	require.NoError(t, g.Cleanup(ctx))
}

// TestNetnsCleanRemovesNewRules: clean finds hold and loss rules by their
// tag, like DROP rules, and a heal afterwards still succeeds.
func TestNetnsCleanRemovesNewRules(t *testing.T) {
	noLeaks(t)
	fx := newNetnsFixture(t)
	ctx := context.Background()
	gh, gl := fx.guard(t), fx.guard(t)
	require.NoError(t, gh.Prepare(ctx))
	require.NoError(t, gh.Inject(ctx, Spec{ID: "h1", Kind: KindHold, Target: "node:1", Links: []string{"node:2"}}))
	require.NoError(t, gl.Prepare(ctx))
	require.NoError(t, gl.Inject(ctx, Spec{ID: "l1", Kind: KindLoss, Target: "node:3", Links: []string{"node:2"}, Loss: 0.2}))

	c := &cleaner{log: testLogger(t), done: map[string]bool{}}
	for _, p := range []string{"a", "c"} {
		c.rules(ctx, fx.run, nsName(fx.run, p))
	}
	require.Empty(t, c.errs)
	var removed []string
	for _, a := range c.rep.Actions {
		require.Equal(t, ActionRemoved, a.Action)
		removed = append(removed, a.Name)
	}
	all := strings.Join(removed, "\n")
	require.Equal(t, 2, strings.Count(all, "-j NFQUEUE"), all)
	require.Equal(t, 2, strings.Count(all, "-m statistic"), all)
	require.Contains(t, removed, chainName(fx.run))
	for _, p := range []string{"a", "c"} {
		save, err := iptablesSave(ctx, nsName(fx.run, p))
		require.NoError(t, err)
		require.NotContains(t, save, fx.run)
	}

	for _, g := range []*Guard{gh, gl} {
		healOK(ctx, t, g)
	}
	require.Equal(t, allOpen(), fx.matrix())
}

// TestNetnsQueueNumbers: every hold or delay of a run gets its own queue.
func TestNetnsQueueNumbers(t *testing.T) {
	n := &Network{run: "abcdef"}
	seen := map[uint16]string{}
	for i := range 50 {
		id := fmt.Sprintf("f%d", i)
		q, err := n.queueNum(id)
		require.NoError(t, err)
		require.NotContains(t, seen, q)
		seen[q] = id
		again, _ := n.queueNum(id)
		require.Equal(t, q, again)
	}
}

package chaos

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoleValidate(t *testing.T) {
	for _, ok := range []Role{"owner", "maintainer-of:cf1", "node:3", "node:*", "kafka", "meta", "upstream", "process:node-1"} {
		require.NoError(t, ok.Validate(), ok)
	}
	for _, bad := range []Role{"", "owner:1", "node", "node:", "maintainer-of", "leader", "kafka:0"} {
		require.ErrorIs(t, bad.Validate(), ErrBadRole, bad)
	}
}

func TestSpecValidate(t *testing.T) {
	good := []Spec{
		{ID: "f1", Kind: KindCut, Target: "owner", Links: []string{LinkPeers, "meta", "upstream"}},
		{ID: "f-2", Kind: KindCut, Target: "node:1", Links: []string{"kafka"}, Direction: Inbound},
		{ID: "k1", Kind: KindKill, Target: "owner"},
		{ID: "p1", Kind: KindPause, Target: "maintainer-of:cf"},
		{ID: "h1", Kind: KindHold, Target: "owner", Links: []string{LinkPeers}},
		{ID: "h2", Kind: KindHold, Target: "owner", Links: []string{LinkPeers}, Direction: Both},
		{ID: "d1", Kind: KindDelay, Target: "owner", Links: []string{"meta"}, Delay: MinDelay},
		{ID: "d2", Kind: KindDelay, Target: "owner", Links: []string{"meta"}, Delay: MaxDelay},
		{ID: "l1", Kind: KindLoss, Target: "node:2", Links: []string{"kafka"}, Loss: 0.3},
	}
	for _, s := range good {
		require.NoError(t, s.Validate(), s)
	}
	bad := []Spec{
		{ID: "", Kind: KindCut, Target: "owner", Links: []string{LinkPeers}},
		{ID: "F1", Kind: KindCut, Target: "owner", Links: []string{LinkPeers}},
		{ID: "f1", Kind: KindCut, Target: "owner"},
		{ID: "f1", Kind: KindCut, Target: "owner", Links: []string{"everyone"}},
		{ID: "f1", Kind: KindCut, Target: "owner", Links: []string{LinkPeers}, Direction: "sideways"},
		{ID: "f1", Kind: KindKill, Target: "owner", Links: []string{LinkPeers}},
		{ID: "f1", Kind: "flood", Target: "owner"},
		{ID: "f1", Kind: KindPause, Target: "boss"},
		{ID: "h1", Kind: KindHold, Target: "owner"},
		{ID: "h1", Kind: KindHold, Target: "owner", Links: []string{LinkPeers}, Direction: Inbound},
		{ID: "d1", Kind: KindDelay, Target: "owner", Links: []string{LinkPeers}},
		{ID: "d1", Kind: KindDelay, Target: "owner", Links: []string{LinkPeers}, Delay: MinDelay - 1},
		{ID: "d1", Kind: KindDelay, Target: "owner", Links: []string{LinkPeers}, Delay: MaxDelay + 1},
		{ID: "d1", Kind: KindDelay, Target: "owner", Links: []string{LinkPeers}, Delay: MinDelay, Loss: 0.5},
		{ID: "l1", Kind: KindLoss, Target: "owner", Links: []string{LinkPeers}},
		{ID: "l1", Kind: KindLoss, Target: "owner", Links: []string{LinkPeers}, Loss: 1},
		{ID: "l1", Kind: KindLoss, Target: "owner", Links: []string{LinkPeers}, Loss: math.NaN()},
		{ID: "f1", Kind: KindCut, Target: "owner", Links: []string{LinkPeers}, Delay: MinDelay},
		{ID: "f1", Kind: KindCut, Target: "owner", Links: []string{LinkPeers}, Loss: math.NaN()},
		{ID: "k1", Kind: KindKill, Target: "owner", Loss: 0.1},
	}
	for _, s := range bad {
		require.ErrorIs(t, s.Validate(), ErrBadSpec, s)
	}
}

func TestResolveAtFireTime(t *testing.T) {
	top, err := NewTopology(
		Process{Name: "node-1", Role: RoleNode, NodeID: "1"},
		Process{Name: "node-2", Role: RoleNode, NodeID: "2"},
		Process{Name: "node-3", Role: RoleNode, NodeID: "3"},
		Process{Name: "kafka-0", Role: RoleKafka},
		Process{Name: "meta", Role: RoleMeta},
		Process{Name: "upstream", Role: RoleUpstream},
	)
	require.NoError(t, err)
	owner := "1"
	res := &TopologyResolver{
		Topology:     top,
		Owner:        func(context.Context, string) (string, error) { return owner, nil },
		MaintainerOf: func(_ context.Context, cf string) (string, error) { return map[string]string{"cf": "3"}[cf], nil },
	}
	ctx := context.Background()
	spec := Spec{ID: "f1", Kind: KindCut, Target: "owner", Links: []string{LinkPeers, "meta", "upstream", "node:3"}}
	f, err := resolveFault(ctx, res, "abc123", spec)
	require.NoError(t, err)
	require.Equal(t, "node-1", f.Target.Name)
	require.Equal(t, []string{"node-2", "node-3", "meta", "upstream"}, names(f.Peers), "deduplicated, target and kafka excluded")

	owner = "2"
	f, err = resolveFault(ctx, res, "abc123", spec)
	require.NoError(t, err)
	require.Equal(t, "node-2", f.Target.Name)

	f, err = resolveFault(ctx, res, "abc123", Spec{ID: "k", Kind: KindKill, Target: "maintainer-of:cf"})
	require.NoError(t, err)
	require.Equal(t, "node-3", f.Target.Name)

	_, err = resolveFault(ctx, res, "abc123", Spec{ID: "k", Kind: KindKill, Target: "node:*"})
	require.ErrorIs(t, err, ErrUnresolved, "a fault needs exactly one target")
	_, err = resolveFault(ctx, res, "abc123", Spec{ID: "k", Kind: KindKill, Target: "node:9"})
	require.ErrorIs(t, err, ErrUnresolved)
	res.Owner = func(context.Context, string) (string, error) { return "", errors.New("no owner key") }
	_, err = resolveFault(ctx, res, "abc123", spec)
	require.ErrorIs(t, err, ErrUnresolved)
}

func names(ps []Process) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func TestLinksByDirection(t *testing.T) {
	ep := func(n string) []Endpoint { return []Endpoint{{Name: "grpc", Addr: n}} }
	f := &Fault{Target: Process{Name: "a", Endpoints: ep("a:1")}, Peers: []Process{{Name: "b", Endpoints: ep("b:1")}, {Name: "cli"}}}
	linkNames := func(ls []Link) []string {
		var out []string
		for _, l := range ls {
			out = append(out, l.String())
		}
		return out
	}
	f.Direction = Both
	cut, control := f.links()
	require.Equal(t, []string{"b->a/grpc", "a->b/grpc", "cli->a/grpc"}, linkNames(cut))
	require.Empty(t, control)
	f.Direction = Inbound
	cut, control = f.links()
	require.Equal(t, []string{"b->a/grpc", "cli->a/grpc"}, linkNames(cut))
	require.Equal(t, []string{"a->b/grpc"}, linkNames(control))
	f.Direction = Outbound
	cut, control = f.links()
	require.Equal(t, []string{"a->b/grpc"}, linkNames(cut))
	require.Equal(t, []string{"b->a/grpc", "cli->a/grpc"}, linkNames(control))
}

// TestRuleTemplate pins the rules: one template, -A to inject and -D to
// heal, DROP in both hooks, conntrack direction for one-way cuts.
func TestRuleTemplate(t *testing.T) {
	p := netip.MustParseAddr("10.200.1.3")
	tag := Tag("abc123", "f1")
	require.Equal(t, []string{
		"-s 10.200.1.3/32 -m comment --comment chaosrun:abc123:f1 -j DROP",
		"-d 10.200.1.3/32 -m comment --comment chaosrun:abc123:f1 -j DROP",
	}, cutRules(tag, []netip.Addr{p}, Both))
	require.Equal(t, []string{
		"-s 10.200.1.3/32 -m conntrack --ctdir ORIGINAL -m comment --comment chaosrun:abc123:f1 -j DROP",
		"-d 10.200.1.3/32 -m conntrack --ctdir REPLY -m comment --comment chaosrun:abc123:f1 -j DROP",
	}, cutRules(tag, []netip.Addr{p}, Inbound))
	require.Equal(t, []string{
		"-d 10.200.1.3/32 -m conntrack --ctdir ORIGINAL -m comment --comment chaosrun:abc123:f1 -j DROP",
		"-s 10.200.1.3/32 -m conntrack --ctdir REPLY -m comment --comment chaosrun:abc123:f1 -j DROP",
	}, cutRules(tag, []netip.Addr{p}, Outbound))
	specs := cutRules(tag, []netip.Addr{p}, Both)
	require.Equal(t, "*filter\n-A CR-abc123 "+specs[0]+"\n-A CR-abc123 "+specs[1]+"\nCOMMIT\n", renderRules("-A", "CR-abc123", specs))
	require.Equal(t, "*filter\n-D CR-abc123 "+specs[0]+"\n-D CR-abc123 "+specs[1]+"\nCOMMIT\n", renderRules("-D", "CR-abc123", specs))
}

func TestParseSave(t *testing.T) {
	out := `# Generated by iptables-save
*filter
:INPUT ACCEPT [0:0]
:CR-abc123 - [0:0]
[12:720] -A INPUT -m comment --comment "chaosrun:abc123:jump" -j CR-abc123
[5:300] -A CR-abc123 -s 10.200.1.3/32 -m comment --comment "chaosrun:abc123:f1" -j DROP
[0:0] -A INPUT -s 1.2.3.4/32 -j ACCEPT
COMMIT
`
	chains, rules := parseSave(out)
	require.Equal(t, []string{"INPUT", "CR-abc123"}, chains)
	require.Len(t, rules, 3)
	require.Equal(t, savedRule{Chain: "CR-abc123", Spec: `-s 10.200.1.3/32 -m comment --comment "chaosrun:abc123:f1" -j DROP`,
		Comment: "chaosrun:abc123:f1", Packets: 5, Bytes: 300}, rules[1])
	require.Empty(t, rules[2].Comment)
}

func TestLedgerTornLine(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLedger(dir, "abc123")
	require.NoError(t, err)
	require.NoError(t, l.Append(Entry{Op: LedgerIntent, Kind: EntryNamespace, Name: "cr-abc123-a"}))
	require.NoError(t, l.Close())
	f, err := os.OpenFile(filepath.Join(dir, LedgerFile), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"ts":"2026-01-01T00:00:00Z","run":"abc1`) // the harness died mid-write
	require.NoError(t, err)
	require.NoError(t, f.Close())
	es, err := ReadLedger(filepath.Join(dir, LedgerFile))
	require.NoError(t, err)
	require.Len(t, es, 2)
	require.Equal(t, EntryHarness, es[0].Kind)
	require.Equal(t, os.Getpid(), es[0].Pid)
	require.Equal(t, "cr-abc123-a", es[1].Name)
}

func TestNames(t *testing.T) {
	for range 100 {
		id := NewRunID()
		require.NoError(t, ValidateRunID(id))
		require.LessOrEqual(t, len(vethName(id, 254)), 15, "IFNAMSIZ")
		require.LessOrEqual(t, len(bridgeName(id)), 15, "IFNAMSIZ")
		require.True(t, nsOfRun.MatchString(nsName(id, "node-1")))
		require.True(t, linkOfRun.MatchString(vethName(id, 3)))
	}
	require.Equal(t, ShortRunID("run-2026-11-27"), ShortRunID("run-2026-11-27"))
	require.NoError(t, ValidateRunID(ShortRunID("anything")))
	require.ErrorIs(t, ValidateRunID("ABC123"), ErrBadRunID)
	require.False(t, nsOfRun.MatchString("cr-abc12-a"), "foreign names are not ours")
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	require.NoError(t, Register(r))
	require.Equal(t, []string{"kill", "netns", "noop", "pause", "toxiproxy"}, r.Names())
	require.Error(t, Register(r), "twice")
	top, _ := NewTopology()
	_, err := r.New("tc-netem", Env{Run: "abc123", Topology: top})
	require.ErrorIs(t, err, ErrUnknownBackend)
	_, err = r.New(BackendNetns, Env{Run: "abc123", Topology: top})
	require.ErrorContains(t, err, "no Network")
}

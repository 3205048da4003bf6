package chaos

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chaosrun/chaosrun/internal/proc"
	"github.com/chaosrun/chaosrun/internal/wait"
)

// ErrNeedRoot reports that the netns backend needs root (CAP_NET_ADMIN and
// CAP_SYS_ADMIN) on Linux.
var ErrNeedRoot = errors.New("chaos: netns needs root on Linux")

// Naming. Everything a run creates carries its run id, so two runs never
// collide and clean can find leftovers without a ledger:
//
//	cr-<run>-hub        hub namespace, holds the bridge and the host ends of the veths
//	cr-<run>-<proc>     one namespace per process; its veth end is "eth0"
//	crb-<run>           the bridge (in the hub)
//	crv-<run>-<n>       hub end of process n's veth (n is its address's last octet)
//	cru-<run>           root-namespace end of the uplink (Network.Uplink); its
//	                    hub end is crv-<run>-254
//	crs-<run>           end of the run's link into a shared namespace of
//	                    another network (Network.Share); its hub end is
//	                    crv-<run>-253
//
// NB: interface names are limited to 15 bytes, which is why run ids are 6
// characters and the veth suffix is a number, not the process name.
const (
	nsPrefix     = "cr-"
	bridgePrefix = "crb-"
	vethPrefix   = "crv-"
	uplinkPrefix = "cru-"
	sharedPrefix = "crs-"
	hubSuffix    = "hub"
)

// uplinkIdx is the last octet of the root namespace's address on a run's
// subnet; sharedIdx is the shared namespace's (Network.Share); processes
// get 2..sharedIdx-1 (1 is the bridge).
const (
	uplinkIdx = 254
	sharedIdx = 253
)

func hubName(run string) string         { return nsPrefix + run + "-" + hubSuffix }
func bridgeName(run string) string      { return bridgePrefix + run }
func vethName(run string, n int) string { return vethPrefix + run + "-" + strconv.Itoa(n) }
func uplinkName(run string) string      { return uplinkPrefix + run }
func nsName(run, proc string) string    { return nsPrefix + run + "-" + proc }
func sharedName(run string) string      { return sharedPrefix + run }

var (
	procNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	// nsOfRun matches any namespace a run creates; group 1 is the run id.
	nsOfRun = regexp.MustCompile(`^cr-([a-z0-9]{6})-([a-z0-9][a-z0-9-]*)$`)
	// linkOfRun matches the run's bridge, veths and uplink; group 1 is the
	// run id.
	linkOfRun = regexp.MustCompile(`^cr[bvu]-([a-z0-9]{6})(-[0-9]+)?$`)
)

// Network is one run's private network: a hub namespace holding a bridge,
// and one namespace per process attached to the bridge by a veth pair,
// with addresses from a /24 derived from the run id. Nothing is created in
// the host's root namespace except, on request, the uplink (Uplink: one
// veth end and its address, so the harness can reach the processes), and
// no host firewall rule is touched; every iptables rule lives in a run
// namespace, in the run's chain CR-<run>. Every step is recorded in the
// ledger before it is taken. Safe for concurrent use.
type Network struct {
	run    string
	prefix netip.Prefix
	ledger *Ledger
	log    *slog.Logger

	upMu sync.Mutex // serialises Uplink

	mu      sync.Mutex
	nss     []*Namespace
	next    int
	closed  bool
	uplink  netip.Addr // valid once the uplink is up
	upTried bool       // Uplink started creating it: Close must look
	queues  map[string]uint16
	shared  []netip.Addr // addresses every namespace routes via the shared end (Share)
	sharing bool         // Share started creating the link: Close must remove it
}

// Namespace is one process's network namespace in a Network.
type Namespace struct {
	// Name is the namespace name (cr-<run>-<proc>).
	Name string
	// Proc is the process name it was made for.
	Proc string
	// Addr is the address of its eth0 on the run's bridge.
	Addr netip.Addr
}

// NewNetwork creates the hub namespace and the bridge of run. It needs
// root. On error it removes whatever it created.
func NewNetwork(ctx context.Context, run string, ledger *Ledger, log *slog.Logger) (*Network, error) {
	if err := ValidateRunID(run); err != nil {
		return nil, err
	}
	if !isRoot() {
		return nil, ErrNeedRoot
	}
	if log == nil {
		log = slog.Default()
	}
	prefix, err := pickSubnet(ctx, run)
	if err != nil {
		return nil, err
	}
	n := &Network{run: run, prefix: prefix, ledger: ledger, log: log.With("run", run), next: 2}
	hub, br := hubName(run), bridgeName(run)
	gw := prefix.Addr().Next()
	err = n.steps(ctx,
		intent(Entry{Kind: EntryNamespace, Name: hub, Detail: prefix.String()}),
		cmd("netns", "add", hub),
		cmd("-n", hub, "link", "set", "lo", "up"),
		intent(Entry{Kind: EntryBridge, Netns: hub, Name: br}),
		cmd("-n", hub, "link", "add", br, "type", "bridge"),
		cmd("-n", hub, "addr", "add", gw.String()+"/24", "dev", br),
		cmd("-n", hub, "link", "set", br, "up"),
	)
	if err != nil {
		return nil, errors.Join(err, n.Close(context.WithoutCancel(ctx)))
	}
	n.log.Info("chaos: netns: network up", "hub", hub, "bridge", br, "subnet", prefix)
	return n, nil
}

// Run returns the run id.
func (n *Network) Run() string { return n.run }

// Prefix returns the run's subnet.
func (n *Network) Prefix() netip.Prefix { return n.prefix }

// Hub returns the hub namespace's name.
func (n *Network) Hub() string { return hubName(n.run) }

// step is one recorded or executed action of a Network.
type step struct {
	entry *Entry
	args  []string
	input string // for iptables-restore steps
	ns    string
}

func intent(e Entry) step           { e.Op, e.Backend = LedgerIntent, BackendNetns; return step{entry: &e} }
func cmd(args ...string) step       { return step{args: args} }
func restore(ns, input string) step { return step{ns: ns, input: input} }

func (n *Network) steps(ctx context.Context, steps ...step) error {
	for _, s := range steps {
		var err error
		switch {
		case s.entry != nil:
			err = n.ledger.Append(*s.entry)
		case s.input != "":
			err = iptablesRestore(ctx, s.ns, s.input)
		default:
			_, err = ip(ctx, s.args...)
		}
		if err != nil {
			return fmt.Errorf("chaos: netns: %w", err)
		}
	}
	return nil
}

// Add creates the namespace of process proc ([a-z0-9-], up to 32
// characters, not "hub"), its veth pair to the bridge, its address, and the
// run's chain with jumps from INPUT and OUTPUT (empty until a cut).
func (n *Network) Add(ctx context.Context, proc string) (*Namespace, error) {
	if !procNamePattern.MatchString(proc) || proc == hubSuffix {
		return nil, fmt.Errorf("chaos: netns: bad process name %q", proc)
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, fmt.Errorf("chaos: netns: network %s closed", n.run)
	}
	for _, ns := range n.nss {
		if ns.Proc == proc {
			n.mu.Unlock()
			return nil, fmt.Errorf("chaos: netns: %s already has a namespace", proc)
		}
	}
	idx := n.next
	if idx >= sharedIdx {
		n.mu.Unlock()
		return nil, fmt.Errorf("chaos: netns: subnet %s full", n.prefix)
	}
	n.next++
	ns := &Namespace{Name: nsName(n.run, proc), Proc: proc, Addr: addrN(n.prefix, idx)}
	n.nss = append(n.nss, ns) // NB: before creating, so Close removes a half-made one
	n.mu.Unlock()

	hub, br, veth := hubName(n.run), bridgeName(n.run), vethName(n.run, idx)
	err := n.steps(ctx,
		intent(Entry{Kind: EntryNamespace, Name: ns.Name, Detail: ns.Addr.String()}),
		cmd("netns", "add", ns.Name),
		intent(Entry{Kind: EntryVeth, Netns: hub, Name: veth, Detail: ns.Name}),
		cmd("-n", hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns.Name),
		cmd("-n", hub, "link", "set", veth, "master", br, "up"),
		cmd("-n", ns.Name, "addr", "add", ns.Addr.String()+"/24", "dev", "eth0"),
		cmd("-n", ns.Name, "link", "set", "eth0", "up"),
		cmd("-n", ns.Name, "link", "set", "lo", "up"),
		intent(Entry{Kind: EntryChain, Netns: ns.Name, Name: chainName(n.run)}),
		restore(ns.Name, chainSetup(n.run)),
	)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	shared := slices.Clone(n.shared)
	n.mu.Unlock()
	for _, a := range shared {
		if err := n.routeShared(ctx, ns.Name, a); err != nil {
			return nil, err
		}
	}
	n.log.Info("chaos: netns: namespace up", "netns", ns.Name, "addr", ns.Addr, "veth", veth)
	return ns, nil
}

// Uplink connects the harness's root namespace to the run's bridge: a veth
// pair cru-<run> (root) <-> crv-<run>-254 (hub, on the bridge), with the
// subnet's .254 on the root end, so clients in the harness (workload, meta
// store, Kafka) reach every namespace's address directly. The root
// namespace gains that interface and its connected route, nothing else: no
// rule, no forwarding, and the namespaces still have no default route, so
// the processes reach nothing outside the run. The intent is in the ledger
// before the link exists, and clean removes cru-<run> links by name. It
// returns the root end's address; idempotent. Close removes it.
func (n *Network) Uplink(ctx context.Context) (netip.Addr, error) {
	n.upMu.Lock()
	defer n.upMu.Unlock()
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return netip.Addr{}, fmt.Errorf("chaos: netns: network %s closed", n.run)
	}
	if n.uplink.IsValid() {
		a := n.uplink
		n.mu.Unlock()
		return a, nil
	}
	n.upTried = true // NB: before creating, so Close removes a half-made one
	n.mu.Unlock()

	hub, br := hubName(n.run), bridgeName(n.run)
	up, hubEnd, addr := uplinkName(n.run), vethName(n.run, uplinkIdx), addrN(n.prefix, uplinkIdx)
	err := n.steps(ctx,
		intent(Entry{Kind: EntryVeth, Name: up, Detail: "uplink " + addr.String() + " <-> " + hub + "/" + hubEnd}),
		cmd("link", "add", up, "type", "veth", "peer", "name", hubEnd, "netns", hub),
		cmd("-n", hub, "link", "set", hubEnd, "master", br, "up"),
		cmd("addr", "add", addr.String()+"/24", "dev", up),
		cmd("link", "set", up, "up"),
	)
	if err != nil {
		return netip.Addr{}, err
	}
	n.mu.Lock()
	n.uplink = addr
	n.mu.Unlock()
	n.log.Info("chaos: netns: uplink up", "link", up, "addr", addr, "hub", hub)
	return addr, nil
}

// Share makes ns, a namespace of another Network (a sweep's Kafka, which
// outlives the runs), reachable from every process namespace of this one,
// present and future: a veth pair crv-<run>-253 (hub, on the bridge) <->
// crs-<run> (in ns) with this subnet's .253 on ns's end, ns's route to the
// subnet with ns.Addr as its source, and in each process namespace a host
// route to ns.Addr via .253. The other network gains one interface and its
// connected route; no forwarding anywhere. The
// pair goes when this network's hub does (Close, clean), so ns is left as
// it was. The processes reach ns's own address only, nothing else of its
// network.
func (n *Network) Share(ctx context.Context, ns *Namespace) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return fmt.Errorf("chaos: netns: network %s closed", n.run)
	}
	n.sharing = true
	n.mu.Unlock()
	hub, br := hubName(n.run), bridgeName(n.run)
	hubEnd, far, addr := vethName(n.run, sharedIdx), sharedName(n.run), addrN(n.prefix, sharedIdx)
	err := n.steps(ctx,
		intent(Entry{Kind: EntryVeth, Netns: hub, Name: hubEnd, Detail: "shared " + ns.Name + "/" + far + " " + addr.String()}),
		cmd("-n", hub, "link", "add", hubEnd, "type", "veth", "peer", "name", far, "netns", ns.Name),
		cmd("-n", hub, "link", "set", hubEnd, "master", br, "up"),
		cmd("-n", ns.Name, "addr", "add", addr.String()+"/24", "dev", far),
		cmd("-n", ns.Name, "link", "set", far, "up"),
		// What ns sends into the run carries its own address, as it would
		// from a namespace of the run: a cut matching that address stops
		// both directions.
		cmd("-n", ns.Name, "route", "replace", n.prefix.String(), "dev", far, "src", ns.Addr.String()),
	)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.shared = append(n.shared, ns.Addr)
	nss := slices.Clone(n.nss)
	n.mu.Unlock()
	for _, p := range nss {
		if err := n.routeShared(ctx, p.Name, ns.Addr); err != nil {
			return err
		}
	}
	n.log.Info("chaos: netns: shared namespace reachable", "netns", ns.Name, "addr", ns.Addr, "via", addr)
	return nil
}

// removeShared deletes the hub end of the link into the shared namespace,
// which destroys the pair, if it exists.
func (n *Network) removeShared(ctx context.Context) error {
	hub, name := hubName(n.run), vethName(n.run, sharedIdx)
	links, err := linkNames(ctx, hub)
	if err != nil {
		return fmt.Errorf("chaos: netns: %w", err)
	}
	if slices.Contains(links, name) {
		if _, err := ip(ctx, "-n", hub, "link", "del", name); err != nil {
			return fmt.Errorf("chaos: netns: %w", err)
		}
	}
	return n.ledger.Append(Entry{Op: LedgerUndone, Kind: EntryVeth, Backend: BackendNetns, Netns: hub, Name: name})
}

// routeShared routes a shared namespace's address from process namespace
// ns via the shared end.
func (n *Network) routeShared(ctx context.Context, ns string, a netip.Addr) error {
	return n.steps(ctx, cmd("-n", ns, "route", "add", a.String()+"/32", "via", addrN(n.prefix, sharedIdx).String()))
}

// removeUplink deletes the uplink's root end (which destroys the pair) if
// it exists.
func (n *Network) removeUplink(ctx context.Context) error {
	name := uplinkName(n.run)
	links, err := linkNames(ctx, "")
	if err != nil {
		return fmt.Errorf("chaos: netns: %w", err)
	}
	if slices.Contains(links, name) {
		if _, err := ip(ctx, "link", "del", name); err != nil {
			return fmt.Errorf("chaos: netns: %w", err)
		}
	}
	return n.ledger.Append(Entry{Op: LedgerUndone, Kind: EntryVeth, Backend: BackendNetns, Name: name})
}

// queueBase is the first NFQUEUE number a run hands out.
const queueBase = 100

// queueNum returns the NFQUEUE number of fault id: the same for the same
// id, and unique within the run (hold and delay faults bind one queue
// each, in their target's namespace).
func (n *Network) queueNum(fault string) (uint16, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if q, ok := n.queues[fault]; ok {
		return q, nil
	}
	if n.queues == nil {
		n.queues = map[string]uint16{}
	}
	q := queueBase + len(n.queues)
	if q > 0xffff {
		return 0, fmt.Errorf("chaos: netns: run %s has no NFQUEUE number left", n.run)
	}
	n.queues[fault] = uint16(q)
	return uint16(q), nil
}

// Namespace returns the namespace made for process proc.
func (n *Network) Namespace(proc string) (*Namespace, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ns := range n.nss {
		if ns.Proc == proc {
			return ns, true
		}
	}
	return nil, false
}

// Close removes the uplink, kills any process still inside the run's
// namespaces (they are the run's by construction), deletes every namespace
// (which destroys the veth pairs) and then the hub (which destroys the
// bridge). Idempotent.
func (n *Network) Close(ctx context.Context) error {
	n.upMu.Lock() // NB: waits for an Uplink in progress
	n.mu.Lock()
	nss := slices.Clone(n.nss)
	n.closed = true
	upTried := n.upTried
	n.upTried, n.uplink = false, netip.Addr{}
	shared := n.sharing
	n.mu.Unlock()
	n.upMu.Unlock()
	var errs []error
	if upTried {
		errs = append(errs, n.removeUplink(ctx))
	}
	if shared {
		// NB: deleting the hub would destroy the pair too, but the kernel
		// tears a namespace down asynchronously, and the shared namespace
		// must be as it was when Close returns.
		errs = append(errs, n.removeShared(ctx))
	}
	for _, ns := range slices.Backward(nss) {
		if _, err := deleteNamespace(ctx, ns.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, n.ledger.Append(Entry{Op: LedgerUndone, Kind: EntryNamespace, Backend: BackendNetns, Name: ns.Name}))
	}
	if _, err := deleteNamespace(ctx, hubName(n.run)); err != nil {
		errs = append(errs, err)
	} else {
		errs = append(errs, n.ledger.Append(Entry{Op: LedgerUndone, Kind: EntryNamespace, Backend: BackendNetns, Name: hubName(n.run)}))
	}
	err := errors.Join(errs...)
	if err == nil {
		n.log.Info("chaos: netns: network removed", "hub", hubName(n.run))
	}
	return err
}

// Command returns a command that runs name with args inside ns through
// `ip netns exec` (which execs, so the started pid is the program's). The
// command gets its own process group, so process faults can signal the
// whole group. Started through internal/proc (as system/cluster does),
// ending ctx kills that group; started directly, it kills the program only
// (exec's default), never a group that may have been reaped.
func (ns *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return c
}

// Dial opens a TCP connection to addr from inside ns.
func (ns *Namespace) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return dialInNetns(ctx, ns.Name, addr)
}

// Listen opens a TCP listener on addr inside ns.
func (ns *Namespace) Listen(addr string) (net.Listener, error) {
	return listenInNetns(ns.Name, addr)
}

// addrN returns the n-th address of a /24.
func addrN(p netip.Prefix, n int) netip.Addr {
	a := p.Addr().As4()
	a[3] = byte(n)
	return netip.AddrFrom4(a)
}

// pickSubnet derives a 10.X.Y.0/24 from the run id (X in 128..254), trying
// further hashes while it overlaps a route or address of the root
// namespace or another chaosrun network: the uplink (Network.Uplink) adds
// the subnet to the root namespace's routes, where an overlap would
// misroute the host's own traffic.
func pickSubnet(ctx context.Context, run string) (netip.Prefix, error) {
	used, err := usedPrefixes(ctx)
	if err != nil {
		return netip.Prefix{}, err
	}
	for attempt := range 256 {
		h := sha256.Sum256([]byte(run + "/" + strconv.Itoa(attempt)))
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 128 + h[0]%127, h[1], 0}), 24)
		if !slices.ContainsFunc(used, p.Overlaps) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("chaos: netns: no free 10.x.y.0/24 for run %s", run)
}

// usedPrefixes lists the IPv4 prefixes of root-namespace routes and
// addresses and of other chaosrun hubs.
func usedPrefixes(ctx context.Context) ([]netip.Prefix, error) {
	var used []netip.Prefix
	outs := []string{}
	for _, args := range [][]string{{"-4", "-o", "route", "show", "table", "all"}, {"-4", "-o", "addr", "show"}} {
		out, err := ip(ctx, args...)
		if err != nil {
			return nil, fmt.Errorf("chaos: netns: %w", err)
		}
		outs = append(outs, out)
	}
	names, err := listNetns(ctx)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if m := nsOfRun.FindStringSubmatch(name); m != nil && m[2] == hubSuffix {
			if out, err := ip(ctx, "-n", name, "-4", "-o", "addr", "show"); err == nil {
				outs = append(outs, out)
			}
		}
	}
	for _, out := range outs {
		for _, f := range strings.Fields(out) {
			if p, err := netip.ParsePrefix(f); err == nil && p.Addr().Is4() {
				used = append(used, p.Masked())
			}
		}
	}
	return used, nil
}

// listNetns returns the names of all named network namespaces.
func listNetns(ctx context.Context) ([]string, error) {
	out, err := ip(ctx, "netns", "list")
	if err != nil {
		return nil, fmt.Errorf("chaos: netns: %w", err)
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// deleteNamespace kills every process inside namespace name, then deletes
// it. It reports the pids killed; a missing namespace is not an error. The
// caller must have checked that name belongs to a chaosrun run.
func deleteNamespace(ctx context.Context, name string) ([]int, error) {
	if !nsOfRun.MatchString(name) {
		return nil, fmt.Errorf("chaos: netns: refusing to delete %q: not a chaosrun namespace", name)
	}
	names, err := listNetns(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(names, name) {
		return nil, nil
	}
	pids, err := netnsPids(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if err := waitGone(ctx, pids, 5*time.Second); err != nil {
		return pids, fmt.Errorf("chaos: netns %s: %w", name, err)
	}
	if _, err := ip(ctx, "netns", "del", name); err != nil {
		return pids, fmt.Errorf("chaos: netns: %w", err)
	}
	return pids, nil
}

// netnsPids lists the processes inside namespace name.
func netnsPids(ctx context.Context, name string) ([]int, error) {
	out, err := ip(ctx, "netns", "pids", name)
	if err != nil {
		return nil, fmt.Errorf("chaos: netns: %w", err)
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// waitGone polls until none of pids is a live process (zombies count as
// gone: they no longer hold their namespaces) or timeout passes.
func waitGone(ctx context.Context, pids []int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		left := 0
		for _, pid := range pids {
			if pi, err := proc.ReadStat(pid); err == nil && pi.Alive() {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d processes still alive after %s", left, len(pids), timeout)
		}
		if err := wait.Sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

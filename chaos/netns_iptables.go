package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// netnsBackend cuts links with iptables DROP rules in the target's network
// namespace, in the run's chain CR-<run> (see cutRules for the rules and
// why). Inject and heal are one template (renderRules) with -A and -D,
// each applied atomically by iptables-restore; every rule carries the
// comment chaosrun:<run>:<fault>. Proof of effect: TCP probes from inside
// the namespaces on each cut link, and the rules' packet counters.
type netnsBackend struct {
	env Env
	log *slog.Logger
}

func newNetnsBackend(env Env) (Backend, error) {
	if env.Network == nil {
		return nil, fmt.Errorf("chaos: netns backend: env has no Network")
	}
	if env.Network.Run() != env.Run {
		return nil, fmt.Errorf("chaos: netns backend: network of run %s, env of run %s", env.Network.Run(), env.Run)
	}
	return &netnsBackend{env: env, log: env.logger().With("backend", BackendNetns)}, nil
}

func (b *netnsBackend) Name() string { return BackendNetns }

// Prepare checks that we are root; the chain already exists in every
// namespace of the run (Network.Add creates it).
func (b *netnsBackend) Prepare(context.Context) error {
	if !isRoot() {
		return ErrNeedRoot
	}
	return nil
}

// Cleanup has nothing to release: rules are healed per fault, and the
// chains go with the namespaces (Network.Close).
func (b *netnsBackend) Cleanup(context.Context) error { return nil }

// cut returns the namespace and rule specs of a cut fault.
func (b *netnsBackend) cut(f *Fault) (string, []string, error) {
	if f.Kind != KindCut {
		return "", nil, fmt.Errorf("%w: %s cannot %s", ErrUnsupported, BackendNetns, f.Kind)
	}
	ns := f.Target.Namespace
	if m := nsOfRun.FindStringSubmatch(ns); m == nil || m[1] != b.env.Run {
		return "", nil, fmt.Errorf("chaos: netns: target %s is not in a namespace of run %s (netns %q)", f.Target.Name, b.env.Run, ns)
	}
	var addrs []netip.Addr
	for _, p := range f.Peers {
		if !p.Addr.IsValid() {
			return "", nil, fmt.Errorf("chaos: netns: peer %s has no address", p.Name)
		}
		addrs = append(addrs, p.Addr)
	}
	return ns, cutRules(Tag(b.env.Run, f.ID), addrs, f.direction()), nil
}

// Inject records the rules in the ledger, then appends them in one
// transaction.
func (b *netnsBackend) Inject(ctx context.Context, f *Fault) error {
	ns, specs, err := b.cut(f)
	if err != nil {
		return err
	}
	if err := b.env.Ledger.Append(Entry{Op: LedgerIntent, Kind: EntryRules, Backend: BackendNetns, Fault: f.ID,
		Netns: ns, Name: chainName(b.env.Run), Rules: specs}); err != nil {
		return err
	}
	if err := iptablesRestore(ctx, ns, renderRules("-A", chainName(b.env.Run), specs)); err != nil {
		return fmt.Errorf("chaos: netns: inject %s in %s: %w", f.ID, ns, err)
	}
	b.log.Debug("chaos: netns: rules added", "netns", ns, "fault", f.ID, "rules", len(specs))
	return nil
}

// Heal deletes exactly the injected rules in one transaction. If that
// fails (a partial inject: some rule is missing) it deletes, one by one,
// whatever rules carry the fault's tag. Idempotent.
func (b *netnsBackend) Heal(ctx context.Context, f *Fault) (*Process, error) {
	ns, specs, err := b.cut(f)
	if err != nil {
		return nil, err
	}
	tag := Tag(b.env.Run, f.ID)
	if err := iptablesRestore(ctx, ns, renderRules("-D", chainName(b.env.Run), specs)); err != nil {
		removed, err2 := removeTagged(ctx, ns, func(c string) bool { return c == tag }, "")
		if err2 != nil {
			return nil, fmt.Errorf("chaos: netns: heal %s in %s: %w", f.ID, ns, errors.Join(err, err2))
		}
		b.log.Debug("chaos: netns: healed by tag", "netns", ns, "fault", f.ID, "removed", len(removed))
	}
	return nil, b.env.Ledger.Append(Entry{Op: LedgerUndone, Kind: EntryRules, Backend: BackendNetns, Fault: f.ID, Netns: ns})
}

// Observe probes every cut link (and, for one-way cuts, the opposite links
// as controls) from inside the dialling process's namespace, then reads
// the rules' counters. After inject it wants the cut links blocked, the
// controls open and the rules to have dropped packets; after heal, every
// link open and no rule of the fault left.
func (b *netnsBackend) Observe(ctx context.Context, f *Fault, phase Phase) (Observation, error) {
	ns, specs, err := b.cut(f)
	if err != nil {
		return Observation{}, err
	}
	obs := Observation{Phase: phase, Start: time.Now()}
	cut, control := f.links()
	wantCut, wantControl := wants(phase)
	var tasks []probeTask
	add := func(l Link, role string, want Reach) {
		tasks = append(tasks, probeTask{
			res: linkProbe(l, role, want, l.Endpoint.Addr),
			dial: func(ctx context.Context) (net.Conn, error) {
				return dialInNetns(ctx, l.From.Namespace, l.Endpoint.Addr)
			},
		})
	}
	for _, l := range cut {
		add(l, ProbeCut, wantCut)
	}
	for _, l := range control {
		add(l, ProbeControl, wantControl)
	}
	obs.Probes = runProbes(ctx, tasks, b.env.probeTimeout())
	save, err := iptablesSave(ctx, ns)
	obs.End = time.Now()
	if err != nil {
		return obs, err
	}
	tag := Tag(b.env.Run, f.ID)
	_, rules := parseSave(save)
	var dropped uint64
	for _, r := range rules {
		if r.Comment == tag {
			obs.Counters = append(obs.Counters, Counter{Where: ns, What: r.Chain + " " + r.Spec, Packets: r.Packets, Bytes: r.Bytes})
			dropped += r.Packets
		}
	}
	obs.OK, obs.Note = judge(obs.Probes)
	switch {
	case !obs.OK:
	case phase == PhaseInjected && len(obs.Counters) != len(specs):
		obs.OK, obs.Note = false, fmt.Sprintf("%d of %d rules present in %s", len(obs.Counters), len(specs), ns)
	case phase == PhaseInjected && dropped == 0:
		obs.OK, obs.Note = false, "rules present but dropped no packet"
	case phase == PhaseHealed && len(obs.Counters) != 0:
		obs.OK, obs.Note = false, fmt.Sprintf("%d rules of %s left in %s", len(obs.Counters), f.ID, ns)
	}
	return obs, nil
}

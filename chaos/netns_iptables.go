package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// netnsBackend injects network faults as iptables rules in the target's
// network namespace, in the run's chain CR-<run>: DROP rules for a cut
// (cutRules), NFQUEUE rules served by a handler in this process for a hold
// or a delay (queueRules, nfQueue), statistic DROP rules for a loss
// (lossRules). Inject and heal are one template (renderRules) with -A and
// -D, each applied atomically by iptables-restore; every rule carries the
// comment chaosrun:<run>:<fault>, so clean removes them all alike. Proof
// of effect: TCP probes from inside the namespaces on each link, the
// rules' packet counters and the queue handler's counts.
type netnsBackend struct {
	env Env
	log *slog.Logger

	mu     sync.Mutex
	queues map[string]queueHandler // hold and delay faults, by fault id, until Cleanup
}

func newNetnsBackend(env Env) (Backend, error) {
	if env.Network == nil {
		return nil, fmt.Errorf("chaos: netns backend: env has no Network")
	}
	if env.Network.Run() != env.Run {
		return nil, fmt.Errorf("chaos: netns backend: network of run %s, env of run %s", env.Network.Run(), env.Run)
	}
	return &netnsBackend{env: env, log: env.logger().With("backend", BackendNetns), queues: map[string]queueHandler{}}, nil
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

// Cleanup closes the queue handlers of hold and delay faults (heal has
// normally closed them; one left open here was never healed, and closing it
// drops what it held: fail closed). Rules are healed per fault, and the
// chains go with the namespaces (Network.Close).
func (b *netnsBackend) Cleanup(ctx context.Context) error {
	b.mu.Lock()
	qs := b.queues
	b.queues = map[string]queueHandler{}
	b.mu.Unlock()
	var errs []error
	for _, q := range qs {
		errs = append(errs, q.close(ctx))
	}
	return errors.Join(errs...)
}

// netnsRules is a network fault's rules in its target's namespace.
type netnsRules struct {
	ns    string
	specs []string
	queue uint16 // the NFQUEUE number of a hold or a delay
}

// rules returns the namespace and rule specs of a network fault.
func (b *netnsBackend) rules(f *Fault) (netnsRules, error) {
	if !f.Kind.Network() {
		return netnsRules{}, fmt.Errorf("%w: %s cannot inject %s faults", ErrUnsupported, BackendNetns, f.Kind)
	}
	ns := f.Target.Namespace
	if m := nsOfRun.FindStringSubmatch(ns); m == nil || m[1] != b.env.Run {
		return netnsRules{}, fmt.Errorf("chaos: netns: target %s is not in a namespace of run %s (netns %q)", f.Target.Name, b.env.Run, ns)
	}
	var addrs []netip.Addr
	for _, p := range f.Peers {
		if !p.Addr.IsValid() {
			return netnsRules{}, fmt.Errorf("chaos: netns: peer %s has no address", p.Name)
		}
		addrs = append(addrs, p.Addr)
	}
	r := netnsRules{ns: ns}
	tag := Tag(b.env.Run, f.ID)
	switch f.Kind {
	case KindHold, KindDelay:
		q, err := b.env.Network.queueNum(f.ID)
		if err != nil {
			return netnsRules{}, err
		}
		r.queue, r.specs = q, queueRules(tag, addrs, q)
	case KindLoss:
		r.specs = lossRules(tag, addrs, f.Loss)
	default:
		r.specs = cutRules(tag, addrs, f.direction())
	}
	return r, nil
}

// Inject records the rules in the ledger, starts the queue handler of a
// hold or a delay (before its rules, so no packet meets an unbound queue),
// then appends the rules in one transaction.
func (b *netnsBackend) Inject(ctx context.Context, f *Fault) error {
	r, err := b.rules(f)
	if err != nil {
		return err
	}
	if err := b.env.Ledger.Append(Entry{Op: LedgerIntent, Kind: EntryRules, Backend: BackendNetns, Fault: f.ID,
		Netns: r.ns, Name: chainName(b.env.Run), Rules: r.specs, Detail: f.describe()}); err != nil {
		return err
	}
	if f.Kind == KindHold || f.Kind == KindDelay {
		if err := b.openQueue(f, r); err != nil {
			return err
		}
	}
	if err := iptablesRestore(ctx, r.ns, renderRules("-A", chainName(b.env.Run), r.specs)); err != nil {
		return fmt.Errorf("chaos: netns: inject %s in %s: %w", f.ID, r.ns, err)
	}
	b.log.Debug("chaos: netns: rules added", "netns", r.ns, "fault", f.ID, "what", f.describe(), "rules", len(r.specs))
	return nil
}

// Heal releases what a hold or a delay still holds (accepted in arrival
// order), deletes exactly the injected rules in one transaction and then
// closes the queue handler once the kernel queue is empty. If the delete
// fails (a partial inject: some rule is missing) it deletes, one by one,
// whatever rules carry the fault's tag. Idempotent; nothing to do for a
// kind Inject refused.
func (b *netnsBackend) Heal(ctx context.Context, f *Fault) (*Process, error) {
	r, err := b.rules(f)
	if errors.Is(err, ErrUnsupported) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var errs []error
	q := b.queue(f.ID)
	if q != nil {
		n, err := q.release()
		errs = append(errs, err)
		b.log.Debug("chaos: netns: queue released", "netns", r.ns, "fault", f.ID, "queue", r.queue, "packets", n)
	}
	tag := Tag(b.env.Run, f.ID)
	if err := iptablesRestore(ctx, r.ns, renderRules("-D", chainName(b.env.Run), r.specs)); err != nil {
		removed, err2 := removeTagged(ctx, r.ns, func(c string) bool { return c == tag }, "")
		if err2 != nil {
			errs = append(errs, err, err2)
		} else {
			b.log.Debug("chaos: netns: healed by tag", "netns", r.ns, "fault", f.ID, "removed", len(removed))
		}
	}
	if q != nil {
		errs = append(errs, q.close(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("chaos: netns: heal %s in %s: %w", f.ID, r.ns, err)
	}
	return nil, b.env.Ledger.Append(Entry{Op: LedgerUndone, Kind: EntryRules, Backend: BackendNetns, Fault: f.ID, Netns: r.ns})
}

// Observe probes every link of the fault (and, for one-way cuts, the
// opposite links as controls) from inside the dialling process's
// namespace, then reads the rules' counters and the queue handler's. After
// inject it wants, by kind: cut and hold, the links blocked, the controls
// open, and the rules dropping (cut) or the handler holding (hold)
// packets; delay, the links open but no faster than the delay and the
// handler delaying packets; loss, the statistic rules dropping packets of
// the probes' traffic (whatever the probes got). After heal it wants every
// link open (and, for a delay, faster than the delay), no rule of the
// fault left, and a hold's handler to have released what it held.
func (b *netnsBackend) Observe(ctx context.Context, f *Fault, phase Phase) (Observation, error) {
	r, err := b.rules(f)
	if err != nil {
		return Observation{}, err
	}
	obs := Observation{Phase: phase, Start: time.Now()}
	cut, control := f.links()
	wantCut, wantControl := wants(phase)
	timeout, kind := b.env.probeTimeout(), ProbeKind("")
	switch {
	case f.Kind == KindDelay && phase == PhaseInjected:
		// NB: a connect is two delayed packets (SYN, SYN-ACK), which proves
		// both directions at half the wait of an echo.
		wantCut, kind, timeout = Open, ProbeConnect, delayProbeTimeout(f.Delay, timeout)
	case f.Kind == KindLoss && phase == PhaseInjected:
		wantCut = Any
	}
	var tasks []probeTask
	add := func(l Link, role string, want Reach) {
		res := linkProbe(l, role, want, l.Endpoint.Addr)
		if kind != "" && role == ProbeCut {
			res.Kind = kind
		}
		tasks = append(tasks, probeTask{
			res: res,
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
	obs.Probes = runProbes(ctx, tasks, timeout)
	save, err := iptablesSave(ctx, r.ns)
	if err != nil {
		obs.End = time.Now()
		return obs, err
	}
	tag := Tag(b.env.Run, f.ID)
	_, saved := parseSave(save)
	var dropped uint64
	rules := 0
	for _, sr := range saved {
		if sr.Comment == tag {
			rules++
			obs.Counters = append(obs.Counters, Counter{Where: r.ns, What: sr.Chain + " " + sr.Spec, Packets: sr.Packets, Bytes: sr.Bytes})
			if strings.HasSuffix(sr.Spec, "-j DROP") {
				dropped += sr.Packets
			}
		}
	}
	var qs *queueStats
	if q := b.queue(f.ID); q != nil {
		st := q.stats()
		qs = &st
		obs.Counters = append(obs.Counters, st.counters(r.ns, f)...)
	}
	obs.End = time.Now()
	obs.OK, obs.Note = judge(obs.Probes)
	switch {
	case !obs.OK:
	case phase == PhaseInjected && rules != len(r.specs):
		obs.OK, obs.Note = false, fmt.Sprintf("%d of %d rules present in %s", rules, len(r.specs), r.ns)
	case phase == PhaseHealed && rules != 0:
		obs.OK, obs.Note = false, fmt.Sprintf("%d rules of %s left in %s", rules, f.ID, r.ns)
	case f.Kind == KindHold || f.Kind == KindDelay:
		obs.Note = judgeQueue(obs.Probes, f, qs, phase)
		obs.OK = obs.Note == ""
	case phase == PhaseInjected && dropped == 0:
		obs.OK, obs.Note = false, "rules present but dropped no packet"
	}
	return obs, nil
}

package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
)

// toxiproxyBackend cuts links by adding a hold toxic (see holdToxic: a
// black hole that keeps the data, like a partition; not a disabled proxy)
// on both streams, upstream and downstream, of the proxy of every directed
// link the cut drops. Inbound/Outbound select the links by who dials whom,
// exactly as the netns backend does, so a one-way cut means the same in
// both backends. A hold is a cut both ways (the hold toxic already
// delivers what it held, in order, at heal); a delay is the latency toxic
// on the same streams (toxiproxy_latency.go). A loss is refused: a proxy
// relays TCP streams and has no packets to lose. Needs no privileges.
// Proof of effect: echo probes through the proxies and the bytes each hold
// toxic held.
type toxiproxyBackend struct {
	env      Env
	px       *Proxies
	log      *slog.Logger
	injected []*Fault // faults injected since the last Cleanup
}

func newToxiproxyBackend(env Env) (Backend, error) {
	if env.Proxies == nil {
		return nil, fmt.Errorf("chaos: toxiproxy backend: env has no Proxies")
	}
	return &toxiproxyBackend{env: env, px: env.Proxies, log: env.logger().With("backend", BackendToxiproxy)}, nil
}

func (b *toxiproxyBackend) Name() string { return BackendToxiproxy }

// Prepare resets every proxy the first time any backend prepares on these
// Proxies (before the run's first fault). Later Prepares leave other
// guards' faults alone, so faults of this backend may overlap.
func (b *toxiproxyBackend) Prepare(ctx context.Context) error { return b.px.resetBeforeRun(ctx) }

// Cleanup removes any toxic of the faults this backend injected (heal
// normally has). The run-wide reset after the run is Proxies.Close.
func (b *toxiproxyBackend) Cleanup(ctx context.Context) error {
	var errs []error
	for _, f := range b.injected {
		if _, err := b.Heal(ctx, f); err != nil {
			errs = append(errs, err)
		}
	}
	b.injected = nil
	return errors.Join(errs...)
}

// streams are the toxiproxy streams of a link and the suffix of their toxic.
var streams = []struct{ stream, suffix string }{{"upstream", "up"}, {"downstream", "down"}}

func toxicName(fault, suffix string) string { return "cr-" + fault + "-" + suffix }

// cutProxies returns the links f cuts and their proxies. If a link has no
// proxy it fails (that traffic would bypass the cut) unless lenient, when
// it returns the links that have one (heal must undo whatever exists).
func (b *toxiproxyBackend) cutProxies(f *Fault, lenient bool) ([]Link, []*toxiproxy.Proxy, error) {
	switch f.Kind {
	case KindCut, KindHold, KindDelay:
	case KindLoss:
		return nil, nil, fmt.Errorf("%w: %s cannot inject %s faults: it relays TCP streams, which have no packets to lose; use %s",
			ErrUnsupported, BackendToxiproxy, f.Kind, BackendNetns)
	default:
		return nil, nil, fmt.Errorf("%w: %s cannot inject %s faults", ErrUnsupported, BackendToxiproxy, f.Kind)
	}
	cut, _ := f.links()
	var pxs []*toxiproxy.Proxy
	var links []Link
	var missing []string
	for _, l := range cut {
		px, ok := b.px.proxy(l.From.Name, l.To.Name, l.Endpoint.Name)
		if !ok {
			missing = append(missing, l.String())
			continue
		}
		pxs = append(pxs, px)
		links = append(links, l)
	}
	if len(missing) > 0 && !lenient {
		return nil, nil, fmt.Errorf("chaos: toxiproxy: fault %s: links without a proxy: %s", f.ID, strings.Join(missing, ", "))
	}
	return links, pxs, nil
}

// Inject records the toxics in the ledger, then adds them.
func (b *toxiproxyBackend) Inject(ctx context.Context, f *Fault) error {
	_, pxs, err := b.cutProxies(f, false)
	if err != nil {
		return err
	}
	e := Entry{Op: LedgerIntent, Kind: EntryToxics, Backend: BackendToxiproxy, Fault: f.ID}
	for _, px := range pxs {
		for _, s := range streams {
			e.Toxics = append(e.Toxics, px.Name+"/"+toxicName(f.ID, s.suffix))
		}
	}
	if err := b.env.Ledger.Append(e); err != nil {
		return err
	}
	b.injected = append(b.injected, f)
	for _, px := range pxs {
		for _, s := range streams {
			toxic := map[string]any{"name": toxicName(f.ID, s.suffix), "type": holdToxicType, "stream": s.stream, "toxicity": 1.0}
			if f.Kind == KindDelay {
				toxic = latencyToxic(toxicName(f.ID, s.suffix), s.stream, f.Delay)
			}
			body, _ := json.Marshal(toxic)
			if _, err := px.Toxics.AddToxicJson(strings.NewReader(string(body))); err != nil {
				return fmt.Errorf("chaos: toxiproxy: %s: add %s: %w", px.Name, toxicName(f.ID, s.suffix), err)
			}
		}
	}
	return nil
}

// Heal removes the fault's toxics, releasing what they held. Idempotent;
// nothing to do for a kind Inject refused.
func (b *toxiproxyBackend) Heal(ctx context.Context, f *Fault) (*Process, error) {
	_, pxs, err := b.cutProxies(f, true)
	if errors.Is(err, ErrUnsupported) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, px := range pxs {
		for _, s := range streams {
			err := px.Toxics.RemoveToxic(ctx, toxicName(f.ID, s.suffix))
			if err != nil && !errors.Is(err, toxiproxy.ErrToxicNotFound) {
				errs = append(errs, fmt.Errorf("chaos: toxiproxy: %s: remove %s: %w", px.Name, toxicName(f.ID, s.suffix), err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return nil, b.env.Ledger.Append(Entry{Op: LedgerUndone, Kind: EntryToxics, Backend: BackendToxiproxy, Fault: f.ID})
}

// Observe probes every cut link (and the controls of a one-way cut)
// through its proxy and reads the toxics' held bytes. After inject it wants
// echo probes blocked, controls open, and every cut link proved, either by
// its echo probe or, for connect-only endpoints (a connect to a proxy
// always succeeds, so it proves nothing), by held bytes of real traffic.
// A delay wants every link's echo probe open but no faster than the delay
// (a connect-only link cannot be proved). After heal it wants every link
// open (for a delay, faster than the delay) and no toxic of the fault
// left.
func (b *toxiproxyBackend) Observe(ctx context.Context, f *Fault, phase Phase) (Observation, error) {
	cut, pxs, err := b.cutProxies(f, phase == PhaseHealed)
	if err != nil {
		return Observation{}, err
	}
	_, control := f.links()
	obs := Observation{Phase: phase, Start: time.Now()}
	wantCut, wantControl := wants(phase)
	timeout := b.env.probeTimeout()
	if f.Kind == KindDelay && phase == PhaseInjected {
		wantCut, timeout = Open, delayProbeTimeout(f.Delay, timeout)
	}
	var tasks []probeTask
	add := func(l Link, role string, want Reach) {
		addr, ok := b.px.Addr(l.From.Name, l.To.Name, l.Endpoint.Name)
		if !ok || (l.Endpoint.probeKind() != ProbeEcho && l.Endpoint.probeKind() != ProbeTLS) {
			return
		}
		tasks = append(tasks, probeTask{
			res: linkProbe(l, role, want, addr),
			dial: func(ctx context.Context) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", addr)
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
	probed := map[string]bool{}
	for _, r := range obs.Probes {
		if r.Role == ProbeCut && r.Got == wantCut {
			probed[r.Link] = true
		}
	}
	present, unproved := 0, 0
	for i, px := range pxs {
		var held int64
		for _, s := range streams {
			name := toxicName(f.ID, s.suffix)
			w := px.Toxics.GetToxic(name)
			if w == nil {
				continue
			}
			present++
			if h, ok := w.Toxic.(*holdToxic); ok {
				n := h.held.Load()
				held += n
				obs.Counters = append(obs.Counters, Counter{Where: px.Name, What: name + " " + s.stream, Bytes: uint64(n)})
			}
		}
		if held == 0 && !probed[cut[i].String()] {
			unproved++
		}
	}
	obs.End = time.Now()
	obs.OK, obs.Note = judge(obs.Probes)
	switch {
	case !obs.OK:
	case phase == PhaseInjected && present != len(pxs)*len(streams):
		obs.OK, obs.Note = false, fmt.Sprintf("%d of %d toxics present", present, len(pxs)*len(streams))
	case phase == PhaseInjected && unproved > 0:
		obs.OK, obs.Note = false, fmt.Sprintf("%d links neither probed %s nor holding traffic", unproved, wantCut)
	case phase == PhaseHealed && present != 0:
		obs.OK, obs.Note = false, fmt.Sprintf("%d toxics of %s left", present, f.ID)
	case f.Kind == KindDelay:
		obs.Note = delayNote(obs.Probes, f.Delay, phase)
		obs.OK = obs.Note == ""
	}
	return obs, nil
}

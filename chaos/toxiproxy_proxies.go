package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// linkKey names one directed link: from dials to's endpoint ep.
type linkKey struct{ from, to, ep string }

// Proxies is an in-process toxiproxy server (Shopify/toxiproxy v2) with one
// proxy per directed link, listening on 127.0.0.1 at a free port and
// forwarding to the server endpoint. The runner configures each process to
// reach each peer through Addr(from, to, endpoint), so no link bypasses a
// proxy. (Kafka brokers must advertise the proxy addresses for the same
// reason.)
//
// It drives toxiproxy's ProxyCollection directly rather than through the
// HTTP API and its client: no port to allocate for the API, context-aware
// calls, and typed access to the hold toxic's counters. Proxies live and
// die with the harness process; the ledger records them for the report.
// Safe for concurrent use.
type Proxies struct {
	run    string
	server *toxiproxy.ApiServer
	ledger *Ledger
	log    *slog.Logger

	mu       sync.Mutex
	links    map[linkKey]*toxiproxy.Proxy
	order    []linkKey
	closed   bool
	prepared bool // resetBeforeRun ran
}

// NewProxies starts an empty in-process toxiproxy server for run.
func NewProxies(run string, ledger *Ledger, log *slog.Logger) (*Proxies, error) {
	if err := ValidateRunID(run); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	registerHoldToxic()
	// NB: toxiproxy logs through zerolog; we keep it quiet and log the
	// proxy lifecycle ourselves.
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	return &Proxies{run: run, server: srv, ledger: ledger, log: log.With("run", run, "backend", BackendToxiproxy),
		links: map[linkKey]*toxiproxy.Proxy{}}, nil
}

func proxyName(run string, k linkKey) string {
	return fmt.Sprintf("cr-%s-%s-%s-%s", run, k.from, k.to, k.ep)
}

// Add starts the proxy for the link from → to's endpoint ep and returns its
// listen address. Adding an existing link returns its address.
func (p *Proxies) Add(ctx context.Context, from, to Process, ep Endpoint) (string, error) {
	k := linkKey{from.Name, to.Name, ep.Name}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return "", fmt.Errorf("chaos: toxiproxy: proxies of run %s closed", p.run)
	}
	if px, ok := p.links[k]; ok {
		return px.Listen, nil
	}
	name := proxyName(p.run, k)
	if err := p.ledger.Append(Entry{Op: LedgerIntent, Kind: EntryProxy, Backend: BackendToxiproxy, Name: name, Upstream: ep.Addr}); err != nil {
		return "", err
	}
	px := toxiproxy.NewProxy(p.server, name, "127.0.0.1:0", ep.Addr)
	if err := p.server.Collection.Add(px, true); err != nil {
		return "", fmt.Errorf("chaos: toxiproxy: proxy %s: %w", name, err)
	}
	p.links[k] = px
	p.order = append(p.order, k)
	p.log.Debug("chaos: toxiproxy: proxy up", "proxy", name, "listen", px.Listen, "upstream", ep.Addr)
	return px.Listen, nil
}

// Mesh adds a proxy for every directed link of t: every process to every
// endpoint of every other process.
func (p *Proxies) Mesh(ctx context.Context, t *Topology) error {
	procs := t.Processes()
	for _, from := range procs {
		for _, to := range procs {
			if from.Name == to.Name {
				continue
			}
			for _, ep := range to.Endpoints {
				if _, err := p.Add(ctx, from, to, ep); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Addr returns the address from must dial to reach to's endpoint ep.
func (p *Proxies) Addr(from, to, ep string) (string, bool) {
	px, ok := p.proxy(from, to, ep)
	if !ok {
		return "", false
	}
	return px.Listen, true
}

func (p *Proxies) proxy(from, to, ep string) (*toxiproxy.Proxy, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	px, ok := p.links[linkKey{from, to, ep}]
	return px, ok
}

// Reset removes every toxic (releasing held data) and re-enables every
// proxy, as toxiproxy's POST /reset does. Idempotent.
func (p *Proxies) Reset(ctx context.Context) error {
	p.mu.Lock()
	pxs := make([]*toxiproxy.Proxy, 0, len(p.order))
	for _, k := range p.order {
		pxs = append(pxs, p.links[k])
	}
	p.mu.Unlock()
	var errs []error
	for _, px := range pxs {
		if err := px.Start(); err != nil && !errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
			errs = append(errs, fmt.Errorf("chaos: toxiproxy: start %s: %w", px.Name, err))
		}
		px.Toxics.ResetToxics(ctx)
	}
	return errors.Join(errs...)
}

// resetBeforeRun resets once, before the run's first fault.
func (p *Proxies) resetBeforeRun(ctx context.Context) error {
	p.mu.Lock()
	first := !p.prepared
	p.prepared = true
	p.mu.Unlock()
	if !first {
		return nil
	}
	return p.Reset(ctx)
}

// Close resets every proxy, then stops and removes them all. Idempotent.
func (p *Proxies) Close(ctx context.Context) error {
	err := p.Reset(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return err
	}
	p.closed = true
	err = errors.Join(err, p.server.Collection.Clear())
	for _, k := range p.order {
		err = errors.Join(err, p.ledger.Append(Entry{Op: LedgerUndone, Kind: EntryProxy, Backend: BackendToxiproxy, Name: proxyName(p.run, k)}))
	}
	p.log.Info("chaos: toxiproxy: proxies closed", "count", len(p.order))
	return err
}

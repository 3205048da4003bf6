package scenario

import (
	"context"
	"fmt"
	"slices"

	"github.com/chaosrun/chaosrun/chaos"
	"github.com/chaosrun/chaosrun/internal/place"
)

// newNetnsPlacement builds the run's namespaces: one per process the
// target names, on a bridge of the run, with an uplink so the harness
// reaches them.
func newNetnsPlacement(ctx context.Context, r *runner) (place.Placement, error) {
	nw, err := chaos.NewNetwork(ctx, r.run, r.ledger, r.log)
	if err != nil {
		return nil, fmt.Errorf("netns: create network: %w", err)
	}
	names := r.tgt.Names()
	if r.opt.KafkaNetns != nil {
		// NB: before the processes' namespaces, each of which then gets
		// its route as it is made. Kafka is the shared one: the run makes
		// no namespace for it.
		if err := nw.Share(ctx, r.opt.KafkaNetns); err != nil {
			nw.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("netns: reach the shared Kafka: %w", err)
		}
		names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == place.KafkaName })
	}
	pl, err := chaos.NewNetnsPlacement(ctx, nw, names...)
	if err != nil {
		nw.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("netns: place processes: %w", err)
	}
	r.netns = pl
	return pl, nil
}

// placeProcess adds the fabric's view (namespace, address) to a process.
func (r *runner) placeProcess(p chaos.Process) chaos.Process {
	if r.netns == nil {
		return p
	}
	if ns, ok := r.netns.Namespace(p.Name); ok {
		p.Namespace, p.Addr = ns.Name, ns.Addr
	}
	if p.Name == place.KafkaName && r.opt.KafkaNetns != nil {
		// Cuts of a node's Kafka link match this address.
		p.Namespace, p.Addr = r.opt.KafkaNetns.Name, r.opt.KafkaNetns.Addr
	}
	return p
}

// envNetwork gives the backends the run's namespaces.
func (r *runner) envNetwork(env *chaos.Env) {
	if r.netns != nil {
		env.Network = r.netns.Network()
	}
}

// closeNetwork removes the run's namespaces, bridge and uplink.
func (r *runner) closeNetwork(ctx context.Context) {
	if r.netns != nil {
		if err := r.netns.Close(ctx); err != nil {
			r.envError("remove network: %v", err)
		}
		r.netns = nil
	}
}

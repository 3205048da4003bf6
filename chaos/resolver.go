package chaos

import (
	"context"
	"errors"
	"fmt"
)

// Resolver turns a role into the processes that hold it right now. The
// runner provides one; it is called when a fault fires, never earlier, so
// "owner" means the owner at that moment.
type Resolver interface {
	// Resolve returns the processes r names now, or an error wrapping
	// ErrUnresolved. It must not change any state.
	Resolve(ctx context.Context, r Role) ([]Process, error)
}

// ErrUnresolved reports a role that names no process right now.
var ErrUnresolved = errors.New("chaos: role not resolved")

// NodeFunc returns the NodeID currently holding a dynamic role (the owner,
// or the maintainer of a changefeed), read from the meta store.
type NodeFunc func(ctx context.Context, arg string) (nodeID string, err error)

// TopologyResolver resolves static roles from a Topology and dynamic ones
// through callbacks the runner provides.
type TopologyResolver struct {
	Topology *Topology
	// Owner returns the owner's NodeID (arg is ""); nil makes "owner"
	// unresolvable.
	Owner NodeFunc
	// MaintainerOf returns the NodeID of changefeed arg's maintainer.
	MaintainerOf NodeFunc
}

// Resolve implements Resolver.
func (r *TopologyResolver) Resolve(ctx context.Context, role Role) ([]Process, error) {
	if err := role.Validate(); err != nil {
		return nil, err
	}
	kind, arg := role.Split()
	var match func(Process) bool
	switch kind {
	case RoleKindOwner, RoleKindMaintainerOf:
		fn := r.Owner
		if kind == RoleKindMaintainerOf {
			fn = r.MaintainerOf
		}
		if fn == nil {
			return nil, fmt.Errorf("%w: %s: no callback", ErrUnresolved, role)
		}
		id, err := fn(ctx, arg)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrUnresolved, role, err)
		}
		match = func(p Process) bool { return p.Role == RoleNode && p.NodeID == id }
	case RoleKindNode:
		match = func(p Process) bool { return p.Role == RoleNode && (arg == "*" || p.NodeID == arg) }
	case RoleKindProcess:
		match = func(p Process) bool { return p.Name == arg }
	default: // kafka, meta, upstream
		match = func(p Process) bool { return p.Role == kind }
	}
	var out []Process
	for _, p := range r.Topology.Processes() {
		if match(p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s matches no process", ErrUnresolved, role)
	}
	return out, nil
}

// resolveFault resolves a spec into a Fault: exactly one target process and,
// for network kinds, the deduplicated peers of every link set, minus the target.
func resolveFault(ctx context.Context, res Resolver, run string, s Spec) (*Fault, error) {
	targets, err := res.Resolve(ctx, s.Target)
	if err != nil {
		return nil, err
	}
	if len(targets) != 1 {
		return nil, fmt.Errorf("%w: fault %s: target %s resolves to %d processes, want 1", ErrUnresolved, s.ID, s.Target, len(targets))
	}
	f := &Fault{Spec: s, Run: run, Target: targets[0]}
	if !s.Kind.Network() {
		return f, nil
	}
	seen := map[string]bool{f.Target.Name: true}
	for _, set := range s.Links {
		role := Role(set)
		if set == LinkPeers {
			role = Role(RoleKindNode + ":*")
		}
		ps, err := res.Resolve(ctx, role)
		if err != nil {
			if set == LinkPeers && errors.Is(err, ErrUnresolved) {
				continue
			}
			return nil, fmt.Errorf("fault %s: link set %s: %w", s.ID, set, err)
		}
		for _, p := range ps {
			if !seen[p.Name] {
				seen[p.Name] = true
				f.Peers = append(f.Peers, p)
			}
		}
	}
	if len(f.Peers) == 0 {
		return nil, fmt.Errorf("%w: fault %s: link sets %v leave no peer", ErrUnresolved, s.ID, s.Links)
	}
	return f, nil
}

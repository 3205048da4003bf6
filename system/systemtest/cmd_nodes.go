package systemtest

import (
	"fmt"

	"github.com/chaosrun/chaosrun/fencing"
)

// Node commands: build the cluster, elect its owner, crash and restart
// nodes.

// Bounds of reset: node ids are n1..n9, and a changefeed of more tables
// says nothing a smaller one does not.
const (
	maxNodes  = 9
	maxTables = 64
)

func cmdReset(r *Runner, a args) (string, error) {
	p, err := fencing.ParsePolicy(a.str("policy", "epoch"))
	if err != nil {
		return "", a.errorf("%w", err)
	}
	nodes, err := a.count("nodes", 3, 1, maxNodes)
	if err != nil {
		return "", err
	}
	tables, err := a.count("tables", 4, 1, maxTables)
	if err != nil {
		return "", err
	}
	if pos := a.positional(); len(pos) > 0 {
		return "", a.errorf("unexpected argument %q", pos[0])
	}
	r.Env = NewEnv(p, nodes, tables)
	return fmt.Sprintf("policy=%s nodes=%v cf1 tables=%d epoch=1 checkpoint=1000\n", p, r.Env.ids(), tables), nil
}

func cmdElect(r *Runner, a args) (string, error) {
	e := r.Env
	n, err := a.node(e.node)
	if err != nil {
		return "", err
	}
	if n.isolated {
		return "", fmt.Errorf("%s cannot reach the meta store", n.id)
	}
	rev := e.meta.Elect(n.id)
	e.out.add("%s elected owner at revision %d", n.id, rev)
	n.roles.BecomeOwner(rev)
	n.roles.NodesChanged(e.members())
	e.process(n)
	e.announce()
	return "", nil
}

func cmdCrash(r *Runner, a args) (string, error) {
	e := r.Env
	n, err := a.node(e.node)
	if err != nil {
		return "", err
	}
	_ = n.ep.Close()
	for range n.ep.Recv() {
	}
	n.crashed = true
	n.dispatch = nil
	e.announce()
	return "", nil
}

func cmdRestart(r *Runner, a args) (string, error) {
	e := r.Env
	n, err := a.node(e.known)
	if err != nil {
		return "", err
	}
	if !n.crashed {
		return "", fmt.Errorf("%s is not crashed", n.id)
	}
	e.start(n, e.membersWith(n.id))
	e.announce()
	return "", nil
}

package systemtest

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/system/roles"
	"github.com/chaosrun/chaosrun/system/roles/metaeffect/metaeffecttest"
	"github.com/chaosrun/chaosrun/system/transport/inmem"
)

// UpstreamStep is how far the upstream clock advances per tick.
const UpstreamStep = 10

// Env is the interaction environment.
type Env struct {
	Policy   fencing.Policy
	Net      *inmem.Network
	nodes    map[string]*node
	meta     *metaeffecttest.MemStore
	upstream uint64
	sink     map[string]*sinkState
	out      lines
	verbose  bool // print every decision
}

type node struct {
	id       string
	roles    *roles.Node
	ep       *inmem.Endpoint
	crashed  bool
	isolated bool
	dispatch map[string]map[string]int64 // changefeed -> dispatcher -> table
}

type sinkState struct {
	watermark uint64
	epoch     uint64
	node      string
	stale     int
}

// NewEnv returns an environment with n nodes (n1..nN) and one changefeed
// cf1 over tables 1..tables, at epoch 1 and checkpoint 1000.
func NewEnv(p fencing.Policy, n, tables int) *Env {
	info := roles.ChangefeedInfo{ID: "cf1", Epoch: 1, Checkpoint: 1000}
	for t := 1; t <= tables; t++ {
		info.Tables = append(info.Tables, int64(t))
	}
	e := &Env{
		Policy:   p,
		Net:      inmem.New(inmem.Config{Manual: true, Seed: 1}),
		nodes:    map[string]*node{},
		meta:     metaeffecttest.NewMemStore(info),
		upstream: 1000,
		sink:     map[string]*sinkState{},
	}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		e.nodes[id] = &node{id: id}
	}
	alive := e.members()
	for _, id := range alive {
		e.start(e.nodes[id], alive)
	}
	return e
}

func (e *Env) start(n *node, alive []string) {
	ep, err := e.Net.Join(n.id)
	if err != nil {
		panic(err) // the env never joins a live id twice
	}
	n.ep, n.crashed, n.isolated = ep, false, false
	n.roles = roles.NewNode(n.id, e.Policy, roles.Config{}, alive)
	n.dispatch = map[string]map[string]int64{}
}

func (e *Env) ids() []string { return slices.Sorted(maps.Keys(e.nodes)) }

// members is the membership as the meta store sees it: live, reachable nodes.
func (e *Env) members() []string {
	var out []string
	for _, id := range e.ids() {
		if n := e.nodes[id]; !n.crashed && !n.isolated {
			out = append(out, id)
		}
	}
	return out
}

// membersWith is the membership with id added.
func (e *Env) membersWith(id string) []string {
	m := e.members()
	if !slices.Contains(m, id) {
		m = append(m, id)
		slices.Sort(m)
	}
	return m
}

// known returns node id, crashed or not.
func (e *Env) known(id string) (*node, error) {
	n, ok := e.nodes[id]
	if !ok {
		return nil, fmt.Errorf("unknown node %q", id)
	}
	return n, nil
}

// node returns live node id.
func (e *Env) node(id string) (*node, error) {
	n, err := e.known(id)
	if err != nil {
		return nil, err
	}
	if n.crashed {
		return nil, fmt.Errorf("node %s is crashed", id)
	}
	return n, nil
}

// owner returns the coordinator of the elected owner, if that node is up.
func (e *Env) owner() *roles.Coordinator {
	id, _ := e.meta.Owner()
	if n := e.nodes[id]; n != nil && !n.crashed {
		return n.roles.Coordinator
	}
	return nil
}

// metaEpoch is the persisted epoch of changefeed cf (0 if unknown).
func (e *Env) metaEpoch(cf string) uint64 {
	info, _ := e.meta.Changefeed(cf)
	return info.Epoch
}

// announce tells every node that can reach the meta store the current
// membership and owner.
func (e *Env) announce() {
	alive := e.members()
	owner, rev := e.meta.Owner()
	for _, id := range alive {
		n := e.nodes[id]
		n.roles.NodesChanged(alive)
		if c := n.roles.Coordinator; c != nil && (owner != id || c.Version() != rev) {
			n.roles.StepDown(fmt.Sprintf("owner is now %s (rev %d)", owner, rev))
		}
		e.process(n)
	}
}

// process drains a node's Ready until it is empty, applying effects.
func (e *Env) process(n *node) {
	for range 100 {
		r := n.roles.Ready()
		if r.Empty() {
			return
		}
		for _, env := range r.Messages {
			if err := n.ep.Send(context.Background(), env); err != nil {
				e.out.add("%s send %s to %s failed: %v", n.id, kindOf(env), env.GetTo(), err)
			}
		}
		for _, d := range r.Drops {
			e.out.add("%s", d.String())
		}
		for _, d := range r.Decisions {
			e.logDecision(d)
		}
		for _, eff := range r.Effects {
			e.apply(n, eff)
		}
	}
	panic("systemtest: a node kept producing output") // a role bug, not an input
}

// tick advances every live node and the upstream by one tick.
func (e *Env) tick() {
	e.Net.Tick()
	e.upstream += UpstreamStep
	for _, id := range e.ids() {
		n := e.nodes[id]
		if n.crashed {
			continue
		}
		for _, cf := range slices.Sorted(maps.Keys(n.dispatch)) {
			for _, d := range slices.Sorted(maps.Keys(n.dispatch[cf])) {
				n.roles.Dispatchers.DispatcherProgress(cf, d, e.upstream)
			}
		}
		n.roles.Tick()
		e.process(n)
	}
}

// deliver hands the matching in-flight envelopes to their receivers once.
func (e *Env) deliver(match func(inmem.Flight) bool) int {
	fs := e.Net.Deliver(match)
	for _, f := range fs {
		n := e.nodes[f.Env.GetTo()]
		env := <-n.ep.Recv()
		n.roles.Step(env)
		e.process(n)
	}
	return len(fs)
}

// stabilize delivers until nothing deliverable is left (bounded).
func (e *Env) stabilize(match func(inmem.Flight) bool) int {
	total := 0
	for range 50 {
		c := e.deliver(match)
		total += c
		if c == 0 {
			break
		}
	}
	return total
}

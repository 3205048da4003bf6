package roles_test

import (
	"fmt"
	"maps"
	"slices"

	"github.com/chaosrun/chaosrun/fencing"
	pb "github.com/chaosrun/chaosrun/heartbeatpb"
	"github.com/chaosrun/chaosrun/system/roles"
)

// cluster is a minimal driver for tests: three nodes, a lossless network
// that delivers in send order, and a meta store that always answers.
type cluster struct {
	nodes    map[string]*roles.Node
	queue    []*pb.Envelope
	epoch    uint64
	cp       uint64
	upstream uint64
	drops    []roles.Drop
	decided  []roles.Decision
	disp     map[string]map[string]bool // node -> dispatcher ids
}

func newCluster(p fencing.Policy) *cluster {
	c := &cluster{nodes: map[string]*roles.Node{}, epoch: 1, cp: 1000, upstream: 1000, disp: map[string]map[string]bool{}}
	alive := []string{"n1", "n2", "n3"}
	for _, id := range alive {
		c.nodes[id] = roles.NewNode(id, p, roles.Config{}, alive)
		c.disp[id] = map[string]bool{}
	}
	c.nodes["n1"].BecomeOwner(1)
	c.drain("n1")
	return c
}

func (c *cluster) drain(id string) {
	n := c.nodes[id]
	for {
		r := n.Ready()
		if r.Empty() {
			return
		}
		c.queue = append(c.queue, r.Messages...)
		c.drops = append(c.drops, r.Drops...)
		c.decided = append(c.decided, r.Decisions...)
		for _, e := range r.Effects {
			switch f := e.(type) {
			case roles.LoadChangefeeds:
				n.Coordinator.ChangefeedsLoaded([]roles.ChangefeedInfo{{ID: "cf1", Epoch: c.epoch, Checkpoint: c.cp, Tables: []int64{1, 2, 3, 4}}})
			case roles.PersistEpoch:
				ok := f.Expected == c.epoch
				if ok {
					c.epoch = f.Next
				}
				n.Coordinator.EpochPersisted(f.Changefeed, roles.EpochResult{OK: ok, Epoch: c.epoch})
			case roles.PersistCheckpoint:
				c.cp = max(c.cp, f.Checkpoint)
				n.Coordinator.CheckpointPersisted(f.Changefeed, roles.CheckpointResult{OK: true, Checkpoint: f.Checkpoint, CurrentRevision: 1})
			case roles.CreateDispatcher:
				c.disp[id][f.DispatcherID] = true
			case roles.RemoveDispatcher:
				delete(c.disp[id], f.DispatcherID)
			}
		}
	}
}

// round ticks every node once and delivers until the network is empty.
func (c *cluster) round() {
	c.upstream += 10
	for _, id := range slices.Sorted(maps.Keys(c.nodes)) {
		for d := range c.disp[id] {
			c.nodes[id].Dispatchers.DispatcherProgress("cf1", d, c.upstream)
		}
		c.nodes[id].Tick()
		c.drain(id)
	}
	for len(c.queue) > 0 {
		env := c.queue[0]
		c.queue = c.queue[1:]
		n := c.nodes[env.GetTo()]
		if n == nil {
			panic(fmt.Sprintf("message to unknown node %s", env.GetTo()))
		}
		n.Step(env)
		c.drain(env.GetTo())
	}
}

// warm returns a cluster in steady state: cf1's maintainer runs on n1 at
// epoch 2 and four dispatchers replicate.
func warm(p fencing.Policy) *cluster {
	c := newCluster(p)
	for range 12 {
		c.round()
	}
	return c
}

package roles

import (
	"strings"

	"github.com/chaosrun/chaosrun/fencing"
	pb "github.com/chaosrun/chaosrun/heartbeatpb"
)

// Node bundles the roles of one CDC node and routes envelopes to them by
// topic. The coordinator exists only while the node is the owner.
type Node struct {
	id          string
	policy      fencing.Policy
	cfg         Config
	alive       []string
	out         outbox
	Coordinator *Coordinator // nil unless the node is the owner
	Maintainers *MaintainerManager
	Dispatchers *Orchestrator
}

// NewNode returns a node that sees the members alive.
func NewNode(id string, p fencing.Policy, cfg Config, alive []string) *Node {
	return &Node{
		id:          id,
		policy:      p,
		cfg:         cfg,
		alive:       sortedCopy(alive),
		out:         outbox{node: id, role: RoleNode},
		Maintainers: NewMaintainerManager(id, p, cfg, alive),
		Dispatchers: NewOrchestrator(id, p, cfg),
	}
}

// ID returns the node's id.
func (n *Node) ID() string { return n.id }

// BecomeOwner starts a coordinator elected at owner revision version,
// replacing any previous one.
func (n *Node) BecomeOwner(version int64) {
	n.Coordinator = NewCoordinator(n.id, version, n.policy, n.cfg, n.alive)
}

// StepDown stops the node's coordinator, if any.
func (n *Node) StepDown(reason string) {
	if n.Coordinator != nil {
		n.out.out.append(n.Coordinator.Ready())
		n.Coordinator = nil
		n.out.effect(StepDown{Reason: reason})
	}
}

// Step routes a delivered envelope by topic.
func (n *Node) Step(env *pb.Envelope) {
	if err := CheckEnvelope(env, n.id); err != nil {
		n.out.drop(env.GetTopic(), "", "%v", err)
		return
	}
	switch env.GetTopic() {
	case TopicCoordinator:
		if n.Coordinator == nil {
			n.out.drop(env.GetTopic(), firstKind(env), "not the owner (from %s)", env.GetFrom())
			return
		}
		n.Coordinator.Step(env)
	case TopicMaintainerManager, TopicMaintainer:
		n.Maintainers.Step(env)
	case TopicDispatcherManagerManager, TopicHeartbeatCollector:
		n.Dispatchers.Step(env)
	default:
		n.out.drop(env.GetTopic(), firstKind(env), "unknown topic")
	}
}

func firstKind(env *pb.Envelope) string {
	if len(env.GetPayloads()) == 0 {
		return ""
	}
	return Kind(env.GetPayloads()[0])
}

// Tick ticks every role once.
func (n *Node) Tick() {
	if n.Coordinator != nil {
		n.Coordinator.Tick()
	}
	n.Maintainers.Tick()
	n.Dispatchers.Tick()
}

// NodesChanged gives every role the membership the node now sees.
func (n *Node) NodesChanged(alive []string) {
	n.alive = sortedCopy(alive)
	if n.Coordinator != nil {
		n.Coordinator.NodesChanged(n.alive)
	}
	n.Maintainers.NodesChanged(n.alive)
}

// Ready drains every role's output: node-level drops first, then the
// coordinator, the maintainers and the dispatcher managers.
func (n *Node) Ready() Ready {
	r := n.out.out.take()
	if n.Coordinator != nil {
		r.append(n.Coordinator.Ready())
	}
	r.append(n.Maintainers.Ready())
	r.append(n.Dispatchers.Ready())
	return r
}

// String dumps every role deterministically.
func (n *Node) String() string {
	var b strings.Builder
	if n.Coordinator != nil {
		b.WriteString(n.Coordinator.String())
	}
	b.WriteString(n.Maintainers.String())
	b.WriteString(n.Dispatchers.String())
	return b.String()
}

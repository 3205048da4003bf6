package roles

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/chaosrun/chaosrun/fencing"
	pb "github.com/chaosrun/chaosrun/heartbeatpb"
)

// MaintainerManager runs on every node (TiCDC's maintainer.Manager): it
// answers the coordinator's bootstrap, admits add and remove requests
// through fencing, hosts the node's maintainers, routes dispatcher-manager
// traffic to them by changefeed and reports their statuses.
type MaintainerManager struct {
	outbox
	policy      fencing.Policy
	cfg         Config
	tick        int
	alive       []string
	coordinator string
	version     int64
	maintainers map[string]*Maintainer
}

// NewMaintainerManager returns the maintainer manager of node, which sees
// the members alive.
func NewMaintainerManager(node string, p fencing.Policy, cfg Config, alive []string) *MaintainerManager {
	return &MaintainerManager{
		outbox:      outbox{node: node, role: RoleMaintainerManager},
		policy:      p,
		cfg:         cfg.withDefaults(),
		alive:       sortedCopy(alive),
		maintainers: map[string]*Maintainer{},
	}
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// Ready drains what the manager and its maintainers produced.
func (mm *MaintainerManager) Ready() Ready { return mm.out.take() }

// Step handles an envelope on TopicMaintainerManager or TopicMaintainer.
func (mm *MaintainerManager) Step(env *pb.Envelope) {
	mm.receive(env, "maintainer manager", mm.step, TopicMaintainerManager, TopicMaintainer)
}

func (mm *MaintainerManager) step(from, kind string, m *pb.Message) {
	switch b := m.GetBody().(type) {
	case *pb.Message_CoordinatorBootstrapRequest:
		v := b.CoordinatorBootstrapRequest.GetVersion()
		if v < mm.version {
			mm.drop(TopicMaintainerManager, kind, "coordinator version %d older than %d (from %s)", v, mm.version, from)
			return
		}
		mm.coordinator, mm.version = from, v
		mm.send(from, TopicCoordinator, &pb.CoordinatorBootstrapResponse{Version: v, Statuses: mm.statuses()})
	case *pb.Message_AddMaintainerRequest:
		mm.onAdd(from, b.AddMaintainerRequest)
	case *pb.Message_RemoveMaintainerRequest:
		mm.onRemove(from, b.RemoveMaintainerRequest)
	default:
		mm.route(from, kind, m)
	}
}

func (mm *MaintainerManager) fromCoordinator(from, kind string) bool {
	if from != mm.coordinator {
		mm.drop(TopicMaintainerManager, kind, "not from the current coordinator %q (from %s)", mm.coordinator, from)
		return false
	}
	return true
}

func (mm *MaintainerManager) onAdd(from string, r *pb.AddMaintainerRequest) {
	const kind = "AddMaintainerRequest"
	if !mm.fromCoordinator(from, kind) {
		return
	}
	cfg, err := DecodeConfig(r.GetConfig())
	if err != nil {
		mm.drop(TopicMaintainerManager, kind, "%v", err)
		return
	}
	cf := r.GetChangefeedId()
	existing := fencing.Existing{}
	if m := mm.maintainers[cf]; m != nil {
		existing = fencing.Existing{Present: true, Epoch: m.epoch, Stopped: m.stopped()}
	}
	if !mm.decide(cf, kind, fencing.ManagerAdd(mm.policy, existing, claim(from, r.GetMaintainerEpoch()))).Acts() {
		return
	}
	m := newMaintainer(mm.maintainerOutbox(), mm.policy, mm.cfg, cf, r.GetMaintainerEpoch(),
		r.GetCheckpointTs(), r.GetConfig(), cfg.Tables, mm.alive, mm.tick)
	mm.maintainers[cf] = m
	mm.collect(m)
}

// maintainerOutbox lets maintainers write into the manager's Ready under
// their own role name.
func (mm *MaintainerManager) maintainerOutbox() *outbox {
	return &outbox{node: mm.node, role: RoleMaintainer}
}

func (mm *MaintainerManager) onRemove(from string, r *pb.RemoveMaintainerRequest) {
	const kind = "RemoveMaintainerRequest"
	if !mm.fromCoordinator(from, kind) {
		return
	}
	cf := r.GetChangefeedId()
	if m := mm.maintainers[cf]; m != nil {
		if mm.decide(cf, kind, fencing.MaintainerRemove(mm.policy, m.epoch, claim(from, r.GetMaintainerEpoch()))).Acts() {
			m.remove(r.GetCascade(), r.GetRemoved())
			mm.collect(m)
		}
		return
	}
	if !r.GetCascade() {
		// Nothing to stop: report Stopped at the request's epoch so the
		// coordinator's operator can finish.
		mm.send(from, TopicCoordinator, &pb.MaintainerHeartbeat{Statuses: []*pb.MaintainerStatus{{
			ChangefeedId: cf, State: pb.ComponentState_COMPONENT_STATE_STOPPED, MaintainerEpoch: r.GetMaintainerEpoch(),
		}}})
		return
	}
	// A cascade remove with no local maintainer runs the close fan-out in a
	// removal-only maintainer at the request's epoch.
	m := newRemovalMaintainer(mm.maintainerOutbox(), mm.policy, mm.cfg, cf, r.GetMaintainerEpoch(), r.GetRemoved(), mm.alive, mm.tick)
	mm.maintainers[cf] = m
	mm.collect(m)
}

// route hands dispatcher-manager and coordinator traffic to the maintainer
// of its changefeed.
func (mm *MaintainerManager) route(from, kind string, msg *pb.Message) {
	var cf string
	switch b := msg.GetBody().(type) {
	case *pb.Message_MaintainerBootstrapResponse:
		cf = b.MaintainerBootstrapResponse.GetChangefeedId()
	case *pb.Message_MaintainerPostBootstrapResponse:
		cf = b.MaintainerPostBootstrapResponse.GetChangefeedId()
	case *pb.Message_MaintainerCloseResponse:
		cf = b.MaintainerCloseResponse.GetChangefeedId()
	case *pb.Message_HeartBeatRequest:
		cf = b.HeartBeatRequest.GetChangefeedId()
	case *pb.Message_CheckpointTsMessage:
		cf = b.CheckpointTsMessage.GetChangefeedId()
	}
	m := mm.maintainers[cf]
	if m == nil {
		mm.drop(TopicOf(msg), kind, "no maintainer for %s (from %s)", cf, from)
		return
	}
	switch b := msg.GetBody().(type) {
	case *pb.Message_MaintainerBootstrapResponse:
		m.onBootstrapResponse(from, b.MaintainerBootstrapResponse)
	case *pb.Message_MaintainerPostBootstrapResponse:
		m.onPostBootstrapResponse(from, b.MaintainerPostBootstrapResponse)
	case *pb.Message_MaintainerCloseResponse:
		m.onCloseResponse(from, b.MaintainerCloseResponse)
	case *pb.Message_HeartBeatRequest:
		m.onHeartbeat(from, b.HeartBeatRequest)
	case *pb.Message_CheckpointTsMessage:
		if from != mm.coordinator {
			mm.drop(TopicOf(msg), kind, "not from the current coordinator %q (from %s)", mm.coordinator, from)
			return
		}
		m.onCheckpoint(from, b.CheckpointTsMessage)
	}
	mm.collect(m)
}

// collect moves a maintainer's output into the manager's Ready.
func (mm *MaintainerManager) collect(m *Maintainer) { mm.out.append(m.outbox.out.take()) }

func (mm *MaintainerManager) statuses() []*pb.MaintainerStatus {
	var out []*pb.MaintainerStatus
	for _, cf := range slices.Sorted(maps.Keys(mm.maintainers)) {
		out = append(out, mm.maintainers[cf].Status())
	}
	return out
}

// Tick ticks every maintainer and, every HeartbeatTicks, reports their
// statuses to the coordinator; a stopped maintainer is unregistered once
// its status was reported.
func (mm *MaintainerManager) Tick() {
	mm.tick++
	for _, cf := range slices.Sorted(maps.Keys(mm.maintainers)) {
		m := mm.maintainers[cf]
		m.onTick()
		mm.collect(m)
	}
	if mm.tick%mm.cfg.HeartbeatTicks != 0 || mm.coordinator == "" || len(mm.maintainers) == 0 {
		return
	}
	mm.send(mm.coordinator, TopicCoordinator, &pb.MaintainerHeartbeat{Statuses: mm.statuses()})
	for cf, m := range mm.maintainers {
		if m.stopped() {
			delete(mm.maintainers, cf)
		}
	}
}

// NodesChanged gives the manager and its maintainers the membership the
// node now sees.
func (mm *MaintainerManager) NodesChanged(alive []string) {
	mm.alive = sortedCopy(alive)
	for _, cf := range slices.Sorted(maps.Keys(mm.maintainers)) {
		m := mm.maintainers[cf]
		m.nodesChanged(mm.alive)
		mm.collect(m)
	}
}

// MaintainerView is a maintainer as seen from outside.
type MaintainerView struct {
	Epoch         uint64
	State         pb.ComponentState
	Checkpoint    uint64
	BootstrapDone bool
	Stall         string
}

// Maintainers returns the node's maintainers by changefeed.
func (mm *MaintainerManager) Maintainers() map[string]MaintainerView {
	return views(mm.maintainers, (*Maintainer).view)
}

func (m *Maintainer) view() MaintainerView {
	return MaintainerView{Epoch: m.epoch, State: m.state, Checkpoint: m.checkpoint, BootstrapDone: m.postDone, Stall: m.stall}
}

// String dumps the manager deterministically.
func (mm *MaintainerManager) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "maintainer-manager coordinator=%s v%d alive=%v\n", orDash(mm.coordinator), mm.version, mm.alive)
	for _, cf := range slices.Sorted(maps.Keys(mm.maintainers)) {
		b.WriteString(mm.maintainers[cf].String())
		b.WriteString("\n")
	}
	return b.String()
}

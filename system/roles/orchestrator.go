package roles

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/chaosrun/chaosrun/fencing"
	pb "github.com/chaosrun/chaosrun/heartbeatpb"
)

// Orchestrator runs the dispatcher managers of one node (TiCDC's
// DispatcherOrchestrator plus its DispatcherManagers): one per changefeed,
// owned by the (maintainer node, epoch) that bootstrapped it, with a close
// tombstone per changefeed.
type Orchestrator struct {
	outbox
	policy     fencing.Policy
	cfg        Config
	tick       int
	managers   map[string]*dispatcherManager
	tombstones map[string]uint64 // changefeed -> highest close epoch
}

type dispatcherManager struct {
	owner       string
	epoch       uint64
	seq         uint64
	dispatchers map[string]*dispatcher
	stopped     []string // removed since the last heartbeat, reported once
}

type dispatcher struct {
	span       *pb.TableSpan
	checkpoint uint64
}

// NewOrchestrator returns the dispatcher side of node.
func NewOrchestrator(node string, p fencing.Policy, cfg Config) *Orchestrator {
	return &Orchestrator{
		outbox:     outbox{node: node, role: RoleDispatcherManager},
		policy:     p,
		cfg:        cfg.withDefaults(),
		managers:   map[string]*dispatcherManager{},
		tombstones: map[string]uint64{},
	}
}

// Ready drains what the orchestrator produced.
func (o *Orchestrator) Ready() Ready { return o.out.take() }

func (o *Orchestrator) owner(cf string) fencing.Owner {
	ow := fencing.Owner{}
	if m := o.managers[cf]; m != nil {
		ow = fencing.Owner{Present: true, Node: m.owner, Epoch: m.epoch}
	}
	if e, ok := o.tombstones[cf]; ok {
		ow.Closed, ow.ClosedEpoch = true, e
	}
	return ow
}

// Step handles an envelope on TopicDispatcherManagerManager or
// TopicHeartbeatCollector.
func (o *Orchestrator) Step(env *pb.Envelope) {
	o.receive(env, "dispatcher side", o.step, TopicDispatcherManagerManager, TopicHeartbeatCollector)
}

func (o *Orchestrator) step(from, kind string, m *pb.Message) {
	switch b := m.GetBody().(type) {
	case *pb.Message_MaintainerBootstrapRequest:
		o.onBootstrap(from, b.MaintainerBootstrapRequest)
	case *pb.Message_MaintainerPostBootstrapRequest:
		r := b.MaintainerPostBootstrapRequest
		cf := r.GetChangefeedId()
		if d := o.decide(cf, kind, fencing.ManagerAdmit(o.policy, o.owner(cf), claim(from, r.GetMaintainerEpoch()))); d.Acts() {
			o.send(from, TopicMaintainerManager, &pb.MaintainerPostBootstrapResponse{
				ChangefeedId: cf, MaintainerEpoch: o.managers[cf].epoch,
			})
		}
	case *pb.Message_MaintainerCloseRequest:
		o.onClose(from, b.MaintainerCloseRequest)
	case *pb.Message_ScheduleDispatcherRequest:
		o.onSchedule(from, b.ScheduleDispatcherRequest)
	case *pb.Message_HeartBeatResponse:
		r := b.HeartBeatResponse
		// Acknowledgements carry no action in this model; admission is all.
		o.decide(r.GetChangefeedId(), kind, fencing.ManagerAdmit(o.policy, o.owner(r.GetChangefeedId()), claim(from, r.GetMaintainerEpoch())))
	case *pb.Message_CheckpointTsMessage:
		r := b.CheckpointTsMessage
		cf := r.GetChangefeedId()
		if d := o.decide(cf, kind, fencing.ManagerAdmit(o.policy, o.owner(cf), claim(from, r.GetMaintainerEpoch()))); d.Acts() {
			o.effect(WriteWatermark{Changefeed: cf, Ts: r.GetCheckpointTs(), Epoch: r.GetMaintainerEpoch()})
		}
	default:
		o.drop(TopicOf(m), kind, "not handled by the dispatcher side")
	}
}

func claim(from string, epoch uint64) fencing.Claim { return fencing.Claim{From: from, Epoch: epoch} }

func (o *Orchestrator) onBootstrap(from string, r *pb.MaintainerBootstrapRequest) {
	cf := r.GetChangefeedId()
	d := o.decide(cf, "MaintainerBootstrapRequest", fencing.ManagerBootstrap(o.policy, o.owner(cf), claim(from, r.GetMaintainerEpoch())))
	m := o.managers[cf]
	switch {
	case d.Verdict == fencing.TakeOver:
		if m == nil {
			m = &dispatcherManager{dispatchers: map[string]*dispatcher{}}
			o.managers[cf] = m
		}
		m.owner, m.epoch = from, r.GetMaintainerEpoch()
		// Also on a takeover: the driver stamps what the manager writes
		// from now on with the new owner's epoch.
		o.effect(OpenManager{Changefeed: cf, Owner: from, Epoch: r.GetMaintainerEpoch()})
	case d.Verdict == fencing.Duplicate && m != nil:
	default:
		return // a stale bootstrap gets no answer
	}
	resp := &pb.MaintainerBootstrapResponse{ChangefeedId: cf, MaintainerEpoch: m.epoch}
	for _, id := range slices.Sorted(maps.Keys(m.dispatchers)) {
		ds := m.dispatchers[id]
		resp.Spans = append(resp.Spans, &pb.BootstrapTableSpan{
			DispatcherId: id, Span: ds.span, ComponentStatus: pb.ComponentState_COMPONENT_STATE_WORKING, CheckpointTs: ds.checkpoint,
		})
	}
	resp.CheckpointTs = m.checkpoint()
	o.send(from, TopicMaintainerManager, resp)
}

func (o *Orchestrator) onClose(from string, r *pb.MaintainerCloseRequest) {
	cf := r.GetChangefeedId()
	d := o.decide(cf, "MaintainerCloseRequest", fencing.ManagerClose(o.policy, o.owner(cf), claim(from, r.GetMaintainerEpoch()), r.GetRemoved()))
	if d.Tombstone {
		o.tombstones[cf] = r.GetMaintainerEpoch()
	}
	switch d.Verdict {
	case fencing.Accept:
		m := o.managers[cf]
		for _, id := range slices.Sorted(maps.Keys(m.dispatchers)) {
			o.effect(RemoveDispatcher{Changefeed: cf, DispatcherID: id})
		}
		delete(o.managers, cf)
		o.effect(CloseManager{Changefeed: cf})
	case fencing.AckWithoutActing:
	default:
		o.send(from, TopicMaintainer, &pb.MaintainerCloseResponse{ChangefeedId: cf, MaintainerEpoch: r.GetMaintainerEpoch()})
		return
	}
	o.send(from, TopicMaintainer, &pb.MaintainerCloseResponse{ChangefeedId: cf, Success: true, MaintainerEpoch: r.GetMaintainerEpoch()})
}

func (o *Orchestrator) onSchedule(from string, r *pb.ScheduleDispatcherRequest) {
	cf := r.GetChangefeedId()
	d := o.decide(cf, "ScheduleDispatcherRequest", fencing.ManagerAdmit(o.policy, o.owner(cf), claim(from, r.GetMaintainerEpoch())))
	if !d.Acts() {
		return
	}
	m := o.managers[cf]
	c := r.GetConfig()
	id := c.GetDispatcherId()
	switch r.GetScheduleAction() {
	case pb.ScheduleAction_SCHEDULE_ACTION_CREATE:
		if _, ok := m.dispatchers[id]; ok {
			return // resent create: already running
		}
		m.dispatchers[id] = &dispatcher{span: c.GetSpan(), checkpoint: c.GetStartTs()}
		m.stopped = slices.DeleteFunc(m.stopped, func(s string) bool { return s == id })
		o.effect(CreateDispatcher{Changefeed: cf, DispatcherID: id, Span: c.GetSpan(), StartTs: c.GetStartTs(), Epoch: r.GetMaintainerEpoch()})
	case pb.ScheduleAction_SCHEDULE_ACTION_REMOVE:
		if _, ok := m.dispatchers[id]; !ok {
			return
		}
		delete(m.dispatchers, id)
		m.stopped = append(m.stopped, id)
		o.effect(RemoveDispatcher{Changefeed: cf, DispatcherID: id})
	}
}

// DispatcherProgress records a dispatcher's checkpoint. It reports false if
// the node runs no such dispatcher (the driver may race a removal).
func (o *Orchestrator) DispatcherProgress(cf, dispatcherID string, checkpoint uint64) bool {
	m := o.managers[cf]
	if m == nil {
		return false
	}
	d := m.dispatchers[dispatcherID]
	if d == nil {
		return false
	}
	d.checkpoint = max(d.checkpoint, checkpoint)
	return true
}

// Tick advances time; every HeartbeatTicks each manager heartbeats to its
// recorded maintainer with its watermark and dispatcher statuses, stamped
// with its recorded epoch.
func (o *Orchestrator) Tick() {
	o.tick++
	if o.tick%o.cfg.HeartbeatTicks != 0 {
		return
	}
	for _, cf := range slices.Sorted(maps.Keys(o.managers)) {
		m := o.managers[cf]
		m.seq++
		req := &pb.HeartBeatRequest{
			ChangefeedId:    cf,
			Watermark:       &pb.Watermark{CheckpointTs: m.checkpoint(), ResolvedTs: m.checkpoint(), Seq: m.seq},
			CompleteStatus:  true,
			MaintainerEpoch: m.epoch,
		}
		for _, id := range slices.Sorted(maps.Keys(m.dispatchers)) {
			d := m.dispatchers[id]
			req.Statuses = append(req.Statuses, &pb.TableSpanStatus{
				DispatcherId: id, Span: d.span, ComponentStatus: pb.ComponentState_COMPONENT_STATE_WORKING,
				CheckpointTs: d.checkpoint, ResolvedTs: d.checkpoint,
			})
		}
		for _, id := range m.stopped {
			req.Statuses = append(req.Statuses, &pb.TableSpanStatus{DispatcherId: id, ComponentStatus: pb.ComponentState_COMPONENT_STATE_STOPPED})
		}
		m.stopped = nil
		o.send(m.owner, TopicMaintainerManager, req)
	}
}

// checkpoint is the minimum over the manager's dispatchers (0 with none).
func (m *dispatcherManager) checkpoint() uint64 {
	var cp uint64
	first := true
	for _, d := range m.dispatchers {
		if first || d.checkpoint < cp {
			cp, first = d.checkpoint, false
		}
	}
	return cp
}

func (o *Orchestrator) decide(cf, kind string, d fencing.Decision) fencing.Decision {
	return o.outbox.decide(cf, kind, d)
}

// ManagerView is a dispatcher manager as seen from outside.
type ManagerView struct {
	Owner       string
	Epoch       uint64
	Dispatchers map[string]uint64 // id -> checkpoint
	Spans       map[string]int64  // id -> table
}

// Managers returns a copy of the node's dispatcher managers by changefeed.
func (o *Orchestrator) Managers() map[string]ManagerView {
	return views(o.managers, (*dispatcherManager).view)
}

func (m *dispatcherManager) view() ManagerView {
	v := ManagerView{Owner: m.owner, Epoch: m.epoch, Dispatchers: map[string]uint64{}, Spans: map[string]int64{}}
	for id, d := range m.dispatchers {
		v.Dispatchers[id] = d.checkpoint
		v.Spans[id] = d.span.GetTableId()
	}
	return v
}

// Tombstone returns the close tombstone of a changefeed on this node.
func (o *Orchestrator) Tombstone(cf string) (uint64, bool) {
	e, ok := o.tombstones[cf]
	return e, ok
}

// String dumps the state deterministically.
func (o *Orchestrator) String() string {
	var b strings.Builder
	for _, cf := range slices.Sorted(maps.Keys(o.managers)) {
		m := o.managers[cf]
		fmt.Fprintf(&b, "dm %s owner=%s e%d dispatchers=[", cf, m.owner, m.epoch)
		for i, id := range slices.Sorted(maps.Keys(m.dispatchers)) {
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%s:%d", id, m.dispatchers[id].checkpoint)
		}
		b.WriteString("]")
		if len(m.stopped) > 0 {
			fmt.Fprintf(&b, " stopped=%v", m.stopped)
		}
		fmt.Fprintf(&b, " seq=%d\n", m.seq)
	}
	for _, cf := range slices.Sorted(maps.Keys(o.tombstones)) {
		fmt.Fprintf(&b, "tombstone %s e%d\n", cf, o.tombstones[cf])
	}
	return b.String()
}

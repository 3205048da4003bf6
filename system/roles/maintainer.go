package roles

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/chaosrun/chaosrun/fencing"
	pb "github.com/chaosrun/chaosrun/heartbeatpb"
)

// spanState is the maintainer's view of one table span.
type spanState int

const (
	spanAbsent   spanState = iota // no dispatcher
	spanCreating                  // create sent, not yet reported working
	spanWorking                   // reported working by its node
)

type span struct {
	table    int64
	node     string
	id       string
	state    spanState
	startTs  uint64
	lastSent int
}

// Maintainer is the control plane of one changefeed (TiCDC's
// maintainer.Maintainer). It lives inside a MaintainerManager, which routes
// its input and ticks it.
type Maintainer struct {
	*outbox
	policy fencing.Policy
	cfg    Config
	cf     string
	epoch  uint64
	config []byte
	tables []int64
	tick   int

	checkpoint uint64
	stall      string // why the checkpoint cannot advance, for status output
	alive      []string

	// bootstrap
	bootSent   map[string]int // node -> last tick a bootstrap was sent; absent once answered
	booted     map[string]bool
	bootstrapd bool // every node answered and the spans were rebuilt
	postDone   bool // the local dispatcher manager answered post-bootstrap
	postSent   int

	spans      map[int64]*span
	watermarks map[string]*pb.Watermark

	// removal
	state     pb.ComponentState
	removing  bool
	removed   bool
	closeSent map[string]int
	closeAck  map[string]bool
}

func newMaintainer(ob *outbox, p fencing.Policy, cfg Config, cf string, epoch, checkpoint uint64, config []byte, tables []int64, alive []string, tick int) *Maintainer {
	m := baseMaintainer(ob, p, cfg, cf, epoch, alive, tick)
	m.config, m.tables, m.checkpoint = config, tables, checkpoint
	for _, t := range tables {
		m.spans[t] = &span{table: t}
	}
	for _, n := range alive {
		m.sendBootstrap(n)
	}
	return m
}

// newRemovalMaintainer is TiCDC's NewMaintainerForRemove: it only runs the
// close fan-out at the request's epoch.
func newRemovalMaintainer(ob *outbox, p fencing.Policy, cfg Config, cf string, epoch uint64, removed bool, alive []string, tick int) *Maintainer {
	m := baseMaintainer(ob, p, cfg, cf, epoch, alive, tick)
	m.remove(true, removed)
	return m
}

func baseMaintainer(ob *outbox, p fencing.Policy, cfg Config, cf string, epoch uint64, alive []string, tick int) *Maintainer {
	return &Maintainer{
		outbox: ob, policy: p, cfg: cfg, cf: cf, epoch: epoch, alive: alive, tick: tick,
		bootSent: map[string]int{}, booted: map[string]bool{},
		spans: map[int64]*span{}, watermarks: map[string]*pb.Watermark{},
		state:     pb.ComponentState_COMPONENT_STATE_WORKING,
		closeSent: map[string]int{}, closeAck: map[string]bool{},
	}
}

func (m *Maintainer) sendBootstrap(node string) {
	m.bootSent[node] = m.tick
	m.send(node, TopicDispatcherManagerManager, &pb.MaintainerBootstrapRequest{
		ChangefeedId: m.cf, Config: m.config, StartTs: m.checkpoint, MaintainerEpoch: m.epoch,
	})
}

// Status is what the maintainer reports to the coordinator.
func (m *Maintainer) Status() *pb.MaintainerStatus {
	return &pb.MaintainerStatus{
		ChangefeedId: m.cf, State: m.state, CheckpointTs: m.checkpoint,
		BootstrapDone: m.postDone, MaintainerEpoch: m.epoch,
	}
}

func (m *Maintainer) stopped() bool { return m.state == pb.ComponentState_COMPONENT_STATE_STOPPED }

func (m *Maintainer) onBootstrapResponse(from string, r *pb.MaintainerBootstrapResponse) {
	if !m.decide(m.cf, "MaintainerBootstrapResponse", fencing.MaintainerResponse(m.policy, m.epoch, claim(from, r.GetMaintainerEpoch()))).Acts() {
		return
	}
	if _, waiting := m.bootSent[from]; !waiting || m.removing {
		return // a duplicate answer, or one from a node we no longer wait for
	}
	delete(m.bootSent, from)
	m.booted[from] = true
	if r.GetErr() != "" {
		return
	}
	for _, s := range r.GetSpans() {
		m.adopt(from, s)
	}
	if !m.bootstrapd && len(m.bootSent) == 0 {
		m.finishBootstrap()
	}
}

// finishBootstrap runs once every node answered: TiCDC sends post-bootstrap
// to the maintainer's own node, which hosts the table trigger dispatcher,
// and starts scheduling.
func (m *Maintainer) finishBootstrap() {
	m.bootstrapd = true
	m.sendPostBootstrap()
	m.schedule()
}

func (m *Maintainer) sendPostBootstrap() {
	m.postSent = m.tick
	m.send(m.node, TopicDispatcherManagerManager, &pb.MaintainerPostBootstrapRequest{ChangefeedId: m.cf, MaintainerEpoch: m.epoch})
}

// adopt takes over a dispatcher a manager reported at bootstrap. A second
// dispatcher for a span that already has one is removed.
func (m *Maintainer) adopt(node string, s *pb.BootstrapTableSpan) {
	sp := m.spans[s.GetSpan().GetTableId()]
	if sp == nil || s.GetComponentStatus() != pb.ComponentState_COMPONENT_STATE_WORKING {
		return
	}
	if sp.state == spanAbsent || (sp.node == node && sp.id == s.GetDispatcherId()) {
		sp.node, sp.id, sp.state = node, s.GetDispatcherId(), spanWorking
		return
	}
	m.send(node, TopicHeartbeatCollector, &pb.ScheduleDispatcherRequest{
		ChangefeedId:    m.cf,
		Config:          &pb.DispatcherConfig{DispatcherId: s.GetDispatcherId(), Span: s.GetSpan()},
		ScheduleAction:  pb.ScheduleAction_SCHEDULE_ACTION_REMOVE,
		OperatorType:    pb.OperatorType_OPERATOR_TYPE_REMOVE,
		MaintainerEpoch: m.epoch,
	})
}

func (m *Maintainer) onPostBootstrapResponse(from string, r *pb.MaintainerPostBootstrapResponse) {
	if !m.decide(m.cf, "MaintainerPostBootstrapResponse", fencing.MaintainerResponse(m.policy, m.epoch, claim(from, r.GetMaintainerEpoch()))).Acts() {
		return
	}
	if from == m.node && m.bootstrapd && r.GetErr() == "" {
		m.postDone = true
	}
}

func (m *Maintainer) onHeartbeat(from string, r *pb.HeartBeatRequest) {
	if !m.decide(m.cf, "HeartBeatRequest", fencing.MaintainerHeartbeat(m.policy, m.epoch, claim(from, r.GetMaintainerEpoch()))).Acts() {
		return
	}
	wm := r.GetWatermark()
	// TiCDC: a higher seq wins even if it regresses; an equal seq only moves
	// forward.
	if old := m.watermarks[from]; old == nil || wm.GetSeq() > old.GetSeq() ||
		(wm.GetSeq() == old.GetSeq() && wm.GetCheckpointTs() > old.GetCheckpointTs()) {
		m.watermarks[from] = &pb.Watermark{CheckpointTs: wm.GetCheckpointTs(), ResolvedTs: wm.GetResolvedTs(), Seq: wm.GetSeq()}
	}
	for _, st := range r.GetStatuses() {
		for _, sp := range m.spans {
			if sp.id != st.GetDispatcherId() || sp.node != from {
				continue
			}
			switch st.GetComponentStatus() {
			case pb.ComponentState_COMPONENT_STATE_WORKING:
				sp.state = spanWorking
			case pb.ComponentState_COMPONENT_STATE_STOPPED, pb.ComponentState_COMPONENT_STATE_REMOVED:
				*sp = span{table: sp.table}
			}
		}
	}
}

func (m *Maintainer) onCloseResponse(from string, r *pb.MaintainerCloseResponse) {
	if !m.decide(m.cf, "MaintainerCloseResponse", fencing.MaintainerResponse(m.policy, m.epoch, claim(from, r.GetMaintainerEpoch()))).Acts() {
		return
	}
	if !m.removing || !r.GetSuccess() {
		return
	}
	m.closeAck[from] = true
	delete(m.closeSent, from)
	m.maybeClosed()
}

func (m *Maintainer) maybeClosed() {
	for _, n := range m.alive {
		if !m.closeAck[n] {
			return
		}
	}
	m.state = pb.ComponentState_COMPONENT_STATE_STOPPED
}

// onCheckpoint forwards the coordinator's persisted checkpoint to the local
// dispatcher manager, which writes it to the sink as a watermark.
//
// NB: fencing has no rule of its own for this hop; the coordinator stamps
// the changefeed's epoch, and an exact match with the maintainer's epoch is
// the MaintainerResponse rule.
func (m *Maintainer) onCheckpoint(from string, r *pb.CheckpointTsMessage) {
	if !m.decide(m.cf, "CheckpointTsMessage", fencing.MaintainerResponse(m.policy, m.epoch, claim(from, r.GetMaintainerEpoch()))).Acts() {
		return
	}
	if m.removing || m.stopped() {
		return
	}
	m.send(m.node, TopicHeartbeatCollector, &pb.CheckpointTsMessage{ChangefeedId: m.cf, CheckpointTs: r.GetCheckpointTs(), MaintainerEpoch: m.epoch})
}

// remove starts a removal: a cascade closes every dispatcher manager first,
// a plain remove (move origin) just stops.
func (m *Maintainer) remove(cascade, removed bool) {
	if m.removing || m.stopped() {
		return
	}
	if !cascade {
		m.state = pb.ComponentState_COMPONENT_STATE_STOPPED
		m.removed = removed
		return
	}
	m.removing, m.removed = true, removed
	for _, n := range m.alive {
		m.sendClose(n)
	}
	m.maybeClosed()
}

func (m *Maintainer) sendClose(node string) {
	m.closeSent[node] = m.tick
	m.send(node, TopicDispatcherManagerManager, &pb.MaintainerCloseRequest{ChangefeedId: m.cf, Removed: m.removed, MaintainerEpoch: m.epoch})
}

func (m *Maintainer) onTick() {
	m.tick++
	if m.stopped() {
		return
	}
	due := func(last int) bool { return m.tick-last >= m.cfg.ResendTicks }
	if m.removing {
		for _, n := range slices.Sorted(maps.Keys(m.closeSent)) {
			if due(m.closeSent[n]) {
				m.sendClose(n)
			}
		}
		return
	}
	for _, n := range slices.Sorted(maps.Keys(m.bootSent)) {
		if due(m.bootSent[n]) {
			m.sendBootstrap(n)
		}
	}
	if !m.bootstrapd {
		return
	}
	if !m.postDone && due(m.postSent) {
		m.sendPostBootstrap()
	}
	m.schedule()
	for _, t := range m.sortedTables() {
		if sp := m.spans[t]; sp.state == spanCreating && due(sp.lastSent) {
			m.sendCreate(sp)
		}
	}
	m.advance()
}

func (m *Maintainer) sortedTables() []int64 { return slices.Sorted(maps.Keys(m.spans)) }

// schedule assigns every absent span to the least-loaded bootstrapped node.
func (m *Maintainer) schedule() {
	var nodes []string
	for _, n := range m.alive {
		if m.booted[n] {
			nodes = append(nodes, n)
		}
	}
	if len(nodes) == 0 {
		return
	}
	load := map[string]int{}
	for _, sp := range m.spans {
		if sp.state != spanAbsent {
			load[sp.node]++
		}
	}
	for _, t := range m.sortedTables() {
		sp := m.spans[t]
		if sp.state != spanAbsent {
			continue
		}
		best := nodes[0]
		for _, n := range nodes[1:] {
			if load[n] < load[best] {
				best = n
			}
		}
		load[best]++
		sp.node, sp.id, sp.state, sp.startTs = best, dispatcherID(t, m.epoch), spanCreating, m.checkpoint
		m.sendCreate(sp)
	}
}

func (m *Maintainer) sendCreate(sp *span) {
	sp.lastSent = m.tick
	m.send(sp.node, TopicHeartbeatCollector, &pb.ScheduleDispatcherRequest{
		ChangefeedId:    m.cf,
		Config:          &pb.DispatcherConfig{DispatcherId: sp.id, Span: tableSpan(sp.table), StartTs: sp.startTs},
		ScheduleAction:  pb.ScheduleAction_SCHEDULE_ACTION_CREATE,
		OperatorType:    pb.OperatorType_OPERATOR_TYPE_ADD,
		MaintainerEpoch: m.epoch,
	})
}

// advance recomputes the checkpoint: the minimum watermark over the nodes
// hosting spans. It stalls while a span is not replicating or a hosting
// node has not sent a heartbeat ("missing capture heartbeat").
func (m *Maintainer) advance() {
	m.stall = ""
	cp := uint64(0)
	first := true
	for _, t := range m.sortedTables() {
		sp := m.spans[t]
		if sp.state != spanWorking {
			m.stall = fmt.Sprintf("span t%d not replicating", t)
			return
		}
		wm := m.watermarks[sp.node]
		if wm == nil {
			m.stall = "missing heartbeat from " + sp.node
			return
		}
		if first || wm.GetCheckpointTs() < cp {
			cp, first = wm.GetCheckpointTs(), false
		}
	}
	if !first && cp > m.checkpoint {
		m.checkpoint = cp
	}
}

// nodesChanged updates the maintainer's membership: new nodes are
// bootstrapped, spans on departed nodes become absent.
func (m *Maintainer) nodesChanged(alive []string) {
	old := m.alive
	m.alive = alive
	if m.stopped() {
		return
	}
	if m.removing {
		for _, n := range alive {
			if !slices.Contains(old, n) && !m.closeAck[n] {
				m.sendClose(n)
			}
		}
		for n := range m.closeSent {
			if !slices.Contains(alive, n) {
				delete(m.closeSent, n)
			}
		}
		m.maybeClosed()
		return
	}
	for _, n := range alive {
		if !slices.Contains(old, n) {
			delete(m.booted, n)
			m.sendBootstrap(n)
		}
	}
	for _, n := range old {
		if slices.Contains(alive, n) {
			continue
		}
		delete(m.bootSent, n)
		delete(m.booted, n)
		delete(m.watermarks, n)
		for _, sp := range m.spans {
			if sp.node == n {
				*sp = span{table: sp.table}
			}
		}
	}
	if !m.bootstrapd && len(m.bootSent) == 0 && len(m.booted) > 0 {
		m.finishBootstrap()
	}
}

// String dumps the maintainer deterministically.
func (m *Maintainer) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "maintainer %s e%d %s bootstrapped=%t done=%t checkpoint=%d", m.cf, m.epoch,
		stateName(m.state), m.bootstrapd, m.postDone, m.checkpoint)
	if m.removing {
		fmt.Fprintf(&b, " closing(acked=%v)", slices.Sorted(maps.Keys(m.closeAck)))
	}
	if m.stall != "" {
		fmt.Fprintf(&b, " stalled(%s)", m.stall)
	}
	if len(m.bootSent) > 0 {
		fmt.Fprintf(&b, " awaiting-bootstrap=%v", slices.Sorted(maps.Keys(m.bootSent)))
	}
	b.WriteString(" spans=[")
	for i, t := range m.sortedTables() {
		if i > 0 {
			b.WriteString(" ")
		}
		sp := m.spans[t]
		switch sp.state {
		case spanAbsent:
			fmt.Fprintf(&b, "t%d:absent", t)
		case spanCreating:
			fmt.Fprintf(&b, "t%d:%s(creating %s)", t, sp.node, sp.id)
		default:
			fmt.Fprintf(&b, "t%d:%s", t, sp.node)
		}
	}
	b.WriteString("] heartbeats=[")
	for i, n := range slices.Sorted(maps.Keys(m.watermarks)) {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s:%d", n, m.watermarks[n].GetCheckpointTs())
	}
	b.WriteString("]")
	return b.String()
}

func stateName(s pb.ComponentState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "COMPONENT_STATE_"))
}

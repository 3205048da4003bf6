package roles

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/chaosrun/chaosrun/fencing"
	pb "github.com/chaosrun/chaosrun/heartbeatpb"
)

//go:generate stringer -type=coordPhase,cfPhase -linecomment -output=phase_string.go

// coordPhase is where a coordinator is in its life.
type coordPhase int

const (
	// Waiting for every node's bootstrap response.
	phaseBootstrapping coordPhase = iota // bootstrapping
	// Waiting for ChangefeedsLoaded.
	phaseLoading // loading
	phaseRunning // running
	// Deposed; does nothing.
	phaseStopped // stopped
)

// cfPhase is where a changefeed is in the coordinator's scheduling.
type cfPhase int

const (
	cfAbsent      cfPhase = iota // absent
	cfScheduling                 // scheduling
	cfReplicating                // replicating
	cfStopped                    // stopped
)

type changefeed struct {
	info       ChangefeedInfo
	phase      cfPhase
	node       string // bound maintainer node
	checkpoint uint64 // highest checkpoint accepted from a status
	op         *operator
	pending    *operator // waits for its epoch bump to be persisted
	saving     bool
}

// ErrUnknownChangefeed is returned by the coordinator's admin calls.
var ErrUnknownChangefeed = errors.New("roles: unknown changefeed")

// ErrBusy is returned when a changefeed already has an operator.
var ErrBusy = errors.New("roles: changefeed has an operator in flight")

// Coordinator runs on the elected owner (TiCDC's coordinator and its
// operator controller).
type Coordinator struct {
	outbox
	policy  fencing.Policy
	cfg     Config
	version int64 // owner key revision this coordinator won with
	tick    int
	phase   coordPhase
	alive   []string
	bootAt  map[string]int                    // node -> tick of the last bootstrap request, until answered
	reports map[string][]*pb.MaintainerStatus // bootstrap reports, until changefeeds are loaded
	cfs     map[string]*changefeed
	cleaned map[maintainerAt]int // tick a stale maintainer was last told to stop
}

// maintainerAt names the maintainer of a changefeed on a node.
type maintainerAt struct{ changefeed, node string }

// NewCoordinator starts a coordinator on node, elected at owner revision
// version, seeing the members alive; it immediately asks every member for
// its maintainers.
func NewCoordinator(node string, version int64, p fencing.Policy, cfg Config, alive []string) *Coordinator {
	c := &Coordinator{
		outbox:  outbox{node: node, role: RoleCoordinator},
		policy:  p,
		cfg:     cfg.withDefaults(),
		version: version,
		alive:   sortedCopy(alive),
		bootAt:  map[string]int{},
		reports: map[string][]*pb.MaintainerStatus{},
		cfs:     map[string]*changefeed{},
		cleaned: map[maintainerAt]int{},
	}
	for _, n := range c.alive {
		c.sendBootstrap(n)
	}
	return c
}

// Version returns the owner revision the coordinator was elected with.
func (c *Coordinator) Version() int64 { return c.version }

// Ready drains what the coordinator produced.
func (c *Coordinator) Ready() Ready { return c.out.take() }

func (c *Coordinator) sendBootstrap(node string) {
	c.bootAt[node] = c.tick
	c.send(node, TopicMaintainerManager, &pb.CoordinatorBootstrapRequest{Version: c.version})
}

// Step handles an envelope on TopicCoordinator.
func (c *Coordinator) Step(env *pb.Envelope) {
	c.receive(env, "coordinator", c.step, TopicCoordinator)
}

func (c *Coordinator) step(from, kind string, m *pb.Message) {
	if c.phase == phaseStopped {
		c.drop(TopicCoordinator, kind, "coordinator stepped down")
		return
	}
	switch b := m.GetBody().(type) {
	case *pb.Message_CoordinatorBootstrapResponse:
		c.onBootstrapResponse(from, b.CoordinatorBootstrapResponse)
	case *pb.Message_MaintainerHeartbeat:
		for _, st := range b.MaintainerHeartbeat.GetStatuses() {
			c.onStatus(from, st)
		}
	}
}

func (c *Coordinator) onBootstrapResponse(from string, r *pb.CoordinatorBootstrapResponse) {
	if r.GetVersion() != c.version {
		c.drop(TopicCoordinator, "CoordinatorBootstrapResponse", "answers coordinator version %d, not %d", r.GetVersion(), c.version)
		return
	}
	if _, waiting := c.bootAt[from]; !waiting {
		return // duplicate
	}
	delete(c.bootAt, from)
	switch c.phase {
	case phaseBootstrapping, phaseLoading:
		c.reports[from] = r.GetStatuses()
		c.maybeLoad()
	case phaseRunning:
		// A node that joined after the bootstrap: dedupe its maintainers the
		// same way (TiCDC only does this at bootstrap; a rejoined node there
		// has a new id and no maintainers).
		for _, st := range r.GetStatuses() {
			c.adoptReport(from, st)
		}
	}
}

func (c *Coordinator) maybeLoad() {
	if c.phase == phaseBootstrapping && len(c.bootAt) == 0 {
		c.phase = phaseLoading
		c.effect(LoadChangefeeds{})
	}
}

// ChangefeedsLoaded finishes the bootstrap with the changefeeds read from
// the meta store: reported maintainers are adopted or stopped, the rest is
// scheduled from the next tick.
func (c *Coordinator) ChangefeedsLoaded(infos []ChangefeedInfo) {
	if c.phase != phaseLoading {
		return
	}
	for _, info := range infos {
		c.cfs[info.ID] = &changefeed{info: info, checkpoint: info.Checkpoint}
	}
	c.phase = phaseRunning
	for _, n := range slices.Sorted(maps.Keys(c.reports)) {
		for _, st := range c.reports[n] {
			c.adoptReport(n, st)
		}
	}
	c.reports = nil
}

// AddChangefeed registers a changefeed created after the bootstrap (TiCDC's
// CreateChangefeed path); it is scheduled from the next tick. Known ids and
// calls before the bootstrap finished are ignored (the load covers them).
func (c *Coordinator) AddChangefeed(info ChangefeedInfo) {
	if c.phase != phaseRunning {
		return
	}
	if _, ok := c.cfs[info.ID]; ok {
		return
	}
	c.cfs[info.ID] = &changefeed{info: info, checkpoint: info.Checkpoint}
}

// adoptReport is TiCDC's selectBootstrapMaintainer plus
// stopStaleBootstrapMaintainers for one reported maintainer.
func (c *Coordinator) adoptReport(node string, st *pb.MaintainerStatus) {
	id := st.GetChangefeedId()
	cf := c.cfs[id]
	if cf == nil {
		// handleNonExistentChangefeed, stamped with the reported epoch (the
		// seed sent epoch 0 here).
		c.send(node, TopicMaintainerManager, &pb.RemoveMaintainerRequest{
			ChangefeedId: id, Cascade: true, Removed: true, MaintainerEpoch: st.GetMaintainerEpoch(), CoordinatorVersion: c.version,
		})
		return
	}
	if st.GetState() != pb.ComponentState_COMPONENT_STATE_WORKING {
		return
	}
	// NB: the fencing question arises only while the changefeed could adopt
	// a maintainer; a report about an already bound changefeed is not a
	// candidate, so no decision is logged for it.
	if cf.node == "" && cf.op == nil && cf.pending == nil && cf.phase != cfStopped {
		d := c.decide(id, "CoordinatorBootstrapResponse", fencing.CoordinatorBootstrap(c.policy, cf.info.Epoch, claim(node, st.GetMaintainerEpoch())))
		if d.Acts() {
			// Adopt the reported maintainer and its epoch.
			cf.info.Epoch = st.GetMaintainerEpoch()
			cf.node, cf.phase = node, cfReplicating
			cf.checkpoint = max(cf.checkpoint, st.GetCheckpointTs())
			return
		}
	}
	if cf.node == node && cf.info.Epoch == st.GetMaintainerEpoch() {
		return // the bound maintainer reported again
	}
	// A stale generation, or a second maintainer (TiCDC panics on two exact
	// matches): stop it with its own epoch so its fence accepts the remove.
	c.send(node, TopicMaintainerManager, &pb.RemoveMaintainerRequest{
		ChangefeedId: id, MaintainerEpoch: st.GetMaintainerEpoch(), CoordinatorVersion: c.version,
	})
}

func (c *Coordinator) onStatus(from string, st *pb.MaintainerStatus) {
	id := st.GetChangefeedId()
	if c.phase != phaseRunning {
		return
	}
	cf := c.cfs[id]
	if cf == nil {
		c.send(from, TopicMaintainerManager, &pb.RemoveMaintainerRequest{
			ChangefeedId: id, Cascade: true, Removed: true, MaintainerEpoch: st.GetMaintainerEpoch(), CoordinatorVersion: c.version,
		})
		return
	}
	if cf.op != nil {
		c.checkOperator(id, cf, from, st)
	}
	d := c.decide(id, "MaintainerStatus", fencing.CoordinatorStatus(c.policy, cf.info.Epoch, cf.node, claim(from, st.GetMaintainerEpoch())))
	switch {
	case d.Acts():
		cf.checkpoint = max(cf.checkpoint, st.GetCheckpointTs())
	case d.Verdict != fencing.RejectUnknown && st.GetState() == pb.ComponentState_COMPONENT_STATE_WORKING &&
		cf.op == nil && c.tick-c.cleaned[maintainerAt{id, from}] >= c.cfg.ResendTicks:
		// A working maintainer that is not the bound one (a delayed add
		// re-created it, or its node rejoined): stop it with its own epoch,
		// as stopStaleBootstrapMaintainers does at bootstrap.
		c.cleaned[maintainerAt{id, from}] = c.tick
		c.send(from, TopicMaintainerManager, &pb.RemoveMaintainerRequest{
			ChangefeedId: id, MaintainerEpoch: st.GetMaintainerEpoch(), CoordinatorVersion: c.version,
		})
	}
}

// Tick advances time: resends bootstrap requests and operators, schedules
// absent changefeeds and persists checkpoints.
func (c *Coordinator) Tick() {
	c.tick++
	due := func(last int) bool { return c.tick-last >= c.cfg.ResendTicks }
	if c.phase == phaseStopped {
		return
	}
	// Unanswered bootstraps are resent in every phase: a node that joins
	// while the coordinator runs is bootstrapped too.
	for _, n := range slices.Sorted(maps.Keys(c.bootAt)) {
		if due(c.bootAt[n]) {
			c.sendBootstrap(n)
		}
	}
	if c.phase != phaseRunning {
		return
	}
	for _, id := range slices.Sorted(maps.Keys(c.cfs)) {
		cf := c.cfs[id]
		switch {
		case cf.op != nil:
			if due(cf.op.lastSent) {
				c.sendOperator(id, cf)
			}
		case cf.pending == nil && cf.phase == cfAbsent:
			if dest := c.leastLoaded(); dest != "" {
				c.bump(id, cf, &operator{kind: opAdd, dest: dest})
			}
		}
		if !cf.saving && cf.checkpoint > cf.info.Checkpoint {
			cf.saving = true
			c.effect(PersistCheckpoint{Changefeed: id, Checkpoint: cf.checkpoint, OwnerRevision: c.version, Guarded: fencing.GuardCheckpointWrite(c.policy)})
		}
	}
}

// leastLoaded picks the alive node with the fewest bound maintainers,
// counting the adds and moves under way, also those whose epoch bump is
// still being persisted.
func (c *Coordinator) leastLoaded() string {
	load := map[string]int{}
	for _, cf := range c.cfs {
		if cf.node != "" {
			load[cf.node]++
		}
		for _, op := range []*operator{cf.op, cf.pending} {
			if op != nil && op.dest != "" {
				load[op.dest]++
			}
		}
	}
	best := ""
	for _, n := range c.alive {
		if best == "" || load[n] < load[best] {
			best = n
		}
	}
	return best
}

// bump persists a new epoch before the owner-changing operator op is
// issued (TiCDC's AddOperator).
func (c *Coordinator) bump(id string, cf *changefeed, op *operator) {
	next, ok := fencing.NextEpoch(0, cf.info.Epoch)
	if !ok {
		c.drop("", "", "changefeed %s: epoch overflow", id)
		return
	}
	cf.pending = op
	c.effect(PersistEpoch{Changefeed: id, Expected: cf.info.Epoch, Next: next})
}

// EpochPersisted is the result of a PersistEpoch effect. On success the
// pending operator starts with the new epoch.
func (c *Coordinator) EpochPersisted(id string, r EpochResult) {
	cf := c.cfs[id]
	if cf == nil || cf.pending == nil || c.phase != phaseRunning {
		return
	}
	op := cf.pending
	cf.pending = nil
	if r.Unreachable {
		return // retried by the scheduler (add) or by the caller (move)
	}
	cf.info.Epoch = r.Epoch
	if !r.OK {
		return
	}
	if op.kind == opMove {
		op.originStopped = op.origin == "" || !slices.Contains(c.alive, op.origin)
	}
	op.epoch = r.Epoch
	cf.op = op
	cf.phase = cfScheduling
	if op.kind == opAdd || op.originStopped {
		cf.node = ""
	}
	c.sendOperator(id, cf)
}

// CheckpointPersisted is the result of a PersistCheckpoint effect. On
// success the checkpoint goes to the maintainer, which has it written to
// the sink as a watermark; a write refused because the owner revision
// moved deposes the coordinator.
func (c *Coordinator) CheckpointPersisted(id string, r CheckpointResult) {
	cf := c.cfs[id]
	if cf == nil || c.phase == phaseStopped {
		return
	}
	cf.saving = false
	if r.Unreachable {
		return
	}
	d := c.decide(id, "PersistCheckpoint", fencing.CheckpointWrite(c.policy, c.version, r.CurrentRevision))
	if !r.OK {
		if !d.Acts() {
			c.phase = phaseStopped
			c.effect(StepDown{Reason: fmt.Sprintf("owner revision %d is no longer current (%d)", c.version, r.CurrentRevision)})
		}
		return
	}
	cf.info.Checkpoint = max(cf.info.Checkpoint, r.Checkpoint)
	if cf.node != "" && cf.phase == cfReplicating {
		c.send(cf.node, TopicMaintainerManager, &pb.CheckpointTsMessage{ChangefeedId: id, CheckpointTs: cf.info.Checkpoint, MaintainerEpoch: cf.info.Epoch})
	}
}

// MoveChangefeed moves a replicating changefeed's maintainer to dest: the
// epoch is bumped first, then the origin is removed with its own epoch and
// the target added with the new one.
func (c *Coordinator) MoveChangefeed(id, dest string) error {
	cf := c.cfs[id]
	if cf == nil {
		return fmt.Errorf("%w: %s", ErrUnknownChangefeed, id)
	}
	if cf.op != nil || cf.pending != nil || cf.phase != cfReplicating {
		return fmt.Errorf("%w: %s", ErrBusy, id)
	}
	c.bump(id, cf, &operator{kind: opMove, origin: cf.node, originEpoch: cf.info.Epoch, dest: dest})
	return nil
}

// StopChangefeed pauses a changefeed: its maintainer is removed with a
// cascade that closes every dispatcher manager.
func (c *Coordinator) StopChangefeed(id string) error {
	cf := c.cfs[id]
	if cf == nil {
		return fmt.Errorf("%w: %s", ErrUnknownChangefeed, id)
	}
	if cf.op != nil || cf.pending != nil {
		return fmt.Errorf("%w: %s", ErrBusy, id)
	}
	node := cf.node
	if node == "" {
		node = c.node
	}
	cf.op = &operator{kind: opStop, dest: node, epoch: cf.info.Epoch, cascade: true}
	cf.phase = cfScheduling
	c.sendOperator(id, cf)
	return nil
}

// ResumeChangefeed makes a stopped changefeed schedulable again; the next
// add bumps the epoch.
func (c *Coordinator) ResumeChangefeed(id string) error {
	cf := c.cfs[id]
	if cf == nil {
		return fmt.Errorf("%w: %s", ErrUnknownChangefeed, id)
	}
	if cf.phase != cfStopped {
		return fmt.Errorf("%w: %s is not stopped", ErrBusy, id)
	}
	cf.phase = cfAbsent
	return nil
}

// NodesChanged gives the coordinator the membership it now sees.
func (c *Coordinator) NodesChanged(alive []string) {
	old := c.alive
	c.alive = sortedCopy(alive)
	if c.phase == phaseStopped {
		return
	}
	for _, n := range c.alive {
		if !slices.Contains(old, n) {
			c.sendBootstrap(n)
		}
	}
	for _, n := range old {
		if slices.Contains(c.alive, n) {
			continue
		}
		delete(c.bootAt, n)
		delete(c.reports, n)
		for _, id := range slices.Sorted(maps.Keys(c.cfs)) {
			c.nodeRemoved(id, c.cfs[id], n)
		}
	}
	c.maybeLoad()
}

// String dumps the coordinator deterministically.
func (c *Coordinator) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "coordinator v%d %s alive=%v", c.version, c.phase, c.alive)
	if len(c.bootAt) > 0 {
		fmt.Fprintf(&b, " awaiting-bootstrap=%v", slices.Sorted(maps.Keys(c.bootAt)))
	}
	b.WriteString("\n")
	for _, id := range slices.Sorted(maps.Keys(c.cfs)) {
		cf := c.cfs[id]
		fmt.Fprintf(&b, "changefeed %s %s node=%s epoch=%d checkpoint=%d persisted=%d",
			id, cf.phase, orDash(cf.node), cf.info.Epoch, cf.checkpoint, cf.info.Checkpoint)
		if cf.op != nil {
			fmt.Fprintf(&b, " op=%s", cf.op)
		}
		if cf.pending != nil {
			fmt.Fprintf(&b, " bumping-for=%s", cf.pending)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// ChangefeedView is a changefeed as the coordinator sees it.
type ChangefeedView struct {
	Phase               string
	Node                string
	Epoch               uint64
	Checkpoint          uint64
	PersistedCheckpoint uint64
	Operator            string
}

// Changefeeds returns the coordinator's changefeeds.
func (c *Coordinator) Changefeeds() map[string]ChangefeedView {
	return views(c.cfs, (*changefeed).view)
}

func (cf *changefeed) view() ChangefeedView {
	v := ChangefeedView{Phase: cf.phase.String(), Node: cf.node, Epoch: cf.info.Epoch, Checkpoint: cf.checkpoint, PersistedCheckpoint: cf.info.Checkpoint}
	if cf.op != nil {
		v.Operator = cf.op.String()
	}
	return v
}

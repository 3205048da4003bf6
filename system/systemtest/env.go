package systemtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/chaosrun/chaosrun/fencing"
	pb "github.com/chaosrun/chaosrun/heartbeatpb"
	"github.com/chaosrun/chaosrun/system/roles"
	"github.com/chaosrun/chaosrun/system/transport/inmem"
)

// UpstreamStep is how far the upstream clock advances per tick.
const UpstreamStep = 10

// Env is the interaction environment.
type Env struct {
	Policy   fencing.Policy
	Net      *inmem.Network
	nodes    map[string]*node
	meta     meta
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

type meta struct {
	ownerRev int64
	owner    string
	cfs      map[string]*roles.ChangefeedInfo
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
	e := &Env{
		Policy:   p,
		Net:      inmem.New(inmem.Config{Manual: true, Seed: 1}),
		nodes:    map[string]*node{},
		meta:     meta{cfs: map[string]*roles.ChangefeedInfo{}},
		upstream: 1000,
		sink:     map[string]*sinkState{},
	}
	info := &roles.ChangefeedInfo{ID: "cf1", Epoch: 1, Checkpoint: 1000}
	for t := 1; t <= tables; t++ {
		info.Tables = append(info.Tables, int64(t))
	}
	e.meta.cfs["cf1"] = info
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

func (e *Env) node(id string) (*node, error) {
	n, ok := e.nodes[id]
	if !ok {
		return nil, fmt.Errorf("unknown node %q", id)
	}
	if n.crashed {
		return nil, fmt.Errorf("node %s is crashed", id)
	}
	return n, nil
}

// announce tells every node that can reach the meta store the current
// membership and owner.
func (e *Env) announce() {
	alive := e.members()
	for _, id := range alive {
		n := e.nodes[id]
		n.roles.NodesChanged(alive)
		if c := n.roles.Coordinator; c != nil && (e.meta.owner != id || c.Version() != e.meta.ownerRev) {
			n.roles.StepDown(fmt.Sprintf("owner is now %s (rev %d)", e.meta.owner, e.meta.ownerRev))
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

func (e *Env) metaEpoch(cf string) uint64 {
	if info := e.meta.cfs[cf]; info != nil {
		return info.Epoch
	}
	return 0
}

// routine reports an accepted decision on periodic traffic.
func routine(d roles.Decision) bool {
	switch d.Message {
	case "HeartBeatRequest", "MaintainerStatus", "CheckpointTsMessage", "HeartBeatResponse", "PersistCheckpoint":
		return d.Acts() && d.Rule != fencing.RuleOperatorCheck
	}
	return d.Verdict == fencing.Duplicate
}

// quiet reports an accepted decision of the normal protocol flow whose
// effect the transcript already shows (or that a reader can infer).
func quiet(d roles.Decision) bool {
	switch d.Rule {
	case fencing.RuleMaintainerResponse, fencing.RuleManagerAdmit:
		return d.Acts()
	}
	return false
}

// staleAct reports whether a receiver acted on a superseded generation.
func (e *Env) staleAct(d roles.Decision) bool {
	if !d.Acts() || d.Claim.Epoch == 0 || d.Rule == fencing.RuleMaintainerRemove || d.Rule == fencing.RuleCheckpointWrite {
		return false
	}
	switch d.Rule {
	case fencing.RuleMaintainerResponse, fencing.RuleMaintainerBeat, fencing.RuleOperatorCheck:
		if d.Claim.Epoch == d.LocalEpoch {
			return false // a maintainer (or an operator) hearing the generation it expects
		}
	}
	return d.Claim.Epoch < e.metaEpoch(d.Changefeed)
}

func (e *Env) logDecision(d roles.Decision) {
	stale := e.staleAct(d)
	if d.Rule == fencing.RuleCheckpointWrite {
		stale = d.Acts() && d.Claim.Epoch != uint64(e.meta.ownerRev)
	}
	if !e.verbose && !stale && (routine(d) || quiet(d)) {
		return
	}
	local := fmt.Sprintf("local e%d", d.LocalEpoch)
	if d.Rule == fencing.RuleCheckpointWrite {
		local = fmt.Sprintf("writer rev %d, owner rev %d", d.Claim.Epoch, d.LocalEpoch)
	} else if d.LocalNode != "" {
		local += " owner " + d.LocalNode
	}
	from := fmt.Sprintf(" from %s e%d", d.Claim.From, d.Claim.Epoch)
	if d.Rule == fencing.RuleCheckpointWrite {
		from = ""
	}
	line := fmt.Sprintf("%s %s %s %s%s: %s (%s: %s; %s)", d.Node, d.Role, d.Changefeed, d.Message, from, d.Verdict, d.Rule, d.Reason, local)
	if d.Tombstone {
		line += " +tombstone"
	}
	if stale {
		line += "  !! stale act"
	}
	e.out.add("%s", line)
}

func (e *Env) apply(n *node, eff roles.Effect) {
	switch f := eff.(type) {
	case roles.LoadChangefeeds:
		if n.isolated {
			e.out.add("%s meta unreachable: load-changefeeds", n.id)
			return
		}
		var infos []roles.ChangefeedInfo
		for _, id := range slices.Sorted(maps.Keys(e.meta.cfs)) {
			info := *e.meta.cfs[id]
			info.Tables = slices.Clone(info.Tables)
			infos = append(infos, info)
		}
		n.roles.Coordinator.ChangefeedsLoaded(infos)
	case roles.PersistEpoch:
		var r roles.EpochResult
		info := e.meta.cfs[f.Changefeed]
		switch {
		case n.isolated:
			r.Unreachable = true
			e.out.add("%s meta unreachable: %s", n.id, f)
		case info == nil:
		case info.Epoch == f.Expected:
			info.Epoch = f.Next
			r = roles.EpochResult{OK: true, Epoch: f.Next}
			e.out.add("%s meta %s epoch %d -> %d", n.id, f.Changefeed, f.Expected, f.Next)
		default:
			r.Epoch = info.Epoch
			e.out.add("%s meta %s epoch CAS failed: expected %d, is %d", n.id, f.Changefeed, f.Expected, info.Epoch)
		}
		if c := n.roles.Coordinator; c != nil {
			c.EpochPersisted(f.Changefeed, r)
		}
	case roles.PersistCheckpoint:
		var r roles.CheckpointResult
		info := e.meta.cfs[f.Changefeed]
		switch {
		case n.isolated:
			r.Unreachable = true
		case info == nil:
		case f.Guarded && f.OwnerRevision != e.meta.ownerRev:
			r = roles.CheckpointResult{CurrentRevision: e.meta.ownerRev}
		default:
			info.Checkpoint = max(info.Checkpoint, f.Checkpoint)
			r = roles.CheckpointResult{OK: true, Checkpoint: f.Checkpoint, CurrentRevision: e.meta.ownerRev}
		}
		if c := n.roles.Coordinator; c != nil {
			c.CheckpointPersisted(f.Changefeed, r)
		}
	case roles.StepDown:
		e.out.add("%s coordinator steps down: %s", n.id, f.Reason)
	case roles.OpenManager:
		e.out.add("%s %s", n.id, f)
		if n.dispatch[f.Changefeed] == nil {
			n.dispatch[f.Changefeed] = map[string]int64{}
		}
	case roles.CloseManager:
		e.out.add("%s %s", n.id, f)
		delete(n.dispatch, f.Changefeed)
	case roles.CreateDispatcher:
		e.out.add("%s %s", n.id, f)
		if n.dispatch[f.Changefeed] == nil {
			n.dispatch[f.Changefeed] = map[string]int64{}
		}
		n.dispatch[f.Changefeed][f.DispatcherID] = f.Span.GetTableId()
	case roles.RemoveDispatcher:
		e.out.add("%s %s", n.id, f)
		delete(n.dispatch[f.Changefeed], f.DispatcherID)
	case roles.WriteWatermark:
		s := e.sink[f.Changefeed]
		if s == nil {
			s = &sinkState{}
			e.sink[f.Changefeed] = s
		}
		if f.Epoch < e.metaEpoch(f.Changefeed) {
			s.stale++
			e.out.add("%s %s  !! stale watermark (epoch %d < %d)", n.id, f, f.Epoch, e.metaEpoch(f.Changefeed))
		}
		s.watermark, s.epoch, s.node = max(s.watermark, f.Ts), f.Epoch, n.id
	default:
		e.out.add("%s unknown effect %s", n.id, eff)
	}
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

func kindOf(env *pb.Envelope) string {
	if len(env.GetPayloads()) == 0 {
		return "-"
	}
	return roles.Kind(env.GetPayloads()[0])
}

type epocher interface{ GetMaintainerEpoch() uint64 }

type cfer interface{ GetChangefeedId() string }

// describe summarizes an envelope: kind, changefeed, epoch.
func describe(env *pb.Envelope) string {
	if len(env.GetPayloads()) == 0 {
		return "-"
	}
	m := env.GetPayloads()[0]
	s := roles.Kind(m)
	body := bodyOf(m)
	if c, ok := body.(cfer); ok && c.GetChangefeedId() != "" {
		s += " " + c.GetChangefeedId()
	}
	if ep, ok := body.(epocher); ok {
		s += fmt.Sprintf(" e%d", ep.GetMaintainerEpoch())
	}
	return s
}

func bodyOf(m *pb.Message) any {
	for _, v := range []any{
		m.GetAddMaintainerRequest(), m.GetRemoveMaintainerRequest(), m.GetMaintainerBootstrapRequest(),
		m.GetMaintainerBootstrapResponse(), m.GetMaintainerPostBootstrapRequest(), m.GetMaintainerPostBootstrapResponse(),
		m.GetMaintainerCloseRequest(), m.GetMaintainerCloseResponse(), m.GetHeartBeatRequest(), m.GetHeartBeatResponse(),
		m.GetScheduleDispatcherRequest(), m.GetCheckpointTsMessage(),
	} {
		if c, ok := v.(cfer); ok && c.GetChangefeedId() != "" {
			return v
		}
	}
	return nil
}

// lines collects a command's output, merging identical lines.
type lines struct {
	order  []string
	counts map[string]int
}

func (l *lines) add(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	if l.counts[s] == 0 {
		l.order = append(l.order, s)
	}
	l.counts[s]++
}

func (l *lines) take() string {
	var b strings.Builder
	for _, s := range l.order {
		b.WriteString(s)
		if c := l.counts[s]; c > 1 {
			fmt.Fprintf(&b, " (x%d)", c)
		}
		b.WriteString("\n")
	}
	*l = lines{}
	return b.String()
}

package systemtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"google.golang.org/protobuf/proto"

	"github.com/chaosrun/chaosrun/fencing"
	pb "github.com/chaosrun/chaosrun/heartbeatpb"
	"github.com/chaosrun/chaosrun/system/roles"
	"github.com/chaosrun/chaosrun/system/transport/inmem"
)

// Runner runs the commands of one transcript file against a fresh Env per
// reset.
type Runner struct {
	Env *Env
}

// Handle runs one datadriven command and returns its output.
//
// Commands (positional arguments are bare words):
//
//	reset policy=epoch|off [nodes=3] [tables=4]
//	elect <node>
//	tick [n]                        ticks without delivering anything
//	run [n]                         n times: tick, then deliver until quiet
//	deliver [filters]               one pass over the matching in-flight envelopes
//	stabilize [filters]             deliver matching envelopes until none is left
//	hold|release|drop [filters]     delay, undelay or lose in-flight envelopes
//	inflight                        list the envelopes on the wire
//	isolate <node>                  cut from every peer and the meta store
//	cut <from> <to>                 drop traffic one way (membership unchanged)
//	partition <a> <b>               drop traffic both ways (membership unchanged)
//	heal                            remove every cut; isolated nodes rejoin
//	crash <node> | restart <node>
//	move <cf> <node> | stop <cf> | resume <cf>
//	inject from=<n> to=<n> kind=<k> [cf=cf1] [epoch=e] [cascade] [removed]
//	status [<node>...]
//	check
//
// Filters: from=, to=, type= (message kind), epoch= (payload epoch).
func (r *Runner) Handle(t *testing.T, d *datadriven.TestData) string {
	if d.Cmd != "reset" && r.Env == nil {
		d.Fatalf(t, "reset first")
	}
	out, err := r.handle(d)
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	if out == "" {
		return "ok\n"
	}
	return out
}

func (r *Runner) handle(d *datadriven.TestData) (string, error) {
	e := r.Env
	pos := positional(d)
	if e != nil {
		e.verbose = d.HasArg("verbose")
		pos = slices.DeleteFunc(pos, func(s string) bool { return s == "verbose" })
	}
	switch d.Cmd {
	case "reset":
		p, err := fencing.ParsePolicy(argOr(d, "policy", "epoch"))
		if err != nil {
			return "", err
		}
		nodes, _ := strconv.Atoi(argOr(d, "nodes", "3"))
		tables, _ := strconv.Atoi(argOr(d, "tables", "4"))
		r.Env = NewEnv(p, nodes, tables)
		return fmt.Sprintf("policy=%s nodes=%v cf1 tables=%d epoch=1 checkpoint=1000\n", p, r.Env.ids(), tables), nil
	case "elect":
		if len(pos) != 1 {
			return "", fmt.Errorf("elect <node>")
		}
		return e.elect(pos[0])
	case "tick", "run":
		n := 1
		if len(pos) == 1 {
			n, _ = strconv.Atoi(pos[0])
		}
		for range n {
			e.tick()
			if d.Cmd == "run" {
				e.stabilize(nil)
			}
		}
	case "deliver":
		e.deliver(filter(d))
	case "stabilize":
		e.stabilize(filter(d))
	case "hold", "release", "drop":
		return e.flights(d.Cmd, filter(d)), nil
	case "inflight":
		return e.inflight(), nil
	case "isolate":
		if len(pos) != 1 {
			return "", fmt.Errorf("isolate <node>")
		}
		n, err := e.node(pos[0])
		if err != nil {
			return "", err
		}
		e.Net.Isolate(n.id)
		n.isolated = true
		e.announce()
	case "cut", "partition":
		if len(pos) != 2 {
			return "", fmt.Errorf("%s <from> <to>", d.Cmd)
		}
		if d.Cmd == "cut" {
			e.Net.Cut(pos[0], pos[1])
		} else {
			e.Net.Partition(pos[0], pos[1])
		}
	case "heal":
		e.Net.Heal()
		for _, id := range e.ids() {
			e.nodes[id].isolated = false
		}
		e.announce()
	case "crash":
		n, err := e.node(pos[0])
		if err != nil {
			return "", err
		}
		_ = n.ep.Close()
		for range n.ep.Recv() {
		}
		n.crashed = true
		n.dispatch = nil
		e.announce()
	case "restart":
		n, ok := e.nodes[pos[0]]
		if !ok || !n.crashed {
			return "", fmt.Errorf("%s is not crashed", pos[0])
		}
		e.start(n, e.membersWith(n.id))
		e.announce()
	case "move", "stop", "resume":
		return e.admin(d.Cmd, pos)
	case "inject":
		return e.inject(d)
	case "status":
		return e.status(pos), nil
	case "check":
		return e.check(), nil
	default:
		return "", fmt.Errorf("unknown command %q", d.Cmd)
	}
	return e.out.take(), nil
}

func positional(d *datadriven.TestData) []string {
	var out []string
	for _, a := range d.CmdArgs {
		if len(a.Vals) == 0 {
			out = append(out, a.Key)
		}
	}
	return out
}

func argOr(d *datadriven.TestData, key, def string) string {
	if a, ok := d.Arg(key); ok && len(a.Vals) > 0 {
		return a.Vals[0]
	}
	return def
}

func filter(d *datadriven.TestData) func(inmem.Flight) bool {
	from, to, kind, epoch := argOr(d, "from", ""), argOr(d, "to", ""), argOr(d, "type", ""), argOr(d, "epoch", "")
	return func(f inmem.Flight) bool {
		env := f.Env
		if (from != "" && env.GetFrom() != from) || (to != "" && env.GetTo() != to) || (kind != "" && kindOf(env) != kind) {
			return false
		}
		if epoch != "" {
			ep, ok := bodyOf(env.GetPayloads()[0]).(epocher)
			if !ok || strconv.FormatUint(ep.GetMaintainerEpoch(), 10) != epoch {
				return false
			}
		}
		return true
	}
}

func (e *Env) membersWith(id string) []string {
	m := e.members()
	if !slices.Contains(m, id) {
		m = append(m, id)
		slices.Sort(m)
	}
	return m
}

func (e *Env) elect(id string) (string, error) {
	n, err := e.node(id)
	if err != nil {
		return "", err
	}
	if n.isolated {
		return "", fmt.Errorf("%s cannot reach the meta store", id)
	}
	e.meta.ownerRev++
	e.meta.owner = id
	e.out.add("%s elected owner at revision %d", id, e.meta.ownerRev)
	n.roles.BecomeOwner(e.meta.ownerRev)
	n.roles.NodesChanged(e.members())
	e.process(n)
	e.announce()
	return e.out.take(), nil
}

func (e *Env) owner() *roles.Coordinator {
	if n := e.nodes[e.meta.owner]; n != nil && !n.crashed {
		return n.roles.Coordinator
	}
	return nil
}

func (e *Env) admin(cmd string, pos []string) (string, error) {
	c := e.owner()
	if c == nil {
		return "", fmt.Errorf("no live owner")
	}
	var err error
	switch {
	case cmd == "move" && len(pos) == 2:
		err = c.MoveChangefeed(pos[0], pos[1])
	case cmd == "stop" && len(pos) == 1:
		err = c.StopChangefeed(pos[0])
	case cmd == "resume" && len(pos) == 1:
		err = c.ResumeChangefeed(pos[0])
	default:
		return "", fmt.Errorf("usage: move <cf> <node> | stop <cf> | resume <cf>")
	}
	if err != nil {
		return "", err
	}
	e.process(e.nodes[e.meta.owner])
	return e.out.take(), nil
}

// inject sends a hand-made message from a node, to replay what another
// implementation (the seed PR) would have sent.
func (e *Env) inject(d *datadriven.TestData) (string, error) {
	from, err := e.node(argOr(d, "from", ""))
	if err != nil {
		return "", err
	}
	to, cf := argOr(d, "to", ""), argOr(d, "cf", "cf1")
	epoch, _ := strconv.ParseUint(argOr(d, "epoch", "0"), 10, 64)
	var body protoMessage
	switch k := argOr(d, "kind", ""); k {
	case "add":
		info := e.meta.cfs[cf]
		body = &pb.AddMaintainerRequest{ChangefeedId: cf, Config: roles.EncodeConfig(roles.ChangefeedConfig{Tables: info.Tables}),
			CheckpointTs: info.Checkpoint, MaintainerEpoch: epoch, CoordinatorVersion: e.meta.ownerRev}
	case "remove":
		body = &pb.RemoveMaintainerRequest{ChangefeedId: cf, Cascade: d.HasArg("cascade"), Removed: d.HasArg("removed"),
			MaintainerEpoch: epoch, CoordinatorVersion: e.meta.ownerRev}
	case "close":
		body = &pb.MaintainerCloseRequest{ChangefeedId: cf, Removed: d.HasArg("removed"), MaintainerEpoch: epoch}
	case "bootstrap":
		body = &pb.MaintainerBootstrapRequest{ChangefeedId: cf, MaintainerEpoch: epoch}
	default:
		return "", fmt.Errorf("unknown kind %q (add, remove, close, bootstrap)", k)
	}
	env := roles.NewEnvelope(from.id, to, body)
	if err := from.ep.Send(context.Background(), env); err != nil {
		return "", err
	}
	return fmt.Sprintf("injected %s->%s %s\n", from.id, to, describe(env)), nil
}

type protoMessage = proto.Message

func (e *Env) flights(cmd string, match func(inmem.Flight) bool) string {
	var fs []inmem.Flight
	switch cmd {
	case "hold":
		for _, f := range e.Net.InFlight() {
			if !f.Held && match(f) {
				fs = append(fs, f)
			}
		}
		e.Net.Hold(match)
	case "release":
		for _, f := range e.Net.InFlight() {
			if f.Held && match(f) {
				fs = append(fs, f)
			}
		}
		e.Net.Release(match)
	case "drop":
		fs = e.Net.Drop(match)
	}
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s #%d %s->%s %s\n", cmd, f.Seq, f.Env.GetFrom(), f.Env.GetTo(), describe(f.Env))
	}
	if b.Len() == 0 {
		return "nothing matched\n"
	}
	return b.String()
}

func (e *Env) inflight() string {
	var b strings.Builder
	for _, f := range e.Net.InFlight() {
		held := ""
		if f.Held {
			held = " [held]"
		}
		if e.Net.IsCut(f.Env.GetFrom(), f.Env.GetTo()) {
			held += " [cut]"
		}
		fmt.Fprintf(&b, "#%d %s->%s %s%s\n", f.Seq, f.Env.GetFrom(), f.Env.GetTo(), describe(f.Env), held)
	}
	if b.Len() == 0 {
		return "nothing in flight\n"
	}
	return b.String()
}

func (e *Env) status(only []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "meta owner=%s rev=%d upstream=%d\n", orDash(e.meta.owner), e.meta.ownerRev, e.upstream)
	for _, id := range slices.Sorted(maps.Keys(e.meta.cfs)) {
		info := e.meta.cfs[id]
		fmt.Fprintf(&b, "meta %s epoch=%d checkpoint=%d\n", id, info.Epoch, info.Checkpoint)
	}
	for _, id := range e.ids() {
		if len(only) > 0 && !slices.Contains(only, id) {
			continue
		}
		n := e.nodes[id]
		state := ""
		switch {
		case n.crashed:
			fmt.Fprintf(&b, "%s: crashed\n", id)
			continue
		case n.isolated:
			state = " (isolated)"
		}
		fmt.Fprintf(&b, "%s:%s\n", id, state)
		for _, l := range strings.Split(strings.TrimRight(n.roles.String(), "\n"), "\n") {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(e.sink)) {
		s := e.sink[id]
		fmt.Fprintf(&b, "sink %s watermark=%d e%d by %s stale-watermarks=%d\n", id, s.watermark, s.epoch, s.node, s.stale)
	}
	return b.String()
}

// check prints the invariants the races are about.
func (e *Env) check() string {
	var b strings.Builder
	for _, cf := range slices.Sorted(maps.Keys(e.meta.cfs)) {
		info := e.meta.cfs[cf]
		var live []string
		for _, id := range e.ids() {
			n := e.nodes[id]
			if n.crashed {
				continue
			}
			if m, ok := n.roles.Maintainers.Maintainers()[cf]; ok && m.State == pb.ComponentState_COMPONENT_STATE_WORKING {
				live = append(live, fmt.Sprintf("%s@e%d", id, m.Epoch))
			}
		}
		want, label := 1, "one per changefeed"
		if c := e.owner(); c != nil && c.Changefeeds()[cf].Phase == "stopped" {
			want, label = 0, "none while paused"
		}
		verdict := "ok"
		if len(live) != want {
			verdict = "VIOLATED"
		}
		fmt.Fprintf(&b, "%s maintainers: %v (%s: %s)\n", cf, live, label, verdict)
		writers := map[int64][]string{}
		for _, id := range e.ids() {
			n := e.nodes[id]
			if n.crashed {
				continue
			}
			for d, tbl := range n.dispatch[cf] {
				writers[tbl] = append(writers[tbl], id+"/"+d)
			}
		}
		var dup []string
		for _, tbl := range slices.Sorted(maps.Keys(writers)) {
			if w := writers[tbl]; len(w) > 1 {
				slices.Sort(w)
				dup = append(dup, fmt.Sprintf("t%d:%v", tbl, w))
			}
		}
		if len(dup) == 0 {
			fmt.Fprintf(&b, "%s writers: one dispatcher per table\n", cf)
		} else {
			fmt.Fprintf(&b, "%s writers: DUPLICATE %s\n", cf, strings.Join(dup, " "))
		}
		wm := uint64(0)
		if s := e.sink[cf]; s != nil {
			wm = s.watermark
		}
		fmt.Fprintf(&b, "%s checkpoint=%d lag=%d sink-watermark=%d sink-lag=%d\n", cf, info.Checkpoint, e.upstream-info.Checkpoint, wm, e.upstream-min(e.upstream, wm))
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package systemtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	pb "github.com/chaosrun/chaosrun/heartbeatpb"
	"github.com/chaosrun/chaosrun/system/roles"
)

// Observing commands: print the state and check the invariants the races
// are about.

func cmdStatus(r *Runner, a args) (string, error) {
	only := a.positional()
	for _, id := range only {
		if _, err := r.Env.known(id); err != nil {
			return "", err
		}
	}
	return r.Env.status(only), nil
}

func cmdCheck(r *Runner, a args) (string, error) {
	if _, err := a.exactly(0); err != nil {
		return "", err
	}
	return r.Env.check(), nil
}

// changefeeds returns the changefeeds of the meta store, sorted by id.
func (e *Env) changefeeds() []roles.ChangefeedInfo {
	infos, err := e.meta.Changefeeds(context.Background())
	if err != nil {
		panic(err) // the in-memory store fails only on a done context
	}
	return infos
}

// status prints the meta store, the nodes (all, or only those listed) and
// the sink.
func (e *Env) status(only []string) string {
	var b strings.Builder
	owner, rev := e.meta.Owner()
	fmt.Fprintf(&b, "meta owner=%s rev=%d upstream=%d\n", orDash(owner), rev, e.upstream)
	for _, info := range e.changefeeds() {
		fmt.Fprintf(&b, "meta %s epoch=%d checkpoint=%d\n", info.ID, info.Epoch, info.Checkpoint)
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

// check prints, per changefeed, the invariants the races are about: one
// working maintainer, one dispatcher writing each table, and the lag of the
// checkpoint and of the sink.
func (e *Env) check() string {
	var b strings.Builder
	for _, info := range e.changefeeds() {
		b.WriteString(e.checkMaintainers(info.ID))
		b.WriteString(e.checkWriters(info.ID))
		wm := uint64(0)
		if s := e.sink[info.ID]; s != nil {
			wm = s.watermark
		}
		fmt.Fprintf(&b, "%s checkpoint=%d lag=%d sink-watermark=%d sink-lag=%d\n",
			info.ID, info.Checkpoint, e.upstream-info.Checkpoint, wm, e.upstream-min(e.upstream, wm))
	}
	return b.String()
}

// checkMaintainers checks that changefeed cf has exactly one working
// maintainer, or none while it is stopped.
func (e *Env) checkMaintainers(cf string) string {
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
	return fmt.Sprintf("%s maintainers: %v (%s: %s)\n", cf, live, label, verdict)
}

// checkWriters checks that one dispatcher writes each table of changefeed
// cf.
func (e *Env) checkWriters(cf string) string {
	writers := map[int64][]string{}
	for _, id := range e.ids() {
		n := e.nodes[id]
		if n.crashed {
			continue
		}
		for d, table := range n.dispatch[cf] {
			writers[table] = append(writers[table], id+"/"+d)
		}
	}
	var dup []string
	for _, table := range slices.Sorted(maps.Keys(writers)) {
		if w := writers[table]; len(w) > 1 {
			slices.Sort(w)
			dup = append(dup, fmt.Sprintf("t%d:%v", table, w))
		}
	}
	if len(dup) == 0 {
		return fmt.Sprintf("%s writers: one dispatcher per table\n", cf)
	}
	return fmt.Sprintf("%s writers: DUPLICATE %s\n", cf, strings.Join(dup, " "))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

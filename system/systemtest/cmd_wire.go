package systemtest

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/chaosrun/chaosrun/heartbeatpb"
	"github.com/chaosrun/chaosrun/system/roles"
	"github.com/chaosrun/chaosrun/system/transport/inmem"
)

// Wire commands: look at, hold, release, drop and inject envelopes in
// flight.

// cmdFlights holds, releases or drops the matching envelopes in flight and
// lists them.
func cmdFlights(r *Runner, a args) (string, error) {
	match, err := a.filter()
	if err != nil {
		return "", err
	}
	net := r.Env.Net
	var fs []inmem.Flight
	switch a.d.Cmd {
	case "hold":
		fs = inFlight(net, func(f inmem.Flight) bool { return !f.Held && match(f) })
		net.Hold(match)
	case "release":
		fs = inFlight(net, func(f inmem.Flight) bool { return f.Held && match(f) })
		net.Release(match)
	case "drop":
		fs = net.Drop(match)
	}
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s #%d %s->%s %s\n", a.d.Cmd, f.Seq, f.Env.GetFrom(), f.Env.GetTo(), describe(f.Env))
	}
	if b.Len() == 0 {
		return "nothing matched\n", nil
	}
	return b.String(), nil
}

// inFlight returns the envelopes in flight that match.
func inFlight(net *inmem.Network, match func(inmem.Flight) bool) []inmem.Flight {
	var out []inmem.Flight
	for _, f := range net.InFlight() {
		if match(f) {
			out = append(out, f)
		}
	}
	return out
}

func cmdInflight(r *Runner, a args) (string, error) {
	if _, err := a.exactly(0); err != nil {
		return "", err
	}
	net := r.Env.Net
	var b strings.Builder
	for _, f := range net.InFlight() {
		held := ""
		if f.Held {
			held = " [held]"
		}
		if net.IsCut(f.Env.GetFrom(), f.Env.GetTo()) {
			held += " [cut]"
		}
		fmt.Fprintf(&b, "#%d %s->%s %s%s\n", f.Seq, f.Env.GetFrom(), f.Env.GetTo(), describe(f.Env), held)
	}
	if b.Len() == 0 {
		return "nothing in flight\n", nil
	}
	return b.String(), nil
}

// cmdInject sends a hand-made message from a node, to replay what another
// implementation (the seed PR) would have sent.
func cmdInject(r *Runner, a args) (string, error) {
	for _, p := range a.positional() {
		if p != "cascade" && p != "removed" {
			return "", a.errorf("unexpected argument %q", p)
		}
	}
	e := r.Env
	from, err := e.node(a.str("from", ""))
	if err != nil {
		return "", a.errorf("from: %w", err)
	}
	to, err := e.known(a.str("to", ""))
	if err != nil {
		return "", a.errorf("to: %w", err)
	}
	epoch, _, err := a.epoch()
	if err != nil {
		return "", err
	}
	body, err := e.injected(a, epoch)
	if err != nil {
		return "", err
	}
	env := roles.NewEnvelope(from.id, to.id, body)
	if err := from.ep.Send(context.Background(), env); err != nil {
		return "", err
	}
	return fmt.Sprintf("injected %s->%s %s\n", from.id, to.id, describe(env)), nil
}

// injected builds the message of an inject command. Only an add needs the
// changefeed to exist: it carries its tables and checkpoint.
func (e *Env) injected(a args, epoch uint64) (proto.Message, error) {
	cf := a.str("cf", "cf1")
	_, rev := e.meta.Owner()
	switch k := a.str("kind", ""); k {
	case "add":
		info, ok := e.meta.Changefeed(cf)
		if !ok {
			return nil, a.errorf("unknown changefeed %q", cf)
		}
		return &pb.AddMaintainerRequest{ChangefeedId: cf, Config: roles.EncodeConfig(roles.ChangefeedConfig{Tables: info.Tables}),
			CheckpointTs: info.Checkpoint, MaintainerEpoch: epoch, CoordinatorVersion: rev}, nil
	case "remove":
		return &pb.RemoveMaintainerRequest{ChangefeedId: cf, Cascade: a.flag("cascade"), Removed: a.flag("removed"),
			MaintainerEpoch: epoch, CoordinatorVersion: rev}, nil
	case "close":
		return &pb.MaintainerCloseRequest{ChangefeedId: cf, Removed: a.flag("removed"), MaintainerEpoch: epoch}, nil
	case "bootstrap":
		return &pb.MaintainerBootstrapRequest{ChangefeedId: cf, MaintainerEpoch: epoch}, nil
	default:
		return nil, a.errorf("unknown kind %q (add, remove, close, bootstrap)", k)
	}
}

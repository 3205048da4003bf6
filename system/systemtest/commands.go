package systemtest

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/chaosrun/chaosrun/system/transport/inmem"
)

// Runner runs the commands of one transcript file against a fresh Env per
// reset.
type Runner struct {
	Env *Env
}

// command is one transcript command: its usage line and its handler. A
// handler checks its arguments before it changes anything and returns its
// own output; lines the env printed meanwhile follow it.
type command struct {
	usage string
	run   func(r *Runner, a args) (string, error)
}

// commands maps every transcript command to its handler; the handlers live
// in the cmd_*.go files, one file per family.
var commands = map[string]command{
	"reset":     {"reset policy=epoch|off [nodes=3] [tables=4]", cmdReset},
	"elect":     {"elect <node>", cmdElect},
	"crash":     {"crash <node>", cmdCrash},
	"restart":   {"restart <node>", cmdRestart},
	"tick":      {"tick [n]", cmdTick},
	"run":       {"run [n]", cmdRun},
	"deliver":   {"deliver [filters]", cmdDeliver},
	"stabilize": {"stabilize [filters]", cmdStabilize},
	"hold":      {"hold [filters]", cmdFlights},
	"release":   {"release [filters]", cmdFlights},
	"drop":      {"drop [filters]", cmdFlights},
	"inflight":  {"inflight", cmdInflight},
	"inject":    {"inject from=<node> to=<node> kind=add|remove|close|bootstrap [cf=cf1] [epoch=<n>] [cascade] [removed]", cmdInject},
	"isolate":   {"isolate <node>", cmdIsolate},
	"cut":       {"cut <from> <to>", cmdCut},
	"partition": {"partition <a> <b>", cmdCut},
	"heal":      {"heal", cmdHeal},
	"move":      {"move <cf> <node>", cmdAdmin},
	"stop":      {"stop <cf>", cmdAdmin},
	"resume":    {"resume <cf>", cmdAdmin},
	"status":    {"status [<node>...]", cmdStatus},
	"check":     {"check", cmdCheck},
}

// Handle runs one datadriven command and returns its output. A malformed
// command (unknown, missing or bad arguments, unknown nodes) gives an
// "error: " line and changes nothing.
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
// Every command but reset also takes "verbose" (print every decision).
// Filters: from=, to=, type= (message kind), epoch= (payload epoch).
func (r *Runner) Handle(_ *testing.T, d *datadriven.TestData) string {
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
	cmd, ok := commands[d.Cmd]
	if !ok {
		return "", fmt.Errorf("unknown command %q (want one of %s)", d.Cmd, strings.Join(slices.Sorted(maps.Keys(commands)), ", "))
	}
	a := args{d: d, usage: cmd.usage}
	if d.Cmd != "reset" {
		if r.Env == nil {
			return "", fmt.Errorf("%s: reset first", d.Cmd)
		}
		r.Env.verbose = d.HasArg("verbose")
	}
	out, err := cmd.run(r, a)
	if err != nil {
		if r.Env != nil {
			r.Env.out.take() // NB: nothing of a refused command is shown
		}
		return "", err
	}
	return out + r.Env.out.take(), nil
}

// args are one command's arguments.
type args struct {
	d     *datadriven.TestData
	usage string
}

// errorf reports a malformed command, with its usage; format may wrap
// with %w.
func (a args) errorf(format string, v ...any) error {
	return fmt.Errorf("%s: %w (usage: %s)", a.d.Cmd, fmt.Errorf(format, v...), a.usage)
}

// positional returns the bare words, "verbose" aside.
func (a args) positional() []string {
	var out []string
	for _, arg := range a.d.CmdArgs {
		if len(arg.Vals) == 0 && arg.Key != "verbose" {
			out = append(out, arg.Key)
		}
	}
	return out
}

// exactly returns the n bare words the command takes.
func (a args) exactly(n int) ([]string, error) {
	pos := a.positional()
	if len(pos) != n {
		return nil, a.errorf("want %d argument(s), got %d", n, len(pos))
	}
	return pos, nil
}

// node returns the node named by the command's one argument, looked up with
// lookup: Env.node for a live node, Env.known for any.
func (a args) node(lookup func(id string) (*node, error)) (*node, error) {
	pos, err := a.exactly(1)
	if err != nil {
		return nil, err
	}
	return lookup(pos[0])
}

// flag reports whether the bare word name is present.
func (a args) flag(name string) bool { return a.d.HasArg(name) }

// str returns the value of key=, or def.
func (a args) str(key, def string) string {
	if arg, ok := a.d.Arg(key); ok && len(arg.Vals) > 0 {
		return arg.Vals[0]
	}
	return def
}

// count parses a number in lo..hi: the value of key=, or, with key "",
// the single optional bare word; def when absent.
func (a args) count(key string, def, lo, hi int) (int, error) {
	s := a.str(key, "")
	if key == "" {
		pos := a.positional()
		if len(pos) > 1 {
			return 0, a.errorf("want at most one argument, got %d", len(pos))
		}
		if len(pos) == 1 {
			s = pos[0]
		}
	}
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		name := "count"
		if key != "" {
			name = key
		}
		return 0, a.errorf("%s %q: want a number from %d to %d", name, s, lo, hi)
	}
	return n, nil
}

// epoch parses the value of epoch=; ok is false when it is absent.
func (a args) epoch() (epoch uint64, ok bool, err error) {
	s := a.str("epoch", "")
	if s == "" {
		return 0, false, nil
	}
	epoch, err = strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, a.errorf("epoch %q: want a number", s)
	}
	return epoch, true, nil
}

// filter builds the envelope filter of from=, to=, type= and epoch=.
func (a args) filter() (func(inmem.Flight) bool, error) {
	if pos := a.positional(); len(pos) > 0 {
		return nil, a.errorf("unexpected argument %q", pos[0])
	}
	from, to, kind := a.str("from", ""), a.str("to", ""), a.str("type", "")
	epoch, byEpoch, err := a.epoch()
	if err != nil {
		return nil, err
	}
	return func(f inmem.Flight) bool {
		env := f.Env
		if (from != "" && env.GetFrom() != from) || (to != "" && env.GetTo() != to) || (kind != "" && kindOf(env) != kind) {
			return false
		}
		if byEpoch {
			m, ok := bodyOf(env.GetPayloads()[0]).(epochMessage)
			return ok && m.GetMaintainerEpoch() == epoch
		}
		return true
	}, nil
}

package scenario

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chaosrun/chaosrun/chaos"
)

// ErrInvalid matches (errors.Is) every *ValidationError.
var ErrInvalid = errors.New("scenario: invalid")

// RootPath is the path of problems with a document as a whole (YAML syntax,
// an empty file).
const RootPath = "(document)"

// Problem is one thing wrong with a scenario or a plan.
type Problem struct {
	// Path is the field path, as in the YAML or JSON form:
	// "faults[1].target", "topology.nodes", or RootPath.
	Path string
	// Msg says what is wrong and what is wanted.
	Msg string
	// Line is the line of the field in the source file, 0 when unknown.
	Line int
}

// Error returns "path: msg".
func (p Problem) Error() string { return p.Path + ": " + p.Msg }

// ValidationError lists every problem found, in field order.
type ValidationError struct {
	// Source names the file the problems are in; empty for values built in
	// Go.
	Source   string
	Problems []Problem
}

// Error returns one line per problem, "source:line: path: msg", leaving out
// what is unknown.
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		switch {
		case e.Source != "" && p.Line > 0:
			fmt.Fprintf(&b, "%s:%d: ", e.Source, p.Line)
		case e.Source != "":
			fmt.Fprintf(&b, "%s: ", e.Source)
		case p.Line > 0:
			fmt.Fprintf(&b, "line %d: ", p.Line)
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems, each an error.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Limits beyond the ranges documented on the fields. They also keep every
// sum of durations far from overflowing.
const (
	maxDuration   = 24 * time.Hour
	maxTTL        = 5 * time.Minute
	maxSteps      = 32
	maxRepeat     = 100
	maxRate       = 100_000
	maxWorkers    = 256
	maxRowsPerTxn = 1000
	// maxTables bounds topology.tables: a dispatcher per table, and the
	// nodes were measured at 2,000 (BenchmarkFailoverScale).
	maxTables = 2000
	// maxDebeziumTables bounds the debezium target's tables, each a
	// PostgreSQL table in the connector's publication.
	maxDebeziumTables = 64
	maxDescription    = 200
)

const wantTarget = "want owner, maintainer-of:<cf>, node:<n>, bystander, kafka, meta, upstream; for the debezium target task-worker, leader, node:<n>, kafka, upstream"

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// MaxNameLen is the longest name namePattern allows.
const MaxNameLen = 64

// MaxChangefeeds is the most changefeeds a scenario may run.
const MaxChangefeeds = 16

// problems collects Problems.
type problems []Problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

// fieldPath joins a parent path and a field name.
func fieldPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// indexPath returns the path of element i of a list.
func indexPath(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

// Validate returns nil or a *ValidationError listing every problem of s
// with its defaults filled in. A scenario that validates expands into a
// valid Plan for every seed.
func (s Scenario) Validate() error {
	var ps problems
	s.WithDefaults().check(&ps, "", true)
	return ps.err()
}

// check validates s (defaults filled in), with paths under root; across
// says whether to check fault steps against each other and the timeout.
func (s Scenario) check(ps *problems, root string, across bool) {
	path := func(name string) string { return fieldPath(root, name) }
	checkName(ps, path("name"), s.Name, true)
	if d := s.Description; !oneLine(d) {
		ps.add(path("description"), "want one line of printable text")
	} else if n := utf8.RuneCountInString(d); n > maxDescription {
		ps.add(path("description"), "%d characters (max %d)", n, maxDescription)
	}

	s.checkSystem(ps, path)
	s.checkTopology(ps, path("topology"))
	s.Workload.check(ps, path("workload"))

	sp := func(name string) string { return fieldPath(path("slos"), name) }
	checkDuration(ps, sp("lag"), s.SLOs.Lag, 1, maxDuration)
	checkDuration(ps, sp("window"), s.SLOs.Window, 1, maxDuration)
	checkDuration(ps, sp("recovery"), s.SLOs.Recovery, 1, maxDuration)
	checkDuration(ps, sp("zombie"), s.SLOs.Zombie, 0, maxDuration)

	ep := func(name string) string { return fieldPath(path("expect"), name) }
	if s.Expect.On != ExpectPass && s.Expect.On != ExpectFail {
		ps.add(ep("on"), "%q: want %s or %s", s.Expect.On, ExpectPass, ExpectFail)
	}
	if !validOff(s.Expect.Off) {
		ps.add(ep("off"), "%q: want %s, %s or %s", s.Expect.Off, ExpectFail, ExpectPass, ExpectEither)
	}
	if s.Expect.Off != ExpectFail && strings.TrimSpace(s.Expect.Reason) == "" {
		ps.add(ep("reason"), "required when fencing off is expected to %s: say why the bug cannot show, or shows only sometimes, in this scenario", s.Expect.Off)
	}
	for i, b := range s.Expect.Backends {
		bp := func(name string) string { return fieldPath(indexPath(ep("backends"), i), name) }
		switch {
		case b.Backend != BackendNetns && b.Backend != BackendToxiproxy:
			ps.add(bp("backend"), "%q: want %s or %s", b.Backend, BackendNetns, BackendToxiproxy)
		case slices.IndexFunc(s.Expect.Backends, func(o BackendExpect) bool { return o.Backend == b.Backend }) < i:
			ps.add(bp("backend"), "%q declared twice", b.Backend)
		}
		if !validOff(b.Off) {
			ps.add(bp("off"), "%q: want %s, %s or %s", b.Off, ExpectFail, ExpectPass, ExpectEither)
		}
		if strings.TrimSpace(b.Reason) == "" {
			ps.add(bp("reason"), "required: say why this backend differs")
		}
	}

	gp := func(name string) string { return fieldPath(path("steady"), name) }
	checkDuration(ps, gp("lag"), s.Steady.Lag, 1, maxDuration)
	checkDuration(ps, gp("window"), s.Steady.Window, 1, maxDuration)
	steadyOK := checkDuration(ps, gp("timeout"), s.Steady.Timeout, 1, maxDuration)
	if steadyOK && s.Steady.Timeout < s.Steady.Window {
		ps.add(gp("timeout"), "%v is shorter than steady.window %v, so the gate could never pass", s.Steady.Timeout, s.Steady.Window)
	}
	recoveryOK := checkDuration(ps, path("recovery_window"), s.RecoveryWindow, 1, maxDuration)
	drainOK := checkDuration(ps, path("drain_deadline"), s.DrainDeadline, 1, maxDuration)
	timeoutOK := checkDuration(ps, path("timeout"), s.Timeout, 1, math.MaxInt64)

	s.checkFaults(ps, root, across, across && timeoutOK && steadyOK && recoveryOK && drainOK)
}

// checkFaults validates the fault steps one by one; with across, their
// windows against each other; with timed, against the timeout (which must
// then be valid, as must the other phases it bounds). scenarioRoot is the
// scenario's path.
func (s Scenario) checkFaults(ps *problems, scenarioRoot string, across, timed bool) {
	root := fieldPath(scenarioRoot, "faults")
	if len(s.Faults) > maxSteps {
		ps.add(root, "%d steps (max %d)", len(s.Faults), maxSteps)
		return
	}
	valid := make([]bool, len(s.Faults)) // the step's times are valid
	allValid := true
	for i, f := range s.Faults {
		valid[i] = s.checkStep(ps, indexPath(root, i), f)
		allValid = allValid && valid[i]
	}
	if !across {
		return
	}
	for j, fj := range s.Faults {
		for i, fi := range s.Faults[:j] {
			if !valid[i] || !valid[j] || fi.Target != fj.Target || disjointCuts(fi, fj) {
				continue
			}
			si, ei := fi.window()
			sj, ej := fj.window()
			if si < ej && sj < ei {
				ps.add(fieldPath(indexPath(root, j), "at"),
					"overlaps %s on target %q: in the worst case it holds %v..%v and %s holds %v..%v; a target takes one fault at a time, or network faults of disjoint link sets",
					indexPath(root, i), fj.Target, sj, ej, indexPath(root, i), si, ei)
			}
		}
	}
	if !timed || !allValid {
		return
	}
	late := false
	for i, f := range s.Faults {
		if _, end := f.window(); end > s.Timeout {
			ps.add(indexPath(root, i), "can heal as late as %v, after the run's timeout %v", end, s.Timeout)
			late = true
		}
	}
	if need := s.phases(); !late && need > s.Timeout {
		ps.add(fieldPath(scenarioRoot, "timeout"),
			"%v is shorter than the worst case of the phases it bounds: steady gate %v + faults %v + recovery window %v + drain %v = %v",
			s.Timeout, s.Steady.Timeout, s.FaultsEnd(), s.RecoveryWindow, s.DrainDeadline, need)
	}
}

// validOff reports whether v is a verdict fencing off may be expected to get.
func validOff(v string) bool { return v == ExpectFail || v == ExpectPass || v == ExpectEither }

// disjointCuts reports whether two steps are network faults of disjoint
// link sets: those may hold on one target at once (a cut from the peers
// while another from the meta store comes and goes, or a delay to the meta
// store during a hold of the peers).
func disjointCuts(a, b FaultStep) bool {
	if !a.Kind.Network() || !b.Kind.Network() {
		return false
	}
	for _, l := range a.Links {
		if slices.Contains(b.Links, l) {
			return false
		}
	}
	return true
}

// checkStep validates one fault step; it reports whether its times are
// valid, so that its window can be computed.
func (s Scenario) checkStep(ps *problems, path string, f FaultStep) (timed bool) {
	s.checkAction(ps, path, action{f.Kind, f.Target, f.Links, f.Delay, f.Loss, f.Restart, f.Backend})
	timed = checkRange(ps, fieldPath(path, "at"), f.At, 0)
	timed = checkRange(ps, fieldPath(path, "duration"), f.Duration, 1) && timed
	rp := fieldPath(path, "repeat")
	n, every := f.Repeat.Count, f.Repeat.Every
	switch {
	case n < 0 || n > maxRepeat:
		ps.add(fieldPath(rp, "count"), "%d: want 2..%d occurrences (0 or 1: once)", n, maxRepeat)
		timed = false
	case n >= 2 && every.IsZero():
		ps.add(fieldPath(rp, "every"), "required when repeat.count is %d", n)
		timed = false
	case n >= 2:
		if !checkRange(ps, fieldPath(rp, "every"), every, 1) {
			timed = false
		} else if timed && every.Min <= f.Duration.Max {
			ps.add(fieldPath(rp, "every"), "%v leaves no gap after a duration of up to %v (want every > duration)", every.Min, f.Duration.Max)
			timed = false
		}
	case !every.IsZero():
		ps.add(fieldPath(rp, "every"), "set, but repeat.count is %d (want 2 or more)", n)
	}
	return timed
}

// action is what a fault step and a plan step have in common: what to do
// to which target.
type action struct {
	Kind    Kind
	Target  string
	Links   []string
	Delay   time.Duration
	Loss    float64
	Restart string
	Backend string
}

// checkAction validates kind, target, links, delay, loss, restart and
// backend, and their consistency with each other and with the topology.
func (s Scenario) checkAction(ps *problems, path string, a action) {
	kindOK := slices.Contains(Kinds(), a.Kind)
	switch {
	case a.Kind == "":
		ps.add(fieldPath(path, "kind"), "required (want %s)", kindList())
	case !kindOK:
		ps.add(fieldPath(path, "kind"), "unknown kind %q (want %s)", a.Kind, kindList())
	}
	role := s.checkTarget(ps, fieldPath(path, "target"), a.Target)
	node := role == TargetOwner || role == TargetMaintainerOf || role == TargetNode || role == TargetBystander
	if role == TargetBystander && s.Topology.Nodes < 3 {
		ps.add(fieldPath(path, "target"), "%s needs a node that is neither the owner nor the maintainer's: topology.nodes is %d (want 3 or more)", role, s.Topology.Nodes)
	}

	lp := fieldPath(path, "links")
	switch {
	case kindOK && a.Kind.Network() && len(a.Links) == 0:
		ps.add(lp, "%s needs at least one link set (want a subset of %s)", a.Kind, strings.Join(Links(), ", "))
	case kindOK && a.Kind.Process() && len(a.Links) > 0:
		ps.add(lp, "%s takes no links (only the network kinds do: %s)", a.Kind, kindList(Kind.Network))
	case !kindOK || a.Kind.Network():
		for j, l := range a.Links {
			switch {
			case !slices.Contains(Links(), l):
				ps.add(indexPath(lp, j), "unknown link set %q (want %s)", l, strings.Join(Links(), ", "))
			case slices.Index(a.Links, l) < j:
				ps.add(indexPath(lp, j), "%q listed twice", l)
			case l == a.Target:
				ps.add(indexPath(lp, j), "target %s cannot be cut from itself", l)
			case l == LinkPeers && node && s.Topology.Nodes == 1:
				ps.add(indexPath(lp, j), "a node has no peers: topology.nodes is 1")
			}
		}
	}

	dp := fieldPath(path, "delay")
	switch {
	case a.Kind == KindDelay && a.Delay == 0:
		ps.add(dp, "required for delay (want %v..%v)", chaos.MinDelay, chaos.MaxDelay)
	case a.Kind == KindDelay && (a.Delay < chaos.MinDelay || a.Delay > chaos.MaxDelay):
		ps.add(dp, "%v: want %v..%v", a.Delay, chaos.MinDelay, chaos.MaxDelay)
	case kindOK && a.Kind != KindDelay && a.Delay != 0:
		ps.add(dp, "only delay takes a delay (kind is %s)", a.Kind)
	}
	sp := fieldPath(path, "loss")
	switch {
	case a.Kind == KindLoss && a.Loss == 0:
		ps.add(sp, "required for loss (want a probability strictly between 0 and 1, like 0.3)")
	case a.Kind == KindLoss && !(a.Loss > 0 && a.Loss < 1):
		ps.add(sp, "%v: want a probability strictly between 0 and 1", a.Loss)
	case kindOK && a.Kind != KindLoss && a.Loss != 0: // NB: NaN too
		ps.add(sp, "only loss takes a loss (kind is %s)", a.Kind)
	}

	rp := fieldPath(path, "restart")
	switch {
	case a.Kind == KindKillRestart && a.Restart != RestartSameID && a.Restart != RestartNewID:
		ps.add(rp, "unknown restart mode %q (want %s or %s)", a.Restart, RestartSameID, RestartNewID)
	case a.Kind == KindKillRestart && a.Restart == RestartNewID && role != "" && !node:
		ps.add(rp, "%s only applies to CDC nodes, not to %s", RestartNewID, a.Target)
	case a.Kind != KindKillRestart && kindOK && a.Restart != "":
		ps.add(rp, "only kill-restart restarts (kind is %s)", a.Kind)
	}

	bp := fieldPath(path, "backend")
	switch {
	case a.Backend == "":
	case kindOK && a.Kind.Process():
		ps.add(bp, "%s is a process fault and works the same on every backend; leave backend empty", a.Kind)
	case a.Backend != BackendNetns && a.Backend != BackendToxiproxy:
		ps.add(bp, "unknown backend %q (want %s, %s, or empty for the run's backend)", a.Backend, BackendNetns, BackendToxiproxy)
	case a.Kind == KindLoss && a.Backend == BackendToxiproxy:
		ps.add(bp, "loss needs backend %s: %s relays TCP streams and has no packets to lose", BackendNetns, BackendToxiproxy)
	}
}

// checkTarget validates a role target against the topology and returns its
// role, or "" when it is invalid.
func (s Scenario) checkTarget(ps *problems, path, target string) string {
	role, arg := SplitTarget(target)
	hasArg := strings.Contains(target, ":")
	switch role {
	case "":
		if target == "" {
			ps.add(path, "required (%s)", wantTarget)
		} else {
			ps.add(path, "unknown role %q (%s)", target, wantTarget)
		}
		return ""
	case TargetOwner, TargetBystander, TargetMeta, TargetTaskWorker, TargetLeader:
		if own, sys := s.targetOwns(role), s.system(); own != sys && (sys == TargetCDC || sys == TargetDebezium) {
			ps.add(path, "%q is a role of the %s target, not of %s", target, own, s.system())
			return ""
		}
		if hasArg {
			ps.add(path, "%q: %s takes no argument (%s)", target, role, wantTarget)
			return ""
		}
	case TargetKafka, TargetUpstream:
		if hasArg {
			ps.add(path, "%q: %s takes no argument (%s)", target, role, wantTarget)
			return ""
		}
	case TargetMaintainerOf:
		switch cfs := s.Topology.ChangefeedNames(); {
		case arg == "":
			ps.add(path, "%q: want maintainer-of:<cf> with cf a changefeed (%s)", target, strings.Join(cfs, ", "))
			return ""
		case !slices.Contains(cfs, arg):
			ps.add(path, "%q: no changefeed %q (the changefeeds are %s)", target, arg, strings.Join(cfs, ", "))
			return ""
		}
	case TargetNode:
		n, err := strconv.Atoi(arg)
		switch nodes := s.Topology.Nodes; {
		case err != nil || n < 1 || strconv.Itoa(n) != arg:
			ps.add(path, "%q: want node:<n> with n a number from 1 to %d", target, nodes)
			return ""
		case n > nodes:
			ps.add(path, "%q: node %d does not exist (topology.nodes is %d)", target, n, nodes)
			return ""
		}
	default:
		ps.add(path, "unknown role %q (%s)", target, wantTarget)
		return ""
	}
	return role
}

// kindList returns the kinds that pass every filter as "isolate,
// one-way-in, ...".
func kindList(filters ...func(Kind) bool) string {
	var names []string
	for _, k := range Kinds() {
		if !slices.ContainsFunc(filters, func(f func(Kind) bool) bool { return !f(k) }) {
			names = append(names, string(k))
		}
	}
	return strings.Join(names, ", ")
}

func checkName(ps *problems, path, name string, required bool) {
	switch {
	case name == "" && required:
		ps.add(path, "required")
	case !namePattern.MatchString(name):
		ps.add(path, "%q: want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
}

func checkInt(ps *problems, path string, v, lo, hi int) {
	if v < lo || v > hi {
		ps.add(path, "%d out of range %d..%d", v, lo, hi)
	}
}

// checkDuration checks lo <= d <= hi; lo is 0 (non-negative), 1 (positive)
// or a real bound.
func checkDuration(ps *problems, path string, d, lo, hi time.Duration) bool {
	switch {
	case d < lo && lo == 0:
		ps.add(path, "%v is negative", d)
	case d < lo && lo == 1:
		ps.add(path, "%v: must be positive", d)
	case d < lo:
		ps.add(path, "%v: want at least %v", d, lo)
	case d > hi:
		ps.add(path, "%v: want at most %v", d, hi)
	default:
		return true
	}
	return false
}

// checkRange checks lo <= r.Min <= r.Max <= maxDuration.
func checkRange(ps *problems, path string, r Range, lo time.Duration) bool {
	if r.Min > r.Max {
		ps.add(path, "%v is after %v", r.Min, r.Max)
		return false
	}
	return checkDuration(ps, path, r.Min, lo, maxDuration) && checkDuration(ps, path, r.Max, lo, maxDuration)
}

// oneLine reports whether s is valid UTF-8 of printable characters only
// (no line breaks, tabs or invisible formatting).
func oneLine(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

// checkSystem validates the system under test and its sink mode.
func (s Scenario) checkSystem(ps *problems, path func(string) string) {
	if s.Target != "" && s.Target != TargetCDC && s.Target != TargetDebezium {
		ps.add(path("target"), "unknown target %q (want %s or %s)", s.Target, TargetCDC, TargetDebezium)
	}
	if s.Sink != "" && s.Sink != SinkIdempotent && s.Sink != SinkTxn {
		ps.add(path("sink"), "unknown sink %q (want %s or %s)", s.Sink, SinkIdempotent, SinkTxn)
	} else if s.Sink == SinkTxn && s.Target == TargetDebezium {
		ps.add(path("sink"), "%s is a cdc sink mode; the %s target's transactional arm is its exactly-once support (the fencing arm)", SinkTxn, TargetDebezium)
	}
}

// checkTopology validates s.Topology, with paths under root.
func (s Scenario) checkTopology(ps *problems, root string) {
	t := s.Topology
	tp := func(name string) string { return fieldPath(root, name) }
	checkInt(ps, tp("nodes"), t.Nodes, 1, 9)
	if t.KafkaBrokers != 1 && t.KafkaBrokers != 3 {
		ps.add(tp("kafka_brokers"), "%d: want 1 or 3", t.KafkaBrokers)
	}
	checkInt(ps, tp("partitions"), t.Partitions, 1, 64)
	maxT := maxTables
	if s.Target == TargetDebezium {
		maxT = maxDebeziumTables
	}
	checkInt(ps, tp("tables"), t.Tables, 1, maxT)
	checkDuration(ps, tp("ttl"), t.TTL, time.Second, maxTTL)
	checkName(ps, tp("changefeed"), t.Changefeed, false)
	maxCf := MaxChangefeeds
	if s.Target == TargetDebezium {
		maxCf = 1
	}
	checkInt(ps, tp("changefeeds"), t.Changefeeds, 1, maxCf)
	if names := t.ChangefeedNames(); len(names) > 1 && len(names[len(names)-1]) > MaxNameLen {
		ps.add(tp("changefeed"), "%q: the changefeed names made from it (%s) must be at most %d characters", t.Changefeed, names[len(names)-1], MaxNameLen)
	}
}

// check validates the workload, with paths under root.
func (w Workload) check(ps *problems, root string) {
	wp := func(name string) string { return fieldPath(root, name) }
	if !slices.Contains(Workloads(), w.Name) {
		ps.add(wp("name"), "unknown workload %q (want %s)", w.Name, strings.Join(Workloads(), ", "))
	}
	if !(w.Rate > 0) || math.IsInf(w.Rate, 0) || w.Rate > maxRate {
		ps.add(wp("rate"), "%v: want transactions per second, more than 0 and at most %d", w.Rate, maxRate)
	}
	checkInt(ps, wp("workers"), w.Workers, 1, maxWorkers)
	checkInt(ps, wp("rows_per_txn"), w.RowsPerTxn, 1, maxRowsPerTxn)
	if w.RowsPerTxn > 1 && w.Name != WorkloadAppend {
		ps.add(wp("rows_per_txn"), "%d: only the %s workload writes more than one row per transaction", w.RowsPerTxn, WorkloadAppend)
	}
}

// system is the scenario's target system, defaulted.
func (s Scenario) system() string {
	if s.Target == "" {
		return TargetCDC
	}
	return s.Target
}

// targetOwns names the target system a role belongs to.
func (Scenario) targetOwns(role string) string {
	if role == TargetTaskWorker || role == TargetLeader {
		return TargetDebezium
	}
	return TargetCDC
}

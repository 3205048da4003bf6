package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/chaosrun/chaosrun/internal/proc"
)

// CleanOptions selects what Clean undoes.
type CleanOptions struct {
	// RunDir is a run directory holding faults.ledger.jsonl: undo what that
	// ledger records, then anything else named with its run id.
	RunDir string
	// All scans the machine for anything named or tagged with any chaosrun
	// run id (namespaces cr-<run>-*, links crb-/crv-/cru-<run>, rules tagged
	// chaosrun:, chains CR-<run>) and removes it. Processes are found only
	// inside those namespaces: processes of a toxiproxy run need its ledger.
	All bool
	// DryRun reports what would be done and does nothing.
	DryRun bool
	// Force cleans even when the run's harness process is still alive.
	Force bool
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// CleanAction is one thing Clean did (or, dry, would do).
type CleanAction struct {
	Run    string `json:"run"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Action string `json:"action"`
	Detail string `json:"detail,omitempty"`
}

// Clean actions.
const (
	ActionKilled  = "killed"
	ActionResumed = "resumed"
	ActionRemoved = "removed"
	ActionGone    = "gone"        // went away with its process (in-process proxies)
	ActionWould   = "would-clean" // dry run
)

// String formats the action as one report line.
func (a CleanAction) String() string {
	s := fmt.Sprintf("%-11s %-9s %s", a.Action, a.Kind, a.Name)
	if a.Detail != "" {
		s += "  (" + a.Detail + ")"
	}
	return s
}

// CleanReport lists what Clean did. An empty report means there was
// nothing to clean.
type CleanReport struct {
	Actions []CleanAction `json:"actions"`
}

// ErrRunActive reports that the run's harness still runs (use Force).
var ErrRunActive = errors.New("chaos: run still active")

var chainOfRun = regexp.MustCompile(`^CR-([a-z0-9]{6})$`)

// cleaner carries one Clean call.
type cleaner struct {
	opts CleanOptions
	log  *slog.Logger
	rep  CleanReport
	errs []error
	done map[string]bool // namespaces handled
}

func (c *cleaner) act(run, kind, name, action, detail string) {
	if c.opts.DryRun && action != ActionGone {
		action = ActionWould
	}
	a := CleanAction{Run: run, Kind: kind, Name: name, Action: action, Detail: detail}
	c.rep.Actions = append(c.rep.Actions, a)
	c.log.Info("chaos: clean", "run", run, "kind", kind, "name", name, "action", action, "detail", detail)
}

// Clean undoes what crashed runs left behind: it resumes processes a pause
// fault stopped, kills the processes a run started (only when pid AND
// start time match the ledger, so a reused pid is never killed), deletes
// the run's iptables rules and chains, its namespaces (with their veths),
// its hub (with the bridge), and reports proxies that went with the
// harness. It never touches anything not named or tagged with a run id. It
// is idempotent: a second call finds nothing.
func Clean(ctx context.Context, opts CleanOptions) (CleanReport, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RunDir == "" && !opts.All {
		return CleanReport{}, errors.New("chaos: clean: give a run directory or All")
	}
	c := &cleaner{opts: opts, log: opts.Logger, done: map[string]bool{}}
	if opts.RunDir != "" {
		if err := c.ledgerRun(ctx, opts.RunDir); err != nil {
			return c.rep, err
		}
	}
	if opts.All {
		c.scan(ctx, "")
	}
	return c.rep, errors.Join(c.errs...)
}

// ledgerRun cleans the run recorded in runDir's ledger.
func (c *cleaner) ledgerRun(ctx context.Context, runDir string) error {
	entries, run, err := readRunLedger(runDir)
	if err != nil || len(entries) == 0 {
		return err
	}
	if err := c.refuseActive(run, entries); err != nil {
		return err
	}
	c.processes(ctx, run, entries)
	// Rules and chains, namespace by namespace.
	seen := map[string]bool{}
	for _, e := range entries {
		if (e.Kind == EntryRules || e.Kind == EntryChain) && !seen[e.Netns] {
			seen[e.Netns] = true
			c.rules(ctx, run, e.Netns)
		}
	}
	c.proxies(runDir, run, entries)
	// Namespaces (recorded ones, then any other of the run) and links.
	c.scan(ctx, run)
	return nil
}

// readRunLedger reads runDir's ledger and returns its entries and run id,
// checking that every entry belongs to one valid run.
func readRunLedger(runDir string) ([]Entry, string, error) {
	entries, err := ReadLedger(filepath.Join(runDir, LedgerFile))
	if err != nil || len(entries) == 0 {
		return nil, "", err
	}
	run := entries[0].Run
	if err := ValidateRunID(run); err != nil {
		return nil, "", fmt.Errorf("chaos: clean %s: %w", runDir, err)
	}
	for _, e := range entries {
		if e.Run != run {
			return nil, "", fmt.Errorf("chaos: clean %s: ledger mixes runs %s and %s", runDir, run, e.Run)
		}
	}
	return entries, run, nil
}

// refuseActive returns an error wrapping ErrRunActive when a harness of the
// run still runs, unless CleanOptions.Force.
func (c *cleaner) refuseActive(run string, entries []Entry) error {
	if c.opts.Force {
		return nil
	}
	for _, h := range entries {
		if h.Kind != EntryHarness || h.Start == 0 {
			continue
		}
		if _, ok := alive(h.Pid, h.Start); ok {
			return fmt.Errorf("%w: run %s harness pid %d is alive (use force)", ErrRunActive, run, h.Pid)
		}
	}
	return nil
}

// processes resumes what a pause fault stopped, so nothing stays frozen,
// then kills the processes the run started.
func (c *cleaner) processes(ctx context.Context, run string, entries []Entry) {
	for _, e := range entries {
		if e.Op == LedgerIntent && e.Kind == EntrySignal && e.Signal == "SIGSTOP" {
			c.signal(ctx, run, e, syscall.SIGCONT, ActionResumed)
		}
	}
	for _, e := range entries {
		if e.Op == LedgerIntent && e.Kind == EntryProcess {
			c.signal(ctx, run, e, syscall.SIGKILL, ActionKilled)
		}
	}
}

// proxies reports the proxies and toxics the harness did not undo itself:
// they lived in the harness process and ended with it. It marks them undone
// in the ledger, so that the next clean does not report them again.
func (c *cleaner) proxies(runDir, run string, entries []Entry) {
	undone := map[string]bool{}
	for _, e := range entries {
		if e.Op == LedgerUndone {
			undone[e.Kind+"/"+e.Name+"/"+e.Fault] = true
		}
	}
	var gone []Entry
	for _, e := range entries {
		if e.Op == LedgerIntent && (e.Kind == EntryProxy || e.Kind == EntryToxics) && !undone[e.Kind+"/"+e.Name+"/"+e.Fault] {
			name := e.Name
			if e.Kind == EntryToxics {
				name = e.Fault + ": " + strings.Join(e.Toxics, ",")
			}
			c.act(run, e.Kind, name, ActionGone, "in-process toxiproxy: ended with the harness")
			gone = append(gone, Entry{Op: LedgerUndone, Kind: e.Kind, Backend: e.Backend, Name: e.Name, Fault: e.Fault, Detail: "chaosrun clean"})
		}
	}
	if len(gone) == 0 || c.opts.DryRun {
		return
	}
	l, err := appendLedger(filepath.Join(runDir, LedgerFile), run)
	if err != nil {
		c.errs = append(c.errs, err)
		return
	}
	for _, e := range gone {
		c.errs = append(c.errs, l.Append(e))
	}
	c.errs = append(c.errs, l.Close())
}

// signal sends sig to a recorded process if it is still the same process.
func (c *cleaner) signal(ctx context.Context, run string, e Entry, sig syscall.Signal, action string) {
	if _, ok := alive(e.Pid, e.Start); !ok {
		if members, _ := groupMembers(e.Pgid, e.Start); e.Pgid == 0 || len(members) == 0 {
			return // gone, or the pid now belongs to someone else
		}
	}
	if sig == syscall.SIGCONT {
		members, _ := groupMembers(e.Pgid, e.Start)
		if !slices.ContainsFunc(members, func(m proc.Stat) bool { return m.State == 'T' }) {
			return // nothing stopped: nothing to resume
		}
	}
	detail := fmt.Sprintf("pid %d start %d", e.Pid, e.Start)
	if !c.opts.DryRun {
		pids, err := signalGroup(e.Pid, e.Pgid, e.Start, sig)
		if errors.Is(err, ErrProcessGone) {
			return
		}
		if err != nil {
			c.errs = append(c.errs, err)
			return
		}
		if sig == syscall.SIGKILL {
			if err := waitGone(ctx, pids, 5*time.Second); err != nil {
				c.errs = append(c.errs, fmt.Errorf("chaos: clean: %s: %w", e.Name, err))
			}
		}
		detail += fmt.Sprintf(", group %v", pids)
	}
	c.act(run, EntryProcess, e.Name, action, detail)
}

// rules removes every rule tagged with run, and the run's chain, in
// namespace ns (if it still exists).
func (c *cleaner) rules(ctx context.Context, run, ns string) {
	if m := nsOfRun.FindStringSubmatch(ns); m == nil || m[1] != run {
		c.errs = append(c.errs, fmt.Errorf("chaos: clean: ledger names %q, not a namespace of run %s", ns, run))
		return
	}
	names, err := listNetns(ctx)
	if err != nil {
		c.errs = append(c.errs, err)
		return
	}
	if !slices.Contains(names, ns) {
		return
	}
	c.tagged(ctx, run, ns, runTagPrefix(run), chainName(run))
}

// tagged removes (or, dry, lists) the rules whose comment starts with
// prefix and the chain, in ns ("" = root namespace).
func (c *cleaner) tagged(ctx context.Context, run, ns, prefix, chain string) {
	where := ns
	if where == "" {
		where = "root namespace"
	}
	match := func(cm string) bool { return strings.HasPrefix(cm, prefix) }
	if c.opts.DryRun {
		out, err := iptablesSave(ctx, ns)
		if err != nil {
			c.errs = append(c.errs, err)
			return
		}
		chains, rules := parseSave(out)
		for _, r := range rules {
			if match(r.Comment) {
				c.act(run, "rule", r.Chain+" "+r.Spec, ActionWould, where)
			}
		}
		if chain != "" && slices.Contains(chains, chain) {
			c.act(run, "chain", chain, ActionWould, where)
		}
		return
	}
	removed, err := removeTagged(ctx, ns, match, chain)
	if err != nil {
		c.errs = append(c.errs, err)
	}
	for _, r := range removed {
		kind := "rule"
		if strings.HasPrefix(r, "chain ") {
			kind, r = "chain", strings.TrimPrefix(r, "chain ")
		}
		c.act(run, kind, r, ActionRemoved, where)
	}
}

// scan removes the namespaces and root-namespace links, rules and chains
// of run ("" = of every run).
func (c *cleaner) scan(ctx context.Context, run string) {
	names, err := listNetns(ctx)
	if err != nil {
		c.errs = append(c.errs, err)
		return
	}
	var hubs, procs []string
	for _, n := range names {
		m := nsOfRun.FindStringSubmatch(n)
		if m == nil || (run != "" && m[1] != run) || c.done[n] {
			continue
		}
		if m[2] == hubSuffix {
			hubs = append(hubs, n)
		} else {
			procs = append(procs, n)
		}
	}
	// Links in the hubs go with their namespaces; list them for the report.
	hubLinks := map[string][]string{}
	for _, h := range hubs {
		names, err := linkNames(ctx, h)
		if err != nil {
			continue
		}
		for _, name := range names {
			if linkOfRun.MatchString(name) {
				hubLinks[h] = append(hubLinks[h], name)
			}
		}
	}
	for _, n := range append(procs, hubs...) { // hubs last: veths end in them
		r := nsOfRun.FindStringSubmatch(n)[1]
		c.done[n] = true
		if c.opts.DryRun {
			pids, _ := netnsPids(ctx, n)
			c.act(r, EntryNamespace, n, ActionWould, fmt.Sprintf("%d processes inside", len(pids)))
			continue
		}
		pids, err := deleteNamespace(ctx, n)
		if err != nil {
			c.errs = append(c.errs, err)
			continue
		}
		if len(pids) > 0 {
			c.act(r, EntryProcess, n, ActionKilled, fmt.Sprintf("pids %v inside the namespace", pids))
		}
		c.act(r, EntryNamespace, n, ActionRemoved, "")
		for _, l := range hubLinks[n] {
			c.act(r, "link", l, ActionRemoved, "with "+n)
		}
	}
	c.root(ctx, run)
}

// root removes chaosrun links, rules and chains from the root namespace.
// The only thing the harness creates there is the netns uplink (cru-<run>,
// usually gone already with its hub end); rules and chains there would come
// from older or foreign chaosrun versions and manual experiments.
func (c *cleaner) root(ctx context.Context, run string) {
	names, err := linkNames(ctx, "")
	if err != nil {
		c.errs = append(c.errs, err)
		return
	}
	for _, name := range names {
		m := linkOfRun.FindStringSubmatch(name)
		if m == nil || (run != "" && m[1] != run) {
			continue
		}
		if !c.opts.DryRun {
			if _, err := ip(ctx, "link", "del", name); err != nil {
				c.errs = append(c.errs, err)
				continue
			}
		}
		c.act(m[1], "link", name, ActionRemoved, "root namespace")
	}
	if !isRoot() {
		return // iptables needs root; a non-root run never made rules
	}
	save, err := iptablesSave(ctx, "")
	if err != nil {
		c.log.Debug("chaos: clean: no iptables in root namespace", "err", err)
		return
	}
	chains, _ := parseSave(save)
	prefix := "chaosrun:"
	if run != "" {
		prefix = runTagPrefix(run)
	}
	c.tagged(ctx, run, "", prefix, "")
	for _, ch := range chains {
		if m := chainOfRun.FindStringSubmatch(ch); m != nil && (run == "" || m[1] == run) {
			c.tagged(ctx, m[1], "", runTagPrefix(m[1]), ch)
		}
	}
}

// ParseCleanTarget is a helper for the CLI: it returns CleanOptions for a
// run directory argument, checking that it holds a ledger.
func ParseCleanTarget(dir string) (CleanOptions, error) {
	if _, err := os.Stat(filepath.Join(dir, LedgerFile)); err != nil {
		return CleanOptions{}, fmt.Errorf("chaos: clean: %s is not a run directory: %w", dir, err)
	}
	return CleanOptions{RunDir: dir}, nil
}

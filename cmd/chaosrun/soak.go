package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosrun/chaosrun/internal/hostaudit"
	"github.com/chaosrun/chaosrun/reports/result"
	"github.com/chaosrun/chaosrun/system/cluster"
)

// The kinds of run a soak mixes.
const (
	soakClean   = "clean"   // runs to its verdict
	soakSIGINT  = "sigint"  // interrupted at a random phase, as Ctrl-C would
	soakSIGKILL = "sigkill" // the harness killed, then `chaosrun clean <run-dir>`
)

var soakKinds = []string{soakClean, soakSIGINT, soakSIGKILL}

// soakRun is one run of a soak and what the audit after it found.
type soakRun struct {
	N        int    `json:"n"`
	Kind     string `json:"kind"`
	Scenario string `json:"scenario"`
	Seed     int64  `json:"seed"`
	// Changefeed is the run's own changefeed and topic on a shared
	// external Kafka; empty when the run had a Kafka of its own.
	Changefeed string   `json:"changefeed,omitempty"`
	Dir        string   `json:"dir"`
	SignalAt   string   `json:"signal_at,omitempty"`
	Exit       int      `json:"exit"`
	Verdict    string   `json:"verdict,omitempty"`
	Lost       int64    `json:"lost"`
	Dups       int64    `json:"duplicates"`
	Leftovers  []string `json:"leftovers"`
	Foreign    []string `json:"foreign_changed"`
}

type soakOptions struct {
	runs           int
	duration       time.Duration
	seed           int64
	backend, out   string
	kafka, brokers string
	id             string // names the runs' changefeeds on a shared Kafka
	minSig, maxSig time.Duration
	kinds          []string
	noClean        bool
}

func newSoakCmd() *cobra.Command {
	var o soakOptions
	cmd := &cobra.Command{
		Use:   "soak [scenario...]",
		Short: "Repeat runs with Ctrl-C and SIGKILL mixed in, and audit the host after each for anything left behind",
		Long: `soak runs the scenarios named (default owner-isolation) again and again, each run a
child "chaosrun run" process, cycling through three kinds:

  clean    the run goes to its verdict; its result's lost and duplicate counts are kept
  sigint   SIGINT at a random moment (--signal-between), as Ctrl-C would; the run must
           tear everything down itself
  sigkill  SIGKILL of the harness at a random moment, then "chaosrun clean <run-dir>"

Before the first run it seeds the host with things no run created — a network
namespace with an iptables rule in it and a host iptables chain with a rule — and
takes a snapshot of the host: network namespaces, links, the iptables rules of every
table on the host and in every namespace, TCP listeners, processes whose command
line names the soak directory, the temp directory, and Docker's containers and
networks when an engine answers. After each run it takes the
snapshot again and reports every difference as a leftover of that run (and the run's
member certificates and keys, if its directory still holds them), and checks
the foreign namespace's and chain's rules are byte-identical. It removes what it
seeded at the end. Exit status: 0 when no run left anything, nothing foreign was
touched and no completed run lost a write; 1 otherwise; 2 on bad input.`,
		Example: `  chaosrun soak --runs 30 --backend netns --out runs/soak
  chaosrun soak owner-isolation owner-pause --duration 30m`,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args) },
	}
	f := cmd.Flags()
	f.IntVar(&o.runs, "runs", 0, "number of runs (default 9, or as many as --duration allows)")
	f.DurationVar(&o.duration, "duration", 0, "keep starting runs until this much time has passed")
	f.Int64Var(&o.seed, "seed", 1, "seed of the first run (each run takes the next) and of the signal times")
	f.StringVar(&o.backend, "backend", "", "network fault backend of every run (default: netns as root)")
	f.StringVar(&o.kafka, "kafka", "", "Kafka provider of every run (default: run's); with external, every run gets a changefeed and topic of its own, kept after the soak for a second reader")
	f.StringVar(&o.brokers, "bootstrap", "", "bootstrap brokers for --kafka external, comma separated")
	f.StringVar(&o.out, "out", "", "soak directory (default runs/<timestamp>-soak)")
	f.DurationVar(&o.minSig, "signal-min", 5*time.Second, "earliest signal, after the run's start")
	f.DurationVar(&o.maxSig, "signal-max", 45*time.Second, "latest signal, after the run's start")
	f.StringSliceVar(&o.kinds, "kinds", soakKinds, "kinds of run to cycle through: clean, sigint, sigkill")
	f.BoolVar(&o.noClean, "no-clean", false, "after a SIGKILL do not run chaosrun clean: shows what a crashed run leaves (the audit must flag it)")
	return cmd
}

func (o *soakOptions) run(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		args = []string{"owner-isolation"}
	}
	if err := o.validate(); err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	self, err := os.Executable()
	if err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	dir, err := makeDir(o.out, "soak")
	if err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	foreign, err := seedForeign(ctx)
	if err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	defer foreign.remove()
	audit := hostaudit.Options{ProcessMarker: dir, TempIgnore: regexp.MustCompile(`^go-build|^go\.`)}
	base, err := hostaudit.Take(ctx, audit)
	if err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	r := rand.New(rand.NewPCG(uint64(o.seed), 0x50a4))
	start := time.Now()
	var runs []soakRun
	reported := map[string]bool{}
	for i := 0; ctx.Err() == nil && (i < o.runs || (o.runs == 0 && time.Since(start) < o.duration)); i++ {
		run := soakRun{N: i + 1, Kind: o.kinds[i%len(o.kinds)], Scenario: args[i%len(args)], Seed: o.seed + int64(i)}
		run.Dir = filepath.Join(dir, fmt.Sprintf("run-%03d-%s", run.N, run.Kind))
		o.one(ctx, self, r, &run)
		if _, err := os.Stat(cluster.CertDir(run.Dir)); err == nil {
			run.Leftovers = append(run.Leftovers, "+ certificates "+cluster.CertDir(run.Dir))
		}
		after, err := hostaudit.Take(context.WithoutCancel(ctx), audit)
		if err != nil {
			return &exitError{code: exitHarnessError, err: err}
		}
		// Against the snapshot from before the first run: "+" is left
		// behind, "-" is something that was there before and went away.
		// Each is reported once, with the first run after which it showed.
		for _, l := range hostaudit.Diff(base, after) {
			if !reported[l] {
				reported[l] = true
				run.Leftovers = append(run.Leftovers, l)
			}
		}
		run.Foreign = foreign.changed(context.WithoutCancel(ctx))
		runs = append(runs, run)
		fmt.Fprintf(out, "[%d] %s %s seed %d: exit %d%s, %d leftovers, foreign %s\n", run.N, run.Kind, run.Scenario, run.Seed, run.Exit,
			orEmpty(", verdict ", run.Verdict), len(run.Leftovers), untouched(run.Foreign))
		for _, l := range run.Leftovers {
			fmt.Fprintln(out, "    leftover:", l)
		}
	}
	ok, err := writeSoak(dir, runs, out)
	if err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	if ctx.Err() != nil {
		return &exitError{code: exitInconclusive, err: errors.New("soak interrupted")}
	}
	if !ok {
		return &exitError{code: exitFail, err: errors.New("soak: the host was not left as found, a run lost writes or a clean run reached no verdict (see soak.md)")}
	}
	return nil
}

// validate checks the flags and the user, and fills in the default run
// count.
func (o *soakOptions) validate() error {
	switch {
	case o.runs < 0 || o.duration < 0:
		return errors.New("soak: --runs and --duration must not be negative")
	case o.minSig <= 0 || o.maxSig < o.minSig:
		return errors.New("soak: want 0 < --signal-min <= --signal-max")
	case !validKinds(o.kinds):
		return fmt.Errorf("soak: --kinds wants some of %s", strings.Join(soakKinds, ", "))
	case (o.kafka == "external") != (o.brokers != ""):
		return errors.New("soak: --kafka external and --bootstrap go together")
	case os.Geteuid() != 0:
		return errors.New("soak: needs root (it audits iptables and namespaces, and seeds foreign ones)")
	}
	if o.runs == 0 && o.duration == 0 {
		o.runs = 9
	}
	o.id = time.Now().UTC().Format("20060102150405")
	return nil
}

// one runs the child harness of run, signals it as its kind says, cleans
// after a SIGKILL and reads the result of a completed run.
func (o *soakOptions) one(ctx context.Context, self string, r *rand.Rand, run *soakRun) {
	args := []string{"run", run.Scenario, "--seed", fmt.Sprint(run.Seed), "--out", run.Dir}
	if o.backend != "" {
		args = append(args, "--backend", o.backend)
	}
	if o.kafka != "" {
		args = append(args, "--kafka", o.kafka)
	}
	if o.brokers != "" {
		args = append(args, "--bootstrap", o.brokers)
	}
	if o.kafka == "external" {
		run.Changefeed = fmt.Sprintf("soak-%s-%03d", o.id, run.N)
		args = append(args, "--changefeed", run.Changefeed)
	}
	logf, err := os.Create(run.Dir + ".log")
	if err != nil {
		run.Exit = -1
		return
	}
	defer logf.Close()
	child := exec.Command(self, args...)
	child.Stdout, child.Stderr = logf, logf
	if err := child.Start(); err != nil {
		fmt.Fprintln(logf, "soak: start:", err)
		run.Exit = -1
		return
	}
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	at := o.minSig + time.Duration(r.Int64N(int64(o.maxSig-o.minSig)+1))
	var sig <-chan time.Time
	switch run.Kind {
	case soakSIGINT, soakSIGKILL:
		sig = time.After(at)
	}
	var werr error
wait:
	for {
		select {
		case werr = <-done:
			break wait
		case <-sig:
			sig = nil
			run.SignalAt = at.String()
			s := syscall.SIGINT
			if run.Kind == soakSIGKILL {
				s = syscall.SIGKILL
			}
			_ = child.Process.Signal(s)
		case <-ctx.Done():
			_ = child.Process.Signal(syscall.SIGINT)
			werr = <-done
			break wait
		}
	}
	run.Exit = exitOf(werr)
	if run.Kind == soakSIGKILL && run.SignalAt != "" && !o.noClean {
		c := exec.Command(self, "clean", run.Dir)
		c.Stdout, c.Stderr = logf, logf
		_ = c.Run()
	}
	if res, err := result.ReadDir(run.Dir); err == nil {
		run.Verdict = string(res.Verdict.Outcome)
		run.Lost, run.Dups = res.Counters.Missing, res.Counters.Duplicates
	}
}

func validKinds(kinds []string) bool {
	for _, k := range kinds {
		if !slices.Contains(soakKinds, k) {
			return false
		}
	}
	return len(kinds) > 0
}

func exitOf(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			return 128 + int(st.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

// writeSoak writes soak.json and soak.md into dir and prints the table;
// ok is true when nothing was left, nothing foreign changed, no run lost a
// write and every clean run reached a verdict (one that could not start
// proves nothing).
func writeSoak(dir string, runs []soakRun, out io.Writer) (ok bool, err error) {
	type row struct{ runs, completed, leftovers, foreign, lost, dups int64 }
	by := map[string]*row{}
	total := &row{}
	ok = true
	for _, r := range runs {
		k := by[r.Kind]
		if k == nil {
			k = &row{}
			by[r.Kind] = k
		}
		for _, x := range []*row{k, total} {
			x.runs++
			if r.Verdict != "" {
				x.completed++
			}
			x.leftovers += int64(len(r.Leftovers))
			x.foreign += int64(len(r.Foreign))
			x.lost += r.Lost
			x.dups += r.Dups
		}
		ok = ok && len(r.Leftovers) == 0 && len(r.Foreign) == 0 && r.Lost == 0 && (r.Kind != soakClean || r.Verdict != "")
	}
	var md strings.Builder
	md.WriteString("# chaosrun soak\n\n| Kind | Runs | Completed (verdict) | Leftovers | Foreign changed | Lost | Duplicates |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, k := range append(soakKinds, "total") {
		x := by[k]
		if k == "total" {
			x = total
		}
		if x == nil {
			continue
		}
		fmt.Fprintf(&md, "| %s | %d | %d | %d | %d | %d | %d |\n", k, x.runs, x.completed, x.leftovers, x.foreign, x.lost, x.dups)
	}
	md.WriteString("\n| Run | Kind | Scenario | Seed | Signal at | Exit | Verdict | Lost | Duplicates | Leftovers |\n| ---: | --- | --- | ---: | --- | ---: | --- | ---: | ---: | --- |\n")
	for _, r := range runs {
		fmt.Fprintf(&md, "| %d | %s | %s | %d | %s | %d | %s | %d | %d | %s |\n", r.N, r.Kind, r.Scenario, r.Seed, orDash(r.SignalAt), r.Exit,
			orDash(r.Verdict), r.Lost, r.Dups, orDash(strings.Join(append(r.Leftovers, r.Foreign...), "; ")))
	}
	fmt.Fprint(out, "\n"+md.String())
	if err := os.WriteFile(filepath.Join(dir, "soak.md"), []byte(md.String()), 0o644); err != nil {
		return ok, err
	}
	b, err := json.MarshalIndent(runs, "", "  ")
	if err != nil {
		return ok, err
	}
	return ok, os.WriteFile(filepath.Join(dir, "soak.json"), append(b, '\n'), 0o644)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func orEmpty(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func untouched(changed []string) string {
	if len(changed) == 0 {
		return "untouched"
	}
	return fmt.Sprintf("CHANGED (%d)", len(changed))
}

// foreignState is what the soak seeded on the host before its first run
// and the rules it holds, to check no run touched them.
type foreignState struct {
	ns, chain       string
	nsRules, hostFl []string
}

// seedForeign creates a namespace with an INPUT rule and a host filter
// chain with a rule, neither named like anything chaosrun creates.
func seedForeign(ctx context.Context) (*foreignState, error) {
	f := &foreignState{ns: fmt.Sprintf("soak-foreign-%d", os.Getpid()), chain: fmt.Sprintf("SOAK-FOREIGN-%d", os.Getpid())}
	for _, c := range [][]string{
		{"ip", "netns", "add", f.ns},
		{"ip", "netns", "exec", f.ns, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "9", "-m", "comment", "--comment", "soak foreign", "-j", "DROP"},
		{"iptables", "-N", f.chain},
		{"iptables", "-A", f.chain, "-s", "192.0.2.1/32", "-m", "comment", "--comment", "soak foreign", "-j", "RETURN"},
	} {
		if out, err := exec.CommandContext(ctx, c[0], c[1:]...).CombinedOutput(); err != nil {
			f.remove()
			return nil, fmt.Errorf("soak: seed foreign state: %s: %w: %s", strings.Join(c, " "), err, out)
		}
	}
	var err error
	f.nsRules, f.hostFl, err = f.rules(ctx)
	if err != nil {
		f.remove()
		return nil, err
	}
	return f, nil
}

func (f *foreignState) rules(ctx context.Context) (ns, host []string, err error) {
	if ns, err = hostaudit.Rules(ctx, f.ns, "filter"); err != nil {
		return nil, nil, err
	}
	all, err := hostaudit.Rules(ctx, "", "filter")
	for _, l := range all {
		if strings.Contains(l, f.chain) {
			host = append(host, l)
		}
	}
	return ns, host, err
}

// changed lists how the foreign state differs from when it was seeded.
func (f *foreignState) changed(ctx context.Context) []string {
	ns, host, err := f.rules(ctx)
	if err != nil {
		return []string{"foreign state unreadable: " + err.Error()}
	}
	var out []string
	if strings.Join(ns, "\n") != strings.Join(f.nsRules, "\n") {
		out = append(out, "rules of namespace "+f.ns+" changed")
	}
	if strings.Join(host, "\n") != strings.Join(f.hostFl, "\n") {
		out = append(out, "host chain "+f.chain+" changed")
	}
	return out
}

// remove deletes what seedForeign created.
func (f *foreignState) remove() {
	_ = exec.Command("iptables", "-F", f.chain).Run()
	_ = exec.Command("iptables", "-X", f.chain).Run()
	_ = exec.Command("ip", "netns", "del", f.ns).Run()
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosrun/chaosrun/chaos"
	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/reports/result"
	"github.com/chaosrun/chaosrun/scenario"
)

// sweepArm is one fencing configuration a sweep can run.
type sweepArm struct {
	name      string
	policy    fencing.Policy
	selfFence bool
}

// sweepArms are the arms a sweep knows, named as compare names them.
var sweepArms = []sweepArm{
	{"epoch", fencing.Epoch, false},
	{"off", fencing.Off, false},
	{"epoch+self-fence", fencing.Epoch, true /* selfFence */},
}

// sweepBackends are the network backends a sweep can run on.
var sweepBackends = []string{chaos.BackendNetns, chaos.BackendToxiproxy}

// runScenario runs one scenario end to end. NB: tests replace it with a
// fake so that the sweep loop runs without Kafka.
var runScenario = scenario.Run

// sweepJob is one run of a sweep.
type sweepJob struct {
	sc      scenario.Scenario
	plan    scenario.Plan
	backend string
	seed    int64
	arm     sweepArm
	dir     string // relative to the sweep directory, slash separated
}

// expect is the scenario's declaration on the job's backend.
func (j sweepJob) expect() scenario.Expect { return j.sc.Expect.ForBackend(j.backend) }

func (j sweepJob) key() sweepKey { return sweepKey{j.sc.Name, j.backend, j.seed, j.arm.name} }

// sweepKey identifies a run of a sweep, and its record in sweep.json.
type sweepKey struct {
	scenario, backend string
	seed              int64
	arm               string
}

func keyOf(r scenario.SweepRun) sweepKey { return sweepKey{r.Scenario, r.Backend, r.Seed, r.Arm} }

func newSweepCmd() *cobra.Command {
	var (
		f         runFlags
		seeds     int
		seedStart int64
		backendFl []string
		armFl     []string
	)
	cmd := &cobra.Command{
		Use:   "sweep <scenario|file.yaml>...",
		Short: "Run scenarios over many seeds, fencing arms and backends and report how well the harness tells fixed from broken",
		Long: `Run every scenario named, on every backend, with seeds S, S+1, ... S+N-1 and
every fencing arm, one run after the other, and report a confusion matrix per
scenario and backend: does the harness flag the known-bad control plane, and
does it leave the fixed one alone?

Arms: epoch (fencing on, the fix), off (fencing off, the behaviour before it)
and epoch+self-fence (fencing on plus self-fence). Default: epoch,off.

  sensitivity  for the off arm: flagged runs (verdict fail) / judged off runs.
               1.0 means every seed caught the bug; the invariants that caught
               each flagged run are listed.
  specificity  for each on arm, counted separately: passed runs / judged runs.
               1.0 means no false alarm.

A judged run is one with a pass or fail verdict; inconclusive runs and runs
that ended in a harness error are counted apart, stay out of both ratios and
always miss the bar. A scenario meets its bar on a backend when every judged
on run passed, every judged off run got the verdict the scenario declares for
fencing off on that backend (expect: off fail unless it gives a reason, so
sensitivity 1.0; off pass; or off either, for a bug that shows only in a race
the plan does not decide: any verdict, the sensitivity is still reported), and
no run was inconclusive or an error.

A backend that cannot run a scenario (netns without root; toxiproxy for a
fault on Kafka links) refuses it at once, and each such run is recorded as a
harness error. Progress lines give each run's verdict, its duration and an ETA
(the mean duration of the runs finished so far times the runs left).

Layout of the sweep directory (--out, default runs/<timestamp>-sweep):

  <out>/<scenario>/<backend>/seed-<n>/<arm>/   one run directory each
  <out>/sweep.json                             every run's record and the matrix
  <out>/sweep.html                             the matrix, flagged runs, links

Resuming: sweep.json is rewritten (atomically) after every run. Run the same
command again with the same --out and runs already recorded there are skipped;
runs that ended in a harness error, or whose scenario declaration changed since,
are run again. Ctrl-C tears the current run down, records nothing for it,
writes sweep.json and sweep.html for what finished and exits 3. The matrix
covers every run recorded in the directory.

Exit status: 0 every scenario met its bar on every backend, 1 one missed it,
3 interrupted, 2 bad input (unknown scenario, arm or backend, --seeds < 1) or a
harness error writing the sweep files.`,
		Example: `  chaosrun sweep owner-isolation owner-meta-cut --seeds 5 --backend netns
  chaosrun sweep owner-isolation --seeds 20 --arms epoch,off,epoch+self-fence --backend netns,toxiproxy --out runs/sweep-1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			arms, err := parseArms(armFl)
			if err != nil {
				return &exitError{code: exitHarnessError, err: err}
			}
			if len(backendFl) == 0 {
				backendFl = []string{scenario.DefaultBackend()}
			}
			backends, err := parseBackends(backendFl)
			if err != nil {
				return &exitError{code: exitHarnessError, err: err}
			}
			if seeds < 1 {
				return &exitError{code: exitHarnessError, err: fmt.Errorf("sweep: --seeds must be at least 1, got %d", seeds)}
			}
			jobs, err := sweepJobs(args, f.nodes, seedStart, seeds, backends, arms)
			if err != nil {
				return &exitError{code: exitHarnessError, err: err}
			}
			out := f.out
			if out == "" {
				out = defaultRunDir("sweep")
			}
			return sweep(cmd, &f, out, jobs, fmt.Sprintf("%d scenario(s) × %d backend(s) × %d seed(s) × %d arm(s)",
				len(args), len(backends), seeds, len(arms)))
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&seeds, "seeds", 5, "number of seeds per scenario, arm and backend (at least 1)")
	fl.Int64Var(&seedStart, "seed-start", 1, "first seed; the sweep uses seed-start .. seed-start+seeds-1")
	fl.StringSliceVar(&backendFl, "backend", nil, "network fault backends, comma separated: netns, toxiproxy (default: netns as root, else toxiproxy)")
	fl.StringSliceVar(&armFl, "arms", []string{"epoch", "off"}, "fencing arms, comma separated: epoch, off, epoch+self-fence")
	fl.StringVar(&f.out, "out", "", "sweep directory (default runs/<timestamp>-sweep); an existing one is resumed")
	// The cluster flags are run's own (same names, defaults and help),
	// borrowed from its flag set and bound to f.
	var donor cobra.Command
	f.register(&donor, false /* withFencing */)
	for _, name := range []string{"kafka", "bootstrap", "nodes", "verbose"} {
		fl.AddFlag(donor.Flags().Lookup(name))
	}
	return cmd
}

// parseArms resolves arm names, in the order given, without repeats.
func parseArms(names []string) ([]sweepArm, error) {
	var arms []sweepArm
	for _, n := range names {
		i := slices.IndexFunc(sweepArms, func(a sweepArm) bool { return a.name == n })
		if i < 0 {
			valid := make([]string, len(sweepArms))
			for j, a := range sweepArms {
				valid[j] = a.name
			}
			return nil, fmt.Errorf("sweep: unknown arm %q (want %s)", n, strings.Join(valid, ", "))
		}
		if !slices.Contains(arms, sweepArms[i]) {
			arms = append(arms, sweepArms[i])
		}
	}
	if len(arms) == 0 {
		return nil, errors.New("sweep: --arms names no arm")
	}
	return arms, nil
}

// parseBackends checks backend names, keeping their order, without repeats.
func parseBackends(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		if !slices.Contains(sweepBackends, n) {
			return nil, fmt.Errorf("sweep: unknown backend %q (want %s)", n, strings.Join(sweepBackends, ", "))
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// sweepJobs loads and validates every scenario, expands its plan for every
// seed and lists the runs in the order they go: scenario, backend, seed,
// then arm, so the arms of one seed run back to back.
func sweepJobs(args []string, nodes int, seedStart int64, seeds int, backends []string, arms []sweepArm) ([]sweepJob, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("sweep: name at least one scenario: a built-in (%s) or a YAML file", strings.Join(scenario.Names(), ", "))
	}
	var (
		jobs []sweepJob
		seen = map[string]string{}
	)
	for _, arg := range args {
		sc, err := scenario.Load(arg)
		if err != nil {
			return nil, err
		}
		if nodes > 0 {
			sc.Topology.Nodes = nodes
		}
		sc = sc.WithDefaults()
		if err := sc.Validate(); err != nil {
			return nil, err
		}
		if prev, ok := seen[sc.Name]; ok {
			return nil, fmt.Errorf("sweep: %s and %s are both scenario %s; each scenario needs its own directory", prev, arg, sc.Name)
		}
		seen[sc.Name] = arg
		plans := make([]scenario.Plan, seeds)
		for i := range plans {
			if plans[i], err = sc.Plan(seedStart + int64(i)); err != nil {
				return nil, fmt.Errorf("sweep: %s seed %d: %w", sc.Name, seedStart+int64(i), err)
			}
		}
		for _, b := range backends {
			for _, p := range plans {
				for _, a := range arms {
					jobs = append(jobs, sweepJob{sc: sc, plan: p, backend: b, seed: p.Seed, arm: a,
						dir: path.Join(sc.Name, b, fmt.Sprintf("seed-%d", p.Seed), a.name)})
				}
			}
		}
	}
	return jobs, nil
}

// sweep runs the jobs not yet recorded in out/sweep.json one after the
// other, recording each as it finishes, and maps the matrix to the exit
// status.
func sweep(cmd *cobra.Command, f *runFlags, out string, jobs []sweepJob, shape string) error {
	ctx := cmd.Context()
	w := cmd.OutOrStdout()
	logOut := io.Discard
	if f.verbose {
		logOut = cmd.ErrOrStderr()
	}
	log := slog.New(slog.NewTextHandler(logOut, nil))

	if err := os.MkdirAll(out, 0o755); err != nil {
		return &exitError{code: exitHarnessError, err: fmt.Errorf("sweep: %w", err)}
	}
	runs, err := readSweep(out)
	if err != nil {
		return &exitError{code: exitHarnessError, err: fmt.Errorf("sweep: cannot resume: %w", err)}
	}
	recorded := make(map[sweepKey]int, len(runs))
	for i, r := range runs {
		recorded[keyOf(r)] = i
	}
	skip := make([]bool, len(jobs))
	todo, retry := 0, 0
	for i, j := range jobs {
		if k, ok := recorded[j.key()]; ok && runs[k].Outcome != scenario.OutcomeError && runs[k].Expect.Same(j.expect()) {
			skip[i] = true
			continue
		}
		if _, ok := recorded[j.key()]; ok {
			retry++
		}
		todo++
	}
	fmt.Fprintf(w, "sweep: %s = %d runs in %s\n", shape, len(jobs), out)
	if len(runs) > 0 {
		again := ""
		if retry > 0 {
			again = fmt.Sprintf(" (%d again, after a harness error or a changed declaration)", retry)
		}
		fmt.Fprintf(w, "resuming from %s: %d of %d runs already recorded, skipped; %d to run%s\n",
			filepath.Join(out, sweepJSON), len(jobs)-todo, len(jobs), todo, again)
	}

	var (
		spent       time.Duration
		finished    int
		interrupted bool
	)
	for i, j := range jobs {
		prefix := fmt.Sprintf("[%d/%d] %s %s seed %d %s", i+1, len(jobs), j.sc.Name, j.backend, j.seed, j.arm.name)
		if skip[i] {
			fmt.Fprintf(w, "%s: %s (recorded earlier, skipped)\n", prefix, describeRun(runs[recorded[j.key()]]))
			continue
		}
		if ctx.Err() != nil {
			interrupted = true
			break
		}
		dir := filepath.Join(out, filepath.FromSlash(j.dir))
		// NB: a run interrupted earlier, or one that ended in a harness
		// error, may have left files here; they must not mix with this run's.
		if err := os.RemoveAll(dir); err != nil {
			return &exitError{code: exitHarnessError, err: fmt.Errorf("sweep: clear %s: %w", dir, err)}
		}
		opt := f.options(cmd, j.plan, dir, j.arm.policy, j.arm.selfFence)
		opt.Backend = j.backend
		if !opt.TTY {
			// Timestamped phase lines of every run would drown the sweep's
			// own progress; on a terminal the live line rewrites itself.
			opt.Progress = nil
		}
		log.Info("sweep run", "scenario", j.sc.Name, "backend", j.backend, "seed", j.seed, "arm", j.arm.name, "dir", dir)
		start := time.Now()
		o, err := runScenario(ctx, opt)
		took := time.Since(start)
		if ctx.Err() != nil {
			// scenario.Run tore the run down; an interrupted run is not a
			// verdict, so it leaves no record and runs again on resume.
			fmt.Fprintf(w, "%s: interrupted after %s, not recorded\n", prefix, took.Round(time.Second))
			interrupted = true
			break
		}
		rec := scenario.SweepRun{Scenario: j.sc.Name, Backend: j.backend, Seed: j.seed, Arm: j.arm.name, Dir: j.dir,
			Expect: j.expect(), Expected: j.expect().For(j.arm.name), DurationMs: took.Milliseconds()}
		if err != nil {
			rec.Outcome, rec.Error = scenario.OutcomeError, err.Error()
			log.Warn("sweep run ended in a harness error", "scenario", j.sc.Name, "backend", j.backend, "seed", j.seed, "arm", j.arm.name, "err", err)
		} else {
			rec.Outcome, rec.Violated = o.Verdict.Outcome, o.Verdict.Violated
			rec.Met = scenario.Met(j.expect(), scenario.Arm{Name: j.arm.name, Dir: j.dir, Outcome: o})
		}
		if k, ok := recorded[j.key()]; ok {
			runs[k] = rec
		} else {
			recorded[j.key()] = len(runs)
			runs = append(runs, rec)
		}
		if err := writeSweep(out, runs); err != nil {
			return &exitError{code: exitHarnessError, err: err}
		}
		spent += took
		finished++
		eta := spent / time.Duration(finished) * time.Duration(todo-finished)
		fmt.Fprintf(w, "%s: %s (%s, ETA %s)\n", prefix, describeRun(rec), took.Round(time.Second), clock(eta))
		if rec.Outcome == scenario.OutcomeError {
			fmt.Fprintf(w, "    %s\n", rec.Error)
		}
	}

	// Written even when nothing ran, so that a finished sweep directory
	// always has its report.
	if err := writeSweep(out, runs); err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	cells := scenario.Matrix(runs)
	fmt.Fprintln(w)
	if err := printMatrix(w, cells); err != nil {
		return &exitError{code: exitHarnessError, err: fmt.Errorf("sweep: %w", err)}
	}
	fmt.Fprintf(w, "sweep: %s %s\n", filepath.Join(out, sweepJSON), filepath.Join(out, sweepHTML))
	if interrupted {
		return &exitError{code: exitInconclusive, err: fmt.Errorf("sweep interrupted with %d of %d runs to go; run it again with --out %s to resume: %w",
			todo-finished, len(jobs), out, context.Cause(ctx))}
	}
	var missed []string
	for _, c := range cells {
		if !c.MeetsBar {
			missed = append(missed, c.Scenario+" on "+c.Backend)
		}
	}
	if len(missed) > 0 {
		return &exitError{code: exitFail, err: fmt.Errorf("sweep: %d of %d scenario-backend pairs missed their bar: %s",
			len(missed), len(cells), strings.Join(missed, ", "))}
	}
	fmt.Fprintln(w, "every scenario met its bar")
	return nil
}

// describeRun is a run's verdict for a progress line: the outcome, the
// invariants that flagged it, and the declaration it missed.
func describeRun(r scenario.SweepRun) string {
	s := string(r.Outcome)
	if len(r.Violated) > 0 {
		s += " [" + strings.Join(r.Violated, ", ") + "]"
	}
	if (r.Outcome == result.Pass || r.Outcome == result.Fail) && !r.Met {
		s += ", expected " + r.Expected
	}
	return s
}

// clock formats d as hh:mm:ss.
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	h := d / time.Hour
	m := (d % time.Hour) / time.Minute
	s := (d % time.Minute) / time.Second
	return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
}

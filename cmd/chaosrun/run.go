package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/scenario"
)

// runFlags are the flags shared by run and compare.
type runFlags struct {
	backend, kafkaProvider, bootstrap, out, planFile, fencingFlag string
	sink, changefeed                                              string
	nodes                                                         int
	seed                                                          int64
	seedSet, selfFence, verbose                                   bool
}

func (f *runFlags) register(cmd *cobra.Command, withFencing bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.backend, "backend", "", "network fault backend: netns (default as root; every process in its own network namespace, cuts are iptables rules) or toxiproxy (default otherwise; every link through a proxy)")
	fl.StringVar(&f.kafkaProvider, "kafka", "local", "Kafka provider: local (KRaft brokers from the Maven-resolved jars), testcontainers (a container; image from CHAOSRUN_KAFKA_IMAGE) or external")
	fl.StringVar(&f.bootstrap, "bootstrap", "", "bootstrap brokers for --kafka external, comma separated")
	fl.IntVar(&f.nodes, "nodes", 0, "number of CDC nodes (default: the scenario's)")
	fl.StringVar(&f.changefeed, "changefeed", "", "changefeed id, and so Kafka topic (default: the scenario's); gives a run its own topic on a shared --kafka external cluster")
	fl.Int64Var(&f.seed, "seed", 0, "seed that expands the scenario's random choices into a concrete plan (default: the scenario's)")
	fl.StringVar(&f.planFile, "plan", "", "replay the concrete plan saved as plan.json by an earlier run (the scenario argument is then optional)")
	fl.StringVar(&f.out, "out", "", "run directory (default runs/<timestamp>-<scenario>)")
	fl.BoolVar(&f.selfFence, "self-fence", false, "nodes stop every local writer and rejoin under a new id when their etcd session is lost")
	fl.StringVar(&f.sink, "sink", "", "sink mode of the CDC nodes: idempotent or txn (a transactional producer per table span and one for watermarks; the tailer reads read_committed); default: the scenario's sink, else idempotent")
	fl.BoolVar(&f.verbose, "verbose", false, "log the harness's steps to stderr")
	if withFencing {
		fl.StringVar(&f.fencingFlag, "fencing", "epoch", "fencing policy of the nodes: epoch (the fix) or off (the behaviour before it)")
	}
}

// plan loads the scenario (built-in name or YAML file) or the saved plan,
// and checks --sink against it.
func (f *runFlags) plan(cmd *cobra.Command, args []string) (scenario.Plan, error) {
	p, err := f.loadPlan(cmd, args)
	if err != nil {
		return p, err
	}
	switch sink := scenario.SinkOf(p.Scenario, f.sink); {
	case sink != scenario.SinkIdempotent && sink != scenario.SinkTxn:
		return p, &exitError{code: exitHarnessError, err: fmt.Errorf("--sink must be %s or %s, got %q", scenario.SinkIdempotent, scenario.SinkTxn, f.sink)}
	case sink == scenario.SinkTxn && p.Scenario.Target == scenario.TargetDebezium:
		return p, &exitError{code: exitHarnessError, err: fmt.Errorf("--sink %s is a sink mode of the cdc target; %s is a %s scenario (its transactional arm is exactly-once, --fencing)", scenario.SinkTxn, p.Scenario.Name, scenario.TargetDebezium)}
	}
	return p, nil
}

func (f *runFlags) loadPlan(cmd *cobra.Command, args []string) (scenario.Plan, error) {
	if f.planFile != "" {
		if f.changefeed != "" {
			return scenario.Plan{}, &exitError{code: exitHarnessError, err: errors.New("--changefeed renames a scenario's changefeed; a saved --plan keeps its own")}
		}
		p, err := scenario.LoadPlan(f.planFile)
		if err != nil {
			return p, &exitError{code: exitHarnessError, err: err}
		}
		if f.nodes > 0 {
			p.Scenario.Topology.Nodes = f.nodes
		}
		return p, nil
	}
	if len(args) != 1 {
		return scenario.Plan{}, &exitError{code: exitHarnessError, err: errors.New("name a scenario (see `chaosrun list`) or a YAML file, or pass --plan")}
	}
	sc, err := scenario.Load(args[0])
	if err != nil {
		return scenario.Plan{}, &exitError{code: exitHarnessError, err: err}
	}
	if f.nodes > 0 {
		sc.Topology.Nodes = f.nodes
	}
	if f.changefeed != "" {
		sc = sc.WithChangefeed(f.changefeed)
	}
	if err := sc.WithDefaults().Validate(); err != nil {
		return scenario.Plan{}, &exitError{code: exitHarnessError, err: err}
	}
	seed := sc.Seed
	if f.seedSet {
		seed = f.seed
	}
	p, err := sc.Plan(seed)
	if err != nil {
		return p, &exitError{code: exitHarnessError, err: err}
	}
	return p, nil
}

// options are the run options of plan p in dir under a policy, self-fence
// and sink mode (sink "" leaves the scenario's).
func (f *runFlags) options(cmd *cobra.Command, p scenario.Plan, dir string, policy fencing.Policy, selfFence bool, sink string) scenario.RunOptions {
	out := cmd.OutOrStdout()
	tty := false
	if fo, ok := out.(*os.File); ok {
		tty = term.IsTerminal(int(fo.Fd()))
	}
	opt := scenario.RunOptions{Plan: p, Dir: dir, Backend: f.backend, Policy: policy, SelfFence: selfFence, Sink: sink,
		Progress: out, TTY: tty, Logger: f.logger(cmd)}
	opt.Kafka.Provider = f.kafkaProvider
	if f.bootstrap != "" {
		opt.Kafka.Bootstrap = splitList(f.bootstrap)
	}
	return opt
}

// logger logs the harness's steps to stderr with --verbose, and nowhere
// without it.
func (f *runFlags) logger(cmd *cobra.Command) *slog.Logger {
	w := io.Discard
	if f.verbose {
		w = cmd.ErrOrStderr()
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

func defaultRunDir(name string) string {
	return filepath.Join("runs", time.Now().Format("20060102-150405")+"-"+name)
}

// makeDir creates dir (defaultRunDir(name) when "") and returns its
// absolute path.
func makeDir(dir, name string) (string, error) {
	if dir == "" {
		dir = defaultRunDir(name)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return dir, os.MkdirAll(dir, 0o755)
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run <scenario|file.yaml>",
		Short: "Run a chaos scenario against a real CDC cluster and Kafka, then check and report",
		Long: `Run a scenario end to end: provision Kafka, the meta store, the upstream and the
CDC nodes as separate processes; wait for a steady state; inject the fault plan
(resolving role targets such as "owner" when each fault fires, and proving each
fault took effect); keep the workload running through the recovery window; drain;
check the Kafka records; write result.json, report.md, report.html and junit.xml
into the run directory; and tear everything down, also on failure and Ctrl-C.

The seed fixes the fault plan (saved as plan.json, replayable with --plan); the
run itself is not deterministic.

Exit status: 0 pass, 1 fail (an invariant or SLO was violated), 3 inconclusive
(a fault never took effect, the steady state never came, or the run was
interrupted), 2 harness or input error.`,
		Example: `  chaosrun run owner-isolation
  chaosrun run owner-isolation --fencing off --backend toxiproxy
  chaosrun run owner-isolation --sink txn
  chaosrun run my-scenario.yaml --out runs/mine
  chaosrun run --plan runs/20261127-101500-owner-isolation/plan.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.seedSet = cmd.Flags().Changed("seed")
			policy, err := fencing.ParsePolicy(f.fencingFlag)
			if err != nil {
				return &exitError{code: exitHarnessError, err: err}
			}
			p, err := f.plan(cmd, args)
			if err != nil {
				return err
			}
			dir := f.out
			if dir == "" {
				dir = defaultRunDir(p.Scenario.Name)
			}
			return runOne(cmd, f.options(cmd, p, dir, policy, f.selfFence, f.sink))
		},
	}
	f.register(cmd, true)
	return cmd
}

// runOne runs one scenario and maps its verdict to the exit code.
func runOne(cmd *cobra.Command, opt scenario.RunOptions) error {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "running %s (seed %d, %s) in %s\n", opt.Plan.Scenario.Name, opt.Plan.Seed, scenario.ArmName(opt.Plan.Scenario, opt.Policy), opt.Dir)
	res, err := scenario.Run(cmd.Context(), opt)
	if err != nil {
		if cmd.Context().Err() != nil {
			return &exitError{code: exitHarnessError, err: fmt.Errorf("interrupted: %w", err)}
		}
		return &exitError{code: exitHarnessError, err: err}
	}
	v := res.Verdict
	fmt.Fprintf(out, "verdict: %s\n", v.Outcome)
	if len(v.Violated) > 0 {
		fmt.Fprintf(out, "violated: %s\n", strings.Join(v.Violated, ", "))
	}
	if len(v.Reasons) > 0 {
		fmt.Fprintf(out, "reasons: %s\n", strings.Join(v.Reasons, "; "))
	}
	fmt.Fprintf(out, "report: %s\n", filepath.Join(res.Dir, "report.html"))
	return verdictExit(res.Result)
}

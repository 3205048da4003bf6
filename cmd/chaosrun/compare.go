package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chaosrun/chaosrun/reports/result"
	"github.com/chaosrun/chaosrun/scenario"
	"github.com/chaosrun/chaosrun/sink/kafka"
)

// compareOptions are the flags of chaosrun compare.
type compareOptions struct {
	cluster runFlags
	matrix  bool
	perRun  bool // --kafka-per-run
}

func newCompareCmd() *cobra.Command {
	var o compareOptions
	cmd := &cobra.Command{
		Use:   "compare <scenario|file.yaml>",
		Short: "Run the same concrete plan with fencing on and off and compare them side by side",
		Long: `Run one concrete fault plan twice — nodes with --fencing=epoch (the fix) and
with --fencing=off (the behaviour before it). With --matrix (cdc scenarios) it
runs the layered-defence matrix instead: control-plane fencing {epoch, off} ×
sink {idempotent, txn}, plus fencing on with self-fence — the arms epoch, off,
epoch+txn, off+txn and epoch+self-fence, five runs of the same plan. Each run
gets its own directory (named for its arm) under the output directory;
compare.md and compare.html put recovery times, zombie windows, stale accepts,
stale rows visible downstream, aborted records, writers fenced by the broker,
lost and duplicate rows and the lag charts side by side.

Every scenario declares what each arm must show (expect: on pass, off fail by
default; off pass only with a reason). The verdict says whether the runs met that
declaration: the known-bad control plane (fencing off) flagged, the fixed one
passing. If fencing off is not flagged, the comparison says so; it never forces
a failure.

--sink txn runs both arms with transactional dispatchers (see chaosrun run);
they are then named epoch+txn and off+txn. --matrix runs both sinks and so
refuses --sink. An arm's verdict is judged by its fencing part: off+txn, like
off, must be flagged unless the scenario declares otherwise.

The arms share one local Kafka, as a sweep's runs do: each arm gets a
changefeed and topic of its own (<changefeed>-<scenario>-s<seed>-<arm>) and
everything else of its own. A scenario with a fault on Kafka itself, a
debezium scenario, --kafka other than local, or --kafka-per-run starts a
Kafka for every arm instead.

Exit status: 0 declaration met, 1 not met, 3 a run was inconclusive,
2 harness or input error.`,
		Example: `  chaosrun compare owner-isolation
  chaosrun compare owner-isolation --matrix --backend toxiproxy
  chaosrun compare stale-bootstrap-in-flight --sink txn`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args) },
	}
	o.flags(cmd)
	return cmd
}

func (o *compareOptions) flags(cmd *cobra.Command) {
	o.cluster.register(cmd, false /* withFencing */)
	cmd.Flags().BoolVar(&o.matrix, "matrix", false, "run fencing {epoch, off} × sink {idempotent, txn} and epoch+self-fence (cdc scenarios)")
	cmd.Flags().BoolVar(&o.perRun, "kafka-per-run", false, "start a Kafka for every arm, as chaosrun run does, instead of one the arms share")
}

// run runs the plan under every arm, writes the comparison and maps the
// verdicts to the exit status.
func (o *compareOptions) run(cmd *cobra.Command, args []string) error {
	o.cluster.seedSet = cmd.Flags().Changed("seed")
	p, err := o.cluster.plan(cmd, args)
	if err != nil {
		return err
	}
	dir := o.cluster.out
	if dir == "" {
		dir = defaultRunDir("compare-" + p.Scenario.Name)
	}
	arms, err := o.arms(p)
	if err != nil {
		return err
	}
	backend := o.cluster.backend
	if backend == "" {
		backend = scenario.DefaultBackend()
	}
	k, err := o.startKafka(cmd, p, dir, backend)
	if err != nil {
		return err
	}
	done, err := o.runArms(cmd, p, dir, arms, k)
	if k != nil {
		if cerr := closeSharedKafka(cmd.Context(), k, compareKafkaDir(dir)); err == nil && cerr != nil {
			err = &exitError{code: exitHarnessError, err: fmt.Errorf("compare: %w", cerr)}
		}
	}
	if err != nil {
		return err
	}
	expect := p.Scenario.WithDefaults().Expect.ForBackend(backend)
	if err := scenario.WriteComparison(dir, p, expect, done); err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "comparison: %s\n", filepath.Join(dir, "compare.html"))
	inconclusive := slices.ContainsFunc(done, func(a scenario.Arm) bool { return a.Run.Verdict.Outcome == result.Inconclusive })
	switch {
	case inconclusive:
		return &exitError{code: exitInconclusive, err: errors.New("a run was inconclusive")}
	case scenario.Discriminated(expect, done):
		fmt.Fprintf(out, "the harness met the declaration on %s: fencing on %s, fencing off %s\n", backend, expect.On, expect.Off)
		return nil
	default:
		return &exitError{code: exitFail, err: fmt.Errorf("the verdicts did not match the scenario's declaration on %s (fencing on %s, fencing off %s)", backend, expect.On, expect.Off)}
	}
}

// arms are the arms compare runs p under: epoch and off with the run's sink
// (--sink, else the scenario's), or the matrix.
func (o *compareOptions) arms(p scenario.Plan) ([]fencingArm, error) {
	if !o.matrix {
		sink := scenario.SinkOf(p.Scenario, o.cluster.sink)
		return []fencingArm{armEpoch.withSink(sink), armOff.withSink(sink)}, nil
	}
	switch {
	case p.Scenario.Target == scenario.TargetDebezium:
		return nil, &exitError{code: exitHarnessError, err: fmt.Errorf("--matrix adds self-fence and the txn sink, arms of the cdc target; %s is a %s scenario (its arms are exactly-once on and off)", p.Scenario.Name, scenario.TargetDebezium)}
	case o.cluster.sink != "":
		return nil, &exitError{code: exitHarnessError, err: fmt.Errorf("--matrix runs both sinks (%s); drop --sink %s", strings.Join(armNames(matrixArms), ", "), o.cluster.sink)}
	}
	return matrixArms, nil
}

// startKafka starts the Kafka the arms share, in dir, and says so; nil
// (and why) when each arm needs its own.
func (o *compareOptions) startKafka(cmd *cobra.Command, p scenario.Plan, dir, backend string) (*scenario.SharedKafka, error) {
	out := cmd.OutOrStdout()
	brokers, why := shareable([]sweepJob{{scenario: p.Scenario}})
	switch {
	case o.cluster.kafkaProvider != kafka.ProviderLocal:
		return nil, nil
	case o.perRun:
		why = "--kafka-per-run"
	}
	if why != "" {
		fmt.Fprintf(out, "kafka: one per arm (%s)\n", why)
		return nil, nil
	}
	k, err := startSharedKafkaFor(cmd.Context(), out, "arm", "arm", backend, compareKafkaDir(dir), brokers, o.cluster.logger(cmd))
	if err != nil {
		return nil, &exitError{code: exitHarnessError, err: fmt.Errorf("compare: %w", err)}
	}
	return k, nil
}

// compareKafkaDir is where the Kafka a comparison's arms share keeps its
// data and ledger.
func compareKafkaDir(dir string) string { return filepath.Join(dir, "kafka") }

// runArms runs plan p under each arm, one after the other, each in its own
// directory under dir; with k, on k, each with a changefeed of its own.
func (o *compareOptions) runArms(cmd *cobra.Command, p scenario.Plan, dir string, arms []fencingArm, k *scenario.SharedKafka) ([]scenario.Arm, error) {
	out := cmd.OutOrStdout()
	var done []scenario.Arm
	for i, a := range arms {
		ap := p
		if k != nil {
			ap = p.WithChangefeed(ownChangefeed(p.Scenario, p.Seed, a.name, i+1))
		}
		opt := o.cluster.options(cmd, ap, filepath.Join(dir, a.name), a.policy, a.selfFence, a.sink)
		if k != nil {
			k.Apply(&opt)
		}
		arm := scenario.ArmName(p.Scenario, a.policy)
		if p.Scenario.Target != scenario.TargetDebezium {
			arm += ", sink " + a.sink
		}
		fmt.Fprintf(out, "== %s: running %s (seed %d, %s) in %s\n", a.name, p.Scenario.Name, p.Seed, arm, opt.Dir)
		res, err := runScenario(cmd.Context(), opt)
		if err != nil {
			return nil, &exitError{code: exitHarnessError, err: fmt.Errorf("%s run: %w", a.name, err)}
		}
		fmt.Fprintf(out, "== %s: verdict %s\n", a.name, res.Verdict.Outcome)
		done = append(done, scenario.Arm{Name: a.name, Dir: opt.Dir, Run: res})
	}
	return done, nil
}

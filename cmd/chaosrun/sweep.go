package main

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosrun/chaosrun/chaos"
	"github.com/chaosrun/chaosrun/scenario"
	"github.com/chaosrun/chaosrun/sink/kafka"
)

// sweepBackends are the network backends a sweep can run on.
var sweepBackends = []string{chaos.BackendNetns, chaos.BackendToxiproxy}

// sweepJob is one run of a sweep.
type sweepJob struct {
	scenario scenario.Scenario
	plan     scenario.Plan
	backend  string
	seed     int64
	arm      fencingArm
	dir      string // relative to the sweep directory, slash separated
}

// expect is the scenario's declaration on the job's backend.
func (j sweepJob) expect() scenario.Expect { return j.scenario.Expect.ForBackend(j.backend) }

func (j sweepJob) key() sweepKey { return sweepKey{j.scenario.Name, j.backend, j.seed, j.arm.name} }

// record is what sweep.json keeps of j's run: its verdict, or the harness
// error it ended in, and how long it took.
func (j sweepJob) record(o scenario.RunSummary, err error, took time.Duration) scenario.SweepRun {
	rec := scenario.SweepRun{Scenario: j.scenario.Name, Backend: j.backend, Seed: j.seed, Arm: j.arm.name, Dir: j.dir,
		Expect: j.expect(), Expected: j.expect().For(j.arm.name), DurationMs: took.Milliseconds()}
	if err != nil {
		rec.Outcome, rec.Error = scenario.OutcomeError, err.Error()
		return rec
	}
	rec.Outcome, rec.Violated = o.Verdict.Outcome, o.Verdict.Violated
	rec.Met = scenario.Met(j.expect(), scenario.Arm{Name: j.arm.name, Dir: j.dir, Run: o})
	return rec
}

// sweepKey identifies a run of a sweep, and its record in sweep.json.
type sweepKey struct {
	scenario, backend string
	seed              int64
	arm               string
}

func keyOf(r scenario.SweepRun) sweepKey { return sweepKey{r.Scenario, r.Backend, r.Seed, r.Arm} }

// sweepOptions are the flags of chaosrun sweep.
type sweepOptions struct {
	cluster   runFlags // the cluster flags, and --out
	seeds     int
	seedStart int64
	backends  []string
	arms      []string
	parallel  int
	perRun    bool // --kafka-per-run
}

// sweepLong is chaosrun sweep's help.
const sweepLong = `Run every scenario named, on every backend, with seeds S, S+1, ... S+N-1 and
every fencing arm, one run after the other (or --parallel at a time), and
report a confusion matrix per scenario and backend: does the harness flag the
known-bad control plane, and does it leave the fixed one alone?

Kafka: the runs of a backend share one local Kafka cluster, started before the
first and stopped after the last, each run with a changefeed and topic of its
own (<changefeed>-<scenario>-s<seed>-<arm>) and a control plane, upstream and meta store
of its own. On netns the cluster lives in a namespace of its own that every
run's network reaches through one veth; a run's cuts still apply to its own
nodes' links to it. A sweep keeps one Kafka per run when a scenario has a
fault on Kafka itself, is a debezium scenario, or the scenarios want different
broker counts (it says why), and with --kafka-per-run, --kafka testcontainers
or --kafka external (where the runs still get a topic each).

Arms: epoch (fencing on, the fix), off (fencing off, the behaviour before it)
and epoch+self-fence (fencing on plus self-fence), each with the idempotent
sink; the same names with "+txn" (epoch+txn, off+txn, epoch+self-fence+txn)
run the cdc target's dispatchers with the transactional sink (see chaosrun run
--sink). An arm's sink overrides the scenario's sink field. The verdict an arm
must show is judged by its fencing part: off+txn, like off, must be flagged
unless the scenario declares otherwise. Default: epoch,off. The full matrix of
compare --matrix is --arms epoch,off,epoch+txn,off+txn,epoch+self-fence. A
debezium scenario refuses the +txn arms (its transactions are its
exactly-once arm).

  sensitivity  for each off arm (off, off+txn), counted separately: flagged
               runs (verdict fail) / judged runs.
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
  <out>/kafka-<backend>/                       the shared Kafka while the sweep
                                               runs

After a crash (SIGKILL) of the sweep, chaosrun clean <out> cleans every run
under it and the shared Kafka's network.

Resuming: sweep.json is rewritten (atomically) after every run. Run the same
command again with the same --out and runs already recorded there are skipped;
runs that ended in a harness error, or whose scenario declaration changed since,
are run again. Ctrl-C tears the current run down, records nothing for it,
writes sweep.json and sweep.html for what finished and exits 3. The matrix
covers every run recorded in the directory.

Exit status: 0 every scenario met its bar on every backend, 1 one missed it,
3 interrupted, 2 bad input (unknown scenario, arm or backend, --seeds < 1) or a
harness error writing the sweep files.`

func newSweepCmd() *cobra.Command {
	var o sweepOptions
	cmd := &cobra.Command{
		Use:   "sweep <scenario|file.yaml>...",
		Short: "Run scenarios over many seeds, fencing arms and backends and report how well the harness tells fixed from broken",
		Long:  sweepLong,
		Example: `  chaosrun sweep owner-isolation owner-meta-cut --seeds 5 --backend netns
  chaosrun sweep owner-isolation --seeds 20 --arms epoch,off,epoch+self-fence --backend netns,toxiproxy --out runs/sweep-1
  chaosrun sweep owner-isolation --seeds 5 --arms epoch,off,epoch+txn,off+txn --backend netns`,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args) },
	}
	o.flags(cmd)
	return cmd
}

func (o *sweepOptions) flags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntVar(&o.seeds, "seeds", 5, "number of seeds per scenario, arm and backend (at least 1)")
	fl.Int64Var(&o.seedStart, "seed-start", 1, "first seed; the sweep uses seed-start .. seed-start+seeds-1")
	fl.StringSliceVar(&o.backends, "backend", nil, "network fault backends, comma separated: netns, toxiproxy (default: netns as root, else toxiproxy)")
	fl.StringSliceVar(&o.arms, "arms", []string{"epoch", "off"}, "arms, comma separated: "+strings.Join(armNames(fencingArms), ", ")+" (a +txn arm runs the transactional sink)")
	fl.IntVar(&o.parallel, "parallel", 1, "runs at a time (1..4), each with its own control plane, namespaces and topic; they share the CPU, so a heavy workload's lag feels it (see docs/design.md, Faster sweeps)")
	fl.BoolVar(&o.perRun, "kafka-per-run", false, "start a Kafka for every run, as chaosrun run does, instead of one per backend for the whole sweep")
	fl.StringVar(&o.cluster.out, "out", "", "sweep directory (default runs/<timestamp>-sweep); an existing one is resumed")
	// The cluster flags are run's own (same names, defaults and help),
	// borrowed from its flag set and bound to o.cluster.
	var donor cobra.Command
	o.cluster.register(&donor, false /* withFencing */)
	for _, name := range []string{"kafka", "bootstrap", "nodes", "verbose"} {
		fl.AddFlag(donor.Flags().Lookup(name))
	}
}

// run checks the whole input before it makes the sweep directory, then
// sweeps.
func (o *sweepOptions) run(cmd *cobra.Command, args []string) error {
	arms, err := parseArms(o.arms)
	if err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	if len(o.backends) == 0 {
		o.backends = []string{scenario.DefaultBackend()}
	}
	backends, err := parseBackends(o.backends)
	if err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	if o.parallel < 1 || o.parallel > 4 {
		return &exitError{code: exitHarnessError, err: fmt.Errorf("sweep: --parallel must be 1..4, got %d", o.parallel)}
	}
	if o.seeds < 1 {
		return &exitError{code: exitHarnessError, err: fmt.Errorf("sweep: --seeds must be at least 1, got %d", o.seeds)}
	}
	jobs, err := sweepJobs(args, o.cluster.nodes, o.seedStart, o.seeds, backends, arms)
	if err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	share := kafkaSharing{provider: o.cluster.kafkaProvider}
	switch o.cluster.kafkaProvider {
	case "", kafka.ProviderLocal:
		if o.perRun {
			share.why = "--kafka-per-run"
		} else {
			share.brokers, share.why = shareable(jobs)
		}
	default:
		share.why = "--kafka " + o.cluster.kafkaProvider
	}
	if share.brokers > 0 || o.cluster.kafkaProvider == kafka.ProviderExternal {
		// One cluster, many runs: each gets a changefeed and topic of
		// its own.
		jobs = ownChangefeeds(jobs)
	}
	out := o.cluster.out
	if out == "" {
		out = defaultRunDir("sweep")
	}
	return sweep(cmd, &o.cluster, out, jobs, o.parallel, share, fmt.Sprintf("%d scenario(s) × %d backend(s) × %d seed(s) × %d arm(s)",
		len(args), len(backends), o.seeds, len(arms)))
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
func sweepJobs(args []string, nodes int, seedStart int64, seeds int, backends []string, arms []fencingArm) ([]sweepJob, error) {
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
		if sc.Target == scenario.TargetDebezium {
			for _, a := range arms {
				if a.sink == scenario.SinkTxn {
					return nil, fmt.Errorf("sweep: arm %s runs the txn sink of the cdc target; %s is a %s scenario (its transactional arm is exactly-once, the fencing part)", a.name, sc.Name, scenario.TargetDebezium)
				}
			}
		}
		plans := make([]scenario.Plan, seeds)
		for i := range plans {
			if plans[i], err = sc.Plan(seedStart + int64(i)); err != nil {
				return nil, fmt.Errorf("sweep: %s seed %d: %w", sc.Name, seedStart+int64(i), err)
			}
		}
		for _, b := range backends {
			for _, p := range plans {
				for _, a := range arms {
					jobs = append(jobs, sweepJob{scenario: sc, plan: p, backend: b, seed: p.Seed, arm: a,
						dir: path.Join(sc.Name, b, fmt.Sprintf("seed-%d", p.Seed), a.name)})
				}
			}
		}
	}
	return jobs, nil
}

// kafkaSharing is how a sweep's runs get their Kafka: brokers > 0, one
// local cluster of that many brokers per backend for the whole sweep;
// else each run its own (or the external one), for the reason why.
type kafkaSharing struct {
	provider string
	brokers  int
	why      string
}

// shareable reports whether every job can use one shared local Kafka, and
// its broker count: cdc scenarios only (a debezium run's Connect worker
// keeps its own topics), none with a fault on Kafka itself (it would hit
// every run), all with the same number of brokers.
func shareable(jobs []sweepJob) (brokers int, why string) {
	for _, j := range jobs {
		sc := j.scenario
		if sc.Target == scenario.TargetDebezium {
			return 0, sc.Name + " is a " + scenario.TargetDebezium + " scenario"
		}
		for _, f := range sc.Faults {
			if role, _ := scenario.SplitTarget(f.Target); role == scenario.TargetKafka {
				return 0, sc.Name + " has a fault on Kafka itself"
			}
		}
		if brokers != 0 && sc.Topology.KafkaBrokers != brokers {
			return 0, "the scenarios ask for different numbers of Kafka brokers"
		}
		brokers = sc.Topology.KafkaBrokers
	}
	return brokers, ""
}

// ownChangefeeds gives every job a changefeed, and so a topic, of its own
// (ownChangefeed), keeping its plan's faults and times.
func ownChangefeeds(jobs []sweepJob) []sweepJob {
	for i, j := range jobs {
		jobs[i].plan = j.plan.WithChangefeed(ownChangefeed(j.scenario, j.seed, j.arm.name, i+1))
	}
	return jobs
}

// ownChangefeed names the changefeed of run n of a sweep or compare whose
// runs share one Kafka: the scenario's changefeed, the scenario, the seed
// and the arm ("cf1-owner-pause-s3-epoch.txn"), or, where that is longer
// than a name may be, the changefeed and n ("cf1-007").
func ownChangefeed(sc scenario.Scenario, seed int64, arm string, n int) string {
	names := sc.Topology.ChangefeedNames()
	base := names[0]
	// Every name must fit with the ".<k>" of the last changefeed.
	room := scenario.MaxNameLen - (len(names[len(names)-1]) - len(base))
	cf := fmt.Sprintf("%s-%s-s%d-%s", base, sc.Name, seed, strings.ReplaceAll(arm, "+", "."))
	if len(cf) > room {
		cf = fmt.Sprintf("%s-%03d", base[:min(len(base), room-8)], n)
	}
	return cf
}

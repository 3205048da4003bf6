package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaosrun/chaosrun/chaos"
	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/checker/rundir"
	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/internal/place"
	"github.com/chaosrun/chaosrun/internal/wait"
	"github.com/chaosrun/chaosrun/reports"
	"github.com/chaosrun/chaosrun/reports/result"
	"github.com/chaosrun/chaosrun/sink/kafka"
	"github.com/chaosrun/chaosrun/system/cluster"
	"github.com/chaosrun/chaosrun/target"
	"github.com/chaosrun/chaosrun/workloads"
)

// RunOptions configures one scenario run.
type RunOptions struct {
	// Plan is the concrete plan to run (from Scenario.Plan or LoadPlan).
	Plan Plan
	// Dir is the run directory; it is created.
	Dir string
	// Backend is the network backend for cuts: "netns" or "toxiproxy".
	Backend string
	// Kafka chooses the Kafka provider (default local).
	Kafka kafka.Options
	// KafkaNetns, on the netns backend, is the namespace of another network
	// where the external Kafka of Kafka runs (a SharedKafka's); the run's
	// namespaces get a route to it.
	KafkaNetns *chaos.Namespace
	// Policy and SelfFence are passed to every node.
	Policy    fencing.Policy
	SelfFence bool
	// Sink, when set, overrides the scenario's sink mode (idempotent or
	// txn; cdc target only).
	Sink string
	// Binary is the chaosrun executable with the role subcommands (default:
	// this process's executable).
	Binary string
	// Progress receives the live status (nil: none); TTY selects one
	// updating line instead of timestamped lines.
	Progress io.Writer
	TTY      bool
	// Logger receives the harness's logs (default: discard).
	Logger *slog.Logger
}

// RunSummary is what a run ended with.
type RunSummary struct {
	Dir     string
	Verdict result.Verdict
	Result  *result.Result
}

// ErrHarness marks a failure of the harness or its environment (exit code 2).
var ErrHarness = errors.New("scenario: harness error")

// phaseSpan is a named stretch of the run.
type phaseSpan struct {
	name       string
	start, end time.Time
}

// runner holds one run's moving parts.
type runner struct {
	opt   RunOptions
	sc    Scenario
	log   *slog.Logger
	run   string
	start time.Time

	ledger  *chaos.Ledger
	proxies *chaos.Proxies
	netns   *chaos.NetnsPlacement
	topo    *chaos.Topology
	reg     *chaos.Registry
	tgt     target.Target
	tailers tailers
	// sinks are the target's, once it started, the first changefeed's
	// first.
	sinks []target.Sink

	stats    workloads.Stats
	phaseMu  sync.Mutex
	phase    string
	phases   []phaseSpan
	envMu    sync.Mutex // guards envErrs, reported by concurrent steps too
	envErrs  []string
	faultMu  sync.Mutex // guards records, written by concurrent steps
	records  []chaos.FaultRecord
	faultsOn atomic.Int32
}

// Run runs opt.Plan end to end — provision, steady-state gate, fault plan
// with proof of effect, recovery window, drain, check, report — and tears
// everything down on every path, including cancellation of ctx. A non-nil
// error wraps ErrHarness; the outcome's verdict says pass, fail or
// inconclusive otherwise.
func Run(ctx context.Context, opt RunOptions) (out RunSummary, err error) {
	sc := opt.Plan.Scenario.WithDefaults()
	if err := sc.Validate(); err != nil {
		return out, fmt.Errorf("%w: %w", ErrHarness, err)
	}
	if opt.Backend == "" {
		opt.Backend = DefaultBackend()
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Kafka.Logger == nil {
		opt.Kafka.Logger = opt.Logger
	}
	if err := checkBackend(opt.Plan, opt.Backend); err != nil {
		return out, fmt.Errorf("%w: %w", ErrHarness, err)
	}
	// Input the run cannot start with is refused before it makes anything.
	if err := kafka.Preflight(ctx, opt.Kafka); err != nil {
		return out, fmt.Errorf("%w: %w", ErrHarness, err)
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return out, fmt.Errorf("%w: create run directory: %w", ErrHarness, err)
	}
	dir, err := filepath.Abs(opt.Dir)
	if err != nil {
		return out, fmt.Errorf("%w: run directory: %w", ErrHarness, err)
	}
	opt.Dir = dir
	out.Dir = dir
	r := &runner{opt: opt, sc: sc, log: opt.Logger, run: chaos.NewRunID(), start: time.Now()}
	if err := SavePlan(dir, opt.Plan); err != nil {
		return out, fmt.Errorf("%w: %w", ErrHarness, err)
	}

	// Teardown must finish even when ctx is cancelled.
	defer func() {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		r.teardown(tctx)
	}()
	runErr := r.execute(ctx)
	if runErr != nil && ctx.Err() == nil && !errors.Is(runErr, errInconclusive) {
		return out, fmt.Errorf("%w: %w", ErrHarness, runErr)
	}
	if runErr != nil {
		r.envError("%s", runErr)
	}
	if ctx.Err() != nil {
		r.envError("run interrupted: %s", context.Cause(ctx))
	}
	// Stop processes before checking so the checker has the machine.
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	r.teardown(tctx)
	cancel()
	res, err := r.check()
	if err != nil {
		return out, fmt.Errorf("%w: check: %w", ErrHarness, err)
	}
	out.Result, out.Verdict = res, res.Verdict
	return out, nil
}

// errInconclusive marks a run the harness could not judge (the steady
// state never came, a fault never took effect).
var errInconclusive = errors.New("inconclusive")

// DefaultBackend is netns when running as root, else toxiproxy.
func DefaultBackend() string {
	if os.Geteuid() == 0 {
		return chaos.BackendNetns
	}
	return chaos.BackendToxiproxy
}

// checkBackend refuses plans a backend cannot run.
func checkBackend(p Plan, backend string) error {
	switch backend {
	case chaos.BackendNetns:
		if os.Geteuid() != 0 {
			return errors.New("backend netns needs root; use --backend toxiproxy")
		}
	case chaos.BackendToxiproxy:
		for _, st := range p.Steps {
			if p.Scenario.Target == TargetDebezium && st.Kind.Network() && st.Backend != chaos.BackendNetns {
				return fmt.Errorf("step %s is a network fault, and the %s target's processes dial each other directly, not through proxies; use --backend netns", st.ID, TargetDebezium)
			}
			onToxiproxy := st.Backend == "" || st.Backend == chaos.BackendToxiproxy
			if st.Kind == KindLoss && onToxiproxy {
				return fmt.Errorf("step %s is a loss, which the toxiproxy backend cannot inject (it relays TCP streams and has no packets to lose); use --backend netns", st.ID)
			}
			for _, l := range st.Links {
				if l == LinkKafka && onToxiproxy {
					return fmt.Errorf("step %s cuts Kafka links, which the toxiproxy backend does not proxy; use --backend netns", st.ID)
				}
			}
		}
	default:
		return fmt.Errorf("unknown backend %q (want netns or toxiproxy)", backend)
	}
	return nil
}

func (r *runner) setPhase(name string) {
	r.phaseMu.Lock()
	defer r.phaseMu.Unlock()
	now := time.Now()
	if n := len(r.phases); n > 0 && r.phases[n-1].end.IsZero() {
		r.phases[n-1].end = now
	}
	r.phase = name
	r.phases = append(r.phases, phaseSpan{name: name, start: now})
	r.log.Info("phase", "phase", name)
	if r.opt.Progress != nil && !r.opt.TTY {
		fmt.Fprintf(r.opt.Progress, "%s phase %s\n", now.Format(time.TimeOnly), name)
	}
}

// execute runs the phases of the run in order; the first error ends it.
// Whatever it started is torn down by Run.
func (r *runner) execute(ctx context.Context) error {
	r.setPhase("provision")
	if err := r.provision(ctx); err != nil {
		return err
	}
	stopStatus := r.statusLine(ctx)
	defer stopStatus()
	stopLoad, err := r.startWorkload(ctx)
	if err != nil {
		return err
	}
	defer stopLoad()

	r.setPhase("steady-state")
	if err := r.steady(ctx); err != nil {
		return err
	}
	r.setPhase("faults")
	if err := r.faults(ctx); err != nil {
		return err
	}
	r.setPhase("recovery")
	if err := wait.Sleep(ctx, r.sc.RecoveryWindow); err != nil {
		return err
	}
	r.setPhase("drain")
	if err := stopLoad(); err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	if err := r.drain(ctx); err != nil {
		return err
	}
	return r.faultsTookEffect()
}

// provisionTimeout bounds starting the cluster and creating the changefeed.
const provisionTimeout = 4 * time.Minute

// provision opens the fault ledger, builds the network fabric, starts the
// cluster, creates the changefeed and starts tailing its topic.
func (r *runner) provision(ctx context.Context) error {
	var err error
	if r.ledger, err = chaos.OpenLedger(r.opt.Dir, r.run); err != nil {
		return err
	}
	r.reg = chaos.NewRegistry()
	if err := chaos.Register(r.reg); err != nil {
		return err
	}
	if r.tgt, err = newTarget(r.sc, r.opt); err != nil {
		return err
	}
	placement, err := r.fabric(ctx)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, provisionTimeout)
	defer cancel()
	if err := r.startTarget(pctx, placement); err != nil {
		return err
	}
	r.sinks = r.tgt.Sinks()
	r.tailers, err = startTailers(ctx, r.opt.Dir, r.sinks, r.log)
	return err
}

// startTarget starts the target on placement and describes its processes
// to the chaos backends.
func (r *runner) startTarget(ctx context.Context, placement place.Placement) error {
	env := target.Env{Dir: r.opt.Dir, Binary: r.opt.Binary, Placement: placement, Kafka: r.opt.Kafka, Logger: r.log}
	if err := r.tgt.Start(ctx, env); err != nil {
		return err
	}
	if err := r.fillTopology(); err != nil {
		return err
	}
	if r.proxies != nil {
		// Proxies for the links no process dials (a server to a node) too,
		// so every link of a cut exists and its probe is meaningful.
		return r.proxies.Mesh(ctx, r.topo)
	}
	return nil
}

// startWorkload runs the scenario's workload against the upstream, writing
// the history, until the returned stop is called; stop returns the
// workload's error and closes the history (it is idempotent).
func (r *runner) startWorkload(ctx context.Context) (stop func() error, err error) {
	sc := r.sc
	w, err := workloads.New(sc.Workload.Name, sc.workloadOptions())
	if err != nil {
		return nil, err
	}
	hist, err := workloads.CreateHistory(filepath.Join(r.opt.Dir, "history.jsonl"))
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- workloads.Run(wctx, w, r.tgt.Store(),
			workloads.Config{Rate: sc.Workload.Rate, Workers: sc.Workload.Workers, Seed: uint64(r.opt.Plan.Seed), History: hist, Stats: &r.stats})
	}()
	return sync.OnceValue(func() error {
		cancel()
		err := <-done
		if cerr := hist.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close history: %w", cerr))
		}
		return err
	}), nil
}

// faultsTookEffect makes the run inconclusive if a fault never took
// effect: the run then says nothing about it.
func (r *runner) faultsTookEffect() error {
	r.faultMu.Lock()
	defer r.faultMu.Unlock()
	for _, rec := range r.records {
		if !rec.Effective {
			return fmt.Errorf("%w: fault %s never took effect", errInconclusive, rec.ID)
		}
	}
	return nil
}

// fabric builds the network fabric of the backend and returns the
// placement of the cluster's processes.
func (r *runner) fabric(ctx context.Context) (place.Placement, error) {
	switch r.opt.Backend {
	case chaos.BackendToxiproxy:
		px, err := chaos.NewProxies(r.run, r.ledger, r.log)
		if err != nil {
			return nil, err
		}
		r.proxies = px
		return proxyPlacement{px: px}, nil
	default:
		return newNetnsPlacement(ctx, r)
	}
}

// fillTopology describes the started processes to the chaos backends.
func (r *runner) fillTopology() error {
	procs := r.tgt.Processes()
	for i, p := range procs {
		p = r.placeProcess(p)
		procs[i] = p
		if p.Pid == 0 {
			continue
		}
		lp, err := r.ledger.AddProcess(p)
		if err != nil {
			return err
		}
		procs[i] = lp
	}
	t, err := chaos.NewTopology(procs...)
	if err != nil {
		return err
	}
	r.topo = t
	return nil
}

// steady waits until the sink lag stays within the steady-state bound for
// the steady window (never inject into a cold system).
func (r *runner) steady(ctx context.Context) error {
	st := r.sc.Steady
	deadline := time.Now().Add(st.Timeout)
	var since time.Time
	for time.Now().Before(deadline) {
		lag, ok := r.tailers.Lag(time.Now())
		switch {
		case ok && lag <= st.Lag:
			if since.IsZero() {
				since = time.Now()
			}
			if time.Since(since) >= st.Window {
				return nil
			}
		default:
			since = time.Time{}
		}
		if err := wait.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: the sink lag never stayed under %s for %s within %s", errInconclusive, st.Lag, st.Window, st.Timeout)
}

// faults runs the plan's steps, each at its own time, so that steps on
// different targets or link sets overlap as the plan says. The first error
// cancels the steps still waiting and is returned once every started step
// has healed.
func (r *runner) faults(ctx context.Context) error {
	planStart := time.Now()
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, st := range r.opt.Plan.Steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := wait.Sleep(fctx, time.Until(planStart.Add(st.At))); err != nil {
				return
			}
			if err := r.fault(fctx, st); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(fctx); err != nil && ctx.Err() == nil {
		return err
	}
	return ctx.Err()
}

// fault drives one plan step through a guard: inject at fire time, prove
// the effect, hold, heal, prove the heal.
func (r *runner) fault(ctx context.Context, st Step) error {
	spec, backend, err := r.chaosSpec(ctx, st)
	if err != nil {
		return err
	}
	env := chaos.Env{Run: r.run, Ledger: r.ledger, Topology: r.topo, Proxies: r.proxies, Restart: r.restart(st), Logger: r.log}
	r.envNetwork(&env)
	b, err := r.reg.New(backend, env)
	if err != nil {
		return err
	}
	res := &chaos.TopologyResolver{Topology: r.topo, Owner: r.nodeOf(TargetOwner), MaintainerOf: r.nodeOf(TargetMaintainerOf)}
	g, err := chaos.NewGuard(chaos.GuardConfig{Backend: b, Resolver: res, Run: r.run, Ledger: r.ledger, Logger: r.log})
	if err != nil {
		return err
	}
	defer func() {
		if err := g.Close(ctx); err != nil {
			r.log.Warn("close the fault guard", "fault", st.ID, "err", err)
		}
		r.faultMu.Lock()
		r.records = append(r.records, g.Records()...)
		r.faultMu.Unlock()
		r.writeFaults()
	}()
	if err := g.Prepare(ctx); err != nil {
		return err
	}
	if err := g.Inject(ctx, spec); err != nil {
		return fmt.Errorf("inject %s: %w", st.ID, err)
	}
	r.faultsOn.Add(1)
	defer r.faultsOn.Add(-1)
	if _, err := g.Verify(ctx); err != nil {
		r.log.Warn("fault did not take effect", "fault", st.ID, "err", err)
	}
	r.writeFaults()
	if err := wait.Sleep(ctx, st.Duration); err != nil {
		return err
	}
	if err := g.Heal(ctx); err != nil {
		return fmt.Errorf("heal %s: %w", st.ID, err)
	}
	if _, err := g.Verify(ctx); err != nil {
		r.log.Warn("heal not verified", "fault", st.ID, "err", err)
	}
	return g.Cleanup(ctx)
}

// chaosSpec maps a plan step to a chaos spec and the backend that runs it.
func (r *runner) chaosSpec(ctx context.Context, st Step) (chaos.Spec, string, error) {
	target, err := r.role(ctx, st)
	if err != nil {
		return chaos.Spec{}, "", fmt.Errorf("step %s: %w", st.ID, err)
	}
	spec := chaos.Spec{ID: st.ID, Target: target}
	backend := st.Backend
	if backend == "" {
		backend = r.opt.Backend
	}
	switch st.Kind {
	case KindIsolate, KindOneWayIn, KindOneWayOut:
		spec.Kind = chaos.KindCut
		spec.Links = st.Links
		spec.Direction = map[Kind]chaos.Direction{KindIsolate: chaos.Both, KindOneWayIn: chaos.Inbound, KindOneWayOut: chaos.Outbound}[st.Kind]
	case KindHold, KindDelay, KindLoss:
		spec.Kind = map[Kind]chaos.Kind{KindHold: chaos.KindHold, KindDelay: chaos.KindDelay, KindLoss: chaos.KindLoss}[st.Kind]
		spec.Links, spec.Delay, spec.Loss = st.Links, st.Delay, st.Loss
	case KindPause:
		spec.Kind, backend = chaos.KindPause, chaos.BackendPause
	case KindKillRestart:
		spec.Kind, backend = chaos.KindKill, chaos.BackendKill
	default:
		return spec, "", fmt.Errorf("step %s: unknown kind %q", st.ID, st.Kind)
	}
	return spec, backend, spec.Validate()
}

// role maps a step's target to the chaos role to resolve at fire time:
// node:<n> names the node's process; the bystander and the target's own
// roles (a Connect cluster's task worker, leader) are resolved now, by the
// target.
func (r *runner) role(ctx context.Context, st Step) (chaos.Role, error) {
	switch role, arg := SplitTarget(st.Target); role {
	case TargetNode:
		n, err := strconv.Atoi(arg)
		if err != nil {
			return "", fmt.Errorf("target %q: node number: %w", st.Target, err)
		}
		return chaos.Role(chaos.RoleKindNode + ":" + cluster.NodeName(n)), nil
	case TargetOwner, TargetMaintainerOf, TargetKafka, TargetMeta, TargetUpstream:
		return chaos.Role(st.Target), nil
	}
	name, err := r.tgt.Resolve(ctx, st.Target, r.tailers)
	if err != nil {
		return "", err
	}
	return chaos.Role(chaos.RoleKindNode + ":" + name), nil
}

// nodeOf returns a chaos.NodeFunc resolving a dynamic role through the
// target at fire time.
func (r *runner) nodeOf(role string) chaos.NodeFunc {
	return func(ctx context.Context, arg string) (string, error) {
		if arg != "" {
			role += ":" + arg
		}
		return r.tgt.Resolve(ctx, role, r.tailers)
	}
}

// restart returns how a killed node is restarted for step st.
func (r *runner) restart(st Step) chaos.RestartFunc {
	return func(ctx context.Context, old chaos.Process) (chaos.Process, error) {
		pid, err := r.tgt.Restart(ctx, old.Name, st.Restart == "new-id")
		if err != nil {
			return old, err
		}
		np := old
		np.Pid, np.Pgid = pid, pid
		return r.ledger.AddProcess(np)
	}
}

// drain waits until the global watermark passes the upstream's current
// timestamp (taken after the workload stopped), within the drain deadline.
func (r *runner) drain(ctx context.Context) error {
	ts, err := r.tgt.DrainTs(ctx)
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	deadline := time.Now().Add(r.sc.DrainDeadline)
	for time.Now().Before(deadline) {
		if r.tailers.Reached(ts) {
			return nil
		}
		if err := wait.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	// Not an error of the harness: the checker reports what arrived.
	r.log.Warn("drain deadline passed before the final watermark", "deadline", r.sc.DrainDeadline)
	return nil
}

// envError records an environment failure; any makes the run
// inconclusive.
func (r *runner) envError(format string, args ...any) {
	r.envMu.Lock()
	defer r.envMu.Unlock()
	r.envErrs = append(r.envErrs, fmt.Sprintf(format, args...))
}

// roleOf names a fault's target as the plan states it: a role the target
// resolved at fire time (task-worker, leader, bystander) is a node to the
// chaos backends, but the report names the role.
func (r *runner) roleOf(rec chaos.FaultRecord) string {
	for _, st := range r.opt.Plan.Steps {
		if st.ID == rec.ID && string(rec.Role) != st.Target {
			return st.Target
		}
	}
	return string(rec.Role)
}

// writeFaults writes the fault timeline for the checker and the full fault
// records for a reader.
func (r *runner) writeFaults() {
	r.faultMu.Lock()
	defer r.faultMu.Unlock()
	evs := make([]checker.FaultEvent, 0, len(r.records))
	for _, rec := range r.records {
		evs = append(evs, checker.FaultEvent{ID: rec.ID, Kind: string(rec.Kind), TargetRole: r.roleOf(rec),
			TargetProcess: rec.Target.Name, Inject: rec.InjectAt, Heal: rec.HealAt, Effective: rec.Effective})
	}
	if err := target.WriteJSON(filepath.Join(r.opt.Dir, rundir.FaultsFile), evs); err != nil {
		r.envError("write the fault timeline: %v", err)
	}
	if err := target.WriteJSON(filepath.Join(r.opt.Dir, "fault-records.json"), r.records); err != nil {
		r.log.Warn("write fault records", "err", err)
	}
}

// teardown saves what only the live cluster knows and stops everything.
// It is idempotent.
func (r *runner) teardown(ctx context.Context) {
	for _, err := range r.tailers.drain(ctx) {
		r.envError("drain sink: %v", err)
	}
	r.tailers.close(r.log)
	r.tailers = nil
	if r.tgt != nil {
		if err := r.tgt.Stop(ctx); err != nil {
			r.envError("%v", err)
		}
	}
	if r.proxies != nil {
		if err := r.proxies.Close(ctx); err != nil {
			r.log.Warn("close the proxies", "err", err)
		}
		r.proxies = nil
	}
	r.closeNetwork(ctx)
	if r.ledger != nil {
		if err := r.ledger.Close(); err != nil {
			r.log.Warn("close the fault ledger", "err", err)
		}
		r.ledger = nil
	}
}

// check runs the checker over the run directory and writes the reports.
func (r *runner) check() (*result.Result, error) {
	r.setPhase("check")
	sc := r.sc
	slos := checker.SLOs{L: sc.SLOs.Lag, W: sc.SLOs.Window, RecoveryBound: sc.SLOs.Recovery, AllowedZombie: sc.SLOs.Zombie}
	res, cfs, err := rundir.CheckRun(r.opt.Dir, slos, r.runInfo())
	if err != nil {
		return nil, err
	}
	for _, cf := range cfs {
		if err := reports.WriteDir(cf.Dir, cf.Result); err != nil {
			return nil, err
		}
	}
	if err := reports.WriteDir(r.opt.Dir, res); err != nil {
		return nil, err
	}
	return res, nil
}

// runInfo is what the checker needs to know of the run beyond its
// directory: the scenario, the phases and the environment failures.
func (r *runner) runInfo() rundir.Info {
	sc := r.sc
	info := rundir.Info{
		Run:        checker.RunInfo{Scenario: sc.Name, Seed: r.opt.Plan.Seed, FencingMode: r.fencingMode()},
		Changefeed: sc.Topology.Changefeed, EnvErrors: r.envErrors(), Start: r.start,
	}
	if len(r.sinks) > 0 {
		s := r.sinks[0]
		info.NoWatermarkPromise, info.ExactlyOnce, info.RowProgress = s.NoWatermarkOrder, s.ExactlyOnce, s.RowProgress
	}
	r.phaseMu.Lock()
	for _, p := range r.phases {
		end := p.end
		if end.IsZero() {
			end = time.Now()
		}
		info.Phases = append(info.Phases, result.Phase{Name: p.name, StartMs: p.start.Sub(r.start).Milliseconds(), EndMs: end.Sub(r.start).Milliseconds()})
	}
	r.phaseMu.Unlock()
	if sc.Workload.Name == "bank" {
		info.Bank = &checker.BankConfig{Table: workloads.BankTable, Column: "balance"}
	}
	return info
}

// envErrors returns the environment failures recorded so far.
func (r *runner) envErrors() []string {
	r.envMu.Lock()
	defer r.envMu.Unlock()
	return slices.Clone(r.envErrs)
}

// fencingMode names the control-plane configuration for the reports.
func (r *runner) fencingMode() string {
	if r.sc.Target == TargetDebezium {
		return eosMode(r.opt.Policy) + " (" + r.opt.Backend + ")"
	}
	m := r.opt.Policy.String()
	if r.opt.SelfFence {
		m += "+self-fence"
	}
	if s := SinkOf(r.sc, r.opt.Sink); s != SinkIdempotent {
		m += " sink=" + s
	}
	return m + " (" + r.opt.Backend + ")"
}

// statusLine prints live progress until the returned func is called.
func (r *runner) statusLine(ctx context.Context) func() {
	if r.opt.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastRows int64
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-t.C:
				_, _, _, _, rows := r.stats.Snapshot()
				rps := float64(rows-lastRows) / now.Sub(last).Seconds()
				lastRows, last = rows, now
				line := r.status(ctx, now, rps)
				if r.opt.TTY {
					fmt.Fprintf(r.opt.Progress, "\r\033[K%s", line)
				} else if now.Second()%5 == 0 {
					fmt.Fprintf(r.opt.Progress, "%s %s\n", now.Format(time.TimeOnly), line)
				}
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		if r.opt.TTY {
			fmt.Fprintln(r.opt.Progress)
		}
	}
}

func (r *runner) status(ctx context.Context, now time.Time, rps float64) string {
	r.phaseMu.Lock()
	phase := r.phase
	r.phaseMu.Unlock()
	lag := "-"
	if l, ok := r.tailers.Lag(now); ok {
		lag = l.Round(100 * time.Millisecond).String()
	}
	return fmt.Sprintf("phase=%s elapsed=%s %s lag=%s rows/s=%.0f faults=%d",
		phase, now.Sub(r.start).Round(time.Second), r.tgt.Status(ctx), lag, rps, r.faultsOn.Load())
}

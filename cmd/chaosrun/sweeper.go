package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosrun/chaosrun/reports/result"
	"github.com/chaosrun/chaosrun/scenario"
)

// runScenario runs one scenario end to end. NB: tests replace it with a
// fake so that the sweep loop runs without Kafka.
var runScenario = scenario.Run

// startSharedKafka starts a sweep's Kafka. NB: tests replace it, with
// runScenario.
var startSharedKafka = scenario.StartSharedKafka

// sweep runs the jobs not yet recorded in out/sweep.json, parallel at a
// time, recording each as it finishes, and maps the matrix to the exit
// status.
func sweep(cmd *cobra.Command, f *runFlags, out string, jobs []sweepJob, parallel int, share kafkaSharing, shape string) error {
	s, err := resumeSweep(cmd, f, out, jobs)
	if err != nil {
		return err
	}
	s.parallel = parallel
	s.printStart(shape)
	if err := s.startKafka(cmd.Context(), share); err != nil {
		return err
	}
	interrupted, err := s.runAll(cmd.Context())
	if cerr := s.closeKafka(cmd.Context()); err == nil && cerr != nil {
		err = &exitError{code: exitHarnessError, err: cerr}
	}
	if err != nil {
		return err
	}
	return s.finish(cmd.Context(), interrupted)
}

// sweeper runs the jobs of one sweep, recording each run in sweep.json as it
// finishes.
type sweeper struct {
	cmd      *cobra.Command
	cluster  *runFlags
	dir      string
	jobs     []sweepJob
	progress io.Writer
	log      *slog.Logger

	runs  []scenario.SweepRun // every run recorded, in sweep.json order
	index map[sweepKey]int    // of each recorded run in runs
	skip  []bool              // per job: recorded earlier, not run again
	again int                 // jobs recorded earlier that run again
	toRun int                 // jobs this sweep runs

	parallel int                              // runs at a time
	kafka    map[string]*scenario.SharedKafka // per backend, when the runs share one

	mu       sync.Mutex    // guards what follows, runs, index and progress while runs are in flight
	finished int           // jobs run and recorded
	spent    time.Duration // by the finished jobs, for the ETA
}

// resumeSweep makes the sweep directory and reads what earlier sweeps into it
// recorded. A job recorded with a verdict under the declaration it has now
// is skipped; one that ended in a harness error, or whose declaration
// changed, runs again.
func resumeSweep(cmd *cobra.Command, f *runFlags, dir string, jobs []sweepJob) (*sweeper, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &exitError{code: exitHarnessError, err: fmt.Errorf("sweep: %w", err)}
	}
	runs, err := readSweep(dir)
	if err != nil {
		return nil, &exitError{code: exitHarnessError, err: fmt.Errorf("sweep: cannot resume: %w", err)}
	}
	s := &sweeper{cmd: cmd, cluster: f, dir: dir, jobs: jobs, progress: cmd.OutOrStdout(), log: f.logger(cmd),
		runs: runs, index: make(map[sweepKey]int, len(runs)), skip: make([]bool, len(jobs))}
	for i, r := range runs {
		s.index[keyOf(r)] = i
	}
	for i, j := range jobs {
		k, ok := s.index[j.key()]
		if ok && runs[k].Outcome != scenario.OutcomeError && runs[k].Expect.Same(j.expect()) {
			s.skip[i] = true
			continue
		}
		if ok {
			s.again++
		}
		s.toRun++
	}
	return s, nil
}

// printStart prints what the sweep covers and, when it resumes, what it skips.
func (s *sweeper) printStart(shape string) {
	at := ""
	if s.parallel > 1 {
		at = fmt.Sprintf(", %d at a time", s.parallel)
	}
	fmt.Fprintf(s.progress, "sweep: %s = %d runs in %s%s\n", shape, len(s.jobs), s.dir, at)
	if len(s.runs) == 0 {
		return
	}
	again := ""
	if s.again > 0 {
		again = fmt.Sprintf(" (%d again, after a harness error or a changed declaration)", s.again)
	}
	fmt.Fprintf(s.progress, "resuming from %s: %d of %d runs already recorded, skipped; %d to run%s\n",
		filepath.Join(s.dir, sweepJSON), len(s.jobs)-s.toRun, len(s.jobs), s.toRun, again)
}

// runAll runs the jobs that are not skipped, in order, up to s.parallel at
// a time, until all are recorded or ctx is cancelled, and reports whether it
// was cancelled. A job starts when one of the s.parallel slots is free; the
// first error cancels the running ones, starts no more and is returned once
// they ended.
func (s *sweeper) runAll(ctx context.Context) (interrupted bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg    sync.WaitGroup
		slots = make(chan struct{}, max(1, s.parallel))
		mu    sync.Mutex // guards interrupted and err
	)
	for i, j := range s.jobs {
		prefix := fmt.Sprintf("[%d/%d] %s %s seed %d %s", i+1, len(s.jobs), j.scenario.Name, j.backend, j.seed, j.arm.name)
		if s.skip[i] {
			s.printf("%s: %s (recorded earlier, skipped)\n", prefix, describeRun(s.runs[s.index[j.key()]]))
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			recorded, jobErr := s.runJob(ctx, prefix, j)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case jobErr != nil && err == nil:
				err = jobErr
				cancel(jobErr)
			case jobErr == nil && !recorded:
				interrupted = true
			}
		}()
	}
	wg.Wait()
	if err != nil {
		return false, err
	}
	// NB: a cancel after the last run was recorded interrupts nothing.
	return interrupted || (ctx.Err() != nil && s.finished < s.toRun), nil
}

// printf writes a progress line; runs in parallel share the writer.
func (s *sweeper) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.progress, format, args...)
}

// runJob runs j in a clean directory, records it and prints its progress
// line. It reports false when ctx was cancelled during the run, which then
// leaves no record.
func (s *sweeper) runJob(ctx context.Context, prefix string, j sweepJob) (recorded bool, err error) {
	dir := filepath.Join(s.dir, filepath.FromSlash(j.dir))
	// NB: a run interrupted earlier, or one that ended in a harness
	// error, may have left files here; they must not mix with this run's.
	if err := os.RemoveAll(dir); err != nil {
		return false, &exitError{code: exitHarnessError, err: fmt.Errorf("sweep: clear %s: %w", dir, err)}
	}
	opt := s.cluster.options(s.cmd, j.plan, dir, j.arm.policy, j.arm.selfFence, j.arm.sink)
	opt.Backend = j.backend
	if k := s.kafka[j.backend]; k != nil {
		k.Apply(&opt)
	}
	if !opt.TTY || s.parallel > 1 {
		// Timestamped phase lines of every run would drown the sweep's
		// own progress; on a terminal the live line of one run rewrites
		// itself, but two runs' lines would fight over it.
		opt.Progress = nil
	}
	s.log.Info("sweep run", "scenario", j.scenario.Name, "backend", j.backend, "seed", j.seed, "arm", j.arm.name, "dir", dir)
	start := time.Now()
	o, runErr := runScenario(ctx, opt)
	took := time.Since(start)
	if ctx.Err() != nil {
		// scenario.Run tore the run down; an interrupted run is not a
		// verdict, so it leaves no record and runs again on resume.
		s.printf("%s: interrupted after %s, not recorded\n", prefix, took.Round(time.Second))
		return false, nil
	}
	if runErr != nil {
		s.log.Warn("sweep run ended in a harness error", "scenario", j.scenario.Name, "backend", j.backend, "seed", j.seed, "arm", j.arm.name, "err", runErr)
	}
	rec := j.record(o, runErr, took)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.record(rec); err != nil {
		return false, err
	}
	s.spent += took
	s.finished++
	// The mean run times the runs left, shared by the parallel slots.
	eta := s.spent / time.Duration(s.finished) * time.Duration(s.toRun-s.finished) / time.Duration(max(1, s.parallel))
	fmt.Fprintf(s.progress, "%s: %s (%s, ETA %s)\n", prefix, describeRun(rec), took.Round(time.Second), clock(eta))
	if rec.Outcome == scenario.OutcomeError {
		fmt.Fprintf(s.progress, "    %s\n", rec.Error)
	}
	return true, nil
}

// startKafka starts one Kafka per backend that has runs to go, when the
// runs can share one, and says which Kafka the runs use.
func (s *sweeper) startKafka(ctx context.Context, share kafkaSharing) error {
	if share.brokers == 0 {
		if s.toRun > 0 && share.provider != "external" {
			fmt.Fprintf(s.progress, "kafka: one per run (%s)\n", share.why)
		}
		return nil
	}
	s.kafka = map[string]*scenario.SharedKafka{}
	for i, j := range s.jobs {
		if s.skip[i] || s.kafka[j.backend] != nil {
			continue
		}
		k, err := startSharedKafkaFor(ctx, s.progress, j.backend+" run", "run", j.backend, s.kafkaDir(j.backend), share.brokers, s.log)
		if err != nil {
			return errors.Join(&exitError{code: exitHarnessError, err: fmt.Errorf("sweep: %w", err)}, s.closeKafka(ctx))
		}
		s.kafka[j.backend] = k
	}
	return nil
}

// startSharedKafkaFor starts a Kafka that every what shares (a sweep's
// "netns run"s, a comparison's "arm"s), each unit with a topic of its own,
// and says so on w.
func startSharedKafkaFor(ctx context.Context, w io.Writer, what, unit, backend, dir string, brokers int, log *slog.Logger) (*scenario.SharedKafka, error) {
	t0 := time.Now()
	k, err := startSharedKafka(ctx, backend, dir, brokers, log)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "kafka: one for every %s, %s on %s (%d broker(s), up in %s); each %s has a topic of its own\n",
		what, strings.Join(k.Bootstrap(), ","), k.Where(), brokers, time.Since(t0).Round(100*time.Millisecond), unit)
	return k, nil
}

// kafkaDir is where the shared Kafka of backend keeps its data and ledger.
func (s *sweeper) kafkaDir(backend string) string { return filepath.Join(s.dir, "kafka-"+backend) }

// closeKafka stops the shared Kafka clusters and removes their data.
func (s *sweeper) closeKafka(ctx context.Context) error {
	var errs []error
	for b, k := range s.kafka {
		errs = append(errs, closeSharedKafka(ctx, k, s.kafkaDir(b)))
	}
	s.kafka = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return nil
}

// closeSharedKafka stops a shared Kafka and removes its directory dir; if
// it cannot be stopped, its ledger stays for chaosrun clean.
func closeSharedKafka(ctx context.Context, k *scenario.SharedKafka, dir string) error {
	if err := k.Close(ctx); err != nil {
		return fmt.Errorf("stop the shared Kafka: %w (chaosrun clean %s)", err, dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("stop the shared Kafka: %w", err)
	}
	return nil
}

// record adds rec, in place of an earlier record of the same run, and
// rewrites the sweep files. The caller holds s.mu.
func (s *sweeper) record(rec scenario.SweepRun) error {
	if k, ok := s.index[keyOf(rec)]; ok {
		s.runs[k] = rec
	} else {
		s.index[keyOf(rec)] = len(s.runs)
		s.runs = append(s.runs, rec)
	}
	if err := writeSweep(s.dir, s.runs); err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	return nil
}

// finish writes the sweep files and prints the matrix, and maps it to the
// exit status.
func (s *sweeper) finish(ctx context.Context, interrupted bool) error {
	// Written even when nothing ran, so that a finished sweep directory
	// always has its report.
	if err := writeSweep(s.dir, s.runs); err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	cells := scenario.Matrix(s.runs)
	fmt.Fprintln(s.progress)
	if err := printMatrix(s.progress, cells); err != nil {
		return &exitError{code: exitHarnessError, err: fmt.Errorf("sweep: %w", err)}
	}
	fmt.Fprintf(s.progress, "sweep: %s %s\n", filepath.Join(s.dir, sweepJSON), filepath.Join(s.dir, sweepHTML))
	if interrupted {
		return &exitError{code: exitInconclusive, err: fmt.Errorf("sweep interrupted with %d of %d runs to go; run it again with --out %s to resume: %w",
			s.toRun-s.finished, len(s.jobs), s.dir, context.Cause(ctx))}
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
	fmt.Fprintln(s.progress, "every scenario met its bar")
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

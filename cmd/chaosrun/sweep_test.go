package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/reports/result"
	"github.com/chaosrun/chaosrun/scenario"
)

// fakeRuns replaces scenario.Run for the test: verdict decides each run's
// outcome from its options (nil: the test fails if anything runs). It
// returns the options of every run made.
func fakeRuns(t *testing.T, verdict func(ctx context.Context, opt scenario.RunOptions) (result.Verdict, error)) *[]scenario.RunOptions {
	t.Helper()
	var (
		calls []scenario.RunOptions
		mu    sync.Mutex // sweep --parallel runs them concurrently
	)
	prev, prevKafka := runScenario, startSharedKafka
	t.Cleanup(func() { runScenario, startSharedKafka = prev, prevKafka })
	startSharedKafka = func(context.Context, string, string, int, *slog.Logger) (*scenario.SharedKafka, error) {
		return &scenario.SharedKafka{}, nil // no brokers: the fake runs need none
	}
	runScenario = func(ctx context.Context, opt scenario.RunOptions) (scenario.RunSummary, error) {
		mu.Lock()
		calls = append(calls, opt)
		mu.Unlock()
		if verdict == nil {
			t.Errorf("sweep ran %s although its input was bad", opt.Dir)
			return scenario.RunSummary{}, errors.New("must not run")
		}
		v, err := verdict(ctx, opt)
		if err != nil {
			return scenario.RunSummary{}, err
		}
		return scenario.RunSummary{Dir: opt.Dir, Verdict: v, Result: &result.Result{Verdict: v}}, nil
	}
	return &calls
}

// byArm is the verdict of a well-behaved harness: fencing on passes,
// fencing off is caught by completeness.
func byArm(_ context.Context, opt scenario.RunOptions) (result.Verdict, error) {
	if opt.Policy == fencing.Off {
		return result.Verdict{Outcome: result.Fail, Violated: []string{"completeness"}}, nil
	}
	return result.Verdict{Outcome: result.Pass}, nil
}

// runSweep runs `chaosrun sweep args...` in process under ctx.
func runSweep(t *testing.T, ctx context.Context, args ...string) (stdout string, code int, err error) {
	t.Helper()
	stdout, stderr, err := execute(ctx, append([]string{"sweep"}, args...)...)
	code = exitCode(err)
	t.Logf("chaosrun sweep %s: exit %d, err %v\n%s%s", strings.Join(args, " "), code, err, stdout, stderr)
	return stdout, code, err
}

func readSweepFile(t *testing.T, dir string) sweepFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, sweepJSON))
	require.NoError(t, err)
	var sf sweepFile
	require.NoError(t, json.Unmarshal(data, &sf))
	return sf
}

func TestSweepBadInput(t *testing.T) {
	fakeRuns(t, nil)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no scenario", nil, []string{"name at least one scenario", "owner-isolation"}},
		{"unknown scenario", []string{"owner-isolatoin"}, []string{`"owner-isolatoin" is neither a built-in scenario`, "owner-meta-cut"}},
		{"seeds below one", []string{"owner-isolation", "--seeds", "0"}, []string{"--seeds must be at least 1, got 0"}},
		{"unknown arm", []string{"owner-isolation", "--arms", "epoch,of"}, []string{`unknown arm "of"`, "epoch, off, epoch+self-fence"}},
		{"parallel out of range", []string{"owner-isolation", "--parallel", "0"}, []string{"--parallel must be 1..4, got 0"}},
		{"unknown backend", []string{"owner-isolation", "--backend", "netns,toxyproxy"}, []string{`unknown backend "toxyproxy"`, "netns, toxiproxy"}},
		{"same scenario twice", []string{"owner-isolation", "owner-isolation"}, []string{"both scenario owner-isolation"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "sweep")
			_, code, err := runSweep(t, context.Background(), append(tc.args, "--out", out)...)
			require.Error(t, err)
			assert.Equal(t, exitHarnessError, code)
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
			assert.NoDirExists(t, out, "bad input must be refused before the sweep directory is made")
		})
	}
}

// TestSweepRecordsAndResumes: every run gets its own directory and record;
// a second sweep over the same directory skips what is recorded and runs
// again what ended in a harness error.
func TestSweepRecordsAndResumes(t *testing.T) {
	out := t.TempDir()
	failOnce := true
	calls := fakeRuns(t, func(ctx context.Context, opt scenario.RunOptions) (result.Verdict, error) {
		if opt.SelfFence && opt.Plan.Seed == 2 && failOnce {
			failOnce = false
			return result.Verdict{}, errors.New("scenario: harness error: port in use")
		}
		return byArm(ctx, opt)
	})
	args := []string{"stale-bootstrap-in-flight", "--seeds", "2", "--seed-start", "1", "--backend", "toxiproxy",
		"--arms", "epoch,off,epoch+self-fence", "--out", out}

	stdout, code, _ := runSweep(t, context.Background(), args...)
	assert.Equal(t, exitFail, code, "a harness error misses the bar")
	require.Len(t, *calls, 6)
	assert.Equal(t, filepath.Join(out, "stale-bootstrap-in-flight", "toxiproxy", "seed-1", "epoch+self-fence"), (*calls)[2].Dir)
	assert.Equal(t, "toxiproxy", (*calls)[2].Backend)
	assert.True(t, (*calls)[2].SelfFence)
	assert.Equal(t, fencing.Off, (*calls)[1].Policy)
	assert.Contains(t, stdout, "[2/6] stale-bootstrap-in-flight toxiproxy seed 1 off: fail [completeness] (")
	assert.Contains(t, stdout, "[6/6] stale-bootstrap-in-flight toxiproxy seed 2 epoch+self-fence: error (")
	assert.Contains(t, stdout, "ETA 00:00:00)")
	assert.Contains(t, stdout, "port in use")
	assert.Contains(t, stdout, "misses its bar: epoch+self-fence: 1 of 2 runs ended in a harness error")

	sf := readSweepFile(t, out)
	require.Len(t, sf.Runs, 6)
	r := sf.Runs[1]
	assert.Equal(t, scenario.SweepRun{Scenario: "stale-bootstrap-in-flight", Backend: "toxiproxy", Seed: 1, Arm: "off",
		Dir: "stale-bootstrap-in-flight/toxiproxy/seed-1/off", Outcome: result.Fail, Violated: []string{"completeness"},
		Expect: scenario.Expect{On: "pass", Off: "fail"}, Expected: "fail", Met: true, DurationMs: r.DurationMs}, r)
	assert.Equal(t, scenario.OutcomeError, sf.Runs[5].Outcome)
	require.Len(t, sf.Matrix, 1)
	assert.False(t, sf.Matrix[0].MeetsBar)

	html, err := os.ReadFile(filepath.Join(out, sweepHTML))
	require.NoError(t, err)
	assert.Contains(t, string(html), `<a href="stale-bootstrap-in-flight/toxiproxy/seed-1/off/report.html">report</a>`)
	assert.Contains(t, string(html), "caught by <code>completeness</code>")
	assert.Contains(t, string(html), `<a href="stale-bootstrap-in-flight/toxiproxy/seed-2/epoch&#43;self-fence/">run directory</a>`)

	*calls = nil
	stdout, code, _ = runSweep(t, context.Background(), args...)
	assert.Equal(t, exitPass, code)
	require.Len(t, *calls, 1, "only the run that ended in a harness error runs again")
	assert.True(t, (*calls)[0].SelfFence)
	assert.Contains(t, stdout, "5 of 6 runs already recorded, skipped; 1 to run (1 again")
	assert.Contains(t, stdout, "[1/6] stale-bootstrap-in-flight toxiproxy seed 1 epoch: pass (recorded earlier, skipped)")
	assert.Contains(t, stdout, "stale-bootstrap-in-flight on toxiproxy meets its bar")
	assert.Contains(t, stdout, "fencing off caught by: completeness ×2")
	assert.Len(t, readSweepFile(t, out).Runs, 6)
}

// TestSweepInterrupted: Ctrl-C during a run records nothing for it, keeps
// what finished, exits 3, and the next sweep picks up from there.
func TestSweepInterrupted(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := fakeRuns(t, func(ctx context.Context, opt scenario.RunOptions) (result.Verdict, error) {
		if opt.Plan.Seed == 2 && opt.Policy == fencing.Epoch {
			cancel() // as Ctrl-C would, mid-run: scenario.Run then ends inconclusive
			return result.Verdict{Outcome: result.Inconclusive, Reasons: []string{"run interrupted"}}, nil
		}
		return byArm(ctx, opt)
	})
	args := []string{"stale-bootstrap-in-flight", "--seeds", "3", "--backend", "netns", "--out", out}

	stdout, code, err := runSweep(t, ctx, args...)
	assert.Equal(t, exitInconclusive, code)
	assert.ErrorContains(t, err, "run it again with --out "+out+" to resume")
	assert.Len(t, *calls, 3, "nothing runs after the interrupt")
	assert.Contains(t, stdout, "[3/6] stale-bootstrap-in-flight netns seed 2 epoch: interrupted after")
	sf := readSweepFile(t, out)
	require.Len(t, sf.Runs, 2)
	assert.FileExists(t, filepath.Join(out, sweepHTML))

	*calls = nil
	calls = fakeRuns(t, byArm)
	_, code, _ = runSweep(t, context.Background(), args...)
	assert.Equal(t, exitPass, code)
	require.Len(t, *calls, 4)
	assert.Equal(t, filepath.Join(out, "stale-bootstrap-in-flight", "netns", "seed-2", "epoch"), (*calls)[0].Dir)
	assert.Len(t, readSweepFile(t, out).Runs, 6)
}

// TestSweepParallel: with --parallel 2 two runs are in flight at once, every
// run is recorded once, and an interrupt stops new runs while the running
// ones tear down unrecorded.
func TestSweepParallel(t *testing.T) {
	out := t.TempDir()
	var (
		mu       sync.Mutex
		inFlight int
		both     = make(chan struct{})
		bothOnce sync.Once
	)
	calls := fakeRuns(t, func(ctx context.Context, opt scenario.RunOptions) (result.Verdict, error) {
		mu.Lock()
		inFlight++
		if inFlight == 2 {
			bothOnce.Do(func() { close(both) })
		}
		mu.Unlock()
		defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
		// The first two runs wait for each other: only a parallel sweep
		// gets past this.
		select {
		case <-both:
		case <-time.After(10 * time.Second):
			return result.Verdict{}, errors.New("no second run started beside this one")
		}
		return byArm(ctx, opt)
	})
	stdout, code, _ := runSweep(t, context.Background(), "owner-isolation", "--seeds", "3", "--backend", "toxiproxy",
		"--parallel", "2", "--out", out)
	assert.Equal(t, exitPass, code, "owner-isolation declares off either on toxiproxy")
	assert.Len(t, *calls, 6)
	assert.Contains(t, stdout, "= 6 runs in "+out+", 2 at a time")
	sf := readSweepFile(t, out)
	require.Len(t, sf.Runs, 6)
	seen := map[sweepKey]bool{}
	for _, r := range sf.Runs {
		assert.NotEqual(t, scenario.OutcomeError, r.Outcome, r.Error)
		seen[keyOf(r)] = true
	}
	assert.Len(t, seen, 6, "every run recorded once")
	// The runs share the sweep's Kafka, each with a topic of its own.
	assert.Contains(t, stdout, "kafka: one for every toxiproxy run")
	topics := map[string]bool{}
	for _, c := range *calls {
		assert.Equal(t, "external", c.Kafka.Provider)
		topics[c.Plan.Scenario.Topology.Changefeed] = true
	}
	assert.Len(t, topics, 6)
	assert.True(t, topics["cf1-owner-isolation-s2-off"], "topics: %v", topics)

	// Interrupted: both runs in flight see the cancel, neither is recorded,
	// nothing starts after them.
	out = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{}, 6)
	calls = fakeRuns(t, func(ctx context.Context, opt scenario.RunOptions) (result.Verdict, error) {
		started <- struct{}{}
		if len(started) == 2 {
			cancel()
		}
		<-ctx.Done()
		return result.Verdict{Outcome: result.Inconclusive, Reasons: []string{"run interrupted"}}, nil
	})
	stdout, code, _ = runSweep(t, ctx, "owner-isolation", "--seeds", "3", "--backend", "toxiproxy", "--parallel", "2", "--out", out)
	assert.Equal(t, exitInconclusive, code)
	assert.Len(t, *calls, 2, "nothing starts after the interrupt")
	assert.Equal(t, 2, strings.Count(stdout, "interrupted after"))
	assert.Empty(t, readSweepFile(t, out).Runs)
}

// TestSweepKafkaSharing: which sweeps share one Kafka, and why the others
// do not.
func TestSweepKafkaSharing(t *testing.T) {
	jobsOf := func(names ...string) []sweepJob {
		jobs, err := sweepJobs(names, 0, 1, 1, []string{"netns"}, []fencingArm{fencingArms[0]})
		require.NoError(t, err)
		return jobs
	}
	brokers, why := shareable(jobsOf(scenario.Names()[:8]...))
	assert.Equal(t, 1, brokers, why)
	_, why = shareable(jobsOf("owner-isolation", "connect-task-worker-kill"))
	assert.Equal(t, "connect-task-worker-kill is a debezium scenario", why)

	jobs := jobsOf("owner-isolation")
	jobs[0].scenario.Faults = append(jobs[0].scenario.Faults, scenario.FaultStep{Kind: scenario.KindKillRestart, Target: scenario.TargetKafka})
	_, why = shareable(jobs)
	assert.Equal(t, "owner-isolation has a fault on Kafka itself", why)
	jobs = append(jobsOf("owner-isolation"), jobsOf("owner-pause")...)
	jobs[1].scenario.Topology.KafkaBrokers = 3
	_, why = shareable(jobs)
	assert.Equal(t, "the scenarios ask for different numbers of Kafka brokers", why)

	// Two scenarios, same seeds and arms: still a topic each.
	jobs = ownChangefeeds(append(jobsOf("owner-isolation"), jobsOf("owner-kafka-cut")...))
	assert.Equal(t, "cf1-owner-isolation-s1-epoch", jobs[0].plan.Scenario.Topology.Changefeed)
	assert.Equal(t, "cf1-owner-kafka-cut-s1-epoch", jobs[1].plan.Scenario.Topology.Changefeed)
	long := jobsOf("owner-isolation")
	long[0].scenario.Name = strings.Repeat("x", scenario.MaxNameLen)
	long = ownChangefeeds(long)
	assert.Equal(t, "cf1-001", long[0].plan.Scenario.Topology.Changefeed)

	out := t.TempDir()
	calls := fakeRuns(t, byArm)
	stdout, _, _ := runSweep(t, context.Background(), "owner-isolation", "--seeds", "1", "--backend", "toxiproxy", "--kafka-per-run", "--out", out)
	assert.Contains(t, stdout, "kafka: one per run (--kafka-per-run)")
	require.Len(t, *calls, 2)
	assert.Equal(t, "local", (*calls)[0].Kafka.Provider)
	assert.Equal(t, scenario.DefaultChangefeed, (*calls)[0].Plan.Scenario.Topology.Changefeed)
}

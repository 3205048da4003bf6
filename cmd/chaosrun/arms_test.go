package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/reports/result"
	"github.com/chaosrun/chaosrun/scenario"
)

// TestArmNames checks the names, policies and sinks of every arm: the
// fencing part, then "+txn" for the transactional sink.
func TestArmNames(t *testing.T) {
	assert.Equal(t, []string{"epoch", "off", "epoch+self-fence", "epoch+txn", "off+txn", "epoch+self-fence+txn"}, armNames(fencingArms))
	assert.Equal(t, []string{"epoch", "off", "epoch+txn", "off+txn", "epoch+self-fence"}, armNames(matrixArms))
	offTxn := armOff.withSink(scenario.SinkTxn)
	assert.Equal(t, fencingArm{"off+txn", fencing.Off, false, scenario.SinkTxn}, offTxn)
	assert.Equal(t, armOff, offTxn.withSink(scenario.SinkIdempotent), "withSink renames a txn arm back")
	assert.Equal(t, fencingArm{"epoch+self-fence+txn", fencing.Epoch, true, scenario.SinkTxn}, armSelfFence.withSink(scenario.SinkTxn))

	arms, err := parseArms([]string{"off+txn", "epoch", "off+txn", "epoch+self-fence+txn"})
	require.NoError(t, err)
	assert.Equal(t, []string{"off+txn", "epoch", "epoch+self-fence+txn"}, armNames(arms), "in the order given, without repeats")
	assert.Equal(t, scenario.SinkTxn, arms[0].sink)
	assert.Equal(t, scenario.SinkIdempotent, arms[1].sink)
	_, err = parseArms([]string{"off+idempotent"})
	assert.ErrorContains(t, err, `unknown arm "off+idempotent" (want epoch, off, epoch+self-fence, epoch+txn, off+txn, epoch+self-fence+txn)`)

	e := scenario.Expect{On: scenario.ExpectPass, Off: scenario.ExpectFail}
	for _, a := range fencingArms {
		want := scenario.ExpectPass
		if a.policy == fencing.Off {
			want = scenario.ExpectFail
		}
		assert.Equal(t, want, e.For(a.name), "%s is judged by its fencing part", a.name)
	}
}

// TestSweepTxnArms runs a sweep with txn arms on fakes: each arm's sink
// reaches the run, over the scenario's; a debezium scenario refuses them.
func TestSweepTxnArms(t *testing.T) {
	out := t.TempDir()
	calls := fakeRuns(t, byArm)
	stdout, code, _ := runSweep(t, context.Background(), "stale-bootstrap-in-flight", "--seeds", "1", "--backend", "toxiproxy",
		"--arms", "epoch,off,epoch+txn,off+txn", "--out", out)
	assert.Equal(t, exitPass, code)
	require.Len(t, *calls, 4)
	var sinks []string
	for _, c := range *calls {
		sinks = append(sinks, c.Sink)
	}
	assert.Equal(t, []string{"idempotent", "idempotent", "txn", "txn"}, sinks)
	assert.Equal(t, fencing.Off, (*calls)[3].Policy)
	assert.Equal(t, filepath.Join(out, "stale-bootstrap-in-flight", "toxiproxy", "seed-1", "off+txn"), (*calls)[3].Dir)
	assert.Contains(t, stdout, "[4/4] stale-bootstrap-in-flight toxiproxy seed 1 off+txn: fail [completeness] (")
	sf := readSweepFile(t, out)
	require.Len(t, sf.Runs, 4)
	assert.Equal(t, "fail", sf.Runs[3].Expected)
	assert.True(t, sf.Runs[3].Met)

	fakeRuns(t, nil)
	dbz := filepath.Join(t.TempDir(), "sweep")
	_, code, err := runSweep(t, context.Background(), "connect-task-worker-isolation", "--arms", "epoch,off+txn", "--out", dbz)
	assert.Equal(t, exitHarnessError, code)
	assert.ErrorContains(t, err, "arm off+txn runs the txn sink of the cdc target; connect-task-worker-isolation is a debezium scenario")
	assert.NoDirExists(t, dbz)
}

// TestCompareMatrix runs compare --matrix on fakes: five arms of the same
// plan, each with its sink, side by side in compare.md; an off+txn arm that
// is not flagged misses the declaration.
func TestCompareMatrix(t *testing.T) {
	out := t.TempDir()
	offTxnPasses := false
	calls := fakeRuns(t, func(ctx context.Context, opt scenario.RunOptions) (result.Verdict, error) {
		if offTxnPasses && opt.Policy == fencing.Off && opt.Sink == scenario.SinkTxn {
			return result.Verdict{Outcome: result.Pass}, nil
		}
		return byArm(ctx, opt)
	})
	stdout, stderr, code := runCmd(t, "compare", "stale-bootstrap-in-flight", "--matrix", "--backend", "toxiproxy", "--out", out)
	assert.Equal(t, exitPass, code, stderr)
	require.Len(t, *calls, 5)
	var got []string
	for _, c := range *calls {
		got = append(got, filepath.Base(c.Dir)+" "+c.Policy.String()+" "+c.Sink)
		assert.Equal(t, (*calls)[0].Plan.Seed, c.Plan.Seed, "one plan")
	}
	assert.Equal(t, []string{"epoch epoch idempotent", "off off idempotent", "epoch+txn epoch txn", "off+txn off txn", "epoch+self-fence epoch idempotent"}, got)
	assert.True(t, (*calls)[4].SelfFence)
	assert.Contains(t, stdout, "== off+txn: running stale-bootstrap-in-flight")
	md, err := os.ReadFile(filepath.Join(out, "compare.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "| Measure | epoch | off | epoch+txn | off+txn | epoch+self-fence |")
	assert.Contains(t, string(md), "the harness met the scenario's declaration")

	*calls = nil
	offTxnPasses = true
	_, stderr, code = runCmd(t, "compare", "stale-bootstrap-in-flight", "--matrix", "--backend", "toxiproxy", "--out", t.TempDir())
	assert.Equal(t, exitFail, code)
	assert.Contains(t, stderr, "the verdicts did not match the scenario's declaration")
}

// TestCompareSinkArms: compare --sink txn runs both arms with the txn sink,
// named for it; --matrix refuses --sink, and a debezium scenario --matrix.
func TestCompareSinkArms(t *testing.T) {
	out := t.TempDir()
	calls := fakeRuns(t, byArm)
	_, stderr, code := runCmd(t, "compare", "owner-isolation", "--sink", "txn", "--backend", "toxiproxy", "--out", out)
	assert.Equal(t, exitPass, code, stderr)
	require.Len(t, *calls, 2)
	assert.Equal(t, filepath.Join(out, "epoch+txn"), (*calls)[0].Dir)
	assert.Equal(t, filepath.Join(out, "off+txn"), (*calls)[1].Dir)
	assert.Equal(t, scenario.SinkTxn, (*calls)[1].Sink)

	*calls = nil
	_, stderr, code = runCmd(t, "compare", "owner-isolation", "--backend", "toxiproxy", "--out", t.TempDir())
	assert.Equal(t, exitPass, code, stderr)
	require.Len(t, *calls, 2)
	assert.Equal(t, "off", filepath.Base((*calls)[1].Dir))
	assert.Equal(t, scenario.SinkIdempotent, (*calls)[1].Sink)

	fakeRuns(t, nil)
	_, stderr, code = runCmd(t, "compare", "owner-isolation", "--matrix", "--sink", "txn", "--out", t.TempDir())
	assert.Equal(t, exitHarnessError, code)
	assert.Contains(t, stderr, "--matrix runs both sinks (epoch, off, epoch+txn, off+txn, epoch+self-fence); drop --sink txn")
	_, stderr, code = runCmd(t, "compare", "connect-task-worker-isolation", "--matrix", "--out", t.TempDir())
	assert.Equal(t, exitHarnessError, code)
	assert.Contains(t, stderr, "--matrix adds self-fence and the txn sink, arms of the cdc target")
}

// TestCompareSharesKafka: compare's arms share one Kafka, each with a
// changefeed of its own and the same faults at the same times; with
// --kafka-per-run, or a scenario that cannot share, each arm starts its own.
func TestCompareSharesKafka(t *testing.T) {
	out := t.TempDir()
	calls := fakeRuns(t, byArm)
	stdout, stderr, code := runCmd(t, "compare", "stale-bootstrap-in-flight", "--backend", "toxiproxy", "--seed", "3", "--out", out)
	assert.Equal(t, exitPass, code, stderr)
	assert.Contains(t, stdout, "kafka: one for every arm")
	require.Len(t, *calls, 2)
	sc, ok := scenario.Lookup("stale-bootstrap-in-flight")
	require.True(t, ok)
	plan, err := sc.Plan(3)
	require.NoError(t, err)
	for i, arm := range []string{"epoch", "off"} {
		c := (*calls)[i]
		cf := "cf1-stale-bootstrap-in-flight-s3-" + arm
		assert.Equal(t, "external", c.Kafka.Provider, arm)
		assert.Equal(t, cf, c.Plan.Scenario.Topology.Changefeed, arm)
		require.Len(t, c.Plan.Steps, len(plan.Steps))
		for k, s := range c.Plan.Steps {
			assert.Equal(t, plan.Steps[k].At, s.At, "%s step %d: same time", arm, k)
			want := plan.Steps[k].Target
			if want == scenario.MaintainerOf(scenario.DefaultChangefeed) {
				want = scenario.MaintainerOf(cf)
			}
			assert.Equal(t, want, s.Target, "%s step %d follows the renamed changefeed", arm, k)
		}
	}
	assert.NoDirExists(t, compareKafkaDir(out), "the shared Kafka's directory goes with it")

	*calls = nil
	stdout, stderr, code = runCmd(t, "compare", "stale-bootstrap-in-flight", "--backend", "toxiproxy", "--kafka-per-run", "--out", t.TempDir())
	assert.Equal(t, exitPass, code, stderr)
	assert.Contains(t, stdout, "kafka: one per arm (--kafka-per-run)")
	require.Len(t, *calls, 2)
	assert.Equal(t, "local", (*calls)[1].Kafka.Provider)
	assert.Equal(t, scenario.DefaultChangefeed, (*calls)[1].Plan.Scenario.Topology.Changefeed)

	*calls = nil
	stdout, _, _ = runCmd(t, "compare", "connect-task-worker-kill", "--out", t.TempDir())
	assert.Contains(t, stdout, "kafka: one per arm (connect-task-worker-kill is a debezium scenario)")
	require.Len(t, *calls, 2)
	assert.Equal(t, "local", (*calls)[0].Kafka.Provider)
}

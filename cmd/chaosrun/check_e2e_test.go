package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/checker/rundir"
	"github.com/chaosrun/chaosrun/checker/tail"
	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/internal/proctest"
	"github.com/chaosrun/chaosrun/reports"
	"github.com/chaosrun/chaosrun/reports/result"
	"github.com/chaosrun/chaosrun/sink/kafka"
	"github.com/chaosrun/chaosrun/system/cluster"
	"github.com/chaosrun/chaosrun/workloads"
)

// TestCheckRealRun runs a short real cluster (Kafka, etcd, upstream, three
// nodes) under the append workload at 1000 rows/s for 10 s with the tailer
// running throughout, then checks the run directory in process and with the
// built binary:
//
//   - the checker counts exactly the records the topic holds by its
//     offsets (Σ high watermark − oldest offset);
//   - completeness passes with nothing missing;
//   - the checker's final lag matches the checkpoint lag the nodes report
//     (Prometheus chaosrun_checkpoint_lag_seconds) within one watermark
//     interval;
//   - `chaosrun check` writes result.json and the reports and exits 0, and
//     `chaosrun report` re-renders them.
//
// The lag is compared with the nodes' own gauge rather than with
// now − physical(global watermark) read from the tailer, because the gauge
// is an independent measurement (the maintainer's node's view of what it
// wrote), while the tailer feeds the checker itself. The gauge is refreshed
// once a second, so the test waits for a refresh and takes that instant as
// the end of the checked window; the two then measure the same instant and
// differ by at most the watermark in flight: the node counts a watermark
// once every partition acknowledged it, Kafka shows it from its append.
func TestCheckRealRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Kafka, etcd, upstream and three CDC node processes")
	}
	if os.Getenv(kafka.EnvLibs) == "" {
		libs, err := filepath.Abs(filepath.Join("..", "..", ".cache", "kafka", "libs"))
		require.NoError(t, err)
		t.Setenv(kafka.EnvLibs, libs)
	}
	bin := proctest.Build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := keptDir(t)
	log := testLog(t)
	c, err := cluster.Start(ctx, cluster.Spec{Dir: dir, Binary: bin, Nodes: 3, SessionTTL: 3 * time.Second, Logger: log})
	require.NoError(t, err)
	defer func() { assert.NoError(t, c.Close()) }()
	require.NoError(t, c.CreateChangefeed(ctx, "cf1", []string{"t1", "t2"}, 4))

	tl, err := tail.Start(ctx, tail.Config{Brokers: c.Brokers, Topic: "cf1", Dir: dir, Logger: log})
	require.NoError(t, err)
	defer func() { assert.NoError(t, tl.Close()) }()

	runAppendWorkload(ctx, t, c, dir)

	// The nodes' checkpoint lag, at the instant their gauge refreshes.
	at, gauge := checkpointLagRefresh(ctx, t, c)
	live, liveOK := tl.State().Lag(at)
	t.Logf("at %s: nodes' checkpoint lag %v; tailer's live lag %v (defined %v)", at.Format(time.StampMilli), gauge, live, liveOK)

	total := quiesceAndCount(ctx, t, c, tl, dir)
	res := checkInProcess(t, dir, at, total)
	assertFinalLag(t, dir, res, gauge)
	checkWithBinary(t, bin, dir, res, total)
}

// keptDir is the test's run directory: a temporary one, or, when
// CHAOSRUN_TEST_KEEP names a directory, a fresh one under it that outlives
// the test.
func keptDir(t *testing.T) string {
	t.Helper()
	d := os.Getenv("CHAOSRUN_TEST_KEEP")
	if d == "" {
		return t.TempDir()
	}
	dir := filepath.Join(d, t.Name())
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// runAppendWorkload runs the append workload on c at 1000 rows/s for 10 s,
// its history kept in dir.
func runAppendWorkload(ctx context.Context, t *testing.T, c *cluster.Cluster, dir string) {
	t.Helper()
	w, err := workloads.New("append", workloads.Options{Tables: 2})
	require.NoError(t, err)
	hist, err := workloads.CreateHistory(filepath.Join(dir, "history.jsonl"))
	require.NoError(t, err)
	var stats workloads.Stats
	require.NoError(t, workloads.Run(ctx, w, cluster.WorkloadStore{Client: c.Up},
		workloads.Config{Rate: 1000, Workers: 8, Duration: 10 * time.Second, History: hist, Stats: &stats}))
	require.NoError(t, hist.Close())
	_, ok, _, unknown, rows := stats.Snapshot()
	t.Logf("workload: %d ok, %d unknown, %d rows", ok, unknown, rows)
	require.Positive(t, ok)
}

// quiesceAndCount stops the nodes, drains the topic and returns how many
// records it holds by its offsets (Σ high watermark − oldest offset). It
// writes the epoch history and an empty fault timeline into dir for the
// checker, and closes tl and c.
func quiesceAndCount(ctx context.Context, t *testing.T, c *cluster.Cluster, tl *tail.Tailer, dir string) int64 {
	t.Helper()
	// The nodes stop together: one by one, each stop would hand the
	// changefeed to a survivor under a new epoch.
	var stops sync.WaitGroup
	for _, n := range c.Nodes {
		stops.Go(func() { n.Stop(5 * time.Second) })
	}
	stops.Wait()
	offs, err := tl.Drain(ctx)
	require.NoError(t, err)
	oldest, high, err := tail.TopicOffsets(ctx, c.Brokers, "cf1")
	require.NoError(t, err)
	var total int64
	for p, h := range high {
		total += h - oldest[p]
	}
	epochs, err := c.Store.EpochHistory(ctx, "cf1")
	require.NoError(t, err)
	writeJSON(t, filepath.Join(dir, evidence.EpochsFile), epochs)
	writeJSON(t, filepath.Join(dir, rundir.FaultsFile), []checker.FaultEvent{})
	require.NoError(t, tl.Close())
	require.NoError(t, c.Close())
	t.Logf("topic: %d records by offsets, tailer wrote %d (%d malformed); %d epochs", total, offs.Records, offs.Malformed, len(epochs))
	return total
}

// checkInProcess checks dir up to end and requires every record of the
// topic counted, nothing missing and a pass.
func checkInProcess(t *testing.T, dir string, end time.Time, total int64) *result.Result {
	t.Helper()
	// NB: a node that stops a moment before the others can still hand the
	// changefeed over, and the old epoch's last in-flight rows then land
	// after the new grant: a shutdown artefact, tolerated here.
	slos := checker.SLOs{L: 2 * time.Second, W: 5 * time.Second, RecoveryBound: 30 * time.Second, AllowedZombie: 2 * time.Second}
	res, err := rundir.CheckRunDir(dir, slos, rundir.Info{Run: checker.RunInfo{Scenario: "check-real-run", FencingMode: "epoch"}, Changefeed: "cf1", End: end})
	require.NoError(t, err)
	require.Equal(t, total, res.Counters.Records, "checker's records vs the topic's offsets")
	comp, _ := res.Invariant(result.Completeness)
	require.Equal(t, result.StatusPass, comp.Status, "%s %+v", comp.Summary, comp.Examples)
	require.Zero(t, res.Counters.Missing)
	require.Equal(t, result.Pass, res.Verdict.Outcome, "%+v", res.Verdict)
	t.Logf("stale epochs: %+v", res.StaleEpochs)
	return res
}

// assertFinalLag compares the checker's final lag with the nodes' checkpoint
// lag gauge read at the end of the checked window: they may differ by the
// watermark in flight.
func assertFinalLag(t *testing.T, dir string, res *result.Result, gauge time.Duration) {
	t.Helper()
	interval := watermarkInterval(t, dir)
	require.True(t, res.Lag.FinalDefined)
	final := time.Duration(res.Lag.FinalLagMs) * time.Millisecond
	t.Logf("checker's final lag %v, nodes' %v, watermark interval %v, latency p50 %dms p99 %dms",
		final, gauge, interval, res.Latency.P50Ms, res.Latency.P99Ms)
	// NB: the refresh instant is known to one scrape poll (20 ms) plus the
	// scrape itself.
	assert.InDelta(t, gauge.Seconds(), final.Seconds(), (interval + 50*time.Millisecond).Seconds(),
		"final lag %v vs checkpoint lag %v, watermark interval %v", final, gauge, interval)
}

// checkWithBinary checks dir again with the built binary, as a user would,
// and re-renders its reports with chaosrun report.
func checkWithBinary(t *testing.T, bin, dir string, res *result.Result, total int64) {
	t.Helper()
	require.NoError(t, reports.WriteDir(dir, res))
	for _, f := range reportFiles {
		require.NoError(t, os.Remove(filepath.Join(dir, f)))
	}
	// Without result.json the window is the whole dump; the verdict holds.
	out, code := runBinary(t, bin, "check", "--slo-zombie", "2s", dir)
	require.Equal(t, exitPass, code, out)
	assert.Contains(t, out, "verdict: pass")
	for _, f := range reportFiles {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	stored := readResult(t, dir)
	assert.Equal(t, total, stored.Counters.Records)
	junit, err := os.ReadFile(filepath.Join(dir, reports.JUnitFile))
	require.NoError(t, err)
	assert.Contains(t, string(junit), result.Completeness)

	require.NoError(t, os.Remove(filepath.Join(dir, reports.HTMLFile)))
	out, code = runBinary(t, bin, "report", dir)
	require.Equal(t, exitPass, code, out)
	assert.FileExists(t, filepath.Join(dir, reports.HTMLFile))
}

// checkpointLagRefresh polls every node's /metrics until the lowest
// chaosrun_checkpoint_lag_seconds (the node writing watermarks reports the
// freshest) changes, and returns when it was seen and its value.
func checkpointLagRefresh(ctx context.Context, t *testing.T, c *cluster.Cluster) (time.Time, time.Duration) {
	t.Helper()
	scrape := func() (float64, bool) {
		best, found := math.Inf(1), false
		for _, n := range c.Nodes {
			v, ok := gaugeValue(ctx, n.Ready["metrics"], "chaosrun_checkpoint_lag_seconds")
			if ok && v < best {
				best, found = v, true
			}
		}
		return best, found
	}
	first, ok := scrape()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		v, okNow := scrape()
		now := time.Now()
		switch {
		case okNow && !ok:
			first, ok = v, true
		case okNow && v != first:
			return now, time.Duration(v * float64(time.Second))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("scraping the checkpoint lag: %v", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no node refreshed chaosrun_checkpoint_lag_seconds within 30 s")
	return time.Time{}, 0
}

// gaugeValue reads one unlabelled-by-us gauge from a Prometheus text
// endpoint (the first series of that name).
func gaugeValue(ctx context.Context, addr, name string) (float64, bool) {
	if addr == "" {
		return 0, false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err == nil {
			return v, true
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return 0, false
}

// watermarkInterval is the median time between consecutive watermark
// broadcasts in the dump (partition 0).
func watermarkInterval(t *testing.T, dir string) time.Duration {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, rundir.SinkRecordsFile))
	require.NoError(t, err)
	defer f.Close()
	var ats []time.Time
	require.NoError(t, checker.ReadDump(f, func(r checker.Record) error {
		if r.Kind == checker.KindWatermark && r.Partition == 0 {
			ats = append(ats, r.AppendTime)
		}
		return nil
	}))
	require.Greater(t, len(ats), 2, "too few watermarks")
	gaps := make([]time.Duration, 0, len(ats)-1)
	for i := 1; i < len(ats); i++ {
		gaps = append(gaps, ats[i].Sub(ats[i-1]))
	}
	slices.Sort(gaps)
	return gaps[len(gaps)/2]
}

// runBinary runs the built chaosrun and returns its combined output and
// exit status.
func runBinary(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return outputAndStatus(t, exec.CommandContext(ctx, bin, args...))
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
}

func readResult(t *testing.T, dir string) *result.Result {
	t.Helper()
	r, err := result.ReadDir(dir)
	require.NoError(t, err)
	return r
}

// testLog sends slog output at Warn and above to the test's output.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

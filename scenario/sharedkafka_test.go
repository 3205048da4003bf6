package scenario_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/chaos"
	"github.com/chaosrun/chaosrun/reports/result"
	"github.com/chaosrun/chaosrun/scenario"
)

// TestSharedKafkaNetns runs, through the chaosrun binary, a sweep of two
// scenarios at once on one shared Kafka: owner-kafka-cut, whose cut of the
// owner's Kafka link must take effect across the share, and owner-isolation.
// Both pass with fencing on, each on a topic of its own, and the sweep
// leaves no process, namespace or Kafka directory behind.
func TestSharedKafkaNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the netns backend needs root")
	}
	bin := e2e(t)
	dir := t.TempDir()
	out, err := exec.Command(bin, "sweep", "owner-kafka-cut", "owner-isolation", "--seeds", "1", "--arms", "epoch",
		"--backend", "netns", "--parallel", "2", "--out", dir).CombinedOutput()
	t.Logf("chaosrun sweep:\n%s", out)
	require.NoError(t, err)
	assert.Contains(t, string(out), "kafka: one for every netns run")

	runs := []string{runIDOf(t, filepath.Join(dir, "kafka-netns"), string(out))}
	topics := map[string]bool{}
	for _, name := range []string{"owner-kafka-cut", "owner-isolation"} {
		run := filepath.Join(dir, name, "netns", "seed-1", "epoch")
		var res result.Result
		b, err := os.ReadFile(filepath.Join(run, "result.json"))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &res))
		assert.Equal(t, result.Pass, res.Verdict.Outcome, "%s: violated %v, reasons %v", name, res.Verdict.Violated, res.Verdict.Reasons)
		require.NotEmpty(t, res.Faults, name)
		assert.True(t, res.Faults[0].Effective, "%s: the cut took effect", name)
		assert.Zero(t, res.Counters.Missing, name)
		assert.Positive(t, res.Counters.Rows, name)
		p, err := scenario.LoadPlan(filepath.Join(run, "plan.json"))
		require.NoError(t, err)
		topics[p.Scenario.Topology.Changefeed] = true
		assert.Empty(t, leftovers(t, run), "%s: processes left behind", name)
		runs = append(runs, runIDOf(t, run, ""))
	}
	assert.Len(t, topics, 2, "a topic each")
	assert.NoDirExists(t, filepath.Join(dir, "kafka-netns"))
	assert.Empty(t, leftovers(t, dir), "the shared Kafka's brokers are gone")
	ns, err := exec.Command("ip", "netns", "list").Output()
	require.NoError(t, err)
	for _, run := range runs {
		assert.NotContains(t, string(ns), "cr-"+run+"-", "namespaces of %s left", run)
	}
}

// runIDOf returns the run id of a run directory's ledger or, for the shared
// Kafka whose directory is gone, of the sweep's "kafka:" line.
func runIDOf(t *testing.T, dir, sweepOut string) string {
	t.Helper()
	if sweepOut != "" {
		m := regexp.MustCompile(`on cr-([a-z0-9]{6})-kafka`).FindStringSubmatch(sweepOut)
		require.NotNil(t, m, "the sweep names the shared Kafka's namespace")
		return m[1]
	}
	b, err := os.ReadFile(filepath.Join(dir, chaos.LedgerFile))
	require.NoError(t, err)
	var e chaos.Entry
	require.NoError(t, json.Unmarshal(b[:bytes.IndexByte(b, '\n')], &e))
	require.NotEmpty(t, e.Run)
	return e.Run
}

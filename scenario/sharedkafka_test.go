package scenario_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/chaos"
	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/reports/result"
	"github.com/chaosrun/chaosrun/scenario"
)

// TestSharedKafkaNetns runs two scenarios at once on one shared Kafka, as a
// sweep with --parallel 2 does: owner-kafka-cut, whose cut of the owner's
// Kafka link must take effect across the share, and owner-isolation. Both
// pass with fencing on, each on its own topic, and closing the shared
// Kafka leaves no namespace of it.
func TestSharedKafkaNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the netns backend needs root")
	}
	bin := e2e(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	k, err := scenario.StartSharedKafka(ctx, chaos.BackendNetns, filepath.Join(dir, "kafka"), 1, nil)
	require.NoError(t, err)
	var probe scenario.RunOptions
	k.Apply(&probe)
	require.NotNil(t, probe.KafkaNetns)
	defer func() { assert.NoError(t, k.Close(context.Background())) }()

	names := []string{"owner-kafka-cut", "owner-isolation"}
	outs := make([]scenario.RunSummary, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		sc, ok := scenario.Lookup(name)
		require.True(t, ok)
		plan, err := sc.WithChangefeed("cf-" + name).Plan(sc.Seed)
		require.NoError(t, err)
		opt := scenario.RunOptions{Plan: plan, Dir: filepath.Join(dir, name), Backend: chaos.BackendNetns, Policy: fencing.Epoch, Binary: bin}
		k.Apply(&opt)
		wg.Go(func() { outs[i], errs[i] = scenario.Run(ctx, opt) })
	}
	wg.Wait()
	for i, name := range names {
		require.NoError(t, errs[i], name)
		o := outs[i]
		require.NotNil(t, o.Result, name)
		require.NotEmpty(t, o.Result.Faults, name)
		assert.True(t, o.Result.Faults[0].Effective, "%s: the cut took effect", name)
		assert.Equal(t, result.Pass, o.Verdict.Outcome, "%s: violated %v, reasons %v", name, o.Verdict.Violated, o.Verdict.Reasons)
		assert.Zero(t, o.Result.Counters.Missing, name)
		assert.Positive(t, o.Result.Counters.Rows, name)
		assert.Empty(t, leftovers(t, o.Dir), "%s: processes left behind", name)
	}

	require.NoError(t, k.Close(ctx))
	out, err := exec.Command("ip", "netns", "list").Output()
	require.NoError(t, err)
	assert.NotContains(t, string(out), strings.TrimSuffix(probe.KafkaNetns.Name, "-kafka"), "the shared Kafka's namespaces are gone")
	assert.Empty(t, leftovers(t, filepath.Join(dir, "kafka")), "the shared Kafka's brokers are gone")
}

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/internal/proctest"
	"github.com/chaosrun/chaosrun/sink/kafka"
)

// TestSoakBadInput: bad flags are refused with exit 2 before anything is
// seeded or started.
func TestSoakBadInput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "soak")
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"soak", "--runs", "-1", "--out", out}, "--runs and --duration must not be negative"},
		{[]string{"soak", "--signal-min", "10s", "--signal-max", "5s", "--out", out}, "want 0 < --signal-min <= --signal-max"},
		{[]string{"soak", "--kinds", "sigterm", "--out", out}, "--kinds wants some of clean, sigint, sigkill"},
	} {
		_, errOut, code := runCmd(t, tc.args...)
		assert.Equal(t, exitHarnessError, code, tc.args)
		assert.Contains(t, errOut, tc.msg, tc.args)
	}
	assert.NoDirExists(t, out)
}

// TestSoakTable checks the summary: runs by kind, and that any leftover,
// foreign change or lost write makes the soak fail.
func TestSoakTable(t *testing.T) {
	dir := t.TempDir()
	runs := []soakRun{
		{N: 1, Kind: soakClean, Scenario: "owner-isolation", Seed: 1, Verdict: "pass", Dups: 12},
		{N: 2, Kind: soakSIGINT, Scenario: "owner-isolation", Seed: 2, SignalAt: "7s", Exit: 3},
		{N: 3, Kind: soakSIGKILL, Scenario: "owner-isolation", Seed: 3, SignalAt: "9s", Exit: 137},
	}
	var out bytes.Buffer
	ok, err := writeSoak(dir, runs, &out)
	require.NoError(t, err)
	assert.True(t, ok)
	md, err := os.ReadFile(filepath.Join(dir, "soak.md"))
	require.NoError(t, err)
	for _, line := range []string{
		"| clean | 1 | 1 | 0 | 0 | 0 | 12 |",
		"| sigint | 1 | 0 | 0 | 0 | 0 | 0 |",
		"| sigkill | 1 | 0 | 0 | 0 | 0 | 0 |",
		"| total | 3 | 1 | 0 | 0 | 0 | 12 |",
		"| 3 | sigkill | owner-isolation | 3 | 9s | 137 | — | 0 | 0 | — |",
	} {
		assert.Contains(t, string(md), line)
	}
	assert.FileExists(t, filepath.Join(dir, "soak.json"))

	for _, bad := range []soakRun{
		{N: 4, Kind: soakClean, Leftovers: []string{"+ netns: cr-x-n1"}},
		{N: 4, Kind: soakClean, Foreign: []string{"host chain SOAK-FOREIGN-1 changed"}},
		{N: 4, Kind: soakClean, Verdict: "fail", Lost: 1},
	} {
		ok, err := writeSoak(t.TempDir(), append(runs[:3:3], bad), &out)
		require.NoError(t, err)
		assert.False(t, ok, "%+v", bad)
	}
}

// TestSoakAuditBites is the soak's own negative control: a harness killed
// with SIGKILL and not cleaned up must show as leftovers (its namespaces
// and rules) and fail the soak. Root only; `chaosrun clean` removes what the
// killed run left.
func TestSoakAuditBites(t *testing.T) {
	if testing.Short() {
		t.Skip("an end-to-end run")
	}
	if os.Geteuid() != 0 {
		t.Skip("soak needs root")
	}
	bin := proctest.Build(t)
	if os.Getenv(kafka.EnvLibs) == "" {
		libs, _ := filepath.Abs(filepath.Join("..", "..", ".cache", "kafka", "libs"))
		t.Setenv(kafka.EnvLibs, libs)
	}
	out := filepath.Join(t.TempDir(), "soak")
	cmd := exec.Command(bin, "soak", "--runs", "1", "--kinds", "sigkill", "--no-clean", "--backend", "netns",
		"--signal-min", "20s", "--signal-max", "20s", "--out", out)
	stdout, code := outputAndStatus(t, cmd)
	t.Cleanup(func() {
		runs, _ := filepath.Glob(filepath.Join(out, "run-*-sigkill"))
		for _, r := range runs {
			_ = exec.Command(bin, "clean", r).Run()
		}
	})
	assert.Equal(t, exitFail, code, stdout)
	// The killed run's namespaces carry its run id (its ledger's first
	// line), so these leftovers are its own whatever else runs meanwhile.
	// Its processes died with it (Pdeathsig); its namespaces and rules stay.
	ledger, err := os.ReadFile(filepath.Join(out, "run-001-sigkill", "faults.ledger.jsonl"))
	require.NoError(t, err)
	var first struct{ Run string }
	require.NoError(t, json.Unmarshal(bytes.SplitN(ledger, []byte("\n"), 2)[0], &first))
	require.NotEmpty(t, first.Run)
	assert.Contains(t, stdout, "leftover: + netns: cr-"+first.Run+"-hub", "the killed run's namespaces are flagged")
	assert.Contains(t, stdout, `--comment "chaosrun:`+first.Run+`:jump"`, "and its rules")
	assert.Contains(t, stdout, "foreign untouched")
}

package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/checker/rundir"
	"github.com/chaosrun/chaosrun/checker/rundir/rundirtest"
	"github.com/chaosrun/chaosrun/reports"
	"github.com/chaosrun/chaosrun/reports/result"
)

// runCmd runs the chaosrun command tree in process and returns its stdout,
// stderr (including the error main would print) and exit status.
func runCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stdout, stderr, err := execute(ctx, args...)
	if err != nil {
		stderr += "chaosrun: " + err.Error() + "\n"
	}
	return stdout, stderr, exitCode(err)
}

func runDir(t *testing.T, o rundirtest.Options) string {
	t.Helper()
	dir := t.TempDir()
	rundirtest.Write(t, dir, o)
	return dir
}

var reportFiles = []string{result.FileName, reports.MarkdownFile, reports.HTMLFile, reports.JUnitFile}

func TestCheckAndReportExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    rundirtest.Options
		code    int
		verdict string
	}{
		{"pass", rundirtest.Options{}, exitPass, "verdict: pass"},
		{"fail", rundirtest.Options{Drop: 30}, exitFail, "verdict: fail (violated: completeness)"},
		{"inconclusive", rundirtest.Options{Ineffective: true}, exitInconclusive, "verdict: inconclusive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := runDir(t, tc.opts)
			out, errOut, code := runCmd(t, "check", dir)
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			assert.Contains(t, out, tc.verdict)
			for _, f := range reportFiles {
				assert.FileExists(t, filepath.Join(dir, f))
			}

			for _, f := range reportFiles[1:] {
				require.NoError(t, os.Remove(filepath.Join(dir, f)))
			}
			out, errOut, code = runCmd(t, "report", dir)
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			assert.Contains(t, out, tc.verdict[:len("verdict: ")+4])
			for _, f := range reportFiles {
				assert.FileExists(t, filepath.Join(dir, f))
			}
		})
	}
}

func TestCheckBadRunDirs(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-run")
	_, errOut, code := runCmd(t, "check", missing)
	assert.Equal(t, exitHarnessError, code)
	assert.Contains(t, errOut, "does not exist")

	_, errOut, code = runCmd(t, "check", t.TempDir())
	assert.Equal(t, exitHarnessError, code)
	assert.Contains(t, errOut, "no "+rundir.SinkRecordsFile)

	dir := runDir(t, rundirtest.Options{})
	// One complete record that is not protobuf (field 1, wire type 7).
	require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.SinkRecordsFile), []byte{2, 0x0f, 0}, 0o644))
	_, errOut, code = runCmd(t, "check", dir)
	assert.Equal(t, exitHarnessError, code)
	assert.Contains(t, errOut, "record 1")
	assert.NoFileExists(t, filepath.Join(dir, result.FileName), "nothing is written on an input error")

	_, errOut, code = runCmd(t, "check", "--bank", "nodot", runDir(t, rundirtest.Options{}))
	assert.Equal(t, exitHarnessError, code)
	assert.Contains(t, errOut, "--bank wants")

	_, _, code = runCmd(t, "check")
	assert.Equal(t, exitHarnessError, code, "the run directory is required")
}

func TestReportBadRunDirs(t *testing.T) {
	_, errOut, code := runCmd(t, "report", filepath.Join(t.TempDir(), "nope"))
	assert.Equal(t, exitHarnessError, code)
	assert.Contains(t, errOut, "not a run directory")

	dir := runDir(t, rundirtest.Options{})
	_, errOut, code = runCmd(t, "report", dir)
	assert.Equal(t, exitHarnessError, code)
	assert.Contains(t, errOut, "run `chaosrun check")

	require.NoError(t, os.WriteFile(filepath.Join(dir, result.FileName), []byte(`{"schema_version": 99}`), 0o644))
	_, errOut, code = runCmd(t, "report", dir)
	assert.Equal(t, exitHarnessError, code)
	assert.Contains(t, errOut, "unsupported schema version")
}

// TestCheckKeepsEarlierSettings re-checks a run: the SLOs and run identity
// of the earlier result.json stay unless a flag overrides them, and an
// unreadable earlier result is reported and ignored.
func TestCheckKeepsEarlierSettings(t *testing.T) {
	dir := runDir(t, rundirtest.Options{})
	_, _, code := runCmd(t, "check", "--slo-lag", "3s", "--slo-zombie", "250ms", dir)
	require.Equal(t, exitPass, code)
	first := readResult(t, dir)
	assert.EqualValues(t, 3000, first.SLOs.LagMs)

	_, _, code = runCmd(t, "check", "--slo-window", "7s", dir)
	require.Equal(t, exitPass, code)
	second := readResult(t, dir)
	assert.EqualValues(t, 3000, second.SLOs.LagMs, "kept")
	assert.EqualValues(t, 250, second.SLOs.AllowedZombieMs, "kept")
	assert.EqualValues(t, 7000, second.SLOs.StableMs, "overridden")
	assert.Equal(t, first.Timings.Start, second.Timings.Start)

	require.NoError(t, os.WriteFile(filepath.Join(dir, result.FileName), []byte("{"), 0o644))
	_, errOut, code := runCmd(t, "check", dir)
	require.Equal(t, exitPass, code)
	assert.Contains(t, errOut, "ignoring the earlier result.json")
	assert.EqualValues(t, defaultSLOLag.Milliseconds(), readResult(t, dir).SLOs.LagMs)
}

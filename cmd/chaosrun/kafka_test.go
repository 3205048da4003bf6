package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runSelf runs this test binary as the chaosrun command with args.
func runSelf(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKafkaCmdHelper$")
	cmd.Env = append(append(os.Environ(), "CHAOSRUN_TEST_MAIN=1", "CHAOSRUN_TEST_ARGS="+strings.Join(args, "\x1f")), env...)
	return outputAndStatus(t, cmd)
}

// TestKafkaCmdHelper is not a test: runSelf runs main through it.
func TestKafkaCmdHelper(t *testing.T) {
	if os.Getenv("CHAOSRUN_TEST_MAIN") != "1" {
		t.Skip("helper process for the kafka command tests")
	}
	os.Args = append([]string{"chaosrun"}, strings.Split(os.Getenv("CHAOSRUN_TEST_ARGS"), "\x1f")...)
	main()
}

func TestKafkaCmdBadInputs(t *testing.T) {
	dir := t.TempDir()
	out, code := runSelf(t, []string{"CHAOSRUN_KAFKA_LIBS=" + t.TempDir()}, "kafka", "--dir", dir)
	assert.Equal(t, exitHarnessError, code, out)
	assert.Contains(t, out, "run `make kafka-jars`")

	out, code = runSelf(t, nil, "kafka", "--brokers", "2", "--dir", dir)
	assert.Equal(t, exitHarnessError, code, out)
	assert.Contains(t, out, "--brokers must be 1 or 3")

	// Nothing was started, so nothing can be left behind.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
	pgrep, err := exec.LookPath("pgrep")
	require.NoError(t, err, "pgrep (procps) is needed")
	err = exec.Command(pgrep, "-f", dir).Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "a process with %s on its command line exists", dir)
	assert.Equal(t, 1, ee.ExitCode())
}

// TestKafkaCmdRunsUntilInterrupted starts a one-broker cluster through the
// command, reads the bootstrap line, interrupts it as Ctrl-C would, and
// checks it exits 0 with no broker left.
func TestKafkaCmdRunsUntilInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Kafka broker; skipped with -short")
	}
	libs := os.Getenv("CHAOSRUN_KAFKA_LIBS")
	if libs == "" {
		libs, _ = filepath.Abs(filepath.Join("..", "..", ".cache", "kafka", "libs"))
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKafkaCmdHelper$")
	cmd.Env = append(os.Environ(), "CHAOSRUN_TEST_MAIN=1", "CHAOSRUN_KAFKA_LIBS="+libs,
		"CHAOSRUN_TEST_ARGS="+strings.Join([]string{"kafka", "--dir", dir}, "\x1f"))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = t.Output()
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill() }()

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "bootstrap=") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		require.True(t, ok, "the command ended without printing its bootstrap list")
		assert.Regexp(t, `^bootstrap=127\.0\.0\.1:\d+$`, line)
	case <-time.After(2 * time.Minute):
		t.Fatal("no bootstrap line within 2 minutes")
	}
	require.NoError(t, exec.Command("pgrep", "-f", dir).Run(), "the broker runs")

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait(), "exit status after Ctrl-C")
	err = exec.Command("pgrep", "-f", dir).Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "a process with %s on its command line is left", dir)
	assert.Equal(t, 1, ee.ExitCode())
}

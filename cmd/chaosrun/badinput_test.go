package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBadInputTable runs chaosrun (this test binary, through
// TestKafkaCmdHelper) on each kind of bad input a first run meets, and
// checks every row the same way: exit status 2, one line on stderr that
// names the problem (and, where there is one, the command that fixes it),
// and nothing left behind: no run directory, no process with the row's
// directory on its command line, and so no network namespace.
func TestBadInputTable(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer held.Close()
	corrupt := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(corrupt, "sink-records.pb"), []byte{2, 0x0f, 0}, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(corrupt, "plan.json"), []byte("{"), 0o644))

	for _, tc := range []struct {
		name   string
		env    []string
		asUser string // run as this user instead of root
		args   []string
		want   string
	}{
		{name: "missing Kafka jars", env: []string{"CHAOSRUN_KAFKA_LIBS=" + t.TempDir()},
			args: []string{"run", "owner-isolation"}, want: "run `make kafka-jars`"},
		{name: "missing Kafka jars (kafka)", env: []string{"CHAOSRUN_KAFKA_LIBS=" + t.TempDir()},
			args: []string{"kafka"}, want: "run `make kafka-jars`"},
		{name: "no Docker engine", env: []string{"DOCKER_HOST=unix://" + filepath.Join(t.TempDir(), "no.sock")},
			args: []string{"run", "owner-isolation", "--kafka", "testcontainers"}, want: "no Docker engine (run `make deps`"},
		{name: "no root for netns", asUser: "nobody",
			args: []string{"run", "owner-isolation", "--backend", "netns"}, want: "backend netns needs root; use --backend toxiproxy"},
		{name: "port in use",
			args: []string{"node", "--id", "n1", "--listen", held.Addr().String(), "--meta", "http://127.0.0.1:1", "--upstream", "127.0.0.1:1", "--kafka", "127.0.0.1:1"},
			want: "address already in use"},
		{name: "unreachable bootstrap",
			args: []string{"run", "owner-isolation", "--kafka", "external", "--bootstrap", "127.0.0.1:1"}, want: "bootstrap brokers unreachable"},
		{name: "corrupt run directory", args: []string{"check", corrupt}, want: "record 1"},
		{name: "unknown scenario", args: []string{"run", "owner-isolatoin"}, want: "owner-isolatoin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(exeDir(t), "run")
			args := tc.args
			switch args[0] {
			case "run":
				args = append(args, "--out", dir)
			case "kafka", "node":
				args = append(args, "--dir", dir)
			}
			stderr, code := runChaosrun(t, tc.asUser, tc.env, args...)
			assert.Equal(t, exitHarnessError, code, stderr)
			line := strings.TrimSuffix(stderr, "\n")
			assert.NotContains(t, line, "\n", "one line on stderr")
			assert.Contains(t, line, tc.want)
			// NB: a run records every namespace, link and rule in its
			// ledger, under dir, before it makes it, so no dir means no
			// namespace either. (Comparing the host's namespaces before and
			// after raced with other packages' tests making theirs.)
			assert.NoDirExists(t, dir, "nothing is created on bad input")
			assert.False(t, processWith(t, dir), "a process with %s on its command line is left", dir)
		})
	}
}

// exeDir returns a fresh directory everyone may enter, as the run's
// parent: a row that runs as another user needs that.
func exeDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	require.NoError(t, os.Chmod(d, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(d), 0o755))
	return d
}

// runChaosrun runs main in a child process (as user asUser through setpriv
// when set, from a copy of the test binary that user may execute) and
// returns its stderr and exit status.
func runChaosrun(t *testing.T, asUser string, env []string, args ...string) (string, int) {
	t.Helper()
	exe := os.Args[0]
	var argv []string
	if asUser != "" {
		if os.Geteuid() != 0 {
			t.Skip("running as another user needs root")
		}
		setpriv, err := exec.LookPath("setpriv")
		require.NoError(t, err, "setpriv (util-linux) is needed")
		exe = filepath.Join(exeDir(t), "chaosrun.test")
		copyFile(t, os.Args[0], exe)
		argv = []string{setpriv, "--reuid=" + asUser, "--regid=" + asUser, "--clear-groups"}
		if asUser == "nobody" {
			argv[2] = "--regid=nogroup"
		}
	}
	argv = append(argv, exe, "-test.run=^TestKafkaCmdHelper$")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), "CHAOSRUN_TEST_MAIN=1", "CHAOSRUN_TEST_ARGS="+strings.Join(args, "\x1f")), env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return stderr.String(), ee.ExitCode()
	}
	require.NoError(t, err, "%s", stderr.String())
	return stderr.String(), 0
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o755))
}

// processWith reports whether a process has s on its command line.
func processWith(t *testing.T, s string) bool {
	t.Helper()
	pgrep, err := exec.LookPath("pgrep")
	require.NoError(t, err, "pgrep (procps) is needed")
	err = exec.Command(pgrep, "-f", s).Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return false
	}
	require.NoError(t, err)
	return true
}

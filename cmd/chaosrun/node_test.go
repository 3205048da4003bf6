package main

import (
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/internal/proctest"
)

// TestNodeBadInputs starts `chaosrun node` against parts that are not
// there: it must exit non-zero with a message naming the missing part,
// within its start timeout, and leave no process behind.
func TestNodeBadInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts an etcd process")
	}
	bin := proctest.Build(t)
	meta := proctest.Start(t, bin, "meta", "--dir", filepath.Join(t.TempDir(), "meta"))
	metaURL := "http://" + meta.Ready("addr")
	dead := "127.0.0.1:1" // nothing listens on port 1
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"meta unreachable", []string{"--meta", "http://" + dead, "--upstream", dead, "--kafka", dead}, "meta store unreachable"},
		{"upstream unreachable", []string{"--meta", metaURL, "--upstream", dead, "--kafka", dead}, "upstream unreachable"},
		{"missing flags", []string{"--meta", metaURL}, "--meta, --upstream and --kafka are required"},
		{"bad fencing", []string{"--meta", metaURL, "--upstream", dead, "--kafka", dead, "--fencing", "maybe"}, `unknown policy "maybe"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"node", "--id", "n1", "--dir", t.TempDir()}, tc.args...)
			start := time.Now()
			out, err := exec.Command(bin, args...).CombinedOutput()
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "exit: %v\n%s", err, out)
			assert.Equal(t, exitHarnessError, ee.ExitCode())
			assert.Contains(t, string(out), tc.want)
			assert.Less(t, time.Since(start), 30*time.Second)
		})
	}
}

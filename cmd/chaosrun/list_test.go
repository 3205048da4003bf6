package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/scenario"
)

// runList runs `chaosrun list args...` in process and returns its stdout.
func runList(t *testing.T, args ...string) (string, error) {
	t.Helper()
	stdout, stderr, err := execute(context.Background(), append([]string{"list"}, args...)...)
	if stderr != "" {
		t.Logf("chaosrun list stderr:\n%s", stderr)
	}
	return stdout, err
}

func TestListShowsEveryBuiltin(t *testing.T) {
	out, err := runList(t)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1+len(scenario.Builtins()), out)
	assert.Regexp(t, `^NAME\s+FENCING OFF\s+DESCRIPTION$`, lines[0])
	for i, s := range scenario.Builtins() {
		fields := strings.Fields(lines[i+1])
		assert.Equal(t, s.Name, fields[0])
		assert.Equal(t, offText(s.Expect), fields[1], "the declared verdict with fencing off")
		assert.Equal(t, s.Description, strings.Join(fields[2:], " "))
	}
}

// TestListYAMLLoadsBack: what `list --yaml` prints is a scenario file that
// loads back to the built-in.
func TestListYAMLLoadsBack(t *testing.T) {
	for _, s := range scenario.Builtins() {
		out, err := runList(t, "--yaml", s.Name)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(out, "# Scenario "+s.Name), out)
		path := filepath.Join(t.TempDir(), "copy.yaml")
		require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
		back, err := scenario.Load(path)
		require.NoError(t, err)
		assert.Equal(t, s, back)
	}
}

func TestListYAMLBadName(t *testing.T) {
	_, err := runList(t, "--yaml", "owner-isolatoin")
	var ee *exitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, exitHarnessError, ee.code)
	assert.ErrorContains(t, err, `"owner-isolatoin" is neither a built-in scenario`)

	path := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(path, []byte("name: bad\ntopology: {nodes: 12}\n"), 0o644))
	_, err = runList(t, "--yaml", path)
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, exitHarnessError, ee.code)
	assert.EqualError(t, err, path+":2: topology.nodes: 12 out of range 1..9")
}

// Package ci holds the example GitHub Actions workflow (chaos.yml) and the
// test that keeps it valid: it must parse as YAML, have the shape GitHub
// Actions expects, and run what README.md's "Running in CI" promises.
package ci

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/chaosrun/chaosrun/sink/kafka"
)

// workflow is the part of the GitHub Actions schema the test checks; unknown
// keys are errors, so a typo in a known place does not pass silently.
type workflow struct {
	Name        string            `yaml:"name"`
	On          map[string]any    `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Concurrency map[string]any    `yaml:"concurrency"`
	Jobs        map[string]job    `yaml:"jobs"`
}

type job struct {
	Name           string            `yaml:"name"`
	Needs          any               `yaml:"needs"`
	RunsOn         string            `yaml:"runs-on"`
	TimeoutMinutes int               `yaml:"timeout-minutes"`
	Env            map[string]string `yaml:"env"`
	Steps          []step            `yaml:"steps"`
}

type step struct {
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	With map[string]any    `yaml:"with"`
	Run  string            `yaml:"run"`
	If   string            `yaml:"if"`
	Env  map[string]string `yaml:"env"`
}

func load(t *testing.T) workflow {
	t.Helper()
	raw, err := os.ReadFile("chaos.yml")
	require.NoError(t, err)
	require.NotContains(t, string(raw), "\t", "YAML forbids tabs in indentation")
	var w workflow
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&w), "chaos.yml is valid YAML of the expected shape")
	return w
}

func TestWorkflowIsValid(t *testing.T) {
	w := load(t)
	require.NotEmpty(t, w.Name)
	require.Contains(t, w.On, "pull_request")
	require.Contains(t, w.On, "workflow_dispatch")
	require.Equal(t, "write", w.Permissions["checks"], "publishing JUnit results needs checks: write")
	require.NotEmpty(t, w.Jobs)
	for id, j := range w.Jobs {
		require.NotEmpty(t, j.RunsOn, "job %s has runs-on", id)
		require.Positive(t, j.TimeoutMinutes, "job %s is bounded", id)
		require.NotEmpty(t, j.Steps, "job %s has steps", id)
		for i, s := range j.Steps {
			require.True(t, (s.Uses == "") != (s.Run == ""), "job %s step %d (%s) has exactly one of uses and run", id, i, s.Name)
			if s.Uses != "" {
				require.Regexp(t, `^[\w.-]+/[\w./-]+@[\w.-]+$`, s.Uses, "job %s step %d pins its action", id, i)
			}
		}
	}
}

// TestWorkflowRunsTheScenario checks the steps README.md describes: unit
// tests, the scenario with testcontainers Kafka and toxiproxy, and the run
// directory uploaded and published even when the scenario fails.
func TestWorkflowRunsTheScenario(t *testing.T) {
	w := load(t)
	uses := func(j job, action string) *step {
		for i, s := range j.Steps {
			if strings.HasPrefix(s.Uses, action+"@") {
				return &j.Steps[i]
			}
		}
		return nil
	}
	runs := func(j job, cmd string) *step {
		for i, s := range j.Steps {
			if strings.Contains(s.Run, cmd) {
				return &j.Steps[i]
			}
		}
		return nil
	}

	unit, ok := w.Jobs["unit"]
	require.True(t, ok, "a unit-test job")
	require.NotNil(t, uses(unit, "actions/checkout"))
	require.NotNil(t, uses(unit, "actions/setup-go"))
	require.NotNil(t, runs(unit, "go test -short"))

	chaos, ok := w.Jobs["chaos"]
	require.True(t, ok, "a chaos job")
	require.NotNil(t, uses(chaos, "actions/checkout"))
	require.NotNil(t, uses(chaos, "actions/setup-go"))
	require.NotNil(t, runs(chaos, "chaosrun run owner-isolation --kafka testcontainers --backend toxiproxy"))
	require.Equal(t, kafka.DefaultImage, chaos.Env[kafka.EnvImage],
		"the workflow pulls the official image at the version chaosrun pins")

	up := uses(chaos, "actions/upload-artifact")
	require.NotNil(t, up, "the run directory is uploaded")
	require.Equal(t, "always()", up.If, "also when the scenario fails")
	require.Equal(t, "runs/", up.With["path"])
	pub := uses(chaos, "EnricoMi/publish-unit-test-result-action")
	require.NotNil(t, pub, "JUnit results are published")
	require.Equal(t, "always()", pub.If)
	require.Equal(t, "runs/**/junit.xml", pub.With["files"])
}

package checker

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestJudgeIndependentOfJudged enforces DESIGN.md §11: the checker reads
// what a target leaves through package evidence and never imports a
// target's internals, a chaos backend or a sink provider, so it can judge a
// target it does not know and builds without etcd or a Docker client.
func TestJudgeIndependentOfJudged(t *testing.T) {
	const module = "github.com/chaosrun/chaosrun/"
	forbidden := []string{
		module + "system", module + "chaos", module + "sink", module + "scenario", module + "cmd",
		"go.etcd.io/", "github.com/docker/", "github.com/moby/", "github.com/testcontainers/",
	}
	for _, pkg := range deps(t, module+"checker/...") {
		for _, f := range forbidden {
			assert.False(t, strings.HasPrefix(pkg, f), "checker depends on %s", pkg)
		}
	}
}

// TestEvidenceIsStdlibOnly keeps the formats packages (evidence and its
// per-target decoders such as evidence/debezium) at the bottom: the writers
// and the judge both import them.
func TestEvidenceIsStdlibOnly(t *testing.T) {
	const evidence = "github.com/chaosrun/chaosrun/evidence"
	for _, pkg := range deps(t, evidence+"/...") {
		if pkg == evidence || strings.HasPrefix(pkg, evidence+"/") {
			continue
		}
		first, _, _ := strings.Cut(pkg, "/")
		assert.NotContains(t, first, ".", "evidence depends on %s", pkg)
	}
}

// deps lists the packages pattern depends on, itself included, as
// `go list -deps` does (test files excluded).
func deps(t *testing.T, pattern string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pattern).Output()
	require.NoError(t, err, "go list -deps %s", pattern)
	pkgs := strings.Fields(string(out))
	require.NotEmpty(t, pkgs)
	return pkgs
}

// Package proctest starts chaosrun role processes from tests on top of
// internal/proc: it builds the binary, starts children, waits for their
// readiness line and makes sure nothing of them is left running when the
// test ends.
package proctest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosrun/chaosrun/internal/proc"
)

// ReadyTimeout bounds how long Start waits for the readiness line.
const ReadyTimeout = 60 * time.Second

// Build compiles cmd/chaosrun into a fresh temporary directory of t and
// returns the binary's path. Call it once per test and share the result.
func Build(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chaosrun")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/chaosrun/chaosrun/cmd/chaosrun")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("proctest: go build chaosrun: %v\n%s", err, out)
	}
	return bin
}

// BuildOrSkip skips t under -short, as a test that builds and runs the
// chaosrun binary, and otherwise returns Build(t).
func BuildOrSkip(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the chaosrun binary")
	}
	return Build(t)
}

// Proc is a started child process (see proc.Proc for its methods).
type Proc struct {
	*proc.Proc
	t     testing.TB
	ready map[string]string
}

// Start runs bin with args, waits (up to ReadyTimeout) for its readiness
// line and returns the process. Its output goes to a log file in a
// temporary directory of t. t.Cleanup kills the whole group, and fails the
// test if any member survives.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	name := filepath.Base(bin) + " " + strings.Join(args, " ")
	p, err := proc.Start(context.Background(), proc.Spec{Name: name, Path: bin, Args: args,
		Log: filepath.Join(t.TempDir(), filepath.Base(bin)+".log"), Ready: true})
	if err != nil {
		t.Fatalf("proctest: %v", err)
	}
	pp := &Proc{Proc: p, t: t}
	t.Cleanup(pp.cleanup)
	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
	defer cancel()
	if pp.ready, err = p.WaitReady(ctx); err != nil {
		t.Fatalf("proctest: %v", err)
	}
	return pp
}

// Ready returns a field of the readiness line ("" if absent).
func (p *Proc) Ready(key string) string { return p.ready[key] }

// Stderr returns what the child wrote so far (stderr and stdout).
func (p *Proc) Stderr() string {
	b, err := os.ReadFile(p.LogPath())
	if err != nil {
		return "(no output: " + err.Error() + ")"
	}
	return string(b)
}

// Kill kills the child's process group and waits for it; it fails the
// test if the group does not go away.
func (p *Proc) Kill() {
	p.t.Helper()
	if err := p.Proc.Kill(); err != nil {
		p.t.Errorf("proctest: %v", err)
	}
}

func (p *Proc) cleanup() {
	p.t.Helper()
	p.Kill()
	if p.t.Failed() {
		p.t.Logf("last output of %s:\n%s", p.Proc, proc.Tail(p.LogPath(), 100))
	}
}

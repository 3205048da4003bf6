// Package proctest starts chaosrun role processes from tests: it builds the
// binary, starts children in their own process group with a parent-death
// signal, waits for their readiness line and makes sure nothing is left
// running when the test ends.
package proctest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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

// Proc is a started child process.
type Proc struct {
	t     testing.TB
	name  string
	cmd   *exec.Cmd
	pgid  int
	ready map[string]string

	stderr lockedBuffer
	done   chan struct{}
	err    error // set before done is closed
}

// Start runs bin with args, waits (up to ReadyTimeout) for a stdout line
// starting with "READY" and parses its key=value fields. The child gets its
// own process group and SIGKILL if the test process dies; t.Cleanup kills
// the whole group, reaps it and fails the test if any member survives.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	setProcAttr(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("proctest: stdout pipe: %v", err)
	}
	p := &Proc{t: t, name: filepath.Base(bin) + " " + strings.Join(args, " "), cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("proctest: start %s: %v", p.name, err)
	}
	p.pgid = cmd.Process.Pid
	t.Cleanup(p.cleanup)

	readyc := make(chan map[string]string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if !sent && strings.HasPrefix(line, "READY") {
				readyc <- parseFields(line)
				sent = true
			}
		}
		// Drain until EOF so the child never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, stdout)
		p.err = cmd.Wait()
		close(p.done)
	}()

	select {
	case p.ready = <-readyc:
		return p
	case <-p.done:
		t.Fatalf("proctest: %s exited before READY: %v\nstderr:\n%s", p.name, p.err, p.stderr.String())
	case <-time.After(ReadyTimeout):
		t.Fatalf("proctest: %s not READY after %s\nstderr:\n%s", p.name, ReadyTimeout, p.stderr.String())
	}
	return nil
}

func parseFields(line string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(line)[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

// Ready returns a field of the readiness line ("" if absent).
func (p *Proc) Ready(key string) string { return p.ready[key] }

// Pid is the child's pid (also its process group id).
func (p *Proc) Pid() int { return p.pgid }

// Stderr returns what the child wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Signal sends sig to the child only (not its group).
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill sends SIGKILL to the child's process group and waits for the child.
func (p *Proc) Kill() {
	_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
	<-p.done
}

// Wait waits for the child to exit (bounded by ctx) and returns its exit
// error (nil for status 0).
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("proctest: wait for %s: %w", p.name, ctx.Err())
	}
}

// Exited reports whether the child has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *Proc) cleanup() {
	p.t.Helper()
	_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Errorf("proctest: %s not reaped 10 s after SIGKILL", p.name)
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := syscall.Kill(-p.pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			break
		}
		if time.Now().After(deadline) {
			p.t.Errorf("proctest: process group %d of %s still has members: %v", p.pgid, p.name, err)
			break
		}
		time.Sleep(20 * time.Millisecond) // poll with a deadline, not for readiness
	}
	if p.t.Failed() {
		p.t.Logf("stderr of %s:\n%s", p.name, tail(p.stderr.String(), 8000))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

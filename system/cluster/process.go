package cluster

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/chaosrun/chaosrun/internal/proc"
)

// CommandFunc builds the command that starts a process. The chaos netns
// backend supplies one that enters the process's network namespace.
type CommandFunc func(ctx context.Context, name string, bin string, args ...string) *exec.Cmd

// Process is one child process of the cluster. Restart starts it again with
// the same arguments (or new ones).
type Process struct {
	Name string
	Bin  string
	Args []string
	// Ready holds the key=value fields of the child's READY line.
	Ready map[string]string

	logPath string
	mkCmd   CommandFunc

	mu  sync.Mutex
	cur *proc.Proc // the current incarnation; nil before the first start
}

// startProcess starts a child and waits for its READY line. A child that
// exits first gives an error wrapping proc.ErrExited.
func startProcess(ctx context.Context, mk CommandFunc, logDir, name, bin string, args ...string) (*Process, error) {
	p := &Process{Name: name, Bin: bin, Args: args, logPath: filepath.Join(logDir, name+".log"), mkCmd: mk}
	if err := p.run(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// run starts an incarnation and waits, until ctx is done, for its READY
// line; one that does not get there is killed.
func (p *Process) run(ctx context.Context) error {
	mk := func(ctx context.Context, bin string, args ...string) *exec.Cmd {
		return p.mkCmd(ctx, p.Name, bin, args...)
	}
	// NB: the process must outlive ctx (which only bounds readiness), so it
	// is started with a background context.
	cur, err := proc.Start(context.Background(), proc.Spec{Name: p.Name, Path: p.Bin, Args: p.Args, Command: mk,
		Log: p.logPath, Ready: true})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	p.mu.Lock()
	p.cur = cur
	p.mu.Unlock()
	ready, err := cur.WaitReady(ctx)
	if err != nil {
		return fmt.Errorf("cluster: %w", errors.Join(err, cur.Kill()))
	}
	p.Ready = ready
	return nil
}

// current returns the current incarnation, nil before the first start.
func (p *Process) current() *proc.Proc {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// Pid returns the child's pid (also its process group id), 0 if none.
func (p *Process) Pid() int {
	if cur := p.current(); cur != nil {
		return cur.Pid()
	}
	return 0
}

// StartedAt returns when the current incarnation started.
func (p *Process) StartedAt() time.Time {
	if cur := p.current(); cur != nil {
		return cur.StartedAt()
	}
	return time.Time{}
}

// LogPath is the file that holds the child's output.
func (p *Process) LogPath() string { return p.logPath }

// Running reports whether the current incarnation has not exited.
func (p *Process) Running() bool {
	cur := p.current()
	return cur != nil && !cur.Exited()
}

// Signal sends sig to the child's whole process group. A child that has
// exited is not signalled (its group id may be reused): that is an error.
func (p *Process) Signal(sig syscall.Signal) error {
	cur := p.current()
	if cur == nil {
		return fmt.Errorf("cluster: signal %s: %s never started", sig, p.Name)
	}
	if err := cur.Signal(sig); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// Kill sends SIGKILL to the process group and waits for the child to exit.
// It reports a group that does not go away. Idempotent.
func (p *Process) Kill() error {
	cur := p.current()
	if cur == nil {
		return nil
	}
	if err := cur.Kill(); err != nil {
		return fmt.Errorf("cluster: kill %s: %w", p.Name, err)
	}
	return nil
}

// Stop sends SIGTERM (after SIGCONT, in case it is paused) and waits up to
// grace, then kills. It reports a group that does not go away. Idempotent.
func (p *Process) Stop(grace time.Duration) error {
	cur := p.current()
	if cur == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := cur.Stop(ctx); err != nil {
		return fmt.Errorf("cluster: stop %s: %w", p.Name, err)
	}
	return nil
}

// Restart starts the process again (after it exited or was killed) with
// args, or with its previous arguments when args is nil, and waits for its
// READY line like the first start.
func (p *Process) Restart(ctx context.Context, args []string) error {
	if p.Running() {
		return fmt.Errorf("cluster: restart %s: still running", p.Name)
	}
	if args != nil {
		p.Args = args
	}
	return p.run(ctx)
}

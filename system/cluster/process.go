package cluster

import (
	"bufio"
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
	"time"
)

// CommandFunc builds the command that starts a process. The chaos netns
// backend supplies one that enters the process's network namespace.
type CommandFunc func(ctx context.Context, name string, bin string, args ...string) *exec.Cmd

// DefaultCommand starts bin directly.
func DefaultCommand(ctx context.Context, _ string, bin string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, bin, args...)
}

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

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	err   error
	start time.Time
}

// ErrExited is returned when a child exits before it is ready.
var ErrExited = errors.New("cluster: process exited before it was ready")

// startProcess starts a child and waits for its READY line.
func startProcess(ctx context.Context, mk CommandFunc, logDir, name, bin string, args ...string) (*Process, error) {
	p := &Process{Name: name, Bin: bin, Args: args, logPath: filepath.Join(logDir, name+".log"), mkCmd: mk}
	if err := p.run(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Process) run(ctx context.Context) error {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cluster: open log of %s: %w", p.Name, err)
	}
	// NB: the command must outlive ctx (which only bounds readiness), so it
	// is built with a background context.
	cmd := p.mkCmd(context.Background(), p.Name, p.Bin, p.Args...)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return fmt.Errorf("cluster: stdout of %s: %w", p.Name, err)
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("cluster: start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.err, p.start = cmd, done, nil, time.Now()
	p.mu.Unlock()

	readyCh := make(chan map[string]string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if !sent && strings.HasPrefix(line, "READY") {
				readyCh <- parseReady(line)
				sent = true
			}
		}
		io.Copy(io.Discard, stdout)
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	select {
	case r := <-readyCh:
		p.Ready = r
		return nil
	case <-done:
		return fmt.Errorf("%w: %s (%v); last log lines:\n%s", ErrExited, p.Name, p.exitErr(), tail(p.logPath, 15))
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("cluster: %s not ready: %w; last log lines:\n%s", p.Name, ctx.Err(), tail(p.logPath, 15))
	}
}

func (p *Process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func parseReady(line string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(line)[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			out[k] = v
		}
	}
	return out
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Pid returns the child's pid (also its process group id), 0 if none.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// StartedAt returns when the current incarnation started.
func (p *Process) StartedAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.start
}

// LogPath is the file that holds the child's stderr.
func (p *Process) LogPath() string { return p.logPath }

// Running reports whether the current incarnation has not exited.
func (p *Process) Running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Signal sends sig to the child's whole process group.
func (p *Process) Signal(sig syscall.Signal) error {
	pid := p.Pid()
	if pid == 0 || !p.Running() {
		return fmt.Errorf("cluster: signal %s: %s is not running", sig, p.Name)
	}
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("cluster: signal %s to %s: %w", sig, p.Name, err)
	}
	return nil
}

// Kill sends SIGKILL to the process group and waits for the child to exit.
// It is idempotent.
func (p *Process) Kill() {
	pid := p.Pid()
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if pid == 0 || done == nil {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-done
}

// Stop sends SIGTERM (after SIGCONT, in case it is paused) and waits up to
// grace, then kills. It is idempotent.
func (p *Process) Stop(grace time.Duration) {
	pid := p.Pid()
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if pid == 0 || done == nil {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGCONT)
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		p.Kill()
	}
	// Reap any stragglers of the group.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// Restart starts the process again (after it exited or was killed) with
// args, or with its previous arguments when args is nil.
func (p *Process) Restart(ctx context.Context, args []string) error {
	if p.Running() {
		return fmt.Errorf("cluster: restart %s: still running", p.Name)
	}
	if args != nil {
		p.Args = args
	}
	return p.run(ctx)
}

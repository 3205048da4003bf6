package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// ErrExited reports that a child exited before it printed its readiness
// line.
var ErrExited = errors.New("proc: process exited before it was ready")

// Timeouts of the supervisor.
const (
	// killTimeout bounds how long Kill waits for the reap after SIGKILL.
	killTimeout = 30 * time.Second
	// groupTimeout bounds how long the supervisor waits, after the leader
	// exited, for the rest of its group to die of SIGKILL.
	groupTimeout = 10 * time.Second
	// drainDelay bounds how long output copying may go on after the child
	// exited (a process outside the group may hold its stdout).
	drainDelay = 5 * time.Second
)

// Spec describes a child process.
type Spec struct {
	// Name identifies the process in errors; default the program's base
	// name.
	Name string
	// Path is the program, Args its arguments.
	Path string
	Args []string
	// Dir is the working directory; "" keeps the command's.
	Dir string
	// Env is the environment; nil keeps the command's (the caller's).
	Env []string
	// Command builds the command; nil is exec.CommandContext. It must use
	// exec.CommandContext with ctx. A placement uses it to run the program
	// elsewhere, such as inside a network namespace.
	Command func(ctx context.Context, path string, args ...string) *exec.Cmd
	// Log is the file the child's stdout and stderr are appended to.
	// Required.
	Log string
	// Ready makes the supervisor read stdout for the readiness line (see
	// WaitReady); stdout still reaches Log.
	Ready bool
	// Grace is how long the group has between SIGTERM and SIGKILL when the
	// context given to Start ends; 0 sends SIGKILL at once.
	Grace time.Duration
}

// Proc is a started child process, the leader of its own process group.
type Proc struct {
	name  string
	cmd   *exec.Cmd // cmd.Process is set before Cancel can run
	start time.Time
	log   string

	readyOnce sync.Once
	readyc    chan struct{} // closed once fields is set
	fields    map[string]string

	mu sync.Mutex
	// exited is set, under mu, after the leader exited and before it is
	// reaped: while it is false the leader's pid, and so its group id,
	// cannot have been reused.
	exited bool
	// leaderOnly is set when the exit cannot be seen before the reap
	// (no waitid on this platform); signals then reach the leader only.
	leaderOnly bool

	done chan struct{}
	err  error // the exit status; valid once done is closed
	left error // group members that outlived the leader; valid once done is closed
}

// Start starts s in a new process group and returns once it runs. When
// ctx ends the group gets SIGTERM and, Spec.Grace later, SIGKILL (SIGKILL
// at once for a zero Grace). When the leader exits, whatever is left of
// its group is killed before the leader is reaped.
//
// NB: Linux delivers the parent-death signal when the *thread* that forked
// the child exits. The Go runtime ends a thread only when its goroutine
// exits while locked with runtime.LockOSThread, so never call Start from
// such a goroutine.
func Start(ctx context.Context, s Spec) (*Proc, error) {
	if s.Name == "" {
		s.Name = filepath.Base(s.Path)
	}
	logf, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("proc: %s: open log: %w", s.Name, err)
	}
	mk := s.Command
	if mk == nil {
		mk = exec.CommandContext
	}
	cmd := mk(ctx, s.Path, s.Args...)
	if s.Dir != "" {
		cmd.Dir = s.Dir
	}
	if s.Env != nil {
		cmd.Env = s.Env
	}
	p := &Proc{name: s.Name, cmd: cmd, log: s.Log, readyc: make(chan struct{}), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = logf, logf
	if s.Ready {
		cmd.Stdout = &readyWriter{w: logf, found: p.setReady}
	}
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return p.cancel(s.Grace) }
	cmd.WaitDelay = drainDelay
	if s.Grace > 0 {
		cmd.WaitDelay = s.Grace
	}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("proc: start %s: %w", s.Name, err)
	}
	p.start = time.Now()
	go p.supervise(logf)
	return p, nil
}

// cancel is the command's Cancel: exec.Cmd calls it when the context ends
// and, grace later, SIGKILLs the leader, after which supervise kills the
// rest of the group.
func (p *Proc) cancel(grace time.Duration) error {
	if grace == 0 {
		return p.Signal(syscall.SIGKILL)
	}
	_ = p.Signal(syscall.SIGCONT) // a paused group cannot act on SIGTERM
	return p.Signal(syscall.SIGTERM)
}

// supervise waits for the leader to exit, kills the rest of its group while
// the unreaped leader still holds the group id, then reaps it.
func (p *Proc) supervise(logf *os.File) {
	err := awaitExit(p.Pid())
	p.mu.Lock()
	if err == nil {
		p.exited = true
	} else {
		p.leaderOnly = true
	}
	p.mu.Unlock()
	if err == nil {
		p.left = p.killRemains()
	}
	p.err = p.cmd.Wait()
	p.mu.Lock()
	p.exited = true
	p.mu.Unlock()
	_ = logf.Close()
	close(p.done)
}

// killRemains SIGKILLs the group of an exited, unreaped leader and waits
// until none of it runs. It reports members still running after
// groupTimeout.
func (p *Proc) killRemains() error {
	pgid := p.Pid()
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	deadline := time.Now().Add(groupTimeout)
	for {
		members, err := GroupMembers(pgid)
		if err != nil {
			return fmt.Errorf("proc: process group of %s: %w", p, err)
		}
		if len(members) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("proc: process group of %s: %d members still running %s after SIGKILL",
				p, len(members), groupTimeout)
		}
		// NB: polling with a deadline: nothing notifies the death of a
		// process that is not our child.
		time.Sleep(10 * time.Millisecond)
	}
}

// String returns the process's name and pid.
func (p *Proc) String() string { return fmt.Sprintf("%s (pid %d)", p.name, p.Pid()) }

// Pid returns the leader's pid, which is also the group id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// StartedAt returns when the process was started.
func (p *Proc) StartedAt() time.Time { return p.start }

// LogPath returns the file that holds the process's output.
func (p *Proc) LogPath() string { return p.log }

// Done is closed once the leader is reaped and nothing of its group runs
// (or Err says what still does).
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether Done is closed.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns the exit error (nil for status 0), an *exec.ExitError for
// another status or a signal. Call it after Done is closed.
func (p *Proc) Err() error { return p.err }

// Signal sends sig to the whole process group. Once the leader has exited
// it signals nothing and returns an error wrapping os.ErrProcessDone.
func (p *Proc) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	pid := p.Pid()
	switch {
	case pid <= 0: // NB: kill(0) and kill(-1) would reach far more than this group
		return fmt.Errorf("proc: signal %v to %s: no pid", sig, p)
	case p.exited:
		return fmt.Errorf("proc: signal %v to %s: %w", sig, p, os.ErrProcessDone)
	case p.leaderOnly:
		if err := p.cmd.Process.Signal(sig); err != nil {
			return fmt.Errorf("proc: signal %v to %s: %w", sig, p, err)
		}
		return nil
	}
	if err := syscall.Kill(-pid, sig); err != nil {
		return fmt.Errorf("proc: signal %v to process group of %s: %w", sig, p, err)
	}
	return nil
}

// Kill sends SIGKILL to the group and waits until Done is closed. It
// reports a group not gone within 30 s, or members that outlived the
// leader. Idempotent.
func (p *Proc) Kill() error {
	if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return p.left
	case <-time.After(killTimeout):
		return fmt.Errorf("proc: %s still running %s after SIGKILL", p, killTimeout)
	}
}

// Stop sends SIGCONT (a paused group cannot act on SIGTERM) and SIGTERM to
// the group and waits until Done is closed; when ctx ends first, it kills.
// Idempotent.
func (p *Proc) Stop(ctx context.Context) error {
	_ = p.Signal(syscall.SIGCONT)
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return p.left
	case <-ctx.Done():
		return p.Kill()
	}
}

// Wait waits until Done is closed and returns the exit error. When ctx
// ends first it returns ctx's error and leaves the process alone.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("proc: wait for %s: %w", p, ctx.Err())
	}
}

// WaitReady waits for the readiness line (Spec.Ready) and returns its
// fields. A process that exits first gives an error wrapping ErrExited,
// and ctx ending first an error wrapping ctx's; both carry the log's last
// lines. The process is left alone either way.
func (p *Proc) WaitReady(ctx context.Context) (map[string]string, error) {
	select {
	case <-p.readyc:
		return p.fields, nil
	case <-p.done:
		select {
		case <-p.readyc: // ready, then exited at once
			return p.fields, nil
		default:
		}
		return nil, fmt.Errorf("%w: %s (%v); last lines of %s:\n%s", ErrExited, p, p.err, p.log, Tail(p.log, tailLines))
	case <-ctx.Done():
		return nil, fmt.Errorf("proc: %s not ready: %w; last lines of %s:\n%s", p, ctx.Err(), p.log, Tail(p.log, tailLines))
	}
}

// tailLines is how many log lines errors carry.
const tailLines = 20

func (p *Proc) setReady(fields map[string]string) {
	p.readyOnce.Do(func() {
		p.fields = fields
		close(p.readyc)
	})
}

package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// proc is one JVM child process in its own process group.
type proc struct {
	cmd     *exec.Cmd
	pid     int
	done    chan struct{} // closed once Wait has returned
	waitErr error         // valid after done
}

// startProc starts java with args, stdout and stderr appended to logPath.
// The process lives in its own process group, is killed (as a group) when
// life is done, and gets SIGKILL if this process dies first.
//
// NB: Linux delivers Pdeathsig when the *thread* that forked the child
// exits. The Go runtime only ends threads whose goroutine exits while
// locked with runtime.LockOSThread, so never start brokers from such a
// goroutine.
//
// mk builds the command (LocalConfig.Command bound to the node); nil means
// exec.CommandContext.
func startProc(life context.Context, mk func(context.Context, string, ...string) *exec.Cmd, java string, args []string, dir, logPath string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", logPath, err)
	}
	defer func() { _ = f.Close() }() // the child has its own copy
	if mk == nil {
		mk = exec.CommandContext
	}
	cmd := mk(life, java, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", java, err)
	}
	p := &proc{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// killGroup signals the process group led by pid; a group already gone is
// not an error.
func killGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %v to process group %d: %w", sig, pid, err)
	}
	return nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
	}
	return false
}

// kill sends SIGKILL to the group and waits for the process to be reaped.
func (p *proc) kill() error {
	if p.exited() {
		// NB: never signal a reaped pid: the group id may be reused.
		return nil
	}
	if err := killGroup(p.pid, syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("process %d still running 30s after SIGKILL", p.pid)
	}
}

// stop sends SIGTERM to the group and waits; when ctx is done first, it
// kills.
func (p *proc) stop(ctx context.Context) error {
	if p.exited() {
		return nil
	}
	if err := killGroup(p.pid, syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return p.kill()
	}
}

// wait waits for a short-lived process (storage format) to finish; when ctx
// is done first, it kills.
func (p *proc) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.waitErr
	case <-ctx.Done():
		_ = p.kill()
		return ctx.Err()
	}
}

// tailLines returns the last n lines of the file at path (reading at most
// its last 64 KiB), or a note saying why it could not.
func tailLines(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer func() { _ = f.Close() }()
	const window = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		_, _ = f.Seek(-window, io.SeekEnd)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// bindMarkers are what a JVM prints when a listener port is taken.
var bindMarkers = [][]byte{[]byte("Address already in use"), []byte("failed to bind")}

func mentionsPortInUse(tail string) bool {
	for _, m := range bindMarkers {
		if bytes.Contains([]byte(tail), m) {
			return true
		}
	}
	return false
}

// Ports are drawn from below the usual ephemeral range (32768-60999), so
// that a restarted broker does not find its port taken by some outgoing
// connection's local port.
const (
	portLow  = 20000
	portHigh = 32000
)

// reservePorts returns n distinct ports on host that were free a moment ago.
// All are held open until every one is found, so they differ from each
// other; another process can still take one before the broker binds it,
// which the broker's start reports as ErrPortInUse.
func reservePorts(host string, n int) ([]int, error) {
	return reservePortsWith(net.Listen, host, n)
}

// reservePortsWith is reservePorts with listeners opened by listen
// (LocalConfig.Listen).
func reservePortsWith(listen func(network, address string) (net.Listener, error), host string, n int) ([]int, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > 200 {
			return nil, fmt.Errorf("reserve %d ports on %s: %w: none free in %d tries", n, host, ErrPortInUse, tries)
		}
		port := portLow + rand.IntN(portHigh-portLow)
		l, err := listen("tcp", hostPort(host, port))
		if err != nil {
			continue
		}
		held = append(held, l)
		ports = append(ports, port)
	}
	return ports, nil
}

// holdPort binds port on host with listen, or reports ErrPortInUse.
func holdPort(listen func(network, address string) (net.Listener, error), host string, port int) (net.Listener, error) {
	l, err := listen("tcp", hostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("port %s: %w: %w", hostPort(host, port), ErrPortInUse, err)
	}
	return l, nil
}

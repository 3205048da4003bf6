package connect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/chaosrun/chaosrun/internal/place"
	"github.com/chaosrun/chaosrun/internal/proc"
	"github.com/chaosrun/chaosrun/internal/wait"
	"github.com/chaosrun/chaosrun/sink/kafka"
)

// Errors of the cluster.
var (
	// ErrNoWorker reports a worker name not in the cluster.
	ErrNoWorker = errors.New("connect: no such worker")
	// ErrRunning reports a restart of a worker that still runs.
	ErrRunning = errors.New("connect: worker still running")
	// ErrExited reports a worker that exited before it was ready.
	ErrExited = errors.New("connect: worker exited")
	// ErrClosed reports a call on a closed cluster.
	ErrClosed = errors.New("connect: cluster closed")
)

// pollInterval is the pause between readiness probes.
const pollInterval = 100 * time.Millisecond

// Cluster is a running Kafka Connect cluster in distributed mode.
type Cluster struct {
	cfg    Config
	java   string
	log4j  string
	log    *slog.Logger
	http   *http.Client
	life   context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	workers []*worker
}

// worker is one Connect worker JVM.
type worker struct {
	i       int
	name    string
	host    string
	port    int
	props   string
	logPath string
	proc    *proc.Proc // the latest incarnation; guarded by Cluster.mu
}

// WorkerName is the name of worker i (1-based): connect-<i>.
func WorkerName(i int) string { return "connect-" + strconv.Itoa(i) }

func (w *worker) addr() string { return hostPort(w.host, w.port) }

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// Start writes each worker's properties, starts the workers at once and
// waits, polling until ctx ends, until every worker's GET /health answers
// 200. ctx bounds the start only; the workers run until Close. On error
// nothing is left running.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	java, err := kafka.FindJava("")
	if err != nil {
		return nil, fmt.Errorf("connect: %w (run `make deps`)", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &Cluster{cfg: cfg, java: java, log: cfg.Logger.With("component", "connect"),
		http: &http.Client{Timeout: 30 * time.Second}, life: life, cancel: cancel}
	if l := filepath.Join(filepath.Dir(cfg.Libs), "config", "log4j2.properties"); fileExists(l) {
		c.log4j = l
	}
	for i := 1; i <= cfg.Workers; i++ {
		w, err := c.layout(i)
		if err != nil {
			cancel()
			return nil, err
		}
		c.workers = append(c.workers, w)
	}
	t0 := time.Now()
	c.mu.Lock()
	for _, w := range c.workers {
		if err := c.startWorker(w); err != nil {
			c.mu.Unlock()
			return nil, errors.Join(err, c.Close())
		}
	}
	c.mu.Unlock()
	errs := make([]error, len(c.workers))
	var wg sync.WaitGroup
	for k, w := range c.workers {
		wg.Go(func() {
			errs[k] = c.waitHealthy(ctx, w)
			if errs[k] == nil {
				c.log.Info("worker ready", "worker", w.name, "addr", w.addr(), "took", time.Since(t0).Round(time.Millisecond))
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	c.log.Info("Connect cluster ready", "workers", len(c.workers), "eos", cfg.EOS,
		"took", time.Since(t0).Round(time.Millisecond), "dir", cfg.Dir)
	return c, nil
}

// layout picks worker i's address and writes its properties.
func (c *Cluster) layout(i int) (*worker, error) {
	w := &worker{i: i, name: WorkerName(i), host: "127.0.0.1"}
	if c.cfg.Host != nil {
		w.host = c.cfg.Host(i)
	}
	switch {
	case c.cfg.Port != nil:
		w.port = c.cfg.Port(i)
	case c.cfg.Host != nil:
		w.port = DefaultPort
	default:
		p, err := place.FreePort(w.host)
		if err != nil {
			return nil, err
		}
		w.port = p
	}
	w.props = filepath.Join(c.cfg.Dir, w.name+".properties")
	w.logPath = filepath.Join(c.cfg.Dir, w.name+".log")
	if err := os.WriteFile(w.props, []byte(workerProps(c.cfg, w.host, w.port)), 0o644); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return w, nil
}

// startWorker starts w's JVM; c.mu is held.
func (c *Cluster) startWorker(w *worker) error {
	if c.closed {
		return fmt.Errorf("connect: start %s: %w", w.name, ErrClosed)
	}
	args := []string{"-Xmx384m", "-XX:+UseSerialGC"}
	if c.log4j != "" {
		args = append(args, "-Dlog4j2.configurationFile="+c.log4j)
	}
	args = append(args, "-cp", filepath.Join(c.cfg.Libs, "*"), "org.apache.kafka.connect.cli.ConnectDistributed", w.props)
	var mk func(context.Context, string, ...string) *exec.Cmd
	if c.cfg.Command != nil {
		mk = func(ctx context.Context, path string, args ...string) *exec.Cmd {
			return c.cfg.Command(ctx, w.i, path, args...)
		}
	}
	// NB: a worker dies at once (SIGKILL) when the cluster's life ends;
	// StopWorker is the graceful way.
	p, err := proc.Start(c.life, proc.Spec{Name: w.name, Path: c.java, Args: args, Dir: c.cfg.Dir,
		Command: mk, Log: w.logPath})
	if err != nil {
		return fmt.Errorf("connect: start %s: %w", w.name, err)
	}
	w.proc = p
	c.log.Debug("worker started", "worker", w.name, "pid", p.Pid(), "addr", w.addr())
	return nil
}

// waitHealthy polls w's GET /health until it answers 200, w's process
// exits, or ctx ends.
func (c *Cluster) waitHealthy(ctx context.Context, w *worker) error {
	c.mu.Lock()
	p := w.proc
	c.mu.Unlock()
	url := "http://" + w.addr() + "/health"
	for {
		code, err := c.get(ctx, url)
		if err == nil && code == http.StatusOK {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%w: %s (%v); last lines of %s:\n%s", ErrExited, w.name, p.Err(), w.logPath, proc.Tail(w.logPath, 30))
		}
		if werr := wait.Sleep(ctx, pollInterval); werr != nil {
			return fmt.Errorf("connect: %s not healthy (last: %d %v): %w; last lines of %s:\n%s",
				w.name, code, err, werr, w.logPath, proc.Tail(w.logPath, 30))
		}
	}
}

func (c *Cluster) get(ctx context.Context, url string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// Workers returns the workers' names in order.
func (c *Cluster) Workers() []string {
	out := make([]string, len(c.workers))
	for k, w := range c.workers {
		out[k] = w.name
	}
	return out
}

func (c *Cluster) worker(name string) (*worker, error) {
	for _, w := range c.workers {
		if w.name == name {
			return w, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrNoWorker, name)
}

// Worker returns the pid of worker name's current process (the leader of
// its process group), for the chaos topology.
func (c *Cluster) Worker(name string) (int, error) {
	p, err := c.Proc(name)
	if err != nil {
		return 0, err
	}
	return p.Pid(), nil
}

// Proc returns worker name's current process.
func (c *Cluster) Proc(name string) (*proc.Proc, error) {
	w, err := c.worker(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return w.proc, nil
}

// Addr returns worker name's REST address (host:port).
func (c *Cluster) Addr(name string) (string, error) {
	w, err := c.worker(name)
	if err != nil {
		return "", err
	}
	return w.addr(), nil
}

// RestartWorker starts worker name again, after it was killed or stopped,
// with the same properties, and waits (polling until ctx ends) until it is
// healthy. A worker that still runs gives ErrRunning.
func (c *Cluster) RestartWorker(ctx context.Context, name string) error {
	w, err := c.worker(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if !w.proc.Exited() {
		c.mu.Unlock()
		return fmt.Errorf("restart %s (pid %d): %w", name, w.proc.Pid(), ErrRunning)
	}
	t0 := time.Now()
	err = c.startWorker(w)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := c.waitHealthy(ctx, w); err != nil {
		return err
	}
	c.log.Info("worker restarted", "worker", name, "pid", w.proc.Pid(), "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// StopWorker stops worker name gracefully (SIGTERM: it leaves the group
// and stops its tasks), killing it when ctx ends first. Idempotent.
func (c *Cluster) StopWorker(ctx context.Context, name string) error {
	p, err := c.Proc(name)
	if err != nil {
		return err
	}
	if err := p.Stop(ctx); err != nil {
		return fmt.Errorf("connect: stop %s: %w", name, err)
	}
	return nil
}

// Close kills every worker and waits until they are gone. The directory is
// kept. Idempotent.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var procs []*proc.Proc
	for _, w := range c.workers {
		if w.proc != nil {
			procs = append(procs, w.proc)
		}
	}
	c.mu.Unlock()
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for k, p := range procs {
		wg.Go(func() { errs[k] = p.Kill() })
	}
	wg.Wait()
	c.cancel()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("connect: close: %w", err)
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

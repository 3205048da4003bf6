package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chaosrun/chaosrun/internal/proc"
)

// Local is the default Provider: Apache Kafka in KRaft mode, every node a
// combined broker+controller JVM child process with its data and log in the
// run directory:
//
//	DIR/kafka/nN/server.properties
//	DIR/kafka/nN/data/          log.dirs (and the metadata log)
//	DIR/kafka/nN/logs/server.log  stdout+stderr of every start of the node
//	DIR/kafka/nN/logs/format.log  the storage format tool's output
//
// It implements BrokerController for broker faults.
type Local struct {
	cfg       LocalConfig
	log       *slog.Logger
	java      string
	log4j     string // log4j2 configuration file, "" when absent
	clusterID string

	mu      sync.Mutex
	started bool
	closed  bool
	life    context.Context // processes die when it is done
	cancel  context.CancelFunc
	nodes   []*localNode

	formatTook time.Duration // how long storage formatting took, for benchmarks

	// hookBeforeBrokers, when set by a test, runs after storage is
	// formatted and before the brokers start.
	hookBeforeBrokers func()
}

// localNode is one combined broker+controller.
type localNode struct {
	nodeSpec
	dir     string
	props   string
	logPath string
	addr    string
	proc    *proc.Proc // nil before the first start
}

var _ BrokerController = (*Local)(nil)

// NewLocal validates cfg and returns a local provider; it starts nothing.
// Missing java or jars are reported here, wrapping ErrJavaNotFound or
// ErrJarsMissing.
func NewLocal(cfg LocalConfig) (*Local, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := checkLibs(cfg.LibsDir); err != nil {
		return nil, err
	}
	java, err := FindJava(cfg.Java)
	if err != nil {
		return nil, err
	}
	// NB: processes run in their node's directory, so relative paths break.
	if cfg.LibsDir, err = filepath.Abs(cfg.LibsDir); err != nil {
		return nil, fmt.Errorf("local provider: jar directory: %w", err)
	}
	if java, err = filepath.Abs(java); err != nil {
		return nil, fmt.Errorf("local provider: java: %w", err)
	}
	l := &Local{cfg: cfg, log: cfg.Logger.With("provider", ProviderLocal), java: java}
	if p := filepath.Join(cfg.LibsDir, "..", "config", "log4j2.properties"); fileExists(p) {
		l.log4j, _ = filepath.Abs(p)
	} else {
		l.log.Warn("no log4j2.properties next to the jars; brokers will log errors only (run `make kafka-jars`)", "want", p)
	}
	return l, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Name returns "local".
func (l *Local) Name() string { return ProviderLocal }

// Start lays out the run directory, formats every node's storage with a
// cluster id made here, starts the nodes and waits (LocalConfig.StartTimeout)
// until every node serves metadata listing all brokers and a test topic can
// be created. ctx bounds the start and the cluster's life: when it is done,
// every process is killed. On error nothing is left running.
func (l *Local) Start(ctx context.Context) ([]string, error) {
	l.mu.Lock()
	if l.started || l.closed {
		l.mu.Unlock()
		return nil, fmt.Errorf("start local Kafka: already started or closed: %w", ErrClosed)
	}
	l.started = true
	l.life, l.cancel = context.WithCancel(ctx)
	l.mu.Unlock()

	t0 := time.Now()
	addrs, err := l.start(ctx)
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	l.log.Info("Kafka ready", "bootstrap", addrs, "brokers", l.cfg.Brokers, "took", time.Since(t0).Round(time.Millisecond), "dir", filepath.Join(l.cfg.Dir, "kafka"))
	return addrs, nil
}

func (l *Local) start(ctx context.Context) ([]string, error) {
	if err := l.layout(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := l.format(ctx); err != nil {
		return nil, err
	}
	l.formatTook = time.Since(t0)
	if l.hookBeforeBrokers != nil {
		l.hookBeforeBrokers()
	}
	l.mu.Lock()
	for _, n := range l.nodes {
		if err := l.startNode(n); err != nil {
			l.mu.Unlock()
			return nil, err
		}
	}
	l.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, l.cfg.StartTimeout)
	defer cancel()
	if err := l.waitReady(wctx, l.nodes, true); err != nil {
		return nil, fmt.Errorf("start local Kafka (%d brokers): %w", l.cfg.Brokers, err)
	}
	return l.Bootstrap(), nil
}

// layout picks ports and ids and writes every node's properties.
func (l *Local) layout() error {
	root := filepath.Join(l.cfg.Dir, "kafka")
	if strings.Contains(root, ",") {
		// log.dirs is a comma-separated list: Kafka would write into the
		// pieces.
		return fmt.Errorf("start local Kafka: %s has a comma, which Kafka reads as a list of directories; choose a directory without one: %w", root, ErrBadConfig)
	}
	if ents, err := os.ReadDir(root); err == nil && len(ents) > 0 {
		return fmt.Errorf("start local Kafka: %s already holds a cluster: %w", root, ErrBadConfig)
	}
	host := l.cfg.Host
	listen := l.cfg.Listen
	if listen == nil {
		listen = net.Listen
	}
	clientPorts := l.cfg.ClientPorts
	for _, p := range clientPorts {
		// Held until the free ports are drawn, so that none of them is a
		// fixed port.
		held, err := holdPort(listen, host, p)
		if err != nil {
			return fmt.Errorf("start local Kafka: %w", err)
		}
		defer func() { _ = held.Close() }()
	}
	free, err := reservePortsWith(listen, host, 2*l.cfg.Brokers)
	if err != nil {
		return fmt.Errorf("start local Kafka: %w", err)
	}
	if len(clientPorts) == 0 {
		clientPorts = free[l.cfg.Brokers:]
	}
	if l.clusterID, err = newUUID(); err != nil {
		return fmt.Errorf("start local Kafka: cluster id: %w", err)
	}
	specs := make([]nodeSpec, l.cfg.Brokers)
	nodes := make([]*localNode, 0, len(specs))
	for i := range specs {
		dir, err := filepath.Abs(filepath.Join(root, "n"+strconv.Itoa(i+1)))
		if err != nil {
			return fmt.Errorf("start local Kafka: %w", err)
		}
		specs[i] = nodeSpec{id: int32(i + 1), clientPort: clientPorts[i], controllerPort: free[i], dataDir: filepath.Join(dir, "data")}
		n := &localNode{
			nodeSpec: specs[i], dir: dir, props: filepath.Join(dir, "server.properties"),
			logPath: filepath.Join(dir, "logs", "server.log"), addr: net.JoinHostPort(host, strconv.Itoa(clientPorts[i])),
		}
		for _, d := range []string{n.dataDir, filepath.Dir(n.logPath)} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("start local Kafka: %w", err)
			}
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		props := renderProps(n.nodeSpec, specs, host, l.cfg.Overrides)
		if err := os.WriteFile(n.props, []byte(props), 0o644); err != nil {
			return fmt.Errorf("start local Kafka: write %s: %w", n.props, err)
		}
	}
	l.mu.Lock()
	l.nodes = nodes
	l.mu.Unlock()
	return nil
}

// jvmArgs are the JVM options of kafka-run-class.sh with a smaller heap.
func (l *Local) jvmArgs(extra ...string) []string {
	heap := l.cfg.HeapMB
	args := []string{
		"-Xms" + strconv.Itoa(min(256, heap)) + "m", "-Xmx" + strconv.Itoa(heap) + "m",
		"-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
		"-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true",
	}
	args = append(args, l.cfg.JVMOptions...)
	return l.withClasspath(append(args, extra...))
}

// toolArgs are JVM options for a short-lived tool: a small heap, the serial
// collector and the C1 compiler only, which start faster and burn less CPU
// than a broker's settings.
func (l *Local) toolArgs(extra ...string) []string {
	args := []string{"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
		"-Dchaosrun.kafka.loglevel=WARN"}
	return l.withClasspath(append(args, extra...))
}

func (l *Local) withClasspath(args []string) []string {
	if l.log4j != "" {
		args = append(args, "-Dlog4j2.configurationFile="+l.log4j)
	}
	return append(args, "-cp", filepath.Join(l.cfg.LibsDir, "*"))
}

// format runs the storage tool for every node, in parallel.
func (l *Local) format(ctx context.Context) error {
	dirIDs := make([]string, len(l.nodes))
	specs := make([]nodeSpec, len(l.nodes))
	for i, n := range l.nodes {
		id, err := newUUID()
		if err != nil {
			return fmt.Errorf("format: directory id: %w", err)
		}
		dirIDs[i], specs[i] = id, n.nodeSpec
	}
	controllers := initialControllers(specs, l.cfg.Host, dirIDs)
	errs := make([]error, len(l.nodes))
	var wg sync.WaitGroup
	for i, n := range l.nodes {
		wg.Go(func() {
			args := append(l.toolArgs(), "kafka.tools.StorageTool", "format",
				"--cluster-id", l.clusterID, "--config", n.props, "--initial-controllers", controllers)
			logPath := filepath.Join(n.dir, "logs", "format.log")
			if err := l.runTool(ctx, n, args, logPath); err != nil {
				errs[i] = fmt.Errorf("format node %d storage: %w: %w\n%s", n.id, ErrBrokerExited, err, proc.Tail(logPath, 20))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// runTool runs a short-lived JVM of node n (the storage format tool) to
// its end; when ctx ends first, it kills it.
func (l *Local) runTool(ctx context.Context, n *localNode, args []string, logPath string) error {
	p, err := proc.Start(l.life, proc.Spec{Name: fmt.Sprintf("node %d tool", n.id), Path: l.java, Args: args,
		Dir: n.dir, Command: l.command(n.id), Log: logPath})
	if err != nil {
		return err
	}
	if err := p.Wait(ctx); err != nil {
		return errors.Join(err, p.Kill())
	}
	return nil
}

// command returns LocalConfig.Command bound to node id, or nil (java is
// then run directly).
func (l *Local) command(id int32) func(context.Context, string, ...string) *exec.Cmd {
	if l.cfg.Command == nil {
		return nil
	}
	return func(ctx context.Context, name string, args ...string) *exec.Cmd {
		return l.cfg.Command(ctx, int(id), name, args...)
	}
}

// startNode starts node n's JVM; l.mu is held.
func (l *Local) startNode(n *localNode) error {
	if l.closed {
		return fmt.Errorf("start node %d: %w", n.id, ErrClosed)
	}
	args := append(l.jvmArgs("-Dkafka.logs.dir="+filepath.Dir(n.logPath)), "kafka.Kafka", n.props)
	// NB: the broker lives as long as l.life and dies at once when it ends:
	// a controlled shutdown is for StopBroker.
	p, err := proc.Start(l.life, proc.Spec{Name: fmt.Sprintf("node %d", n.id), Path: l.java, Args: args,
		Dir: n.dir, Command: l.command(n.id), Log: n.logPath})
	if err != nil {
		return fmt.Errorf("start node %d: %w", n.id, err)
	}
	n.proc = p
	l.log.Debug("broker process started", "node", n.id, "pid", p.Pid(), "addr", n.addr)
	return nil
}

// exitError describes a node whose process exited, with its log's tail.
func exitError(n *localNode, p *proc.Proc) error {
	tail := proc.Tail(n.logPath, 20)
	base := fmt.Errorf("%w: node %d (pid %d, %v)", ErrBrokerExited, n.id, p.Pid(), p.Err())
	if mentionsPortInUse(tail) {
		base = fmt.Errorf("%w: %w", base, ErrPortInUse)
	}
	return fmt.Errorf("%w; last lines of %s:\n%s", base, n.logPath, tail)
}

// waitReady waits until each node of which serves metadata that lists
// itself and every other running broker and, when initial, until the ready
// topic can be created. A node of which exiting meanwhile ends the wait
// with its log's tail.
func (l *Local) waitReady(ctx context.Context, which []*localNode, initial bool) error {
	r := readiness{want: l.running, exited: func(context.Context) error { return l.exited(which) }}
	for _, n := range which {
		r.nodes = append(r.nodes, readyNode{id: n.id, addr: n.addr})
	}
	if initial {
		r.bootstrap, r.replicas = l.Bootstrap(), int16(min(len(which), 3))
	}
	return waitReady(ctx, r)
}

// running returns the ids of the running brokers.
func (l *Local) running() []int32 { return slices.Sorted(maps.Keys(l.PIDs())) }

// exited returns the exit error of the first node of which whose process
// has exited, or nil.
func (l *Local) exited(which []*localNode) error {
	for _, n := range which {
		l.mu.Lock()
		p := n.proc
		l.mu.Unlock()
		if p.Exited() {
			return exitError(n, p)
		}
	}
	return nil
}

// Bootstrap returns the client addresses of all brokers (valid after Start).
func (l *Local) Bootstrap() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.nodes))
	for i, n := range l.nodes {
		out[i] = n.addr
	}
	return out
}

// Brokers returns the node ids, 1..N.
func (l *Local) Brokers() []int32 {
	ids := make([]int32, l.cfg.Brokers)
	for i := range ids {
		ids[i] = int32(i + 1)
	}
	return ids
}

// LogPath returns the server log of broker id, for reports and post-mortems.
func (l *Local) LogPath(id int32) (string, error) {
	n, err := l.node(id)
	if err != nil {
		return "", err
	}
	return n.logPath, nil
}

// PIDs returns the process ids of the running brokers, by node id.
func (l *Local) PIDs() map[int32]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int32]int{}
	for _, n := range l.nodes {
		if n.proc != nil && !n.proc.Exited() {
			out[n.id] = n.proc.Pid()
		}
	}
	return out
}

func (l *Local) node(id int32) (*localNode, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id < 1 || int(id) > len(l.nodes) {
		return nil, fmt.Errorf("broker %d (have %d): %w", id, len(l.nodes), ErrBadConfig)
	}
	return l.nodes[id-1], nil
}

// KillBroker kills broker id with SIGKILL; its data is kept. Idempotent.
func (l *Local) KillBroker(id int32) error {
	n, err := l.node(id)
	if err != nil {
		return fmt.Errorf("kill: %w", err)
	}
	l.mu.Lock()
	p := n.proc
	l.mu.Unlock()
	if p == nil {
		return nil
	}
	l.log.Info("killing broker", "node", id, "pid", p.Pid())
	if err := p.Kill(); err != nil {
		return fmt.Errorf("kill broker %d: %w", id, err)
	}
	return nil
}

// StopBroker stops broker id with SIGTERM, and SIGKILL once ctx is done.
// Idempotent.
func (l *Local) StopBroker(ctx context.Context, id int32) error {
	n, err := l.node(id)
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	l.mu.Lock()
	p := n.proc
	l.mu.Unlock()
	if p == nil {
		return nil
	}
	l.log.Info("stopping broker", "node", id, "pid", p.Pid())
	if err := p.Stop(ctx); err != nil {
		return fmt.Errorf("stop broker %d: %w", id, err)
	}
	return nil
}

// StartBroker restarts broker id on its data directory and waits, until ctx
// is done, until it serves metadata listing every broker. The new process
// lives as long as the context given to Start. A running broker is left
// alone.
func (l *Local) StartBroker(ctx context.Context, id int32) error {
	n, err := l.node(id)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	l.mu.Lock()
	if n.proc != nil && !n.proc.Exited() {
		l.mu.Unlock()
		return nil
	}
	err = l.startNode(n)
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("restart broker %d: %w", id, err)
	}
	t0 := time.Now()
	if err := l.waitReady(ctx, []*localNode{n}, false); err != nil {
		return fmt.Errorf("restart broker %d: %w", id, err)
	}
	l.log.Info("broker restarted", "node", id, "pid", n.proc.Pid(), "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// Close kills every process of the cluster and waits until they are gone.
// The run directory is kept. Idempotent.
func (l *Local) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	var procs []*proc.Proc
	for _, n := range l.nodes {
		if n.proc != nil {
			procs = append(procs, n.proc)
		}
	}
	l.mu.Unlock()
	var errs []error
	for _, p := range procs {
		if err := p.Kill(); err != nil {
			errs = append(errs, err)
		}
	}
	if l.cancel != nil {
		l.cancel()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close local Kafka: %w", err)
	}
	return nil
}

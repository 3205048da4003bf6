package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"

	"github.com/chaosrun/chaosrun/internal/proc"
)

// ProviderTestcontainers names the testcontainers provider in
// Options.Provider (and the CLI's `--kafka testcontainers`).
const ProviderTestcontainers = "testcontainers"

// KafkaVersion is the Apache Kafka version of the local provider's jars
// (pinned in build/kafka/pom.xml; a test keeps the two equal) and the tag of
// the default container image.
const KafkaVersion = "4.4.0"

// DefaultImage is the container image the testcontainers provider runs when
// neither TestcontainersConfig.Image nor $CHAOSRUN_KAFKA_IMAGE names one and
// LocalImage is not built: the official image, which ordinary CI pulls.
const DefaultImage = "apache/kafka:" + KafkaVersion

// LocalImage is the image `make kafka-image` builds without a registry. When
// no image is named and the Docker engine has it, the provider runs it
// rather than pulling DefaultImage.
const LocalImage = "chaosrun/kafka:" + KafkaVersion

// EnvImage names the environment variable that picks the testcontainers
// provider's image; the Makefile exports it pointing at the locally built
// image when that exists.
const EnvImage = "CHAOSRUN_KAFKA_IMAGE"

// MaxContainerBrokers bounds TestcontainersConfig.Brokers.
const MaxContainerBrokers = 3

// Labels the testcontainers provider puts on every container and network it
// creates, so that they can be found (and removed) by run.
const (
	LabelRunID    = "chaosrun.run-id"
	LabelProvider = "chaosrun.provider"
	LabelNode     = "chaosrun.node"
)

// Sentinel errors of the testcontainers provider.
var (
	// ErrDockerUnavailable means no Docker engine answered.
	ErrDockerUnavailable = errors.New("sink/kafka: no Docker engine (run `make deps`, which starts one)")
	// ErrImageUnavailable means the image is neither present nor pullable.
	ErrImageUnavailable = errors.New("sink/kafka: Kafka image unavailable (`make kafka-image` builds one; " + EnvImage + " picks it)")
)

// Container ports the provider's listeners use inside each container.
const (
	hostListenerPort       = 19092 // HOST: mapped to 127.0.0.1:<free port> for clients on the host
	brokerListenerPort     = 9092  // BROKER: inter-broker traffic on the container network
	controllerListenerPort = 9093  // CONTROLLER: the KRaft quorum
)

// ryukImage is the reaper image testcontainers-go v0.45.0 starts unless
// told not to (its internal config.ReaperDefaultImage).
const ryukImage = "testcontainers/ryuk:0.14.0"

// envRyukDisabled is testcontainers-go's switch for its reaper.
const envRyukDisabled = "TESTCONTAINERS_RYUK_DISABLED"

// TestcontainersConfig configures the testcontainers provider. Zero values
// take the defaults noted.
type TestcontainersConfig struct {
	// Image is the Kafka image; default $CHAOSRUN_KAFKA_IMAGE, then
	// DefaultImage. It must configure itself from KAFKA_* variables like the
	// official image (chaosrun/kafka does). A missing image is pulled.
	Image string
	// Brokers is the number of combined broker+controller containers, 1
	// (the default) to MaxContainerBrokers. More than one run on a network
	// of their own with a static quorum.
	Brokers int
	// RunID labels every container and network (LabelRunID) and names the
	// containers; default a random id. Letters, digits, '.', '_', '-'.
	RunID string
	// Dir, when set, receives each container's output at Close, in the
	// local provider's layout: Dir/kafka/nN/logs/server.log.
	Dir string
	// HeapMB is each broker's maximum heap; default 512.
	HeapMB int
	// StartTimeout bounds Start, a pull of the image included; default 3m.
	StartTimeout time.Duration
	// Overrides adds or replaces broker properties (server.properties keys);
	// they reach the container as KAFKA_* variables.
	Overrides map[string]string
	// Logger receives the provider's logs (testcontainers' own at debug
	// level); default slog.Default().
	Logger *slog.Logger
}

var runIDPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

func (c TestcontainersConfig) withDefaults() (TestcontainersConfig, error) {
	if c.Image == "" {
		c.Image = os.Getenv(EnvImage)
	}
	if c.Image == "" {
		c.Image = DefaultImage
		if imagePresent(context.Background(), LocalImage) {
			c.Image = LocalImage
		}
	}
	if c.Brokers == 0 {
		c.Brokers = 1
	}
	if c.RunID == "" {
		id, err := newUUID()
		if err != nil {
			return c, fmt.Errorf("testcontainers provider: run id: %w", err)
		}
		// Docker names are case-sensitive but people type them: keep it simple.
		c.RunID = "tc-" + strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(id))[:12]
	}
	if c.HeapMB == 0 {
		c.HeapMB = 512
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 3 * time.Minute
	}
	c.Logger = orDefault(c.Logger)
	return c, nil
}

func (c TestcontainersConfig) validate() error {
	switch {
	case c.Brokers < 1 || c.Brokers > MaxContainerBrokers:
		return fmt.Errorf("testcontainers provider: %d brokers (want 1..%d): %w", c.Brokers, MaxContainerBrokers, ErrBadConfig)
	case !runIDPattern.MatchString(c.RunID):
		return fmt.Errorf("testcontainers provider: run id %q (want %s): %w", c.RunID, runIDPattern, ErrBadConfig)
	case c.HeapMB < 128:
		return fmt.Errorf("testcontainers provider: heap %d MB (want >= 128): %w", c.HeapMB, ErrBadConfig)
	}
	return nil
}

// Testcontainers is a Provider that runs Apache Kafka in KRaft mode in
// Docker containers through testcontainers-go: one combined
// broker+controller per container, each with three listeners:
//
//	HOST        0.0.0.0:19092 in the container, published on 127.0.0.1:P and
//	            advertised as 127.0.0.1:P, P a free port chosen before the
//	            container is created (so the advertised address is known
//	            up front and clients on the host follow it)
//	BROKER      kafka-N:9092, inter-broker traffic on the containers' network
//	CONTROLLER  kafka-N:9093, the static KRaft quorum
//
// Start waits until every broker serves metadata listing all brokers and a
// topic can be created. Close removes the containers with their anonymous
// volumes and the network; so does cancelling the context given to Start,
// and so does SIGINT or SIGTERM, after which the signal takes its ordinary
// course. Nothing relies on testcontainers' reaper (Ryuk): when its image is
// not present locally it is disabled for the process
// (TESTCONTAINERS_RYUK_DISABLED=true, unless that variable is already set).
type Testcontainers struct {
	cfg TestcontainersConfig
	log *slog.Logger

	mu         sync.Mutex
	started    bool
	closed     bool
	cancel     context.CancelFunc
	docker     *testcontainers.DockerClient
	net        *testcontainers.DockerNetwork
	nodes      []*containerNode
	volumes    []string       // anonymous volumes of the containers, for Resources
	inflight   sync.WaitGroup // a Start at work; Close waits for it
	closeOnce  sync.Once
	closeErr   error
	bootstrap  []string
	clusterID  string
	imageLocal bool
}

// containerNode is one broker container.
type containerNode struct {
	id       int32
	alias    string
	hostPort int
	addr     string // 127.0.0.1:hostPort
	ctr      *testcontainers.DockerContainer
}

// NewTestcontainers validates cfg and returns a testcontainers provider; it
// starts nothing and does not contact Docker.
func NewTestcontainers(cfg TestcontainersConfig) (*Testcontainers, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Testcontainers{cfg: cfg, log: cfg.Logger.With("provider", ProviderTestcontainers, "run", cfg.RunID)}, nil
}

// Name returns "testcontainers".
func (p *Testcontainers) Name() string { return ProviderTestcontainers }

// RunID returns the run id every container and network is labelled with.
func (p *Testcontainers) RunID() string { return p.cfg.RunID }

// Image returns the image the containers run.
func (p *Testcontainers) Image() string { return p.cfg.Image }

// Start creates the network (several brokers only) and the containers and
// waits, up to TestcontainersConfig.StartTimeout, until the cluster is ready.
// ctx bounds the start and the cluster's life: when it is done, everything is
// removed. On error nothing is left behind. A missing Docker engine gives an
// error wrapping ErrDockerUnavailable.
func (p *Testcontainers) Start(ctx context.Context) ([]string, error) {
	p.mu.Lock()
	if p.started || p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("start Kafka containers: already started or closed: %w", ErrClosed)
	}
	p.started = true
	life, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	p.inflight.Add(1)
	p.mu.Unlock()
	signals.add(p)
	// The cluster lives as long as ctx: tear it down when ctx ends first.
	go func() {
		<-life.Done()
		_ = p.Close()
	}()

	t0 := time.Now()
	sctx, stop := context.WithTimeout(life, p.cfg.StartTimeout)
	defer stop()
	addrs, err := p.start(sctx)
	p.inflight.Done() // before Close, which waits for it
	if err != nil {
		if cerr := p.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	took := time.Since(t0)
	p.mu.Lock()
	p.bootstrap = slices.Clone(addrs)
	p.mu.Unlock()
	p.log.Info("Kafka containers ready", "bootstrap", addrs, "brokers", p.cfg.Brokers, "image", p.cfg.Image,
		"took", took.Round(time.Millisecond))
	return addrs, nil
}

func (p *Testcontainers) start(ctx context.Context) ([]string, error) {
	configureTestcontainers(ctx, p.log)
	docker, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, fmt.Errorf("start Kafka containers: %w: %w", ErrDockerUnavailable, err)
	}
	if !p.adopt(func() { p.docker = docker }) {
		_ = docker.Close()
		return nil, fmt.Errorf("start Kafka containers: %w", ErrClosed)
	}
	if _, err := docker.ImageInspect(ctx, p.cfg.Image); err == nil {
		p.imageLocal = true
	} else {
		p.log.Info("image not present locally; testcontainers pulls it", "image", p.cfg.Image)
	}
	if p.clusterID, err = newUUID(); err != nil {
		return nil, fmt.Errorf("start Kafka containers: cluster id: %w", err)
	}

	nodes := make([]*containerNode, p.cfg.Brokers)
	for i := range nodes {
		nodes[i] = &containerNode{id: int32(i + 1), alias: "kafka-" + strconv.Itoa(i+1)}
	}
	if len(nodes) > 1 {
		nw, err := tcnetwork.New(ctx, tcnetwork.WithLabels(p.labels(0)))
		if err != nil {
			return nil, fmt.Errorf("start Kafka containers: network: %w", err)
		}
		if !p.adopt(func() { p.net = nw }) {
			return nil, errors.Join(fmt.Errorf("start Kafka containers: %w", ErrClosed), nw.Remove(context.WithoutCancel(ctx)))
		}
	}
	// Create the containers concurrently: most of a start is each JVM's.
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = p.run(ctx, n, nodes) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := p.waitReady(ctx); err != nil {
		return nil, fmt.Errorf("start Kafka containers (%d brokers, image %s): %w", len(nodes), p.cfg.Image, err)
	}
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.addr
	}
	return addrs, nil
}

// adopt runs record, which makes a new resource known to Close, unless
// Close has begun; then it reports false and the caller removes the
// resource itself. Together with Close setting closed first, this leaves
// no window in which a resource is known to nobody.
func (p *Testcontainers) adopt(record func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	record()
	return true
}

// labels returns the labels of the run's resources; node 0 means none.
func (p *Testcontainers) labels(node int32) map[string]string {
	l := map[string]string{LabelRunID: p.cfg.RunID, LabelProvider: ProviderTestcontainers}
	if node > 0 {
		l[LabelNode] = strconv.Itoa(int(node))
	}
	return l
}

// run creates and starts node n's container on a free host port, retrying
// with another port when the engine finds it taken meanwhile.
func (p *Testcontainers) run(ctx context.Context, n *containerNode, all []*containerNode) error {
	var last error
	for range 3 {
		ports, err := reservePorts("127.0.0.1", 1)
		if err != nil {
			return fmt.Errorf("start broker %d container: %w", n.id, err)
		}
		n.hostPort, n.addr = ports[0], net.JoinHostPort(loopback.String(), strconv.Itoa(ports[0]))
		ctr, err := testcontainers.GenericContainer(ctx, p.request(n, all))
		if c, ok := ctr.(*testcontainers.DockerContainer); ok && c != nil {
			adopted := p.adopt(func() {
				n.ctr = c
				if err == nil {
					p.nodes = append(p.nodes, n)
				}
			})
			if !adopted { // Close ran meanwhile and cannot know of it
				rerr := testcontainers.TerminateContainer(c, testcontainers.StopContext(context.WithoutCancel(ctx)))
				return errors.Join(fmt.Errorf("start broker %d container: %w", n.id, ErrClosed), rerr)
			}
		}
		if err == nil {
			return p.noteVolumes(ctx, n)
		}
		last = err
		// The container may exist half-made; it goes before the next try.
		if rerr := p.removeNode(context.WithoutCancel(ctx), n); rerr != nil {
			return fmt.Errorf("start broker %d container: %w (and removing it: %w)", n.id, err, rerr)
		}
		if !isPortTaken(err) || ctx.Err() != nil {
			break
		}
		p.log.Info("host port taken meanwhile; retrying with another", "node", n.id, "port", n.hostPort)
	}
	if !p.imageLocal && strings.Contains(strings.ToLower(last.Error()), "pull") {
		return fmt.Errorf("start broker %d container: %w: %w", n.id, ErrImageUnavailable, last)
	}
	return fmt.Errorf("start broker %d container (image %s): %w", n.id, p.cfg.Image, last)
}

func isPortTaken(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "port is already allocated") || strings.Contains(s, "address already in use")
}

// request is the container request of node n.
func (p *Testcontainers) request(n *containerNode, all []*containerNode) testcontainers.GenericContainerRequest {
	host := network.MustParsePort(strconv.Itoa(hostListenerPort) + "/tcp")
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        p.cfg.Image,
			Name:         fmt.Sprintf("chaosrun-%s-kafka-%d", p.cfg.RunID, n.id),
			Env:          p.env(n, all),
			ExposedPorts: []string{host.String()},
			Labels:       p.labels(n.id),
			HostConfigModifier: func(hc *container.HostConfig) {
				// Published on loopback only, at the port the broker advertises.
				hc.PortBindings = network.PortMap{host: {{HostIP: loopback, HostPort: strconv.Itoa(n.hostPort)}}}
			},
		},
		Started: true,
		Logger:  tcLogger{p.log},
	}
	if p.net != nil {
		req.Networks = []string{p.net.Name}
		req.NetworkAliases = map[string][]string{p.net.Name: {n.alias}}
	}
	return req
}

// env renders node n's configuration as the KAFKA_* variables the official
// image (and chaosrun/kafka) turn into server.properties, plus CLUSTER_ID
// and the heap.
func (p *Testcontainers) env(n *containerNode, all []*containerNode) map[string]string {
	props := p.props(n, all)
	env := make(map[string]string, len(props)+2)
	for k, v := range props {
		env[PropertyEnv(k)] = v
	}
	env["CLUSTER_ID"] = p.clusterID
	env["KAFKA_HEAP_OPTS"] = fmt.Sprintf("-Xms%dm -Xmx%dm", min(256, p.cfg.HeapMB), p.cfg.HeapMB)
	return env
}

// props returns node n's broker properties.
func (p *Testcontainers) props(n *containerNode, all []*containerNode) map[string]string {
	brokerHost, voters := "localhost", fmt.Sprintf("1@localhost:%d", controllerListenerPort)
	if len(all) > 1 {
		brokerHost = n.alias
		vs := make([]string, len(all))
		for i, o := range all {
			vs[i] = fmt.Sprintf("%d@%s:%d", o.id, o.alias, controllerListenerPort)
		}
		voters = strings.Join(vs, ",")
	}
	props := map[string]string{
		"node.id":       strconv.Itoa(int(n.id)),
		"process.roles": "broker,controller",
		"listeners": fmt.Sprintf("HOST://0.0.0.0:%d,BROKER://0.0.0.0:%d,CONTROLLER://0.0.0.0:%d",
			hostListenerPort, brokerListenerPort, controllerListenerPort),
		"advertised.listeners":           fmt.Sprintf("HOST://%s,BROKER://%s:%d", n.addr, brokerHost, brokerListenerPort),
		"listener.security.protocol.map": "HOST:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"inter.broker.listener.name":     "BROKER",
		"controller.listener.names":      "CONTROLLER",
		// A static quorum: plain `format` suffices, in either image.
		"controller.quorum.voters": voters,
		"log.dirs":                 "/var/lib/kafka/data",
	}
	maps.Copy(props, sharedProps(len(all)))
	maps.Copy(props, p.cfg.Overrides)
	return props
}

// PropertyEnv returns the environment variable that sets broker property
// key in the official apache/kafka image (and chaosrun/kafka): KAFKA_ plus
// the key upper-cased with '-' written "___", '_' written "__" and '.'
// written "_" (node.id → KAFKA_NODE_ID).
func PropertyEnv(key string) string {
	return "KAFKA_" + strings.ToUpper(strings.NewReplacer("-", "___", "_", "__", ".", "_").Replace(key))
}

// container returns node n's container, nil once it is removed.
func (p *Testcontainers) container(n *containerNode) *testcontainers.DockerContainer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return n.ctr
}

// noteVolumes remembers node n's volumes for Resources.
func (p *Testcontainers) noteVolumes(ctx context.Context, n *containerNode) error {
	info, err := p.container(n).Inspect(ctx)
	if err != nil {
		return fmt.Errorf("inspect broker %d container: %w", n.id, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range info.Mounts {
		if m.Type == "volume" && m.Name != "" {
			p.volumes = append(p.volumes, m.Name)
		}
	}
	return nil
}

// waitReady waits until every broker serves metadata that lists all
// brokers and the ready topic can be created. A container that exits
// meanwhile ends the wait with its output's tail.
func (p *Testcontainers) waitReady(ctx context.Context) error {
	r := readiness{bootstrap: p.addrs(), replicas: int16(len(p.nodes)), exited: p.exited}
	ids := make([]int32, len(p.nodes))
	for i, n := range p.nodes {
		r.nodes = append(r.nodes, readyNode{id: n.id, addr: n.addr})
		ids[i] = n.id
	}
	r.want = func() []int32 { return ids }
	return waitReady(ctx, r)
}

// exited reports the first broker container that is no longer running,
// with the tail of its output.
func (p *Testcontainers) exited(ctx context.Context) error {
	for _, n := range p.nodes {
		ctr := p.container(n)
		if ctr == nil {
			return fmt.Errorf("broker %d container: removed meanwhile: %w", n.id, ErrClosed)
		}
		st, err := ctr.State(ctx)
		if err == nil && !st.Running {
			return fmt.Errorf("%w: broker %d container %s (exit code %d); last lines of its output:\n%s",
				ErrBrokerExited, n.id, st.Status, st.ExitCode, p.tail(ctx, n, 30))
		}
	}
	return nil
}

func (p *Testcontainers) addrs() []string {
	out := make([]string, len(p.nodes))
	for i, n := range p.nodes {
		out[i] = n.addr
	}
	slices.Sort(out)
	return out
}

// tail returns the last n lines of node n's container output.
func (p *Testcontainers) tail(ctx context.Context, node *containerNode, n int) string {
	out, err := p.output(ctx, node)
	if err != nil {
		return fmt.Sprintf("(no output: %v)", err)
	}
	return proc.LastLines(string(out), n)
}

func (p *Testcontainers) output(ctx context.Context, node *containerNode) ([]byte, error) {
	ctr := p.container(node)
	if ctr == nil {
		return nil, fmt.Errorf("logs of broker %d: container removed: %w", node.id, ErrClosed)
	}
	rc, err := ctr.Logs(ctx)
	if err != nil {
		return nil, fmt.Errorf("logs of broker %d: %w", node.id, err)
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(rc)
	if err != nil {
		return b, fmt.Errorf("logs of broker %d: %w", node.id, err)
	}
	return b, nil
}

// Bootstrap returns the client addresses of all brokers (valid after Start).
func (p *Testcontainers) Bootstrap() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.bootstrap)
}

// Resources lists what the run has in the Docker engine: container ids, the
// network id and anonymous volume names. Close removes all of them.
func (p *Testcontainers) Resources() (containers []string, networks []string, volumes []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.nodes {
		if n.ctr != nil {
			containers = append(containers, n.ctr.GetContainerID())
		}
	}
	if p.net != nil {
		networks = append(networks, p.net.ID)
	}
	return containers, networks, slices.Clone(p.volumes)
}

// Close saves each container's output under Dir (when set), then removes the
// containers with their anonymous volumes and the network, and finally
// removes whatever else carries the run's label. A Start still at work is
// cancelled and waited for first. Idempotent; concurrent callers wait for
// the first.
func (p *Testcontainers) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		cancel := p.cancel
		p.mu.Unlock()
		// A Start at work stops creating (its context is cancelled), removes
		// what it could not hand over (adopt) and returns; only then is the
		// list of what to remove complete.
		if cancel != nil {
			cancel()
		}
		p.inflight.Wait()
		// NB: the teardown must outlive the cancelled Start context.
		ctx, stop := context.WithTimeout(context.Background(), 2*time.Minute)
		defer stop()
		p.closeErr = p.teardown(ctx)
		signals.remove(p)
	})
	return p.closeErr
}

func (p *Testcontainers) teardown(ctx context.Context) error {
	p.mu.Lock()
	nodes := slices.Clone(p.nodes)
	nw, docker := p.net, p.docker
	p.mu.Unlock()
	var errs []error
	if p.cfg.Dir != "" {
		for _, n := range nodes {
			if err := p.saveOutput(ctx, n); err != nil {
				p.log.Warn("container output not saved", "node", n.id, "err", err)
			}
		}
	}
	var wg sync.WaitGroup
	nerrs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Go(func() { nerrs[i] = p.removeNode(ctx, n) })
	}
	wg.Wait()
	errs = append(errs, nerrs...)
	if nw != nil {
		if err := nw.Remove(ctx); err != nil {
			errs = append(errs, fmt.Errorf("remove network %s: %w", nw.Name, err))
		}
	}
	if docker != nil {
		// Anything a failed create left behind carries the label too.
		if _, err := sweep(ctx, docker.Client, p.cfg.RunID); err != nil {
			errs = append(errs, err)
		}
		if err := docker.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close Docker client: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close Kafka containers of run %s: %w", p.cfg.RunID, err)
	}
	p.log.Info("Kafka containers removed", "brokers", len(nodes))
	return nil
}

// removeNode removes node n's container, if any, with its anonymous volumes.
func (p *Testcontainers) removeNode(ctx context.Context, n *containerNode) error {
	p.mu.Lock()
	ctr := n.ctr
	n.ctr = nil
	p.mu.Unlock()
	if ctr == nil {
		return nil
	}
	// The data is thrown away: no need for a controlled shutdown.
	err := testcontainers.TerminateContainer(ctr, testcontainers.StopContext(ctx), testcontainers.StopTimeout(0))
	if err != nil && !goneOrGoing(err) {
		return fmt.Errorf("remove broker %d container: %w", n.id, err)
	}
	return nil
}

func (p *Testcontainers) saveOutput(ctx context.Context, n *containerNode) error {
	if p.container(n) == nil {
		return nil
	}
	b, err := p.output(ctx, n)
	if err != nil {
		return err
	}
	path := filepath.Join(p.cfg.Dir, "kafka", "n"+strconv.Itoa(int(n.id)), "logs", "server.log")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save output of broker %d: %w", n.id, err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("save output of broker %d: %w", n.id, err)
	}
	return nil
}

// SweepContainers removes every container (with its anonymous volumes) and
// network labelled with runID by the testcontainers provider, or with any
// run id when runID is "", and reports how many it removed. It is for
// leftovers of a process that was killed before it could Close.
func SweepContainers(ctx context.Context, runID string) (int, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return 0, fmt.Errorf("sweep Kafka containers: %w: %w", ErrDockerUnavailable, err)
	}
	defer func() { _ = cli.Close() }()
	return sweep(ctx, cli, runID)
}

func sweep(ctx context.Context, cli *client.Client, runID string) (int, error) {
	f := client.Filters{}.Add("label", LabelProvider+"="+ProviderTestcontainers)
	if runID != "" {
		f = f.Add("label", LabelRunID+"="+runID)
	}
	var errs []error
	removed := 0
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("sweep Kafka containers of run %q: list: %w", runID, err)
	}
	for _, c := range cs.Items {
		_, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !goneOrGoing(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", c.ID, err))
			continue
		}
		removed++
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return removed, fmt.Errorf("sweep Kafka networks of run %q: list: %w", runID, err)
	}
	for _, n := range ns.Items {
		if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !goneOrGoing(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		removed++
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("sweep Kafka resources of run %q: %w", runID, err)
	}
	return removed, nil
}

// goneOrGoing reports whether a removal failed only because the object is
// already gone, or being removed by someone else (`make clean-containers`,
// a second Close through the signal handler).
func goneOrGoing(err error) bool {
	return cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress")
}

// tcLogger sends testcontainers' log lines to slog at debug level.
type tcLogger struct{ log *slog.Logger }

// Printf implements testcontainers' log.Logger.
func (l tcLogger) Printf(format string, v ...any) {
	l.log.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)), "component", "testcontainers")
}

var configureOnce sync.Once

// configureTestcontainers prepares testcontainers-go once per process,
// before its configuration is first read (it is read only once): Ryuk is
// disabled unless its image is present locally or the user chose with
// TESTCONTAINERS_RYUK_DISABLED, and the library's global log lines go to
// slog.Default() at debug level.
func configureTestcontainers(ctx context.Context, log *slog.Logger) {
	configureOnce.Do(func() {
		tclog.SetDefault(tcLogger{slog.Default()})
		if v, ok := os.LookupEnv(envRyukDisabled); ok {
			log.Debug("Ryuk setting left to the environment", envRyukDisabled, v)
			return
		}
		if imagePresent(ctx, ryukImage) {
			return
		}
		// NB: the only way to tell testcontainers-go; it reads it once.
		if err := os.Setenv(envRyukDisabled, "true"); err != nil {
			log.Warn("cannot disable Ryuk", "err", err)
			return
		}
		log.Info("Ryuk image not present locally: reaper disabled; the provider removes its containers itself",
			"ryuk", ryukImage)
	})
}

// loopback is where container ports are published.
var loopback = netip.MustParseAddr("127.0.0.1")

// imagePresent reports whether the Docker engine has image; false when no
// engine answers within a few seconds. NB: the plain Docker client, not
// testcontainers', whose first use freezes its configuration (the reaper
// setting configureTestcontainers may still have to make).
func imagePresent(ctx context.Context, image string) bool {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return false
	}
	defer func() { _ = cli.Close() }()
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = cli.ImageInspect(ictx, image)
	return err == nil
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/internal/place"
	"github.com/chaosrun/chaosrun/sink/kafka"
	"github.com/chaosrun/chaosrun/system/meta"
	"github.com/chaosrun/chaosrun/system/mtls"
	"github.com/chaosrun/chaosrun/system/node"
	"github.com/chaosrun/chaosrun/system/upstream"
)

// Spec describes the cluster to start.
type Spec struct {
	// Dir is the run directory; logs go to Dir/logs, data to Dir/<part>.
	Dir string
	// Binary is the chaosrun executable that has the role subcommands
	// (default: this process's executable).
	Binary string
	// Nodes is the number of CDC nodes (default 3).
	Nodes int
	// Tables is the number of upstream tables t1..tN (default 2).
	Tables int
	// Kafka is the Kafka provider options (default: local, 1 broker, in Dir).
	Kafka kafka.Options
	// SessionTTL is the nodes' capture lease TTL (default 5 s).
	SessionTTL time.Duration
	// Policy and SelfFence are passed to every node.
	Policy    fencing.Policy
	SelfFence bool
	// Sink is the nodes' sink mode (default node.SinkIdempotent).
	Sink node.SinkMode
	// Placement decides where each process runs and how the others reach
	// it (default Loopback{}).
	Placement place.Placement
	// Cluster is the meta-store key prefix (default "chaosrun").
	Cluster string
	// Logger receives progress lines (default slog.Default()).
	Logger *slog.Logger
}

// Cluster is a running system under test.
type Cluster struct {
	Spec     Spec
	Brokers  []string
	Provider kafka.Provider
	Meta     *Process
	Upstream *Process
	Nodes    []*Process
	// Store is a meta-store client for the harness.
	Store *meta.Store
	// Up is an upstream client for the harness and workloads.
	Up *upstream.Client

	log       *slog.Logger
	peerAddrs map[string]string // node process name -> fixed peer address
}

// Harness is the member name of the harness's certificate, which its
// clients of the meta store and the upstream present.
const Harness = "harness"

// TLSDir is the directory of the run's member certificates.
func (c *Cluster) TLSDir() string { return CertDir(c.Spec.Dir) }

// CertDir is the directory of the member certificates of the run in dir.
func CertDir(dir string) string { return filepath.Join(dir, "tls") }

// MetaEndpoint is the meta store's client URL.
func (c *Cluster) MetaEndpoint() string { return meta.Endpoint(c.Meta.Ready["addr"], true) }

// UpstreamAddr is the upstream's gRPC address.
func (c *Cluster) UpstreamAddr() string { return c.Upstream.Ready["addr"] }

// Start provisions Kafka, the meta store, the upstream and the nodes. On
// error everything started so far is stopped.
func Start(ctx context.Context, spec Spec) (_ *Cluster, err error) {
	if spec, err = spec.withDefaults(); err != nil {
		return nil, err
	}
	c := &Cluster{Spec: spec, log: spec.Logger}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	logDir := filepath.Join(spec.Dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: create %s: %w", logDir, err)
	}
	if err := c.issueCerts(); err != nil {
		return nil, err
	}
	if err := c.startKafka(ctx); err != nil {
		return nil, err
	}
	if err := c.startServices(ctx, logDir); err != nil {
		return nil, err
	}
	if err := c.pickPeerAddrs(); err != nil {
		return nil, err
	}
	if err := c.startNodes(ctx, logDir); err != nil {
		return nil, err
	}
	c.log.Info("cluster ready", "nodes", spec.Nodes, "meta", c.MetaEndpoint(), "upstream", c.UpstreamAddr())
	return c, nil
}

// withDefaults fills in the defaults of the zero fields and checks the rest.
func (spec Spec) withDefaults() (Spec, error) {
	if spec.Dir == "" {
		return spec, errors.New("cluster: Spec.Dir is required")
	}
	if spec.Nodes == 0 {
		spec.Nodes = 3
	}
	if spec.Nodes < 1 || spec.Nodes > 9 {
		return spec, fmt.Errorf("cluster: nodes must be 1..9, got %d", spec.Nodes)
	}
	if spec.Tables <= 0 {
		spec.Tables = 2
	}
	if spec.SessionTTL <= 0 {
		spec.SessionTTL = 5 * time.Second
	}
	if spec.Placement == nil {
		spec.Placement = place.Loopback{}
	}
	if spec.Cluster == "" {
		spec.Cluster = "chaosrun"
	}
	if spec.Logger == nil {
		spec.Logger = slog.Default()
	}
	if spec.Binary == "" {
		bin, err := os.Executable()
		if err != nil {
			return spec, fmt.Errorf("cluster: find own executable: %w", err)
		}
		spec.Binary = bin
	}
	return spec, nil
}

// issueCerts makes the run CA and a certificate for every member: the
// meta store, the upstream, each node and the harness.
func (c *Cluster) issueCerts() error {
	members := []string{meta.Member, upstream.Member, Harness}
	for i := 1; i <= c.Spec.Nodes; i++ {
		members = append(members, NodeName(i))
	}
	if err := mtls.Issue(c.TLSDir(), members...); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// startKafka starts the Kafka provider and records its brokers.
func (c *Cluster) startKafka(ctx context.Context) error {
	var err error
	c.Provider, c.Brokers, err = place.StartKafka(ctx, c.Spec.Kafka, c.Spec.Dir, c.Spec.Placement, c.log)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// startServices starts the meta store and the upstream and opens the
// harness's clients of both.
func (c *Cluster) startServices(ctx context.Context, logDir string) error {
	spec, pl := c.Spec, c.Spec.Placement
	var err error
	if c.Meta, err = startProcess(ctx, pl.Command, logDir, "meta", spec.Binary, "meta", "--dir", filepath.Join(spec.Dir, "meta"),
		"--listen", pl.Host("meta")+":0", "--tls-dir", c.TLSDir()); err != nil {
		return err
	}
	if c.Upstream, err = startProcess(ctx, pl.Command, logDir, "upstream", spec.Binary, "upstream",
		"--dir", filepath.Join(spec.Dir, "upstream"), "--tables", strconv.Itoa(spec.Tables), "--listen", pl.Host("upstream")+":0",
		"--tls-dir", c.TLSDir()); err != nil {
		return err
	}
	id, err := mtls.Load(c.TLSDir(), Harness)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if c.Store, err = meta.Open(ctx, meta.Config{Endpoints: []string{c.MetaEndpoint()}, Cluster: spec.Cluster, Identity: id, Logger: spec.Logger}); err != nil {
		return fmt.Errorf("cluster: open meta store: %w", err)
	}
	if c.Up, err = upstream.Dial(ctx, c.UpstreamAddr(), grpc.WithTransportCredentials(id.ClientCreds(upstream.Member))); err != nil {
		return fmt.Errorf("cluster: dial upstream: %w", err)
	}
	return nil
}

// pickPeerAddrs fixes every node's peer address before any node starts, so
// routes (proxies) between nodes can exist before their targets do.
func (c *Cluster) pickPeerAddrs() error {
	pl := c.Spec.Placement
	c.peerAddrs = map[string]string{}
	for i := 1; i <= c.Spec.Nodes; i++ {
		name := NodeName(i)
		var port int
		var err error
		if pp, ok := pl.(place.PortPicker); ok {
			port, err = pp.PeerPort(name)
		} else {
			port, err = place.FreePort(pl.Host(name))
		}
		if err != nil {
			return err
		}
		c.peerAddrs[name] = net.JoinHostPort(pl.Host(name), strconv.Itoa(port))
	}
	return nil
}

// startNodes starts the CDC nodes n1..nN.
func (c *Cluster) startNodes(ctx context.Context, logDir string) error {
	for i := 1; i <= c.Spec.Nodes; i++ {
		args, err := c.nodeArgs(ctx, NodeName(i), NodeName(i))
		if err != nil {
			return err
		}
		p, err := startProcess(ctx, c.Spec.Placement.Command, logDir, NodeName(i), c.Spec.Binary, args...)
		if err != nil {
			return err
		}
		c.Nodes = append(c.Nodes, p)
	}
	return nil
}

// NodeName is the process and initial node id of node i (1-based).
func NodeName(i int) string { return "n" + strconv.Itoa(i) }

// nodeArgs builds the arguments of the node process name running as id,
// with every address routed through the placement.
func (c *Cluster) nodeArgs(ctx context.Context, name, id string) ([]string, error) {
	selfFence := "off"
	if c.Spec.SelfFence {
		selfFence = "on"
	}
	sink := c.Spec.Sink
	if sink == "" {
		sink = node.SinkIdempotent
	}
	pl := c.Spec.Placement
	metaAddr, err := pl.Route(ctx, name, "meta", c.Meta.Ready["addr"])
	if err != nil {
		return nil, err
	}
	upAddr, err := pl.Route(ctx, name, "upstream", c.UpstreamAddr())
	if err != nil {
		return nil, err
	}
	var peers []string
	for _, peer := range slices.Sorted(maps.Keys(c.peerAddrs)) {
		if peer == name {
			continue
		}
		a, err := pl.Route(ctx, name, peer, c.peerAddrs[peer])
		if err != nil {
			return nil, err
		}
		peers = append(peers, peer+"="+a)
	}
	return []string{"node", "--id", id, "--dir", c.Spec.Dir, "--cluster", c.Spec.Cluster,
		"--listen", c.peerAddrs[name], "--metrics", pl.Host(name) + ":0",
		"--meta", meta.Endpoint(metaAddr, true), "--upstream", upAddr, "--tls-dir", c.TLSDir(), "--kafka", strings.Join(c.Brokers, ","),
		"--peer-routes", strings.Join(peers, ","),
		"--ttl", c.Spec.SessionTTL.String(), "--fencing", c.Spec.Policy.String(), "--self-fence", selfFence,
		"--sink", string(sink)}, nil
}

// PeerAddr returns the fixed peer address of node process name.
func (c *Cluster) PeerAddr(name string) string { return c.peerAddrs[name] }

// Node returns the process of node id (its initial id), or nil.
func (c *Cluster) Node(id string) *Process {
	for _, p := range c.Nodes {
		if p.Name == id {
			return p
		}
	}
	return nil
}

// RestartNode starts a stopped node again, under its old id or newID,
// which must be "<name>.<suffix>": the node keeps its member certificate.
func (c *Cluster) RestartNode(ctx context.Context, name, newID string) error {
	p := c.Node(name)
	if p == nil {
		return fmt.Errorf("cluster: no node %q", name)
	}
	id := name
	if newID != "" {
		if mtls.Member(newID) != name || newID == name {
			return fmt.Errorf("cluster: restart %s as %q: a new id must be %s.<suffix>", name, newID, name)
		}
		id = newID
	}
	args, err := c.nodeArgs(ctx, name, id)
	if err != nil {
		return err
	}
	return p.Restart(ctx, args)
}

// Partitions is the default partition count of a changefeed topic.
const Partitions = 4

// CreateChangefeed creates the changefeed's topic (partitions, with
// LogAppendTime) and registers it in the meta store, starting from the
// upstream's current timestamp.
func (c *Cluster) CreateChangefeed(ctx context.Context, id string, tables []string, partitions int32) error {
	if partitions <= 0 {
		partitions = Partitions
	}
	for _, t := range tables {
		if _, err := node.TableID(t); err != nil {
			return fmt.Errorf("cluster: changefeed %s: %w", id, err)
		}
	}
	rf := int16(1)
	if len(c.Brokers) >= 3 {
		rf = 3
	}
	spec := kafka.TopicSpec{Name: node.TopicOf(id), Partitions: partitions, ReplicationFactor: rf}
	if rf == 3 {
		spec.MinInsyncReplicas = 2
	}
	if err := kafka.CreateTopic(ctx, c.Brokers, spec); err != nil {
		return fmt.Errorf("cluster: create topic of changefeed %s: %w", id, err)
	}
	ts, err := c.Up.GetTS(ctx)
	if err != nil {
		return fmt.Errorf("cluster: start ts of changefeed %s: %w", id, err)
	}
	if err := c.Store.CreateChangefeed(ctx, meta.ChangefeedInfo{ID: id, Topic: node.TopicOf(id), Tables: tables, StartTs: ts}); err != nil {
		return fmt.Errorf("cluster: register changefeed %s: %w", id, err)
	}
	return nil
}

// stopGrace is how long a process has between SIGTERM and SIGKILL at Close.
const stopGrace = 5 * time.Second

// Close stops every process (nodes first, Kafka last) and closes clients.
// It reports processes whose group did not go away. It is idempotent.
func (c *Cluster) Close() error {
	var errs []error
	for _, p := range c.Nodes {
		errs = append(errs, p.Stop(stopGrace))
	}
	if c.Up != nil {
		c.Up.Close()
		c.Up = nil
	}
	if c.Store != nil {
		c.Store.Close()
		c.Store = nil
	}
	if c.Upstream != nil {
		errs = append(errs, c.Upstream.Stop(stopGrace))
	}
	if c.Meta != nil {
		errs = append(errs, c.Meta.Stop(stopGrace))
	}
	if c.Provider != nil {
		if err := c.Provider.Close(); err != nil {
			errs = append(errs, fmt.Errorf("cluster: stop kafka: %w", err))
		}
	}
	// The members' keys go with the cluster; the run's other evidence stays.
	if err := os.RemoveAll(c.TLSDir()); err != nil {
		errs = append(errs, fmt.Errorf("cluster: remove certificates: %w", err))
	}
	return errors.Join(errs...)
}

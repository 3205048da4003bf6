// Package cdc is the CDC control plane in system/ as a chaos target: a meta
// store, an upstream and the nodes, writing its changefeeds into Kafka.
package cdc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chaosrun/chaosrun/chaos"
	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/internal/place"
	"github.com/chaosrun/chaosrun/system/cluster"
	"github.com/chaosrun/chaosrun/system/mtls"
	"github.com/chaosrun/chaosrun/system/node"
	"github.com/chaosrun/chaosrun/system/upstream"
	"github.com/chaosrun/chaosrun/target"
	"github.com/chaosrun/chaosrun/workloads"
)

// Config is the control plane to start.
type Config struct {
	Nodes, Tables, Partitions, KafkaBrokers int
	// Changefeeds are the changefeeds to create, the first first; each
	// replicates every table into a topic of its own.
	Changefeeds []string
	// TTL is the nodes' session TTL.
	TTL time.Duration
	// Policy and SelfFence are passed to every node.
	Policy    fencing.Policy
	SelfFence bool
	// Sink is the nodes' sink mode (default idempotent); with node.SinkTxn
	// the tailer reads read_committed, as downstream consumers would.
	Sink node.SinkMode
}

// Target is the control plane as a target.Target.
type Target struct {
	cfg Config
	env target.Env
	log *slog.Logger
	c   *cluster.Cluster
}

var _ target.Target = (*Target)(nil)

// New returns the control plane described by cfg, not started.
func New(cfg Config) *Target { return &Target{cfg: cfg} }

// Names implements target.Target: Kafka, the meta store, the upstream and
// the nodes n1..nN.
func (t *Target) Names() []string {
	names := []string{place.KafkaName, "meta", "upstream"}
	for i := 1; i <= t.cfg.Nodes; i++ {
		names = append(names, cluster.NodeName(i))
	}
	return names
}

// Start implements target.Target: it starts the cluster and creates the
// changefeeds.
func (t *Target) Start(ctx context.Context, env target.Env) error {
	t.env, t.log = env, env.Logger
	spec := cluster.Spec{Dir: env.Dir, Binary: env.Binary, Nodes: t.cfg.Nodes, Tables: t.cfg.Tables,
		Kafka: env.Kafka, SessionTTL: t.cfg.TTL, Policy: t.cfg.Policy, SelfFence: t.cfg.SelfFence, Sink: t.cfg.Sink,
		Placement: env.Placement, Logger: env.Logger}
	spec.Kafka.Local.Brokers = t.cfg.KafkaBrokers
	spec.Kafka.Testcontainers.Brokers = t.cfg.KafkaBrokers
	spec.Kafka.Testcontainers.Dir = env.Dir
	var err error
	if t.c, err = cluster.Start(ctx, spec); err != nil {
		return err
	}
	for _, cf := range t.cfg.Changefeeds {
		if err := t.c.CreateChangefeed(ctx, cf, upstream.TableNames(t.cfg.Tables), int32(t.cfg.Partitions)); err != nil {
			return err
		}
	}
	return nil
}

// Processes implements target.Target.
func (t *Target) Processes() []chaos.Process {
	var procs []chaos.Process
	add := func(p *cluster.Process, role, nodeID, addr string) {
		procs = append(procs, chaos.Process{Name: p.Name, Role: role, NodeID: nodeID, Pid: p.Pid(), Pgid: p.Pid(),
			Endpoints: []chaos.Endpoint{{Name: target.EndpointOf(p.Name), Addr: addr, Probe: chaos.ProbeTLS}}})
	}
	add(t.c.Meta, chaos.RoleMeta, "", t.c.Meta.Ready["addr"])
	add(t.c.Upstream, chaos.RoleUpstream, "", t.c.UpstreamAddr())
	for _, n := range t.c.Nodes {
		add(n, chaos.RoleNode, n.Name, t.c.PeerAddr(n.Name))
	}
	return append(procs, chaos.Process{Name: place.KafkaName, Role: chaos.RoleKafka,
		Endpoints: []chaos.Endpoint{{Name: target.EndpointKafka, Addr: t.c.Brokers[0]}}})
}

// Sinks implements target.Target: each changefeed's topic, in the
// evidence format.
func (t *Target) Sinks() []target.Sink {
	var sinks []target.Sink
	for _, cf := range t.cfg.Changefeeds {
		sinks = append(sinks, target.Sink{Brokers: t.c.Brokers, Topic: node.TopicOf(cf), Changefeed: cf,
			ReadCommitted: t.cfg.Sink == node.SinkTxn})
	}
	return sinks
}

// Store implements target.Target: the upstream.
func (t *Target) Store() workloads.Store { return cluster.WorkloadStore{Client: t.c.Up} }

// Resolve implements target.Target: the owner from the election key, the
// maintainer of a changefeed from the tailer (only the maintainer's node
// writes watermarks), the bystander from both.
func (t *Target) Resolve(ctx context.Context, role string, view target.View) (string, error) {
	kind, arg, _ := strings.Cut(role, ":")
	switch kind {
	case "owner":
		o, err := t.c.Store.Owner(ctx)
		if err != nil {
			return "", fmt.Errorf("%w: owner: %w", chaos.ErrUnresolved, err)
		}
		return mtls.Member(o.Node), nil
	case "maintainer-of":
		if err := view.Flush(ctx); err != nil {
			return "", fmt.Errorf("%w: maintainer of %s: %w", chaos.ErrUnresolved, arg, err)
		}
		node, ok := view.WatermarkWriter(arg)
		if !ok {
			return "", fmt.Errorf("%w: maintainer of %s: no watermark seen yet", chaos.ErrUnresolved, arg)
		}
		return mtls.Member(node), nil
	case "bystander":
		return t.bystander(ctx, view)
	}
	return "", fmt.Errorf("%w: the control plane has no role %q", chaos.ErrUnresolved, role)
}

// bystander is the lowest-numbered node that is neither the owner nor the
// node of the first changefeed's maintainer.
func (t *Target) bystander(ctx context.Context, view target.View) (string, error) {
	owner, err := t.Resolve(ctx, "owner", view)
	if err != nil {
		return "", err
	}
	maint, err := t.Resolve(ctx, "maintainer-of:"+t.cfg.Changefeeds[0], view)
	if err != nil {
		return "", err
	}
	for i := 1; i <= t.cfg.Nodes; i++ {
		if name := cluster.NodeName(i); name != owner && name != maint {
			return name, nil
		}
	}
	return "", fmt.Errorf("%w: bystander: every node is the owner or the maintainer's", chaos.ErrUnresolved)
}

// Restart implements target.Target. A new id keeps the base id behind a
// dotted suffix, so the proxies and role resolution still find the node.
func (t *Target) Restart(ctx context.Context, node string, newID bool) (int, error) {
	p := t.c.Node(node)
	if p == nil {
		return 0, fmt.Errorf("restart %s: not a node", node)
	}
	id := ""
	if newID {
		id = node + ".r" + strconv.Itoa(int(time.Now().Unix()%1000))
	}
	if err := t.c.RestartNode(ctx, node, id); err != nil {
		return 0, err
	}
	return p.Pid(), nil
}

// DrainTs implements target.Target: the upstream's current timestamp.
func (t *Target) DrainTs(ctx context.Context) (uint64, error) {
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ts, err := t.c.Up.GetTS(tctx)
	if err != nil {
		return 0, fmt.Errorf("upstream ts: %w", err)
	}
	return ts, nil
}

// Stop implements target.Target: it saves the meta store's epoch history,
// resumes paused nodes and stops the cluster.
func (t *Target) Stop(ctx context.Context) error {
	if t.c == nil {
		return nil
	}
	errs := []error{t.saveEpochHistory(ctx)}
	for _, n := range t.c.Nodes {
		if n.Running() {
			// Resume anything a fault left paused so it can be stopped; a
			// node that exited meanwhile needs no resume.
			_ = n.Signal(syscall.SIGCONT)
		}
	}
	errs = append(errs, t.c.Close())
	t.c = nil
	return errors.Join(errs...)
}

// saveEpochHistory writes the epoch history of the meta store for the
// checker.
func (t *Target) saveEpochHistory(ctx context.Context) error {
	if t.c.Store == nil {
		return nil
	}
	h, err := t.c.Store.EpochHistory(ctx, "")
	if err != nil {
		return fmt.Errorf("read epoch history: %w", err)
	}
	if err := target.WriteJSON(filepath.Join(t.env.Dir, evidence.EpochsFile), h); err != nil {
		return fmt.Errorf("write epoch history: %w", err)
	}
	return nil
}

// Status implements target.Target: the owner and the first changefeed's
// epoch.
func (t *Target) Status(ctx context.Context) string {
	if t.c == nil {
		return ""
	}
	owner, epoch := "?", "?"
	qctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if o, err := t.c.Store.Owner(qctx); err == nil {
		owner = o.Node
	}
	if info, _, err := t.c.Store.Changefeed(qctx, t.cfg.Changefeeds[0]); err == nil {
		epoch = strconv.FormatUint(info.Epoch, 10)
	}
	return "owner=" + owner + " epoch=" + epoch
}

package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/IBM/sarama"
)

// readyTopic is the topic whose creation proves the cluster takes writes.
const readyTopic = "chaosrun-ready"

// readyPoll is how often waitReady probes.
const readyPoll = 250 * time.Millisecond

// readyNode is a broker that must answer on its own client address.
type readyNode struct {
	id   int32
	addr string
}

// readiness is what waitReady waits for; both providers fill it in.
type readiness struct {
	// nodes must each answer a metadata request on their own address and
	// list every broker of want.
	nodes []readyNode
	// want returns the ids of the brokers every node must list (asked
	// before each probe: the running brokers may change).
	want func() []int32
	// bootstrap, when set, is where the ready topic must be creatable with
	// replicas replicas (a cluster's first start).
	bootstrap []string
	replicas  int16
	// exited reports a node whose process or container has exited, with
	// its output's tail; it ends the wait.
	exited func(ctx context.Context) error
}

// waitReady polls until r holds, ctx ends (an error wrapping ErrNotReady
// with the last probe's failure) or a node exits (exited's error).
func waitReady(ctx context.Context, r readiness) error {
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	var last error
	for {
		// A provider ties its processes to ctx, so ctx ending can be why
		// they exited: say that, not that they exited.
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w; last probe: %v", ErrNotReady, context.Cause(ctx), last)
		}
		if err := r.exited(ctx); err != nil {
			return err
		}
		if last = probeReady(ctx, r); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// probeReady checks r once.
func probeReady(ctx context.Context, r readiness) error {
	cfg := baseConfig("chaosrun-probe")
	cfg.Net.DialTimeout = time.Second
	cfg.Net.ReadTimeout = 5 * time.Second
	cfg.Metadata.Retry.Max = 0
	want := r.want()
	for _, n := range r.nodes {
		// One seed per client: the node itself must answer, not a peer. A
		// broker enables its client listener only after the controller has
		// unfenced it (BrokerServer waits for that first), so an answer
		// means the node finished starting; its list must then hold every
		// wanted broker.
		c, err := sarama.NewClient([]string{n.addr}, cfg)
		if err != nil {
			return fmt.Errorf("node %d at %s: %w", n.id, n.addr, err)
		}
		seen := map[int32]bool{}
		for _, b := range c.Brokers() {
			seen[b.ID()] = true
		}
		_ = c.Close()
		for _, id := range want {
			if !seen[id] {
				return fmt.Errorf("node %d lists brokers %v, not yet %d", n.id, slices.Sorted(maps.Keys(seen)), id)
			}
		}
	}
	if len(r.bootstrap) == 0 {
		return nil
	}
	c, err := sarama.NewClient(r.bootstrap, cfg)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	defer func() { _ = c.Close() }()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = createTopic(tctx, c, TopicSpec{Name: readyTopic, Partitions: 1, ReplicationFactor: r.replicas})
	if errors.Is(err, ErrTopicExists) {
		return leadersReady(c, readyTopic, 1)
	}
	return err
}

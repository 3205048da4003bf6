package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

// connect opens a sarama client, giving up when ctx is done. sarama's
// constructor takes no context; when ctx wins, the client it may still
// return is closed in the background.
func connect(ctx context.Context, brokers []string, cfg *sarama.Config) (sarama.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("connect to %v: %w", brokers, err)
	}
	type result struct {
		c   sarama.Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := sarama.NewClient(brokers, cfg)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			if errors.Is(r.err, sarama.ErrOutOfBrokers) {
				return nil, fmt.Errorf("connect to %v: %w: %w", brokers, ErrUnreachable, r.err)
			}
			return nil, fmt.Errorf("connect to %v: %w", brokers, r.err)
		}
		return r.c, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				_ = r.c.Close()
			}
		}()
		return nil, fmt.Errorf("connect to %v: %w", brokers, ctx.Err())
	}
}

// TopicSpec describes a topic for CreateTopic.
type TopicSpec struct {
	Name string
	// Partitions defaults to 4 (DESIGN.md §5).
	Partitions int32
	// ReplicationFactor defaults to 1.
	ReplicationFactor int16
	// MinInsyncReplicas sets min.insync.replicas when > 0; otherwise the
	// broker default applies.
	MinInsyncReplicas int
	// Configs adds or overrides topic configs.
	Configs map[string]string
}

// CreateTopic creates the topic with message.timestamp.type=LogAppendTime
// and waits, polling until ctx is done, until every partition has a leader.
// An existing topic gives an error wrapping ErrTopicExists.
func CreateTopic(ctx context.Context, brokers []string, spec TopicSpec) error {
	if spec.Partitions == 0 {
		spec.Partitions = 4
	}
	if spec.ReplicationFactor == 0 {
		spec.ReplicationFactor = 1
	}
	if spec.Name == "" || spec.Partitions < 0 || spec.ReplicationFactor < 0 {
		return fmt.Errorf("create topic %q (%d partitions, rf %d): %w", spec.Name, spec.Partitions, spec.ReplicationFactor, ErrBadConfig)
	}
	client, err := connect(ctx, brokers, baseConfig("chaosrun-admin"))
	if err != nil {
		return fmt.Errorf("create topic %s: %w", spec.Name, err)
	}
	defer func() { _ = client.Close() }()
	return createTopic(ctx, client, spec)
}

func createTopic(ctx context.Context, client sarama.Client, spec TopicSpec) error {
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return fmt.Errorf("create topic %s: admin: %w", spec.Name, err)
	}
	// NB: closing this admin would close the shared client too.
	configs := map[string]*string{"message.timestamp.type": ptr("LogAppendTime")}
	if spec.MinInsyncReplicas > 0 {
		configs["min.insync.replicas"] = ptr(strconv.Itoa(spec.MinInsyncReplicas))
	}
	for k, v := range spec.Configs {
		configs[k] = ptr(v)
	}
	err = admin.CreateTopic(spec.Name, &sarama.TopicDetail{
		NumPartitions: spec.Partitions, ReplicationFactor: spec.ReplicationFactor, ConfigEntries: configs,
	}, false)
	if errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w: %w", spec.Name, ErrTopicExists, err)
	}
	if err != nil {
		return fmt.Errorf("create topic %s (%d partitions, rf %d): %w", spec.Name, spec.Partitions, spec.ReplicationFactor, err)
	}
	return waitLeaders(ctx, client, spec.Name, spec.Partitions)
}

// waitLeaders polls metadata until topic has n partitions, each with a leader.
func waitLeaders(ctx context.Context, client sarama.Client, topic string, n int32) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		last = leadersReady(client, topic, n)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for leaders of %s: %w (last: %w)", topic, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// leadersReady checks that every broker of the cluster knows topic with n
// partitions, each with a leader: producers and consumers may ask any
// broker for metadata, and brokers learn of new topics at slightly
// different times.
func leadersReady(client sarama.Client, topic string, n int32) error {
	if err := client.RefreshMetadata(topic); err != nil {
		return err
	}
	req := sarama.NewMetadataRequest(client.Config().Version, []string{topic})
	for _, b := range client.Brokers() {
		if err := b.Open(client.Config()); err != nil && !errors.Is(err, sarama.ErrAlreadyConnected) {
			return fmt.Errorf("broker %d: %w", b.ID(), err)
		}
		resp, err := b.GetMetadata(req)
		if err != nil {
			return fmt.Errorf("broker %d: metadata: %w", b.ID(), err)
		}
		if err := topicReady(resp, topic, n); err != nil {
			return fmt.Errorf("broker %d: %w", b.ID(), err)
		}
	}
	return nil
}

func topicReady(resp *sarama.MetadataResponse, topic string, n int32) error {
	for _, tm := range resp.Topics {
		if tm.Name != topic {
			continue
		}
		if !errors.Is(tm.Err, sarama.ErrNoError) {
			return fmt.Errorf("topic %s: %w", topic, tm.Err)
		}
		if int32(len(tm.Partitions)) != n {
			return fmt.Errorf("topic %s: %d of %d partitions", topic, len(tm.Partitions), n)
		}
		for _, pm := range tm.Partitions {
			if !errors.Is(pm.Err, sarama.ErrNoError) || pm.Leader < 0 {
				return fmt.Errorf("topic %s partition %d: no leader (%v)", topic, pm.ID, pm.Err)
			}
		}
		return nil
	}
	return fmt.Errorf("topic %s: not in metadata", topic)
}

func ptr[T any](v T) *T { return &v }

package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPartitionerMatchesJavaMurmur2(t *testing.T) {
	// Hashes of org.apache.kafka.common.utils.Utils.murmur2 (sarama's test vectors).
	vectors := []struct {
		key  string
		hash uint32
	}{
		{"foo", 597841616}, {"bar", 988958145}, {"baz", 1973573280},
		{"kafka", 3496464228}, {"sarama", 770765511},
	}
	p := newPartitioner("t")
	for _, v := range vectors {
		for _, n := range []int32{1, 4, 7} {
			got, err := p.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(v.key)}, n)
			require.NoError(t, err)
			assert.Equal(t, int32((v.hash&0x7fffffff)%uint32(n)), got, "key %q, %d partitions", v.key, n)
		}
	}
}

func TestPartitionerExplicit(t *testing.T) {
	p := newPartitioner("t")
	for _, tt := range []struct {
		partition, n int32
		err          error
	}{
		{0, 4, nil}, {3, 4, nil}, {4, 4, sarama.ErrInvalidPartition}, {-1, 4, sarama.ErrInvalidPartition},
	} {
		m := &sarama.ProducerMessage{Key: sarama.StringEncoder("kafka"), Partition: tt.partition, Metadata: &ticket{explicit: true}}
		got, err := p.Partition(m, tt.n)
		if tt.err != nil {
			require.ErrorIs(t, err, tt.err)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tt.partition, got)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want Delivery
	}{
		{sarama.ErrMessageSizeTooLarge, DeliveryFailed},
		{fmt.Errorf("wrapped: %w", sarama.ErrInvalidTopic), DeliveryFailed},
		{sarama.ErrInvalidPartition, DeliveryFailed},
		{sarama.ErrShuttingDown, DeliveryFailed},
		{sarama.ConfigurationError("bad"), DeliveryFailed},
		{ErrNotSent, DeliveryFailed},
		// Anything that may have reached the log is unknown.
		{sarama.ErrRequestTimedOut, DeliveryUnknown},
		{sarama.ErrNotEnoughReplicas, DeliveryUnknown},
		{sarama.ErrNotEnoughReplicasAfterAppend, DeliveryUnknown},
		{sarama.ErrNotLeaderForPartition, DeliveryUnknown},
		{sarama.ErrOutOfBrokers, DeliveryUnknown},
		{io.EOF, DeliveryUnknown},
		{&net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, DeliveryUnknown},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, classify(tt.err), "%v", tt.err)
	}
	assert.Equal(t, "unknown", Delivery(0).String())
	assert.Equal(t, "ok", DeliveryAcked.String())
	assert.Equal(t, "failed", DeliveryFailed.String())
}

func TestBatchSettleAndAbandon(t *testing.T) {
	b := newBatch(3)
	assert.True(t, b.settle(0, Receipt{Delivery: DeliveryAcked, Offset: 5}))
	assert.False(t, b.settle(0, Receipt{Delivery: DeliveryFailed}), "second outcome for one record is dropped")
	b.abandon(context.DeadlineExceeded)
	assert.False(t, b.settle(1, Receipt{Delivery: DeliveryAcked}), "outcome after abandon is dropped")
	assert.Equal(t, DeliveryAcked, b.results[0].Delivery)
	for _, r := range b.results[1:] {
		assert.Equal(t, DeliveryUnknown, r.Delivery)
		require.ErrorIs(t, r.Err, ErrOutcomeTimeout)
		require.ErrorIs(t, r.Err, context.DeadlineExceeded)
	}

	b = newBatch(2)
	b.settle(1, Receipt{Delivery: DeliveryAcked})
	b.settle(0, Receipt{Delivery: DeliveryAcked})
	select {
	case <-b.done:
	default:
		t.Fatal("batch not done after every record settled")
	}
}

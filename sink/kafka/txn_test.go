package kafka

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/evidence"
)

// txnRows encodes rows with PKs from..from+n-1, written by generation epoch.
func txnRows(tb testing.TB, topic string, from, n int, epoch uint64) []evidence.Message {
	tb.Helper()
	msgs := make([]evidence.Message, n)
	for i := range msgs {
		pk := int64(from + i)
		m, err := evidence.EncodeRow(topic, evidence.Row{Changefeed: "cf", Epoch: epoch, Node: "n1", Dispatcher: "d1",
			Table: "t", PK: pk, Op: evidence.OpInsert, CommitTs: uint64(1000 + pk)})
		require.NoError(tb, err)
		msgs[i] = m
	}
	return msgs
}

// errEnough stops a tailing Read once it has what it waited for.
var errEnough = errors.New("enough")

// readPKs tails topic with the given isolation until it has seen the row
// with PK last, and returns the PKs in offset order.
func readPKs(ctx context.Context, t *testing.T, addrs []string, topic string, readCommitted bool, last int64) []int64 {
	t.Helper()
	c, err := NewConsumer(ctx, ConsumerConfig{Brokers: addrs, Topic: topic, ReadCommitted: readCommitted, Logger: testLogger(t)})
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	var pks []int64
	err = c.Read(ctx, nil, nil, func(r evidence.Record) error {
		pks = append(pks, r.Row.PK)
		if r.Row.PK == last {
			return errEnough
		}
		return nil
	})
	require.ErrorIs(t, err, errEnough, "read_committed=%v saw %d rows", readCommitted, len(pks))
	return pks
}

func pkRange(from, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(from + i)
	}
	return out
}

// TestTransactionalFencing shows the broker fencing a zombie writer: A owns
// transactional id span-1 and commits; it opens a second transaction and
// writes into it; B starts with the same id, which aborts A's open
// transaction, and commits. A's commit and its next transaction are refused
// as fenced, and read_committed consumers never see what A wrote after B
// took over, while read_uncommitted ones see the aborted rows.
func TestTransactionalFencing(t *testing.T) {
	_, addrs := startLocal(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "txn-fence"
	require.NoError(t, CreateTopic(ctx, addrs, TopicSpec{Name: topic, Partitions: 1}))
	newTxn := func() *Producer {
		p, err := NewProducer(ctx, ProducerConfig{Brokers: addrs, TransactionalID: "span-1", Logger: testLogger(t)})
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, p.Close()) })
		return p
	}

	a := newTxn()
	rs, err := a.Transact(ctx, txnRows(t, topic, 0, 100, 1))
	require.NoError(t, err)
	require.Len(t, rs, 100)

	// A's open transaction, written but not committed when B takes over.
	require.NoError(t, a.ap.BeginTxn())
	for i, r := range a.Produce(ctx, txnRows(t, topic, 100, 50, 1)) {
		require.Equal(t, DeliveryAcked, r.Delivery, "record %d: %v", i, r.Err)
	}

	b := newTxn()
	_, err = b.Transact(ctx, txnRows(t, topic, 200, 100, 2))
	require.NoError(t, err)

	require.ErrorIs(t, a.txnError("commit", a.ap.CommitTxn()), ErrFenced, "A's open transaction cannot commit")
	rs, err = a.Transact(ctx, txnRows(t, topic, 300, 10, 1))
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrFenced, "A stays fenced")
	for _, r := range rs {
		assert.NotEqual(t, DeliveryAcked, r.Delivery, "a fenced transaction's record is never acknowledged as visible")
	}

	committed := readPKs(ctx, t, addrs, topic, true, 299)
	assert.Equal(t, append(pkRange(0, 100), pkRange(200, 100)...), committed, "read_committed sees A's first and B's transaction only")
	uncommitted := readPKs(ctx, t, addrs, topic, false, 299)
	assert.Equal(t, append(append(pkRange(0, 100), pkRange(100, 50)...), pkRange(200, 100)...), uncommitted,
		"read_uncommitted also sees A's aborted rows")
}

// TestTransactRequiresID refuses a transaction on a producer without a
// transactional id, without a broker.
func TestTransactRequiresID(t *testing.T) {
	p := &Producer{}
	_, err := p.Transact(context.Background(), nil)
	assert.ErrorIs(t, err, ErrBadConfig)
}

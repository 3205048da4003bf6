package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/internal/wait"
	"github.com/chaosrun/chaosrun/sink/kafka"
	"github.com/chaosrun/chaosrun/system/upstream"
)

// SinkMode is how the dispatchers and the watermark writer write to Kafka.
type SinkMode string

// The sink modes.
const (
	// SinkIdempotent (the default): one idempotent producer per dispatcher
	// manager, shared by its dispatchers and its watermark writer.
	SinkIdempotent SinkMode = "idempotent"
	// SinkTxn: every dispatcher and the watermark writer write through a
	// transactional producer of their own (see spanTxnID), one transaction
	// per batch between two resolved ts, committed before the checkpoint
	// advances.
	SinkTxn SinkMode = "txn"
)

// ParseSinkMode parses "idempotent" or "txn"; "" is idempotent.
func ParseSinkMode(s string) (SinkMode, error) {
	switch m := SinkMode(s); m {
	case "":
		return SinkIdempotent, nil
	case SinkIdempotent, SinkTxn:
		return m, nil
	}
	return "", fmt.Errorf("sink mode must be %s or %s, got %q", SinkIdempotent, SinkTxn, s)
}

// batchWriter writes the batches of one dispatcher or of the watermark
// writer. write returns nil only when every record is in the topic (acked;
// in txn mode: committed). An error wrapping kafka.ErrFenced means the writer is
// superseded for good; any other error means "retry from the checkpoint".
type batchWriter interface {
	write(ctx context.Context, msgs []evidence.Message) error
	close()
}

// spanTxnID is the transactional id of the dispatcher writing span of
// changefeed cf: <cf>/<table>/<startPK>-<endPK>.
//
// It names the span, not the dispatcher: dispatcher ids change with every
// generation (a new maintainer creates new dispatchers), while the span is
// the unit of ownership. A new generation that takes the span over must
// initialise the SAME transactional id, so that the broker aborts the old
// writer's open transaction and fences it; with per-dispatcher ids both
// would write side by side and the broker would fence nothing.
func spanTxnID(cf string, s upstream.Span) string {
	return fmt.Sprintf("%s/%s/%d-%d", cf, s.Table, s.StartPK, s.EndPK)
}

// watermarkTxnID is the transactional id of changefeed cf's watermark
// writer: every manager's writer uses it, so the newest fences a zombie's.
func watermarkTxnID(cf string) string { return cf + "/watermark" }

// openWriter returns the writer for txnID (a spanTxnID or watermarkTxnID),
// waiting until it can be opened; nil when ctx ends first. This is the one
// place that branches on the sink mode.
func (m *manager) openWriter(ctx context.Context, txnID string) batchWriter {
	if m.n.cfg.Sink != SinkTxn {
		prod := m.producer(ctx)
		if prod == nil {
			return nil
		}
		return idempotentWriter{m: m, prod: prod}
	}
	for ctx.Err() == nil {
		// NewProducer initialises the transactional id: this is where the
		// broker fences the previous writer of the span.
		p, err := kafka.NewProducer(ctx, kafka.ProducerConfig{Brokers: m.n.cfg.KafkaBrokers,
			ClientID: "chaosrun-" + m.node, Logger: m.n.log, Timeout: 10 * time.Second, TransactionalID: txnID})
		if err == nil {
			return &txnWriter{prod: p}
		}
		m.n.log.Warn("open transactional producer failed; retrying", "changefeed", m.cf, "txn_id", txnID, "err", err)
		_ = wait.Sleep(ctx, 500*time.Millisecond)
	}
	return nil
}

// idempotentWriter writes through the manager's shared idempotent producer.
type idempotentWriter struct {
	m    *manager
	prod *kafka.Producer
}

func (w idempotentWriter) write(ctx context.Context, msgs []evidence.Message) error {
	if !w.m.produceAll(ctx, w.prod, msgs) {
		return errors.New("not every record was acknowledged")
	}
	return nil
}

// close leaves the shared producer to the manager.
func (idempotentWriter) close() {}

// txnWriter writes each batch in one transaction of its own producer.
type txnWriter struct{ prod *kafka.Producer }

func (w *txnWriter) write(ctx context.Context, msgs []evidence.Message) error {
	_, err := w.prod.Transact(ctx, msgs)
	return err
}

func (w *txnWriter) close() { _ = w.prod.Close() }

// fenced records in the decision log that the broker fenced the writer
// txnID (a dispatcher, or the watermark writer when dispatcher is ""), which
// therefore stopped. Acted is false: the node did not act on a message, it
// was refused.
func (m *manager) fenced(dispatcher, txnID string, err error) {
	seen, epoch := m.generation()
	role, msg := "dispatcher", "Transact"
	if dispatcher == "" {
		role, msg = "watermark-writer", "TransactWatermark"
	}
	m.n.log.Warn("fenced by broker; writer stopped", "changefeed", m.cf, "role", role, "dispatcher", dispatcher,
		"txn_id", txnID, "err", err)
	m.n.met.decisions.WithLabelValues(ruleBrokerFence, verdictFencedByBroker).Inc()
	if err := m.n.dlog.writeEvidence(evidence.Decision{
		Time: time.Now(), Node: m.node, Role: role, Changefeed: m.cf, Message: msg,
		MsgEpoch: epoch, LocalEpoch: seen, Sender: txnID, Rule: ruleBrokerFence, Verdict: verdictFencedByBroker,
		Policy: m.n.cfg.Policy.String(), Reason: fmt.Sprintf("transactional id %s (dispatcher %q): %v", txnID, dispatcher, err),
	}); err != nil {
		m.n.log.Error("decision log", "err", err)
	}
}

// The decision-log line of a writer fenced by the broker.
const (
	ruleBrokerFence       = evidence.RuleBrokerFence
	verdictFencedByBroker = evidence.VerdictFencedByBroker
)

package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"

	"github.com/chaosrun/chaosrun/evidence"
)

// ErrFenced means a newer producer initialised this producer's
// transactional id, so the broker refuses this one for good and aborted
// what it had open. It is evidence of a superseded writer, not an error to
// retry.
var ErrFenced = errors.New("sink/kafka: producer fenced by a newer instance of its transactional id")

// ErrAborted means a transaction was aborted: none of its records is
// visible to read_committed consumers.
var ErrAborted = errors.New("sink/kafka: transaction aborted")

// ErrFatal means the producer's transaction state is fatal for a reason
// other than a fence: no call will succeed again, so its owner closes it
// and opens a new one.
var ErrFatal = errors.New("sink/kafka: transactional producer in a fatal state")

// Transact writes msgs in one transaction: it begins it, produces msgs and
// commits once every record is acknowledged. When a record is not, it
// aborts and returns an error wrapping ErrAborted. A producer fenced by a
// newer instance of its transactional id returns an error wrapping
// ErrFenced at any step, and stays fenced. The receipts say what became of
// each record for read_committed consumers: acknowledged only when the
// transaction committed. When an earlier call could not abort, the next one
// aborts first. Calls must not overlap.
func (p *Producer) Transact(ctx context.Context, msgs []evidence.Message) ([]Receipt, error) {
	if p.cfg.TransactionalID == "" {
		return nil, fmt.Errorf("transact: the producer has no transactional id: %w", ErrBadConfig)
	}
	if err := p.fencedBy.Load(); err != nil {
		return invisible(make([]Receipt, len(msgs)), *err), *err
	}
	if p.ap.TxnStatus()&sarama.ProducerTxnFlagAbortableError != 0 {
		// The abort of an earlier call failed (the coordinator was out of
		// reach): finish it first. A fenced producer learns it here.
		if err := p.ap.AbortTxn(); err != nil {
			return invisible(make([]Receipt, len(msgs)), err), p.txnError("abort", err)
		}
	}
	if err := p.ap.BeginTxn(); err != nil {
		return nil, p.txnError("begin", err)
	}
	rs := p.Produce(ctx, msgs)
	for _, r := range rs {
		if r.Delivery == DeliveryAcked {
			continue
		}
		err := p.txnError("produce", r.Err)
		if !errors.Is(err, ErrFenced) {
			if aerr := p.ap.AbortTxn(); aerr != nil {
				err = errors.Join(err, p.txnError("abort", aerr))
			} else {
				err = fmt.Errorf("%w: %w", ErrAborted, err)
			}
		}
		return invisible(rs, err), err
	}
	if err := p.ap.CommitTxn(); err != nil {
		err = p.txnError("commit", err)
		if errors.Is(err, ErrFenced) {
			// The newer instance's initialisation aborted this transaction.
			return invisible(rs, err), err
		}
		return unknown(rs, err), err
	}
	return rs, nil
}

// txnError wraps err from step of a transaction, adding ErrFenced when the
// broker says a newer producer owns the transactional id.
func (p *Producer) txnError(step string, err error) error {
	if errors.Is(err, sarama.ErrProducerFenced) || errors.Is(err, sarama.ErrInvalidProducerEpoch) {
		err = fmt.Errorf("transaction %s of %s: %w: %w", step, p.cfg.TransactionalID, ErrFenced, err)
		p.fencedBy.CompareAndSwap(nil, &err)
		return err
	}
	if st := p.ap.TxnStatus(); st&sarama.ProducerTxnFlagFatalError != 0 {
		return fmt.Errorf("transaction %s of %s (%s): %w: %w", step, p.cfg.TransactionalID, st, ErrFatal, err)
	}
	return fmt.Errorf("transaction %s of %s (%s): %w", step, p.cfg.TransactionalID, p.ap.TxnStatus(), err)
}

// invisible marks every record of an aborted transaction as failed: no
// read_committed consumer will see it.
func invisible(rs []Receipt, cause error) []Receipt {
	for i := range rs {
		rs[i] = Receipt{Delivery: DeliveryFailed, Err: cause}
	}
	return rs
}

// unknown marks every record unknown: a commit whose outcome is not known
// may or may not have made them visible.
func unknown(rs []Receipt, cause error) []Receipt {
	for i := range rs {
		rs[i] = Receipt{Delivery: DeliveryUnknown, Err: cause}
	}
	return rs
}

package tail

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// lastStableOffset asks the partition's leader for its last stable offset:
// the end of the log as a read_committed consumer sees it (ListOffsets
// latest, isolation read_committed). sarama's client.GetOffset asks
// read_uncommitted, which answers the high watermark.
func lastStableOffset(client sarama.Client, topic string, p int32) (int64, error) {
	broker, err := client.Leader(topic, p)
	if err != nil {
		return -1, err
	}
	req := sarama.NewOffsetRequest(client.Config().Version)
	req.IsolationLevel = sarama.ReadCommitted
	req.AddBlock(topic, p, sarama.OffsetNewest, 1)
	resp, err := broker.GetAvailableOffsets(req)
	if err != nil {
		return -1, err
	}
	block := resp.GetBlock(topic, p)
	switch {
	case block == nil:
		return -1, sarama.ErrIncompleteResponse
	case !errors.Is(block.Err, sarama.ErrNoError):
		return -1, block.Err
	case block.Offset >= 0:
		return block.Offset, nil
	case len(block.Offsets) == 1:
		return block.Offsets[0], nil
	}
	return -1, fmt.Errorf("no offset in the answer: %w", sarama.ErrIncompleteResponse)
}

// maxProbeFetches bounds the fetches anyVisible makes without moving
// forward before it gives up.
const maxProbeFetches = 3

// anyVisible reports whether partition p holds a record a read_committed
// consumer would see at an offset in [from, to): not a transaction marker,
// not in an aborted transaction. It reads the batches itself, as sarama's
// consumer does (which hands over neither, so its position cannot be
// seen), from the partition's leader.
func anyVisible(ctx context.Context, client sarama.Client, topic string, p int32, from, to int64) (bool, error) {
	stuck := 0
	for from < to {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		broker, err := client.Leader(topic, p)
		if err != nil {
			return false, err
		}
		req := &sarama.FetchRequest{Version: 12, MinBytes: 1, MaxBytes: 1 << 20, Isolation: sarama.ReadCommitted, SessionID: 0, SessionEpoch: -1}
		req.AddBlock(topic, p, from, 1<<20, -1)
		resp, err := broker.Fetch(req)
		if err != nil {
			return false, fmt.Errorf("tail: probe %s/%d at %d: %w", topic, p, from, err)
		}
		block := resp.GetBlock(topic, p)
		if block == nil {
			return false, fmt.Errorf("tail: probe %s/%d at %d: %w", topic, p, from, sarama.ErrIncompleteResponse)
		}
		if !errors.Is(block.Err, sarama.ErrNoError) {
			return false, fmt.Errorf("tail: probe %s/%d at %d: %w", topic, p, from, block.Err)
		}
		visible, next := scanBatches(block, from, to)
		if visible {
			return true, nil
		}
		if next <= from {
			if stuck++; stuck >= maxProbeFetches {
				return false, fmt.Errorf("tail: probe %s/%d: no batch at %d below %d", topic, p, from, to)
			}
			continue
		}
		stuck, from = 0, next
	}
	return false, nil
}

// scanBatches looks through a fetched block for a visible record at an
// offset in [from, to) and returns the offset after the last batch it
// read. A batch is invisible when it is a control batch (a commit or abort
// marker) or belongs to a transaction the block lists as aborted and whose
// abort marker has not come yet.
func scanBatches(block *sarama.FetchResponseBlock, from, to int64) (visible bool, next int64) {
	next = from
	aborted := map[int64]bool{}
	pendingAborts := block.AbortedTransactions
	for _, rs := range block.RecordsSet {
		b := rs.RecordBatch
		if b == nil {
			// A legacy message set has no transactions: its records are
			// visible.
			if rs.MsgSet != nil && len(rs.MsgSet.Messages) > 0 {
				return true, next
			}
			continue
		}
		last := b.LastOffset()
		for i := 0; i < len(pendingAborts); {
			if a := pendingAborts[i]; a.FirstOffset <= last {
				aborted[a.ProducerID] = true
				pendingAborts = append(pendingAborts[:i:i], pendingAborts[i+1:]...)
				continue
			}
			i++
		}
		switch {
		case b.Control:
			// The marker ends the producer's transaction, aborted or not.
			delete(aborted, b.ProducerID)
		case b.IsTransactional && aborted[b.ProducerID]:
		default:
			for _, r := range b.Records {
				if off := b.FirstOffset + r.OffsetDelta; off >= from && off < to {
					return true, next
				}
			}
		}
		next = max(next, last+1)
	}
	return false, next
}

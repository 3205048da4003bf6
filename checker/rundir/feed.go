package rundir

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/chaosrun/chaosrun/checker"
)

// feedBatch is how many decoded lines travel to the checker at once.
const feedBatch = 1024

// errStopped ends a reader whose consumer has gone.
var errStopped = errors.New("rundir: feed stopped")

// feed adds the change log and the record dump to c as checker.Feed does
// (each change before the first record appended at or after its commit
// time), but decodes each file on a goroutine of its own: decoding costs
// more than checking, and the two files decode in parallel. torn reports a
// torn last record, which is not an error: every complete one was fed.
// A record that names no writer (Node) is attributed to its Kafka writer
// through writers, when there are any.
func feed(c *checker.Checker, changes, records io.Reader, writers WriterIndex) (torn bool, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recs := make(chan []checker.Record, 8)
	chs := make(chan []checker.Change, 8)
	var recErr, chErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(recs)
		recErr = readBatches(ctx, recs, func(emit func(checker.Record) error) error {
			err := checker.ReadDump(records, emit)
			if errors.Is(err, checker.ErrTornDump) {
				// NB: nil, so that the last batch is still sent.
				torn, err = true, nil
			}
			return err
		})
	})
	wg.Go(func() {
		defer close(chs)
		chErr = readBatches(ctx, chs, func(emit func(checker.Change) error) error { return checker.ReadChangeLog(changes, emit) })
	})
	defer func() {
		cancel()
		for range recs { //nolint:revive // drain so the reader can exit
		}
		for range chs { //nolint:revive // drain so the reader can exit
		}
		wg.Wait()
	}()

	var pending []checker.Change
	more := true
	// nextChange returns the next change, if any.
	nextChange := func() (checker.Change, bool) {
		for len(pending) == 0 && more {
			pending, more = <-chs
		}
		if len(pending) == 0 {
			return checker.Change{}, false
		}
		ch := pending[0]
		pending = pending[1:]
		return ch, true
	}
	ch, ok := nextChange()
	for batch := range recs {
		for _, r := range batch {
			at := r.AppendTime.UnixMilli()
			for ok && checker.PhysicalMs(ch.CommitTs) <= at {
				c.AddChange(ch)
				ch, ok = nextChange()
			}
			if r.Node == "" && writers != nil {
				r.Node = writers.WriterOf(r.Partition, r.Offset)
			}
			c.Add(r)
		}
	}
	if recErr != nil {
		return false, recErr
	}
	for ok {
		c.AddChange(ch)
		ch, ok = nextChange()
	}
	// chs is closed once nextChange has run dry, so chErr is final.
	return torn, chErr
}

// readBatches runs read, sending what it emits to out in batches, until it
// returns or ctx is done.
func readBatches[T any](ctx context.Context, out chan<- []T, read func(emit func(T) error) error) error {
	batch := make([]T, 0, feedBatch)
	send := func() error {
		select {
		case out <- batch:
			batch = make([]T, 0, feedBatch)
			return nil
		case <-ctx.Done():
			return errStopped
		}
	}
	err := read(func(v T) error {
		batch = append(batch, v)
		if len(batch) == feedBatch {
			return send()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = send()
	}
	return err
}

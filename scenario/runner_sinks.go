package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/chaosrun/chaosrun/checker/rundir"
	"github.com/chaosrun/chaosrun/checker/tail"
	"github.com/chaosrun/chaosrun/target"
)

// tailers tail every changefeed's topic: the first changefeed's into the
// run directory, each other one's into its rundir.ChangefeedDir. They
// answer for the run as a whole: its lag is the worst changefeed's, so a
// healthy changefeed cannot hide a stalled one.
type tailers []sinkTailer

// sinkTailer is what the runner asks of a *tail.Tailer.
type sinkTailer interface {
	State() tail.State
	Flush(ctx context.Context) error
	WatermarkWriter(cf string) (node string, ok bool)
	Drain(ctx context.Context) (rundir.SinkOffsets, error)
	Close() error
}

// startTailers starts a tailer for each of sinks; on an error it closes
// those it started.
func startTailers(ctx context.Context, dir string, sinks []target.Sink, log *slog.Logger) (tailers, error) {
	var ts tailers
	for i, s := range sinks {
		d := dir
		if i > 0 {
			d = rundir.ChangefeedDir(dir, s.Changefeed)
			if err := os.MkdirAll(d, 0o755); err != nil {
				ts.close(log)
				return nil, fmt.Errorf("changefeed %s: %w", s.Changefeed, err)
			}
		}
		t, err := tail.Start(ctx, tail.Config{Brokers: s.Brokers, Topic: s.Topic, Dir: d,
			Decode: s.Decode, ReadCommitted: s.ReadCommitted, Logger: log.With("changefeed", s.Changefeed)})
		if err != nil {
			ts.close(log)
			return nil, fmt.Errorf("changefeed %s: %w", s.Changefeed, err)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// Lag is the largest sink lag over the changefeeds; ok is false while any
// changefeed's is undefined.
func (ts tailers) Lag(now time.Time) (lag time.Duration, ok bool) {
	for _, t := range ts {
		l, ok := t.State().Lag(now)
		if !ok {
			return 0, false
		}
		lag = max(lag, l)
	}
	return lag, len(ts) > 0
}

// Reached reports whether every changefeed's global watermark is at least
// ts.
func (ts tailers) Reached(wm uint64) bool {
	for _, t := range ts {
		if st := t.State(); !st.GlobalDefined || st.Global < wm {
			return false
		}
	}
	return len(ts) > 0
}

// Flush implements target.View.
func (ts tailers) Flush(ctx context.Context) error {
	var errs []error
	for _, t := range ts {
		errs = append(errs, t.Flush(ctx))
	}
	return errors.Join(errs...)
}

// WatermarkWriter implements target.View: each changefeed's watermarks are
// in its own topic, so one tailer knows.
func (ts tailers) WatermarkWriter(cf string) (string, bool) {
	for _, t := range ts {
		if node, ok := t.WatermarkWriter(cf); ok {
			return node, true
		}
	}
	return "", false
}

// drain reads every topic to its end (the checker needs to know the dump
// is complete); it returns each failure.
func (ts tailers) drain(ctx context.Context) []error {
	var errs []error
	for _, t := range ts {
		if _, err := t.Drain(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func (ts tailers) close(log *slog.Logger) {
	for _, t := range ts {
		if err := t.Close(); err != nil {
			log.Warn("close a sink tailer", "err", err)
		}
	}
}

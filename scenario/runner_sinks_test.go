package scenario

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/checker/rundir"
	"github.com/chaosrun/chaosrun/checker/tail"
)

// fakeTailer is a tailer's state without Kafka (a unit test of how the
// runner combines the changefeeds' tailers).
type fakeTailer struct {
	st     tail.State
	cf, wm string
}

func (f fakeTailer) State() tail.State           { return f.st }
func (f fakeTailer) Flush(context.Context) error { return nil }
func (f fakeTailer) Close() error                { return nil }
func (f fakeTailer) Drain(context.Context) (rundir.SinkOffsets, error) {
	return rundir.SinkOffsets{}, nil
}
func (f fakeTailer) WatermarkWriter(cf string) (string, bool) { return f.wm, cf == f.cf }

func at(now time.Time, lag time.Duration) tail.State {
	return tail.State{GlobalDefined: true, Global: checker.ComposeTS(now.Add(-lag).UnixMilli(), 0)}
}

// TestTailersWorstChangefeed: a healthy changefeed does not hide a stalled
// or silent one, from the steady gate, the drain or the live lag.
func TestTailersWorstChangefeed(t *testing.T) {
	now := time.Now()
	healthy := fakeTailer{st: at(now, 200*time.Millisecond), cf: "cf1", wm: "n1"}
	stalled := fakeTailer{st: at(now, 9*time.Second), cf: "cf1.2", wm: "n3"}
	silent := fakeTailer{cf: "cf1.3"}

	lag, ok := tailers{healthy, stalled}.Lag(now)
	assert.True(t, ok)
	assert.InDelta(t, 9*time.Second, lag, float64(5*time.Millisecond), "the stalled changefeed's lag")
	_, ok = tailers{healthy, silent}.Lag(now)
	assert.False(t, ok, "undefined while a changefeed has no watermark")
	_, ok = tailers{}.Lag(now)
	assert.False(t, ok)

	drainTo := checker.ComposeTS(now.Add(-time.Second).UnixMilli(), 0)
	assert.True(t, tailers{healthy}.Reached(drainTo))
	assert.False(t, tailers{healthy, stalled}.Reached(drainTo))
	assert.False(t, tailers{healthy, silent}.Reached(drainTo))

	ts := tailers{healthy, stalled, silent}
	node, ok := ts.WatermarkWriter("cf1.2")
	assert.True(t, ok)
	assert.Equal(t, "n3", node, "the maintainer of cf1.2 from its own topic")
	_, ok = ts.WatermarkWriter("cf9")
	assert.False(t, ok)
}

package evidence_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/evidence"
)

func TestTSOMicros(t *testing.T) {
	at := time.UnixMicro(1_764_684_000_123_456)
	ts := evidence.TSOMicros(at)
	require.Equal(t, checker.ComposeTS(1_764_684_000_123, 456<<8), ts)
	require.Equal(t, int64(1_764_684_000_123), checker.PhysicalMs(ts), "the physical part is Unix ms")
	require.Equal(t, ts, evidence.TSOMicros(at.Add(999*time.Nanosecond)), "sub-microsecond digits are dropped")

	// Order is kept at microsecond steps, across millisecond boundaries too.
	prev := evidence.TSOMicros(time.UnixMicro(1_764_684_000_000_000 - 3))
	for us := int64(-2); us < 2_005; us++ {
		cur := evidence.TSOMicros(time.UnixMicro(1_764_684_000_000_000 + us))
		require.Greater(t, cur, prev, "at +%dµs", us)
		prev = cur
	}
}

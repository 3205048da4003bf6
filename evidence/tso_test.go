package evidence_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/evidence"
)

func TestTSOMicros(t *testing.T) {
	tests := []struct {
		name string
		at   time.Time
		want uint64
	}{
		{"epoch", time.UnixMicro(0), 0},
		{"whole millisecond", time.UnixMilli(1_700_000_000_123), checker.ComposeTS(1_700_000_000_123, 0)},
		{"microseconds", time.UnixMicro(1_700_000_000_123_456), checker.ComposeTS(1_700_000_000_123, 456<<8)},
		{"last microsecond", time.UnixMicro(1_700_000_000_123_999), checker.ComposeTS(1_700_000_000_123, 999<<8)},
		{"nanoseconds dropped", time.Unix(0, 1_700_000_000_123_456_789), checker.ComposeTS(1_700_000_000_123, 456<<8)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := evidence.TSOMicros(tt.at)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.at.UnixMilli(), checker.PhysicalMs(got))
		})
	}
	// Distinct microseconds order as the instants do.
	a := time.UnixMicro(1_700_000_000_123_999)
	assert.Less(t, evidence.TSOMicros(a), evidence.TSOMicros(a.Add(time.Microsecond)))
}

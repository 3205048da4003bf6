package tail

import (
	"slices"
	"time"

	"github.com/chaosrun/chaosrun/checker"
)

// State is a snapshot of what the Tailer has consumed.
type State struct {
	Topic string
	// Connected is true while a session consumes every partition.
	Connected bool
	// Partitions lists the topic's partitions in id order, once known.
	Partitions []PartitionState
	// Records counts the records written to the dump (rows and
	// watermarks); Malformed those that did not decode; Skipped those that
	// carry no change (evidence.ErrNotChange).
	Records, Rows, Watermarks, Malformed, Skipped int64
	// Global is the global watermark, the minimum over partitions of each
	// one's newest watermark; GlobalDefined is false until every partition
	// has one.
	Global        uint64
	GlobalDefined bool
	// Reconnects counts the sessions that ended in an error; LastError is
	// the latest such error.
	Reconnects int
	LastError  error
}

// PartitionState is one partition of a State.
type PartitionState struct {
	Partition int32
	// Next is the offset after the last consumed record, -1 before the
	// first.
	Next    int64
	Records int64
	// Watermark is the highest watermark consumed from the partition, valid
	// when HasWatermark; WatermarkAt is that record's append time.
	Watermark    uint64
	HasWatermark bool
	WatermarkAt  time.Time
}

// Lag is now − physical(Global), the sink lag as the checker defines it;
// ok is false while the global watermark is undefined.
func (s State) Lag(now time.Time) (lag time.Duration, ok bool) {
	if !s.GlobalDefined {
		return 0, false
	}
	return now.Sub(checker.Physical(s.Global)), true
}

// State returns a snapshot of the live state.
func (t *Tailer) State() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := State{
		Topic: t.cfg.Topic, Connected: t.connected,
		Records: t.records, Rows: t.rows, Watermarks: t.watermarks, Malformed: t.malformed, Skipped: t.skipped,
		Reconnects: t.reconnects, LastError: t.lastErr,
	}
	for p, ps := range t.parts {
		s.Partitions = append(s.Partitions, PartitionState{
			Partition: p, Next: ps.next, Records: ps.records,
			Watermark: ps.wm, HasWatermark: ps.hasWm, WatermarkAt: ps.wmAt,
		})
	}
	slices.SortFunc(s.Partitions, func(a, b PartitionState) int { return int(a.Partition - b.Partition) })
	s.GlobalDefined = t.known && len(s.Partitions) > 0
	for i, p := range s.Partitions {
		if !p.HasWatermark {
			s.GlobalDefined = false
			break
		}
		if i == 0 || p.Watermark < s.Global {
			s.Global = p.Watermark
		}
	}
	if !s.GlobalDefined {
		s.Global = 0
	}
	return s
}

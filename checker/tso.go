package checker

import "time"

// logicalBits is the width of a TSO's logical part (TiDB's layout).
const logicalBits = 18

// PhysicalMs returns the physical part of a TSO: Unix milliseconds.
func PhysicalMs(ts uint64) int64 { return int64(ts >> logicalBits) }

// Physical returns the physical part of a TSO as a time.
func Physical(ts uint64) time.Time { return time.UnixMilli(PhysicalMs(ts)) }

// ComposeTS builds a TSO from Unix milliseconds and a logical counter.
func ComposeTS(physicalMs int64, logical uint64) uint64 {
	return uint64(physicalMs)<<logicalBits | logical&(1<<logicalBits-1)
}

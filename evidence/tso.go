package evidence

import "time"

// tsoLogicalBits is the width of a TSO's logical part, as in checker's
// TSO layout (physical Unix ms << 18 | logical).
const tsoLogicalBits = 18

// TSOMicros returns the TSO of t at microsecond precision: Unix
// milliseconds as the physical part and the microseconds within the
// millisecond, shifted left by 8, as the logical part, so that TSOs of
// distinct microseconds order as the instants do. t must not be before
// the Unix epoch.
func TSOMicros(t time.Time) uint64 {
	ms := t.UnixMilli()
	logical := uint64(t.UnixMicro()%1000) << 8
	return uint64(ms)<<tsoLogicalBits | logical&(1<<tsoLogicalBits-1)
}

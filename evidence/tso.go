package evidence

import "time"

// tsoLogicalBits is the width of a TSO's logical part (TiDB's layout, as
// in checker.ComposeTS).
const tsoLogicalBits = 18

// TSOMicros maps a microsecond timestamp to a TSO: Unix milliseconds in
// the physical part and the microseconds within that millisecond, shifted
// left by 8, in the logical part (at most 999<<8 < 2^18). It is how the
// Debezium target turns a PostgreSQL commit timestamp into a commit ts,
// both where it commits (pg_xact_commit_timestamp) and where it decodes
// (source.ts_us), so the two must agree to the microsecond. Order is kept:
// t1 < t2 at microsecond precision gives TSOMicros(t1) < TSOMicros(t2).
func TSOMicros(t time.Time) uint64 {
	us := t.UnixMicro()
	ms, within := us/1000, us%1000
	if within < 0 { // before 1970: floor, not truncate
		ms, within = ms-1, within+1000
	}
	return uint64(ms)<<tsoLogicalBits | uint64(within)<<8
}

package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// LogicalBits is the width of the logical part of a TiDB-format ts.
const LogicalBits = 18

const maxLogical = 1 << LogicalBits

// ComposeTS builds a ts from physical milliseconds since the Unix epoch and
// a logical counter (< 2^18).
func ComposeTS(physicalMs, logical int64) uint64 {
	return uint64(physicalMs)<<LogicalBits | uint64(logical)
}

// PhysicalMs is the physical part of ts in milliseconds since the epoch.
func PhysicalMs(ts uint64) int64 { return int64(ts >> LogicalBits) }

// PhysicalTime is the wall-clock time of ts's physical part, so lag at time
// t is t.Sub(PhysicalTime(ts)).
func PhysicalTime(ts uint64) time.Time { return time.UnixMilli(PhysicalMs(ts)) }

// Op is the kind of a row write or change.
type Op uint8

// The row operations.
const (
	OpInsert Op = iota + 1
	OpUpdate
	OpDelete
)

var opNames = [...]string{OpInsert: "insert", OpUpdate: "update", OpDelete: "delete"}

// String returns "insert", "update" or "delete".
func (o Op) String() string {
	if o >= OpInsert && o <= OpDelete {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Valid reports whether o is one of the three operations.
func (o Op) Valid() bool { return o >= OpInsert && o <= OpDelete }

// MarshalText encodes the op by name.
func (o Op) MarshalText() ([]byte, error) {
	if !o.Valid() {
		return nil, fmt.Errorf("%w: op %d", ErrInvalid, uint8(o))
	}
	return []byte(o.String()), nil
}

// UnmarshalText decodes an op name.
func (o *Op) UnmarshalText(b []byte) error {
	for i, n := range opNames {
		if n != "" && n == string(b) {
			*o = Op(i)
			return nil
		}
	}
	return fmt.Errorf("%w: op %q", ErrInvalid, b)
}

// Value is a column value: a string or an int64. The zero Value is the
// empty string. Values are comparable with ==.
type Value struct {
	isInt bool
	i     int64
	s     string
}

// Str returns a string value.
func Str(s string) Value { return Value{s: s} }

// Int returns an int64 value.
func Int(i int64) Value { return Value{isInt: true, i: i} }

// Int64 returns the int64 and true if v holds one.
func (v Value) Int64() (int64, bool) { return v.i, v.isInt }

// Str returns the string and true if v holds one.
func (v Value) Str() (string, bool) { return v.s, !v.isInt }

// String formats v for humans (ints in decimal, strings quoted).
func (v Value) String() string {
	if v.isInt {
		return strconv.FormatInt(v.i, 10)
	}
	return strconv.Quote(v.s)
}

// MarshalJSON encodes an int as a JSON number and a string as a JSON string.
func (v Value) MarshalJSON() ([]byte, error) {
	if v.isInt {
		return strconv.AppendInt(nil, v.i, 10), nil
	}
	return json.Marshal(v.s)
}

// UnmarshalJSON decodes a JSON number (must be an int64) or string.
func (v *Value) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = Str(s)
		return nil
	}
	i, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("upstream: column value %s is neither a string nor an int64", b)
	}
	*v = Int(i)
	return nil
}

// Write is one row write of a transaction.
type Write struct {
	Table string
	PK    int64
	Op    Op
	// Columns to set: the row for an insert, merged into the row for an
	// update, ignored for a delete.
	Columns map[string]Value
	// ExpectCommitTs, if set, must equal the row's last commit ts (0: the
	// row must not exist), else the transaction fails with ErrConflict.
	ExpectCommitTs *uint64
}

// Change is one committed row change with the full row image after it (for
// a delete, the image before it).
type Change struct {
	CommitTs uint64           `json:"commit_ts"`
	Table    string           `json:"table"`
	PK       int64            `json:"pk"`
	Op       Op               `json:"op"`
	Columns  map[string]Value `json:"columns,omitempty"`
}

// Row is a current row and the commit ts of its last write.
type Row struct {
	PK       int64
	Columns  map[string]Value
	CommitTs uint64
}

// Span is the half-open primary key range [StartPK, EndPK) of a table.
type Span struct {
	Table   string
	StartPK int64
	EndPK   int64
}

// WholeTable is the span of every primary key a row can have.
func WholeTable(table string) Span {
	return Span{Table: table, StartPK: math.MinInt64, EndPK: math.MaxInt64}
}

// Contains reports whether pk lies in the span.
func (s Span) Contains(pk int64) bool { return pk >= s.StartPK && pk < s.EndPK }

// String formats the span as table[start,end).
func (s Span) String() string { return fmt.Sprintf("%s[%d,%d)", s.Table, s.StartPK, s.EndPK) }

// FeedEvent is one delivery of a feed: rows in commit ts order, then (if
// non-zero) a resolved ts covering them and everything before.
type FeedEvent struct {
	Rows       []Change
	ResolvedTs uint64
}

// TableInfo describes a table.
type TableInfo struct {
	Name string
	Rows int64
}

// TableNames returns the default names of n tables: t1 ... tn.
func TableNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "t" + strconv.Itoa(i+1)
	}
	return out
}

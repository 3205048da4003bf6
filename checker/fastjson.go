package checker

import (
	"encoding/json"
	"math"
	"slices"
)

// The record dump and the change log are millions of JSON lines, and
// encoding/json's reflection costs several times what the checker spends on
// a record. This file holds a hand-written encoder for Record and fast
// decoders for Record and change log lines. The decoders accept only a
// plain subset (known keys, printable-ASCII strings without escapes,
// integers, flat column objects) and report false on anything else, so the
// caller falls back to encoding/json, which then decides, and errs, exactly
// as before: the fast path never changes what a line means
// (FuzzFastDecode checks that).

// AppendRecordJSON appends r encoded as json.Marshal encodes it, byte for
// byte, to dst. The tailer writes the dump with it.
func AppendRecordJSON(dst []byte, r *Record) []byte {
	dst = append(dst, `{"partition":`...)
	dst = appendInt(dst, int64(r.Partition))
	dst = append(dst, `,"offset":`...)
	dst = appendInt(dst, r.Offset)
	dst = append(dst, `,"append_time":`...)
	if tb, err := r.AppendTime.MarshalJSON(); err == nil {
		dst = append(dst, tb...)
	} else {
		// json.Marshal fails on such a time (a year outside 0..9999); there
		// is nothing byte-identical to write, so write what decodes as zero.
		dst = append(dst, `"0001-01-01T00:00:00Z"`...)
	}
	dst = append(dst, `,"kind":`...)
	dst = appendString(dst, r.Kind.String())
	if r.Changefeed != "" {
		dst = append(dst, `,"changefeed":`...)
		dst = appendString(dst, r.Changefeed)
	}
	if r.Table != "" {
		dst = append(dst, `,"table":`...)
		dst = appendString(dst, r.Table)
	}
	if r.PK != 0 {
		dst = append(dst, `,"pk":`...)
		dst = appendInt(dst, r.PK)
	}
	if r.Op != "" {
		dst = append(dst, `,"op":`...)
		dst = appendString(dst, r.Op)
	}
	if r.CommitTs != 0 {
		dst = append(dst, `,"commit_ts":`...)
		dst = appendUint(dst, r.CommitTs)
	}
	if len(r.Columns) > 0 {
		dst = append(dst, `,"columns":{`...)
		keys := make([]string, 0, len(r.Columns))
		for k := range r.Columns {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendString(dst, r.Columns[k])
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"epoch":`...)
	dst = appendUint(dst, r.Epoch)
	dst = append(dst, `,"node":`...)
	dst = appendString(dst, r.Node)
	if r.Dispatcher != "" {
		dst = append(dst, `,"dispatcher":`...)
		dst = appendString(dst, r.Dispatcher)
	}
	if r.Seen != 0 {
		dst = append(dst, `,"seen":`...)
		dst = appendUint(dst, r.Seen)
	}
	if r.DispatcherEpoch != 0 {
		dst = append(dst, `,"dispatcher_epoch":`...)
		dst = appendUint(dst, r.DispatcherEpoch)
	}
	if r.DispatcherSeen != 0 {
		dst = append(dst, `,"dispatcher_seen":`...)
		dst = appendUint(dst, r.DispatcherSeen)
	}
	if r.WatermarkTs != 0 {
		dst = append(dst, `,"watermark_ts":`...)
		dst = appendUint(dst, r.WatermarkTs)
	}
	return append(dst, '}')
}

func appendInt(dst []byte, v int64) []byte {
	if v < 0 {
		dst = append(dst, '-')
		return appendUint(dst, uint64(-(v+1))+1)
	}
	return appendUint(dst, uint64(v))
}

func appendUint(dst []byte, v uint64) []byte {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(dst, buf[i:]...)
}

// plain reports whether c needs no escaping in a JSON string as
// encoding/json writes it (which also escapes <, > and &).
func plain(c byte) bool {
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plain(s[i]) {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// scanner reads the plain subset of JSON the fast decoders accept.
type scanner struct {
	b  []byte
	i  int
	in strTable
}

// strTable interns the short strings that repeat on every line (names of
// tables, nodes, dispatchers, column keys), saving an allocation each.
// Lookups with a converted []byte key do not allocate.
type strTable map[string]string

// maxInterned bounds a strTable: past it, strings are simply allocated.
const maxInterned = 4096

func (t strTable) get(b []byte) string {
	if s, ok := t[string(b)]; ok {
		return s
	}
	s := string(b)
	if t != nil && len(t) < maxInterned {
		t[s] = s
	}
	return s
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips white space and consumes c if it comes next.
func (s *scanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// rawString consumes a string of printable ASCII without escapes and
// returns its contents, which alias the input.
func (s *scanner) rawString() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			s.i++
			return s.b[start : s.i-1], true
		}
		if c < 0x20 || c >= 0x80 || c == '\\' {
			return nil, false
		}
		s.i++
	}
	return nil, false
}

func (s *scanner) str() (string, bool) {
	b, ok := s.rawString()
	return string(b), ok
}

// name is str for a value that repeats across lines.
func (s *scanner) name() (string, bool) {
	b, ok := s.rawString()
	if !ok {
		return "", false
	}
	return s.in.get(b), true
}

// digits consumes an unsigned JSON integer (no fraction or exponent).
func (s *scanner) digits() (uint64, bool) {
	start := s.i
	var v uint64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		d := uint64(s.b[s.i] - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
		s.i++
	}
	n := s.i - start
	if n == 0 || (n > 1 && s.b[start] == '0') {
		return 0, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return v, true
}

func (s *scanner) uint() (uint64, bool) {
	s.ws()
	return s.digits()
}

func (s *scanner) int() (int64, bool) {
	s.ws()
	neg := s.i < len(s.b) && s.b[s.i] == '-'
	if neg {
		s.i++
	}
	u, ok := s.digits()
	switch {
	case !ok:
		return 0, false
	case neg && u <= 1<<63:
		return -int64(u-1) - 1, true
	case !neg && u < 1<<63:
		return int64(u), true
	}
	return 0, false
}

// columns consumes a flat object of strings and integers into Columns'
// canonical text.
func (s *scanner) columns() (Columns, bool) {
	if !s.next('{') {
		return nil, false
	}
	out := make(Columns, 4)
	if s.next('}') {
		return out, true
	}
	for {
		k, ok := s.rawString()
		if !ok || !s.next(':') {
			return nil, false
		}
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == '"' {
			v, ok := s.str()
			if !ok {
				return nil, false
			}
			out[s.in.get(k)] = v
		} else {
			start := s.i
			if _, ok := s.int(); !ok {
				return nil, false
			}
			// Columns keeps a non-string value's raw text.
			out[s.in.get(k)] = string(s.b[start:s.i])
		}
		if s.next(',') {
			continue
		}
		if s.next('}') {
			return out, true
		}
		return nil, false
	}
}

// fields walks an object, calling field for each key; field consumes the
// value and reports false to give up.
func (s *scanner) fields(field func(key []byte) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	for {
		k, ok := s.rawString()
		if !ok || !s.next(':') || !field(k) {
			return false
		}
		if s.next(',') {
			continue
		}
		return s.next('}')
	}
}

// decodeRecordFast decodes a dump line in the plain subset into r; on
// false r is untouched and the caller must use encoding/json.
func decodeRecordFast(b []byte, r *Record, in strTable) bool {
	s := scanner{b: b, in: in}
	var v Record
	ok := s.fields(func(k []byte) bool {
		var ok bool
		switch string(k) {
		case "partition":
			var p int64
			if p, ok = s.int(); ok && (p < math.MinInt32 || p > math.MaxInt32) {
				return false
			}
			v.Partition = int32(p)
		case "offset":
			v.Offset, ok = s.int()
		case "append_time":
			s.ws()
			start := s.i
			if _, ok = s.rawString(); ok {
				ok = v.AppendTime.UnmarshalJSON(s.b[start:s.i]) == nil
			}
		case "kind":
			var kb []byte
			if kb, ok = s.rawString(); ok {
				ok = v.Kind.UnmarshalText(kb) == nil
			}
		case "changefeed":
			v.Changefeed, ok = s.name()
		case "table":
			v.Table, ok = s.name()
		case "pk":
			v.PK, ok = s.int()
		case "op":
			v.Op, ok = s.name()
		case "commit_ts":
			v.CommitTs, ok = s.uint()
		case "columns":
			v.Columns, ok = s.columns()
		case "epoch":
			v.Epoch, ok = s.uint()
		case "node":
			v.Node, ok = s.name()
		case "dispatcher":
			v.Dispatcher, ok = s.name()
		case "seen":
			v.Seen, ok = s.uint()
		case "dispatcher_epoch":
			v.DispatcherEpoch, ok = s.uint()
		case "dispatcher_seen":
			v.DispatcherSeen, ok = s.uint()
		case "watermark_ts":
			v.WatermarkTs, ok = s.uint()
		}
		return ok
	})
	if !ok || !s.end() {
		return false
	}
	*r = v
	return true
}

// rowField decodes a field a change log row shares with a Change;
// handled is false for any other key.
func (s *scanner) rowField(k []byte, table *string, pk *int64, op *string, cols *Columns) (handled, ok bool) {
	switch string(k) {
	case "table":
		*table, ok = s.name()
	case "pk":
		*pk, ok = s.int()
	case "op":
		*op, ok = s.name()
	case "columns":
		*cols, ok = s.columns()
	default:
		return false, false
	}
	return true, ok
}

// decodeChangeLineFast decodes a change log line in the plain subset into
// cl; on false cl is untouched and the caller must use encoding/json.
func decodeChangeLineFast(b []byte, cl *changeLine, in strTable) bool {
	s := scanner{b: b, in: in}
	var v changeLine
	ok := s.fields(func(k []byte) bool {
		if handled, ok := s.rowField(k, &v.Table, &v.PK, &v.Op, &v.Columns); handled {
			return ok
		}
		switch string(k) {
		case "commit_ts":
			var ok bool
			v.CommitTs, ok = s.uint()
			return ok
		case "rows":
			if !s.next('[') {
				return false
			}
			v.Rows = make([]changeRow, 0, 1)
			if s.next(']') {
				return true
			}
			for {
				var row changeRow
				if !s.fields(func(k []byte) bool {
					handled, ok := s.rowField(k, &row.Table, &row.PK, &row.Op, &row.Columns)
					return handled && ok
				}) {
					return false
				}
				v.Rows = append(v.Rows, row)
				if s.next(',') {
					continue
				}
				return s.next(']')
			}
		}
		return false
	})
	if !ok || !s.end() {
		return false
	}
	*cl = v
	return true
}

package checker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/chaosrun/chaosrun/checker/dumppb"
)

// The record dump is length-delimited protobuf: each record is a
// dumppb.Record preceded by its size as a varint, as protodelim reads and
// writes them. Decoding it costs a fraction of what JSON lines did, and only
// the size prefix tells a complete record from a torn one.

// ErrTornDump means a record dump ends inside a record: its writer was
// killed mid-write. Every complete record before it was read.
var ErrTornDump = errors.New("checker: the record dump ends in a torn record")

// maxDumpRecord bounds one record of the dump.
const maxDumpRecord = 16 << 20

// AppendDumpRecord appends r to dst as one record of the dump, size prefix
// included. Strings that are not valid UTF-8, which protobuf refuses, are
// written with U+FFFD in place of the invalid bytes.
func AppendDumpRecord(dst []byte, r *Record) []byte {
	m := dumpRecord(r)
	opts := proto.MarshalOptions{UseCachedSize: true}
	size := opts.Size(m)
	out, err := opts.MarshalAppend(protowire.AppendVarint(dst, uint64(size)), m)
	if err == nil {
		return out
	}
	sanitizeUTF8(m)
	// NB: without UseCachedSize, as the cached sizes are the old strings'.
	// With valid strings nothing else can fail to encode.
	opts = proto.MarshalOptions{}
	out, _ = opts.MarshalAppend(protowire.AppendVarint(dst, uint64(opts.Size(m))), m)
	return out
}

// ReadDump decodes a record dump from r and calls fn with each record, in
// order. It stops at the first error, naming the record (counted from 1).
// When r ends inside a record, the error wraps ErrTornDump once every
// complete record has been passed to fn.
func ReadDump(r io.Reader, fn func(Record) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	opts := protodelim.UnmarshalOptions{MaxSize: maxDumpRecord}
	var m dumppb.Record
	for n := 1; ; n++ {
		err := opts.UnmarshalFrom(br, &m)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("%w: record %d", ErrTornDump, n)
		case err != nil:
			return fmt.Errorf("checker: record %d: %w", n, err)
		}
		if err := fn(recordFromDump(&m)); err != nil {
			return fmt.Errorf("checker: record %d: %w", n, err)
		}
	}
}

func dumpRecord(r *Record) *dumppb.Record {
	return &dumppb.Record{
		Partition:         r.Partition,
		Offset:            r.Offset,
		AppendTimeSeconds: r.AppendTime.Unix(),
		AppendTimeNanos:   int32(r.AppendTime.Nanosecond()),
		Kind:              dumppb.Kind(r.Kind),
		Changefeed:        r.Changefeed,
		Table:             r.Table,
		Pk:                r.PK,
		Op:                r.Op,
		CommitTs:          r.CommitTs,
		Columns:           dumpColumns(r.Columns),
		Epoch:             r.Epoch,
		Node:              r.Node,
		Dispatcher:        r.Dispatcher,
		Seen:              r.Seen,
		DispatcherEpoch:   r.DispatcherEpoch,
		DispatcherSeen:    r.DispatcherSeen,
		WatermarkTs:       r.WatermarkTs,
	}
}

// recordFromDump converts m.
func recordFromDump(m *dumppb.Record) Record {
	return Record{
		Partition:       m.Partition,
		Offset:          m.Offset,
		AppendTime:      time.Unix(m.AppendTimeSeconds, int64(m.AppendTimeNanos)).UTC(),
		Kind:            Kind(m.Kind),
		Changefeed:      m.Changefeed,
		Table:           m.Table,
		PK:              m.Pk,
		Op:              m.Op,
		CommitTs:        m.CommitTs,
		Columns:         columnsFromDump(m.Columns),
		Epoch:           m.Epoch,
		Node:            m.Node,
		Dispatcher:      m.Dispatcher,
		Seen:            m.Seen,
		DispatcherEpoch: m.DispatcherEpoch,
		DispatcherSeen:  m.DispatcherSeen,
		WatermarkTs:     m.WatermarkTs,
	}
}

// dumpColumns lists cols in name order, so that equal records encode to
// equal bytes.
func dumpColumns(cols Columns) []*dumppb.Column {
	if len(cols) == 0 {
		return nil
	}
	out := make([]*dumppb.Column, 0, len(cols))
	for _, name := range slices.Sorted(maps.Keys(cols)) {
		out = append(out, &dumppb.Column{Name: name, Value: cols[name]})
	}
	return out
}

// columnsFromDump is the inverse of dumpColumns; of a name listed twice
// the last value wins.
func columnsFromDump(cols []*dumppb.Column) Columns {
	if len(cols) == 0 {
		return nil
	}
	out := make(Columns, len(cols))
	for _, c := range cols {
		out[c.Name] = c.Value
	}
	return out
}

// sanitizeUTF8 replaces invalid UTF-8 in m's strings with U+FFFD.
func sanitizeUTF8(m *dumppb.Record) {
	for _, s := range []*string{&m.Changefeed, &m.Table, &m.Op, &m.Node, &m.Dispatcher} {
		*s = strings.ToValidUTF8(*s, "\uFFFD")
	}
	for _, c := range m.Columns {
		c.Name = strings.ToValidUTF8(c.Name, "\uFFFD")
		c.Value = strings.ToValidUTF8(c.Value, "\uFFFD")
	}
}

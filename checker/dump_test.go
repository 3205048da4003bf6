package checker

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// readAll reads a whole dump.
func readAll(b []byte) ([]Record, error) {
	var out []Record
	err := ReadDump(bytes.NewReader(b), func(r Record) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// TestDumpRoundTrip checks that a dump decodes to the records it was
// encoded from, append times as the same instant in UTC.
func TestDumpRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(seed(t), 8))
	var want []Record
	var dump []byte
	for range 5_000 {
		rec := randValidRecord(r)
		dump = AppendDumpRecord(dump, &rec)
		rec.AppendTime = rec.AppendTime.UTC()
		want = append(want, rec)
	}
	got, err := readAll(dump)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		requireSameRecord(t, want[i], got[i], "record %d", i+1)
	}
}

func TestDumpTimes(t *testing.T) {
	for _, at := range []time.Time{
		{},
		time.Date(10_000, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(1960, 6, 1, 12, 0, 0, 999_999_999, time.UTC),
		time.UnixMilli(1_767_225_600_123).UTC(),
	} {
		got, err := readAll(AppendDumpRecord(nil, &Record{AppendTime: at, Kind: KindWatermark}))
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Equal(t, at, got[0].AppendTime)
	}
}

// TestDumpInvalidUTF8 checks that strings protobuf refuses are written with
// U+FFFD, without changing the caller's columns.
func TestDumpInvalidUTF8(t *testing.T) {
	cols := Columns{"c\xff": "v\xfe"}
	rec := Record{Kind: KindRow, Node: "n\xff1", Table: "t1", Columns: cols}
	got, err := readAll(AppendDumpRecord(nil, &rec))
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "n\uFFFD1", got[0].Node)
	assert.Equal(t, "t1", got[0].Table)
	assert.Equal(t, Columns{"c\uFFFD": "v\uFFFD"}, got[0].Columns)
	assert.Equal(t, Columns{"c\xff": "v\xfe"}, cols)
}

// TestDumpTorn cuts a dump at every byte: the complete records before the
// cut are read, and a cut inside a record is reported as torn.
func TestDumpTorn(t *testing.T) {
	var dump []byte
	ends := map[int]int{0: 0} // dump length -> records before it
	for i := range 3 {
		rec := Record{Kind: KindRow, Table: "t1", PK: int64(i), Node: "n1", Columns: Columns{"v": "x"}, CommitTs: 1 << 60}
		dump = AppendDumpRecord(dump, &rec)
		ends[len(dump)] = i + 1
	}
	complete := 0
	for cut := 0; cut <= len(dump); cut++ {
		got, err := readAll(dump[:cut])
		if n, ok := ends[cut]; ok {
			complete = n
			require.NoError(t, err, "cut at %d", cut)
		} else {
			require.ErrorIs(t, err, ErrTornDump, "cut at %d", cut)
		}
		require.Len(t, got, complete, "cut at %d", cut)
	}
}

func TestDumpErrors(t *testing.T) {
	rec := Record{Kind: KindWatermark, WatermarkTs: 7, Node: "n1"}
	good := AppendDumpRecord(nil, &rec)

	// A complete record that does not parse (field 1 with wire type 7).
	bad := append(bytes.Clone(good), 2, 0x0f, 0x00)
	got, err := readAll(bad)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrTornDump)
	assert.ErrorContains(t, err, "record 2")
	assert.Len(t, got, 1)

	// A size no record can have is corruption, not a torn tail.
	huge := protowire.AppendVarint(bytes.Clone(good), 1<<40)
	_, err = readAll(huge)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrTornDump)
	assert.ErrorContains(t, err, "record 2")

	stop := errors.New("stop")
	err = ReadDump(bytes.NewReader(append(bytes.Clone(good), good...)), func(Record) error { return stop })
	require.ErrorIs(t, err, stop)
	assert.ErrorContains(t, err, "record 1")
}

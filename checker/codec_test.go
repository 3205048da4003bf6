package checker

import (
	stdjson "encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/evidence"
)

// awkward are strings that need escaping, or are not valid UTF-8.
var awkward = []string{"", "plain", `q"uote`, `back\slash`, "tab\tnew\nline", "<html>&", "ünï€ode", "\xff\xfe", "\x00", "\u2028"}

func randString(r *rand.Rand) string {
	if r.IntN(3) == 0 {
		return awkward[r.IntN(len(awkward))]
	}
	return fmt.Sprintf("s%d", r.IntN(1000))
}

func randRecord(r *rand.Rand) Record {
	rec := Record{
		Partition:  int32(r.IntN(8)),
		Offset:     r.Int64N(1 << 40),
		AppendTime: time.UnixMilli(r.Int64N(4e12)).In(time.FixedZone("z", (r.IntN(5)-2)*3600)),
		Kind:       Kind(r.IntN(4)),
		Epoch:      r.Uint64(),
		Node:       randString(r),
	}
	if r.IntN(2) == 0 {
		rec.Changefeed = randString(r)
		rec.Table, rec.PK, rec.Op, rec.CommitTs = randString(r), r.Int64()-r.Int64(), randString(r), r.Uint64()
		rec.Dispatcher = randString(r)
		if n := r.IntN(4); n > 0 || r.IntN(2) == 0 {
			rec.Columns = Columns{}
			for range n {
				rec.Columns[randString(r)] = randString(r)
			}
		}
	} else {
		rec.WatermarkTs = r.Uint64()
	}
	if r.IntN(10) == 0 {
		rec.PK, rec.Offset, rec.Partition = math.MinInt64, math.MaxInt64, math.MaxInt32
	}
	return rec
}

// randValidRecord returns a record the dump can hold exactly: a row or a
// watermark, valid UTF-8, and columns either absent or not empty (the dump
// omits empty columns, which decode as none).
func randValidRecord(r *rand.Rand) Record {
	rec := randRecord(r)
	rec.Kind = KindRow + Kind(r.IntN(2))
	for _, s := range []*string{&rec.Changefeed, &rec.Table, &rec.Op, &rec.Node, &rec.Dispatcher} {
		*s = strings.ToValidUTF8(*s, "\uFFFD")
	}
	if len(rec.Columns) == 0 {
		rec.Columns = nil
	}
	cols := rec.Columns
	if cols != nil {
		rec.Columns = Columns{}
		for k, v := range cols {
			rec.Columns[strings.ToValidUTF8(k, "\uFFFD")] = strings.ToValidUTF8(v, "\uFFFD")
		}
	}
	return rec
}

// requireSameRecord compares two records, their append times as instants
// with the same zone offset.
func requireSameRecord(t testing.TB, want, got Record, msgAndArgs ...any) {
	t.Helper()
	require.True(t, want.AppendTime.Equal(got.AppendTime), msgAndArgs...)
	_, wo := want.AppendTime.Zone()
	_, go_ := got.AppendTime.Zone()
	require.Equal(t, wo, go_, msgAndArgs...)
	want.AppendTime, got.AppendTime = time.Time{}, time.Time{}
	require.Equal(t, want, got, msgAndArgs...)
}

// TestAppendRecordJSONMatchesMarshal checks the dump encoder against
// encoding/json: the same bytes, except that invalid UTF-8 comes out as a
// literal U+FFFD rather than the escape \ufffd, which decodes the same.
func TestAppendRecordJSONMatchesMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(seed(t), 6))
	for i := range 20_000 {
		rec := randRecord(r)
		want, err := stdjson.Marshal(rec)
		require.NoError(t, err)
		got := AppendRecordJSON(nil, &rec)
		require.Equal(t, strings.ReplaceAll(string(want), `\ufffd`, "\uFFFD"), string(got), "record %d", i)
	}
}

// TestRecordRoundTrip checks that a dump line decodes to the record it was
// encoded from, and that encoding/json decodes it the same.
func TestRecordRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(seed(t), 7))
	for i := range 20_000 {
		rec := randValidRecord(r)
		line := AppendRecordJSON(nil, &rec)

		var got, std Record
		require.NoError(t, UnmarshalJSON(line, &got), "%s", line)
		requireSameRecord(t, rec, got, "record %d: %s", i, line)
		require.NoError(t, stdjson.Unmarshal(line, &std), "%s", line)
		requireSameRecord(t, std, got, "record %d: %s", i, line)
	}
}

func TestAppendRecordJSONOutOfRangeTime(t *testing.T) {
	rec := Record{AppendTime: time.Date(10_000, 1, 1, 0, 0, 0, 0, time.UTC), Kind: KindRow, Node: "n1"}
	var got Record
	require.NoError(t, UnmarshalJSON(AppendRecordJSON(nil, &rec), &got))
	assert.True(t, got.AppendTime.IsZero(), "written as the zero time")
	assert.Equal(t, "n1", got.Node)
}

// requireDecodesLikeStd decodes b into a new T with the checker's decoder
// and with encoding/json and requires the same outcome.
func requireDecodesLikeStd[T any](t testing.TB, b []byte, same func(want, got T)) {
	t.Helper()
	var got, want T
	err := UnmarshalJSON(b, &got)
	stdErr := stdjson.Unmarshal(b, &want)
	require.Equal(t, stdErr == nil, err == nil, "%q: encoding/json says %v, the checker %v", b, stdErr, err)
	if err == nil {
		same(want, got)
	}
}

func TestDecodeChangeLine(t *testing.T) {
	same := func(want, got changeLine) { require.Equal(t, want, got) }
	for _, line := range []string{
		`{"commit_ts":5,"rows":[{"table":"t1","pk":1,"op":"insert","columns":{"v":"x","n":-3}},{"table":"t2","pk":2,"op":"delete"}]}`,
		`{"commit_ts":5,"rows":[]}`,
		`{"commit_ts":6,"table":"t1","pk":-1,"op":"update","columns":{}}`,
		` { "commit_ts" : 7 , "rows" : [ { "table" : "t1" , "pk" : 0 } ] } `,
		`{"commit_ts":5,"rows":null}`, `{"rows":[{"table":"t1","extra":1}]}`, `{"table":"t\u0031"}`,
		`{"columns":{"a":[1], "b": {"c": null}, "d": true}}`, `{"COMMIT_TS":8,"Table":"t"}`, `{"commit_ts":1,"commit_ts":2}`,
		`{"columns":{"a":"x","a":"y"}}`, `{"columns":"x"}`, `{"columns":null}`, `{"table":"\xff"}`,
		`{"commit_ts":1.5}`, `{"commit_ts":-1}`, `{"commit_ts":01}`, `{"commit_ts":1}x`, `{"commit_ts":1,}`, `{"commit_ts":1e3}`,
	} {
		requireDecodesLikeStd(t, []byte(line), same)
	}
}

// FuzzDecode checks that the checker decodes any line of the record dump
// or the change log as encoding/json does: the same error or the same value.
//
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 30s ./checker/
func FuzzDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		rec := randRecord(r)
		f.Add(AppendRecordJSON(nil, &rec))
	}
	f.Add([]byte(`{"commit_ts":5,"rows":[{"table":"t1","pk":1,"op":"insert","columns":{"v":"x","n":-3}}]}`))
	f.Add([]byte(`{"partition":1,"offset":-0,"columns":{"a":1e3},"kind":"row"}`))
	f.Add([]byte(`{"Partition":1,"kind":"watermark","append_time":"2026-01-01T00:00:00.5+01:00","node":"n\u00e9"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		requireDecodesLikeStd(t, b, func(want, got Record) { requireSameRecord(t, want, got, "%q", b) })
		requireDecodesLikeStd(t, b, func(want, got changeLine) {
			require.True(t, reflect.DeepEqual(want, got), "%q: %+v vs %+v", b, want, got)
		})
	})
}

// TestEvidenceDecoderEngines: evidence.Decode with UnmarshalJSON as its
// JSON engine (the tailer's) makes of each row value what it makes with
// encoding/json, or fails where it fails.
func TestEvidenceDecoderEngines(t *testing.T) {
	fast := evidence.Decoder{Unmarshal: UnmarshalJSON}
	row := evidence.Row{Changefeed: "cf1", Epoch: 2, Node: "n1", Dispatcher: "d1", Table: "t1", PK: 7, Op: evidence.OpUpdate, CommitTs: 99,
		Columns: map[string]string{"v": `"x"`}}
	m, err := evidence.EncodeRow("cf1", row)
	require.NoError(t, err)
	for _, v := range []string{
		string(m.Value),
		`{"table":"t1","pk":7,"op":"update","commit_ts":99,"columns":{"v":"\"caf\u00e9 \\\\ \ud83d\ude00\""}}`,
		`{"table":"t1","pk":7,"op":"update","commit_ts":99,"columns":null,"later":{"a":[1,2]}}`,
		`{"commit_ts":99,"op":"update","pk":7,"table":"t1","columns":{"v":"1","v":"2"}}`,
		`{"table":"t1","pk":7,"op":"update","commit_ts":99,"columns":{"v":"` + "\xff" + `"}}`,
		`{"table":"t1","pk":7.0,"op":"update","commit_ts":99}`,
		`{"table":"t1","pk":"7","op":"update","commit_ts":99}`,
		`{"table":"t1","pk":7,"op":"update","commit_ts":99,"columns":{"v":1}}`,
		`{"table":"t1","pk":7,"op":"update","commit_ts":99`,
		`{"TABLE":"t1","PK":7,"Op":"update","Commit_Ts":99}`,
	} {
		c := evidence.Consumed{Topic: "cf1", Key: m.Key, Value: []byte(v), Headers: m.Headers}
		want, werr := evidence.Decode(c)
		got, gerr := fast.Decode(c)
		if werr != nil {
			assert.ErrorIs(t, gerr, evidence.ErrMalformed, "value %s: encoding/json refuses it (%v)", v, werr)
			continue
		}
		require.NoError(t, gerr, "value %s", v)
		assert.Equal(t, want, got, "value %s", v)
	}
}

package checker

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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

// TestAppendRecordJSONMatchesMarshal checks the hand-written encoder
// against encoding/json byte for byte, and the fast decoder against
// encoding/json on its output.
func TestAppendRecordJSONMatchesMarshal(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	fast := 0
	const n = 20_000
	for i := range n {
		rec := randRecord(r)
		want, err := json.Marshal(rec)
		require.NoError(t, err)
		got := AppendRecordJSON(nil, &rec)
		require.Equal(t, string(want), string(got), "seed %d record %d", seed, i)

		var slow, quick Record
		slowErr := json.Unmarshal(want, &slow)
		if decodeRecordFast(want, &quick, make(strTable)) {
			fast++
			require.NoError(t, slowErr, "fast path accepted what encoding/json rejects: %s", want)
			requireSameRecord(t, slow, quick, string(want))
		}
	}
	// Most generated records are plain; the fast path must take them.
	require.Greater(t, fast, n/10, "fast path hit rate")
}

func requireSameRecord(t testing.TB, slow, quick Record, line string) {
	t.Helper()
	require.True(t, slow.AppendTime.Equal(quick.AppendTime), "append time of %s", line)
	_, so := slow.AppendTime.Zone()
	_, qo := quick.AppendTime.Zone()
	require.Equal(t, so, qo, "zone offset of %s", line)
	slow.AppendTime, quick.AppendTime = time.Time{}, time.Time{}
	require.Equal(t, slow, quick, "decoding %s", line)
}

func TestFastDecodeChangeLine(t *testing.T) {
	for _, line := range []string{
		`{"commit_ts":5,"rows":[{"table":"t1","pk":1,"op":"insert","columns":{"v":"x","n":-3}},{"table":"t2","pk":2,"op":"delete"}]}`,
		`{"commit_ts":5,"rows":[]}`,
		`{"commit_ts":6,"table":"t1","pk":-1,"op":"update","columns":{}}`,
		` { "commit_ts" : 7 , "rows" : [ { "table" : "t1" , "pk" : 0 } ] } `,
	} {
		var slow, quick changeLine
		require.NoError(t, json.Unmarshal([]byte(line), &slow))
		require.True(t, decodeChangeLineFast([]byte(line), &quick, nil), line)
		require.Equal(t, slow, quick, line)
	}
	for _, line := range []string{
		`{"commit_ts":5,"rows":null}`, `{"commit_ts":1.5}`, `{"commit_ts":-1}`, `{"rows":[{"table":"t1","extra":1}]}`,
		`{"table":"t\u0031"}`, `{"columns":{"a":[1]}}`, `{"commit_ts":01}`, `{"commit_ts":1}x`, `{"commit_ts":1,}`,
	} {
		var quick changeLine
		require.False(t, decodeChangeLineFast([]byte(line), &quick, nil), "fast path must leave %s to encoding/json", line)
	}
}

// FuzzFastDecode checks that whatever the fast decoders accept, encoding/json
// accepts too and decodes the same.
//
//	go test -run '^$' -fuzz FuzzFastDecode -fuzztime 30s ./checker/
func FuzzFastDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		rec := randRecord(r)
		f.Add(AppendRecordJSON(nil, &rec))
	}
	f.Add([]byte(`{"commit_ts":5,"rows":[{"table":"t1","pk":1,"op":"insert","columns":{"v":"x","n":-3}}]}`))
	f.Add([]byte(`{"partition":1,"offset":-0,"columns":{"a":1e3},"kind":"row"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var quick Record
		if decodeRecordFast(b, &quick, make(strTable)) {
			var slow Record
			require.NoError(t, json.Unmarshal(b, &slow), "fast accepted %q", b)
			requireSameRecord(t, slow, quick, string(b))
		}
		var qc changeLine
		if decodeChangeLineFast(b, &qc, make(strTable)) {
			var sc changeLine
			require.NoError(t, json.Unmarshal(b, &sc), "fast accepted change line %q", b)
			require.True(t, reflect.DeepEqual(sc, qc), "change line %q: %+v vs %+v", b, sc, qc)
		}
	})
}

package evidence

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// consumed turns an encoded message into what a consumer would hand back.
func consumed(m Message, partition int32, offset int64) Consumed {
	return Consumed{
		Topic: m.Topic, Partition: partition, Offset: offset, Key: m.Key, Value: m.Value,
		Timestamp: time.UnixMilli(1_700_000_000_000), Headers: m.Headers,
	}
}

func sampleRow() Row {
	return Row{
		Changefeed: "cf1", Epoch: 7, Node: "n2", Dispatcher: "d-3",
		Seen: 8, DispatcherEpoch: 6, DispatcherSeen: 6,
		Table: "orders", PK: -42, Op: OpUpdate, CommitTs: 1<<62 + 5,
		Columns: map[string]string{"qty": "3", "note": "a:b \"quoted\""},
	}
}

func TestEncodeRowLayout(t *testing.T) {
	m, err := EncodeRow("t", sampleRow())
	require.NoError(t, err)
	assert.Equal(t, "orders:-42", string(m.Key))
	assert.Equal(t, AnyPartition, m.Partition)
	assert.JSONEq(t, `{"table":"orders","pk":-42,"op":"update","commit_ts":4611686018427387909,
		"columns":{"qty":"3","note":"a:b \"quoted\""}}`, string(m.Value))
	got := map[string]string{}
	for _, h := range m.Headers {
		got[string(h.Key)] = string(h.Value)
	}
	assert.Equal(t, map[string]string{
		HeaderKind: "row", HeaderChangefeed: "cf1", HeaderEpoch: "7", HeaderNode: "n2",
		HeaderDispatcher: "d-3", HeaderCommitTs: "4611686018427387909",
		HeaderSeen: "8", HeaderDispatcherEpoch: "6", HeaderDispatcherSeen: "6",
	}, got)
}

func TestRowRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		row  Row
	}{
		{"update with columns", sampleRow()},
		{"delete without columns", Row{Changefeed: "cf", Table: "t", PK: 1, Op: OpDelete, CommitTs: 9}},
		{"insert epoch zero empty node", Row{Changefeed: "cf", Table: "t", PK: 0, Op: OpInsert, Columns: map[string]string{}}},
		{"max values", Row{Changefeed: "c", Epoch: ^uint64(0), Table: "t", PK: 1<<63 - 1, Op: OpInsert, CommitTs: ^uint64(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := EncodeRow("topic", tt.row)
			require.NoError(t, err)
			rec, err := Decode(consumed(m, 3, 11))
			require.NoError(t, err)
			assert.Equal(t, KindRow, rec.Kind)
			assert.Equal(t, int32(3), rec.Partition)
			assert.Equal(t, int64(11), rec.Offset)
			assert.Equal(t, tt.row.Changefeed, rec.Changefeed)
			assert.Equal(t, tt.row.Epoch, rec.Epoch)
			assert.Equal(t, tt.row.Node, rec.Node)
			assert.Nil(t, rec.Watermark)
			require.NotNil(t, rec.Row)
			assert.Equal(t, tt.row, *rec.Row)
		})
	}
}

func TestWatermarkRoundTrip(t *testing.T) {
	w := Watermark{Changefeed: "cf1", Epoch: 3, Node: "n1", Ts: 123456789}
	ms, err := EncodeWatermark("topic", w, 4)
	require.NoError(t, err)
	require.Len(t, ms, 4)
	for p, m := range ms {
		assert.Equal(t, int32(p), m.Partition)
		assert.Nil(t, m.Key)
		rec, err := Decode(consumed(m, int32(p), 0))
		require.NoError(t, err)
		assert.Equal(t, KindWatermark, rec.Kind)
		assert.Nil(t, rec.Row)
		require.NotNil(t, rec.Watermark)
		assert.Equal(t, w, *rec.Watermark)
		assert.Equal(t, uint64(3), rec.Epoch)
	}
}

func TestEncodeRejects(t *testing.T) {
	ok := sampleRow()
	tests := []struct {
		name string
		mut  func(*Row)
	}{
		{"empty table", func(r *Row) { r.Table = "" }},
		{"colon in table", func(r *Row) { r.Table = "a:b" }},
		{"empty changefeed", func(r *Row) { r.Changefeed = "" }},
		{"bad op", func(r *Row) { r.Op = "upsert" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.mut(&r)
			_, err := EncodeRow("t", r)
			require.ErrorIs(t, err, ErrBadRecord)
		})
	}
	_, err := EncodeWatermark("t", Watermark{Changefeed: "cf"}, 0)
	require.ErrorIs(t, err, ErrBadRecord)
	_, err = EncodeWatermark("t", Watermark{}, 1)
	require.ErrorIs(t, err, ErrBadRecord)
}

func TestDecodeMalformed(t *testing.T) {
	row, err := EncodeRow("t", sampleRow())
	require.NoError(t, err)
	wms, err := EncodeWatermark("t", Watermark{Changefeed: "cf", Ts: 5}, 1)
	require.NoError(t, err)
	wm := wms[0]

	setHeader := func(m Message, k, v string) Message {
		hs := make([]Header, 0, len(m.Headers))
		for _, h := range m.Headers {
			if string(h.Key) == k {
				h.Value = []byte(v)
			}
			hs = append(hs, h)
		}
		m.Headers = hs
		return m
	}
	dropHeader := func(m Message, k string) Message {
		hs := make([]Header, 0, len(m.Headers))
		for _, h := range m.Headers {
			if string(h.Key) != k {
				hs = append(hs, h)
			}
		}
		m.Headers = hs
		return m
	}
	withValue := func(m Message, v string) Message { m.Value = []byte(v); return m }
	withKey := func(m Message, k string) Message { m.Key = []byte(k); return m }

	tests := []struct {
		name string
		msg  Message
		want string
	}{
		{"no kind", dropHeader(row, HeaderKind), "cdc-kind missing"},
		{"unknown kind", setHeader(row, HeaderKind, "ddl"), "unknown kind"},
		{"no changefeed", dropHeader(row, HeaderChangefeed), "cdc-changefeed missing"},
		{"epoch not a number", setHeader(row, HeaderEpoch, "x"), "cdc-epoch"},
		{"negative epoch", setHeader(row, HeaderEpoch, "-1"), "cdc-epoch"},
		{"no node", dropHeader(row, HeaderNode), "cdc-node missing"},
		{"no dispatcher", dropHeader(row, HeaderDispatcher), "cdc-dispatcher missing"},
		{"commit ts mismatch", setHeader(row, HeaderCommitTs, "1"), "commit_ts"},
		{"value not json", withValue(row, "{"), "row value"},
		{"key mismatch", withKey(row, "orders:1"), "key"},
		{"bad op in value", withValue(setHeader(row, HeaderCommitTs, "1"), `{"table":"orders","pk":-42,"op":"x","commit_ts":1}`), "op"},
		{"watermark without ts", dropHeader(wm, HeaderTs), "cdc-ts missing"},
		{"watermark ts mismatch", setHeader(wm, HeaderTs, "6"), "ts 5"},
		{"watermark value not json", withValue(wm, ""), "watermark value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(consumed(tt.msg, 2, 9))
			require.ErrorIs(t, err, ErrMalformed)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "t/2@9")
		})
	}
}

package evidence

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of DESIGN.md §5. Every record carries HeaderKind.
const (
	HeaderKind       = "cdc-kind"
	HeaderChangefeed = "cdc-changefeed"
	HeaderEpoch      = "cdc-epoch"
	HeaderNode       = "cdc-node"
	HeaderDispatcher = "cdc-dispatcher"
	HeaderCommitTs   = "cdc-commit-ts"
	HeaderTs         = "cdc-ts"
	// HeaderSeen is the highest maintainer epoch the writing dispatcher
	// manager had accepted when it wrote the record; a record whose
	// cdc-epoch is below it was written by a generation the writer already
	// knew to be superseded. Optional (0: not recorded).
	HeaderSeen = "cdc-seen-epoch"
	// HeaderDispatcherEpoch is the epoch of the maintainer that created the
	// row's dispatcher, and HeaderDispatcherSeen the highest epoch its
	// manager had accepted when it did: a dispatcher created by an older
	// generation than its manager knew is an orphan. Optional (0: not
	// recorded).
	HeaderDispatcherEpoch = "cdc-dispatcher-epoch"
	HeaderDispatcherSeen  = "cdc-dispatcher-seen"
)

// Header is one record header.
type Header struct {
	Key, Value []byte
}

// ErrBadRecord means a row or watermark cannot be encoded; ErrMalformed
// means a consumed record is not a valid cdc record; ErrNotChange means a
// consumed record is valid but carries neither a row nor a watermark (a
// tombstone, a connector's own heartbeat), so a reader counts it and moves
// on.
var (
	ErrBadRecord = errors.New("evidence: bad record")
	ErrMalformed = errors.New("evidence: malformed record")
	ErrNotChange = errors.New("evidence: not a change")
)

// Kind is the value of the cdc-kind header.
type Kind string

// The record kinds.
const (
	KindRow       Kind = "row"
	KindWatermark Kind = "watermark"
)

// Op is a row change operation.
type Op string

// The row operations.
const (
	OpInsert Op = "insert"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

func (o Op) valid() bool { return o == OpInsert || o == OpUpdate || o == OpDelete }

// AnyPartition in Message.Partition lets the producer pick the partition by
// hashing the key (murmur2, as the Java client does).
const AnyPartition int32 = -1

// Row is one upstream row change as a CDC dispatcher writes it to the sink.
type Row struct {
	// Changefeed, Epoch, Node and Dispatcher say who wrote the row; they
	// travel in headers.
	Changefeed string
	Epoch      uint64
	Node       string
	Dispatcher string
	// Seen, DispatcherEpoch and DispatcherSeen are the writer's generation
	// facts (see HeaderSeen and HeaderDispatcherEpoch); 0 when unknown.
	Seen            uint64
	DispatcherEpoch uint64
	DispatcherSeen  uint64

	// Table, PK, Op, CommitTs and Columns are the change; they travel in the
	// JSON value. CommitTs is a TSO (physical ms << 18 | logical).
	Table    string
	PK       int64
	Op       Op
	CommitTs uint64
	// Columns holds the row's column values rendered as text by the source;
	// nil for a delete.
	Columns map[string]string
}

// Key returns the record key "table:pk"; rows of one key land in one partition.
func (r Row) Key() string { return r.Table + ":" + strconv.FormatInt(r.PK, 10) }

// Watermark is a changefeed checkpoint broadcast to every partition: every
// row with commit_ts <= Ts is already in the topic.
type Watermark struct {
	Changefeed string
	Epoch      uint64
	Node       string
	Ts         uint64
	// Seen is the writer's highest accepted epoch (see HeaderSeen).
	Seen uint64
}

// Message is an encoded record ready to produce.
type Message struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers []Header
	// Partition is the target partition, or AnyPartition to hash Key.
	Partition int32
	// Timestamp is the producer's CreateTime; zero means now. Topics created
	// by CreateTopic use LogAppendTime, where the broker overwrites it.
	Timestamp time.Time
}

// Record is a consumed record, decoded.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	// Timestamp is the broker's append time on LogAppendTime topics.
	Timestamp time.Time
	Key       []byte

	Kind       Kind
	Changefeed string
	Epoch      uint64
	Node       string

	// Row is set when Kind is KindRow, Watermark when Kind is KindWatermark.
	Row       *Row
	Watermark *Watermark
}

// rowValue is the JSON value of a row record.
type rowValue struct {
	Table    string            `json:"table"`
	PK       int64             `json:"pk"`
	Op       Op                `json:"op"`
	CommitTs uint64            `json:"commit_ts"`
	Columns  map[string]string `json:"columns"`
}

// watermarkValue is the JSON value of a watermark record; it repeats cdc-ts
// so a human reading the topic sees it, and Decode checks the two agree.
type watermarkValue struct {
	Ts uint64 `json:"ts"`
}

func header(k, v string) Header {
	return Header{Key: []byte(k), Value: []byte(v)}
}

// EncodeRow encodes r as a record for topic, partitioned by its key.
func EncodeRow(topic string, r Row) (Message, error) {
	switch {
	case r.Table == "" || strings.Contains(r.Table, ":"):
		return Message{}, fmt.Errorf("encode row %s: table %q must be non-empty without ':': %w", r.Key(), r.Table, ErrBadRecord)
	case r.Changefeed == "":
		return Message{}, fmt.Errorf("encode row %s: empty changefeed: %w", r.Key(), ErrBadRecord)
	case !r.Op.valid():
		return Message{}, fmt.Errorf("encode row %s: op %q: %w", r.Key(), r.Op, ErrBadRecord)
	}
	v, err := json.Marshal(rowValue{Table: r.Table, PK: r.PK, Op: r.Op, CommitTs: r.CommitTs, Columns: r.Columns})
	if err != nil {
		return Message{}, fmt.Errorf("encode row %s: %w", r.Key(), err)
	}
	return Message{
		Topic: topic,
		Key:   []byte(r.Key()),
		Value: v,
		Headers: []Header{
			header(HeaderKind, string(KindRow)),
			header(HeaderChangefeed, r.Changefeed),
			header(HeaderEpoch, strconv.FormatUint(r.Epoch, 10)),
			header(HeaderNode, r.Node),
			header(HeaderDispatcher, r.Dispatcher),
			header(HeaderCommitTs, strconv.FormatUint(r.CommitTs, 10)),
			header(HeaderSeen, strconv.FormatUint(r.Seen, 10)),
			header(HeaderDispatcherEpoch, strconv.FormatUint(r.DispatcherEpoch, 10)),
			header(HeaderDispatcherSeen, strconv.FormatUint(r.DispatcherSeen, 10)),
		},
		Partition: AnyPartition,
	}, nil
}

// EncodeWatermark encodes w as one record for each of the topic's
// partitions (0..partitions-1), each addressed to its partition explicitly.
func EncodeWatermark(topic string, w Watermark, partitions int32) ([]Message, error) {
	if partitions <= 0 {
		return nil, fmt.Errorf("encode watermark %d for %s: %d partitions: %w", w.Ts, topic, partitions, ErrBadRecord)
	}
	if w.Changefeed == "" {
		return nil, fmt.Errorf("encode watermark %d for %s: empty changefeed: %w", w.Ts, topic, ErrBadRecord)
	}
	v, err := json.Marshal(watermarkValue{Ts: w.Ts})
	if err != nil {
		return nil, fmt.Errorf("encode watermark %d: %w", w.Ts, err)
	}
	// All partitions share the headers and value: the producer never
	// mutates them.
	hs := []Header{
		header(HeaderKind, string(KindWatermark)),
		header(HeaderChangefeed, w.Changefeed),
		header(HeaderEpoch, strconv.FormatUint(w.Epoch, 10)),
		header(HeaderNode, w.Node),
		header(HeaderTs, strconv.FormatUint(w.Ts, 10)),
		header(HeaderSeen, strconv.FormatUint(w.Seen, 10)),
	}
	out := make([]Message, partitions)
	for p := range partitions {
		out[p] = Message{Topic: topic, Value: v, Headers: hs, Partition: p}
	}
	return out, nil
}

// headerView finds headers by name; a record has a handful, so a scan wins
// over a map.
type headerView []Header

func (h headerView) get(name string) (string, bool) {
	for _, x := range h {
		if string(x.Key) == name {
			return string(x.Value), true
		}
	}
	return "", false
}

func (h headerView) str(name string) (string, error) {
	v, ok := h.get(name)
	if !ok {
		return "", fmt.Errorf("header %s missing", name)
	}
	return v, nil
}

// optUint reads an optional numeric header: 0 when absent.
func (h headerView) optUint(name string) (uint64, error) {
	if _, ok := h.get(name); !ok {
		return 0, nil
	}
	return h.uint(name)
}

func (h headerView) uint(name string) (uint64, error) {
	v, err := h.str(name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("header %s=%q: %w", name, v, err)
	}
	return n, nil
}

// Consumed is a record as a consumer hands it over, before decoding.
type Consumed struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Decode decodes a consumed record. Errors wrap ErrMalformed and name the
// topic, partition and offset.
func Decode(m Consumed) (Record, error) { return Decoder{}.Decode(m) }

// Decoder decodes consumed records as Decode does, with the JSON engine
// Unmarshal (json.Unmarshal when nil). evidence keeps to the standard
// library; a reader of millions of records may bring a faster engine with
// encoding/json's semantics.
type Decoder struct {
	Unmarshal func(data []byte, v any) error
}

// Decode decodes a consumed record; see the package function Decode.
func (d Decoder) Decode(m Consumed) (Record, error) {
	if d.Unmarshal == nil {
		d.Unmarshal = json.Unmarshal
	}
	rec := Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp, Key: m.Key}
	if err := d.decodeInto(&rec, headerView(m.Headers), m.Key, m.Value); err != nil {
		return Record{}, fmt.Errorf("decode %s/%d@%d: %w: %w", m.Topic, m.Partition, m.Offset, ErrMalformed, err)
	}
	return rec, nil
}

func (d Decoder) decodeInto(rec *Record, h headerView, key, value []byte) error {
	kind, err := h.str(HeaderKind)
	if err != nil {
		return err
	}
	rec.Kind = Kind(kind)
	if rec.Changefeed, err = h.str(HeaderChangefeed); err != nil {
		return err
	}
	if rec.Epoch, err = h.uint(HeaderEpoch); err != nil {
		return err
	}
	if rec.Node, err = h.str(HeaderNode); err != nil {
		return err
	}
	switch rec.Kind {
	case KindRow:
		return d.decodeRow(rec, h, key, value)
	case KindWatermark:
		return d.decodeWatermark(rec, h, value)
	default:
		return fmt.Errorf("header %s=%q: unknown kind", HeaderKind, kind)
	}
}

func (d Decoder) decodeRow(rec *Record, h headerView, key, value []byte) error {
	dispatcher, err := h.str(HeaderDispatcher)
	if err != nil {
		return err
	}
	commitTs, err := h.uint(HeaderCommitTs)
	if err != nil {
		return err
	}
	var gen [3]uint64
	for i, name := range []string{HeaderSeen, HeaderDispatcherEpoch, HeaderDispatcherSeen} {
		if gen[i], err = h.optUint(name); err != nil {
			return err
		}
	}
	var v rowValue
	// Unknown fields are ignored so that a later writer may add some.
	if err := d.Unmarshal(value, &v); err != nil {
		return fmt.Errorf("row value: %w", err)
	}
	r := Row{
		Changefeed: rec.Changefeed, Epoch: rec.Epoch, Node: rec.Node, Dispatcher: dispatcher,
		Seen: gen[0], DispatcherEpoch: gen[1], DispatcherSeen: gen[2],
		Table: v.Table, PK: v.PK, Op: v.Op, CommitTs: v.CommitTs, Columns: v.Columns,
	}
	switch {
	case v.CommitTs != commitTs:
		return fmt.Errorf("value commit_ts %d != header %s %d", v.CommitTs, HeaderCommitTs, commitTs)
	case string(key) != r.Key():
		return fmt.Errorf("key %q != %q from the value", key, r.Key())
	case !v.Op.valid():
		return fmt.Errorf("op %q", v.Op)
	}
	rec.Row = &r
	return nil
}

func (d Decoder) decodeWatermark(rec *Record, h headerView, value []byte) error {
	ts, err := h.uint(HeaderTs)
	if err != nil {
		return err
	}
	var v watermarkValue
	if err := d.Unmarshal(value, &v); err != nil {
		return fmt.Errorf("watermark value: %w", err)
	}
	if v.Ts != ts {
		return fmt.Errorf("value ts %d != header %s %d", v.Ts, HeaderTs, ts)
	}
	seen, err := h.optUint(HeaderSeen)
	if err != nil {
		return err
	}
	rec.Watermark = &Watermark{Changefeed: rec.Changefeed, Epoch: rec.Epoch, Node: rec.Node, Ts: ts, Seen: seen}
	return nil
}

// Package debezium decodes the records Debezium's PostgreSQL connector
// (pgoutput, JSON converter with schemas disabled) writes to one topic into
// evidence records, so the judge reads them as it reads chaosrun's own.
//
// Every table is (pk bigint PRIMARY KEY, cols jsonb NOT NULL) with REPLICA
// IDENTITY FULL; the key is {"pk":N}. A row of the heartbeat table, written
// by the connector's heartbeat.action.query, is a watermark. Debezium
// records carry no writer identity: Epoch is 0 and Node "". It imports only
// the standard library.
package debezium

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/chaosrun/chaosrun/evidence"
)

// DefaultHeartbeatTable is the table whose rows are watermarks when
// Options.HeartbeatTable is empty.
const DefaultHeartbeatTable = "chaosrun_heartbeat"

// Options configures Decode.
type Options struct {
	// Changefeed names every decoded record's changefeed: the connector's
	// name.
	Changefeed string
	// HeartbeatTable is the table the connector's heartbeat.action.query
	// writes; default DefaultHeartbeatTable.
	HeartbeatTable string
}

// Decoder returns Decode bound to opt, the shape a tailer takes.
func (opt Options) Decoder() func(evidence.Consumed) (evidence.Record, error) {
	return func(c evidence.Consumed) (evidence.Record, error) { return Decode(c, opt) }
}

// envelope is a change event's value.
type envelope struct {
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	Source *source         `json:"source"`
	Op     string          `json:"op"`
	TsMs   *int64          `json:"ts_ms"`
}

// source is the part of an event's source block the judge needs.
type source struct {
	Connector string `json:"connector"`
	Table     string `json:"table"`
	TsMs      *int64 `json:"ts_ms"`
	TsUs      *int64 `json:"ts_us"`
}

// image is a row image (before or after) of a workload table.
type image struct {
	PK   *int64          `json:"pk"`
	Cols json.RawMessage `json:"cols"`
}

// Decode decodes one consumed record. A row of a workload table becomes a
// Row whose CommitTs is evidence.TSOMicros of source.ts_us (source.ts_ms
// when the connector sends no ts_us); ops c and r are inserts, u updates,
// d deletes (without columns, as evidence.Row has none for a delete). A
// row of the heartbeat table becomes a Watermark at the same TSO. Column
// values are rendered as chaosrun's node renders them: a JSON string
// Go-quoted, any other value as its compact JSON text.
//
// A tombstone (no value) or a Debezium heartbeat message ({"ts_ms":N}) is
// not a change: the error wraps evidence.ErrNotChange. Anything else that
// does not decode wraps evidence.ErrMalformed. Errors name the topic,
// partition and offset.
func Decode(c evidence.Consumed, opt Options) (evidence.Record, error) {
	rec := evidence.Record{
		Topic: c.Topic, Partition: c.Partition, Offset: c.Offset, Timestamp: c.Timestamp, Key: c.Key,
		Changefeed: opt.Changefeed,
	}
	where := fmt.Sprintf("decode %s/%d@%d", c.Topic, c.Partition, c.Offset)
	if len(bytes.TrimSpace(c.Value)) == 0 || string(bytes.TrimSpace(c.Value)) == "null" {
		return evidence.Record{}, fmt.Errorf("%s: tombstone: %w", where, evidence.ErrNotChange)
	}
	var env envelope
	if err := json.Unmarshal(c.Value, &env); err != nil {
		return evidence.Record{}, fmt.Errorf("%s: %w: value: %w", where, evidence.ErrMalformed, err)
	}
	if env.Op == "" && env.Source == nil && env.TsMs != nil && isHeartbeatMessage(c.Value) {
		return evidence.Record{}, fmt.Errorf("%s: debezium heartbeat message: %w", where, evidence.ErrNotChange)
	}
	if err := decodeEnvelope(&rec, &env, c.Key, opt); err != nil {
		return evidence.Record{}, fmt.Errorf("%s: %w: %w", where, evidence.ErrMalformed, err)
	}
	return rec, nil
}

// isHeartbeatMessage reports whether value is exactly {"ts_ms":N}, the
// message of Debezium's own heartbeat topic.
func isHeartbeatMessage(value []byte) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(value, &m) == nil && len(m) == 1 && m["ts_ms"] != nil
}

func decodeEnvelope(rec *evidence.Record, env *envelope, key []byte, opt Options) error {
	src := env.Source
	switch {
	case src == nil:
		return fmt.Errorf("no source block")
	case src.Table == "":
		return fmt.Errorf("source.table missing")
	}
	ts, err := commitTs(src)
	if err != nil {
		return err
	}
	hb := opt.HeartbeatTable
	if hb == "" {
		hb = DefaultHeartbeatTable
	}
	if src.Table == hb {
		switch env.Op {
		case "c", "r", "u", "d":
		default:
			return fmt.Errorf("op %q", env.Op)
		}
		rec.Kind = evidence.KindWatermark
		rec.Watermark = &evidence.Watermark{Changefeed: opt.Changefeed, Ts: ts}
		return nil
	}
	row := evidence.Row{Changefeed: opt.Changefeed, Table: src.Table, CommitTs: ts}
	img := env.After
	switch env.Op {
	case "c", "r":
		row.Op = evidence.OpInsert
	case "u":
		row.Op = evidence.OpUpdate
	case "d":
		row.Op = evidence.OpDelete
		img = env.Before
	default:
		return fmt.Errorf("op %q", env.Op)
	}
	var im image
	if isNull(img) {
		return fmt.Errorf("op %q without its row image", env.Op)
	}
	if err := json.Unmarshal(img, &im); err != nil {
		return fmt.Errorf("row image: %w", err)
	}
	if im.PK == nil {
		return fmt.Errorf("row image without pk")
	}
	row.PK = *im.PK
	if err := checkKey(key, row.PK); err != nil {
		return err
	}
	if row.Op != evidence.OpDelete {
		if row.Columns, err = columns(im.Cols); err != nil {
			return err
		}
	}
	rec.Kind = evidence.KindRow
	rec.Row = &row
	return nil
}

// commitTs is the TSO of the event's commit time, in microseconds when the
// connector sends them.
func commitTs(src *source) (uint64, error) {
	var us int64
	switch {
	case src.TsUs != nil:
		us = *src.TsUs
	case src.TsMs != nil:
		us = *src.TsMs * 1000
	default:
		return 0, fmt.Errorf("source has neither ts_us nor ts_ms")
	}
	if us < 0 {
		return 0, fmt.Errorf("source timestamp %d µs before the Unix epoch", us)
	}
	return evidence.TSOMicros(time.UnixMicro(us)), nil
}

// checkKey checks that the record key, when there is one, names pk.
func checkKey(key []byte, pk int64) error {
	if len(key) == 0 {
		return nil
	}
	var k struct {
		PK *int64 `json:"pk"`
	}
	if err := json.Unmarshal(key, &k); err != nil {
		return fmt.Errorf("key %q: %w", key, err)
	}
	if k.PK == nil || *k.PK != pk {
		return fmt.Errorf("key %q does not name pk %d of the row image", key, pk)
	}
	return nil
}

// columns parses the cols jsonb value, which the JSON converter sends as a
// string holding the document (an object is accepted too).
func columns(raw json.RawMessage) (map[string]string, error) {
	if isNull(raw) {
		return nil, fmt.Errorf("cols missing or null")
	}
	doc := []byte(raw)
	var s string
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte{'"'}) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("cols %s: %w", raw, err)
		}
		doc = []byte(s)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(doc, &obj); err != nil {
		return nil, fmt.Errorf("cols %s: %w", raw, err)
	}
	if obj == nil {
		return nil, fmt.Errorf("cols %s is not an object", raw)
	}
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		var str string
		if bytes.HasPrefix(v, []byte{'"'}) && json.Unmarshal(v, &str) == nil {
			out[k] = strconv.Quote(str)
			continue
		}
		var b bytes.Buffer
		if err := json.Compact(&b, v); err != nil {
			return nil, fmt.Errorf("cols %s, column %s: %w", raw, k, err)
		}
		out[k] = b.String()
	}
	return out, nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

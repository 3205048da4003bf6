package checker

import (
	"fmt"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// The change log is millions of JSON lines. It is decoded with json/v2
// (github.com/go-json-experiment/json, the Go team's module behind
// encoding/json/v2) under encoding/json's semantics, the options
// encoding/json itself runs json/v2 with: a line decodes to what
// json.Unmarshal makes of it and encodes to the bytes json.Marshal writes,
// except that invalid UTF-8 becomes a literal U+FFFD rather than \ufffd.
// That is about twice encoding/json's speed. The errors are v2's:
// encoding/json's error types cost a fifth of the decoding time and reject
// nothing more.
var jsonOptions = json.JoinOptions(jsonv1.DefaultOptionsV1(), jsonv1.ReportErrorsWithLegacySemantics(false))

// UnmarshalJSON decodes b into v as json.Unmarshal does, at about twice
// its speed (the change log's reader, and the tailer's JSON engine for
// evidence.Decoder).
func UnmarshalJSON(b []byte, v any) error {
	return json.Unmarshal(b, v, jsonOptions)
}

// AppendRecordJSON appends r encoded as one JSON line, without the newline,
// to dst: the form `chaosrun dump` prints the record dump in.
func AppendRecordJSON(dst []byte, r *Record) []byte {
	b, err := json.Marshal(r, jsonOptions)
	if err != nil {
		// Only an append time outside the years 0..9999 fails to encode;
		// write the record with a zero time rather than lose it.
		zeroed := *r
		zeroed.AppendTime = time.Time{}
		b, _ = json.Marshal(&zeroed, jsonOptions)
	}
	return append(dst, b...)
}

// UnmarshalJSONFrom is UnmarshalJSON for json/v2, which prefers it: it
// canonicalises the object's values token by token, without the
// intermediate map.
func (c *Columns) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case 'n':
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		*c = nil
		return nil
	case '{':
	default:
		val, err := dec.ReadValue()
		if err != nil {
			return err
		}
		return fmt.Errorf("checker: columns: %s is not an object", val.Kind())
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	out := make(Columns, 4)
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		// NB: a Token is void after the next read.
		name := tok.String()
		var v string
		if dec.PeekKind() == '"' {
			if tok, err = dec.ReadToken(); err != nil {
				return err
			}
			v = tok.String()
		} else {
			val, err := dec.ReadValue()
			if err != nil {
				return err
			}
			v = string(val)
		}
		out[name] = v
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	*c = out
	return nil
}

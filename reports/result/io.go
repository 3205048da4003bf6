package result

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// FileName is the name of the result file in a run directory.
const FileName = "result.json"

// ErrSchema reports a result.json written with a schema this build cannot read.
var ErrSchema = errors.New("result: unsupported schema version")

// Write encodes r as indented JSON. It stamps the current SchemaVersion and
// the Disclaimer so that a hand-built Result cannot be written without them.
func Write(w io.Writer, r *Result) error {
	out := *r
	out.SchemaVersion = SchemaVersion
	out.Disclaimer = Disclaimer
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("result: encode %s: %w", FileName, err)
	}
	return nil
}

// Read decodes a result written by Write. It refuses a missing or newer
// schema version with an error wrapping ErrSchema.
func Read(rd io.Reader) (*Result, error) {
	var r Result
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("result: decode %s: %w", FileName, err)
	}
	if r.SchemaVersion < 1 || r.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("%w: %d (this build reads 1..%d)", ErrSchema, r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}

// ReadDir reads the result.json of run directory dir (a missing one is an
// error wrapping fs.ErrNotExist).
func ReadDir(dir string) (*Result, error) {
	f, err := os.Open(filepath.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("result: %w", err)
	}
	defer f.Close()
	return Read(f)
}

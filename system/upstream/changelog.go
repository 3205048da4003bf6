package upstream

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ChangeLogFile is the name, in the data dir, of the append-only change log.
const ChangeLogFile = "changelog.jsonl"

// txnRecord is one line of the change log: a committed transaction.
type txnRecord struct {
	CommitTs uint64      `json:"commit_ts"`
	Rows     []rowRecord `json:"rows"`
}

type rowRecord struct {
	Table   string           `json:"table"`
	PK      int64            `json:"pk"`
	Op      Op               `json:"op"`
	Columns map[string]Value `json:"columns,omitempty"`
}

// ReadChangeLog reads a change log (as written by a DB, possibly killed
// mid-write) and returns every committed row change in commit ts order; the
// rows of one transaction share a commit ts and keep their order. A torn
// last line (no trailing newline) is ignored: its commit never returned.
func ReadChangeLog(path string) ([]Change, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("upstream: open change log: %w", err)
	}
	defer f.Close()
	var out []Change
	_, err = scanLog(f, func(t txnRecord) error {
		for _, r := range t.Rows {
			out = append(out, Change{CommitTs: t.CommitTs, Table: r.Table, PK: r.PK, Op: r.Op, Columns: r.Columns})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("upstream: read change log %s: %w", path, err)
	}
	return out, nil
}

// scanLog calls fn for every complete line of the log in order and returns
// the byte length of the complete lines. Commit ts must strictly increase.
func scanLog(r io.Reader, fn func(txnRecord) error) (int64, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var good int64
	var last uint64
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return good, nil // b, if any, is a torn tail
		}
		if err != nil {
			return good, err
		}
		var t txnRecord
		if err := json.Unmarshal(bytes.TrimSpace(b), &t); err != nil {
			return good, fmt.Errorf("line %d: %w", line, err)
		}
		if t.CommitTs <= last {
			return good, fmt.Errorf("line %d: commit ts %d not above %d", line, t.CommitTs, last)
		}
		last = t.CommitTs
		if err := fn(t); err != nil {
			return good, fmt.Errorf("line %d: %w", line, err)
		}
		good += int64(len(b))
	}
}

// changeLog appends transactions to the log file.
type changeLog struct {
	path string
	f    *os.File
}

// openChangeLog replays the existing log through fn, truncates a torn tail
// and opens the file for appending.
func openChangeLog(dir string, fn func(txnRecord) error) (*changeLog, error) {
	path := filepath.Join(dir, ChangeLogFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("upstream: open change log: %w", err)
	}
	good, err := scanLog(f, fn)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("upstream: replay change log %s: %w", path, err)
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("upstream: truncate torn change log tail: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("upstream: seek change log: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("upstream: sync change log: %w", err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("upstream: sync data dir: %w", err)
	}
	return &changeLog{path: path, f: f}, nil
}

// append writes a batch of encoded lines and fsyncs once.
func (l *changeLog) append(b []byte) error {
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("%w: write %s: %w", ErrLogFailed, l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("%w: fsync %s: %w", ErrLogFailed, l.path, err)
	}
	return nil
}

func (l *changeLog) close() error { return l.f.Close() }

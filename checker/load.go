package checker

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// maxLine bounds one JSONL line.
const maxLine = 16 << 20

// ReadJSONL decodes one JSON value per line of r and calls fn with each, in
// order, skipping blank lines. It stops at the first error, naming the line.
func ReadJSONL[T any](r io.Reader, fn func(T) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var v T
		if err := UnmarshalJSON(b, &v); err != nil {
			return fmt.Errorf("checker: line %d: %w", line, err)
		}
		if err := fn(v); err != nil {
			return fmt.Errorf("checker: line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("checker: read: %w", err)
	}
	return nil
}

// LoadJSONL reads every line of r into a slice; use it for the small inputs
// (grants, decisions, faults).
func LoadJSONL[T any](r io.Reader) ([]T, error) {
	var out []T
	err := ReadJSONL(r, func(v T) error {
		out = append(out, v)
		return nil
	})
	return out, err
}

// Feed adds a change log (JSONL, in commit_ts order) and a record dump (see
// ReadDump, in consumption order) to c, adding each change
// before the first record appended at or after its commit time, so that the
// checker's memory stays proportional to keys. A change log line is a
// Change or a transaction {"commit_ts", "rows": [{table, pk, op, columns}]}
// as the upstream writes it. changes may be nil when the Config says there
// is no change log. A torn last record is an error wrapping ErrTornDump.
func Feed(c *Checker, changes, records io.Reader) error {
	next := pullChanges(changes)
	pending, ok, err := next()
	if err != nil {
		return err
	}
	err = ReadDump(records, func(r Record) error {
		at := r.AppendTime.UnixMilli()
		for ok && PhysicalMs(pending.CommitTs) <= at {
			c.AddChange(pending)
			if pending, ok, err = next(); err != nil {
				return err
			}
		}
		c.Add(r)
		return nil
	})
	if err != nil {
		return err
	}
	for ok {
		c.AddChange(pending)
		if pending, ok, err = next(); err != nil {
			return err
		}
	}
	return nil
}

// changeLine is one line of a change log: either a single Change or, as
// the upstream writes its changelog.jsonl, a committed transaction whose
// rows share its commit_ts.
type changeLine struct {
	Change
	Rows []changeRow `json:"rows"`
}

// changeRow is one row of a transaction in the change log.
type changeRow struct {
	Table   string  `json:"table"`
	PK      int64   `json:"pk"`
	Op      string  `json:"op"`
	Columns Columns `json:"columns,omitempty"`
}

// pullChanges turns a change log into an iterator; a nil reader yields
// nothing.
func pullChanges(r io.Reader) func() (Change, bool, error) {
	if r == nil {
		return func() (Change, bool, error) { return Change{}, false, nil }
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	line := 0
	var queue []Change
	return func() (Change, bool, error) {
		for len(queue) == 0 && sc.Scan() {
			line++
			b := bytes.TrimSpace(sc.Bytes())
			if len(b) == 0 {
				continue
			}
			var cl changeLine
			if err := UnmarshalJSON(b, &cl); err != nil {
				return Change{}, false, fmt.Errorf("checker: change log line %d: %w", line, err)
			}
			if cl.Rows == nil {
				queue = append(queue, cl.Change)
				continue
			}
			for _, row := range cl.Rows {
				queue = append(queue, Change{CommitTs: cl.CommitTs, Table: row.Table, PK: row.PK, Op: row.Op, Columns: row.Columns})
			}
		}
		if len(queue) > 0 {
			ch := queue[0]
			queue = queue[1:]
			return ch, true, nil
		}
		if err := sc.Err(); err != nil {
			return Change{}, false, fmt.Errorf("checker: change log: %w", err)
		}
		return Change{}, false, nil
	}
}

// ReadChangeLog calls fn with each change of a change log (as Feed reads
// it: Change lines or the upstream's transaction lines) in order; r may be
// nil. It stops at the first error.
func ReadChangeLog(r io.Reader, fn func(Change) error) error {
	next := pullChanges(r)
	for {
		ch, ok, err := next()
		if err != nil || !ok {
			return err
		}
		if err := fn(ch); err != nil {
			return err
		}
	}
}

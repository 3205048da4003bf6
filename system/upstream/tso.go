package upstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// TSOFile is the name, in the data dir, of the TSO's persisted high-water
// mark.
const TSOFile = "tso.json"

// tsoWindow is how far ahead of the issued physical time the high-water mark
// is saved. Small, so that after a restart ts are at most this far ahead of
// the wall clock (lag is measured against it); each save costs one fsync.
const tsoWindow = 500 * time.Millisecond

// tso issues strictly increasing TiDB-format timestamps. It never issues a
// physical time at or above the persisted limit, and starts at the limit
// after a restart, so no ts is ever reused.
type tso struct {
	mu      sync.Mutex
	now     func() time.Time
	path    string
	phys    int64 // physical ms of the last issued ts
	logical int64 // logical of the last issued ts; -1 before the first
	limit   int64 // persisted high-water mark (ms): phys < limit
}

type tsoState struct {
	LimitMs int64 `json:"limit_ms"`
}

// openTSO loads the high-water mark from dir. floor is a ts known to be
// issued (the change log's last commit ts) in case the mark is missing.
func openTSO(dir string, now func() time.Time, floor uint64) (*tso, error) {
	t := &tso{now: now, path: filepath.Join(dir, TSOFile), logical: -1}
	b, err := os.ReadFile(t.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("upstream: read %s: %w", t.path, err)
	default:
		var st tsoState
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("upstream: decode %s: %w", t.path, err)
		}
		t.limit = st.LimitMs
	}
	// Every ts issued before has physical < limit (and <= floor's).
	t.phys = max(t.limit, PhysicalMs(floor)+1)
	t.limit = t.phys
	return t, nil
}

// Next issues the next ts.
func (t *tso) Next() (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	phys, logical := t.now().UnixMilli(), int64(0)
	if phys <= t.phys {
		phys, logical = t.phys, t.logical+1
		if logical >= maxLogical {
			phys, logical = phys+1, 0
		}
	}
	if phys >= t.limit {
		if err := t.save(phys + tsoWindow.Milliseconds()); err != nil {
			return 0, err
		}
	}
	t.phys, t.logical = phys, logical
	return ComposeTS(phys, logical), nil
}

// save persists a new limit atomically (temp file, fsync, rename, fsync
// dir) before any ts at or above the old one is issued.
func (t *tso) save(limit int64) error {
	b, _ := json.Marshal(tsoState{LimitMs: limit})
	tmp := t.path + ".tmp"
	if err := writeFileSync(tmp, b); err != nil {
		return fmt.Errorf("upstream: save tso limit: %w", err)
	}
	if err := os.Rename(tmp, t.path); err != nil {
		return fmt.Errorf("upstream: save tso limit: %w", err)
	}
	if err := syncDir(filepath.Dir(t.path)); err != nil {
		return fmt.Errorf("upstream: save tso limit: %w", err)
	}
	t.limit = limit
	return nil
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

package workloads

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// Event is one line of a history.
type Event struct {
	Seq      int64     `json:"seq"`
	Time     time.Time `json:"time"`
	Type     string    `json:"type"` // invoke, ok, fail, info
	Worker   int       `json:"worker"`
	TxnID    int64     `json:"txn"`
	Writes   []Write   `json:"writes,omitempty"`
	CommitTs uint64    `json:"commit_ts,omitempty"`
	Err      string    `json:"err,omitempty"`
}

// History appends events as JSON lines to a file. A nil *History discards.
type History struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	seq int64
	err error
}

// CreateHistory creates (or truncates) the history file at path.
func CreateHistory(path string) (*History, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("workloads: create history %s: %w", path, err)
	}
	return &History{f: f, w: bufio.NewWriter(f)}, nil
}

// Record stamps ev with the next sequence number and the current time and
// appends it. The first write error is kept and returned by Close.
func (h *History) Record(ev Event) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	ev.Seq = h.seq
	ev.Time = time.Now()
	b, err := json.Marshal(ev)
	if err == nil {
		b = append(b, '\n')
		_, err = h.w.Write(b)
	}
	if err != nil && h.err == nil {
		h.err = err
	}
}

// Close flushes and closes the file.
func (h *History) Close() error {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.w.Flush(); err != nil && h.err == nil {
		h.err = err
	}
	if err := h.f.Close(); err != nil && h.err == nil {
		h.err = err
	}
	if h.err != nil {
		return fmt.Errorf("workloads: write history: %w", h.err)
	}
	return nil
}

// ReadHistory reads a history file.
func ReadHistory(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("workloads: open history: %w", err)
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return out, fmt.Errorf("workloads: history line %d: %w", len(out)+1, err)
		}
		out = append(out, ev)
	}
	return out, sc.Err()
}

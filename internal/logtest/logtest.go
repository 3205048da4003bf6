// Package logtest gives tests a slog.Logger that writes to t.Log.
package logtest

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// New returns an Info-level logger that writes each record to t.Log until
// the test ends and drops records after that. Servers started by the test
// may log from goroutines that outlive it, and t.Log would panic then.
//
// NB: New registers its cleanup when called, so a call before the server
// starts stops the logging only after the server's own cleanup has run.
func New(t testing.TB) *slog.Logger {
	w := &writer{t: t}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type writer struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *writer) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

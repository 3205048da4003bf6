package node

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/system/roles"
)

// decisionLog appends decisions as JSON lines, flushed on every batch so a
// SIGKILLed node loses at most the batch being written.
type decisionLog struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

func openDecisionLog(path string) (*decisionLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("node: open decision log %s: %w", path, err)
	}
	return &decisionLog{f: f, w: bufio.NewWriter(f)}, nil
}

func (l *decisionLog) write(now time.Time, ds []roles.Decision) error {
	if len(ds) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	enc := json.NewEncoder(l.w)
	for _, d := range ds {
		e := evidence.Decision{
			Time: now, Node: d.Node, Role: d.Role, Changefeed: d.Changefeed, Message: d.Message,
			MsgEpoch: d.Claim.Epoch, LocalEpoch: d.LocalEpoch, Sender: d.Claim.From, LocalNode: d.LocalNode,
			Rule: string(d.Rule), Verdict: d.Verdict.String(), Acted: d.Acts(), Policy: d.Policy.String(), Reason: d.Reason,
		}
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("node: write decision log: %w", err)
		}
	}
	return l.w.Flush()
}

// writeEvidence appends one decision the roles did not make (a writer
// fenced by the broker) and flushes it.
func (l *decisionLog) writeEvidence(e evidence.Decision) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := json.NewEncoder(l.w).Encode(e); err != nil {
		return fmt.Errorf("node: write decision log: %w", err)
	}
	return l.w.Flush()
}

func (l *decisionLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.w.Flush(); err != nil {
		l.f.Close()
		return err
	}
	return l.f.Close()
}

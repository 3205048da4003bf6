package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// LedgerFile is the ledger's file name inside a run directory.
const LedgerFile = "faults.ledger.jsonl"

// Ledger operations.
const (
	LedgerIntent = "intent" // about to create or change something
	LedgerUndone = "undone" // the matching intent was undone cleanly
)

// Ledger entry kinds.
const (
	EntryHarness   = "harness"   // the process that owns the run (pid + start time)
	EntryNamespace = "namespace" // a network namespace
	EntryBridge    = "bridge"    // the run's bridge inside the hub namespace
	EntryVeth      = "veth"      // a veth pair (hub end named)
	EntryChain     = "chain"     // the run's iptables chain and its jumps in a namespace
	EntryRules     = "rules"     // a cut's iptables rules in a namespace
	EntryProxy     = "proxy"     // a toxiproxy proxy (in-process server)
	EntryToxics    = "toxics"    // a cut's toxics on proxies
	EntryProcess   = "process"   // a process the runner started
	EntrySignal    = "signal"    // a signal sent by a process fault
	EntryFault     = "fault"     // a resolved fault, before the backend acts
)

// Entry is one line of the ledger. Only the fields a kind needs are set.
type Entry struct {
	Time    time.Time `json:"ts"`
	Run     string    `json:"run"`
	Op      string    `json:"op"`
	Kind    string    `json:"kind"`
	Backend string    `json:"backend,omitempty"`
	Fault   string    `json:"fault,omitempty"`
	Target  string    `json:"target,omitempty"` // role of a fault
	// Netns is the namespace the entry lives in (rules, chain, veth, bridge).
	Netns string `json:"netns,omitempty"`
	// Name is the namespace, link, chain, proxy or process name.
	Name string `json:"name,omitempty"`
	// Rules are iptables rule specs (the part after "-A <chain>").
	Rules    []string `json:"rules,omitempty"`
	Listen   string   `json:"listen,omitempty"`
	Upstream string   `json:"upstream,omitempty"`
	Toxics   []string `json:"toxics,omitempty"` // "proxy/toxic" pairs
	Pid      int      `json:"pid,omitempty"`
	Pgid     int      `json:"pgid,omitempty"`
	Start    uint64   `json:"start,omitempty"`
	Signal   string   `json:"signal,omitempty"`
	Peers    []string `json:"peers,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

// Ledger appends intents to <run-dir>/faults.ledger.jsonl before the harness
// acts, so `chaosrun clean` can undo whatever a crashed run left behind.
// Every line is written and fsynced before Append returns. A nil *Ledger
// records nothing (for unit tests only). Safe for concurrent use.
type Ledger struct {
	mu   sync.Mutex
	f    *os.File
	run  string
	path string
	now  func() time.Time
}

// OpenLedger opens (creating if needed) the ledger of run in runDir and
// records the calling process as the run's harness.
func OpenLedger(runDir, run string) (*Ledger, error) {
	if err := ValidateRunID(run); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, fmt.Errorf("chaos: ledger: %w", err)
	}
	l, err := appendLedger(filepath.Join(runDir, LedgerFile), run)
	if err != nil {
		return nil, err
	}
	pid := os.Getpid()
	start, _ := procStartTime(pid) // NB: 0 on non-Linux; clean then never treats the harness as alive
	if err := l.Append(Entry{Op: LedgerIntent, Kind: EntryHarness, Pid: pid, Start: start}); err != nil {
		_ = l.Close()
		return nil, err
	}
	return l, nil
}

// appendLedger opens the ledger at path for appending, without recording a
// harness (clean uses it to mark what it undid).
func appendLedger(path, run string) (*Ledger, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("chaos: ledger: %w", err)
	}
	return &Ledger{f: f, run: run, path: path, now: time.Now}, nil
}

// Path returns the ledger file's path ("" for a nil ledger).
func (l *Ledger) Path() string {
	if l == nil {
		return ""
	}
	return l.path
}

// Run returns the ledger's run id ("" for a nil ledger).
func (l *Ledger) Run() string {
	if l == nil {
		return ""
	}
	return l.run
}

// Append writes e (stamped with the time and run id) as one JSON line and
// syncs the file.
func (l *Ledger) Append(e Entry) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("chaos: ledger %s: closed", l.path)
	}
	e.Time = l.now().UTC()
	e.Run = l.run
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("chaos: ledger: %w", err)
	}
	b = append(b, '\n')
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("chaos: ledger %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("chaos: ledger %s: sync: %w", l.path, err)
	}
	return nil
}

// AddProcess records a process the runner started (call it right after
// exec.Cmd.Start), so clean can kill it by pid and start time. It fills
// p.StartTime from /proc when unset and returns the completed process.
func (l *Ledger) AddProcess(p Process) (Process, error) {
	if p.StartTime == 0 && p.Pid > 0 {
		st, err := procStartTime(p.Pid)
		if err != nil {
			return p, fmt.Errorf("chaos: process %s: %w", p.Name, err)
		}
		p.StartTime = st
	}
	return p, l.Append(Entry{Op: LedgerIntent, Kind: EntryProcess, Name: p.Name, Pid: p.Pid, Pgid: p.Group(), Start: p.StartTime, Netns: p.Namespace})
}

// Close closes the file. Idempotent.
func (l *Ledger) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// ReadLedger reads every entry of a ledger file. A torn last line (the
// harness died mid-write) is ignored; a torn line elsewhere is an error.
func ReadLedger(path string) ([]Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("chaos: ledger: %w", err)
	}
	var out []Entry
	r := bufio.NewReader(bytes.NewReader(data))
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var e Entry
			if jerr := json.Unmarshal(line, &e); jerr != nil {
				if errors.Is(err, io.EOF) {
					break // torn final line
				}
				return nil, fmt.Errorf("chaos: ledger %s line %d: %w", path, n, jerr)
			}
			out = append(out, e)
		}
		if err != nil {
			break
		}
	}
	return out, nil
}

package proc

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Stat is what this package reads of /proc/<pid>/stat.
type Stat struct {
	Pid   int
	State byte   // R, S, D, T (stopped), t (traced), Z (zombie), ...
	Pgrp  int    // process group
	Start uint64 // start time, clock ticks since boot
}

// Alive reports whether the process runs or is stopped: not a zombie.
func (s Stat) Alive() bool { return s.State != 'Z' }

// parseStat parses the content of /proc/<pid>/stat. NB: the command name
// (field 2) may hold spaces and parentheses, so fields are counted after
// the last ')'.
func parseStat(pid int, b []byte) (Stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, fmt.Errorf("proc: /proc/%d/stat: no command field", pid)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 20 {
		return Stat{}, fmt.Errorf("proc: /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	pgrp, err1 := strconv.Atoi(string(f[5-3]))
	start, err2 := strconv.ParseUint(string(f[22-3]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return Stat{}, fmt.Errorf("proc: /proc/%d/stat: %w", pid, err)
	}
	return Stat{Pid: pid, State: f[0][0], Pgrp: pgrp, Start: start}, nil
}

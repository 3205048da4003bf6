//go:build linux

package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// procInfo is what chaos needs from /proc/<pid>/stat.
type procInfo struct {
	Pid   int
	State byte   // R, S, D, T (stopped), t (traced), Z (zombie), ...
	Pgrp  int    // process group
	Start uint64 // start time, clock ticks since boot
}

// readProc parses /proc/<pid>/stat. It returns an error wrapping
// os.ErrNotExist when the process is gone.
func readProc(pid int) (procInfo, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, err
	}
	return parseStat(pid, b)
}

// parseStat parses a /proc/<pid>/stat line. NB: the command name (field 2)
// may hold spaces and parentheses, so fields are counted after the last ')'.
func parseStat(pid int, b []byte) (procInfo, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procInfo{}, fmt.Errorf("chaos: /proc/%d/stat: no command field", pid)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 20 {
		return procInfo{}, fmt.Errorf("chaos: /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	pgrp, err1 := strconv.Atoi(string(f[5-3]))
	start, err2 := strconv.ParseUint(string(f[22-3]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return procInfo{}, fmt.Errorf("chaos: /proc/%d/stat: %w", pid, err)
	}
	return procInfo{Pid: pid, State: f[0][0], Pgrp: pgrp, Start: start}, nil
}

// procStartTime returns pid's start time (field 22 of /proc/<pid>/stat).
func procStartTime(pid int) (uint64, error) {
	pi, err := readProc(pid)
	if err != nil {
		return 0, err
	}
	return pi.Start, nil
}

// alive reports whether pid runs (or is stopped) and is the process that
// started at start: a zombie or a reused pid is not alive.
func alive(pid int, start uint64) (procInfo, bool) {
	pi, err := readProc(pid)
	if err != nil || pi.State == 'Z' || pi.Start != start {
		return pi, false
	}
	return pi, true
}

// groupMembers returns the live (non-zombie) members of process group pgid
// that started at or after start, scanning /proc.
func groupMembers(pgid int, start uint64) ([]procInfo, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []procInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		pi, err := readProc(pid)
		if err != nil || pi.Pgrp != pgid || pi.State == 'Z' || pi.Start < start {
			continue
		}
		out = append(out, pi)
	}
	return out, nil
}

// ErrProcessGone reports that a recorded process no longer exists (or its
// pid now belongs to another process).
var ErrProcessGone = errors.New("chaos: process gone")

// signalGroup sends sig to the process group of the process identified by
// (pid, pgid, start). When the leader still runs with its recorded start
// time it signals the group with kill(-pgid). When the leader is gone it
// signals, one by one, the members of pgid that started after the leader
// (a reused pgid belongs to a newer leader, which is skipped by the start
// check). A reused pid is never signalled. It returns the pids signalled.
func signalGroup(pid, pgid int, start uint64, sig syscall.Signal) ([]int, error) {
	if pgid == 0 {
		pgid = pid
	}
	if pi, ok := alive(pid, start); ok {
		if pi.Pgrp != pgid {
			// The process left its recorded group: signal it alone.
			if err := syscall.Kill(pid, sig); err != nil {
				return nil, fmt.Errorf("chaos: kill -%s %d: %w", sig, pid, err)
			}
			return []int{pid}, nil
		}
		members, _ := groupMembers(pgid, start)
		if err := syscall.Kill(-pgid, sig); err != nil {
			return nil, fmt.Errorf("chaos: kill -%s -%d: %w", sig, pgid, err)
		}
		pids := []int{pid}
		for _, m := range members {
			if m.Pid != pid {
				pids = append(pids, m.Pid)
			}
		}
		return pids, nil
	}
	if leader, err := readProc(pgid); err == nil && leader.State != 'Z' && leader.Start < start {
		// pgid's leader is older than our process: the group is not ours.
		return nil, fmt.Errorf("%w: pid %d (group %d held by another process)", ErrProcessGone, pid, pgid)
	}
	members, err := groupMembers(pgid, start)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, m := range members {
		if err := syscall.Kill(m.Pid, sig); err == nil {
			pids = append(pids, m.Pid)
		}
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("%w: pid %d start %d", ErrProcessGone, pid, start)
	}
	return pids, nil
}

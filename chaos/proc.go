package chaos

import (
	"errors"
	"fmt"
	"slices"
	"syscall"

	"github.com/chaosrun/chaosrun/internal/proc"
)

// procStartTime returns pid's start time (field 22 of /proc/<pid>/stat).
func procStartTime(pid int) (uint64, error) {
	pi, err := proc.ReadStat(pid)
	if err != nil {
		return 0, err
	}
	return pi.Start, nil
}

// alive reports whether pid runs (or is stopped) and is the process that
// started at start: a zombie or a reused pid is not alive.
func alive(pid int, start uint64) (proc.Stat, bool) {
	pi, err := proc.ReadStat(pid)
	if err != nil || !pi.Alive() || pi.Start != start {
		return pi, false
	}
	return pi, true
}

// groupMembers returns the live (non-zombie) members of process group pgid
// that started at or after start.
func groupMembers(pgid int, start uint64) ([]proc.Stat, error) {
	all, err := proc.GroupMembers(pgid)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(m proc.Stat) bool { return m.Start < start }), nil
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
	if leader, err := proc.ReadStat(pgid); err == nil && leader.Alive() && leader.Start < start {
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

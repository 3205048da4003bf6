//go:build !linux

package chaos

import (
	"errors"
	"fmt"
	"syscall"
)

type procInfo struct {
	Pid   int
	State byte
	Pgrp  int
	Start uint64
}

// ErrProcessGone reports that a recorded process no longer exists.
var ErrProcessGone = errors.New("chaos: process gone")

func readProc(pid int) (procInfo, error) {
	return procInfo{}, fmt.Errorf("chaos: /proc: %w", errors.ErrUnsupported)
}

func procStartTime(pid int) (uint64, error) { _, err := readProc(pid); return 0, err }

func alive(pid int, start uint64) (procInfo, bool) { return procInfo{}, false }

func groupMembers(pgid int, start uint64) ([]procInfo, error) {
	_, err := readProc(pgid)
	return nil, err
}

func signalGroup(pid, pgid int, start uint64, sig syscall.Signal) ([]int, error) {
	_, err := readProc(pid)
	return nil, err
}

//go:build !linux

package proc

import (
	"errors"
	"fmt"
	"syscall"
)

// sysProcAttr puts the child in its own process group. Outside Linux there
// is no parent-death signal.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// awaitExit is unsupported outside Linux: without seeing the exit before
// the reap, signals reach the leader only.
func awaitExit(int) error { return errors.ErrUnsupported }

// ReadStat is unsupported outside Linux (no /proc).
func ReadStat(pid int) (Stat, error) {
	return Stat{}, fmt.Errorf("proc: /proc/%d/stat: %w", pid, errors.ErrUnsupported)
}

// GroupMembers is unsupported outside Linux (no /proc).
func GroupMembers(pgid int) ([]Stat, error) {
	return nil, fmt.Errorf("proc: members of process group %d: %w", pgid, errors.ErrUnsupported)
}

package proctest

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// RequireGroupGone fails t for every process of group pgid that still runs
// (a leader's children, a server's backends).
func RequireGroupGone(t testing.TB, pgid int) {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, err := syscall.Getpgid(pid); err == nil && g == pgid {
			comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
			t.Errorf("process %d (%s) of group %d still runs", pid, comm, pgid)
		}
	}
}

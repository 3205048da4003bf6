//go:build !linux

package proctest

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the child in its own process group. Outside Linux there
// is no parent-death signal; t.Cleanup still kills the group.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

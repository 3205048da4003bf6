package proctest

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the child in its own process group (so the whole group
// can be killed) and asks the kernel to SIGKILL it if this process dies.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

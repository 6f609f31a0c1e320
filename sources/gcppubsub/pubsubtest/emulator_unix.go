//go:build unix

package pubsubtest

import (
	"os/exec"
	"syscall"
	"time"
)

// ownProcessGroup starts cmd in a new process group, so that the Java
// emulator gcloud spawns can be stopped with it.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// stopGroup asks cmd's process group to stop, and kills it if gcloud has
// not exited after a few seconds. The group is killed in any case: gcloud
// can exit before its Java child.
func stopGroup(cmd *exec.Cmd, exited <-chan struct{}) {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-exited
}

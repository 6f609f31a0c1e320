//go:build !unix

package pubsubtest

import "os/exec"

// ownProcessGroup does nothing where process groups are not available.
func ownProcessGroup(*exec.Cmd) {}

// stopGroup kills gcloud. Without process groups the emulator's Java
// child may outlive it.
func stopGroup(cmd *exec.Cmd, exited <-chan struct{}) {
	_ = cmd.Process.Kill()
	<-exited
}

//go:build !unix

package pgtest

import "os/exec"

// runAs is never called off unix: os.Geteuid is -1 there.
func runAs(*exec.Cmd, *osUser) {}

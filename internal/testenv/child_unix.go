//go:build unix

package testenv

import "syscall"

// Pause stops the child with SIGSTOP, as a GC pause, a debugger or CPU
// starvation would: it keeps its sockets but answers nothing.
func (c *Child) Pause() error { return c.Signal(syscall.SIGSTOP) }

// Resume continues a paused child with SIGCONT.
func (c *Child) Resume() error { return c.Signal(syscall.SIGCONT) }

// Package testenv holds what tests of several packages need to run members
// on this machine.
package testenv

import (
	"net"
	"testing"
)

// FreeAddrs returns n loopback addresses whose ports the OS just handed
// out. Another process may take one before the caller binds it, which on a
// test machine is rare enough.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	lns := make([]net.Listener, 0, n)
	addrs := make([]string, 0, n)
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: no free port: %v", err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

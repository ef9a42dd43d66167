// Package testenv holds what the tests of several packages need to run
// members on this machine: free loopback addresses, an Ensemble of members
// inside the test process, and Child processes (the test binary run again
// in a role) for members that must die or pause the way a process does.
//
// It does not import coord: the root package's own tests use it, and Go
// forbids that cycle. So the member type is a type parameter, and member
// lists travel to child processes as strings that the callers format and
// parse (coord.FormatMembers, coord.ParseMembers).
package testenv

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
)

// FreeAddrs returns n loopback addresses whose ports the OS just handed
// out. Another process may take one before the caller binds it, which on a
// test machine is rare enough.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	addrs, err := freeAddrs(n)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return addrs
}

func freeAddrs(n int) ([]string, error) {
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	addrs := make([]string, 0, n)
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("no free port: %w", err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

// LogEnv is the environment variable that turns on members' debug logs in
// tests: COORD_TEST_LOG=1 go test ...
const LogEnv = "COORD_TEST_LOG"

// Logger returns a debug logger to stderr when LogEnv is set, else nil
// (members stay quiet).
func Logger() *slog.Logger {
	if os.Getenv(LogEnv) == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Package ensemble starts the coord members an example program runs: one
// member of an ensemble given on the command line, or a local three-member
// ensemble in a temporary directory.
package ensemble

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/coordkit/coord"
)

// Start opens the members this process runs. With members (the -members
// flag, id=host:port,...) it is member id of that ensemble, with its data
// in data (a directory under the temporary directory when empty); run the
// same command with each id, in as many terminals. Without members it forms
// a local three-member ensemble. stop closes them and removes what it
// created.
func Start(ctx context.Context, id uint64, members, data string) (ms []*coord.Coord, stop func(), err error) {
	if members != "" {
		addrs, err := ParseMembers(members)
		if err != nil {
			return nil, nil, err
		}
		if data == "" {
			data = filepath.Join(os.TempDir(), fmt.Sprintf("coord-example-%d", id))
		}
		m, err := coord.Open(ctx, coord.Options{ID: id, Members: addrs, DataDir: data})
		if err != nil {
			return nil, nil, err
		}
		return []*coord.Coord{m}, func() { m.Close() }, nil
	}
	dir, err := os.MkdirTemp("", "coord-example-")
	if err != nil {
		return nil, nil, err
	}
	addrs := map[uint64]string{}
	for i := uint64(1); i <= 3; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		addrs[i] = ln.Addr().String()
		ln.Close()
	}
	ms = make([]*coord.Coord, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range ms {
		wg.Add(1)
		go func() { // all at once: Open waits for a leader
			defer wg.Done()
			id := uint64(i + 1)
			ms[i], errs[i] = coord.Open(ctx, coord.Options{ID: id, Members: addrs, DataDir: filepath.Join(dir, fmt.Sprint(id))})
		}()
	}
	wg.Wait()
	stop = func() {
		// Close the members' sessions while the ensemble still has its
		// quorum, so that the last member to stop has nothing to wait for.
		each := func(fn func(m *coord.Coord)) {
			var wg sync.WaitGroup
			for _, m := range ms {
				if m != nil {
					wg.Add(1)
					go func() { defer wg.Done(); fn(m) }()
				}
			}
			wg.Wait()
		}
		each(func(m *coord.Coord) { m.Session().Close() })
		each(func(m *coord.Coord) { m.Close() })
		os.RemoveAll(dir)
	}
	if err := errors.Join(errs...); err != nil {
		stop()
		return nil, nil, err
	}
	return ms, stop, nil
}

// ParseMembers parses the -members flag: id=host:port,...
func ParseMembers(s string) (map[uint64]string, error) {
	m, err := coord.ParseMembers(s)
	if err != nil {
		return nil, fmt.Errorf("-members: %w", err)
	}
	return m, nil
}

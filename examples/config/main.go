// Command config shows a watched configuration value (recipe.Value) and a
// cached configuration tree (recipe.Cache).
//
// Three services, one on each member, watch /examples/config/app and apply
// every version they see. Two operators then edit it at the same time with
// compare-and-set: one wins, the other is told the value moved on, reads
// the new version and applies its change on top, so no edit is lost. A
// Cache of /examples/config finally shows the whole tree as one consistent
// snapshot.
//
//	go run ./examples/config
//
// With -id and -members each process is one member of an ensemble (run it in
// three terminals, with ids 1, 2 and 3); every process watches and edits the
// same value:
//
//	go run ./examples/config -id 1 -members 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/coordkit/coord"
	"github.com/coordkit/coord/examples/internal/ensemble"
	"github.com/coordkit/coord/recipe"
)

func main() {
	id := flag.Uint64("id", 0, "with -members: this process's member id")
	members := flag.String("members", "", "join the ensemble id=host:port,... as member -id instead of forming a local one")
	data := flag.String("data", "", "with -members: this member's data directory")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, *id, *members, *data); err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		os.Exit(1)
	}
}

const (
	root    = "/examples/config"
	appPath = root + "/app"
)

// Config is the application's configuration, stored as JSON.
type Config struct {
	Limit    int      `json:"limit"`
	Features []string `json:"features"`
}

func run(ctx context.Context, id uint64, members, data string) error {
	ms, stop, err := ensemble.Start(ctx, id, members, data)
	if err != nil {
		return err
	}
	defer stop()

	// The first version, unless there is one already.
	initial, _ := json.Marshal(Config{Limit: 10})
	_, err = recipe.NewValue(ms[0].Session(), appPath).CompareAndSet(ctx, -1, initial)
	if err != nil && !errors.Is(err, coord.ErrBadVersion) {
		return err
	}

	// Services: apply every version they see, until they have both edits.
	var services sync.WaitGroup
	for _, m := range ms {
		services.Add(1)
		go func() {
			defer services.Done()
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			for v := range recipe.NewValue(m.Session(), appPath).Watch(wctx) {
				if !v.Exists() {
					continue // not replicated to this member yet
				}
				var c Config
				if err := json.Unmarshal(v.Data, &c); err != nil {
					fmt.Printf("  service on member %d skips version %d: %v\n", m.ID(), v.Version, err)
					continue
				}
				fmt.Printf("  service on member %d applies version %d: %s\n", m.ID(), v.Version, v.Data)
				if len(c.Features) >= 2 {
					return
				}
			}
		}()
	}

	// Operators: two concurrent edits with compare-and-set, from two members.
	edit := func(m *coord.Coord, who string, change func(*Config)) error {
		v := recipe.NewValue(m.Session(), appPath)
		for {
			cur, err := v.Get(ctx)
			if err != nil {
				return err
			}
			var c Config
			if err := json.Unmarshal(cur.Data, &c); err != nil {
				return err
			}
			change(&c)
			next, _ := json.Marshal(c)
			time.Sleep(20 * time.Millisecond) // think time: lets the edits collide
			_, err = v.CompareAndSet(ctx, cur.Version, next)
			if errors.Is(err, coord.ErrBadVersion) {
				fmt.Printf("operator %s: version %d is stale, someone edited it; reading again\n", who, cur.Version)
				if err := m.Session().Sync(ctx, appPath); err != nil {
					return err
				}
				continue
			}
			if err == nil {
				fmt.Printf("operator %s: wrote version %d\n", who, cur.Version+1)
			}
			return err
		}
	}
	time.Sleep(100 * time.Millisecond) // let the services print the first version
	var ops sync.WaitGroup
	var opErrs [2]error
	ops.Add(2)
	go func() {
		defer ops.Done()
		opErrs[0] = edit(ms[0], "alice", func(c *Config) { c.Features = append(c.Features, "search"); c.Limit = 20 })
	}()
	go func() {
		defer ops.Done()
		opErrs[1] = edit(ms[len(ms)-1], "bob", func(c *Config) { c.Features = append(c.Features, "export") })
	}()
	ops.Wait()
	if err := errors.Join(opErrs[:]...); err != nil {
		return err
	}
	services.Wait()

	// The whole configuration tree, as one snapshot.
	if _, err := recipe.NewValue(ms[0].Session(), root+"/db").Set(ctx, []byte(`{"pool":8}`)); err != nil {
		return err
	}
	cache, err := recipe.NewCache(ctx, ms[len(ms)-1], root)
	if err != nil {
		return err
	}
	defer cache.Close()
	snap := cache.Snapshot()
	fmt.Printf("cached %s at zxid %d:\n", root, snap.Zxid())
	for _, name := range snap.Children(root) {
		n, _ := snap.Get(root + "/" + name)
		fmt.Printf("  %s = %s (version %d)\n", name, n.Data, n.Stat.Version)
	}
	return nil
}

package coord

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"

	"github.com/coordkit/coord/internal/faultnet"
)

// chaosDuration lengthens TestLinearizableUnderFaults: go test -run
// TestLinearizableUnderFaults -coord.chaos 2m .
var chaosDuration = flag.Duration("coord.chaos", 0, "run TestLinearizableUnderFaults this long (default 4s, 2s with -short)")

type regInput struct {
	key   int
	write bool
	value string
}

type regOutput struct {
	value string
}

// registerModel is a set of independent registers: writes set a key's
// value, reads return it.
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[int][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(regInput).key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init: func() interface{} { return "0" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		in := input.(regInput)
		if in.write {
			return true, in.value
		}
		return output.(regOutput).value == state.(string), state
	},
	DescribeOperation: func(input, output interface{}) string {
		in := input.(regInput)
		if in.write {
			return fmt.Sprintf("put(k%d, %s)", in.key, in.value)
		}
		return fmt.Sprintf("get(k%d) -> %s", in.key, output.(regOutput).value)
	},
}

// TestLinearizableUnderFaults has clients on every member write and read
// (Sync, then Get) a few znodes while members are cut off and crashed and
// restarted, records every operation, and checks with porcupine that the
// history is linearizable. Writes whose outcome is unknown count as
// possibly applied at any time after they started.
func TestLinearizableUnderFaults(t *testing.T) {
	duration := 4 * time.Second
	if testing.Short() {
		duration = 2 * time.Second
	}
	if *chaosDuration > 0 {
		duration = *chaosDuration
	}
	nw := faultnet.New()
	tc := newTestCluster(t, 3, func(o *Options) {
		o.transport = nw.Factory()
		o.SnapshotEntries = 200 // compaction and snapshot catch-up happen too
		o.CompactionOverhead = 20
	})
	ctx := ctxT(t)
	const keys = 3
	for k := 0; k < keys; k++ {
		_, err := tc.get(1).Session().Create(ctx, fmt.Sprintf("/lin%d", k), []byte("0"), Persistent)
		require.NoError(t, err)
	}
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }

	var mu sync.Mutex
	var history []porcupine.Operation
	record := func(op porcupine.Operation) {
		mu.Lock()
		history = append(history, op)
		mu.Unlock()
	}
	stop := make(chan struct{})
	var clients sync.WaitGroup
	var seq atomic.Int64
	for c := 0; c < 9; c++ {
		clients.Add(1)
		go func() {
			defer clients.Done()
			member := uint64(c%3 + 1)
			rng := rand.New(rand.NewSource(int64(c)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				m := tc.get(member)
				if m == nil { // crashed; wait for the restart
					time.Sleep(20 * time.Millisecond)
					continue
				}
				s := m.Session()
				k := rng.Intn(keys)
				path := fmt.Sprintf("/lin%d", k)
				octx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				if rng.Intn(2) == 0 {
					v := fmt.Sprint(seq.Add(1))
					call := now()
					_, err := s.Set(octx, path, []byte(v), -1)
					ret := now()
					switch {
					case err == nil:
					case errors.Is(err, ErrSessionExpired):
						cancel()
						continue // the state machine refused it: it never applied
					default:
						ret = math.MaxInt64 // may apply at any time later
					}
					record(porcupine.Operation{ClientId: c, Input: regInput{k, true, v}, Call: call, Return: ret})
				} else {
					call := now()
					err := s.Sync(octx, path)
					var data []byte
					if err == nil {
						data, _, err = s.Get(octx, path)
					}
					ret := now()
					if err == nil {
						record(porcupine.Operation{ClientId: c, Input: regInput{k, false, ""},
							Output: regOutput{string(data)}, Call: call, Return: ret})
					}
				}
				cancel()
			}
		}()
	}

	// The nemesis: cut one member off, or crash it, then bring it back.
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	faults := 0
	for time.Since(start) < duration {
		time.Sleep(time.Duration(200+rng.Intn(300)) * time.Millisecond)
		victim := uint64(rng.Intn(3) + 1)
		if rng.Intn(2) == 0 {
			nw.Isolate(tc.members[victim])
			time.Sleep(time.Duration(300+rng.Intn(700)) * time.Millisecond)
			nw.Heal()
		} else {
			tc.crash(victim)
			time.Sleep(time.Duration(100+rng.Intn(400)) * time.Millisecond)
			tc.restart(victim)
		}
		faults++
	}
	nw.Heal()
	close(stop)
	clients.Wait()

	unknown := 0
	for _, op := range history {
		if op.Return == math.MaxInt64 {
			unknown++
		}
	}
	t.Logf("%d operations (%d writes with unknown outcome) under %d faults", len(history), unknown, faults)
	res, info := porcupine.CheckOperationsVerbose(registerModel, history, time.Minute)
	if res == porcupine.Illegal {
		file := t.TempDir() + "/history.html"
		porcupine.VisualizePath(registerModel, info, file)
		t.Fatalf("history is not linearizable; visualization in %s", file)
	}
	require.NotEqual(t, porcupine.Unknown, res, "the checker timed out")
}

package chaos

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-zookeeper/zk"
)

// registers is workload 1: clients set, compare-and-set, version-check and
// sync-read small registers, plus plain reads for the session-order check.
// Keys rotate in epochs (a new set every epochLen) so that each key's
// history, which porcupine checks on its own, stays short.
type registers struct {
	e            *env
	epochLen     time.Duration
	epochs       int
	keysPerEpoch int
	think        time.Duration
}

const regInitValue = "init"

func (r *registers) dir() string { return r.e.root + "/reg" }

func (r *registers) key(epoch, i int) string {
	return fmt.Sprintf("%s/e%04dk%d", r.dir(), epoch, i)
}

// setup creates every key of every epoch with the value "init".
func (r *registers) setup(conn *zk.Conn) error {
	if err := createAll(conn, []string{r.dir()}); err != nil {
		return err
	}
	var paths []string
	for ep := 0; ep < r.epochs; ep++ {
		for i := 0; i < r.keysPerEpoch; i++ {
			paths = append(paths, r.key(ep, i))
		}
	}
	return createAll(conn, paths)
}

// run is one client's loop until ctx ends.
func (r *registers) run(ctx context.Context, c *client) {
	lastVer := map[string]int32{}
	seq := 0
	for ctx.Err() == nil {
		if !c.ensure(ctx) {
			c.pause(ctx, time.Second)
			continue
		}
		epoch := min(int(time.Duration(c.env.now())/r.epochLen), r.epochs-1)
		key := r.key(epoch, c.rng.IntN(r.keysPerEpoch))
		seq++
		value := fmt.Sprintf("c%d-%d", c.id, seq)
		switch p := c.rng.IntN(100); {
		case p < 25:
			if v, ok := r.set(c, key, value, -1, KindSet); ok {
				lastVer[key] = v
			}
		case p < 45:
			v, ok := r.get(c, key)
			if !ok {
				break
			}
			if v, ok := r.set(c, key, value, v, KindCAS); ok {
				lastVer[key] = v
			}
		case p < 60:
			r.check(c, key, lastVer[key])
		case p < 80:
			r.syncGet(c, key)
		default:
			if v, ok := r.get(c, key); ok {
				lastVer[key] = v
			}
		}
		c.pause(ctx, r.think)
	}
}

// set is setData(key, value, version); kind is set (version -1) or cas.
func (r *registers) set(c *client, key, value string, version int32, kind string) (int32, bool) {
	op := Op{Kind: kind, Key: key, InValue: value, InVersion: version}
	var st *zk.Stat
	err := c.do(&op, func(conn *zk.Conn) error {
		var err error
		st, err = conn.Set(key, []byte(value), version)
		return err
	})
	if err == nil {
		op.Version, op.Mzxid = st.Version, st.Mzxid
	}
	c.record(op)
	return op.Version, err == nil
}

// get is a plain getData (sequentially consistent).
func (r *registers) get(c *client, key string) (int32, bool) {
	op := Op{Kind: KindGet, Key: key}
	var data []byte
	var st *zk.Stat
	err := c.do(&op, func(conn *zk.Conn) error {
		var err error
		data, st, err = conn.Get(key)
		return err
	})
	if err == nil {
		op.Value, op.Version, op.Mzxid = string(data), st.Version, st.Mzxid
	}
	c.record(op)
	return op.Version, err == nil
}

// check is a multi holding one version check: it goes through the write
// path, so its answer is a linearizable read of the version.
func (r *registers) check(c *client, key string, version int32) {
	op := Op{Kind: KindCheck, Key: key, InVersion: version}
	_ = c.do(&op, func(conn *zk.Conn) error { // the outcome is in op (Status, Err)
		res, err := conn.Multi(&zk.CheckVersionRequest{Path: key, Version: version})
		if err == nil && len(res) > 0 && res[0].Error != nil {
			err = res[0].Error
		}
		return err
	})
	c.record(op)
}

// syncGet is sync(key) then getData(key) on the same session.
func (r *registers) syncGet(c *client, key string) {
	op := Op{Kind: KindSyncGet, Key: key}
	var data []byte
	var st *zk.Stat
	err := c.do(&op, func(conn *zk.Conn) error {
		if _, err := conn.Sync(key); err != nil {
			return err
		}
		var err error
		data, st, err = conn.Get(key)
		return err
	})
	if err == nil {
		op.Value, op.Version, op.Mzxid = string(data), st.Version, st.Mzxid
	}
	c.record(op)
}

// createAll creates persistent nodes holding "init", in batches of multi
// requests; nodes that exist already are fine.
func createAll(conn *zk.Conn, paths []string) error {
	const batch = 100
	for len(paths) > 0 {
		n := min(batch, len(paths))
		var ops []any
		for _, p := range paths[:n] {
			ops = append(ops, &zk.CreateRequest{Path: p, Data: []byte(regInitValue), Acl: zk.WorldACL(zk.PermAll)})
		}
		res, err := conn.Multi(ops...)
		for _, r := range res {
			if err == nil && r.Error != nil {
				err = r.Error
			}
		}
		if err != nil { // one by one, so that existing nodes are skipped
			for _, p := range paths[:n] {
				_, err := conn.Create(p, []byte(regInitValue), 0, zk.WorldACL(zk.PermAll))
				if err != nil && !errors.Is(err, zk.ErrNodeExists) {
					return fmt.Errorf("create %s: %w", p, err)
				}
			}
		}
		paths = paths[n:]
	}
	return nil
}

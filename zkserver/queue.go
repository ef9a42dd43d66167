package zkserver

import "github.com/coordkit/coord/internal/jute"

// Batches of pipelined writes.
const (
	maxBatch      = 128
	maxBatchBytes = 512 << 10
)

// viaWorker reports whether a request waits on Raft (writes, sync, auth,
// closeSession): it runs on the worker so the reader keeps reading.
func viaWorker(r *request) bool {
	return r.code == jute.CodeOK && handlerFor(r.op).raft
}

// dispatch runs r now if nothing is ahead of it and it is local, hands it
// to a worker if it waits on Raft, or queues it behind the running one.
func (c *conn) dispatch(r *request) {
	c.mu.Lock()
	if c.busy {
		c.queue = append(c.queue, r)
		c.qlen.Store(int32(len(c.queue)))
		c.mu.Unlock()
		return
	}
	if viaWorker(r) {
		c.busy = true
		c.mu.Unlock()
		c.worker.Add(1)
		go c.work(r)
		return
	}
	c.mu.Unlock()
	r.inline = true
	c.execute(r)
}

// work runs r and then every request queued behind it, in order. A run of
// writes that queued up behind a write goes to Raft as one batch (see
// runBatch).
func (c *conn) work(r *request) {
	defer c.worker.Done()
	batch := []*request{r}
	for {
		if len(batch) == 1 {
			c.execute(batch[0])
		} else {
			c.runBatch(batch)
		}
		c.mu.Lock()
		if len(c.queue) == 0 || c.stopping || c.isClosing() {
			c.busy = false
			c.mu.Unlock()
			return
		}
		batch = c.takeLocked(batch[:0])
		c.mu.Unlock()
		poke(c.qwait)
	}
}

// takeLocked takes the next request off the queue, or the longest run of
// batchable writes at its head.
func (c *conn) takeLocked(batch []*request) []*request {
	n, size := 0, 0
	for n < len(c.queue) && n < maxBatch {
		sz, ok := batchable(c.queue[n])
		if !ok || (n > 0 && size+sz > maxBatchBytes) {
			break
		}
		size += sz
		n++
	}
	n = max(n, 1)
	batch = append(batch, c.queue[:n]...)
	clear(c.queue[:n])
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = nil
	}
	c.qlen.Store(int32(len(c.queue)))
	return batch
}

package runtime

import (
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pool is a fixed set of worker goroutines that run parallel loops. It
// spawns its goroutines once; a parallel loop publishes its body, hands out
// iterations through an atomic counter, and returns when all are done.
//
// Between loops a worker polls for the next one for a short while (spin,
// see below) — consecutive layers of a model start microseconds apart, and
// waking a parked thread costs tens of microseconds — then parks on a
// condition variable, so an idle model uses no CPU. A Pool runs one loop at
// a time.
type Pool struct {
	workers int
	mu      sync.Mutex // serializes loops

	gen     atomic.Uint64 // loop generation: a worker runs each one once
	fn      func(i, worker int)
	n       int64
	next    atomic.Int64
	pending atomic.Int32 // workers still in the current loop

	park   sync.Mutex
	wake   *sync.Cond
	closed bool
}

// spin is how long a worker polls for the next loop before parking.
const spin = 200 * time.Microsecond

// NewPool starts a pool that runs loops on threads goroutines (the caller's
// own goroutine is one of them).
func NewPool(threads int) *Pool {
	if threads < 1 {
		threads = 1
	}
	p := &Pool{workers: threads - 1}
	p.wake = sync.NewCond(&p.park)
	for w := 1; w <= p.workers; w++ {
		go p.worker(w)
	}
	return p
}

// Threads is the number of goroutines that run each loop.
func (p *Pool) Threads() int { return p.workers + 1 }

func (p *Pool) worker(id int) {
	var seen uint64
	for {
		if !p.await(seen) {
			return
		}
		seen = p.gen.Load()
		p.drain(id)
		p.pending.Add(-1)
	}
}

// await waits for a loop newer than seen; it reports false once the pool
// is closed.
func (p *Pool) await(seen uint64) bool {
	deadline := time.Now().Add(spin)
	for i := 0; p.gen.Load() == seen; i++ {
		if i%256 != 255 {
			continue
		}
		// Let a goroutine that waits for this processor run: with more
		// threads than processors, a poll that never yields holds it
		// until the scheduler preempts it (~10 ms).
		goruntime.Gosched()
		if time.Now().After(deadline) {
			p.park.Lock()
			for p.gen.Load() == seen && !p.closed {
				p.wake.Wait()
			}
			closed := p.closed
			p.park.Unlock()
			return !closed
		}
	}
	return true
}

func (p *Pool) drain(worker int) {
	for {
		i := p.next.Add(1) - 1
		if i >= p.n {
			return
		}
		p.fn(int(i), worker)
	}
}

// For runs fn(0, w) … fn(n-1, w) on the pool's goroutines and returns when
// all have returned; w (0 ≤ w < Threads()) identifies the goroutine running
// an iteration, so iterations can use per-thread scratch. Iterations must
// be independent.
func (p *Pool) For(n int, fn func(i, worker int)) {
	if n <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		panic("runtime: Pool used after Close")
	}
	if p.workers == 0 || n == 1 {
		for i := 0; i < n; i++ {
			fn(i, 0)
		}
		return
	}
	p.fn, p.n = fn, int64(n)
	p.next.Store(0)
	p.pending.Store(int32(p.workers))
	p.park.Lock()
	p.gen.Add(1)
	p.wake.Broadcast()
	p.park.Unlock()
	p.drain(0)
	for i := 1; p.pending.Load() > 0; i++ { // the others finish their last iteration
		if i%256 == 0 {
			goruntime.Gosched() // one of them may be waiting for this processor
		}
	}
	p.fn = nil
}

// Close stops the workers. The pool must not be used afterwards.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.park.Lock()
	p.closed = true
	p.wake.Broadcast()
	p.park.Unlock()
}

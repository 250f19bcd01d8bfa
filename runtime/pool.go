package runtime

import (
	"sync"
	"sync/atomic"
)

// Pool is a fixed set of worker goroutines that run parallel loops. It
// spawns its goroutines once; a parallel loop wakes them, hands out
// iterations through an atomic counter, and returns when all are done.
// Idle workers block (no spinning). A Pool runs one loop at a time.
type Pool struct {
	workers int
	mu      sync.Mutex // serializes loops
	wake    []chan struct{}
	done    sync.WaitGroup
	fn      func(i, worker int)
	n       int64
	next    atomic.Int64
	closed  bool
}

// NewPool starts a pool that runs loops on threads goroutines (the caller's
// own goroutine is one of them).
func NewPool(threads int) *Pool {
	if threads < 1 {
		threads = 1
	}
	p := &Pool{workers: threads - 1}
	for w := 0; w < p.workers; w++ {
		ch := make(chan struct{}, 1)
		p.wake = append(p.wake, ch)
		go p.worker(ch, w+1)
	}
	return p
}

// Threads is the number of goroutines that run each loop.
func (p *Pool) Threads() int { return p.workers + 1 }

func (p *Pool) worker(wake chan struct{}, id int) {
	for range wake {
		p.drain(id)
		p.done.Done()
	}
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
	helpers := min(p.workers, n-1)
	if helpers == 0 {
		for i := 0; i < n; i++ {
			fn(i, 0)
		}
		return
	}
	p.fn, p.n = fn, int64(n)
	p.next.Store(0)
	p.done.Add(helpers)
	for w := 0; w < helpers; w++ {
		p.wake[w] <- struct{}{}
	}
	p.drain(0)
	p.done.Wait()
	p.fn = nil
}

// Close stops the workers. The pool must not be used afterwards.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for _, ch := range p.wake {
		close(ch)
	}
}

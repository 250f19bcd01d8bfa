package runtime

import (
	goruntime "runtime"
	"sync/atomic"
	"testing"
)

// TestPoolFor: every iteration runs exactly once, on a worker index below
// Threads, whatever the thread count.
func TestPoolFor(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 8} {
		p := NewPool(threads)
		for _, n := range []int{0, 1, 2, 7, 100} {
			hits := make([]atomic.Int32, n)
			var bad atomic.Bool
			p.For(n, func(i, w int) {
				hits[i].Add(1)
				if w < 0 || w >= p.Threads() {
					bad.Store(true)
				}
			})
			for i := range hits {
				if hits[i].Load() != 1 {
					t.Fatalf("threads %d n %d: iteration %d ran %d times", threads, n, i, hits[i].Load())
				}
			}
			if bad.Load() {
				t.Fatalf("threads %d: worker index out of range", threads)
			}
		}
		p.Close()
	}
}

// BenchmarkPoolFor is the cost of one parallel loop of trivial iterations:
// the per-layer synchronization overhead, with 2 threads on GOMAXPROCS
// processors, and oversubscribed: 4 threads on one processor (the waits
// must yield, or a spinning goroutine holds the processor until the
// scheduler preempts it, ~10 ms).
func BenchmarkPoolFor(b *testing.B) {
	for _, c := range []struct {
		name           string
		threads, procs int
	}{{"threads=2", 2, 0}, {"threads=4,procs=1", 4, 1}} {
		b.Run(c.name, func(b *testing.B) {
			if c.procs > 0 {
				defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(c.procs))
			}
			p := NewPool(c.threads)
			defer p.Close()
			var sink atomic.Int64
			fn := func(i, w int) { sink.Add(int64(i)) }
			for i := 0; i < b.N; i++ {
				p.For(16, fn)
			}
		})
	}
}

package serve

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// idModel's output for an image identifies it: class j of an image whose
// first element is v is v·(j+1) + (the sum of the image's other
// elements)/1000. It records the images of every call, can hold each call
// at a gate, and panics on an image whose first element is negative.
type idModel struct {
	per, classes int
	gate         chan struct{} // if not nil, each Predict waits for a receive
	entered      chan int      // if not nil, each Predict sends its image count first

	mu    sync.Mutex
	calls [][]float32 // the first element of each image, per call
}

func (f *idModel) Predict(dst, src []float32) error {
	n := len(src) / f.per
	if len(src) != n*f.per || len(dst) != n*f.classes || n == 0 {
		return fmt.Errorf("idModel: src %d, dst %d", len(src), len(dst))
	}
	firsts := make([]float32, n)
	for i := range n {
		firsts[i] = src[i*f.per]
	}
	f.mu.Lock()
	f.calls = append(f.calls, firsts)
	f.mu.Unlock()
	if f.entered != nil {
		f.entered <- n
	}
	if f.gate != nil {
		<-f.gate
	}
	for i := range n {
		img := src[i*f.per : (i+1)*f.per]
		if img[0] < 0 {
			panic(fmt.Sprintf("negative image %v", img[0]))
		}
		var rest float32
		for _, v := range img[1:] {
			rest += v
		}
		for j := range f.classes {
			dst[i*f.classes+j] = img[0]*float32(j+1) + rest/1000
		}
	}
	return nil
}

func (f *idModel) sizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []int
	for _, c := range f.calls {
		s = append(s, len(c))
	}
	return s
}

// seen reports whether an image whose first element is v reached Predict.
func (f *idModel) seen(v float32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if slices.Contains(c, v) {
			return true
		}
	}
	return false
}

func newID(gated bool) *idModel {
	f := &idModel{per: tH * tW * tC, classes: tClasses}
	if gated {
		f.gate, f.entered = make(chan struct{}), make(chan int, 100)
	}
	return f
}

// img makes n images, image i with first element id+i and the rest
// id-dependent too.
func img(id float32, n int) []float32 {
	per := tH * tW * tC
	x := make([]float32, n*per)
	for i := range n {
		x[i*per] = id + float32(i)
		for k := 1; k < per; k++ {
			x[i*per+k] = float32(k) * (id + float32(i)) / 7
		}
	}
	return x
}

// idWant is idModel's output for src.
func idWant(src []float32) []float32 {
	f := newID(false)
	n := len(src) / f.per
	dst := make([]float32, n*f.classes)
	if err := f.Predict(dst, src); err != nil {
		panic(err)
	}
	return dst
}

func newBatcher(t *testing.T, f *idModel, opts BatchOptions) *Batcher {
	t.Helper()
	b, err := NewBatcher(f, testConfig(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if f.gate != nil {
			close(f.gate)
		}
		b.Close()
	})
	return b
}

// waitQueued waits until the batcher's queue holds n requests.
func waitQueued(t *testing.T, b *Batcher, n int) {
	t.Helper()
	for len(b.queue) != n { // never: go test's timeout
		time.Sleep(time.Millisecond)
	}
}

type result struct {
	dst []float32
	err error
}

// start runs b.Infer on src in a goroutine.
func start(ctx context.Context, b *Batcher, src []float32) chan result {
	ch := make(chan result, 1)
	n := len(src) / (tH * tW * tC)
	go func() {
		dst := make([]float32, n*tClasses)
		for i := range dst {
			dst[i] = -12345 // Infer must not write it unless it succeeds
		}
		err := b.Infer(ctx, dst, src, n)
		ch <- result{dst, err}
	}()
	return ch
}

func checkResult(t *testing.T, what string, r result, src []float32) {
	t.Helper()
	if r.err != nil {
		t.Errorf("%s: %v", what, r.err)
		return
	}
	if w := idWant(src); !slices.Equal(r.dst, w) {
		t.Errorf("%s: outputs %v, want %v", what, r.dst, w)
	}
}

// Many concurrent callers with distinct images of 1 to 3 images each get
// exactly their own outputs, and batches of more than one request form.
func TestBatcherConcurrentCallers(t *testing.T) {
	f := newID(false)
	b := newBatcher(t, f, BatchOptions{MaxBatch: 4, MaxDelay: 5 * time.Millisecond, Queue: 512, Workers: 2})
	var wg sync.WaitGroup
	const callers, each = 32, 8
	var fails sync.Map
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			for k := range each {
				n := 1 + rng.IntN(3)
				src := img(float32(c*1000+k*10), n)
				dst := make([]float32, n*tClasses)
				if err := b.Infer(context.Background(), dst, src, n); err != nil {
					fails.Store(fmt.Sprint(c, k), err)
					continue
				}
				if w := idWant(src); !slices.Equal(dst, w) {
					fails.Store(fmt.Sprint(c, k), fmt.Errorf("outputs %v, want %v", dst, w))
				}
			}
		}()
	}
	wg.Wait()
	fails.Range(func(k, v any) bool {
		t.Errorf("caller/request %v: %v", k, v)
		return true
	})
	sizes := f.sizes()
	total, most := 0, 0
	for _, s := range sizes {
		total += s
		most = max(most, s)
		if s > 4 {
			t.Errorf("a batch of %d images: MaxBatch is 4", s)
		}
	}
	if most < 2 {
		t.Errorf("no batch of more than one image formed: %v", sizes)
	}
	t.Logf("%d images in %d Predicts", total, len(sizes))
}

// Requests queued while the model is busy form batches of MaxBatch
// images; a request of more images than MaxBatch runs alone; one that
// does not fit the batch being gathered starts the next.
func TestBatcherFormsBatches(t *testing.T) {
	f := newID(true)
	b := newBatcher(t, f, BatchOptions{MaxBatch: 4, MaxDelay: time.Hour, Queue: 16})
	first := start(context.Background(), b, img(1, 4)) // a full batch: runs at once
	<-f.entered                                        // the worker is busy
	var srcs [][]float32
	var chs []chan result
	for i, n := range []int{1, 1, 1, 1, 1, 3, 1, 4, 2, 2} {
		src := img(float32(100*(i+1)), n)
		srcs = append(srcs, src)
		chs = append(chs, start(context.Background(), b, src))
		waitQueued(t, b, i+1)
	}
	// Gathering: [1 1 1 1] [1 3] → 1+3 = 4, [1] then 4 does not fit:
	// [1], [4], [2 2]. MaxDelay is an hour: only full batches and the
	// one cut short by a request that does not fit run.
	f.gate <- struct{}{}
	checkResult(t, "first", <-first, img(1, 4))
	for range 5 {
		<-f.entered
		f.gate <- struct{}{}
	}
	for i, ch := range chs {
		checkResult(t, fmt.Sprint("request ", i), <-ch, srcs[i])
	}
	if got, want := f.sizes(), []int{4, 4, 4, 1, 4, 4}; !slices.Equal(got, want) {
		t.Errorf("batch sizes %v, want %v", got, want)
	}

	// A request larger than MaxBatch (4) but within Config's (4 here too)
	// is refused above Config's limit, and runs alone otherwise.
	b2, err := NewBatcher(newID(false), testConfig(), BatchOptions{MaxBatch: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	src := img(7, 3)
	r := <-start(context.Background(), b2, src)
	checkResult(t, "3 images with MaxBatch 2", r, src)
	if err := b2.Infer(context.Background(), make([]float32, 5*tClasses), img(1, 5), 5); err == nil || !strings.Contains(err.Error(), "5 images: want 1 to 4 per request") {
		t.Errorf("5 images: %v", err)
	}
	if err := b2.Infer(context.Background(), make([]float32, tClasses), img(1, 2), 1); err == nil || !strings.Contains(err.Error(), "1 images need 12 input floats, got 24") {
		t.Errorf("a wrongly sized src: %v", err)
	}
}

// A full queue refuses at once with ErrOverloaded; the accepted requests
// all get their answers.
func TestBatcherOverload(t *testing.T) {
	f := newID(true)
	b := newBatcher(t, f, BatchOptions{MaxBatch: 1, Queue: 2})
	running := start(context.Background(), b, img(1, 1))
	<-f.entered
	q1 := start(context.Background(), b, img(2, 1))
	q2 := start(context.Background(), b, img(3, 1))
	waitQueued(t, b, 2)
	done := make(chan error, 1)
	go func() { done <- b.Infer(context.Background(), make([]float32, tClasses), img(4, 1), 1) }()
	if err := <-done; !errors.Is(err, ErrOverloaded) { // one that blocked: go test's timeout
		t.Errorf("a request beyond the queue: %v, want ErrOverloaded", err)
	}
	for range 3 {
		f.gate <- struct{}{}
	}
	checkResult(t, "running", <-running, img(1, 1))
	checkResult(t, "queued 1", <-q1, img(2, 1))
	checkResult(t, "queued 2", <-q2, img(3, 1))
	if f.seen(4) {
		t.Error("the refused request reached Predict")
	}
}

// A request whose context ends while queued is dropped: its caller gets
// the context's error at once, Predict never sees it. One whose context
// ends while its batch runs gets the error, its dst is left alone, and
// the batch finishes for the others.
func TestBatcherCancel(t *testing.T) {
	f := newID(true)
	b := newBatcher(t, f, BatchOptions{MaxBatch: 4, MaxDelay: -1, Queue: 8})
	running := start(context.Background(), b, img(1, 1))
	<-f.entered
	ctx, cancel := context.WithCancel(context.Background())
	dropped := start(ctx, b, img(2, 1))
	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer dcancel()
	timedOut := start(dctx, b, img(3, 1))
	waitQueued(t, b, 2)
	cancel()
	if r := <-dropped; !errors.Is(r.err, context.Canceled) || r.dst[0] != -12345 {
		t.Errorf("cancelled while queued: %v, dst %v", r.err, r.dst)
	}
	if r := <-timedOut; !errors.Is(r.err, context.DeadlineExceeded) {
		t.Errorf("deadline while queued: %v", r.err)
	}
	f.gate <- struct{}{}
	checkResult(t, "running", <-running, img(1, 1))

	// Cancelled while its batch runs.
	blocker := start(context.Background(), b, img(10, 1))
	<-f.entered
	ctx2, cancel2 := context.WithCancel(context.Background())
	victim := start(ctx2, b, img(20, 1))
	other := start(context.Background(), b, img(30, 2))
	waitQueued(t, b, 2)
	f.gate <- struct{}{}
	checkResult(t, "blocker", <-blocker, img(10, 1))
	if n := <-f.entered; n != 3 {
		t.Fatalf("the batch has %d images, want 3", n)
	}
	cancel2()
	r := <-victim
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("cancelled while running: %v", r.err)
	}
	f.gate <- struct{}{}
	checkResult(t, "the other request of the batch", <-other, img(30, 2))
	for _, v := range r.dst {
		if v != -12345 {
			t.Errorf("the cancelled request's dst was written: %v", r.dst)
			break
		}
	}
	if f.seen(2) || f.seen(3) {
		t.Error("a request dropped while queued reached Predict")
	}
}

// Close finishes what was accepted and refuses new work.
func TestBatcherClose(t *testing.T) {
	f := newID(true)
	b, err := NewBatcher(f, testConfig(), BatchOptions{MaxBatch: 2, MaxDelay: -1, Queue: 8})
	if err != nil {
		t.Fatal(err)
	}
	running := start(context.Background(), b, img(1, 1))
	<-f.entered
	var chs []chan result
	for i := range 3 {
		chs = append(chs, start(context.Background(), b, img(float32(10*(i+1)), 1)))
		waitQueued(t, b, i+1)
	}
	closed := make(chan struct{})
	go func() { b.Close(); close(closed) }()
	for {
		b.mu.RLock()
		c := b.closed
		b.mu.RUnlock()
		if c {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := b.Infer(context.Background(), make([]float32, tClasses), img(5, 1), 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Infer after Close: %v, want ErrClosed", err)
	}
	close(f.gate) // let every Predict through
	checkResult(t, "running", <-running, img(1, 1))
	for i, ch := range chs {
		checkResult(t, fmt.Sprint("queued ", i), <-ch, img(float32(10*(i+1)), 1))
	}
	<-closed
	if got := f.sizes(); !slices.Equal(got, []int{1, 2, 1}) {
		t.Errorf("batch sizes %v, want [1 2 1]", got)
	}
}

// A Predict that panics fails the requests of its batch; the batcher
// goes on serving.
func TestBatcherPanic(t *testing.T) {
	f := newID(true)
	b := newBatcher(t, f, BatchOptions{MaxBatch: 4, MaxDelay: -1, Queue: 8})
	blocker := start(context.Background(), b, img(1, 1))
	<-f.entered
	bad := start(context.Background(), b, img(-5, 1))
	mate := start(context.Background(), b, img(7, 1))
	waitQueued(t, b, 2)
	f.gate <- struct{}{}
	checkResult(t, "blocker", <-blocker, img(1, 1))
	<-f.entered
	f.gate <- struct{}{}
	for _, ch := range []chan result{bad, mate} {
		r := <-ch
		if r.err == nil || !strings.Contains(r.err.Error(), `model "tiny": predict panicked: negative image -5`) {
			t.Errorf("a request of the panicking batch: %v", r.err)
		}
	}
	after := start(context.Background(), b, img(9, 1))
	<-f.entered
	f.gate <- struct{}{}
	checkResult(t, "after the panic", <-after, img(9, 1))
}

func TestBatcherOptions(t *testing.T) {
	f := newID(false)
	for _, c := range []struct {
		opts BatchOptions
		want string
	}{
		{BatchOptions{MaxBatch: -1}, "MaxBatch -1"},
		{BatchOptions{Queue: -3}, "Queue -3"},
		{BatchOptions{Workers: 5000}, "Workers 5000"},
		{BatchOptions{MaxBatch: 1 << 30}, "need more than"},
	} {
		if _, err := NewBatcher(f, testConfig(), c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.opts, err, c.want)
		}
	}
	if _, err := NewBatcher(nil, testConfig(), BatchOptions{}); err == nil {
		t.Error("a nil model: no error")
	}
	if _, err := NewBatcher(f, Config{}, BatchOptions{}); err == nil {
		t.Error("an invalid Config: no error")
	}
}

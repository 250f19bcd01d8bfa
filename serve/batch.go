package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"
)

// Defaults for BatchOptions' zero fields.
const (
	DefaultMaxDelay = 2 * time.Millisecond
	DefaultQueue    = 64
)

// ErrClosed is the error a closed Batcher returns for new work; REST
// answers 503 (the server is shutting down).
var ErrClosed = errors.New("serve: the server is shutting down")

// BatchOptions configure a Batcher.
type BatchOptions struct {
	// MaxBatch is the most images one Predict runs (0: the Config's
	// MaxBatch). Requests are gathered until their images would exceed it;
	// a request of more images than MaxBatch (at most Config.MaxBatch,
	// which the handler enforces per request) runs alone.
	MaxBatch int
	// MaxDelay is how long the first request of a batch waits for others
	// to join it (0: DefaultMaxDelay; negative: no wait, a batch is what
	// is queued when a worker is free).
	MaxDelay time.Duration
	// Queue bounds the requests waiting for a worker (0: DefaultQueue); a
	// request that finds the queue full gets ErrOverloaded at once.
	Queue int
	// Workers is how many Predicts run at once (0: 1; the model itself
	// runs each Predict on all its threads).
	Workers int
	// Metrics, if not nil, receives queue waits, batch sizes and the
	// queue depth.
	Metrics *Metrics
	// Logger receives panics and failed Predicts at Error (nil: no logs;
	// the callers get the errors).
	Logger *slog.Logger
}

// Batcher is an Inferer that gathers concurrent requests into batches:
// up to MaxBatch images, waiting at most MaxDelay after the first, are
// copied into one input, run as one Predict, and the outputs are copied
// back to each caller. Memory is bounded: each worker owns one input and
// one output buffer of max(MaxBatch, Config.MaxBatch) images, allocated by
// NewBatcher, and at most Queue requests wait.
//
// A request whose context ends while it waits is dropped (Infer returns
// the context's error); one whose context ends while its batch runs gets
// the context's error and its output is not written, while the batch
// finishes for the others. A Predict that panics fails every request of
// its batch with an error; the worker goes on. Close stops accepting,
// finishes what was accepted and waits for the workers.
type Batcher struct {
	m        Model
	cfg      Config
	maxBatch int // images per gathered batch
	bufBatch int // images per worker buffer: max(maxBatch, cfg.MaxBatch)
	delay    time.Duration
	metrics  *Metrics
	log      *slog.Logger

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	queue  chan *request
	wg     sync.WaitGroup

	// predict is m.Predict; tests replace it.
	predict func(dst, src []float32) error
}

// Request states.
const (
	queued    = iota // in the queue; the caller owns nothing of it
	running          // taken by a worker: its src is copied, its dst not yet written
	abandoned        // its caller returned early (ctx ended); the worker skips it
	finished         // its outputs are written and done has its error
)

type request struct {
	ctx      context.Context
	dst, src []float32
	n        int
	enqueued time.Time

	mu    sync.Mutex
	state int
	done  chan error // buffered: the worker never blocks on it
}

// NewBatcher starts opts.Workers workers running m's Predict for the
// model cfg describes.
func NewBatcher(m Model, cfg Config, opts BatchOptions) (*Batcher, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("serve: NewBatcher: nil model")
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = cfg.MaxBatch
	}
	if opts.MaxDelay == 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	if opts.Queue == 0 {
		opts.Queue = DefaultQueue
	}
	if opts.Workers == 0 {
		opts.Workers = 1
	}
	switch {
	case opts.MaxBatch < 1 || opts.MaxBatch > maxElements:
		return nil, fmt.Errorf("serve: batch options: MaxBatch %d: want 1 to %d", opts.MaxBatch, maxElements)
	case opts.Queue < 1 || opts.Queue > 1<<20:
		return nil, fmt.Errorf("serve: batch options: Queue %d: want 1 to %d", opts.Queue, 1<<20)
	case opts.Workers < 1 || opts.Workers > 1024:
		return nil, fmt.Errorf("serve: batch options: Workers %d: want 1 to 1024", opts.Workers)
	}
	per := int64(cfg.InputH) * int64(cfg.InputW) * int64(cfg.InputC)
	bufBatch := max(opts.MaxBatch, cfg.MaxBatch)
	const maxBufFloats = min(1<<32, math.MaxInt/8) // 16 GiB of input per worker (less on 32 bits): a mistake, not a server
	if int64(bufBatch)*per > maxBufFloats || int64(bufBatch)*int64(cfg.Classes) > maxBufFloats {
		return nil, fmt.Errorf("serve: batch options: %d images of %d×%d×%d per batch need more than %d floats per buffer", bufBatch, cfg.InputH, cfg.InputW, cfg.InputC, int64(maxBufFloats))
	}
	b := &Batcher{
		m: m, cfg: cfg, maxBatch: opts.MaxBatch, bufBatch: bufBatch, delay: opts.MaxDelay,
		metrics: opts.Metrics, log: opts.Logger,
		queue:   make(chan *request, opts.Queue),
		predict: m.Predict,
	}
	if b.log == nil {
		b.log = discard
	}
	for range opts.Workers {
		w := &worker{
			b:   b,
			src: make([]float32, int64(bufBatch)*per),
			dst: make([]float32, int64(bufBatch)*int64(cfg.Classes)),
		}
		b.wg.Add(1)
		go w.run()
	}
	return b, nil
}

// Infer queues the n images of src and waits for their outputs in dst.
// It returns ErrOverloaded at once if the queue is full, ErrClosed after
// Close, and ctx's error if ctx ends first.
func (b *Batcher) Infer(ctx context.Context, dst, src []float32, n int) error {
	per := b.cfg.InputH * b.cfg.InputW * b.cfg.InputC
	switch {
	case n < 1 || n > b.bufBatch:
		return fmt.Errorf("serve: %d images: want 1 to %d per request", n, b.bufBatch)
	case len(src) != n*per:
		return fmt.Errorf("serve: %d images need %d input floats, got %d", n, n*per, len(src))
	case len(dst) != n*b.cfg.Classes:
		return fmt.Errorf("serve: %d images need %d output floats, got %d", n, n*b.cfg.Classes, len(dst))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{ctx: ctx, dst: dst, src: src, n: n, enqueued: time.Now(), done: make(chan error, 1)}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrClosed
	}
	select {
	case b.queue <- r:
		b.metrics.queueDepth(b.cfg.Name, 1)
	default:
		b.mu.RUnlock()
		return ErrOverloaded
	}
	b.mu.RUnlock()
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
	}
	r.mu.Lock()
	if r.state == queued || r.state == running {
		r.state = abandoned
		r.mu.Unlock()
		return ctx.Err()
	}
	r.mu.Unlock()
	return <-r.done // finished as ctx ended: the outputs are there
}

// Close stops accepting requests (Infer returns ErrClosed), lets the
// workers finish every request already queued and waits for them.
func (b *Batcher) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.queue)
	}
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}

// worker runs batches with its own buffers.
type worker struct {
	b        *Batcher
	src, dst []float32
	next     *request // taken from the queue, but too big for the last batch
	batch    []*request
}

func (w *worker) run() {
	defer w.b.wg.Done()
	for {
		first := w.next
		w.next = nil
		if first == nil {
			r, ok := <-w.b.queue
			if !ok {
				return
			}
			w.b.metrics.queueDepth(w.b.cfg.Name, -1)
			first = r
		}
		if !w.take(first, 0) {
			continue
		}
		w.batch = append(w.batch[:0], first)
		images := first.n
		open := w.gather(first, &images)
		w.runBatch(images)
		if !open && w.next == nil {
			return
		}
	}
}

// take moves r from queued to running, copying its images to image off
// of the worker's input; it reports false (and does nothing) for a
// request its caller abandoned.
func (w *worker) take(r *request, off int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != queued {
		return false
	}
	if err := r.ctx.Err(); err != nil { // ended, its caller not yet back
		r.state = abandoned
		r.done <- err
		return false
	}
	per := len(r.src) / r.n
	copy(w.src[off*per:], r.src)
	r.state = running
	w.b.metrics.queueWait(w.b.cfg.Name, time.Since(r.enqueued))
	return true
}

// gather adds queued requests to the batch until it holds maxBatch
// images or MaxDelay has passed since first was queued. It reports
// whether the queue is still open.
func (w *worker) gather(first *request, images *int) bool {
	b := w.b
	var timer <-chan time.Time
	if b.delay > 0 {
		if wait := b.delay - time.Since(first.enqueued); wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			timer = t.C
		}
	}
	for *images < b.maxBatch {
		var r *request
		var ok bool
		select {
		case r, ok = <-b.queue:
		default:
			if timer == nil {
				return true // nothing queued and no time to wait
			}
			select {
			case r, ok = <-b.queue:
			case <-timer:
				return true
			}
		}
		if !ok {
			return false
		}
		b.metrics.queueDepth(b.cfg.Name, -1)
		if *images+r.n > b.maxBatch {
			w.next = r // starts the next batch
			return true
		}
		if w.take(r, *images) {
			w.batch = append(w.batch, r)
			*images += r.n
		}
	}
	return true
}

// runBatch runs one Predict over the batch's images and hands each
// request its outputs or the error.
func (w *worker) runBatch(images int) {
	b := w.b
	per := b.cfg.InputH * b.cfg.InputW * b.cfg.InputC
	b.metrics.batchSize(b.cfg.Name, images)
	err := w.predict(w.dst[:images*b.cfg.Classes], w.src[:images*per])
	if err != nil {
		b.log.Error("predict failed", "model", b.cfg.Name, "images", images, "requests", len(w.batch), "err", err)
	}
	off := 0
	for i, r := range w.batch {
		r.mu.Lock()
		if r.state == running {
			if err == nil {
				copy(r.dst, w.dst[off*b.cfg.Classes:(off+r.n)*b.cfg.Classes])
			}
			r.state = finished
			r.done <- err
		}
		r.mu.Unlock()
		off += r.n
		w.batch[i] = nil // no reference to a finished request's buffers
	}
	w.batch = w.batch[:0]
}

// predict calls Predict, turning a panic into an error.
func (w *worker) predict(dst, src []float32) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("model %q: predict panicked: %v", w.b.cfg.Name, p)
		}
	}()
	if err := w.b.predict(dst, src); err != nil {
		return fmt.Errorf("model %q: predict: %w", w.b.cfg.Name, err)
	}
	return nil
}

package runtime

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
	"time"
	"unsafe"
)

// Option configures Load.
type Option func(*options)

type options struct {
	threads int
	target  string
}

// MaxThreads bounds WithThreads. Each thread is a goroutine with its own
// scratch buffers (a Winograd workspace among them), so memory grows with
// the thread count; 1024 is above the hardware thread count of the largest
// current machines (768 on a two-socket 192-core EPYC), beyond which more
// threads cannot run faster. The bound does not depend on this machine's
// CPU count, so that an option that works on one machine works on all.
const MaxThreads = 1024

// WithThreads sets how many threads run each layer, 1 to MaxThreads
// (default GOMAXPROCS, at most MaxThreads).
func WithThreads(n int) Option { return func(o *options) { o.threads = n } }

// WithTarget forces a target (avx512, avx2 or generic) instead of the best
// one this CPU supports; the environment variable RNC_TARGET does the same.
func WithTarget(t string) Option { return func(o *options) { o.target = t } }

// Model is a loaded program: weights prepared for one plan, a worker pool
// and an arena. Predict is safe for concurrent use (calls run one at a
// time, each on all the model's threads).
type Model struct {
	prog *Program
	plan *Plan
	w    [][]float32
	i8   []*int8Step // per step: an int8 step's prepared kernel and parameters
	pool *Pool

	mu      sync.Mutex
	arena   Arena
	n       int // images in the current call
	scratch [][]float32
	ws      [][]float32           // per-thread Winograd workspace
	elt     [][]float32           // per-thread scratch of the portable eltwise
	tasks   []func(t, worker int) // per step, bound once: no allocation per call
	closed  bool
	observe Observer // during Observe
	first   int      // the first image of the current chunk (for observe)
}

// Load reads a weight file (safetensors, Keras HDF5 or a PyTorch checkpoint, by content) and
// prepares prog to run.
func Load(prog *Program, path string, opts ...Option) (*Model, error) {
	o, plan, err := prepare(prog, opts)
	if err != nil {
		return nil, err // before reading a weight file it cannot use
	}
	ws, err := LoadWeightsFile(path)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	m, err := newModel(prog, plan, o, ws)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// prepare checks the program and the options and picks and validates the
// plan: everything New and Load can refuse before they touch the weights.
func prepare(prog *Program, opts []Option) (options, *Plan, error) {
	o, err := checkNew(prog, opts)
	if err != nil {
		return o, nil, err
	}
	plan, err := selectPlan(prog, o.target)
	if err != nil {
		return o, nil, err
	}
	if err := plan.validate(); err != nil {
		return o, nil, fmt.Errorf("%s: %w", prog.Name, err)
	}
	if prog.InputNCHW && (plan.Input.Block != 0 || plan.Input.Vec) {
		return o, nil, fmt.Errorf("%s: NCHW images for a plan whose input is not an NHWC map", prog.Name)
	}
	return o, plan, nil
}

// checkNew checks the program and the options, before any work.
func checkNew(prog *Program, opts []Option) (options, error) {
	o := options{threads: min(runtime.GOMAXPROCS(0), MaxThreads), target: os.Getenv("RNC_TARGET")}
	if prog == nil {
		return o, errors.New("runtime: nil *Program")
	}
	for i, p := range prog.Plans {
		if p == nil {
			return o, fmt.Errorf("%s: plan %d is nil", prog.Name, i)
		}
	}
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	if o.threads < 1 || o.threads > MaxThreads {
		return o, fmt.Errorf("%s: WithThreads(%d): want 1 to %d threads (runtime.MaxThreads)", prog.Name, o.threads, MaxThreads)
	}
	return o, nil
}

// New prepares prog to run with the given weights.
func New(prog *Program, ws *Weights, opts ...Option) (*Model, error) {
	o, plan, err := prepare(prog, opts)
	if err != nil {
		return nil, err
	}
	return newModel(prog, plan, o, ws)
}

// newModel runs plan's weight program on ws and makes the model.
func newModel(prog *Program, plan *Plan, o options, ws *Weights) (*Model, error) {
	if ws == nil {
		return nil, fmt.Errorf("%s: nil *Weights", prog.Name)
	}
	// Keep only what the steps read.
	used := make([]bool, len(plan.Weights))
	for i := range plan.Steps {
		s := &plan.Steps[i]
		for _, k := range []int{s.Kernel, s.Bias} {
			if k >= 0 {
				used[k] = true
			}
		}
		for _, e := range s.Epi {
			if e.Op == EpiAffine {
				used[e.Scale], used[e.Shift] = true, true
			}
		}
		if s.Int8() || s.Kind == OpQuantize || s.Kind == OpDequantize {
			q := s.QW
			for _, k := range []int{s.M, q.XS, q.XZ, q.ResS, q.ResZ, q.MulS, q.MulZ, q.OutS[0], q.OutZ[0], q.OutS[1], q.OutZ[1]} {
				if k >= len(used) {
					return nil, fmt.Errorf("%s: step %s: weight %d out of range", prog.Name, s.Name, k)
				}
				if k >= 0 {
					used[k] = true
				}
			}
		}
	}
	w, err := RunWeightProgram(plan.Weights, ws, used)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prog.Name, err)
	}
	debug.FreeOSMemory() // the program's temporaries
	m := &Model{prog: prog, plan: plan, w: w}
	if err := m.prepareInt8(); err != nil {
		return nil, fmt.Errorf("%s: %w", prog.Name, err)
	}
	m.pool = NewPool(o.threads)
	maxC := 16
	for i := range plan.Steps {
		for _, b := range append(append([]Buf(nil), plan.Steps[i].In...), plan.Steps[i].Out...) {
			maxC = max(maxC, (b.C+15)/16*16)
		}
	}
	maxWS := 0
	for i := range plan.Steps {
		maxWS = max(maxWS, plan.Steps[i].WS)
	}
	m.elt = make([][]float32, m.pool.Threads())
	for t := 0; t < m.pool.Threads(); t++ {
		m.scratch = append(m.scratch, make([]float32, 2*maxC)) // v and y of a head
		if maxWS > 0 {
			m.ws = append(m.ws, alignedFloats(maxWS))
		}
	}
	m.tasks = make([]func(int, int), len(plan.Steps))
	for i := range plan.Steps {
		s := &plan.Steps[i]
		st := m.i8[i]
		m.tasks[i] = func(t, worker int) { m.runTask(s, st, t, worker) }
	}
	return m, nil
}

// Target is the target whose plan the model runs.
func (m *Model) Target() string { return m.plan.Target }

// Threads is the number of threads that run each layer.
func (m *Model) Threads() int { return m.pool.Threads() }

// Plan returns the plan the model runs (for profiles and tools).
func (m *Model) Plan() *Plan { return m.plan }

// Close stops the model's threads.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		m.pool.Close()
		m.arena, m.w = nil, nil
	}
	return nil
}

// Predict runs the model on n images: src holds n NHWC images
// (InputH×InputW×InputC floats each), dst receives n outputs. A batch whose
// activations would take more than 1 GiB runs in chunks that fit (the
// outputs do not depend on the batch), so memory stays bounded whatever
// the batch.
func (m *Model) Predict(dst, src []float32) error {
	return m.predict(dst, src, nil, nil)
}

// Profile is Predict that also records each step's wall time in times
// (len(times) must be the number of steps).
func (m *Model) Profile(dst, src []float32, times []time.Duration) error {
	if len(times) != len(m.plan.Steps) {
		return fmt.Errorf("%s: Profile needs %d durations, got %d", m.prog.Name, len(m.plan.Steps), len(times))
	}
	return m.predict(dst, src, times, nil)
}

// An Observer sees a buffer of one image after a step has written it: out
// is the output's index, image the image's index in the batch, data the
// buffer's bytes as b lays them out (its element type and layout). It
// must not keep data.
type Observer func(step, out, image int, b Buf, data []byte)

// Observe is Predict that calls f on every output of every step, as the
// step writes it: for debugging and for tests that compare a model's
// activations with a reference (the int8 packages' bit-exactness).
func (m *Model) Observe(dst, src []float32, f Observer) error {
	return m.predict(dst, src, nil, f)
}

// maxArenaBytes bounds the activation arena of one call: a batch that
// would need more runs in chunks of as many images as fit (at least one),
// so that memory does not grow with the batch (a variable for tests).
var maxArenaBytes = 1 << 30

func (m *Model) predict(dst, src []float32, times []time.Duration, observe Observer) error {
	p := m.plan
	per := m.prog.InputH * m.prog.InputW * m.prog.InputC
	if len(src) == 0 || len(src)%per != 0 {
		return fmt.Errorf("%s: Predict: src has %d floats, want a positive multiple of one %dx%dx%d image (%d)",
			m.prog.Name, len(src), m.prog.InputH, m.prog.InputW, m.prog.InputC, per)
	}
	n := len(src) / per
	outSize := p.Output.Size()
	if len(dst) < n*outSize {
		return fmt.Errorf("%s: Predict: dst has %d floats, want %d (%d images × %d)", m.prog.Name, len(dst), n*outSize, n, outSize)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("%s: Predict after Close", m.prog.Name)
	}
	m.observe = observe
	defer func() { m.observe = nil }()
	for i := range times {
		times[i] = 0
	}
	chunk := max(1, maxArenaBytes/max(1, p.ArenaBytes()))
	for i0 := 0; i0 < n; i0 += chunk {
		k := min(chunk, n-i0)
		m.first = i0
		m.run(dst[i0*outSize:(i0+k)*outSize], src[i0*per:(i0+k)*per], k, times)
	}
	return nil
}

// run computes the k images of src into dst (m.mu held).
func (m *Model) run(dst, src []float32, k int, times []time.Duration) {
	p := m.plan
	if need := k*p.ArenaBytes() + 64; len(m.arena) < need {
		m.arena = NewArena(need)
	}
	m.n = k
	per := p.Input.Size()
	for i := 0; i < k; i++ {
		dst, img := m.arena.F32(p.Input, k, i), src[i*per:(i+1)*per]
		if !m.prog.InputNCHW {
			copy(dst, img)
			continue
		}
		NCHWToNHWC(dst, img, p.Input.H, p.Input.W, p.Input.C) // the plan's input is NHWC (checked at load)
	}
	for i := range p.Steps {
		var t0 time.Time
		if times != nil {
			t0 = time.Now()
		}
		m.pool.For(m.taskCount(&p.Steps[i]), m.tasks[i])
		if times != nil {
			times[i] += time.Since(t0)
		}
		if m.observe != nil {
			for o, b := range p.Steps[i].Out {
				size := b.Size() * b.Type.Size()
				for j := 0; j < k; j++ {
					off := (k*b.Off + j*b.Size()) * b.Type.Size()
					m.observe(i, o, m.first+j, b, m.arena[off:off+size:off+size])
				}
			}
		}
	}
	out := p.Output
	for i := 0; i < k; i++ {
		copy(dst[i*out.Size():(i+1)*out.Size()], m.arena.F32(out, k, i))
	}
}

// NCHWToNHWC writes one h×w×c image given channels first (src: channel
// ch of pixel j at ch·h·w + j) into dst channels last.
func NCHWToNHWC(dst, src []float32, h, w, c int) {
	plane := h * w
	for ch := 0; ch < c; ch++ {
		for j, v := range src[ch*plane : (ch+1)*plane] {
			dst[j*c+ch] = v
		}
	}
}

// addF32 is p advanced by n float32s (nil stays nil): a pointer into the
// same buffer, which the caller has sized.
func addF32(p *float32, n int) *float32 {
	if p == nil {
		return nil
	}
	return (*float32)(unsafe.Add(unsafe.Pointer(p), 4*n))
}

// alignedFloats returns a slice whose first element is 64-byte aligned.
func alignedFloats(n int) []float32 {
	b := make([]float32, n+16)
	off := 0
	for uintptr(unsafe.Pointer(&b[off]))%64 != 0 {
		off++
	}
	return b[off : off+n]
}

// taskCount is the number of independent tasks a step splits into.
func (m *Model) taskCount(s *Step) int {
	switch s.Kind {
	case OpConv:
		if s.Winograd {
			return m.n * m.winoTasks(s)
		}
		return m.n * (s.Out[0].CPad() / s.WBlock / s.NB) * s.RowTasks
	case OpPool, OpEltwise:
		return m.n * s.RowTasks
	case OpQuantize, OpDequantize:
		return m.n * max(s.RowTasks, 1)
	}
	return m.n
}

// rows splits [0, total) into parts and returns part r.
func rows(total, parts, r int) (int, int) {
	return total * r / parts, total * (r + 1) / parts
}

// runTask runs task t of step s on the given worker (st: an int8 step's
// preparation, else nil).
func (m *Model) runTask(s *Step, st *int8Step, t, worker int) {
	a, n := m.arena, m.n
	switch s.Kind {
	case OpConv:
		if s.Winograd {
			m.runWinograd(s, t, worker)
			return
		}
		groups := s.Out[0].CPad() / s.WBlock / s.NB
		i, rest := t/(groups*s.RowTasks), t%(groups*s.RowTasks)
		g, r := rest/s.RowTasks, rest%s.RowTasks
		oh0, oh1 := rows(s.OH(), s.RowTasks, r)
		ocb0, ocb1 := g*s.NB, (g+1)*s.NB
		if st != nil {
			m.runConvU8(s, st, i, ocb0, ocb1, oh0, oh1)
			return
		}
		if s.Conv == nil {
			convGo(s, m.w, a, n, i, ocb0, ocb1, oh0, oh1)
			return
		}
		res, mul, scale, shift, out1 := m.epiPointers(s, i)
		var bias *float32
		if s.Bias >= 0 {
			bias = &m.w[s.Bias][0]
		}
		in, wt, out0 := a.ptrF32(s.In[0], n, i), &m.w[s.Kernel][0], a.ptrF32(s.Out[0], n, i)
		if s.Groups > 1 {
			// The kernel computes one group: point every buffer at the
			// group of blocks [ocb0, ocb1) lies in (the split's NB divides
			// a group's blocks, so a task never straddles two).
			x, o, B := s.In[0], s.Out[0], s.WBlock
			icbs, ocbs := x.CPad()/B/s.Groups, o.CPad()/B/s.Groups
			g := ocb0 / ocbs
			blocks := g * ocbs // output blocks before the group
			in = addF32(in, g*icbs*x.H*x.W*B)
			if s.Narrow > 0 { // Ohwi: the group's (one block's) [kh][kw][Narrow][B]
				wt = addF32(wt, blocks*s.KH*s.KW*s.Narrow*B)
			} else {
				wt = addF32(wt, blocks*icbs*s.KH*s.KW*B*B)
			}
			out0 = addF32(out0, blocks*o.H*o.W*B)
			if len(s.Out) > 1 {
				out1 = addF32(out1, blocks*s.Out[1].H*s.Out[1].W*B)
			}
			bias, scale, shift = addF32(bias, blocks*B), addF32(scale, blocks*B), addF32(shift, blocks*B)
			for _, e := range s.Epi {
				r := s.In[e.Arg]
				switch e.Op {
				case EpiAdd:
					res = addF32(res, blocks*r.H*r.W*B)
				case EpiMul:
					mul = addF32(mul, blocks*r.H*r.W*B)
				}
			}
			ocb0, ocb1 = ocb0-blocks, ocb1-blocks
		}
		s.Conv(in, wt, bias, res, mul, scale, shift, out0, out1, ocb0, ocb1, oh0, oh1)
	case OpPool, OpEltwise:
		i, r := t/s.RowTasks, t%s.RowTasks
		oh0, oh1 := rows(s.OH(), s.RowTasks, r)
		if s.Map != nil {
			m.runMap(s, i, oh0, oh1)
			return
		}
		if s.Kind == OpPool {
			poolGo(s, m.w, a, n, i, oh0, oh1)
		} else {
			eltwiseGo(s, m.w, a, n, i, oh0, oh1, &m.elt[worker])
		}
	case OpHead:
		if s.Head != nil {
			m.runHead(s, t, m.scratch[worker])
			return
		}
		headGo(s, m.w, a, n, t, m.scratch[worker])
	case OpDense:
		headGo(s, m.w, a, n, t, m.scratch[worker])
	case OpQuantize, OpDequantize:
		parts := max(s.RowTasks, 1)
		i, r := t/parts, t%parts
		oh0, oh1 := rows(s.Out[0].H, parts, r)
		m.convertGo(s, st, i, oh0, oh1)
	default:
		simpleGo(s, a, n, t, m.scratch[worker])
	}
}

// epiPointers returns the residual and product operands and the affine
// parameters of a compiled kernel's epilogue, and its second output.
func (m *Model) epiPointers(s *Step, i int) (res, mul, scale, shift, out1 *float32) {
	for _, e := range s.Epi {
		switch e.Op {
		case EpiAdd:
			res = m.arena.ptrF32(s.In[e.Arg], m.n, i)
		case EpiMul:
			mul = m.arena.ptrF32(s.In[e.Arg], m.n, i)
		case EpiAffine:
			scale, shift = &m.w[e.Scale][0], &m.w[e.Shift][0]
		}
	}
	if len(s.Out) > 1 {
		out1 = m.arena.ptrF32(s.Out[1], m.n, i)
	}
	return res, mul, scale, shift, out1
}

// runMap runs a compiled pooling or elementwise kernel on rows [oh0, oh1)
// of image i.
func (m *Model) runMap(s *Step, i, oh0, oh1 int) {
	res, _, scale, shift, out1 := m.epiPointers(s, i)
	r0, r1 := oh0, oh1
	if s.Kind == OpEltwise {
		r0, r1 = oh0*s.Out[0].W, oh1*s.Out[0].W
	}
	o := s.Out[0]
	s.Map(m.arena.ptrF32(s.In[0], m.n, i), res, scale, shift, m.arena.ptrF32(o, m.n, i), out1, 0, o.CPad()/o.Block, r0, r1)
}

// runHead runs a compiled head on image i.
func (m *Model) runHead(s *Step, i int, scratch []float32) {
	half := len(scratch) / 2
	v, y := scratch[:half], scratch[half:]
	var bias *float32
	if s.Bias >= 0 {
		bias = &m.w[s.Bias][0]
	}
	s.Head(m.arena.ptrF32(s.In[0], m.n, i), &m.w[s.Kernel][0], bias, &v[0], &y[0])
	out := m.arena.F32(s.Out[0], m.n, i)
	copy(out, y[:s.Out[0].C])
	activate(s.Act, out[:s.Out[0].C])
}

// TimeStep runs step i of the plan reps times on the arena as the last
// Predict left it, and returns the median time of one run: the cost of a
// layer in isolation (its inputs and weights warm), for profiles.
func (m *Model) TimeStep(i, reps int) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.arena == nil || i < 0 || i >= len(m.plan.Steps) || reps < 1 {
		return 0
	}
	ts := make([]time.Duration, reps)
	for r := range ts {
		t0 := time.Now()
		m.pool.For(m.taskCount(&m.plan.Steps[i]), m.tasks[i])
		ts[r] = time.Since(t0)
	}
	sort.Slice(ts, func(a, b int) bool { return ts[a] < ts[b] })
	return ts[reps/2]
}

// Memory reports the bytes the model holds: its prepared weights, and the
// activation arena for a batch of n images.
func (m *Model) Memory(n int) (weights, arena int64) {
	for _, w := range m.w {
		weights += 4 * int64(len(w))
	}
	seen := map[*int8]bool{}
	for _, st := range m.i8 {
		if st != nil && len(st.wt) > 0 && !seen[&st.wt[0]] {
			seen[&st.wt[0]] = true
			weights += int64(len(st.wt))
		}
	}
	return weights, int64(n) * int64(m.plan.ArenaBytes())
}

// runWinograd runs task t of a Winograd conv: a range of tile rows of one
// image with the compiled kernel, or, without one, the whole image with
// the portable float64 Winograd (such steps have one task per image).
func (m *Model) runWinograd(s *Step, t, worker int) {
	parts := m.winoTasks(s)
	i, r := t/parts, t%parts
	if s.Wino == nil {
		winogradGo(s, m.w, m.arena, m.n, i)
		return
	}
	x := s.In[0]
	th, _ := WinogradTiles(x.H, x.W, s.Pad[0], s.Pad[1], s.Pad[2], s.Pad[3])
	t0, t1 := rows(th, parts, r)
	res, mul, scale, shift, out1 := m.epiPointers(s, i)
	var bias *float32
	if s.Bias >= 0 {
		bias = &m.w[s.Bias][0]
	}
	s.Wino(m.arena.ptrF32(x, m.n, i), &m.w[s.Kernel][0], bias, res, mul, scale, shift, m.arena.ptrF32(s.Out[0], m.n, i), out1, &m.ws[worker][0], t0, t1)
}

// winoTasks is the number of tile-row ranges a Winograd conv splits into
// per image.
func (m *Model) winoTasks(s *Step) int {
	if s.PerThread {
		return min(s.RowTasks, m.pool.Threads())
	}
	return s.RowTasks
}

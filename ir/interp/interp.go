// Package interp is rnc's reference interpreter: it runs any ir.Graph, before or after any pass, with plain Go loops, as the oracle every faster path is checked against.
//
// Values are stored physically in their declared layouts (nhwc, nChw16c,
// ...), in the activation arena at their planned offsets once memplan has
// run, so the interpreter checks layouts and memory plans as well as
// arithmetic. Each op reads its inputs into Keras's logical NHWC order,
// computes in float64, and stores float32 results.
//
// The interpreter shares no computation with what it checks: it evaluates
// the weight program's expressions (ir/weights.go: batch-norm folding,
// scaling, packing, Winograd U) with its own code (EvalWeights) and
// computes every convolution directly from its logical HWIO kernel,
// a Winograd-transformed one included. Of the runtime it uses only the
// container of named tensors, runtime.Weights (TestOracleIndependent).
//
// # Numeric semantics
//
// The interpreter defines what every target computes, non-finite values
// included (README.md, "Numeric semantics"):
//   - NaN propagates: ReLU(NaN), sigmoid(NaN), a max pool or global max pool
//     over a window holding a NaN (IEEE 754-2019 maximum, as PyTorch), a
//     softmax over a vector holding a NaN (all NaN), batch norm, Add,
//     Multiply and every sum are NaN;
//   - ReLU(+Inf) = +Inf and ReLU(−Inf) = 0; sigmoid(±Inf) = 1 and 0; max
//     pooling of infinities is exact; a softmax with a +Inf entry is all NaN
//     (exp(Inf − Inf)); a sum of +Inf and −Inf terms, or Inf × 0, is NaN;
//   - padded cells are 0 (ZeroPadding2D, "same" convolutions); a max pool
//     skips its padded taps unless zero padding was fused into it (PadZero:
//     they count as 0); an average pool counts only its taps inside the
//     map; a pooling window wholly in the padding gives 0.
//
// Compiled code may make more outputs non-finite than the interpreter,
// never fewer: a Winograd convolution mixes the 6×6 input window of each
// 4×4 output tile, and an infinity turns a channel block's padding lanes
// into NaN (Inf × 0), which the next convolution reads.
package interp

import (
	"fmt"
	"math"
	"sort"

	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/runtime"
)

// Interp runs one graph with one set of weights.
type Interp struct {
	g *ir.Graph
	// weights holds the value of every weight an op reads, in its
	// logical layout (HWIO kernels, [in, out] Dense kernels, vectors of
	// the channel count): a packed weight's entry is its argument's value.
	weights map[*ir.Weight][]float32
	planned bool
	arena   int64 // per-image arena bytes when planned
}

// New evaluates the weights g's ops use from the file tensors (EvalWeights:
// the interpreter's own evaluation of the weight program) and prepares to
// run g.
func New(g *ir.Graph, file *runtime.Weights) (*Interp, error) {
	var roots []*ir.Weight
	for _, op := range g.Ops {
		for _, w := range opWeights(op) {
			roots = append(roots, logical(w))
		}
	}
	// The interpreter emulates the planned arena in float32 words; a graph
	// with u8 values keeps each value apart instead.
	typed := false
	vals, err := evalWeights(g, file, roots)
	if err != nil {
		return nil, err
	}
	it := &Interp{g: g, weights: map[*ir.Weight][]float32{}}
	for _, op := range g.Ops {
		for _, w := range opWeights(op) {
			it.weights[w] = vals[logical(w)]
		}
	}
	for _, op := range g.Ops {
		switch op.Kind {
		case ir.BatchNorm:
			// A batch norm the passes have folded is checked by its bnscale
			// weight; one still in the graph reads its variance directly,
			// so apply the same rule here.
			v := op.Param("moving_variance")
			if err := checkVariance(toF64(it.weights[v]), op.Attrs.Eps); err != nil {
				return nil, fmt.Errorf("%s %s: tensor %q: %w", op.Kind, op.Name(), logical(v).Name, err)
			}
		case ir.Conv2D:
			a := &op.Attrs
			k := op.Param("kernel")
			if k == nil {
				return nil, fmt.Errorf("%s %s has no kernel", op.Kind, op.Name())
			}
			if want := a.Kernel[0] * a.Kernel[1] * op.Inputs[0].Type.C() / a.G() * a.Filters; len(it.weights[k]) != want {
				return nil, fmt.Errorf("%s %s: kernel %s has %d values, want %d", op.Kind, op.Name(), logical(k).Name, len(it.weights[k]), want)
			}
		}
	}
	if err := it.checkInt8(); err != nil {
		return nil, err
	}
	for _, op := range g.Ops {
		for _, o := range op.Outputs {
			typed = typed || o.Type.DType != ir.F32
		}
	}
	for _, op := range g.Ops {
		for _, o := range op.Outputs {
			if o.Mem.Size > 0 && !typed {
				it.planned = true
				it.arena = max(it.arena, o.Mem.End())
			}
		}
	}
	return it, nil
}

// opWeights returns the weights op reads: its parameters (by role name)
// and its epilogue's scales and shifts.
func opWeights(op *ir.Op) []*ir.Weight {
	roles := make([]string, 0, len(op.Params))
	for r := range op.Params {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	var ws []*ir.Weight
	for _, r := range roles {
		if w := op.Params[r]; w != nil {
			ws = append(ws, w)
		}
	}
	for _, st := range op.Attrs.Epi {
		for _, w := range []*ir.Weight{st.Scale, st.Shift} {
			if w != nil {
				ws = append(ws, w)
			}
		}
	}
	for _, o := range op.Outputs {
		if o.Q != nil {
			ws = append(ws, o.Q.Scale, o.Q.Zero)
		}
	}
	return ws
}

// ImageBytes is about the memory Run holds per image of a batch: the arena once
// memplan has placed the values, else every value (each is kept to the end
// of the run), plus the largest op's inputs and outputs, which it reads
// into and computes in logical order.
func (it *Interp) ImageBytes() int64 {
	var sum, op1 int64
	for _, op := range it.g.Ops {
		var io int64
		for _, v := range append(append([]*ir.Value(nil), op.Inputs...), op.Outputs...) {
			io += 4 * int64(v.Type.Elems()) // the interpreter holds every value as float32
		}
		for _, o := range op.Outputs {
			sum += 4 * int64(o.Type.Elems())
		}
		op1 = max(op1, io)
	}
	if it.planned {
		sum = it.arena
	}
	return sum + op1
}

// Run executes the graph on a batch of n images (NHWC float32, images
// consecutive) and returns the graph's outputs in logical order.
func (it *Interp) Run(input []float32, n int) ([][]float32, error) {
	return it.RunObserved(input, n, nil)
}

// Observer sees every op's outputs during RunObserved, once per op, in
// graph order, after the op has computed them for the whole batch and
// before they are stored: outs[i] is output i in logical order (NHWC, or
// NC for vectors), the n images one after another; the Input op's is a
// copy of the input. The observer may change the values in place (a
// fake-quantized run rounds every output so): the op's readers and the
// graph's outputs see what it leaves. It must not keep outs.
type Observer func(op *ir.Op, outs [][]float32)

// RunObserved is Run with an observer (nil: none) called on each op's
// outputs.
func (it *Interp) RunObserved(input []float32, n int, observe Observer) (outs [][]float32, err error) {
	return it.runWith(input, n, func(op *ir.Op, in [][]float32) [][]float32 { return it.exec(op, in, n) }, observe)
}

// runWith runs the graph with exec computing each op's outputs from its
// inputs (logical order; exec may overwrite the inputs it is given), and
// observe (nil: none) seeing them before they are stored.
func (it *Interp) runWith(input []float32, n int, exec func(op *ir.Op, in [][]float32) [][]float32, observe Observer) (outs [][]float32, err error) {
	ins := it.g.Inputs()
	if len(ins) != 1 {
		return nil, fmt.Errorf("interp: graph has %d inputs, want 1", len(ins))
	}
	per := 1
	for _, d := range ins[0].Type.Dims {
		per *= d
	}
	if n < 1 || len(input) != n*per {
		return nil, fmt.Errorf("interp: input has %d values, want %d images of %d", len(input), n, per)
	}
	defer func() {
		if r := recover(); r != nil {
			outs, err = nil, fmt.Errorf("interp: %v", r)
		}
	}()
	st := &state{it: it, n: n, phys: map[*ir.Value][]float32{}}
	if it.planned {
		st.arena = make([]float32, int64(n)*it.arena/4)
		for i := range st.arena {
			st.arena[i] = float32(math.NaN()) // uninitialized memory must never be read
		}
	}
	for _, op := range it.g.Ops {
		var vals [][]float32 // logical
		if op.Kind == ir.Input {
			vals = [][]float32{input}
			if observe != nil {
				vals = [][]float32{append([]float32(nil), input...)}
			}
		} else {
			inputs := make([][]float32, len(op.Inputs))
			for i, v := range op.Inputs {
				inputs[i] = st.load(v)
			}
			vals = exec(op, inputs)
		}
		if observe != nil {
			observe(op, vals)
		}
		for i, o := range op.Outputs {
			st.store(o, vals[i])
		}
	}
	for _, o := range it.g.Outputs {
		outs = append(outs, st.load(o))
	}
	return outs, nil
}

// Eval prepares g with the weights and runs it once: New, then Run.
func Eval(g *ir.Graph, file *runtime.Weights, input []float32, n int) ([][]float32, error) {
	it, err := New(g, file)
	if err != nil {
		return nil, err
	}
	return it.Run(input, n)
}

// state holds the physical storage of values during a run.
type state struct {
	it    *Interp
	n     int
	arena []float32
	phys  map[*ir.Value][]float32
}

func (st *state) buffer(v *ir.Value) []float32 {
	if st.arena != nil {
		off := int64(st.n) * v.Mem.Offset / 4
		return st.arena[off : off+int64(st.n*v.Type.Elems())]
	}
	b := st.phys[v]
	if b == nil {
		b = make([]float32, st.n*v.Type.Elems())
		st.phys[v] = b
	}
	return b
}

// index returns the physical offset (within one image) of logical element
// (h, w, c) — or (c) for vectors.
func index(t ir.Type, h, w, c int) int {
	switch t.Layout {
	case ir.NC:
		return c
	case ir.NHWC:
		return (h*t.W()+w)*t.C() + c
	}
	b := t.Layout.Block()
	return ((c/b*t.H()+h)*t.W()+w)*b + c%b
}

func (st *state) store(v *ir.Value, logical []float32) {
	buf := st.buffer(v)
	t := v.Type
	per := t.Elems()
	if t.Layout == ir.NHWC || t.Layout == ir.NC {
		copy(buf, logical)
		return
	}
	lper := t.H() * t.W() * t.C()
	for i := 0; i < st.n; i++ {
		img := buf[i*per : (i+1)*per]
		for j := range img {
			img[j] = 0 // pad channels hold zeros
		}
		src := logical[i*lper:]
		for h := 0; h < t.H(); h++ {
			for w := 0; w < t.W(); w++ {
				for c := 0; c < t.C(); c++ {
					img[index(t, h, w, c)] = src[(h*t.W()+w)*t.C()+c]
				}
			}
		}
	}
}

func (st *state) load(v *ir.Value) []float32 {
	buf := st.buffer(v)
	t := v.Type
	per := t.Elems()
	if t.Layout == ir.NHWC || t.Layout == ir.NC {
		return append([]float32(nil), buf...)
	}
	lper := t.H() * t.W() * t.C()
	out := make([]float32, st.n*lper)
	for i := 0; i < st.n; i++ {
		img := buf[i*per : (i+1)*per]
		dst := out[i*lper:]
		for h := 0; h < t.H(); h++ {
			for w := 0; w < t.W(); w++ {
				for c := 0; c < t.C(); c++ {
					dst[(h*t.W()+w)*t.C()+c] = img[index(t, h, w, c)]
				}
			}
		}
	}
	return out
}

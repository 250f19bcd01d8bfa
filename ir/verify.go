package ir

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// ValidName matches the layer names rnc accepts: Keras-style identifiers.
var ValidName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]*$`)

// Verify checks the graph's invariants: topological order, unique value IDs
// and layer names, arities, that every output type is what shape inference
// gives, layout rules, weight bindings and shapes, the weight program, and,
// once memory is planned, that no two buffers that are live at the same
// time overlap (except an elementwise op writing over an input it is the
// last reader of). It reports every problem it finds.
func Verify(g *Graph) error {
	v := &verifier{g: g}
	v.run()
	if len(v.errs) == 0 {
		return nil
	}
	if len(v.errs) > 10 {
		n := len(v.errs) - 10
		v.errs = append(v.errs[:10], fmt.Sprintf("and %d more problems", n))
	}
	return errors.New("ir.Verify: " + strings.Join(v.errs, "\n\t"))
}

type verifier struct {
	g    *Graph
	errs []string
}

func (v *verifier) errorf(op *Op, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if op != nil {
		msg = fmt.Sprintf("%s (%s): %s", op.Name(), op.Kind, msg)
	}
	v.errs = append(v.errs, msg)
}

func (v *verifier) run() {
	g := v.g
	if g.Weights == nil {
		v.errorf(nil, "graph has no weight program")
		return
	}
	v.weights()
	defined := map[*Value]int{}
	ids := map[int]bool{}
	names := map[string]bool{}
	for i, op := range g.Ops {
		if op == nil || op.Kind >= numKinds {
			v.errorf(nil, "op %d is nil or of unknown kind", i)
			return
		}
		if len(op.Names) == 0 {
			v.errorf(op, "op has no name")
		}
		for _, n := range op.Names {
			if !ValidName.MatchString(n) {
				v.errorf(op, "invalid layer name %q", n)
			}
			if names[n] {
				v.errorf(op, "layer name %q used twice", n)
			}
			names[n] = true
		}
		ok := true
		for j, in := range op.Inputs {
			if _, def := defined[in]; in == nil || !def {
				v.errorf(op, "input %d is not defined before the op", j)
				ok = false
			}
		}
		if len(op.Outputs) == 0 {
			v.errorf(op, "op has no outputs")
			ok = false
		}
		for _, o := range op.Outputs {
			if o == nil || o.Def != op {
				v.errorf(op, "output's Def is not the op")
				ok = false
				continue
			}
			if ids[o.ID] {
				v.errorf(op, "value %s defined twice", o.Name())
			}
			v.quantized(op, o)
			ids[o.ID] = true
			defined[o] = i
		}
		if ok {
			v.op(op)
		}
	}
	if len(g.Outputs) == 0 {
		v.errorf(nil, "graph has no outputs")
	}
	for _, o := range g.Outputs {
		if _, ok := defined[o]; !ok {
			v.errorf(nil, "graph output is not defined by an op")
		}
	}
	if len(v.errs) == 0 {
		v.memory(defined)
	}
}

func (v *verifier) weights() {
	seen := map[*Weight]bool{}
	for _, w := range v.g.Weights.List {
		if v.g.Weights.byName[w.Name] != w {
			v.errorf(nil, "weight %s is not registered under its name", w.Name)
		}
		for _, a := range w.Args {
			if !seen[a] {
				v.errorf(nil, "weight %s uses %s before it is defined", w.Name, weightName(a))
			}
		}
		seen[w] = true
		if w.Op != WLoad {
			c := *w
			if err := inferWeight(&c); err != nil {
				v.errorf(nil, "weight %s: %v", w.Name, err)
			} else if !equalInts(c.Shape, w.Shape) {
				v.errorf(nil, "weight %s has shape %v, want %v", w.Name, w.Shape, c.Shape)
			}
		}
	}
}

func (v *verifier) inProgram(w *Weight) bool {
	return w != nil && v.g.Weights.byName[w.Name] == w
}

func (v *verifier) op(op *Op) {
	info := op.Kind.Info()
	dims, err := InferDims(op)
	if err != nil {
		v.errorf(op, "%v", err)
		return
	}
	if len(dims) != len(op.Outputs) {
		v.errorf(op, "has %d outputs, want %d", len(op.Outputs), len(dims))
		return
	}
	for i, o := range op.Outputs {
		if !equalInts(o.Type.Dims, dims[i]) {
			v.errorf(op, "output %s has dims %v, shape inference gives %v", o.Name(), o.Type.Dims, dims[i])
		}
		if o.Type.Layout.Rank() != len(o.Type.Dims) {
			v.errorf(op, "output %s: layout %s does not fit %d dimensions", o.Name(), o.Type.Layout, len(o.Type.Dims))
		}
	}
	// Weights.
	want := ParamShapes(op)
	for _, p := range info.Params {
		w := op.Params[p.Role]
		if w == nil {
			if !p.Optional {
				v.errorf(op, "missing weight %q", p.Role)
			}
			continue
		}
		if !v.inProgram(w) {
			v.errorf(op, "weight %q (%s) is not in the weight program", p.Role, w.Name)
			continue
		}
		if w.Fits(want[p.Role]) {
			continue
		}
		v.errorf(op, "weight %q (%s) has shape %v, want %v", p.Role, w.Name, w.Shape, want[p.Role])
	}
	for role := range op.Params {
		found := false
		for _, p := range info.Params {
			found = found || p.Role == role
		}
		if !found {
			v.errorf(op, "has no weight role %q", role)
		}
	}
	for _, st := range op.Attrs.Epi {
		if st.Kind == StepAffine && (!v.inProgram(st.Scale) || !v.inProgram(st.Shift)) {
			v.errorf(op, "affine step refers to weights outside the program")
		}
	}
	v.layouts(op)
	v.types(op)
}

// quantized checks a value's element type and quantization parameters:
// u8 values carry them (f32 [1] scale, u8 [1] zero point, in the weight
// program), f32 values do not, and no other element type is computed.
func (v *verifier) quantized(op *Op, o *Value) {
	switch o.Type.DType {
	case F32:
		if o.Q != nil {
			v.errorf(op, "value %s is f32 but has quantization parameters", o.Name())
		}
	case U8:
		q := o.Q
		if q == nil {
			v.errorf(op, "value %s is u8 without quantization parameters", o.Name())
			return
		}
		if !v.inProgram(q.Scale) || !v.inProgram(q.Zero) {
			v.errorf(op, "value %s: its quantization parameters are not in the weight program", o.Name())
			return
		}
		if !equalInts(q.Scale.Shape, []int{1}) || !equalInts(q.Zero.Shape, []int{1}) || q.Scale.DType != F32 || q.Zero.Op != WLoad || q.Zero.DType != U8 {
			v.errorf(op, "value %s: scale %s %s%v and zero point %s %s%v, want f32[1] and a u8[1] file tensor", o.Name(), q.Scale.Name, q.Scale.DType, q.Scale.Shape, q.Zero.Name, q.Zero.DType, q.Zero.Shape)
		}
	default:
		v.errorf(op, "value %s is %s: the ops compute in f32 and u8 only", o.Name(), o.Type.DType)
	}
}

// types checks which element types an op reads and writes: Quantize
// turns f32 into u8, Dequantize u8 into f32, an int8 Conv2D (u8 input)
// reads and writes u8 only, with an s8 kernel and its m; every other op
// computes in f32.
func (v *verifier) types(op *Op) {
	want := func(what string, val *Value, dt DType) {
		if val.Type.DType != dt {
			v.errorf(op, "%s %s is %s, want %s", what, val.Name(), val.Type.DType, dt)
		}
	}
	in, out := F32, F32
	switch {
	case op.Kind == Quantize:
		out = U8
	case op.Kind == Dequantize:
		in = U8
	case op.Kind == Conv2D && op.Inputs[0].Type.DType == U8:
		in, out = U8, U8
		a := &op.Attrs
		k := op.Params["kernel"]
		if k == nil || k.Op != WPack || k.Layout != "OIhw4i16o4i" || k.Args[0].Op != WLoad || k.Args[0].DType != S8 {
			v.errorf(op, "an int8 conv needs an s8 file kernel packed OIhw4i16o4i")
		}
		if op.Params["m"] == nil {
			v.errorf(op, "an int8 conv needs its m (the weight and input scales' product)")
		}
		if a.Dilated() {
			v.errorf(op, "an int8 conv cannot be dilated")
		}
		steps := make([]abi.Step, len(a.Epi))
		for i, st := range a.Epi {
			steps[i] = abi.Step{Kind: st.Kind, Sub: st.Sub}
		}
		if err := abi.ConvU8Caps.Check(steps); err != nil {
			v.errorf(op, "int8 conv epilogue: %v", err)
		}
		if terms := int64(a.Kernel[0]) * int64(a.Kernel[1]) * int64(op.Inputs[0].Type.C()); terms > abi.MaxAccTerms {
			v.errorf(op, "an int8 conv of %d products per output overflows int32 (abi.MaxAccTerms)", terms)
		}
		if op.Inputs[0].Type.Layout.Block() != abi.U8Block {
			v.errorf(op, "an int8 conv reads nChw16c, not %s", op.Inputs[0].Type.Layout)
		}
	case op.Kind == Conv2D && op.Params["m"] != nil:
		v.errorf(op, "an f32 conv has no m")
	}
	for i, x := range op.Inputs {
		want(fmt.Sprintf("input %d", i), x, in)
	}
	for i, o := range op.Outputs {
		want(fmt.Sprintf("output %d", i), o, out)
	}
}

func (v *verifier) layouts(op *Op) {
	in := func(i int) Layout { return op.Inputs[i].Type.Layout }
	out := op.Outputs[0].Type.Layout
	sameAll := func() {
		for i := range op.Inputs {
			if in(i) != out {
				v.errorf(op, "input %d is %s but the output is %s", i, in(i), out)
			}
		}
	}
	for _, o := range op.Outputs[1:] {
		if o.Type.Layout != out {
			v.errorf(op, "outputs have different layouts")
		}
	}
	switch op.Kind {
	case Input:
		if out != NHWC && out != NC {
			v.errorf(op, "input layout must be nhwc or nc, got %s", out)
		}
		if p := op.Attrs.Prep; p.Mode != "" || p.Mean != [3]float64{} || p.Std != [3]float64{} || p.Resize != 0 {
			if err := p.Check(); err != nil {
				v.errorf(op, "%v", err)
			} else if out != NHWC {
				v.errorf(op, "preprocessing %s declared on an input that is not an image (layout %s)", p.Mode, out)
			}
		}
	case Conv2D:
		for i := 1; i < len(op.Inputs); i++ {
			if in(i) != out {
				v.errorf(op, "epilogue operand %d is %s but the output is %s", i, in(i), out)
			}
		}
		k := op.Params["kernel"]
		if k == nil {
			return
		}
		if k.Op != WPack {
			if in(0) != NHWC || out != NHWC {
				v.errorf(op, "an unpacked (HWIO) kernel needs nhwc input and output, got %s → %s", in(0), out)
			}
			return
		}
		b, fam, _ := PackBlock(k.Layout)
		a := op.Attrs
		switch {
		case fam == "wino":
			if in(0).Block() != b || out.Block() != b || a.Kernel != [2]int{3, 3} || a.Strides != [2]int{1, 1} || a.Dilated() || max(a.Pad[0], a.Pad[1], a.Pad[2], a.Pad[3]) > 2 {
				v.errorf(op, "Winograd weights (%s) need an undilated 3x3 stride-1 conv with pads of at most 2 on %dc maps, not %s → %s", k.Layout, b, in(0), out)
			}
		case (fam == "OIhw" || fam == "OIhw4") && in(0).Block() == b && out.Block() == b:
		case fam == "Ohwi" && in(0) == NHWC && out.Block() == b:
		case fam == "Ohwi" && in(0).Block() == b && out.Block() == b && NarrowGroups(a.G(), op.Inputs[0].Type.C(), op.Outputs[0].Type.C(), b) > 0:
		default:
			v.errorf(op, "kernel packed as %s does not fit %s → %s", k.Layout, in(0), out)
		}
	case Dense, Head:
		want := NC
		if op.Kind == Dense && in(0) == NHWC {
			want = NHWC // a Dense on a feature map works per pixel
		}
		if out != want {
			v.errorf(op, "output must be %s, got %s", want, out)
		}
		if op.Kind == Dense && in(0) != NC && in(0) != NHWC {
			v.errorf(op, "Dense input must be nc or nhwc, got %s", in(0))
		}
		if k := op.Params["kernel"]; k != nil && k.Op == WPack {
			if _, fam, _ := PackBlock(k.Layout); fam != "OI" {
				v.errorf(op, "Dense kernel packed as %s", k.Layout)
			}
		}
	case GlobalAvgPool, GlobalMaxPool, Flatten:
		if out != NC {
			v.errorf(op, "output must be nc, got %s", out)
		}
		if op.Kind == Flatten && in(0) != NHWC && in(0) != NC {
			v.errorf(op, "Flatten reads Keras's nhwc order, got %s", in(0))
		}
	case Reorder:
		if in(0) == out {
			v.errorf(op, "reorder from %s to itself", out)
		}
	default:
		sameAll()
	}
}

// InPlace reports whether op may write its output number out over input i
// (same memory): true for elementwise ops and unstrided epilogue operands —
// provided no epilogue step after that output's store still reads input i
// (kernels store an `out` output before they run the later steps, element
// by element, so such a step would read what the store wrote).
func InPlace(op *Op, i, out int) bool {
	if i < 0 || i >= len(op.Inputs) || out < 0 || out >= len(op.Outputs) {
		return false
	}
	switch op.Kind {
	case Conv2D, Eltwise, MaxPool, AvgPool:
		if i == 0 && op.Kind != Eltwise {
			return false
		}
		stored := 0 // outputs stored before the current step
		for _, st := range op.Attrs.Epi {
			switch {
			case st.Kind == StepOut:
				stored++
			case (st.Kind == StepAdd || st.Kind == StepMul) && st.Arg == i:
				if st.Sub != 1 || stored > out {
					return false
				}
			}
		}
		return true // an Eltwise reads x0 before any step
	case Add, Multiply:
		return len(op.Attrs.Sub) == 0 || op.Attrs.Sub[i] == 1
	}
	return op.Kind.Info().Elementwise
}

// Liveness returns, for each value, the index of its defining op and of its
// last reader (len(g.Ops) for graph outputs; the def index when unused).
func Liveness(g *Graph) (def, last map[*Value]int) {
	def, last = map[*Value]int{}, map[*Value]int{}
	for i, op := range g.Ops {
		for _, o := range op.Outputs {
			def[o], last[o] = i, i
		}
		for _, in := range op.Inputs {
			last[in] = i
		}
	}
	for _, o := range g.Outputs {
		last[o] = len(g.Ops)
	}
	return def, last
}

func (v *verifier) memory(defined map[*Value]int) {
	var vals []*Value
	planned := 0
	for _, op := range v.g.Ops {
		for _, o := range op.Outputs {
			vals = append(vals, o)
			if o.Mem.Size > 0 {
				planned++
			}
		}
	}
	if planned == 0 {
		return
	}
	if planned != len(vals) {
		v.errorf(nil, "memory is planned for %d of %d values", planned, len(vals))
		return
	}
	for _, o := range vals {
		if o.Mem.Offset < 0 || o.Mem.Size < o.Type.Bytes() {
			v.errorf(o.Def, "value %s placed at [%d:%d] needs %d bytes", o.Name(), o.Mem.Offset, o.Mem.End(), o.Type.Bytes())
		}
		if o.Mem.Offset%64 != 0 {
			v.errorf(o.Def, "value %s at offset %d is not 64-byte aligned", o.Name(), o.Mem.Offset)
		}
	}
	def, last := Liveness(v.g)
	sort.Slice(vals, func(i, j int) bool { return vals[i].Mem.Offset < vals[j].Mem.Offset })
	for i, a := range vals {
		for _, b := range vals[i+1:] {
			if b.Mem.Offset >= a.Mem.End() {
				break
			}
			if def[a] > last[b] || def[b] > last[a] {
				continue // not live at the same time
			}
			if v.inPlace(a, b, def, last) || v.inPlace(b, a, def, last) {
				continue
			}
			v.errorf(nil, "values %s [%d:%d] and %s [%d:%d] are live at the same time and overlap",
				a.Name(), a.Mem.Offset, a.Mem.End(), b.Name(), b.Mem.Offset, b.Mem.End())
		}
	}
}

// inPlace reports whether out overwrites in legally: in dies at the op that
// defines out, the op may work in place on it, and the ranges coincide.
func (v *verifier) inPlace(in, out *Value, def, last map[*Value]int) bool {
	if last[in] != def[out] || in.Mem != out.Mem || v.g.IsOutput(in) {
		return false
	}
	op := out.Def
	k := 0
	for j, o := range op.Outputs {
		if o == out {
			k = j
		}
	}
	reads := false
	for i, x := range op.Inputs {
		if x == in {
			if !InPlace(op, i, k) {
				return false // also read in a way that cannot share memory
			}
			reads = true
		}
	}
	return reads
}

// ArenaStats summarizes a planned graph, per image: the arena size; the
// peak of the bytes live at any one op (distinct buffers, so an in-place
// pair counts once), a lower bound for any plan of these buffers; and the
// sum of all values' sizes, what a plan without reuse would need.
func ArenaStats(g *Graph) (arena, peak, sum int64) {
	def, last := Liveness(g)
	live := make([]map[Mem]bool, len(g.Ops)+1)
	for _, op := range g.Ops {
		for _, o := range op.Outputs {
			arena = max(arena, o.Mem.End())
			sum += o.Type.Bytes()
			for t := def[o]; t <= last[o] && t < len(live); t++ {
				if live[t] == nil {
					live[t] = map[Mem]bool{}
				}
				live[t][o.Mem] = true
			}
		}
	}
	for _, ms := range live {
		var n int64
		for m := range ms {
			n += m.Size
		}
		peak = max(peak, n)
	}
	return arena, peak, sum
}

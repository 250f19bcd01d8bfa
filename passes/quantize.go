package passes

import (
	"fmt"
	"strings"

	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/abi"
)

// Precision is what a compiled model computes in.
type Precision string

const (
	F32  Precision = "f32"  // float32 throughout (the default)
	Int8 Precision = "int8" // int8 convolutions where Int8Plan allows, float32 elsewhere (docs/int8.md)
)

// ParsePrecision checks a --precision value ("" is f32).
func ParsePrecision(s string) (Precision, error) {
	switch Precision(s) {
	case "", F32:
		return F32, nil
	case Int8:
		return Int8, nil
	}
	return "", fmt.Errorf("unknown precision %q (want f32 or int8)", s)
}

// Int8Plan says which ops of a lowered float32 graph (after fuse) an int8
// model runs in int8, and which values it holds as uint8. It depends on
// the graph alone, never on calibration, so that rnc quantize and rnc
// compile --precision int8 agree on what the quantized file holds.
type Int8Plan struct {
	// Convs are the int8 convolutions: undilated Conv2Ds on nChw16c maps
	// whose input is provably non-negative (it follows a ReLU: zero point
	// 0, so padding taps add the real 0), whose reduction fits int32
	// (abi.MaxAccTerms) and whose epilogue the int8 kernels take
	// (abi.ConvU8Caps).
	Convs map[*ir.Op]bool
	// Why says why a Conv2D stays float32.
	Why map[*ir.Op]string
	// Values are the uint8 values: every input, epilogue operand and
	// output of an int8 conv.
	Values map[*ir.Value]bool
}

// PlanInt8 makes g's Int8Plan.
func PlanInt8(g *ir.Graph) *Int8Plan {
	p := &Int8Plan{Convs: map[*ir.Op]bool{}, Why: map[*ir.Op]string{}, Values: map[*ir.Value]bool{}}
	for _, op := range g.Ops {
		if op.Kind != ir.Conv2D {
			continue
		}
		if why := int8Refusal(op); why != "" {
			p.Why[op] = why
			continue
		}
		p.Convs[op] = true
		p.Values[op.Inputs[0]] = true
		for _, st := range op.Attrs.Epi {
			if st.Kind == ir.StepAdd || st.Kind == ir.StepMul {
				p.Values[op.Inputs[st.Arg]] = true
			}
		}
		for _, o := range op.Outputs {
			p.Values[o] = true
		}
	}
	return p
}

// int8Refusal is why a Conv2D cannot compute in int8 ("" if it can).
func int8Refusal(op *ir.Op) string {
	a := &op.Attrs
	x := op.Inputs[0]
	k := op.Param("kernel")
	switch {
	case x.Def.Kind == ir.Input || x.Type.Layout.Block() == 0:
		return "stem: its input is the image"
	case k == nil || k.Op != ir.WPack:
		return "unpacked kernel"
	case x.Type.Layout.Block() != abi.U8Block:
		return fmt.Sprintf("its input is %s, not nChw%dc", x.Type.Layout, abi.U8Block)
	case a.Dilated():
		return "dilated"
	case a.G() > 1:
		return "grouped (the int8 kernels are dense)"
	}
	if _, fam, _ := ir.PackBlock(k.Layout); fam != "OIhw" {
		return "kernel packed " + k.Layout
	}
	// The geometry and epilogue every int8 kernel takes: the portable
	// runtime.ConvU8's (the VNNI kernels take a subset; a conv they do not
	// runs ConvU8).
	cv := runtime.ConvU8{IC: x.Type.C(), OC: op.Out().Type.C(), H: x.Type.H(), W: x.Type.W(), KH: a.Kernel[0], KW: a.Kernel[1],
		SH: a.Strides[0], SW: a.Strides[1], Pad: a.Pad}
	for _, st := range a.Epi {
		cv.Epi = append(cv.Epi, runtime.Epi{Op: st.Kind, Sub: st.Sub})
		if st.Kind == ir.StepAdd {
			r := op.Inputs[st.Arg].Type
			cv.ResH, cv.ResW = r.H(), r.W()
		}
	}
	if err := cv.Check(); err != nil {
		return strings.TrimPrefix(err.Error(), "int8 conv: ")
	}
	if !NonNegative(x) {
		return "its input can be negative (no ReLU before it): its zero point would not be 0"
	}
	return ""
}

// NonNegative reports whether every value v can hold is ≥ 0 (or NaN),
// whatever the weights: it is stored after a ReLU or a sigmoid, or only
// moves, pools or pads (with a value ≥ 0) such values.
func NonNegative(v *ir.Value) bool {
	op := v.Def
	k := 0
	for i, o := range op.Outputs {
		if o == v {
			k = i
		}
	}
	// before is the epilogue up to the store of output k.
	before := func() []ir.Step {
		epi := op.Attrs.Epi
		outs := 0
		for i, st := range epi {
			if st.Kind == ir.StepOut {
				if outs == k {
					return epi[:i]
				}
				outs++
			}
		}
		return epi
	}
	switch op.Kind {
	case ir.Activation:
		return op.Attrs.Fn == ir.Relu || op.Attrs.Fn == ir.Sigmoid || op.Attrs.Fn == ir.Softmax
	case ir.Conv2D, ir.Eltwise, ir.MaxPool, ir.AvgPool:
		steps := before()
		for i := len(steps) - 1; i >= 0; i-- {
			switch steps[i].Kind {
			case ir.StepRelu, ir.StepSigmoid:
				return true
			case ir.StepOut:
				continue
			}
			return false
		}
		return op.Kind != ir.Conv2D && NonNegative(op.Inputs[0])
	case ir.ZeroPad:
		return op.Attrs.PadValue >= 0 && NonNegative(op.Inputs[0])
	case ir.Reorder, ir.Dropout, ir.Flatten, ir.GlobalMaxPool, ir.GlobalAvgPool:
		return NonNegative(op.Inputs[0])
	}
	return false
}

// LayerName is the name an op's tensors have in the quantized weight file
// (docs/int8.md): the Keras layer of its kernel (the prefix of the
// kernel's file tensor), else its last layer name.
func LayerName(op *ir.Op) string {
	if k := op.Param("kernel"); k != nil {
		for w := k; w != nil; {
			if w.Op == ir.WLoad {
				if i := strings.LastIndexByte(w.Name, '/'); i > 0 {
					return w.Name[:i]
				}
				break
			}
			if len(w.Args) == 0 {
				break
			}
			w = w.Args[0]
		}
	}
	return op.Names[len(op.Names)-1]
}

// The names of a layer's tensors in the quantized weight file: L is the
// layer's name (LayerName), i an output or epilogue step index.
func KernelQName(l string) string     { return l + "/kernel_q" }     // s8, the kernel's HWIO shape
func KernelScaleName(l string) string { return l + "/kernel_scale" } // f32 [out]
func OutScaleName(l string, i int) string {
	return fmt.Sprintf("%s/out%d_scale", l, i) // f32 [1]
}
func OutZeroName(l string, i int) string {
	return fmt.Sprintf("%s/out%d_zero_point", l, i) // u8 [1]
}
func EpiWeightName(l string, i int, what string) string {
	return fmt.Sprintf("%s/epi%d_%s", l, i, what) // f32, what "scale" or "shift"
}

// Quantize rewrites a lowered float32 graph (after fuse, before memplan)
// into its int8 form, reading every weight from the quantized weight file
// rnc quantize writes (its names: LayerName, KernelQName, ...; batch norms
// come folded): the convolutions of PlanInt8 become int8 convs (an s8
// kernel packed OIhw4i16o4i, m = s_w·s_x), the values of the plan become
// u8 with their scale and zero point as weights, a Quantize follows each
// float op whose output is u8, and a Dequantize feeds the float ops (and
// the graph's outputs) that read a u8 value.
func Quantize(g *ir.Graph) error {
	plan := PlanInt8(g)
	ws := g.Weights
	var err error
	load := func(name string, shape []int, dt ir.DType) *ir.Weight {
		w, e := ws.LoadTyped(name, shape, dt)
		if e != nil && err == nil {
			err = e
		}
		return w
	}
	// like reads the file tensor name in place of w: packed as w is.
	like := func(w *ir.Weight, name string) *ir.Weight {
		if w.Op == ir.WPack {
			return ws.Compute(ir.WPack, []*ir.Weight{load(name, w.Args[0].Shape, ir.F32)}, 0, w.Layout, nil)
		}
		return load(name, w.Shape, ir.F32)
	}
	names := map[*ir.Op]string{}
	for _, op := range g.Ops {
		names[op] = LayerName(op)
	}
	// Values first: an int8 conv's m needs its input's scale.
	for _, op := range g.Ops {
		for i, o := range op.Outputs {
			if plan.Values[o] {
				l := names[op]
				o.Type.DType = ir.U8
				o.Q = &ir.QParams{Scale: load(OutScaleName(l, i), []int{1}, ir.F32), Zero: load(OutZeroName(l, i), []int{1}, ir.U8)}
			}
		}
	}
	for _, op := range g.Ops {
		if op.Kind == ir.Input {
			continue
		}
		l := names[op]
		for _, role := range sortedRoles(op) {
			w := op.Params[role]
			switch {
			case plan.Convs[op] && role == "kernel":
				q := load(KernelQName(l), w.Args[0].Shape, ir.S8)
				op.Params["kernel"] = ws.Compute(ir.WPack, []*ir.Weight{q}, 0, "OIhw4i16o4i", nil)
			default:
				op.Params[role] = like(w, l+"/"+role)
			}
		}
		if k := op.Params["kernel"]; k != nil && op.Params["bias"] == nil {
			// The file holds every kernel's bias (zeros where the layer
			// has none).
			out := k.Args[0].Shape[len(k.Args[0].Shape)-1]
			b := load(l+"/bias", []int{out}, ir.F32)
			if k.Op == ir.WPack {
				block, _, _ := ir.PackBlock(k.Layout)
				b = ws.Compute(ir.WPack, []*ir.Weight{b}, 0, fmt.Sprintf("c%d", block), nil)
			}
			op.Params["bias"] = b
		}
		if plan.Convs[op] {
			f := op.Attrs.Filters
			ks := load(KernelScaleName(l), []int{f}, ir.F32)
			m := ws.Compute(ir.WScaleBy, []*ir.Weight{ks, op.Inputs[0].Q.Scale}, 0, "", nil)
			op.Params["m"] = ws.Compute(ir.WPack, []*ir.Weight{m}, 0, fmt.Sprintf("c%d", abi.U8Block), nil)
		}
		for i := range op.Attrs.Epi {
			st := &op.Attrs.Epi[i]
			if st.Scale != nil {
				st.Scale = like(st.Scale, EpiWeightName(l, i, "scale"))
			}
			if st.Shift != nil {
				st.Shift = like(st.Shift, EpiWeightName(l, i, "shift"))
			}
		}
	}
	if err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	// Conversions where a float op writes or reads a u8 value.
	uses := g.Uses()
	var ops []*ir.Op
	for _, op := range g.Ops {
		ops = append(ops, op)
		for i, o := range op.Outputs {
			if !plan.Values[o] {
				continue
			}
			last := op.Names[len(op.Names)-1]
			if !plan.Convs[op] {
				f := g.NewValue(ir.Type{DType: ir.F32, Dims: append([]int(nil), o.Type.Dims...), Layout: o.Type.Layout}, op)
				op.Outputs[i] = f
				q := &ir.Op{Kind: ir.Quantize, Names: []string{fmt.Sprintf("%s_quantize%d", last, i)}, Inputs: []*ir.Value{f}, Outputs: []*ir.Value{o}}
				o.Def = q
				ops = append(ops, q)
			}
			var readers []*ir.Op
			for _, u := range uses[o] {
				if !plan.Convs[u] {
					readers = append(readers, u)
				}
			}
			if len(readers) == 0 && !g.IsOutput(o) {
				continue
			}
			d := &ir.Op{Kind: ir.Dequantize, Names: []string{fmt.Sprintf("%s_dequantize%d", last, i)}, Inputs: []*ir.Value{o}}
			r := g.NewValue(ir.Type{DType: ir.F32, Dims: append([]int(nil), o.Type.Dims...), Layout: o.Type.Layout}, d)
			d.Outputs = []*ir.Value{r}
			ops = append(ops, d)
			for _, u := range readers {
				for j, in := range u.Inputs {
					if in == o {
						u.Inputs[j] = r
					}
				}
			}
			for j, out := range g.Outputs {
				if out == o {
					g.Outputs[j] = r
				}
			}
		}
	}
	g.Ops = ops
	g.Weights.RemoveUnused(g)
	g.Weights.RemoveUnusedFiles(g) // the float32 file's tensors: the int8 model reads the quantized file only
	return nil
}

// sortedRoles are op's weight roles in the kind table's order.
func sortedRoles(op *ir.Op) []string {
	var roles []string
	for _, p := range op.Kind.Info().Params {
		if op.Params[p.Role] != nil {
			roles = append(roles, p.Role)
		}
	}
	return roles
}

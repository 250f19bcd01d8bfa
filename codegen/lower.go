package codegen

import (
	"fmt"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/runtime"
)

// lowered is one target's plan, plus the ops behind its steps.
type lowered struct {
	plan *runtime.Plan
	ops  []*ir.Op // ops[i] produced plan.Steps[i]
}

func buf(v *ir.Value) runtime.Buf {
	t := v.Type
	// The planner places values in bytes; a Buf counts elements of its type.
	b := runtime.Buf{Type: t.DType, Off: int(v.Mem.Offset / int64(t.DType.Size())), C: t.C(), H: 1, W: 1, Block: t.Layout.Block()}
	if len(t.Dims) == 3 {
		b.H, b.W = t.H(), t.W()
	} else {
		b.Vec = true
	}
	return b
}

// lower turns a graph that has been through the whole pipeline into a plan.
func lower(g *ir.Graph, target string) (*lowered, error) {
	steps, index := WeightSteps(g)
	l := &lowered{plan: &runtime.Plan{Target: target, Weights: steps}}
	arena, _, _ := ir.ArenaStats(g)
	l.plan.ArenaFloats = int(arena / 4)
	widx := func(w *ir.Weight) int {
		if w == nil {
			return -1
		}
		return index[w]
	}
	inputs := g.Inputs()
	if len(inputs) != 1 || len(g.Outputs) != 1 {
		return nil, fmt.Errorf("codegen handles models with one input and one output, this one has %d and %d", len(inputs), len(g.Outputs))
	}
	for _, op := range g.Ops {
		for _, o := range op.Outputs {
			if o.Mem.Size == 0 {
				return nil, fmt.Errorf("codegen needs the memplan pass: %s has no place in the arena", op.Name())
			}
		}
	}
	l.plan.Input = buf(inputs[0])
	l.plan.Output = buf(g.Outputs[0])
	if l.plan.Input.Block != 0 || (l.plan.Output.Block != 0) {
		return nil, fmt.Errorf("codegen needs the model's input and output in Keras's layout (nhwc or nc)")
	}
	for _, op := range g.Ops {
		if op.Kind == ir.Input {
			continue
		}
		s := runtime.Step{Name: op.Name(), Kernel: -1, Bias: -1}
		for _, in := range op.Inputs {
			s.In = append(s.In, buf(in))
		}
		for _, o := range op.Outputs {
			s.Out = append(s.Out, buf(o))
		}
		a := &op.Attrs
		epi := func(steps []ir.Step) {
			for _, st := range steps {
				// One vocabulary (abi.Op): the kind carries over; the
				// operands change form (weights become indices).
				e := runtime.Epi{Op: st.Kind, Arg: st.Arg, Sub: st.Sub, Scale: -1, Shift: -1}
				switch st.Kind {
				case ir.StepAffine:
					e.Scale, e.Shift = widx(st.Scale), widx(st.Shift)
				case ir.StepScale:
					e.Mul, e.Add = float32(st.Mul), float32(st.Add)
				}
				s.Epi = append(s.Epi, e)
			}
		}
		// qw are the weight indices of a u8 value's scale and zero point.
		qw := func(v *ir.Value) (int, int) {
			if v.Q == nil {
				return -1, -1
			}
			return widx(v.Q.Scale), widx(v.Q.Zero)
		}
		none := runtime.QW{XS: -1, XZ: -1, ResS: -1, ResZ: -1, MulS: -1, MulZ: -1, OutS: [2]int{-1, -1}, OutZ: [2]int{-1, -1}}
		switch op.Kind {
		case ir.Quantize:
			s.Kind, s.QW = runtime.OpQuantize, none
			s.QW.OutS[0], s.QW.OutZ[0] = qw(op.Out())
		case ir.Dequantize:
			s.Kind, s.QW = runtime.OpDequantize, none
			s.QW.XS, s.QW.XZ = qw(op.Inputs[0])
		case ir.Conv2D:
			k := op.Param("kernel")
			if k == nil || k.Op != ir.WPack {
				return nil, fmt.Errorf("codegen needs the layout pass: %s has an unpacked kernel", op.Name())
			}
			block, _, _ := ir.PackBlock(k.Layout)
			s.Kind = runtime.OpConv
			s.Kernel, s.Bias = widx(k), widx(op.Param("bias"))
			s.WBlock = block
			_, fam, _ := ir.PackBlock(k.Layout)
			s.Winograd = fam == "wino"
			s.KH, s.KW, s.SH, s.SW = a.Kernel[0], a.Kernel[1], a.Strides[0], a.Strides[1]
			if a.Dilated() {
				s.DH, s.DW = a.Dil()[0], a.Dil()[1]
			}
			if a.G() > 1 {
				s.Groups = a.G()
				if fam == "Ohwi" && s.In[0].Block == block {
					// A narrow grouped conv: one kernel call per block.
					s.Narrow = ir.NarrowGroups(a.G(), s.In[0].C, s.Out[0].C, block)
					s.Groups = s.In[0].CPad() / block
				}
			}
			s.Pad = a.Pad
			s.Flops = 2 * convMACs(&s)
			epi(a.Epi)
			s.NB = 1
			if op.Inputs[0].Type.DType == ir.U8 {
				s.M, s.QW = widx(op.Param("m")), none
				s.QW.XS, s.QW.XZ = qw(op.Inputs[0])
				for _, st := range a.Epi {
					switch st.Kind {
					case ir.StepAdd:
						s.QW.ResS, s.QW.ResZ = qw(op.Inputs[st.Arg])
					case ir.StepMul:
						s.QW.MulS, s.QW.MulZ = qw(op.Inputs[st.Arg])
					}
				}
				for i, o := range op.Outputs {
					s.QW.OutS[i], s.QW.OutZ[i] = qw(o)
				}
			}
		case ir.Eltwise:
			s.Kind, s.Sub0 = runtime.OpEltwise, 1
			epi(a.Epi)
		case ir.Add, ir.Multiply:
			s.Kind, s.Sub0 = runtime.OpEltwise, sub(op, 0)
			kind := ir.StepAdd
			if op.Kind == ir.Multiply {
				kind = ir.StepMul
			}
			var steps []ir.Step
			for i := 1; i < len(op.Inputs); i++ {
				steps = append(steps, ir.Step{Kind: kind, Arg: i, Sub: sub(op, i)})
			}
			epi(steps)
		case ir.Rescale:
			s.Kind, s.Sub0 = runtime.OpEltwise, 1
			epi([]ir.Step{{Kind: ir.StepScale, Sub: 1, Mul: a.Scale, Add: a.Offset}})
		case ir.Affine:
			s.Kind, s.Sub0 = runtime.OpEltwise, 1
			epi([]ir.Step{{Kind: ir.StepAffine, Sub: 1, Scale: op.Param("scale"), Shift: op.Param("shift")}})
		case ir.Activation:
			switch st := ir.ActivationSteps(a.Fn); {
			case a.Fn == ir.Softmax:
				s.Kind = runtime.OpSoftmax
			case st != nil:
				s.Kind, s.Sub0 = runtime.OpEltwise, 1
				epi(st)
			default:
				s.Kind = runtime.OpCopy
			}
		case ir.MaxPool, ir.AvgPool:
			s.Kind = runtime.OpPool
			s.Max, s.PadZero = op.Kind == ir.MaxPool, a.PadZero
			s.KH, s.KW, s.SH, s.SW = a.Kernel[0], a.Kernel[1], a.Strides[0], a.Strides[1]
			s.Pad = a.Pad
			epi(a.Epi)
		case ir.GlobalAvgPool, ir.GlobalMaxPool:
			s.Kind, s.Max = runtime.OpGlobalPool, op.Kind == ir.GlobalMaxPool
		case ir.Dense, ir.Head:
			s.Kind = runtime.OpDense
			if op.Kind == ir.Head {
				s.Kind = runtime.OpHead
				s.Pool = map[string]uint8{"none": 0, "avg": 1, "max": 2}[a.Pooling]
			}
			k := op.Param("kernel")
			if k == nil || k.Op != ir.WPack {
				return nil, fmt.Errorf("codegen needs the layout pass: %s has an unpacked kernel", op.Name())
			}
			s.WBlock, _, _ = ir.PackBlock(k.Layout)
			s.Kernel, s.Bias = widx(k), widx(op.Param("bias"))
			s.Act = map[string]uint8{"": runtime.ActLinear, ir.Linear: runtime.ActLinear, ir.Relu: runtime.ActRelu, ir.Sigmoid: runtime.ActSigmoid, ir.Softmax: runtime.ActSoftmax}[a.Act]
			s.Flops = 2 * int64(op.Inputs[0].Type.C()) * int64(a.Units)
		case ir.Reorder:
			s.Kind = runtime.OpReorder
		case ir.ZeroPad:
			s.Kind, s.Pad, s.PadValue = runtime.OpZeroPad, a.Pad, float32(a.PadValue)
		case ir.Dropout, ir.Flatten:
			s.Kind = runtime.OpCopy
		case ir.BatchNorm:
			return nil, fmt.Errorf("codegen needs the bnfold pass: %s is still a BatchNormalization", op.Name())
		default:
			return nil, fmt.Errorf("codegen cannot lower %s (%s)", op.Name(), op.Kind)
		}
		if s.Kind == runtime.OpPool || s.Kind == runtime.OpEltwise || s.Kind == runtime.OpQuantize || s.Kind == runtime.OpDequantize {
			s.RowTasks = min(s.Out[0].H, 8)
		}
		l.plan.Steps = append(l.plan.Steps, s)
		l.ops = append(l.ops, op)
	}
	return l, nil
}

// convMACs is the multiply-adds a conv step's kernels execute for one
// image: logical channels, padding taps skipped (conv.Spec.MACs, the count
// the kernel generators use), so that a layer's GFLOP/s never credits work
// that is not done. Winograd steps are credited the same direct count.
func convMACs(s *runtime.Step) int64 {
	x := s.In[0]
	rows := conv.Taps(s.OH(), s.SH, s.Pad[0], s.KH, max(s.DH, 1), x.H)
	cols := conv.Taps(s.OW(), s.SW, s.Pad[2], s.KW, max(s.DW, 1), x.W)
	if s.Narrow > 0 {
		return int64(rows) * int64(cols) * int64(s.Narrow) * int64(s.Out[0].C)
	}
	return int64(rows) * int64(cols) * int64(x.C) * int64(s.Out[0].C) / int64(max(s.Groups, 1))
}

func sub(op *ir.Op, i int) int {
	if len(op.Attrs.Sub) == 0 {
		return 1
	}
	return op.Attrs.Sub[i]
}

// split sets a conv step's parallel split: NB output-channel blocks per
// task (the kernel's register tile), and row ranges so that one image gives
// at least 16 tasks where it can. The split depends only on shapes, never
// on the thread count, so results are the same whatever the threads.
func split(s *runtime.Step, nb int) {
	s.NB = nb
	groups := s.Out[0].CPad() / s.WBlock / nb
	s.RowTasks = min(s.Out[0].H, max(1, (16+groups-1)/groups))
}

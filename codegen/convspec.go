package codegen

import (
	"fmt"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
	"github.com/rnc-dev/rnc/codegen/internal/direct"
	"github.com/rnc-dev/rnc/codegen/vnni"
	"github.com/rnc-dev/rnc/codegen/winograd"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/abi"
)

// convEpilogue translates a conv step's epilogue for the assembly kernels,
// if their family accepts it (abi.ConvCaps, the table fuse reads) and its
// operands are in the output's layout (a product's of the output's size);
// ok is false otherwise, and the step runs the portable Go kernel. It
// also reports the residual's size and whether an operand is overwritten
// in place by an output.
func convEpilogue(s *runtime.Step, block int) (epi []conv.Step, resH, resW int, aliased, ok bool) {
	return convSteps(s, &abi.ConvCaps, block, s.Bias >= 0)
}

// convSteps is convEpilogue for the kernel family of capability table
// caps: a leading Bias step when bias is set (the int8 kernels add theirs
// in AccReal).
func convSteps(s *runtime.Step, caps *abi.Caps, block int, bias bool) (epi []conv.Step, resH, resW int, aliased, ok bool) {
	if caps.Check(runtime.CapSteps(s.Epi)) != nil {
		return nil, 0, 0, false, false
	}
	if bias {
		epi = append(epi, conv.Step{Kind: conv.Bias})
	}
	stores := 0
	for _, e := range s.Epi {
		switch e.Op {
		case runtime.EpiRelu:
			epi = append(epi, conv.Step{Kind: conv.Relu})
		case runtime.EpiSigmoid:
			epi = append(epi, conv.Step{Kind: conv.Sigmoid})
		case runtime.EpiScale:
			epi = append(epi, conv.Step{Kind: conv.Scale, A: e.Mul, B: e.Add})
		case runtime.EpiAdd:
			r := s.In[e.Arg]
			if r.Block != block {
				return nil, 0, 0, false, false
			}
			resH, resW = r.H, r.W
			epi = append(epi, conv.Step{Kind: conv.AddResidual, ResStride: max(e.Sub, 1)})
			aliased = aliased || overwrites(s, r)
		case runtime.EpiMul:
			r, o := s.In[e.Arg], s.Out[0]
			if r.Block != block || r.H != o.H || r.W != o.W || r.CPad() != o.CPad() {
				return nil, 0, 0, false, false
			}
			epi = append(epi, conv.Step{Kind: conv.Mul})
			aliased = aliased || overwrites(s, r)
		case runtime.EpiAffine:
			epi = append(epi, conv.Step{Kind: conv.Affine})
		case runtime.EpiOut:
			stores++
			epi = append(epi, conv.Step{Kind: conv.Store})
		default:
			panic(fmt.Sprintf("codegen: a capability table accepts %v, which convSteps does not translate", e.Op))
		}
	}
	if stores == 0 {
		epi = append(epi, conv.Step{Kind: conv.Store})
	} else {
		epi = append(epi, conv.Step{Kind: conv.Store, Out: 1})
	}
	return epi, resH, resW, aliased, true
}

// convU8Kernel describes the int8 kernel of an int8 conv step (codegen/vnni)
// on a target with the DirectU8 family, as convKernel does.
func convU8Kernel(t passes.Target, s *runtime.Step) (key string, emit func(ctxEmitter, string) error, nb int, ok bool) {
	if !t.Desc().Has(abi.DirectU8) || s.WBlock != vnni.Block || s.DH > 1 || s.DW > 1 {
		return "", nil, 0, false
	}
	epi, resH, resW, aliased, ok := convSteps(s, vnni.Caps, vnni.Block, false)
	if !ok {
		return "", nil, 0, false
	}
	if aliased {
		for _, e := range s.Epi { // in place only over an operand read at stride 1
			if e.Op == runtime.EpiAdd && e.Sub > 1 && overwrites(s, s.In[e.Arg]) {
				return "", nil, 0, false
			}
		}
	}
	x := s.In[0]
	spec := vnni.ConvSpec{IC: x.C, OC: s.Out[0].C, H: x.H, W: x.W, KH: s.KH, KW: s.KW, SH: s.SH, SW: s.SW,
		PadT: s.Pad[0], PadB: s.Pad[1], PadL: s.Pad[2], PadR: s.Pad[3], ResH: resH, ResW: resW, Epilogue: epi}
	if spec.Validate() != nil {
		return "", nil, 0, false
	}
	tiling := vnni.ChooseTiling(&spec)
	return fmt.Sprintf("vnni %+v", spec), func(c ctxEmitter, name string) error {
		_, err := vnni.Generate(c.ctx, name, &spec)
		return err
	}, tiling.NB, true
}

// overwrites reports whether an output of s is the buffer r.
func overwrites(s *runtime.Step, r runtime.Buf) bool {
	for _, o := range s.Out {
		if o.Off == r.Off {
			return true
		}
	}
	return false
}

// convKernel describes the assembly kernel for a conv step on target t:
// a key identifying it (identical kernels are emitted once), the emitter,
// and the register tile's output-channel blocks (the step's split unit).
// ok is false when t has no direct-conv family or the step needs the Go
// kernel (a dilated conv does, on every target: the assembly kernels take
// adjacent taps only).
func convKernel(t passes.Target, s *runtime.Step) (key string, emit func(ctxEmitter, string) error, nb int, ok bool) {
	d, gen := t.Desc(), backends[t].direct
	block := d.Block
	if !d.Has(abi.Direct) || gen == nil || s.WBlock != block || s.DH > 1 || s.DW > 1 {
		return "", nil, 0, false
	}
	x := s.In[0]
	nhwc := x.Block == 0
	if nhwc && x.C > block || !nhwc && x.Block != block {
		return "", nil, 0, false
	}
	epi, resH, resW, aliased, ok := convEpilogue(s, block)
	if !ok {
		return "", nil, 0, false
	}
	g := max(s.Groups, 1) // a grouped conv: one group's kernel, called on each group's blocks
	if g > 1 && (nhwc || x.C%(g*block) != 0 || s.Out[0].C%(g*block) != 0) {
		return "", nil, 0, false
	}
	k, ok := gen(direct.Request{IC: x.C / g, OC: s.Out[0].C / g, H: x.H, W: x.W, KH: s.KH, KW: s.KW, SH: s.SH, SW: s.SW,
		PadT: s.Pad[0], PadB: s.Pad[1], PadL: s.Pad[2], PadR: s.Pad[3], FirstNHWC: nhwc, ResH: resH, ResW: resW,
		Epilogue: epi, InPlace: aliased, Narrow: s.Narrow})
	if !ok {
		return "", nil, 0, false
	}
	return k.Key, func(c ctxEmitter, name string) error { return k.Emit(c.ctx, name) }, k.NB, true
}

// winogradKernel describes the Winograd kernel for a conv step with
// Winograd weights (targets with the Winograd family: AVX-512), as
// convKernel does for direct ones; it
// also gives the per-thread workspace the kernel needs.
func winogradKernel(t passes.Target, s *runtime.Step) (key string, emit func(ctxEmitter, string) error, ws int, ok bool) {
	x, out := s.In[0], s.Out[0]
	d := t.Desc()
	if !d.Has(abi.Winograd) || x.Block != d.Block || out.Block != d.Block {
		return "", nil, 0, false
	}
	epi, resH, resW, aliased, ok := convEpilogue(s, d.Block)
	if !ok {
		return "", nil, 0, false
	}
	if aliased {
		// In place is safe when the operand an output overwrites is read
		// at stride 1: each element is read right before it is written.
		for _, e := range s.Epi {
			if (e.Op == runtime.EpiAdd || e.Op == runtime.EpiMul) && e.Sub != 1 && overwrites(s, s.In[e.Arg]) {
				return "", nil, 0, false
			}
		}
	}
	spec := winograd.Spec{IC: x.C, OC: out.C, H: x.H, W: x.W, PadT: s.Pad[0], PadB: s.Pad[1], PadL: s.Pad[2], PadR: s.Pad[3],
		ResH: resH, ResW: resW, Epilogue: epi}
	return fmt.Sprintf("winograd %+v", spec), func(c ctxEmitter, name string) error {
		return winograd.Generate(c.ctx, name, &spec)
	}, runtime.WinogradWorkspace(x.C, out.C, x.H, x.W, s.Pad[0], s.Pad[1], s.Pad[2], s.Pad[3]), true
}

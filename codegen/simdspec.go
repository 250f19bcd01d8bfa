package codegen

import (
	"fmt"

	"github.com/rnc-dev/rnc/codegen/simd"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/abi"
)

// simdWidth is the vector width of a target's simd kernels, in floats
// (0: portable).
func simdWidth(t passes.Target) simd.Width {
	return simd.Width(t.Desc().VectorBytes / abi.F32.Size())
}

// mapEpi translates a pooling or eltwise step's epilogue for the simd
// kernels, if their family accepts it (abi.MapCaps, the table fuse reads)
// and its residual is in the output's layout and size.
func mapEpi(s *runtime.Step) ([]simd.Epi, bool) {
	if abi.MapCaps.Check(runtime.CapSteps(s.Epi)) != nil {
		return nil, false
	}
	var epi []simd.Epi // the same kinds: only the operands' form differs
	for _, e := range s.Epi {
		if e.Op == runtime.EpiAdd {
			r, o := s.In[e.Arg], s.Out[0]
			if r.Block != o.Block || r.H != o.H || r.W != o.W || r.C != o.C {
				return nil, false
			}
		}
		epi = append(epi, e.Op)
	}
	return epi, true
}

// simdKernel describes the simd kernel for a step, or ok = false: key
// identifies it (identical kernels are emitted once) and emit generates it.
func simdKernel(t passes.Target, s *runtime.Step) (key string, emit func(ctxEmitter, string) error, ok bool) {
	w, d := simdWidth(t), t.Desc()
	if w == 0 || int(w) != d.Block {
		return "", nil, false
	}
	B := d.Block
	family := map[runtime.OpKind]abi.Family{runtime.OpPool: abi.Pool, runtime.OpEltwise: abi.Eltwise, runtime.OpHead: abi.Head}
	if f, ok := family[s.Kind]; !ok || !d.Has(f) {
		return "", nil, false
	}
	switch s.Kind {
	case runtime.OpPool:
		x := s.In[0]
		epi, ok := mapEpi(s)
		if !ok || x.Block != B || s.Out[0].Block != B {
			return "", nil, false
		}
		spec := simd.PoolSpec{C: x.C, H: x.H, W: x.W, KH: s.KH, KW: s.KW, SH: s.SH, SW: s.SW,
			PadT: s.Pad[0], PadB: s.Pad[1], PadL: s.Pad[2], PadR: s.Pad[3], Max: s.Max, PadZero: s.PadZero, Epi: epi}
		return fmt.Sprintf("pool%d %+v", w, spec), func(c ctxEmitter, name string) error { return simd.Pool(c.ctx, w, name, &spec) }, true
	case runtime.OpEltwise:
		x := s.In[0]
		epi, ok := mapEpi(s)
		if !ok || s.Sub0 != 1 || x.Block != B || s.Out[0].Block != B {
			return "", nil, false
		}
		spec := simd.EltSpec{C: x.C, H: x.H, W: x.W, Epi: epi}
		return fmt.Sprintf("elt%d %+v", w, spec), func(c ctxEmitter, name string) error { return simd.Eltwise(c.ctx, w, name, &spec) }, true
	case runtime.OpHead:
		x := s.In[0]
		if s.WBlock != B || (s.Pool != 0 && x.Block != B) || (s.Pool == 0 && !x.Vec) {
			return "", nil, false
		}
		spec := simd.HeadSpec{C: x.C, H: x.H, W: x.W, Pool: int(s.Pool), Units: s.Out[0].C, Bias: s.Bias >= 0}
		return fmt.Sprintf("head%d %+v", w, spec), func(c ctxEmitter, name string) error { return simd.Head(c.ctx, w, name, &spec) }, true
	}
	return "", nil, false
}

package codegen

import (
	"github.com/rnc-dev/rnc/codegen/avx512"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
)

// avx512Spec describes a conv step for the AVX-512 kernel generator; ok is
// false when the target is not avx512 or the epilogue needs steps the
// kernels do not have (sigmoid, multiply, several residual adds): such a
// step runs the portable Go kernel.
func avx512Spec(t passes.Target, s *runtime.Step) (spec avx512.ConvSpec, ok bool) {
	if t != passes.AVX512 || s.WBlock != 16 {
		return spec, false
	}
	x, out := s.In[0], s.Out[0]
	spec = avx512.ConvSpec{
		IC: x.C, OC: out.C, H: x.H, W: x.W, KH: s.KH, KW: s.KW, SH: s.SH, SW: s.SW,
		PadT: s.Pad[0], PadB: s.Pad[1], PadL: s.Pad[2], PadR: s.Pad[3],
		FirstNHWC: x.Block == 0,
	}
	if spec.FirstNHWC && x.C > 16 || !spec.FirstNHWC && x.Block != 16 {
		return spec, false
	}
	if s.Bias >= 0 {
		spec.Epilogue = append(spec.Epilogue, avx512.Step{Kind: avx512.Bias})
	}
	adds, affines, stores := 0, 0, 0
	aliased := false
	for _, e := range s.Epi {
		switch e.Op {
		case runtime.EpiRelu:
			spec.Epilogue = append(spec.Epilogue, avx512.Step{Kind: avx512.Relu})
		case runtime.EpiAdd:
			r := s.In[e.Arg]
			if adds++; adds > 1 || (e.Sub != 1 && e.Sub != 2) || r.Block != 16 {
				return spec, false
			}
			spec.ResH, spec.ResW = r.H, r.W
			spec.Epilogue = append(spec.Epilogue, avx512.Step{Kind: avx512.AddResidual, ResStride: e.Sub})
			for _, o := range s.Out {
				aliased = aliased || o.Off == r.Off
			}
		case runtime.EpiAffine:
			if affines++; affines > 1 {
				return spec, false
			}
			spec.Epilogue = append(spec.Epilogue, avx512.Step{Kind: avx512.Affine})
		case runtime.EpiOut:
			if stores++; stores > 1 {
				return spec, false
			}
			spec.Epilogue = append(spec.Epilogue, avx512.Step{Kind: avx512.Store0})
		default:
			return spec, false
		}
	}
	if stores == 0 {
		spec.Epilogue = append(spec.Epilogue, avx512.Step{Kind: avx512.Store0})
	} else {
		spec.Epilogue = append(spec.Epilogue, avx512.Step{Kind: avx512.Store1})
	}
	if aliased {
		// The residual is written over in place: chunked reductions keep
		// partial sums in out0, so reduce in one pass.
		spec.ICC = spec.ICB()
	}
	if spec.Validate() != nil {
		return spec, false
	}
	return spec, true
}

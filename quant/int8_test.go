package quant

import (
	"testing"

	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
	"github.com/rnc-dev/rnc/runtime"
)

// blocked turns image i of a logical NHWC map of codes (n images) into
// uint8 nChw16c.
func blocked(v []float32, t ir.Type, i int) []uint8 {
	H, W, C := t.H(), t.W(), t.C()
	cb := (C + 15) / 16
	out := make([]uint8, cb*H*W*16)
	img := v[i*H*W*C:]
	for h := 0; h < H; h++ {
		for w := 0; w < W; w++ {
			for c := 0; c < C; c++ {
				out[((c/16*H+h)*W+w)*16+c%16] = uint8(img[(h*W+w)*C+c])
			}
		}
	}
	return out
}

// pad16 pads a per-channel vector to whole 16-channel blocks with zeros.
func pad16(v []float32) []float32 {
	out := make([]float32, (len(v)+15)/16*16)
	copy(out, v)
	return out
}

// TestInt8ReferencesAgree: on every int8 conv of tinyv2 calibrated on the
// digits data — residual adds at strides 1 and 2, the pre-activation
// dual outputs, affine and relu epilogues — the interpreter's integer
// reference (the interpreter on the int8 graph, its own code) and the runtime's
// (runtime.ConvU8, which the VNNI kernels equal bit for bit: codegen/vnni
// TestKernels) give the same output bytes on real activations. The two
// share only abi's arithmetic definitions, so this ties the oracle to
// the kernels.
func TestInt8ReferencesAgree(t *testing.T) {
	d := loadDigits(t)
	calib := d.calib
	r, err := Calibrate(d.g, d.w, calib, d.nCalib, Options{})
	if err != nil {
		t.Fatal(err)
	}
	g8, w8, err := r.Int8Graph()
	if err != nil {
		t.Fatal(err)
	}
	it, err := interp.New(g8, w8)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[*ir.Value][]float32{}
	const n = 2
	per := len(calib) / d.nCalib
	if _, err := it.RunObserved(calib[:n*per], n, func(op *ir.Op, outs [][]float32) {
		for i, o := range op.Outputs {
			codes[o] = append([]float32(nil), outs[i]...)
		}
	}); err != nil {
		t.Fatal(err)
	}
	// eval evaluates weights of the int8 graph (the interpreter's own
	// weight program: packed as the runtime packs them).
	eval := func(ws ...*ir.Weight) [][]float32 {
		v, err := interp.EvalWeights(g8, w8, ws)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	quant := func(v *ir.Value) (float32, int32) {
		p := eval(v.Q.Scale, v.Q.Zero)
		return p[0][0], int32(p[1][0])
	}
	var convs []*ir.Op
	for _, op := range g8.Ops {
		if op.Kind == ir.Conv2D && op.Inputs[0].Type.DType == ir.U8 {
			convs = append(convs, op)
		}
	}
	checked, stride2, dual, affine := 0, 0, 0, 0
	for _, op := range convs {
		a := &op.Attrs
		xt, ot := op.Inputs[0].Type, op.Out().Type
		cv := &runtime.ConvU8{IC: xt.C(), OC: ot.C(), H: xt.H(), W: xt.W(), KH: a.Kernel[0], KW: a.Kernel[1],
			SH: a.Strides[0], SW: a.Strides[1], Pad: a.Pad}
		p := eval(op.Param("kernel"), op.Param("m"), op.Param("bias"))
		wt := make([]int8, len(p[0]))
		for i, c := range p[0] {
			wt[i] = int8(c)
		}
		for img := 0; img < n; img++ {
			args := &runtime.ConvU8Args{In: blocked(codes[op.Inputs[0]], xt, img), Wt: wt, M: p[1], B: p[2]}
			cv.Epi = nil
			for _, st := range a.Epi {
				e := runtime.Epi{Op: st.Kind, Sub: st.Sub, Mul: float32(st.Mul), Add: float32(st.Add)}
				cv.Epi = append(cv.Epi, e)
				switch st.Kind {
				case ir.StepAdd, ir.StepMul:
					v := op.Inputs[st.Arg]
					s, z := quant(v)
					if st.Kind == ir.StepAdd {
						args.Res, args.Q.Res = blocked(codes[v], v.Type, img), runtime.U8Quant{S: s, Z: z}
						cv.ResH, cv.ResW = v.Type.H(), v.Type.W()
						if st.Sub == 2 && img == 0 {
							stride2++
						}
					} else {
						args.Mul, args.Q.Mul = blocked(codes[v], v.Type, img), runtime.U8Quant{S: s, Z: z}
					}
				case ir.StepAffine:
					ws := eval(st.Scale, st.Shift)
					args.Scale, args.Shift = ws[0], ws[1]
					if img == 0 {
						affine++
					}
				}
			}
			for k, o := range op.Outputs {
				s, z := quant(o)
				args.Q.Out[k] = runtime.U8Out{Inv: 1 / s, Z: z}
				args.Out = append(args.Out, make([]uint8, cv.OCB()*16*cv.OH()*cv.OW()))
			}
			if len(op.Outputs) == 2 && img == 0 {
				dual++
			}
			if err := cv.Run(args, 0, cv.OCB(), 0, cv.OH()); err != nil {
				t.Fatalf("%s: %v", op.Name(), err)
			}
			for k, o := range op.Outputs {
				want := blocked(codes[o], o.Type, img)
				for i := range want {
					if lane := i % 16; (i/16/(cv.OH()*cv.OW()))*16+lane >= ot.C() {
						continue // pad channels
					}
					if args.Out[k][i] != want[i] {
						t.Fatalf("%s output %d image %d: byte %d is %d in runtime.ConvU8, %d in the interpreter", op.Name(), k, img, i, args.Out[k][i], want[i])
					}
				}
			}
		}
		checked++
	}
	t.Logf("%d int8 convs agree byte for byte on %d images (%d with a stride-2 residual, %d with two outputs, %d with an affine)", checked, n, stride2, dual, affine)
	if checked < 10 || stride2 == 0 || dual == 0 || affine == 0 {
		t.Errorf("the model did not exercise the epilogues: %d convs, %d stride-2, %d dual, %d affine", checked, stride2, dual, affine)
	}
}

package interp

import (
	"fmt"
	"math"

	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/runtime/abi"
)

// The int8 ops (ir/ops.go): a u8 value holds its codes q (0..255, as
// float32 here) and carries its scale and zero point as weights (Value.Q).
// Quantize and Dequantize convert with abi.QuantizeU8 and abi.Dequant; an
// int8 Conv2D (conv8) sums q_x·q_w exactly in int32 and applies its
// epilogue with the arithmetic of runtime/abi/int8.go operation for
// operation (the order and roundings of runtime.ConvU8 and the VNNI
// kernels), its own code here. Run on a graph the quantize pass made is
// the integer reference every int8 kernel and package must equal bit for
// bit.

// qparams are a u8 value's scale and zero point.
func (it *Interp) qparams(v *ir.Value) (scale float32, zero int32) {
	return it.weights[v.Q.Scale][0], int32(it.weights[v.Q.Zero][0])
}

// checkInt8 refuses quantization parameters and int8 kernels the
// arithmetic is not defined for, naming the weight: a scale that is not a
// positive finite number, a zero point outside 0..255 or not an integer,
// an int8 conv whose input zero point is not 0 (its padding taps add
// q = 0, which must be the real 0), a kernel code outside −127..127.
func (it *Interp) checkInt8() error {
	for _, op := range it.g.Ops {
		for _, o := range op.Outputs {
			if o.Q == nil {
				continue
			}
			s, z := it.weights[o.Q.Scale], it.weights[o.Q.Zero]
			if len(s) != 1 || !(s[0] > 0) || math.IsInf(float64(s[0]), 0) {
				return fmt.Errorf("interp: %s: the scale %s of %s is %v, want one positive finite number", op.Name(), o.Q.Scale.Name, o.Name(), s)
			}
			if len(z) != 1 || z[0] < 0 || z[0] > 255 || z[0] != float32(int32(z[0])) {
				return fmt.Errorf("interp: %s: the zero point %s of %s is %v, want one integer in 0..255", op.Name(), o.Q.Zero.Name, o.Name(), z)
			}
		}
	}
	for _, op := range it.g.Ops {
		if op.Kind != ir.Conv2D || op.Inputs[0].Type.DType != ir.U8 {
			continue
		}
		x := op.Inputs[0]
		if _, z := it.qparams(x); z != 0 {
			return fmt.Errorf("interp: int8 conv %s: its input's zero point %s is %d, want 0", op.Name(), x.Q.Zero.Name, z)
		}
		k := op.Param("kernel")
		for i, c := range it.weights[k] {
			if c < -127 || c > 127 || c != float32(int32(c)) {
				return fmt.Errorf("interp: int8 conv %s: kernel %s holds %v at flat index %d, want an integer in −127..127", op.Name(), logical(k).Name, c, i)
			}
		}
	}
	return nil
}

// quantize is the Quantize op: codes of y's parameters.
func (it *Interp) quantize(op *ir.Op, x []float32) []float32 {
	s, z := it.qparams(op.Out())
	inv := 1 / s
	out := make([]float32, len(x))
	for i, r := range x {
		out[i] = float32(abi.QuantizeU8(r, inv, z))
	}
	return out
}

// dequantize is the Dequantize op: real values of x's codes.
func (it *Interp) dequantize(op *ir.Op, x []float32) []float32 {
	s, z := it.qparams(op.Inputs[0])
	out := make([]float32, len(x))
	for i, c := range x {
		out[i] = abi.Dequant(uint8(c), z, s)
	}
	return out
}

// conv8 is an int8 convolution with its epilogue, on uint8 codes, giving
// uint8 codes.
func (it *Interp) conv8(op *ir.Op, in [][]float32, n int) [][]float32 {
	a := &op.Attrs
	xt, ot := op.Inputs[0].Type, op.Out().Type
	H, W, C := xt.H(), xt.W(), xt.C()
	OH, OW, F := ot.H(), ot.W(), ot.C()
	kh, kw := a.Kernel[0], a.Kernel[1]
	m := it.weights[op.Param("m")] // s_w·s_x, rounded to float32 by the weight program
	bias := it.vec(op.Param("bias"), F)
	kernel := it.weights[op.Param("kernel")] // HWIO codes
	outs := make([][]float32, len(op.Outputs))
	inv := make([]float32, len(op.Outputs))
	zero := make([]int32, len(op.Outputs))
	for i, o := range op.Outputs {
		outs[i] = make([]float32, n*OH*OW*F)
		s, z := it.qparams(o)
		inv[i], zero[i] = 1/s, z
	}
	// The epilogue operands as real values, read at their strides.
	operand := make([][]float32, len(op.Inputs))
	for _, st := range a.Epi {
		if st.Kind == ir.StepAdd || st.Kind == ir.StepMul {
			v := op.Inputs[st.Arg]
			ps, pz := it.qparams(v)
			r := strided(in[st.Arg], n, v.Type, ot, st.Sub)
			d := make([]float32, len(r))
			for i, code := range r {
				d[i] = abi.Dequant(uint8(code), pz, ps)
			}
			operand[st.Arg] = d
		}
	}
	acc := make([]int32, F)
	for b := 0; b < n; b++ {
		img := in[0][b*H*W*C:]
		for oh := 0; oh < OH; oh++ {
			for ow := 0; ow < OW; ow++ {
				clear(acc)
				for dh := 0; dh < kh; dh++ {
					ih := oh*a.Strides[0] - a.Pad[0] + dh
					if ih < 0 || ih >= H {
						continue
					}
					for dw := 0; dw < kw; dw++ {
						iw := ow*a.Strides[1] - a.Pad[2] + dw
						if iw < 0 || iw >= W {
							continue
						}
						px := img[(ih*W+iw)*C:][:C]
						kk := kernel[(dh*kw+dw)*C*F:]
						for ch, xv := range px {
							qx := int32(xv)
							for f, wv := range kk[ch*F:][:F] {
								acc[f] += qx * int32(wv)
							}
						}
					}
				}
				at := ((b*OH+oh)*OW + ow) * F
				for f := 0; f < F; f++ {
					v := abi.AccReal(acc[f], m[f], bias[f])
					out := 0
					for _, st := range a.Epi {
						switch st.Kind {
						case ir.StepRelu:
							if v < 0 {
								v = 0
							}
						case ir.StepAdd:
							v += operand[st.Arg][at+f]
						case ir.StepMul:
							v = float32(v * operand[st.Arg][at+f])
						case ir.StepAffine:
							s, t := it.vec(st.Scale, F), it.vec(st.Shift, F)
							v = float32(v*s[f]) + t[f]
						case ir.StepScale:
							v = float32(v*float32(st.Mul)) + float32(st.Add)
						case ir.StepOut:
							outs[out][at+f] = float32(abi.QuantizeU8(v, inv[out], zero[out]))
							out++
						}
					}
					outs[out][at+f] = float32(abi.QuantizeU8(v, inv[out], zero[out]))
				}
			}
		}
	}
	return outs
}

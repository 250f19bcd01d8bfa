package interp

import (
	"fmt"
	"math"

	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/runtime/abi"
)

// Int8 describes an int8 run of a lowered float32 graph (RunInt8): which
// values are uint8 tensors, with their scale and zero point, and which
// convolutions compute in int8, with their int8 kernels. Package quant
// makes one from its calibration (quant.Result.Int8).
type Int8 struct {
	Tensors map[*ir.Value]QParams
	Convs   map[*ir.Op]Int8Conv
}

// QParams are a uint8 tensor's scale and zero point: real = Scale·(q − Zero).
type QParams struct {
	Scale float32
	Zero  int32
}

// Int8Conv is an int8 convolution's weights: its kernel in HWIO order,
// int8 in −127..127, the per-output-channel scales and the bias in real
// units (nil: none).
type Int8Conv struct {
	Kernel []int8
	Scale  []float32
	Bias   []float32
}

// RunInt8 runs the graph as int8 inference computes it: the integer
// reference. A uint8 value holds its codes q (0..255, as float32 here). An
// int8 conv sums q_x·q_w exactly in int32 and applies its epilogue with
// the arithmetic of runtime/abi/int8.go operation for operation (the
// order and roundings of runtime.ConvU8 and the VNNI kernels), its own
// code here. Every other op reads its uint8 inputs dequantized
// (abi.Dequant), computes as in Run, and quantizes the outputs that are
// uint8 tensors (abi.QuantizeU8). The graph's outputs come back as real
// values. observe (nil: none) sees every op's outputs as RunObserved's
// observer does — a uint8 tensor as its codes.
func (it *Interp) RunInt8(input []float32, n int, q *Int8, observe Observer) (outs [][]float32, err error) {
	for op, c := range q.Convs {
		if err := it.checkInt8Conv(op, c, q); err != nil {
			return nil, err
		}
	}
	for v, p := range q.Tensors {
		if !(p.Scale > 0) || math.IsInf(float64(p.Scale), 0) || p.Zero < 0 || p.Zero > 255 {
			return nil, fmt.Errorf("interp: int8: value %s: scale %g, zero point %d", v.Name(), p.Scale, p.Zero)
		}
	}
	dequant := func(v *ir.Value, x []float32) []float32 {
		p, ok := q.Tensors[v]
		if !ok {
			return x
		}
		out := make([]float32, len(x))
		for i, c := range x {
			out[i] = abi.Dequant(uint8(c), p.Zero, p.Scale)
		}
		return out
	}
	quantize := func(v *ir.Value, x []float32) {
		p, ok := q.Tensors[v]
		if !ok {
			return
		}
		inv := 1 / p.Scale
		for i, r := range x {
			x[i] = float32(abi.QuantizeU8(r, inv, p.Zero))
		}
	}
	outs, err = it.runWith(input, n, func(op *ir.Op, in [][]float32) [][]float32 {
		if c, ok := q.Convs[op]; ok {
			return it.conv8(op, c, in, n, q)
		}
		for i, v := range op.Inputs {
			in[i] = dequant(v, in[i])
		}
		vals := it.exec(op, in, n)
		for i, o := range op.Outputs {
			quantize(o, vals[i])
		}
		return vals
	}, func(op *ir.Op, vals [][]float32) {
		if op.Kind == ir.Input {
			quantize(op.Out(), vals[0])
		}
		if observe != nil {
			observe(op, vals)
		}
	})
	if err != nil {
		return nil, err
	}
	for i, o := range it.g.Outputs {
		outs[i] = dequant(o, outs[i])
	}
	return outs, nil
}

// checkInt8Conv checks what an int8 conv needs: a quantized input of zero
// point 0, weights of the kernel's size, an epilogue the int8 kernels
// take (no sigmoid), quantized outputs and operands.
func (it *Interp) checkInt8Conv(op *ir.Op, c Int8Conv, q *Int8) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("interp: int8 conv %s: %s", op.Name(), fmt.Sprintf(format, args...))
	}
	if op.Kind != ir.Conv2D {
		return fail("is a %v, not a Conv2D", op.Kind)
	}
	x, ok := q.Tensors[op.Inputs[0]]
	if !ok || x.Zero != 0 {
		return fail("its input is not a uint8 tensor of zero point 0 (%v, %+v)", ok, x)
	}
	a := &op.Attrs
	xt, ot := op.Inputs[0].Type, op.Out().Type
	if a.Dilated() {
		return fail("dilated")
	}
	if terms := int64(xt.C()) * int64(a.Kernel[0]) * int64(a.Kernel[1]); terms > abi.MaxAccTerms {
		return fail("%d products per output, more than abi.MaxAccTerms", terms)
	}
	if want := a.Kernel[0] * a.Kernel[1] * xt.C() * ot.C(); len(c.Kernel) != want || len(c.Scale) != ot.C() || c.Bias != nil && len(c.Bias) != ot.C() {
		return fail("%d weights, %d scales, %d biases for a %dx%d kernel of %d→%d channels", len(c.Kernel), len(c.Scale), len(c.Bias), a.Kernel[0], a.Kernel[1], xt.C(), ot.C())
	}
	for _, st := range a.Epi {
		switch st.Kind {
		case ir.StepSigmoid:
			return fail("a sigmoid in its epilogue (the int8 kernels have none)")
		case ir.StepAdd, ir.StepMul:
			if _, ok := q.Tensors[op.Inputs[st.Arg]]; !ok {
				return fail("its %v operand %s is not a uint8 tensor", st.Kind, op.Inputs[st.Arg].Name())
			}
		}
	}
	for _, o := range op.Outputs {
		if _, ok := q.Tensors[o]; !ok {
			return fail("its output %s is not a uint8 tensor", o.Name())
		}
	}
	return nil
}

// conv8 is an int8 convolution with its epilogue, on uint8 codes, giving
// uint8 codes.
func (it *Interp) conv8(op *ir.Op, c Int8Conv, in [][]float32, n int, q *Int8) [][]float32 {
	a := &op.Attrs
	xt, ot := op.Inputs[0].Type, op.Out().Type
	H, W, C := xt.H(), xt.W(), xt.C()
	OH, OW, F := ot.H(), ot.W(), ot.C()
	kh, kw := a.Kernel[0], a.Kernel[1]
	sx := q.Tensors[op.Inputs[0]].Scale
	m := make([]float32, F)
	for f := range m {
		m[f] = sx * c.Scale[f] // rounded to float32, as the weight program does
	}
	outs := make([][]float32, len(op.Outputs))
	inv := make([]float32, len(op.Outputs))
	for i, o := range op.Outputs {
		outs[i] = make([]float32, n*OH*OW*F)
		inv[i] = 1 / q.Tensors[o].Scale
	}
	// The epilogue operands as real values, read at their strides.
	operand := make([][]float32, len(op.Inputs))
	for _, st := range a.Epi {
		if st.Kind == ir.StepAdd || st.Kind == ir.StepMul {
			v := op.Inputs[st.Arg]
			p := q.Tensors[v]
			r := strided(in[st.Arg], n, v.Type, ot, st.Sub)
			d := make([]float32, len(r))
			for i, code := range r {
				d[i] = abi.Dequant(uint8(code), p.Zero, p.Scale)
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
						kk := c.Kernel[(dh*kw+dw)*C*F:]
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
					var bias float32
					if c.Bias != nil {
						bias = c.Bias[f]
					}
					v := abi.AccReal(acc[f], m[f], bias)
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
							outs[out][at+f] = float32(abi.QuantizeU8(v, inv[out], q.Tensors[op.Outputs[out]].Zero))
							out++
						}
					}
					outs[out][at+f] = float32(abi.QuantizeU8(v, inv[out], q.Tensors[op.Outputs[out]].Zero))
				}
			}
		}
	}
	return outs
}

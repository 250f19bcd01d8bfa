package interp

import (
	"fmt"
	"math"

	"github.com/rnc-dev/rnc/ir"
)

// exec computes op's outputs (logical order) from its inputs (logical).
func (it *Interp) exec(op *ir.Op, in [][]float32, n int) [][]float32 {
	a := &op.Attrs
	x := op.Inputs[0].Type
	one := func(v []float32) [][]float32 { return [][]float32{v} }
	switch op.Kind {
	case ir.Conv2D:
		if x.DType == ir.U8 {
			return it.conv8(op, in, n)
		}
		acc := it.conv(op, in[0], n)
		return it.epilogue(op, acc, in, n)
	case ir.BatchNorm:
		g, b := it.weights[op.Param("gamma")], it.weights[op.Param("beta")]
		m, v := it.weights[op.Param("moving_mean")], it.weights[op.Param("moving_variance")]
		c := x.C()
		out := make([]float32, len(in[0]))
		for i, xv := range in[0] {
			k := i % c
			out[i] = float32((float64(xv)-float64(m[k]))/math.Sqrt(float64(v[k])+a.Eps)*float64(g[k]) + float64(b[k]))
		}
		return one(out)
	case ir.Activation:
		return one(activate(a.Fn, in[0], x.C()))
	case ir.Dropout, ir.Reorder, ir.Flatten:
		return one(in[0])
	case ir.Quantize:
		return one(it.quantize(op, in[0]))
	case ir.Dequantize:
		return one(it.dequantize(op, in[0]))
	case ir.ZeroPad:
		return one(zeroPad(in[0], n, x, a.Pad, float32(a.PadValue)))
	case ir.MaxPool, ir.AvgPool:
		p := pool(op.Kind, in[0], n, x, op.Out().Type, a)
		acc := make([]float64, len(p))
		for i, v := range p {
			acc[i] = float64(v)
		}
		return it.epilogue(op, acc, in, n)
	case ir.GlobalAvgPool, ir.GlobalMaxPool:
		return one(globalPool(op.Kind == ir.GlobalMaxPool, in[0], n, x))
	case ir.Add, ir.Multiply:
		out := op.Out().Type
		res := make([]float64, n*elems(out))
		for i := range op.Inputs {
			sub := 1
			if len(a.Sub) > 0 {
				sub = a.Sub[i]
			}
			v := strided(in[i], n, op.Inputs[i].Type, out, sub)
			for j := range res {
				switch {
				case i == 0:
					res[j] = float64(v[j])
				case op.Kind == ir.Add:
					res[j] += float64(v[j])
				default:
					res[j] *= float64(v[j])
				}
			}
		}
		return one(toF32(res))
	case ir.Dense:
		return one(dense(in[0], x.C(), a.Units, it.weights[op.Param("kernel")], it.vec(op.Param("bias"), a.Units), a.Act))
	case ir.Rescale:
		out := make([]float32, len(in[0]))
		for i, xv := range in[0] {
			out[i] = float32(float64(xv)*a.Scale + a.Offset)
		}
		return one(out)
	case ir.Affine:
		s, t := it.weights[op.Param("scale")], it.weights[op.Param("shift")]
		c := x.C()
		out := make([]float32, len(in[0]))
		for i, xv := range in[0] {
			out[i] = float32(float64(xv)*float64(s[i%c]) + float64(t[i%c]))
		}
		return one(out)
	case ir.Eltwise:
		acc := make([]float64, len(in[0]))
		for i, v := range in[0] {
			acc[i] = float64(v)
		}
		return it.epilogue(op, acc, in, n)
	case ir.Head:
		v, c := in[0], x.C()
		if a.Pooling != "none" {
			v = globalPool(a.Pooling == "max", v, n, x)
		}
		return one(dense(v, c, a.Units, it.weights[op.Param("kernel")], it.vec(op.Param("bias"), a.Units), a.Act))
	}
	panic(fmt.Sprintf("no interpreter rule for %s", op.Kind))
}

func elems(t ir.Type) int {
	n := 1
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

func toF32(v []float64) []float32 {
	r := make([]float32, len(v))
	for i, x := range v {
		r[i] = float32(x)
	}
	return r
}

func toF64(v []float32) []float64 {
	r := make([]float64, len(v))
	for i, x := range v {
		r[i] = float64(x)
	}
	return r
}

// vec returns a per-channel vector of c values, nil for a missing weight.
func (it *Interp) vec(w *ir.Weight, c int) []float32 {
	if w == nil {
		return nil
	}
	return it.weights[w][:c]
}

// conv computes the convolution plus bias directly, in float64, from the
// HWIO kernel — a Winograd-transformed conv included: the oracle of the
// Winograd kernels is the convolution they compute, not their algorithm.
func (it *Interp) conv(op *ir.Op, x []float32, n int) []float64 {
	a := &op.Attrs
	xt, ot := op.Inputs[0].Type, op.Out().Type
	H, W, C := xt.H(), xt.W(), xt.C()
	OH, OW, F := ot.H(), ot.W(), ot.C()
	kh, kw := a.Kernel[0], a.Kernel[1]
	dil := a.Dil()
	k := it.weights[op.Param("kernel")] // [kh, kw, C/G, F]
	bias := it.vec(op.Param("bias"), F)
	G := a.G()
	Cg, Fg := C/G, F/G // a group's input and output channels
	out := make([]float64, n*OH*OW*F)
	for b := 0; b < n; b++ {
		img := x[b*H*W*C:]
		for oh := 0; oh < OH; oh++ {
			for ow := 0; ow < OW; ow++ {
				acc := out[((b*OH+oh)*OW+ow)*F:][:F]
				for i := range acc {
					if bias != nil {
						acc[i] = float64(bias[i])
					}
				}
				for dh := 0; dh < kh; dh++ {
					ih := oh*a.Strides[0] - a.Pad[0] + dh*dil[0]
					if ih < 0 || ih >= H {
						continue
					}
					for dw := 0; dw < kw; dw++ {
						iw := ow*a.Strides[1] - a.Pad[2] + dw*dil[1]
						if iw < 0 || iw >= W {
							continue
						}
						px := img[(ih*W+iw)*C:][:C]
						kk := k[(dh*kw+dw)*Cg*F:]
						for c, xv := range px {
							if xv == 0 {
								continue
							}
							g := c / Cg // input channel c feeds output group g only
							row := kk[(c%Cg)*F:][g*Fg : (g+1)*Fg]
							xf := float64(xv)
							for f, wv := range row {
								acc[g*Fg+f] += xf * float64(wv)
							}
						}
					}
				}
			}
		}
	}
	return out
}

// epilogue applies op's epilogue to acc (one value per output element),
// collecting an output at every out step and at the end.
func (it *Interp) epilogue(op *ir.Op, acc []float64, in [][]float32, n int) [][]float32 {
	ot := op.Out().Type
	c := ot.C()
	var outs [][]float32
	for _, st := range op.Attrs.Epi {
		switch st.Kind {
		case ir.StepRelu:
			for i, v := range acc {
				acc[i] = math.Max(v, 0)
			}
		case ir.StepSigmoid:
			for i, v := range acc {
				acc[i] = 1 / (1 + math.Exp(-v))
			}
		case ir.StepAdd, ir.StepMul:
			v := strided(in[st.Arg], n, op.Inputs[st.Arg].Type, ot, st.Sub)
			for i := range acc {
				if st.Kind == ir.StepAdd {
					acc[i] += float64(v[i])
				} else {
					acc[i] *= float64(v[i])
				}
			}
		case ir.StepAffine:
			s, t := it.vec(st.Scale, c), it.vec(st.Shift, c)
			for i := range acc {
				acc[i] = acc[i]*float64(s[i%c]) + float64(t[i%c])
			}
		case ir.StepScale:
			for i := range acc {
				acc[i] = acc[i]*st.Mul + st.Add
			}
		case ir.StepOut:
			outs = append(outs, toF32(acc))
		}
	}
	return append(outs, toF32(acc))
}

// strided reads a logical feature map at stride sub in H and W, giving the
// dims of out.
func strided(v []float32, n int, t, out ir.Type, sub int) []float32 {
	if sub == 1 {
		return v
	}
	H, W, C := t.H(), t.W(), t.C()
	OH, OW := out.H(), out.W()
	r := make([]float32, n*OH*OW*C)
	for b := 0; b < n; b++ {
		for h := 0; h < OH; h++ {
			for w := 0; w < OW; w++ {
				copy(r[((b*OH+h)*OW+w)*C:][:C], v[((b*H+h*sub)*W+w*sub)*C:][:C])
			}
		}
	}
	return r
}

func activate(fn string, x []float32, c int) []float32 {
	out := make([]float32, len(x))
	switch fn {
	case ir.Relu:
		for i, v := range x {
			out[i] = max(v, 0)
		}
	case ir.Sigmoid:
		for i, v := range x {
			out[i] = float32(1 / (1 + math.Exp(-float64(v))))
		}
	case ir.Softmax:
		for s := 0; s+c <= len(x); s += c {
			m := math.Inf(-1)
			for _, v := range x[s : s+c] {
				m = math.Max(m, float64(v))
			}
			sum := 0.0
			e := make([]float64, c)
			for i, v := range x[s : s+c] {
				e[i] = math.Exp(float64(v) - m)
				sum += e[i]
			}
			for i := range e {
				out[s+i] = float32(e[i] / sum)
			}
		}
	case ir.Linear, "":
		copy(out, x)
	default:
		panic(fmt.Sprintf("unknown activation %q", fn))
	}
	return out
}

func zeroPad(x []float32, n int, t ir.Type, p [4]int, value float32) []float32 {
	H, W, C := t.H(), t.W(), t.C()
	PH, PW := H+p[0]+p[1], W+p[2]+p[3]
	out := make([]float32, n*PH*PW*C)
	for i := range out {
		out[i] = value
	}
	for b := 0; b < n; b++ {
		for h := 0; h < H; h++ {
			copy(out[((b*PH+h+p[0])*PW+p[2])*C:][:W*C], x[(b*H+h)*W*C:][:W*C])
		}
	}
	return out
}

func pool(kind ir.Kind, x []float32, n int, t, ot ir.Type, a *ir.Attrs) []float32 {
	H, W, C := t.H(), t.W(), t.C()
	OH, OW := ot.H(), ot.W()
	out := make([]float32, n*OH*OW*C)
	for b := 0; b < n; b++ {
		for oh := 0; oh < OH; oh++ {
			for ow := 0; ow < OW; ow++ {
				for c := 0; c < C; c++ {
					best, sum, cnt, padded := math.Inf(-1), 0.0, 0, false
					for dh := 0; dh < a.Kernel[0]; dh++ {
						for dw := 0; dw < a.Kernel[1]; dw++ {
							ih := oh*a.Strides[0] - a.Pad[0] + dh
							iw := ow*a.Strides[1] - a.Pad[2] + dw
							if ih < 0 || ih >= H || iw < 0 || iw >= W {
								padded = true
								continue
							}
							v := float64(x[((b*H+ih)*W+iw)*C+c])
							best = math.Max(best, v)
							sum += v
							cnt++
						}
					}
					var r float64
					switch {
					case kind == ir.AvgPool && cnt > 0:
						r = sum / float64(cnt)
					case kind == ir.MaxPool && padded && a.PadZero:
						r = math.Max(best, 0)
					case kind == ir.MaxPool && cnt > 0:
						r = best
					}
					out[((b*OH+oh)*OW+ow)*C+c] = float32(r)
				}
			}
		}
	}
	return out
}

func globalPool(isMax bool, x []float32, n int, t ir.Type) []float32 {
	HW, C := t.H()*t.W(), t.C()
	out := make([]float32, n*C)
	for b := 0; b < n; b++ {
		for c := 0; c < C; c++ {
			best, sum := math.Inf(-1), 0.0
			for p := 0; p < HW; p++ {
				v := float64(x[(b*HW+p)*C+c])
				best = math.Max(best, v)
				sum += v
			}
			if isMax {
				out[b*C+c] = float32(best)
			} else {
				out[b*C+c] = float32(sum / float64(HW))
			}
		}
	}
	return out
}

// dense computes act(x · kernel + bias) over the last axis; kernel is
// [in, out].
func dense(x []float32, cin, units int, k []float32, bias []float32, act string) []float32 {
	rows := len(x) / cin
	out := make([]float32, rows*units)
	acc := make([]float64, units)
	for r := 0; r < rows; r++ {
		for o := range acc {
			acc[o] = 0
			if bias != nil {
				acc[o] = float64(bias[o])
			}
		}
		for i, xv := range x[r*cin : (r+1)*cin] {
			row := k[i*units : (i+1)*units]
			for o, wv := range row {
				acc[o] += float64(xv) * float64(wv)
			}
		}
		for o, v := range acc {
			out[r*units+o] = float32(v)
		}
	}
	return activate(act, out, units)
}

package runtime

import (
	"fmt"
	"math"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// U8 is image i's uint8 view of buffer b in an arena holding n images.
func (a Arena) U8(b Buf, n, i int) []uint8 {
	if b.Type != abi.U8 {
		panic(fmt.Sprintf("runtime: a uint8 view of a %s buffer", b.Type))
	}
	off, size := n*b.Off+i*b.Size(), b.Size()
	return a[off : off+size : off+size]
}

// ptrU8 is the address of image i's first byte of b.
func (a Arena) ptrU8(b Buf, n, i int) *uint8 { return &a.U8(b, n, i)[0] }

// int8Step is what Load prepares for one int8 step: the kernel narrowed
// to int8, the parameter block, and the portable conv's description.
type int8Step struct {
	wt []int8
	q  [ConvU8QWords]int32
	qq ConvU8Quant
	cv ConvU8
	// Quantize and Dequantize: the scale (its reciprocal for Quantize)
	// and zero point.
	scale float32
	zero  int32
}

// weightName names weight index w for errors: the file tensor it reads
// (the first load among its arguments), or its step.
func weightName(prog []WStep, w int) string {
	for w >= 0 && w < len(prog) {
		s := prog[w]
		if s.Op == "load" {
			return fmt.Sprintf("tensor %q", s.Name)
		}
		if len(s.Args) == 0 {
			break
		}
		w = s.Args[0]
	}
	return fmt.Sprintf("weight %d", w)
}

// prepareInt8 checks and prepares the int8 steps of the plan once the
// weight program has run: every scale a positive finite number, every
// zero point an integer in 0..255, an int8 conv's input zero point 0 (its
// padding taps add q = 0, which must be the real 0), every kernel code an
// integer in −127..127 (abi.MaxAccTerms assumes it). A file that breaks
// one is refused, naming the tensor: its values never reach the kernels.
func (m *Model) prepareInt8() error {
	p := m.plan
	m.i8 = make([]*int8Step, len(p.Steps))
	scalar := func(w int, what string) ([]float32, error) {
		if w < 0 || w >= len(m.w) || len(m.w[w]) != 1 {
			return nil, fmt.Errorf("%s: %s is not one value", weightName(p.Weights, w), what)
		}
		return m.w[w], nil
	}
	scale := func(w int) (float32, error) {
		v, err := scalar(w, "a scale")
		if err != nil {
			return 0, err
		}
		if s := v[0]; !(s > 0) || math.IsInf(float64(s), 0) {
			return 0, fmt.Errorf("%s: scale %v, want a positive finite number", weightName(p.Weights, w), s)
		}
		return v[0], nil
	}
	zero := func(w int) (int32, error) {
		v, err := scalar(w, "a zero point")
		if err != nil {
			return 0, err
		}
		if z := v[0]; z < 0 || z > 255 || z != float32(int32(z)) {
			return 0, fmt.Errorf("%s: zero point %v, want an integer in 0..255", weightName(p.Weights, w), z)
		}
		return int32(v[0]), nil
	}
	pair := func(sw, zw int) (U8Quant, error) {
		s, err := scale(sw)
		if err != nil {
			return U8Quant{}, err
		}
		z, err := zero(zw)
		return U8Quant{S: s, Z: z}, err
	}
	narrowed := map[int][]int8{}
	for i := range p.Steps {
		s := &p.Steps[i]
		var st int8Step
		fail := func(err error) error { return fmt.Errorf("%s: %w", s.Name, err) }
		switch {
		case s.Kind == OpQuantize:
			q, err := pair(s.QW.OutS[0], s.QW.OutZ[0])
			if err != nil {
				return fail(err)
			}
			st.scale, st.zero = 1/q.S, q.Z
		case s.Kind == OpDequantize:
			q, err := pair(s.QW.XS, s.QW.XZ)
			if err != nil {
				return fail(err)
			}
			st.scale, st.zero = q.S, q.Z
		case s.Int8():
			x, err := pair(s.QW.XS, s.QW.XZ)
			if err != nil {
				return fail(err)
			}
			if x.Z != 0 {
				return fail(fmt.Errorf("%s: the input's zero point is %d, want 0 (an int8 conv pads with q = 0)", weightName(p.Weights, s.QW.XZ), x.Z))
			}
			for k := range s.Out {
				q, err := pair(s.QW.OutS[k], s.QW.OutZ[k])
				if err != nil {
					return fail(err)
				}
				st.qq.Out[k] = U8Out{Inv: 1 / q.S, Z: q.Z}
			}
			for _, e := range s.Epi {
				switch e.Op {
				case EpiAdd:
					st.qq.Res, err = pair(s.QW.ResS, s.QW.ResZ)
				case EpiMul:
					st.qq.Mul, err = pair(s.QW.MulS, s.QW.MulZ)
				}
				if err != nil {
					return fail(err)
				}
			}
			if st.q, err = st.qq.Words(); err != nil {
				return fail(err)
			}
			if st.wt = narrowed[s.Kernel]; st.wt == nil {
				codes := m.w[s.Kernel]
				st.wt = make([]int8, len(codes))
				for j, c := range codes {
					if c < -127 || c > 127 || c != float32(int32(c)) {
						return fail(fmt.Errorf("%s: kernel code %v, want an integer in −127..127", weightName(p.Weights, s.Kernel), c))
					}
					st.wt[j] = int8(c)
				}
				narrowed[s.Kernel] = st.wt
			}
			x0, o := s.In[0], s.Out[0]
			st.cv = ConvU8{IC: x0.C, OC: o.C, H: x0.H, W: x0.W, KH: s.KH, KW: s.KW, SH: s.SH, SW: s.SW, Pad: s.Pad, Epi: s.Epi}
			for _, e := range s.Epi {
				if e.Op == EpiAdd {
					st.cv.ResH, st.cv.ResW = s.In[e.Arg].H, s.In[e.Arg].W
				}
			}
			if err := st.cv.Check(); err != nil {
				return fail(err)
			}
			z := st.cv.Sizes()
			type vec struct {
				w    int
				what string
			}
			chans := []vec{{s.M, "m"}, {s.Bias, "bias"}}
			for _, e := range s.Epi {
				if e.Op == EpiAffine {
					chans = append(chans, vec{e.Scale, "scale"}, vec{e.Shift, "shift"})
				}
			}
			for _, c := range chans {
				if c.w < 0 || c.w >= len(m.w) || len(m.w[c.w]) < z.Chan {
					return fail(fmt.Errorf("its %s has too few values", c.what))
				}
			}
			if len(st.wt) < z.Wt {
				return fail(fmt.Errorf("its kernel has %d codes, want %d", len(st.wt), z.Wt))
			}
		default:
			continue
		}
		m.i8[i] = &st
	}
	for k := range narrowed {
		m.w[k] = nil // the float32 copy of the codes
	}
	return nil
}

// runConvU8 runs an int8 conv on output rows [oh0, oh1) of blocks
// [ocb0, ocb1) of image i: the compiled kernel, or ConvU8.
func (m *Model) runConvU8(s *Step, st *int8Step, i, ocb0, ocb1, oh0, oh1 int) {
	a, n := m.arena, m.n
	var res, mul, out1 *uint8
	var scale, shift *float32
	for _, e := range s.Epi {
		switch e.Op {
		case EpiAdd:
			res = a.ptrU8(s.In[e.Arg], n, i)
		case EpiMul:
			mul = a.ptrU8(s.In[e.Arg], n, i)
		case EpiAffine:
			scale, shift = &m.w[e.Scale][0], &m.w[e.Shift][0]
		}
	}
	if len(s.Out) > 1 {
		out1 = a.ptrU8(s.Out[1], n, i)
	}
	if s.ConvU8 != nil {
		s.ConvU8(a.ptrU8(s.In[0], n, i), &st.wt[0], &m.w[s.M][0], &m.w[s.Bias][0], scale, shift, res, mul, &st.q[0],
			a.ptrU8(s.Out[0], n, i), out1, ocb0, ocb1, oh0, oh1)
		return
	}
	args := ConvU8Args{In: a.U8(s.In[0], n, i), Wt: st.wt, M: m.w[s.M], B: m.w[s.Bias], Q: st.qq}
	var outs [2][]uint8
	for k, o := range s.Out {
		outs[k] = a.U8(o, n, i)
	}
	args.Out = outs[:len(s.Out)]
	for _, e := range s.Epi {
		switch e.Op {
		case EpiAdd:
			args.Res = a.U8(s.In[e.Arg], n, i)
		case EpiMul:
			args.Mul = a.U8(s.In[e.Arg], n, i)
		case EpiAffine:
			args.Scale, args.Shift = m.w[e.Scale], m.w[e.Shift]
		}
	}
	st.cv.run(&args, ocb0, ocb1, oh0, oh1) // Load checked the geometry and every size (prepareInt8)
}

// convertGo runs a Quantize or Dequantize step on rows [oh0, oh1) of
// image i: every logical channel converted, the pad lanes of a
// Dequantize's output zero (the float32 kernels read them as zeros).
func (m *Model) convertGo(s *Step, st *int8Step, i, oh0, oh1 int) {
	a, n := m.arena, m.n
	in, out := s.In[0], s.Out[0]
	b := out.Block
	if b == 0 { // nhwc: one block of all channels
		b = out.CPad()
	}
	blocks, row := out.CPad()/b, out.W*b
	for cb := 0; cb < blocks; cb++ {
		at := (cb*out.H + oh0) * row
		end := (cb*out.H + oh1) * row
		if s.Kind == OpQuantize {
			x, y := a.F32(in, n, i)[at:end], a.U8(out, n, i)[at:end]
			for j, v := range x {
				y[j] = abi.QuantizeU8(v, st.scale, st.zero)
			}
			continue
		}
		x, y := a.U8(in, n, i)[at:end], a.F32(out, n, i)[at:end]
		pad := out.Block != 0 && (cb+1)*b > out.C // a block with pad lanes
		for j, q := range x {
			if pad && cb*b+j%b >= out.C {
				y[j] = 0
				continue
			}
			y[j] = abi.Dequant(q, st.zero, st.scale)
		}
	}
}

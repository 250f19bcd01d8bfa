package runtime

import "math"

// The portable Go kernels: every step kind, over any layout. They are the
// generic target's code, the fallback for steps without a compiled kernel,
// and the twins the compiled kernels are tested against. Convolutions
// accumulate in float32 in the same order as the compiled kernels (input
// channel blocks, kernel rows, kernel columns, lanes).

// convGo computes output rows [oh0, oh1) of output-channel blocks
// [ocb0, ocb1) of image i.
func convGo(s *Step, w [][]float32, a Arena, n, i, ocb0, ocb1, oh0, oh1 int) {
	x, out := s.In[0], s.Out[0]
	in := a.F32(x, n, i)
	k := w[s.Kernel]
	var bias []float32
	if s.Bias >= 0 {
		bias = w[s.Bias]
	}
	B := s.WBlock
	G := max(s.Groups, 1)
	ICB := (x.C/G + B - 1) / B    // input blocks of a group (all of them when dense)
	OCBG := (out.C/G + B - 1) / B // output blocks of a group
	dh, dw := max(s.DH, 1), max(s.DW, 1)
	var acc [16]float32
	for oh := oh0; oh < oh1; oh++ {
		for ow := 0; ow < out.W; ow++ {
			for ocb := ocb0; ocb < ocb1; ocb++ {
				for o := 0; o < B; o++ {
					acc[o] = 0
					if bias != nil {
						acc[o] = bias[ocb*B+o]
					}
				}
				for icb := 0; icb < ICB; icb++ {
					for kh := 0; kh < s.KH; kh++ {
						ih := oh*s.SH - s.Pad[0] + kh*dh
						if ih < 0 || ih >= x.H {
							continue
						}
						for kw := 0; kw < s.KW; kw++ {
							iw := ow*s.SW - s.Pad[2] + kw*dw
							if iw < 0 || iw >= x.W {
								continue
							}
							if x.Block == 0 { // nhwc input, OhwiBo kernel
								px := in[(ih*x.W+iw)*x.C:][:x.C]
								kr := k[((ocb*s.KH+kh)*s.KW+kw)*x.C*B:]
								for c, v := range px {
									row := kr[c*B : c*B+B]
									for o := range row {
										acc[o] += v * row[o]
									}
								}
								continue
							}
							if s.Narrow > 0 { // Ohwi: [ocb][kh][kw][Narrow][B o], lanes of block ocb
								n := s.Narrow
								px := in[((ocb*x.H+ih)*x.W+iw)*B:][:B]
								kr := k[((ocb*s.KH+kh)*s.KW+kw)*n*B:][:n*B]
								for c := 0; c < n; c++ {
									row := kr[c*B : c*B+B]
									for o := range row {
										acc[o] += px[o/n*n+c] * row[o]
									}
								}
								continue
							}
							px := in[(((ocb/OCBG*ICB+icb)*x.H+ih)*x.W+iw)*B:][:B]
							kr := k[(((ocb*ICB+icb)*s.KH+kh)*s.KW+kw)*B*B:]
							for c, v := range px {
								row := kr[c*B : c*B+B]
								for o := range row {
									acc[o] += v * row[o]
								}
							}
						}
					}
					if x.Block == 0 {
						break
					}
				}
				for o := 0; o < B; o++ {
					c := ocb*B + o
					if c >= out.C {
						// pad channels: the compiled kernels write the zeros
						// that zero-padded weights and bias give
						for _, ob := range s.Out {
							a.F32(ob, n, i)[ob.At(oh, ow, c)] = 0
						}
						continue
					}
					epilogue(s, w, a, n, i, oh, ow, c, acc[o])
				}
			}
		}
	}
}

// winogradGo computes a Winograd conv step for image i with the portable
// float64 Winograd, then the bias and the epilogue.
func winogradGo(s *Step, w [][]float32, a Arena, n, i int) {
	x, out := s.In[0], s.Out[0]
	in := a.F32(x, n, i)
	hwc := make([]float32, x.H*x.W*x.C)
	for h := 0; h < x.H; h++ {
		for ww := 0; ww < x.W; ww++ {
			for c := 0; c < x.C; c++ {
				hwc[(h*x.W+ww)*x.C+c] = in[x.At(h, ww, c)]
			}
		}
	}
	y := WinogradConv(hwc, x.H, x.W, x.C, w[s.Kernel], out.C, s.Pad)
	for h := 0; h < out.H; h++ {
		for ww := 0; ww < out.W; ww++ {
			for c := 0; c < out.C; c++ {
				v := y[(h*out.W+ww)*out.C+c]
				if s.Bias >= 0 {
					v += float64(w[s.Bias][c])
				}
				epilogue(s, w, a, n, i, h, ww, c, float32(v))
			}
		}
	}
	zeroPadChannels(s, a, n, i, 0, out.H)
}

// epilogue applies s.Epi to value v of element (oh, ow, c) and stores the
// outputs.
func epilogue(s *Step, w [][]float32, a Arena, n, i, oh, ow, c int, v float32) {
	out := 0
	for _, e := range s.Epi {
		switch e.Op {
		case EpiRelu:
			v = max(v, 0)
		case EpiSigmoid:
			v = sigmoid(v)
		case EpiAdd, EpiMul:
			r := s.In[e.Arg]
			u := a.F32(r, n, i)[r.At(oh*e.Sub, ow*e.Sub, c)]
			if e.Op == EpiAdd {
				v += u
			} else {
				v *= u
			}
		case EpiAffine:
			v = v*w[e.Scale][c] + w[e.Shift][c]
		case EpiScale:
			v = v*e.Mul + e.Add
		case EpiOut:
			o := s.Out[out]
			a.F32(o, n, i)[o.At(oh, ow, c)] = v
			out++
		}
	}
	o := s.Out[out]
	a.F32(o, n, i)[o.At(oh, ow, c)] = v
}

// zeroPadChannels writes zeros to the pad channels of every output of s at
// rows [oh0, oh1), which compiled kernels produce and readers may rely on.
func zeroPadChannels(s *Step, a Arena, n, i, oh0, oh1 int) {
	for _, o := range s.Out {
		if o.Block == 0 || o.C == o.CPad() {
			continue
		}
		buf := a.F32(o, n, i)
		for c := o.C; c < o.CPad(); c++ {
			for h := oh0; h < oh1; h++ {
				for x := 0; x < o.W; x++ {
					buf[o.At(h, x, c)] = 0
				}
			}
		}
	}
}

// eltwiseGo applies the epilogue to In[0] for output rows [oh0, oh1); buf
// is the calling thread's scratch (grown when too small).
func eltwiseGo(s *Step, w [][]float32, a Arena, n, i, oh0, oh1 int, buf *[]float32) {
	if eltwiseFlat(s, w, a, n, i, oh0, oh1, buf) {
		return
	}
	x, out := s.In[0], s.Out[0]
	in := a.F32(x, n, i)
	for h := oh0; h < oh1; h++ {
		for ww := 0; ww < out.W; ww++ {
			for c := 0; c < out.C; c++ {
				epilogue(s, w, a, n, i, h, ww, c, in[x.At(h*s.Sub0, ww*s.Sub0, c)])
			}
		}
	}
	zeroPadChannels(s, a, n, i, oh0, oh1)
}

// poolGo computes rows [oh0, oh1) of a max or average pooling and its
// epilogue.
func poolGo(s *Step, w [][]float32, a Arena, n, i, oh0, oh1 int) {
	x, out := s.In[0], s.Out[0]
	in := a.F32(x, n, i)
	for oh := oh0; oh < oh1; oh++ {
		for ow := 0; ow < out.W; ow++ {
			for c := 0; c < out.C; c++ {
				best, sum, cnt, padded := float32(math.Inf(-1)), float32(0), 0, false
				for kh := 0; kh < s.KH; kh++ {
					ih := oh*s.SH - s.Pad[0] + kh
					for kw := 0; kw < s.KW; kw++ {
						iw := ow*s.SW - s.Pad[2] + kw
						if ih < 0 || ih >= x.H || iw < 0 || iw >= x.W {
							padded = true
							continue
						}
						v := in[x.At(ih, iw, c)]
						best = max(best, v)
						sum += v
						cnt++
					}
				}
				var r float32
				switch {
				case !s.Max && cnt > 0:
					r = sum / float32(cnt)
				case s.Max && padded && s.PadZero:
					r = max(best, 0)
				case s.Max && cnt > 0:
					r = best
				}
				epilogue(s, w, a, n, i, oh, ow, c, r)
			}
		}
	}
	zeroPadChannels(s, a, n, i, oh0, oh1)
}

// globalPool pools x (image i) into v.
func globalPool(x Buf, in []float32, isMax bool, v []float32) {
	for c := 0; c < x.C; c++ {
		best, sum := float32(math.Inf(-1)), float32(0)
		for h := 0; h < x.H; h++ {
			for ww := 0; ww < x.W; ww++ {
				u := in[x.At(h, ww, c)]
				best = max(best, u)
				sum += u
			}
		}
		if isMax {
			v[c] = best
		} else {
			v[c] = sum / float32(x.H*x.W)
		}
	}
}

// denseGo computes act(v · kernel + bias) into out (units values); the
// kernel is packed OIBo with B = s.WBlock.
func denseGo(s *Step, w [][]float32, v []float32, units int, out []float32) {
	k := w[s.Kernel]
	B := s.WBlock
	cin := len(v)
	for o := 0; o < units; o++ {
		acc := float32(0)
		if s.Bias >= 0 {
			acc = w[s.Bias][o]
		}
		base := (o / B) * cin * B
		for c, x := range v {
			acc += x * k[base+c*B+o%B]
		}
		out[o] = acc
	}
	activate(s.Act, out)
}

func activate(act uint8, v []float32) {
	switch act {
	case ActRelu:
		for i, x := range v {
			v[i] = max(x, 0)
		}
	case ActSigmoid:
		for i, x := range v {
			v[i] = sigmoid(x)
		}
	case ActSoftmax:
		softmax(v)
	}
}

func sigmoid(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }

func softmax(v []float32) {
	m := float32(math.Inf(-1))
	for _, x := range v {
		m = max(m, x)
	}
	sum := 0.0
	for i, x := range v {
		e := math.Exp(float64(x - m))
		v[i] = float32(e)
		sum += e
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / sum)
	}
}

// headGo runs a Head or Dense step on image i; scratch holds at least the
// input's channel count.
func headGo(s *Step, w [][]float32, a Arena, n, i int, scratch []float32) {
	x, out := s.In[0], s.Out[0]
	in, o := a.F32(x, n, i), a.F32(out, n, i)
	if s.Kind == OpDense && !x.Vec { // per pixel of an nhwc map
		for p := 0; p < x.H*x.W; p++ {
			denseGo(s, w, in[p*x.C:(p+1)*x.C], out.C, o[p*out.C:(p+1)*out.C])
		}
		return
	}
	v := in[:x.C]
	if s.Pool != 0 {
		v = scratch[:x.C]
		globalPool(x, in, s.Pool == 2, v)
	}
	denseGo(s, w, v, out.C, o[:out.C])
}

// simpleGo runs the remaining step kinds on image i; scratch holds at
// least the input's channel count.
func simpleGo(s *Step, a Arena, n, i int, scratch []float32) {
	x, out := s.In[0], s.Out[0]
	in, o := a.F32(x, n, i), a.F32(out, n, i)
	switch s.Kind {
	case OpGlobalPool:
		globalPool(x, in, s.Max, o[:out.C])
	case OpReorder, OpCopy:
		// same logical (h, w, c) order on both sides: a Flatten's output
		// is a vector in Keras's (h, w, c) order
		j := 0
		for h := 0; h < x.H; h++ {
			for ww := 0; ww < x.W; ww++ {
				for c := 0; c < x.C; c++ {
					if out.Vec && x.H*x.W > 1 {
						o[j] = in[x.At(h, ww, c)]
					} else {
						o[out.At(h, ww, c)] = in[x.At(h, ww, c)]
					}
					j++
				}
			}
		}
	case OpZeroPad:
		for j := range o {
			o[j] = 0
		}
		for h := 0; h < out.H; h++ {
			for ww := 0; ww < out.W; ww++ {
				ih, iw := h-s.Pad[0], ww-s.Pad[2]
				inside := ih >= 0 && ih < x.H && iw >= 0 && iw < x.W
				for c := 0; c < out.C; c++ {
					v := s.PadValue
					if inside {
						v = in[x.At(ih, iw, c)]
					}
					o[out.At(h, ww, c)] = v
				}
			}
		}
	case OpSoftmax:
		v := scratch[:x.C]
		for h := 0; h < x.H; h++ {
			for ww := 0; ww < x.W; ww++ {
				for c := range v {
					v[c] = in[x.At(h, ww, c)]
				}
				softmax(v)
				for c := range v {
					o[out.At(h, ww, c)] = v[c]
				}
			}
		}
	}
}

// RunGo runs the portable Go code of step s on image i of an arena holding
// n images, for output rows [r0, r1) (ignored by steps that are not split
// by rows), with the weight program's values w and per-thread scratch
// (at least twice the largest channel count, rounded up to 16). It is the
// twin the compiled kernels are tested against.
func (s *Step) RunGo(w [][]float32, a Arena, n, i, r0, r1 int, scratch []float32) {
	switch s.Kind {
	case OpConv:
		if s.Winograd {
			winogradGo(s, w, a, n, i)
			return
		}
		ocb := s.Out[0].CPad() / s.WBlock
		convGo(s, w, a, n, i, 0, ocb, r0, r1)
	case OpPool:
		poolGo(s, w, a, n, i, r0, r1)
	case OpEltwise:
		var buf []float32
		eltwiseGo(s, w, a, n, i, r0, r1, &buf)
	case OpDense, OpHead:
		headGo(s, w, a, n, i, scratch)
	default:
		simpleGo(s, a, n, i, scratch)
	}
}

// eltwiseFlat is eltwiseGo when every buffer has the output's layout and
// dims and no read is strided: the epilogue runs step by step over
// contiguous runs of a row range (per channel block when blocked), which
// Go compiles into tight loops. It reports false when it does not apply.
func eltwiseFlat(s *Step, w [][]float32, a Arena, n, i, oh0, oh1 int, buf *[]float32) bool {
	out := s.Out[0]
	if s.Sub0 != 1 || out.Vec {
		return false
	}
	same := func(b Buf) bool { return b.H == out.H && b.W == out.W && b.C == out.C && b.Block == out.Block }
	for _, b := range s.In {
		if !same(b) {
			return false
		}
	}
	for _, b := range s.Out {
		if !same(b) {
			return false
		}
	}
	for _, e := range s.Epi {
		if (e.Op == EpiAdd || e.Op == EpiMul) && e.Sub != 1 {
			return false
		}
	}
	// Runs of contiguous floats: [lo, hi) per channel block (blocked) or
	// one run (nhwc); channel(j) of the element at offset j.
	B, blocks := out.Block, 1
	if B > 0 {
		blocks = out.CPad() / B
	}
	for cb := 0; cb < blocks; cb++ {
		var lo, hi int
		if B > 0 {
			lo, hi = ((cb*out.H+oh0)*out.W)*B, ((cb*out.H+oh1)*out.W)*B
		} else {
			lo, hi = oh0*out.W*out.C, oh1*out.W*out.C
		}
		if hi <= lo {
			continue
		}
		if len(*buf) < hi-lo {
			*buf = make([]float32, hi-lo)
		}
		v := (*buf)[:hi-lo]
		copy(v, a.F32(s.In[0], n, i)[lo:hi])
		channel := func(j int) int {
			if B > 0 {
				return cb*B + j%B
			}
			return j % out.C
		}
		store := 0
		for _, e := range s.Epi {
			switch e.Op {
			case EpiRelu:
				activate(ActRelu, v)
			case EpiSigmoid:
				activate(ActSigmoid, v)
			case EpiAdd:
				for j, x := range a.F32(s.In[e.Arg], n, i)[lo:hi] {
					v[j] += x
				}
			case EpiMul:
				for j, x := range a.F32(s.In[e.Arg], n, i)[lo:hi] {
					v[j] *= x
				}
			case EpiAffine:
				sc, sh := w[e.Scale], w[e.Shift]
				for j := range v {
					c := channel(j)
					v[j] = v[j]*sc[c] + sh[c]
				}
			case EpiScale:
				for j, x := range v {
					v[j] = x*e.Mul + e.Add
				}
			case EpiOut:
				copy(a.F32(s.Out[store], n, i)[lo:hi], v)
				store++
			}
		}
		copy(a.F32(s.Out[store], n, i)[lo:hi], v)
	}
	zeroPadChannels(s, a, n, i, oh0, oh1)
	return true
}

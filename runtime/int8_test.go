package runtime

import (
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// randHWIO returns a random real kernel and per-channel symmetric scales
// (max |w| / 127).
func randHWIO(rng *rand.Rand, kh, kw, ic, oc int) ([]float32, []float32) {
	w := make([]float32, kh*kw*ic*oc)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	s := make([]float32, oc)
	for i, v := range w {
		s[i%oc] = max(s[i%oc], float32(math.Abs(float64(v))))
	}
	for o := range s {
		s[o] /= 127
	}
	return w, s
}

// TestPackConvS8 decodes every byte of packed kernels: the quantized
// weight at S8Index, zero in channel padding, the documented formula for
// the index.
func TestPackConvS8(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, g := range [][4]int{{1, 1, 1, 1}, {3, 3, 3, 5}, {1, 1, 16, 16}, {3, 3, 17, 33}, {7, 7, 40, 20}, {1, 3, 64, 16}} {
		kh, kw, ic, oc := g[0], g[1], g[2], g[3]
		w, s := randHWIO(rng, kh, kw, ic, oc)
		p, err := PackConvS8(w, kh, kw, ic, oc, s)
		if err != nil {
			t.Fatal(err)
		}
		icb, ocb := (ic+15)/16, (oc+15)/16
		if len(p) != ocb*icb*kh*kw*256 {
			t.Fatalf("%v: %d bytes, want %d", g, len(p), ocb*icb*kh*kw*256)
		}
		seen := make([]bool, len(p))
		for h := 0; h < kh; h++ {
			for x := 0; x < kw; x++ {
				for i := 0; i < ic; i++ {
					for o := 0; o < oc; o++ {
						at := ((((o/16*icb+i/16)*kh+h)*kw+x)*4+i%16/4)*64 + o%16*4 + i%4
						if S8Index(kh, kw, icb, h, x, i, o) != at {
							t.Fatalf("%v: S8Index(%d,%d,%d,%d) = %d, want %d", g, h, x, i, o, S8Index(kh, kw, icb, h, x, i, o), at)
						}
						want := abi.QuantizeS8(w[((h*kw+x)*ic+i)*oc+o], s[o])
						if p[at] != want {
							t.Fatalf("%v: weight (%d,%d,%d,%d) packed %d, want %d", g, h, x, i, o, p[at], want)
						}
						seen[at] = true
					}
				}
			}
		}
		for i, v := range p {
			if !seen[i] && v != 0 {
				t.Fatalf("%v: padding byte %d is %d", g, i, v)
			}
		}
	}
}

// TestPackConvS8Errors: wrong sizes, non-finite weights, bad scales and
// huge shapes are refused with an error naming them.
func TestPackConvS8Errors(t *testing.T) {
	w := make([]float32, 2*2*3*4)
	s := []float32{1, 1, 1, 1}
	nan := float32(math.NaN())
	for _, c := range []struct {
		w              []float32
		kh, kw, ic, oc int
		s              []float32
		want           string
	}{
		{w[:5], 2, 2, 3, 4, s, "5 weights for a 2×2×3×4 kernel"},
		{w, 2, 2, 3, 4, s[:3], "3 scales for 4 output channels"},
		{w, 0, 2, 3, 4, s, "kh = 0"},
		{w, 2, 2, -3, 4, s, "ic = -3"},
		{w, 1 << 16, 1 << 16, 3, 4, s, "too large"},
		{w, 2, 2, 3, 4, []float32{1, 0, 1, 1}, "scale of output channel 1 is 0"},
		{w, 2, 2, 3, 4, []float32{1, 1, nan, 1}, "scale of output channel 2 is NaN"},
		{w, 2, 2, 3, 4, []float32{1, 1, 1, float32(math.Inf(1))}, "scale of output channel 3 is +Inf"},
		{append(append([]float32{}, w[:13]...), append([]float32{nan}, w[14:]...)...), 2, 2, 3, 4, s, "weight (kh 0, kw 1, ic 0, oc 1) is NaN"},
		{make([]float32, 5<<20), 5 << 10, 1 << 10, 1, 1, []float32{1}, "packs to 1342177280 bytes"},
	} {
		_, err := PackConvS8(c.w, c.kh, c.kw, c.ic, c.oc, c.s)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("PackConvS8(%d weights, %d,%d,%d,%d): %v, want %q", len(c.w), c.kh, c.kw, c.ic, c.oc, err, c.want)
		}
	}
}

// TestConvU8Words: the parameter block's layout, and zero points outside
// 0..255 refused.
func TestConvU8Words(t *testing.T) {
	q := ConvU8Quant{Res: U8Quant{S: 0.5, Z: 3}, Mul: U8Quant{S: 0.25, Z: 7}, Out: [2]U8Out{{Inv: 8, Z: 11}, {Inv: 16, Z: 255}}}
	w, err := q.Words()
	if err != nil {
		t.Fatal(err)
	}
	b := func(f float32) int32 { return int32(math.Float32bits(f)) }
	want := [ConvU8QWords]int32{3, b(0.5), 7, b(0.25), b(8), 11, -11, 244, b(16), 255, -255, 0}
	if w != want {
		t.Errorf("Words() = %v, want %v", w, want)
	}
	for _, bad := range []ConvU8Quant{{Res: U8Quant{Z: -1}}, {Mul: U8Quant{Z: 256}}, {Out: [2]U8Out{{Z: 300}}}, {Out: [2]U8Out{{}, {Z: math.MinInt32}}}} {
		if _, err := bad.Words(); err == nil || !strings.Contains(err.Error(), "zero point") {
			t.Errorf("Words(%+v): %v, want a zero point error", bad, err)
		}
	}
}

// u8Case is a ConvU8 with random arguments.
type u8Case struct {
	c    ConvU8
	a    ConvU8Args
	hwio []float32 // real kernel
	sw   []float32 // its scales
}

func newU8Case(rng *rand.Rand, c ConvU8) *u8Case {
	k := &u8Case{c: c}
	z := c.Sizes()
	k.a.In = make([]uint8, z.In)
	for i := range k.a.In {
		k.a.In[i] = uint8(rng.Intn(256)) // pad lanes too: they must not count
	}
	k.hwio, k.sw = randHWIO(rng, c.KH, c.KW, c.IC, c.OC)
	var err error
	if k.a.Wt, err = PackConvS8(k.hwio, c.KH, c.KW, c.IC, c.OC, k.sw); err != nil {
		panic(err)
	}
	vec := func(n int, lo, hi float64) []float32 {
		if n == 0 {
			return nil
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(lo + (hi-lo)*rng.Float64())
		}
		return v
	}
	u8 := func(n int) []uint8 {
		if n == 0 {
			return nil
		}
		v := make([]uint8, n)
		for i := range v {
			v[i] = uint8(rng.Intn(256))
		}
		return v
	}
	k.a.M, k.a.B = vec(z.Chan, 1e-5, 1e-4), vec(z.Chan, -1, 1)
	k.a.Scale, k.a.Shift = vec(z.Affine, -2, 2), vec(z.Affine, -1, 1)
	k.a.Res, k.a.Mul = u8(z.Res), u8(z.Mul)
	k.a.Q = ConvU8Quant{Res: U8Quant{S: 0.01, Z: 9}, Mul: U8Quant{S: 0.004, Z: 0}, Out: [2]U8Out{{Inv: 40, Z: 17}, {Inv: 25, Z: 0}}}
	for i := 0; i < z.Outs; i++ {
		k.a.Out = append(k.a.Out, make([]uint8, z.Out))
	}
	return k
}

// plain is an independent computation of output (oc, y, x) of k: plain
// CHW input, the kernel quantized from HWIO, an int64 sum, the steps.
func (k *u8Case) plain(oc, y, x int) []uint8 {
	c := &k.c
	var acc int64
	for h := 0; h < c.KH; h++ {
		for w := 0; w < c.KW; w++ {
			ih, iw := y*c.SH-c.Pad[0]+h, x*c.SW-c.Pad[2]+w
			if ih < 0 || ih >= c.H || iw < 0 || iw >= c.W || oc >= c.OC {
				continue
			}
			for ic := 0; ic < c.IC; ic++ {
				q := int64(k.a.In[(ic/16*c.H+ih)*c.W*16+iw*16+ic%16])
				acc += q * int64(abi.QuantizeS8(k.hwio[((h*c.KW+w)*c.IC+ic)*c.OC+oc], k.sw[oc]))
			}
		}
	}
	rh, rw, _ := c.resDims()
	blk := func(hh, ww, y, x int) int { return ((oc/16*hh+y)*ww+x)*16 + oc%16 }
	v := float32(float32(acc)*k.a.M[oc]) + k.a.B[oc]
	var outs []uint8
	for _, e := range c.Epi {
		switch e.Op {
		case EpiRelu:
			if !(v >= 0) && v == v { // -0 and NaN stay
				v = 0
			}
		case EpiAdd:
			s := max(e.Sub, 1)
			v += float32(float32(int32(k.a.Res[blk(rh, rw, y*s, x*s)])-k.a.Q.Res.Z) * k.a.Q.Res.S)
		case EpiMul:
			v = float32(v * float32(float32(int32(k.a.Mul[blk(c.OH(), c.OW(), y, x)])-k.a.Q.Mul.Z)*k.a.Q.Mul.S))
		case EpiAffine:
			v = float32(v*k.a.Scale[oc]) + k.a.Shift[oc]
		case EpiScale:
			v = float32(v*e.Mul) + e.Add
		case EpiOut:
			outs = append(outs, abi.QuantizeU8(v, k.a.Q.Out[len(outs)].Inv, k.a.Q.Out[len(outs)].Z))
		}
	}
	return append(outs, abi.QuantizeU8(v, k.a.Q.Out[len(outs)].Inv, k.a.Q.Out[len(outs)].Z))
}

// TestConvU8Plain checks ConvU8.Run against an independent plain
// computation, on odd channel counts (input pad lanes holding random
// bytes), strides, padding and every epilogue step; the outputs are also
// computed in pieces (block × row ranges) and must equal the whole call.
func TestConvU8Plain(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	epis := [][]Epi{
		nil,
		{{Op: EpiRelu}},
		{{Op: EpiAdd, Sub: 1}, {Op: EpiOut}, {Op: EpiAffine}, {Op: EpiRelu}},
		{{Op: EpiAdd, Sub: 2}, {Op: EpiRelu}},
		{{Op: EpiMul, Sub: 1}, {Op: EpiScale, Mul: -1.5, Add: 0.25}, {Op: EpiOut}, {Op: EpiRelu}},
		{{Op: EpiAffine}, {Op: EpiAdd}, {Op: EpiMul}},
	}
	n := 0
	for _, g := range []struct{ kh, kw, sh, sw, pt, pb, pl, pr int }{
		{1, 1, 1, 1, 0, 0, 0, 0}, {3, 3, 1, 1, 1, 1, 1, 1}, {3, 3, 2, 2, 0, 1, 0, 1}, {3, 3, 2, 1, 1, 1, 2, 0}, {7, 7, 2, 2, 3, 3, 3, 3},
	} {
		for _, ch := range [][2]int{{3, 5}, {16, 16}, {17, 40}, {40, 33}} {
			epi := epis[n%len(epis)]
			n++
			c := ConvU8{IC: ch[0], OC: ch[1], H: 7, W: 6, KH: g.kh, KW: g.kw, SH: g.sh, SW: g.sw, Pad: [4]int{g.pt, g.pb, g.pl, g.pr}, Epi: epi}
			if err := c.Check(); err != nil {
				t.Fatalf("%+v: %v", c, err)
			}
			k := newU8Case(rng, c)
			if err := c.Run(&k.a, 0, c.OCB(), 0, c.OH()); err != nil {
				t.Fatal(err)
			}
			oh, ow := c.OH(), c.OW()
			for oc := 0; oc < c.OCB()*16; oc++ {
				if oc >= c.OC {
					// Pad channels: whatever M, B, Scale, Shift say there.
					continue
				}
				for y := 0; y < oh; y++ {
					for x := 0; x < ow; x++ {
						want := k.plain(oc, y, x)
						for o, w := range want {
							if got := k.a.Out[o][((oc/16*oh+y)*ow+x)*16+oc%16]; got != w {
								t.Fatalf("%+v: output %d (oc %d, %d, %d) = %d, want %d", c, o, oc, y, x, got, w)
							}
						}
					}
				}
			}
			// In pieces.
			whole := k.a.Out
			k.a.Out = nil
			for _, o := range whole {
				k.a.Out = append(k.a.Out, make([]uint8, len(o)))
			}
			for ob := 0; ob < c.OCB(); ob++ {
				for y := 0; y < oh; y += 2 {
					if err := c.Run(&k.a, ob, ob+1, y, min(y+2, oh)); err != nil {
						t.Fatal(err)
					}
				}
			}
			for o := range whole {
				if string(whole[o]) != string(k.a.Out[o]) {
					t.Fatalf("%+v: output %d computed in pieces differs", c, o)
				}
			}
		}
	}
}

// TestConvU8Extremes: accumulators at the int32 bound the geometry
// allows (all inputs 255, all weights ±127), and the NaN/∞ paths of the
// epilogue (a huge M: acc·M = ±Inf; Inf·0 = NaN through a gate at its
// zero point), against the plain computation.
func TestConvU8Extremes(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, sign := range []float32{1, -1} {
		c := ConvU8{IC: 1024, OC: 16, H: 3, W: 3, KH: 3, KW: 3, SH: 1, SW: 1, Pad: [4]int{1, 1, 1, 1},
			Epi: []Epi{{Op: EpiMul}, {Op: EpiOut}, {Op: EpiRelu}}}
		k := newU8Case(rng, c)
		for i := range k.a.In {
			k.a.In[i] = 255
		}
		for i := range k.hwio {
			k.hwio[i] = sign
		}
		for o := range k.sw {
			k.sw[o] = float32(1) / 127
		}
		var err error
		if k.a.Wt, err = PackConvS8(k.hwio, c.KH, c.KW, c.IC, c.OC, k.sw); err != nil {
			t.Fatal(err)
		}
		for o := range k.a.M {
			k.a.M[o] = []float32{1e32, 1e-9, 3e-8, 1}[o%4]
		}
		for i := range k.a.Mul {
			k.a.Mul[i] = uint8(i % 3) // 0: the zero point: Inf·0
		}
		k.a.Q.Out = [2]U8Out{{Inv: 1e30, Z: 128}, {Inv: 1, Z: 100}} // out1: a NaN kept by the relu gives 0, a 0 gives 100
		if err := c.Run(&k.a, 0, 1, 0, 3); err != nil {
			t.Fatal(err)
		}
		seen := map[uint8]bool{}
		for o := 0; o < 16; o++ {
			for y := 0; y < 3; y++ {
				for x := 0; x < 3; x++ {
					want := k.plain(o, y, x)
					for j, w := range want {
						if got := k.a.Out[j][(y*3+x)*16+o]; got != w {
							t.Fatalf("sign %g: output %d (oc %d, %d, %d) = %d, want %d", sign, j, o, y, x, got, w)
						}
					}
					seen[want[1]] = true
				}
			}
		}
		if !seen[0] || !seen[100] {
			t.Errorf("sign %g: out1 never NaN (0) or never 0 (100): %v", sign, seen)
		}
	}
}

// TestConvU8Errors: invalid convolutions and arguments are refused with
// an error naming what is wrong, and nothing is written.
func TestConvU8Errors(t *testing.T) {
	ok := ConvU8{IC: 8, OC: 8, H: 4, W: 4, KH: 3, KW: 3, SH: 1, SW: 1, Pad: [4]int{1, 1, 1, 1}}
	for _, c := range []struct {
		mod  func(c *ConvU8)
		want string
	}{
		{func(c *ConvU8) { c.IC = 8192 }, "more than abi.MaxAccTerms"},
		{func(c *ConvU8) { c.SH = 3 }, "strides 3,1"},
		{func(c *ConvU8) { c.Pad[2] = 3 }, "padding"},
		{func(c *ConvU8) { c.H = 0 }, "H = 0"},
		{func(c *ConvU8) { c.W = 1 << 30 }, "W = 1073741824"},
		{func(c *ConvU8) { c.Epi = []Epi{{Op: EpiSigmoid}} }, "no sigmoid step"},
		{func(c *ConvU8) { c.Epi = []Epi{{Op: abi.Bias}} }, "no bias step"},
		{func(c *ConvU8) { c.Epi = []Epi{{Op: EpiAdd, Sub: 3}} }, "stride 3"},
		{func(c *ConvU8) { c.Epi = []Epi{{Op: EpiMul, Sub: 2}} }, "mul operand read at stride 2"},
		{func(c *ConvU8) { c.Epi = []Epi{{Op: EpiOut}, {Op: EpiOut}} }, "more than 1 out step"},
		{func(c *ConvU8) { c.Epi = []Epi{{Op: EpiAdd, Sub: 2}}; c.ResH = 4 }, "residual read at stride 2"},
	} {
		g := ok
		c.mod(&g)
		if err := g.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", g, err, c.want)
		}
	}
	rng := rand.New(rand.NewSource(4))
	c := ok
	c.Epi = []Epi{{Op: EpiAdd}}
	for _, tc := range []struct {
		mod                  func(a *ConvU8Args)
		ocb0, ocb1, oh0, oh1 int
		want                 string
	}{
		{func(a *ConvU8Args) { a.In = a.In[:10] }, 0, 1, 0, 4, "input has 10 elements, want 256"},
		{func(a *ConvU8Args) { a.Wt = nil }, 0, 1, 0, 4, "weights has 0 elements"},
		{func(a *ConvU8Args) { a.Res = a.Res[1:] }, 0, 1, 0, 4, "residual has 255 elements"},
		{func(a *ConvU8Args) { a.B = a.B[:15] }, 0, 1, 0, 4, "b has 15 elements"},
		{func(a *ConvU8Args) { a.Out = append(a.Out, a.Out[0]) }, 0, 1, 0, 4, "2 outputs, want 1"},
		{func(a *ConvU8Args) { a.Out[0] = a.Out[0][:100] }, 0, 1, 0, 4, "output 0 has 100 elements"},
		{func(a *ConvU8Args) { a.Q.Res.Z = 256 }, 0, 1, 0, 4, "residual zero point 256"},
		{func(a *ConvU8Args) {}, 0, 2, 0, 4, "blocks [0, 2) rows [0, 4) outside 1 blocks × 4 rows"},
		{func(a *ConvU8Args) {}, 0, 1, 3, 2, "rows [3, 2)"},
	} {
		k := newU8Case(rng, c)
		for i := range k.a.Out[0] {
			k.a.Out[0][i] = 0xA5
		}
		tc.mod(&k.a)
		err := c.Run(&k.a, tc.ocb0, tc.ocb1, tc.oh0, tc.oh1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
		}
		for _, b := range k.a.Out[0] {
			if b != 0xA5 {
				t.Fatalf("%q: the output was written", tc.want)
			}
		}
	}
}

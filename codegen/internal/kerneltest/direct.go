package kerneltest

import (
	"flag"
	"fmt"
	"math"
	"math/rand"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/build"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
)

// Direct is a direct-convolution generator under test (package avx512 or
// avx2) through its spec type S and tiling type T.
type Direct[S any, T comparable] struct {
	Pkg      string // the package name ("avx512")
	Generate func(ctx *build.Context, name string, s *S) (T, error)
	Print    func(ctx *build.Context, pkg, generator string) (asm, stubs []byte, err error)
	Validate func(s *S) error
	Conv     func(s *S) *conv.Spec // the shared view of a spec
	New      func(c conv.Spec) S   // a spec with the shared fields of c (Block ignored)
	NB       func(t T) int         // output blocks per register tile
	RefConv  func(s *S, a conv.Args, ocb0, ocb1, oh0, oh1 int)
	PackOIHW func(s *S, w []float32) []float32
}

// Case is one kernel of a generated test module.
type Case[S, T any] struct {
	Name string
	Spec S
	T    T // filled by WriteModule
}

// WriteModule generates the kernels of cases (filling in their tilings)
// into a standalone module (module kt) in dir and returns the assembly.
func (d Direct[S, T]) WriteModule(t testing.TB, dir string, cases []Case[S, T]) []byte {
	t.Helper()
	ctx := build.NewContext()
	var ks []DirectKernel
	for i := range cases {
		c := &cases[i]
		tl, err := d.Generate(ctx, c.Name, &c.Spec)
		if err != nil {
			t.Fatal(fmt.Errorf("%s: %w", c.Name, err))
		}
		c.T = tl
		cs := d.Conv(&c.Spec)
		ks = append(ks, DirectKernel{c.Name, cs.Sizes(), cs.OCB(), d.NB(tl), cs.OH()})
	}
	asm, stubs, err := d.Print(ctx, "main", d.Pkg+" test")
	if err != nil {
		t.Fatal(err)
	}
	WriteModule(t, dir, "kt", asm, stubs, DirectTable(ks), DirectMainSrc)
	return asm
}

// RandArgs makes random inputs for s honoring the padding contract (pad
// lanes and pad channels are zero); the weights are drawn in OIHW and
// packed with PackOIHW.
func (d Direct[S, T]) RandArgs(s *S, rng *rand.Rand) conv.Args {
	cs := d.Conv(s)
	z := cs.Sizes()
	var a conv.Args
	if cs.FirstNHWC {
		a.In = make([]float32, z.In)
		for i := range a.In {
			a.In[i] = Uniform(rng)
		}
	} else {
		a.In = Blocked(rng, cs.Block, cs.IC, cs.H, cs.W)
	}
	n := perOutput(cs)
	w := make([]float32, cs.OC*n*cs.KH*cs.KW)
	for i := range w {
		w[i] = Uniform(rng) / float32(math.Sqrt(float64(n*cs.KH*cs.KW)))
	}
	a.Wt = d.PackOIHW(s, w)
	a.Bias, a.Scale, a.Shift = Vec(rng, z.Bias, cs.OC), Vec(rng, z.Scale, cs.OC), Vec(rng, z.Shift, cs.OC)
	if z.Res > 0 {
		rh, rw, _ := cs.ResDims()
		a.Res = Blocked(rng, cs.Block, cs.OC, rh, rw)
	}
	if z.Mul > 0 {
		a.Mul = Blocked(rng, cs.Block, cs.OC, cs.OH(), cs.OW())
	}
	return a
}

// TestKernels generates cases into one module, applies checkAsm to the
// assembly, builds the module and runs every kernel over several (block
// range × row range) pieces plus empty ranges, its inputs against guard
// pages and its outputs inside NaN-payload sentinels, and compares the
// outputs with RefConv (max abs diff ≤ 1e-5 × max(1, max|ref|)). It
// returns the module directory.
func (d Direct[S, T]) TestKernels(t *testing.T, cases []Case[S, T], checkAsm func(*testing.T, []byte)) string {
	t.Helper()
	r := Start(t)
	asm := d.WriteModule(t, r.Dir, cases)
	r.Generated(t)
	checkAsm(t, asm)
	rng := rand.New(rand.NewSource(7))
	ins := make([]conv.Args, len(cases))
	specials := make([]conv.Args, len(cases))
	for i, c := range cases {
		a := d.RandArgs(&c.Spec, rng)
		ins[i] = a
		r.Input(t, c.Name, a.In, a.Wt, a.Bias, a.Res, a.Mul, a.Scale, a.Shift)
		specials[i] = d.SpecialArgs(&c.Spec, a, rng)
		a = specials[i]
		r.Input(t, c.Name+".special", a.In, a.Wt, a.Bias, a.Res, a.Mul, a.Scale, a.Shift)
	}
	r.BuildAndCheck(t, "kt.bin")
	tilings := map[T]int{}
	nonFinite := 0
	for i, c := range cases {
		tilings[c.T]++
		got := r.Output(t, c.Name)
		cs := d.Conv(&c.Spec)
		z := cs.Sizes()
		a := ins[i]
		a.Out0 = make([]float32, z.Out0)
		a.Out1 = make([]float32, z.Out1)
		d.RefConv(&c.Spec, a, 0, cs.OCB(), 0, cs.OH())
		want := append(a.Out0, a.Out1...)
		maxDiff, maxRef, at := Compare(t, c.Name, got, want)
		if maxDiff > 1e-5*math.Max(1, maxRef) {
			t.Errorf("%s %+v tiling %v: max abs diff %g at %d (got %g want %g), max |ref| %g",
				c.Name, c.Spec, c.T, maxDiff, at, got[at], want[at], maxRef)
		}
		a = specials[i]
		a.Out0 = make([]float32, z.Out0)
		a.Out1 = make([]float32, z.Out1)
		d.RefConv(&c.Spec, a, 0, cs.OCB(), 0, cs.OH())
		nonFinite += CompareSpecial(t, fmt.Sprintf("%s %+v tiling %v", c.Name, c.Spec, c.T), r.Output(t, c.Name+".special"), append(a.Out0, a.Out1...), 1e-5, nil)
	}
	t.Logf("inputs with NaN, ±Inf and huge values: %d non-finite reference outputs matched", nonFinite)
	r.Log(t, len(cases), asm)
	t.Logf("tilings: %v", tilings)
	return r.Dir
}

// SpecialArgs returns a copy of a with NaN, ±Inf and huge values in the
// activations (input, residual, gating operand): about one input in
// 3·KH·KW·IC, so that some outputs see one and others none; one residual
// and gating element in 16 (NaN only in the gating operand: NaNOnly).
// Weights, bias and scale stay finite.
func (d Direct[S, T]) SpecialArgs(s *S, a conv.Args, rng *rand.Rand) conv.Args {
	cs := d.Conv(s)
	per := 3 * cs.KH * cs.KW * cs.IC
	if cs.FirstNHWC {
		a.In = Special(rng, a.In, per, SpecialValues, 0, 0, 0, 0)
	} else {
		a.In = Special(rng, a.In, per, SpecialValues, cs.Block, cs.IC, cs.H, cs.W)
	}
	if a.Res != nil {
		rh, rw, _ := cs.ResDims()
		a.Res = Special(rng, a.Res, 16, SpecialValues, cs.Block, cs.OC, rh, rw)
	}
	if a.Mul != nil {
		a.Mul = Special(rng, a.Mul, 16, NaNOnly, cs.Block, cs.OC, cs.OH(), cs.OW())
	}
	return a
}

// TestRefPlain checks RefConv (and PackOIHW) against a direct convolution
// on plain CHW / HWC tensors, for the cases small enough.
func (d Direct[S, T]) TestRefPlain(t *testing.T, cases []Case[S, T]) {
	t.Helper()
	rng := rand.New(rand.NewSource(3))
	for _, c := range cases {
		s := c.Spec
		cs := d.Conv(&s)
		if cs.H*cs.W*cs.IC*cs.OC*cs.KH*cs.KW > 2e6 {
			continue
		}
		b := cs.Block
		a := d.RandArgs(&s, rng)
		// Plain copies of the inputs.
		plainIn := func(ch, h, w int) float64 {
			if cs.FirstNHWC {
				return float64(a.In[(h*cs.W+w)*cs.IC+ch])
			}
			return float64(a.In[((ch/b*cs.H+h)*cs.W+w)*b+ch%b])
		}
		n := perOutput(cs)
		w := make([]float32, cs.OC*n*cs.KH*cs.KW)
		for i := range w {
			w[i] = float32(rng.Float64() - 0.5)
		}
		a.Wt = d.PackOIHW(&s, w)
		z := cs.Sizes()
		a.Out0, a.Out1 = make([]float32, z.Out0), make([]float32, z.Out1)
		d.RefConv(&s, a, 0, cs.OCB(), 0, cs.OH())
		rh, rw, _ := cs.ResDims()
		oh, ow := cs.OH(), cs.OW()
		for oc := 0; oc < cs.OCB()*b; oc++ {
			for y := 0; y < oh; y++ {
				for x := 0; x < ow; x++ {
					v := 0.0
					for ic := 0; ic < n && oc < cs.OC; ic++ {
						ch := ic // the input channel: a group's own when narrow
						if cs.Narrow > 0 {
							ch = oc/n*n + ic
						}
						for kh := 0; kh < cs.KH; kh++ {
							for kw := 0; kw < cs.KW; kw++ {
								ih, iw := y*cs.SH-cs.PadT+kh, x*cs.SW-cs.PadL+kw
								if ih >= 0 && ih < cs.H && iw >= 0 && iw < cs.W {
									v += plainIn(ch, ih, iw) * float64(w[((oc*n+ic)*cs.KH+kh)*cs.KW+kw])
								}
							}
						}
					}
					var o0, o1 float64
					for _, st := range cs.Epilogue {
						switch st.Kind {
						case conv.Bias:
							v += float64(a.Bias[oc])
						case conv.Relu:
							v = math.Max(v, 0)
						case conv.AddResidual:
							rs := max(st.ResStride, 1)
							v += float64(a.Res[((oc/b*rh+y*rs)*rw+x*rs)*b+oc%b])
						case conv.Store:
							if st.Out == 0 {
								o0 = v
							} else {
								o1 = v
							}
						case conv.Affine:
							v = v*float64(a.Scale[oc]) + float64(a.Shift[oc])
						default:
							v = conv.EpiStep(st, v, a.Mul, ((oc/b*oh+y)*ow+x)*b+oc%b)
						}
					}
					i := ((oc/b*oh+y)*ow+x)*b + oc%b
					if diff := math.Abs(float64(a.Out0[i]) - o0); diff > 1e-4 {
						t.Fatalf("%s: out0[%d] = %g, want %g", c.Name, i, a.Out0[i], o0)
					}
					if z.Out1 > 0 {
						if diff := math.Abs(float64(a.Out1[i]) - o1); diff > 1e-4 {
							t.Fatalf("%s: out1[%d] = %g, want %g", c.Name, i, a.Out1[i], o1)
						}
					}
				}
			}
		}
	}
}

// Epilogues are the test epilogues of the direct generators: those of
// ResNet v1/v2, one reordered list, and those of gated units (exclusive
// gating's gate conv g → (g, (1−g)·x), its residual conv F·g + x', and a
// scaled sigmoid; codegen/internal/emit tests the sigmoid on its whole
// range).
var Epilogues = [][]conv.Step{
	conv.Steps(conv.Store),
	conv.Steps(conv.Bias, conv.Store),
	conv.Steps(conv.Bias, conv.Relu, conv.Store),
	conv.Steps(conv.Bias, conv.Relu, conv.Store, conv.Affine, conv.Relu, conv.Store),
	{{Kind: conv.Bias}, {Kind: conv.AddResidual, ResStride: 1}, {Kind: conv.Store}, {Kind: conv.Affine}, {Kind: conv.Relu}, {Kind: conv.Store, Out: 1}},
	{{Kind: conv.Bias}, {Kind: conv.AddResidual, ResStride: 2}, {Kind: conv.Store}, {Kind: conv.Affine}, {Kind: conv.Relu}, {Kind: conv.Store, Out: 1}},
	{{Kind: conv.Bias}, {Kind: conv.AddResidual, ResStride: 1}, {Kind: conv.Relu}, {Kind: conv.Store}},
	{{Kind: conv.AddResidual, ResStride: 2}, {Kind: conv.Store}},
	conv.Steps(conv.Store, conv.Affine, conv.Relu, conv.Store),
	[]conv.Step{{Kind: conv.Affine}, {Kind: conv.Store, Out: 1}, {Kind: conv.Relu}, {Kind: conv.Bias}, {Kind: conv.Store}},
	{{Kind: conv.Bias}, {Kind: conv.Sigmoid}, {Kind: conv.Store}, {Kind: conv.Scale, A: -1, B: 1}, {Kind: conv.Mul}, {Kind: conv.Store, Out: 1}},
	{{Kind: conv.Bias}, {Kind: conv.Mul}, {Kind: conv.AddResidual, ResStride: 1}, {Kind: conv.Relu}, {Kind: conv.Store}},
	{{Kind: conv.Scale, A: 4, B: -0.5}, {Kind: conv.Sigmoid}, {Kind: conv.Store}},
}

// Geom is a kernel geometry: size, strides and padding.
type Geom struct{ KH, KW, SH, SW, PT, PB, PL, PR int }

// Geoms are the test geometries of the direct generators.
var Geoms = []Geom{
	{1, 1, 1, 1, 0, 0, 0, 0},
	{1, 1, 2, 2, 0, 0, 0, 0},
	{3, 3, 1, 1, 1, 1, 1, 1},
	{3, 3, 2, 2, 1, 1, 1, 1},
	{3, 3, 2, 2, 0, 1, 0, 1}, // TF "same" stride 2
	{3, 3, 1, 2, 2, 0, 0, 2}, // asymmetric
	{7, 7, 2, 2, 3, 3, 3, 3},
	{7, 7, 1, 1, 3, 2, 1, 3},
	{3, 3, 1, 1, 0, 0, 0, 0},
}

// Sweep draws test kernels: a deterministic pseudo-random selection over
// channels, sizes, geometries, epilogues and tilings. Add keeps the valid
// specs as Cases k0, k1, ....
type Sweep[S any, T comparable] struct {
	d     Direct[S, T]
	Rng   *rand.Rand
	Sizes [][2]int
	Chans []int
	Cases []Case[S, T]
}

// Sweep starts a sweep over the given sizes and channel counts (seed 42).
func (d Direct[S, T]) Sweep(sizes [][2]int, chans []int) *Sweep[S, T] {
	return &Sweep[S, T]{d: d, Rng: rand.New(rand.NewSource(42)), Sizes: sizes, Chans: chans}
}

// Add adds s if it is valid.
func (w *Sweep[S, T]) Add(s S) {
	if w.d.Validate(&s) != nil {
		return
	}
	w.Cases = append(w.Cases, Case[S, T]{Name: fmt.Sprintf("k%d", len(w.Cases)), Spec: s})
}

// Chan draws a channel count.
func (w *Sweep[S, T]) Chan() int { return w.Chans[w.Rng.Intn(len(w.Chans))] }

// Size draws a size.
func (w *Sweep[S, T]) Size() [2]int { return w.Sizes[w.Rng.Intn(len(w.Sizes))] }

// Epilogue draws an epilogue.
func (w *Sweep[S, T]) Epilogue() []conv.Step { return Epilogues[w.Rng.Intn(len(Epilogues))] }

func (w *Sweep[S, T]) spec(ic, oc int, hw [2]int, g Geom, ep []conv.Step) conv.Spec {
	s := conv.Spec{IC: ic, OC: oc, H: hw[0], W: hw[1], KH: g.KH, KW: g.KW, SH: g.SH, SW: g.SW,
		PadT: g.PT, PadB: g.PB, PadL: g.PL, PadR: g.PR, Epilogue: ep}
	for _, st := range ep {
		if st.Kind == conv.AddResidual && st.ResStride == 2 {
			// Residual 2×OH−1 (odd, like MaxPool(1,2) of an odd map) or 2×OH.
			s.ResH, s.ResW = 2*s.OH()-w.Rng.Intn(2), 2*s.OW()-w.Rng.Intn(2)
		}
	}
	return s
}

// Spec returns the spec of an ic→oc convolution of geometry g on hw with
// epilogue ep (a stride-2 residual is drawn 2×OH−1 or 2×OH).
func (w *Sweep[S, T]) Spec(ic, oc int, hw [2]int, g Geom, ep []conv.Step) S {
	return w.d.New(w.spec(ic, oc, hw, g, ep))
}

// GeomsEpilogues adds every geometry × every epilogue, with random
// channels and sizes, then every size × geometry with a fixed epilogue.
func (w *Sweep[S, T]) GeomsEpilogues() {
	for _, g := range Geoms {
		for _, ep := range Epilogues {
			hw := w.Size()
			w.Add(w.Spec(w.Chan(), w.Chan(), hw, g, ep))
		}
	}
	for _, hw := range w.Sizes {
		for _, g := range Geoms {
			w.Add(w.Spec(w.Chan(), w.Chan(), hw, g, Epilogues[3]))
		}
	}
}

// HeavyEpilogues are epilogues that use every epilogue register a direct
// kernel reserves: Relu's zero, Sigmoid's two scratch registers, Affine's
// scale (AVX-512), plus a residual, a gating operand and two stores; and
// the same without Sigmoid (whose scratch registers shrink the tile).
var HeavyEpilogues = [][]conv.Step{
	{{Kind: conv.Bias}, {Kind: conv.AddResidual, ResStride: 1}, {Kind: conv.Relu}, {Kind: conv.Store}, {Kind: conv.Affine}, {Kind: conv.Sigmoid}, {Kind: conv.Mul}, {Kind: conv.Store, Out: 1}},
	{{Kind: conv.Bias}, {Kind: conv.Mul}, {Kind: conv.AddResidual, ResStride: 1}, {Kind: conv.Store}, {Kind: conv.Affine}, {Kind: conv.Relu}, {Kind: conv.Store, Out: 1}},
}

// TileSweep adds, for every register tile the generator's cost model can
// choose, a kernel that emits it: tiles(s) lists the register tiles spec s
// emits, as keys (shape, register assignment, epilogue registers).
// Candidates are 1×1 and 3×3 convolutions on rows of 1–64 output pixels
// (14 and 28 among them) with 1–8 output blocks of blk channels, with each
// of HeavyEpilogues; the first candidate emitting a new key is added.
func (w *Sweep[S, T]) TileSweep(blk int, tiles func(s *S) []string) {
	seen := map[string]bool{}
	for _, ep := range HeavyEpilogues {
		for ocb := 1; ocb <= 8; ocb++ {
			for ow := 1; ow <= 64; ow++ {
				for _, g := range []Geom{Geoms[0], Geoms[2]} {
					oc := ocb*blk - ocb%3
					cs := conv.Spec{IC: 5 + ocb, OC: oc, H: 2, W: ow, KH: g.KH, KW: g.KW, SH: 1, SW: 1,
						PadT: g.PT, PadB: g.PB, PadL: g.PL, PadR: g.PR, Epilogue: ep}
					s := w.d.New(cs)
					if w.d.Validate(&s) != nil {
						continue
					}
					fresh := false
					for _, k := range tiles(&s) {
						fresh = fresh || !seen[k]
						seen[k] = true
					}
					if fresh {
						w.Add(s)
					}
				}
			}
		}
	}
}

// TileCoverage checks that cases emit every register tile (tiles(s): the
// keys of TileSweep) the cost model chooses for 1–8 output blocks of blk
// channels and rows of 1–64 pixels, with each of HeavyEpilogues.
func (d Direct[S, T]) TileCoverage(t *testing.T, blk int, tiles func(s *S) []string, cases []Case[S, T]) {
	t.Helper()
	all := map[string]bool{}
	for _, ep := range HeavyEpilogues {
		for ocb := 1; ocb <= 8; ocb++ {
			for ow := 1; ow <= 64; ow++ {
				s := d.New(conv.Spec{IC: blk, OC: blk * ocb, H: 1, W: ow, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: ep})
				for _, k := range tiles(&s) {
					all[k] = true
				}
			}
		}
	}
	swept := map[string]bool{}
	for _, c := range cases {
		for _, k := range tiles(&c.Spec) {
			swept[k] = true
		}
	}
	for k := range all {
		if !swept[k] {
			t.Errorf("tile %s is not in the sweep", k)
		}
	}
	t.Logf("%d register tiles chosen by the cost model, all in the sweep", len(all))
}

// Widths adds, for output rows 14 and 28 wide (the ResNet stages whose
// rows split unevenly into tiles), every stride-1 geometry (with "same"
// horizontal padding) with every epilogue, on maps a few rows high.
func (w *Sweep[S, T]) Widths() {
	for _, hw := range [][2]int{{3, 14}, {2, 28}} {
		for _, g := range Geoms {
			if g.SH != 1 || g.SW != 1 {
				continue // stride 2 halves the width
			}
			g.PL, g.PR = (g.KW-1)/2, g.KW-1-(g.KW-1)/2
			g.PT, g.PB = min(g.PT, g.KH-1), min(g.PB, g.KH-1)
			for _, ep := range append(Epilogues, HeavyEpilogues...) {
				w.Add(w.Spec(w.Chan(), w.Chan(), hw, g, ep))
			}
		}
	}
}

// FirstLayer adds, for every geometry, NHWC-input kernels with the given
// input channel counts.
func (w *Sweep[S, T]) FirstLayer(ics ...int) {
	for _, g := range Geoms {
		for _, ic := range ics {
			s := w.spec(ic, w.Chan(), w.Size(), g, w.Epilogue())
			s.FirstNHWC = true
			w.Add(w.d.New(s))
		}
	}
}

// ResNetLike adds ResNet-like shapes with small channel counts.
func (w *Sweep[S, T]) ResNetLike() {
	for _, s := range []conv.Spec{
		{IC: 3, OC: 64, H: 32, W: 32, KH: 7, KW: 7, SH: 2, SW: 2, PadT: 3, PadB: 3, PadL: 3, PadR: 3, FirstNHWC: true, Epilogue: Epilogues[2]},
		{IC: 64, OC: 64, H: 28, W: 28, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: Epilogues[2]},
		{IC: 64, OC: 64, H: 14, W: 14, KH: 3, KW: 3, SH: 2, SW: 2, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: Epilogues[2]},
		{IC: 64, OC: 128, H: 7, W: 7, KH: 1, KW: 1, SH: 1, SW: 1, ResH: 14, ResW: 14, Epilogue: Epilogues[5]},
	} {
		w.Add(w.d.New(s))
	}
}

// Layer is one distinct conv shape of ResNet50V2 and its multiplicity.
type Layer[S any] struct {
	Name string
	N    int
	Spec S
}

// Layers returns the distinct conv shapes of Keras ResNet50V2 at 224×224,
// batch 1, with their multiplicities (53 conv layers in total) and the
// epilogues of the BN-folded v2 graph.
func (d Direct[S, T]) Layers() []Layer[S] {
	reduce := conv.Steps(conv.Bias, conv.Relu, conv.Store) // conv (BN folded) + ReLU
	expand := func(rs int) []conv.Step {                   // conv+bias, + shortcut, store, next pre-activation BN+ReLU
		return []conv.Step{{Kind: conv.Bias}, {Kind: conv.AddResidual, ResStride: rs}, {Kind: conv.Store}, {Kind: conv.Affine}, {Kind: conv.Relu}, {Kind: conv.Store, Out: 1}}
	}
	short := conv.Steps(conv.Bias, conv.Store)
	c1 := func(hw, ic, oc int, ep []conv.Step) conv.Spec {
		return conv.Spec{IC: ic, OC: oc, H: hw, W: hw, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: ep}
	}
	c3 := func(hw, c, s int) conv.Spec {
		return conv.Spec{IC: c, OC: c, H: hw, W: hw, KH: 3, KW: 3, SH: s, SW: s, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: reduce}
	}
	res2 := func(s conv.Spec, rhw int) conv.Spec { s.ResH, s.ResW = rhw, rhw; return s }
	layers := []Layer[conv.Spec]{
		{"stem 7x7/2 3->64", 1, conv.Spec{IC: 3, OC: 64, H: 224, W: 224, KH: 7, KW: 7, SH: 2, SW: 2, PadT: 3, PadB: 3, PadL: 3, PadR: 3, FirstNHWC: true, Epilogue: short}},

		{"c2 1x1 64->64", 1, c1(56, 64, 64, reduce)},
		{"c2 3x3 64", 2, c3(56, 64, 1)},
		{"c2 1x1 64->256", 2, c1(56, 64, 256, expand(1))},
		{"c2 1x1 256->64", 2, c1(56, 256, 64, reduce)},
		{"c2 sc 64->256", 1, c1(56, 64, 256, short)},
		{"c2 3x3/2 64 56->28", 1, c3(56, 64, 2)},
		{"c2 1x1 64->256 @28 +res/2", 1, res2(c1(28, 64, 256, expand(2)), 56)},

		{"c3 1x1 256->128", 1, c1(28, 256, 128, reduce)},
		{"c3 3x3 128", 3, c3(28, 128, 1)},
		{"c3 1x1 128->512", 3, c1(28, 128, 512, expand(1))},
		{"c3 1x1 512->128", 3, c1(28, 512, 128, reduce)},
		{"c3 sc 256->512", 1, c1(28, 256, 512, short)},
		{"c3 3x3/2 128 28->14", 1, c3(28, 128, 2)},
		{"c3 1x1 128->512 @14 +res/2", 1, res2(c1(14, 128, 512, expand(2)), 28)},

		{"c4 1x1 512->256", 1, c1(14, 512, 256, reduce)},
		{"c4 3x3 256", 5, c3(14, 256, 1)},
		{"c4 1x1 256->1024", 5, c1(14, 256, 1024, expand(1))},
		{"c4 1x1 1024->256", 5, c1(14, 1024, 256, reduce)},
		{"c4 sc 512->1024", 1, c1(14, 512, 1024, short)},
		{"c4 3x3/2 256 14->7", 1, c3(14, 256, 2)},
		{"c4 1x1 256->1024 @7 +res/2", 1, res2(c1(7, 256, 1024, expand(2)), 14)},

		{"c5 1x1 1024->512", 1, c1(7, 1024, 512, reduce)},
		{"c5 3x3 512", 3, c3(7, 512, 1)},
		{"c5 1x1 512->2048", 3, c1(7, 512, 2048, expand(1))},
		{"c5 1x1 2048->512", 2, c1(7, 2048, 512, reduce)},
		{"c5 sc 1024->2048", 1, c1(7, 1024, 2048, short)},
	}
	out := make([]Layer[S], len(layers))
	for i, l := range layers {
		out[i] = Layer[S]{l.Name, l.N, d.New(l.Spec)}
	}
	return out
}

// Specs returns the specs of cases and of the ResNet50V2 layers.
func (d Direct[S, T]) Specs(cases []Case[S, T]) []S {
	var specs []S
	for _, c := range cases {
		specs = append(specs, c.Spec)
	}
	for _, l := range d.Layers() {
		specs = append(specs, l.Spec)
	}
	return specs
}

// BenchFlags are the flags of a direct generator's TestBenchLayers.
type BenchFlags struct {
	Layers, Variants *bool
	Reps             *int
	Mode, Filter     *string
}

// DirectBenchFlags defines the TestBenchLayers flags of a direct
// generator's tests.
func DirectBenchFlags() BenchFlags {
	return BenchFlags{
		Layers:   flag.Bool("bench-layers", false, "TestBenchLayers: time the ResNet50V2 conv kernels"),
		Reps:     flag.Int("bench-reps", 31, "TestBenchLayers: timed runs per layer (median reported)"),
		Mode:     flag.String("bench-mode", "", `TestBenchLayers: "" (all warm), "coldw" (weights from DRAM: a different copy every run), "cold" (128 MiB written before every run)`),
		Filter:   flag.String("bench-filter", "", "TestBenchLayers: only layers whose name matches this regexp"),
		Variants: flag.Bool("bench-variants", false, "TestBenchLayers: also time alternative tilings of every layer"),
	}
}

// BenchLayers is TestBenchLayers: it times the kernel of every distinct
// ResNet50V2 conv shape (and, with -bench-variants, the variants of each
// layer's spec) and logs a table against peak GFLOP/s.
func (d Direct[S, T]) BenchLayers(t *testing.T, f BenchFlags, peak float64, variants func(s S) []S) {
	if !*f.Layers {
		t.Skip("needs -bench-layers")
	}
	RequireCPU(t, d.Pkg)
	layers := d.Layers()
	var cases []Case[S, T]
	var owner []int
	filter := regexp.MustCompile(*f.Filter)
	for i, l := range layers {
		if !filter.MatchString(l.Name) {
			continue
		}
		cases = append(cases, Case[S, T]{Name: fmt.Sprintf("l%d", i), Spec: l.Spec})
		owner = append(owner, i)
		if !*f.Variants {
			continue
		}
		for _, s := range variants(l.Spec) {
			cases = append(cases, Case[S, T]{Name: fmt.Sprintf("l%dv%d", i, len(cases)), Spec: s})
			owner = append(owner, i)
		}
	}
	dir := t.TempDir()
	d.WriteModule(t, dir, cases)
	args := []string{"run", ".", "bench", strconv.Itoa(*f.Reps)}
	if *f.Mode != "" {
		args = append(args, *f.Mode)
	}
	out, err := GoCmd(dir, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("driver: %v\n%s", err, out)
	}
	ns := ParseBench(out)
	nLayers := 0
	for _, l := range layers {
		if filter.MatchString(l.Name) {
			nLayers += l.N
		}
	}
	var tab strings.Builder
	fmt.Fprintf(&tab, "%-28s %3s %-6s %9s %8s %8s %7s %8s %6s %9s\n",
		"layer", "n", "tiling", "median µs", "min µs", "GFLOP/s", "%peak", "eff GF/s", "%peak", "n×median")
	var total, totalMin, flops, effFlops float64
	best := map[int]Case[S, T]{}
	for i, c := range cases {
		li := owner[i]
		l := layers[li]
		cs := d.Conv(&c.Spec)
		tm, tmin := ns[c.Name][0], ns[c.Name][1]
		nominal := 2 * float64(cs.OH()) * float64(cs.OW()) * float64(cs.KH*cs.KW) * float64(cs.IC) * float64(cs.OC)
		gf := nominal / tm
		mark := ""
		if c.Name != fmt.Sprintf("l%d", li) {
			mark = "  (variant)"
		} else {
			total += float64(l.N) * tm
			totalMin += float64(l.N) * tmin
			flops += float64(l.N) * nominal
			effFlops += float64(l.N) * 2 * float64(cs.MACs())
		}
		if b, ok := best[li]; !ok || tm < ns[b.Name][0] {
			best[li] = c
		}
		ef := 2 * float64(cs.MACs()) / tm
		fmt.Fprintf(&tab, "%-28s %3d %-6v %9.1f %8.1f %8.1f %6.1f%% %8.1f %5.1f%% %9.1f%s\n",
			l.Name, l.N, c.T, tm/1e3, tmin/1e3, gf, 100*gf/peak, ef, 100*ef/peak, float64(l.N)*tm/1e3, mark)
	}
	fmt.Fprintf(&tab, "total: %.2f ms/image from medians (%.2f ms from minima); %d conv layers, %.2f GFLOP nominal (%.2f executed), %.1f GFLOP/s average (%.1f%% of peak; executed %.1f, %.1f%%)\n",
		total/1e6, totalMin/1e6, nLayers, flops/1e9, effFlops/1e9, flops/total, 100*flops/total/peak, effFlops/total, 100*effFlops/total/peak)
	if *f.Variants {
		var idx []int
		for li := range best {
			idx = append(idx, li)
		}
		sort.Ints(idx)
		var bt float64
		for _, li := range idx {
			c := best[li]
			bt += float64(layers[li].N) * ns[c.Name][0]
			fmt.Fprintf(&tab, "best %-28s %v %.1f µs\n", layers[li].Name, c.T, ns[c.Name][0]/1e3)
		}
		fmt.Fprintf(&tab, "total with best tilings: %.2f ms/image\n", bt/1e6)
	}
	t.Log("\n" + tab.String())
}

// ForcedGeoms are the geometries of the forced-tiling test kernels: 3×3,
// asymmetric 3×3/(1,2), 7×7/2 and 1×1/2.
var ForcedGeoms = []Geom{Geoms[2], Geoms[5], Geoms[6], Geoms[1]}

// perOutput is the input channels each output channel reads: IC, or a
// narrow grouped conv's group width.
func perOutput(cs *conv.Spec) int {
	if cs.Narrow > 0 {
		return cs.Narrow
	}
	return cs.IC
}

// Narrow adds grouped convs of 1-, 2-, 4- (and 8-) channel groups on one block
// (conv.Spec.Narrow) over the geometries, the epilogues and, with
// tilings, forced tile widths: new sets a narrow spec's tiling override.
func (w *Sweep[S, T]) Narrow(block int, tile func(s *S, urw int)) {
	for i, g := range Geoms {
		for _, n := range []int{1, 2, 4, 8} {
			if !conv.NarrowOK(n, block) {
				continue
			}
			cs := w.spec(block, block, w.Size(), g, w.Epilogue())
			cs.Narrow = n
			s := w.d.New(cs)
			if tile != nil && i%2 == 1 {
				tile(&s, 1+w.Rng.Intn(14))
			}
			w.Add(s)
		}
	}
}

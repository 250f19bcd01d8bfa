package winograd

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
	"github.com/rnc-dev/rnc/codegen/internal/kerneltest"
	"github.com/rnc-dev/rnc/runtime"
)

// Epilogues used by ResNet v1/v2 (and reordered ones), and by gated units.
var testEpilogues = [][]conv.Step{
	conv.Steps(conv.Bias, conv.Relu, conv.Store), // ResNetV2 3×3
	conv.Steps(conv.Store),
	conv.Steps(conv.Bias, conv.Store),
	conv.Steps(conv.Bias, conv.Relu, conv.Store, conv.Affine, conv.Relu, conv.Store),
	{{Kind: conv.Bias}, {Kind: conv.AddResidual, ResStride: 1}, {Kind: conv.Store}, {Kind: conv.Affine}, {Kind: conv.Relu}, {Kind: conv.Store, Out: 1}},
	{{Kind: conv.Bias}, {Kind: conv.AddResidual, ResStride: 1}, {Kind: conv.Relu}, {Kind: conv.Store}}, // ResNet v1
	{{Kind: conv.Bias}, {Kind: conv.AddResidual, ResStride: 2}, {Kind: conv.Store}, {Kind: conv.Affine}, {Kind: conv.Relu}, {Kind: conv.Store, Out: 1}},
	conv.Steps(conv.Store, conv.Affine, conv.Relu, conv.Store),
	[]conv.Step{{Kind: conv.Affine}, {Kind: conv.Store, Out: 1}, {Kind: conv.Relu}, {Kind: conv.Bias}, {Kind: conv.Store}},
	{{Kind: conv.Bias}, {Kind: conv.Mul}, {Kind: conv.AddResidual, ResStride: 1}, {Kind: conv.Relu}, {Kind: conv.Store}},
	{{Kind: conv.Bias}, {Kind: conv.Sigmoid}, {Kind: conv.Store}, {Kind: conv.Scale, A: -1, B: 1}, {Kind: conv.Mul}, {Kind: conv.Store, Out: 1}},
}

type pads struct{ t, b, l, r int }

// sweepCases returns the test kernels: every (IC, OC) pair × size with the
// ResNetV2 epilogue; every epilogue, padding and tiling override on random
// channels and sizes.
func sweepCases() []wcase {
	rng := rand.New(rand.NewSource(42))
	sizes := [][2]int{{4, 4}, {5, 7}, {7, 7}, {14, 14}, {28, 28}, {30, 29}}
	chans := []int{16, 24, 64, 128}
	var cases []wcase
	add := func(s Spec) {
		if err := s.Validate(); err != nil {
			panic(fmt.Sprintf("%+v: %v", s, err))
		}
		cases = append(cases, wcase{Name: fmt.Sprintf("w%d", len(cases)), Spec: s})
	}
	spec := func(ic, oc int, hw [2]int, p pads, ep []conv.Step) Spec {
		s := Spec{IC: ic, OC: oc, H: hw[0], W: hw[1], PadT: p.t, PadB: p.b, PadL: p.l, PadR: p.r, Epilogue: ep}
		for _, st := range ep {
			if st.Kind == conv.AddResidual && st.ResStride == 2 {
				s.ResH, s.ResW = 2*s.OH()-rng.Intn(2), 2*s.OW()-rng.Intn(2)
			}
		}
		return s
	}
	same := pads{1, 1, 1, 1}
	for _, ic := range chans {
		for _, oc := range chans {
			for _, hw := range sizes {
				if ic*oc >= 64*128 && hw[0] > 14 && rng.Intn(2) == 0 {
					continue // keep the Go reference fast
				}
				add(spec(ic, oc, hw, same, testEpilogues[0]))
			}
		}
	}
	for _, ep := range testEpilogues[1:] {
		for i := 0; i < 3; i++ {
			add(spec(chans[rng.Intn(4)], chans[rng.Intn(4)], sizes[rng.Intn(len(sizes))], same, ep))
		}
	}
	for _, p := range []pads{{0, 0, 0, 0}, {2, 2, 2, 2}, {0, 1, 0, 1}, {2, 0, 1, 2}, {1, 2, 0, 0}, {0, 2, 2, 1}} {
		for _, hw := range sizes {
			add(spec(chans[rng.Intn(4)], chans[rng.Intn(4)], hw, p, testEpilogues[rng.Intn(len(testEpilogues))]))
		}
	}
	// Tiling overrides: register blocks, strip rows (incl. more than the
	// tile rows), prefetch.
	for _, o := range []struct{ nb, u, rows, pf int }{
		{1, 1, 1, 1}, {1, 28, 3, -1}, {2, 14, 2, 1}, {2, 5, 4, -1}, {4, 6, 1, 1}, {4, 3, 3, -1},
		{4, 6, 8, 1}, {2, 7, 5, 1}, {1, 9, 2, -1}, {4, 1, 2, 1},
	} {
		for _, hw := range [][2]int{{14, 14}, {30, 29}, {7, 7}} {
			oc := 16 * o.nb * (1 + rng.Intn(2))
			s := spec(chans[rng.Intn(4)], oc, hw, same, testEpilogues[rng.Intn(len(testEpilogues))])
			s.NB, s.U, s.Rows, s.Prefetch = o.nb, o.u, o.rows, o.pf
			add(s)
		}
	}
	// ResNet50V2-like shapes at small size, IC ≠ OC and odd channel counts.
	add(spec(256, 64, [2]int{7, 7}, same, testEpilogues[0]))
	add(spec(512, 512, [2]int{7, 7}, same, testEpilogues[0]))   // c5 (precision at large IC)
	add(spec(256, 256, [2]int{14, 14}, same, testEpilogues[4])) // c4
	add(spec(40, 48, [2]int{9, 11}, same, testEpilogues[4]))
	add(spec(8, 200, [2]int{6, 6}, same, testEpilogues[3]))
	add(spec(3, 16, [2]int{1, 1}, pads{2, 2, 2, 2}, testEpilogues[0]))
	add(spec(16, 16, [2]int{1, 9}, pads{1, 1, 0, 0}, testEpilogues[2]))
	return cases
}

func TestKernels(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go module")
	}
	cases := sweepCases()
	r := kerneltest.Start(t)
	asm := writeModule(t, r.Dir, cases, nil)
	r.Generated(t)
	checkAsm(t, asm)
	rng := rand.New(rand.NewSource(7))
	ins := make([]wargs, len(cases))
	specials := make([]wargs, len(cases))
	for i, c := range cases {
		a := randInputs(&c.Spec, rng)
		ins[i] = a
		r.Input(t, c.Name, a.In, a.U, a.Bias, a.Res, a.Mul, a.Scale, a.Shift)
		s := &c.Spec
		a.In = kerneltest.Special(rng, a.In, 3*9*s.IC, kerneltest.SpecialValues, 16, s.IC, s.H, s.W)
		if a.Res != nil {
			rh, rw, _ := s.resDims()
			a.Res = kerneltest.Special(rng, a.Res, 16, kerneltest.SpecialValues, 16, s.OC, rh, rw)
		}
		if a.Mul != nil {
			a.Mul = kerneltest.Special(rng, a.Mul, 16, kerneltest.NaNOnly, 16, s.OC, s.OH(), s.OW())
		}
		specials[i] = a
		r.Input(t, c.Name+".special", a.In, a.U, a.Bias, a.Res, a.Mul, a.Scale, a.Shift)
	}
	r.BuildAndCheck(t, "wt.bin")
	tilings := map[string]int{}
	worst, worstName := 0.0, ""
	nonFinite := 0
	for i, c := range cases {
		tilings[c.T.String()]++
		got := r.Output(t, c.Name)
		cs := c.Spec.conv()
		z := cs.Sizes()
		a := ins[i].Args
		a.Out0 = make([]float32, z.Out0)
		a.Out1 = make([]float32, z.Out1)
		conv.RefConv(cs, a, 0, cs.OCB(), 0, cs.OH())
		want := append(a.Out0, a.Out1...)
		maxDiff, maxRef, at := kerneltest.Compare(t, c.Name, got, want)
		rel := maxDiff / math.Max(1, maxRef)
		if rel > worst {
			worst, worstName = rel, fmt.Sprintf("%s (%dx%d %d->%d, max|ref| %.3g)", c.Name, c.Spec.H, c.Spec.W, c.Spec.IC, c.Spec.OC, maxRef)
		}
		if rel > 2e-4 {
			t.Errorf("%s %+v tiling %v: max abs diff %g at %d (got %g want %g), max |ref| %g",
				c.Name, c.Spec, c.T, maxDiff, at, got[at], want[at], maxRef)
		}
		a = specials[i].Args
		a.Out0 = make([]float32, z.Out0)
		a.Out1 = make([]float32, z.Out1)
		conv.RefConv(cs, a, 0, cs.OCB(), 0, cs.OH())
		nonFinite += kerneltest.CompareSpecial(t, fmt.Sprintf("%s %+v tiling %v", c.Name, c.Spec, c.T),
			r.Output(t, c.Name+".special"), append(a.Out0, a.Out1...), 2e-4, tileSpread(&c.Spec, a.In))
	}
	t.Logf("inputs with NaN, ±Inf and huge values: %d non-finite reference outputs matched", nonFinite)
	r.Log(t, len(cases), asm)
	t.Logf("worst max|diff|/max(1,max|ref|) = %.3g in %s", worst, worstName)
	t.Logf("tilings: %v", tilings)
}

// tileSpread reports, for an output element j of out0 or out1, whether a
// NaN, ±Inf or huge value of in lies in the 6×6 input window of its 4×4
// output tile: the Winograd transforms mix every input of the window into
// every output of the tile, so such an output may be non-finite where the
// direct reference is not (rnc's numeric semantics allow it), and loses the
// precision of its own small value next to a huge one.
func tileSpread(s *Spec, in []float32) func(j int) bool {
	oh, ow := s.OH(), s.OW()
	th, tw := s.Tiles()
	bad := make([]bool, th*tw)
	for ty := 0; ty < th; ty++ {
		for tx := 0; tx < tw; tx++ {
			for k := 0; k < 36 && !bad[ty*tw+tx]; k++ {
				ih, iw := 4*ty-s.PadT+k/6, 4*tx-s.PadL+k%6
				if ih < 0 || ih >= s.H || iw < 0 || iw >= s.W {
					continue
				}
				for cb := 0; cb < (s.IC+15)/16; cb++ {
					for _, v := range in[((cb*s.H+ih)*s.W+iw)*16:][:16] {
						if a := math.Abs(float64(v)); math.IsNaN(a) || a >= kerneltest.Huge/2 {
							bad[ty*tw+tx] = true
						}
					}
				}
			}
		}
	}
	return func(j int) bool {
		p := j / 16 % (oh * ow) // out0 and out1 have the same layout
		return bad[p/ow/4*tw+p%ow/4]
	}
}

// TestWorkspace checks that the generator's workspace (automatic tiling)
// is runtime.WinogradWorkspace for every ResNet50V2 layer and test shape.
func TestWorkspace(t *testing.T) {
	for _, c := range sweepCases() {
		s := c.Spec
		if s.Rows != 0 {
			continue
		}
		got := ChooseTiling(&s).Workspace
		want := runtime.WinogradWorkspace(s.IC, s.OC, s.H, s.W, s.PadT, s.PadB, s.PadL, s.PadR)
		if got != want {
			t.Errorf("%+v: workspace %d, runtime says %d", s, got, want)
		}
	}
}

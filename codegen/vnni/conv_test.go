package vnni

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/build"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
	"github.com/rnc-dev/rnc/codegen/internal/kerneltest"
	"github.com/rnc-dev/rnc/runtime/abi"
)

// st is a shorthand for epilogue steps: "relu", "res", "res/2", "mul",
// "affine", "scale", "store0", "store1".
func st(names ...string) []conv.Step {
	var s []conv.Step
	for _, n := range names {
		switch n {
		case "relu":
			s = append(s, conv.Step{Kind: conv.Relu})
		case "res":
			s = append(s, conv.Step{Kind: conv.AddResidual, ResStride: 1})
		case "res/2":
			s = append(s, conv.Step{Kind: conv.AddResidual, ResStride: 2})
		case "mul":
			s = append(s, conv.Step{Kind: conv.Mul})
		case "affine":
			s = append(s, conv.Step{Kind: conv.Affine})
		case "scale":
			s = append(s, conv.Step{Kind: conv.Scale, A: -1.5, B: 0.25})
		case "store0":
			s = append(s, conv.Step{Kind: conv.Store})
		case "store1":
			s = append(s, conv.Step{Kind: conv.Store, Out: 1})
		default:
			panic(n)
		}
	}
	return s
}

// namedEpilogues are the epilogues of ResNet (v2's pre-activation dual
// output at stride 1 and 2, v1's add+relu, a bottleneck's relu) and of
// gated units.
var namedEpilogues = [][]conv.Step{
	st("store0"),
	st("relu", "store0"),
	st("res", "store0", "affine", "relu", "store1"),
	st("res/2", "store0", "affine", "relu", "store1"),
	st("res", "relu", "store0"),
	st("mul", "res", "relu", "store0"),
	st("relu", "store0", "scale", "mul", "store1"),
	st("affine", "relu", "store0"),
}

// allEpilogues enumerates every combination of relu, add (stride 1 or 2),
// mul, affine and scale, in a shuffled order, with one store at the end
// or a second one before it.
func allEpilogues(rng *rand.Rand) [][]conv.Step {
	var out [][]conv.Step
	kinds := []string{"relu", "res", "mul", "affine", "scale"}
	for mask := 0; mask < 32; mask++ {
		strides := []string{""}
		if mask&2 != 0 {
			strides = []string{"res", "res/2"}
		}
		for _, res := range strides {
			for stores := 1; stores <= 2; stores++ {
				var names []string
				for i, k := range kinds {
					if mask&(1<<i) == 0 {
						continue
					}
					if k == "res" {
						k = res
					}
					names = append(names, k)
				}
				rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
				if stores == 2 {
					at := rng.Intn(len(names) + 1)
					names = append(names[:at], append([]string{"store0"}, names[at:]...)...)
					names = append(names, "store1")
				} else {
					names = append(names, "store0")
				}
				out = append(out, st(names...))
			}
		}
	}
	return out
}

// withRes sets the residual size of s for its epilogue's stride: an odd
// residual (2·OH − 1) now and then at stride 2.
func withRes(s ConvSpec, rng *rand.Rand) ConvSpec {
	for _, e := range s.Epilogue {
		if e.Kind == conv.AddResidual && e.ResStride == 2 {
			s.ResH, s.ResW = 2*s.OH()-rng.Intn(2), 2*s.OW()
		}
	}
	return s
}

// geomSpec is a spec of geometry g on an h×w map.
func geomSpec(ic, oc int, hw [2]int, g kerneltest.Geom, epi []conv.Step) ConvSpec {
	return ConvSpec{IC: ic, OC: oc, H: hw[0], W: hw[1], KH: g.KH, KW: g.KW, SH: g.SH, SW: g.SW,
		PadT: g.PT, PadB: g.PB, PadL: g.PL, PadR: g.PR, Epilogue: epi}
}

// sweepCases returns the test kernels: geometries × map sizes × odd
// channel counts; every epilogue combination; forced tilings (narrow,
// wide, tails, prefetch); 1-pixel maps, 7×7 maps and ResNet-like layers;
// the largest reduction abi.MaxAccTerms allows for a 3×3 kernel.
func sweepCases() []kcase {
	rng := rand.New(rand.NewSource(42))
	var cases []kcase
	add := func(s ConvSpec) {
		s = withRes(s, rng)
		if s.Validate() != nil {
			return
		}
		cases = append(cases, kcase{Name: fmt.Sprintf("k%d", len(cases)), Spec: s})
	}
	ics := []int{3, 4, 5, 6, 7, 8, 12, 13, 16, 17, 18, 24, 31, 32, 33, 38, 40}
	ocs := []int{5, 16, 17, 32, 40, 48, 64}
	sizes := [][2]int{{1, 1}, {3, 5}, {7, 7}, {9, 9}, {15, 15}, {5, 3}, {16, 17}}
	i := 0
	for _, g := range kerneltest.Geoms {
		for _, hw := range sizes {
			add(geomSpec(ics[rng.Intn(len(ics))], ocs[rng.Intn(len(ocs))], hw, g, namedEpilogues[i%len(namedEpilogues)]))
			i++
		}
	}
	shapes := []ConvSpec{
		{IC: 24, OC: 40, H: 7, W: 7, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1},
		{IC: 13, OC: 17, H: 9, W: 9, KH: 1, KW: 1, SH: 2, SW: 2},
		{IC: 32, OC: 32, H: 8, W: 6, KH: 3, KW: 3, SH: 2, SW: 2, PadB: 1, PadR: 1},
		{IC: 40, OC: 64, H: 5, W: 5, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1},
	}
	for j, epi := range allEpilogues(rng) {
		s := shapes[j%len(shapes)]
		s.Epilogue = epi
		add(s)
	}
	for _, t := range []Tiling{{1, 1, false}, {1, 5, true}, {1, 28, false}, {2, 3, false}, {2, 7, true}, {2, 14, false},
		{3, 9, false}, {3, 4, true}, {4, 6, false}, {4, 5, true}, {4, 2, false}} {
		for _, g := range kerneltest.ForcedGeoms {
			oc := 16 * t.NB * (1 + rng.Intn(2))
			if rng.Intn(2) == 0 {
				oc -= 1 + rng.Intn(15) // a partial last block
			}
			w := 15
			if t.URW > 12 {
				w = 60 // rows of 30 pixels at stride 2
			}
			s := geomSpec([]int{24, 40, 64, 7}[rng.Intn(4)], oc, [2]int{15, w}, g, namedEpilogues[rng.Intn(len(namedEpilogues))])
			s.NB, s.URW = t.NB, t.URW
			s.Prefetch = map[bool]int{true: 1, false: -1}[t.PF]
			add(s)
		}
	}
	for _, s := range []ConvSpec{
		{IC: 33, OC: 40, H: 1, W: 1, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: namedEpilogues[2]},
		{IC: 3, OC: 5, H: 1, W: 1, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: namedEpilogues[1]},
		{IC: 64, OC: 64, H: 7, W: 7, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: namedEpilogues[1]},
		{IC: 64, OC: 64, H: 14, W: 14, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: namedEpilogues[2]},
		{IC: 64, OC: 128, H: 7, W: 7, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: namedEpilogues[3]},
		{IC: 16, OC: 32, H: 28, W: 28, KH: 3, KW: 3, SH: 2, SW: 2, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: namedEpilogues[1]},
		{IC: 256, OC: 64, H: 7, W: 7, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: namedEpilogues[4], Prefetch: 1},
		// 3·3·7360 = 66,240 products, 71 below abi.MaxAccTerms: the "max"
		// set's centre pixel accumulates 255·127·66,240 = 2,145,182,400.
		{IC: 7360, OC: 16, H: 3, W: 3, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: namedEpilogues[1]},
	} {
		add(s)
	}
	return cases
}

// TestKernels runs every kernel of the sweep against runtime.ConvU8, bit
// for bit, on random, extreme and special inputs (see testKernels).
func TestKernels(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go module")
	}
	kerneltest.RequireCPU(t, kerneltest.VNNI)
	testKernels(t, sweepCases())
}

// TestSweep: the sweep reaches what it claims (every epilogue
// combination, both residual strides, two stores, every forced tile
// width, odd channel counts, the largest reduction).
func TestSweep(t *testing.T) {
	cases := sweepCases()
	seen := map[string]bool{}
	for _, c := range cases {
		s := c.Spec
		var kinds []string
		for _, e := range s.Epilogue {
			kinds = append(kinds, e.String())
		}
		seen["epi "+strings.Join(kinds, " ")] = true
		seen[fmt.Sprintf("ic%%4=%d", s.IC%4)] = true
		seen[fmt.Sprintf("oc%%16>0 %v", s.OC%16 > 0)] = true
		seen[fmt.Sprintf("tile %v", ChooseTiling(&s))] = true
		if int64(s.IC*s.KH*s.KW) > abi.MaxAccTerms-100 {
			seen["max reduction"] = true
		}
		if s.H == 1 && s.W == 1 {
			seen["1 pixel"] = true
		}
	}
	epis := 0
	for k := range seen {
		if strings.HasPrefix(k, "epi ") {
			epis++
		}
	}
	if epis < 96 {
		t.Errorf("%d distinct epilogues, want ≥ 96 (every combination)", epis)
	}
	for _, k := range []string{"ic%4=0", "ic%4=1", "ic%4=2", "ic%4=3", "oc%16>0 true", "max reduction", "1 pixel",
		"tile 1x1", "tile 1x28", "tile 2x14", "tile 4x6", "tile 2x7p", "tile 3x9"} {
		if !seen[k] {
			t.Errorf("the sweep has no %s", k)
		}
	}
	t.Logf("%d kernels", len(cases))
}

// TestValidate: what the generator refuses, with the reason.
func TestValidate(t *testing.T) {
	base := ConvSpec{IC: 16, OC: 16, H: 4, W: 4, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: st("relu", "store0")}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mod  func(s *ConvSpec)
		want string
	}{
		{func(s *ConvSpec) { s.IC = 8192 }, "more than abi.MaxAccTerms"},
		{func(s *ConvSpec) { s.IC, s.KH, s.KW, s.PadT, s.PadB, s.PadL, s.PadR = 7369, 3, 3, 0, 0, 0, 0 }, "a reduction of 7369×3×3 products"},
		{func(s *ConvSpec) { s.Epilogue = st("relu") }, "must end with a store"},
		{func(s *ConvSpec) { s.Epilogue = nil }, "must end with a store"},
		{func(s *ConvSpec) { s.Epilogue = st("store1") }, "stores to out1, want out0"},
		{func(s *ConvSpec) { s.Epilogue = st("store0", "store0") }, "stores to out0, want out1"},
		{func(s *ConvSpec) { s.Epilogue = append([]conv.Step{{Kind: conv.Bias}}, s.Epilogue...) }, "a bias step"},
		{func(s *ConvSpec) { s.Epilogue = append([]conv.Step{{Kind: conv.Sigmoid}}, s.Epilogue...) }, "a sigmoid step"},
		{func(s *ConvSpec) { s.Epilogue = st("res", "res", "store0") }, "more than 1 add"},
		{func(s *ConvSpec) { s.Epilogue = st("affine", "affine", "store0") }, "more than 1 affine"},
		{func(s *ConvSpec) {
			s.Epilogue = []conv.Step{{Kind: conv.AddResidual, ResStride: 3}, {Kind: conv.Store}}
		}, "stride 3"},
		{func(s *ConvSpec) { s.Epilogue = st("res/2", "store0"); s.ResH, s.ResW = 6, 8 }, "residual read at stride 2"},
		{func(s *ConvSpec) { s.SH = 3 }, "strides 3,1"},
		{func(s *ConvSpec) { s.PadL = 3 }, "padding"},
		{func(s *ConvSpec) { s.OC, s.NB = 48, 2 }, "NB=2 does not divide OCB=3"},
		{func(s *ConvSpec) { s.NB = 5 }, "bad tiling override"},
		{func(s *ConvSpec) { s.Prefetch = 2 }, "bad tiling override"},
	} {
		s := base
		s.Epilogue = append([]conv.Step(nil), base.Epilogue...)
		c.mod(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", s, err, c.want)
			continue
		}
		if _, gerr := Generate(build.NewContext(), "k", &s); gerr == nil || gerr.Error() != err.Error() {
			t.Errorf("Generate: %v, want %v", gerr, err)
		}
	}
}

// TestTilingRegisters: a forced tile wider than the register file allows
// is narrowed to it, and every automatic tiling keeps accumulators,
// weights and two broadcast registers within 32 zmm (a register given two
// roles would be a generation error: Generate checks every phase).
func TestTilingRegisters(t *testing.T) {
	for nb := 1; nb <= 4; nb++ {
		s := ConvSpec{IC: 16, OC: 192, H: 1, W: 64, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: st("relu", "store0"), NB: nb, URW: 64}
		tl := ChooseTiling(&s)
		if tl.NB*tl.URW > 28 || tl.NB*tl.URW+tl.NB+2 > 32 {
			t.Errorf("NB %d: tiling %v exceeds the registers", nb, tl)
		}
		if _, err := Generate(build.NewContext(), "k", &s); err != nil {
			t.Error(err)
		}
	}
	for ow := 1; ow <= 64; ow++ {
		for _, oc := range []int{16, 32, 48, 64, 128} {
			s := ConvSpec{IC: 16, OC: oc, H: 1, W: ow, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: st("store0")}
			tl := ChooseTiling(&s)
			if tl.NB*tl.URW > 28 || s.OCB()%tl.NB != 0 || tl.URW > ow {
				t.Errorf("OW %d OC %d: tiling %v", ow, oc, tl)
			}
		}
	}
}

// TestFeatures: the package's feature list is the avx512 target's plus
// AVX-512 VNNI, and Missing agrees with the harness's check.
func TestFeatures(t *testing.T) {
	names := map[string]bool{}
	for _, f := range Features {
		names[f.Name] = true
	}
	for _, f := range abi.AVX512.Features {
		if !names[f.Name] {
			t.Errorf("Features lacks %s", f.Name)
		}
	}
	if !names["avx512vnni"] || len(Features) != len(abi.AVX512.Features)+1 {
		t.Errorf("Features %v: want the avx512 target's and avx512vnni", names)
	}
	if m, km := Missing(), kerneltest.Missing(kerneltest.VNNI); (len(m) == 0) != (km == "") {
		t.Errorf("Missing() = %v, kerneltest.Missing = %q", m, km)
	}
}

package avx2

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/build"

	"github.com/rnc-dev/rnc/codegen/internal/kerneltest"
)

// sweepCases returns the test kernels: a deterministic pseudo-random
// selection over channels, sizes, geometries, epilogues and tilings, plus
// targeted cases.
func sweepCases() []kcase {
	w := harness.Sweep([][2]int{{1, 1}, {3, 5}, {7, 7}, {9, 9}, {15, 15}, {5, 3}, {16, 17}, {11, 13}}, []int{3, 8, 12, 24, 40, 64})
	w.GeomsEpilogues()
	rng := w.Rng
	// Every channel count as input and as output.
	for _, c := range w.Chans {
		g := kerneltest.Geoms[rng.Intn(len(kerneltest.Geoms))]
		w.Add(w.Spec(c, w.Chan(), w.Size(), g, w.Epilogue()))
		w.Add(w.Spec(w.Chan(), c, w.Size(), g, w.Epilogue()))
	}
	// First layer (NHWC input) with 3 channels and other counts ≤ 8.
	w.FirstLayer(3, 1, 4, 8)
	// Grouped convs of 1-, 2- and 4-channel groups (ResNeXt's), some with
	// forced tile widths.
	w.Narrow(8, func(s *ConvSpec, urw int) { s.NB, s.URW = 1, urw })
	// Forced tilings (edge/tail code paths, memory-operand weights,
	// chunked reductions, prefetch on and off).
	type ft struct{ nb, urw, wmem, icc int }
	for _, t := range []ft{{1, 1, 0, 0}, {1, 5, 0, 1}, {2, 3, 0, 2}, {4, 3, 0, 0}, {4, 3, 4, 1}, {2, 7, 0, 0},
		{1, 14, 0, 0}, {1, 15, 0, 2}, {3, 4, 0, 1}, {2, 5, 1, 2}, {4, 2, 0, 3}, {3, 5, 0, 0}, {2, 6, 2, 0}, {4, 1, 2, 1}} {
		for _, g := range kerneltest.ForcedGeoms {
			oc := []int{64, 40, 24, 8}[rng.Intn(4)]
			if (oc+7)/8%t.nb != 0 {
				oc = 8*t.nb*(1+rng.Intn(2)) - rng.Intn(3)
			}
			ic := []int{12, 24}[rng.Intn(2)]
			if t.icc != 0 {
				ic = []int{40, 64, 56, 36}[rng.Intn(4)]
			}
			s := w.Spec(ic, oc, [2]int{15, 15}, g, w.Epilogue())
			s.NB, s.URW, s.WMem, s.ICC = t.nb, t.urw, t.wmem, t.icc
			s.Prefetch = 1 - 2*rng.Intn(2)
			w.Add(s)
		}
	}
	w.ResNetLike()
	w.Widths()
	w.TileSweep(8, tileKeys)
	epi := kerneltest.Epilogues
	w.Add(ConvSpec{IC: 24, OC: 40, H: 56, W: 56, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: epi[4]})
	// Automatic reduction chunking (group weights > 256 KiB, small output)
	// and a weight-streaming layer (automatic prefetch, 2-block chunks).
	w.Add(ConvSpec{IC: 512, OC: 64, H: 5, W: 5, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: epi[4]})
	w.Add(ConvSpec{IC: 2200, OC: 64, H: 3, W: 3, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: epi[3]})
	w.Add(ConvSpec{IC: 256, OC: 256, H: 7, W: 7, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: epi[2]})
	return w.Cases
}

// tileKeys lists the register tiles the kernel of s emits: width, weight
// registers and whether the sigmoid's scratch registers are reserved.
func tileKeys(s *ConvSpec) []string {
	t := ChooseTiling(s)
	var keys []string
	for _, u := range rowTiles(s.OW(), t.URW) {
		keys = append(keys, fmt.Sprintf("%dx%d wr%d sigmoid=%v", t.NB, u, weightRegs(t.NB, u, s.WMem), s.conv().Has(Sigmoid)))
	}
	return keys
}

// TestTileCoverage: the sweep emits every register tile the cost model
// chooses for 1–8 output blocks and rows of 1–64 pixels.
func TestTileCoverage(t *testing.T) { harness.TileCoverage(t, 8, tileKeys, sweepCases()) }

func TestKernels(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go module")
	}
	dir := harness.TestKernels(t, sweepCases(), checkAsm)
	nVec := checkEncodings(t, dir)
	t.Logf("%d vector instructions checked: all VEX-encoded", nVec)
}

// TestRegisterRoles: the tiling that miscompiled before accLimit reserved
// the sigmoid's scratch registers (a 1×14 tile: accumulators Y0–Y13,
// scratch Y13 and Y14) is a generation error, and ChooseTiling no longer
// picks it.
func TestRegisterRoles(t *testing.T) {
	s := ConvSpec{IC: 16, OC: 8, H: 14, W: 14, KH: 1, KW: 1, SH: 1, SW: 1,
		Epilogue: Steps(Bias, Sigmoid, Store)}
	bad := Tiling{NB: 1, URW: 14, WR: weightRegs(1, 14, 0), ICC: 2}
	_, err := generate(build.NewContext(), "k", &s, bad)
	if err == nil || !strings.Contains(err.Error(), "register Y13 is both accumulator 0,13 and sigmoid scratch") {
		t.Errorf("1x14 tile with a sigmoid: error %v", err)
	}
	if tl := ChooseTiling(&s); tl.NB*tl.URW > maxAcc-2 {
		t.Errorf("ChooseTiling picks %v for a sigmoid epilogue", tl)
	}
	if _, err := Generate(build.NewContext(), "k", &s); err != nil {
		t.Error(err)
	}
}

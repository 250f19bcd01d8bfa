package avx2

import (
	"testing"

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
	epi := kerneltest.Epilogues
	w.Add(ConvSpec{IC: 24, OC: 40, H: 56, W: 56, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: epi[4]})
	// Automatic reduction chunking (group weights > 256 KiB, small output)
	// and a weight-streaming layer (automatic prefetch, 2-block chunks).
	w.Add(ConvSpec{IC: 512, OC: 64, H: 5, W: 5, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: epi[4]})
	w.Add(ConvSpec{IC: 2200, OC: 64, H: 3, W: 3, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: epi[3]})
	w.Add(ConvSpec{IC: 256, OC: 256, H: 7, W: 7, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: epi[2]})
	return w.Cases
}

func TestKernels(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go module")
	}
	dir := harness.TestKernels(t, sweepCases(), checkAsm)
	nVec := checkEncodings(t, dir)
	t.Logf("%d vector instructions checked: all VEX-encoded", nVec)
}

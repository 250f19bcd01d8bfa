package avx512

import (
	"fmt"
	"testing"

	"github.com/rnc-dev/rnc/codegen/internal/kerneltest"
)

// sweepCases returns the test kernels: a deterministic pseudo-random
// selection over channels, sizes, geometries, epilogues and tilings, plus
// targeted cases.
func sweepCases() []kcase {
	w := harness.Sweep([][2]int{{1, 1}, {3, 5}, {7, 7}, {9, 9}, {15, 15}, {5, 3}, {16, 17}}, []int{8, 24, 40, 64})
	w.GeomsEpilogues()
	// First layer (NHWC input, 3 channels) and other small channel counts.
	w.FirstLayer(3, 1, 4)
	// Grouped convs of 1-, 2- and 4-channel groups (ResNeXt's), some with
	// forced tile widths.
	w.Narrow(16, func(s *ConvSpec, urw int) { s.NB, s.URW = 1, urw })
	// Forced tilings (edge/tail code paths, embedded broadcast).
	rng := w.Rng
	for _, t := range []Tiling{{NB: 1, URW: 1}, {NB: 1, URW: 5, ICC: 1}, {NB: 2, URW: 3, ICC: 2}, {NB: 4, URW: 6},
		{NB: 4, URW: 7, Embed: true, ICC: 1}, {NB: 2, URW: 14}, {NB: 1, URW: 28, Embed: true}, {NB: 3, URW: 9, ICC: 1},
		{NB: 2, URW: 5, Embed: true, ICC: 2}, {NB: 4, URW: 5, ICC: 3}} {
		for _, g := range kerneltest.ForcedGeoms {
			oc := []int{64, 40, 24, 8}[rng.Intn(4)]
			if (oc+15)/16%t.NB != 0 {
				oc = 16 * t.NB * (1 + rng.Intn(2))
			}
			ic := 24
			if t.ICC != 0 {
				ic = []int{40, 64, 56}[rng.Intn(3)]
			}
			s := w.Spec(ic, oc, [2]int{15, 15}, g, w.Epilogue())
			s.NB, s.URW, s.EmbedBcast, s.ICC = t.NB, t.URW, t.Embed, t.ICC
			s.Prefetch = 1 - 2*rng.Intn(2)
			w.Add(s)
		}
	}
	w.ResNetLike()
	w.Widths()
	w.TileSweep(16, tileKeys)
	// Automatic reduction chunking (group weights > 256 KiB, small output).
	epi := kerneltest.Epilogues
	w.Add(ConvSpec{IC: 256, OC: 64, H: 5, W: 5, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: epi[4]})
	w.Add(ConvSpec{IC: 1100, OC: 64, H: 3, W: 3, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: epi[3]})
	return w.Cases
}

// tileKeys lists the register tiles the kernel of s emits: shape and
// broadcast mode.
func tileKeys(s *ConvSpec) []string {
	t := ChooseTiling(s)
	var keys []string
	for _, u := range rowTiles(s.OW(), t.URW) {
		keys = append(keys, fmt.Sprintf("%dx%d embed=%v sigmoid=%v", t.NB, u, t.Embed, s.conv().Has(Sigmoid)))
	}
	return keys
}

// TestTileCoverage: the sweep emits every register tile the cost model
// chooses for 1–8 output blocks and rows of 1–64 pixels.
func TestTileCoverage(t *testing.T) { harness.TileCoverage(t, 16, tileKeys, sweepCases()) }

func TestKernels(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go module")
	}
	harness.TestKernels(t, sweepCases(), checkAsm)
}

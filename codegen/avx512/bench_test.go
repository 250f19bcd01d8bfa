package avx512

import (
	"testing"

	"github.com/rnc-dev/rnc/codegen/internal/kerneltest"
)

var benchFlags = kerneltest.DirectBenchFlags()

// PeakGFLOPS is the measured single-core zmm FMA peak of the target machine
// (Zen 5 at ≈4.1 GHz, two 512-bit FMA pipes).
const PeakGFLOPS = 264.0

// benchTilings are the alternative tilings of -bench-variants (ICC 0 =
// automatic).
var benchTilings = []Tiling{
	{NB: 4, URW: 5}, {NB: 4, URW: 6}, {NB: 2, URW: 7}, {NB: 2, URW: 14}, {NB: 4, URW: 7, Embed: true},
	{NB: 1, URW: 28, Embed: true}, {NB: 2, URW: 7, PF: true},
	{NB: 4, URW: 5, ICC: 1}, {NB: 2, URW: 7, ICC: 1}, {NB: 2, URW: 7, ICC: 1, PF: true},
	{NB: 4, URW: 5, ICC: 64}, {NB: 2, URW: 7, ICC: 64},
}

// benchVariants returns the specs of base with the benchTilings that fit
// it and change its tiling.
func benchVariants(base ConvSpec) []ConvSpec {
	var vs []ConvSpec
	for _, v := range benchTilings {
		s := base
		if s.OCB()%v.NB != 0 {
			continue
		}
		s.NB, s.URW, s.EmbedBcast, s.ICC = v.NB, v.URW, v.Embed, v.ICC
		s.Prefetch = -1
		if v.PF {
			s.Prefetch = 1
		}
		if s.ICC != 0 && s.ICC < s.ICB() && s.OH()*s.OW() > 14*14 {
			continue
		}
		if ChooseTiling(&s) == ChooseTiling(&base) {
			continue
		}
		vs = append(vs, s)
	}
	return vs
}

// TestBenchLayers times the kernels of every distinct ResNet50V2 conv shape:
//
//	go test ./codegen/avx512 -run TestBenchLayers -v -bench-layers
func TestBenchLayers(t *testing.T) { harness.BenchLayers(t, benchFlags, PeakGFLOPS, benchVariants) }

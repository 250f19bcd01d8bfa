package avx2

import (
	"testing"

	"github.com/rnc-dev/rnc/codegen/internal/kerneltest"
)

var benchFlags = kerneltest.DirectBenchFlags()

// PeakGFLOPS is the single-core ymm FMA peak of the measuring machine: half
// of its zmm peak (Zen 5 at ≈4.1 GHz, two FMA pipes × 8 lanes × 2 FLOP).
const PeakGFLOPS = 132.0

// benchTiling is an alternative tiling of -bench-variants (ICC 0 =
// automatic).
type benchTiling struct {
	NB, URW, WMem, ICC int
	PF                 bool
}

var benchTilings = []benchTiling{
	{NB: 4, URW: 3}, {NB: 4, URW: 2}, {NB: 2, URW: 7}, {NB: 2, URW: 6}, {NB: 2, URW: 5}, {NB: 1, URW: 14},
	{NB: 4, URW: 3, WMem: 4}, {NB: 3, URW: 4},
	{NB: 4, URW: 3, PF: true}, {NB: 2, URW: 6, PF: true},
	{NB: 4, URW: 3, ICC: 1}, {NB: 4, URW: 3, ICC: 1, PF: true}, {NB: 4, URW: 3, ICC: 2, PF: true}, {NB: 4, URW: 3, ICC: 4, PF: true},
	{NB: 4, URW: 3, ICC: 256}, {NB: 2, URW: 6, ICC: 256},
}

// benchVariants returns the specs of base with the benchTilings that fit
// it, one per distinct tiling other than base's.
func benchVariants(base ConvSpec) []ConvSpec {
	var vs []ConvSpec
	seen := map[Tiling]bool{ChooseTiling(&base): true}
	for _, v := range benchTilings {
		s := base
		if s.OCB()%v.NB != 0 {
			continue
		}
		s.NB, s.URW, s.WMem, s.ICC = v.NB, v.URW, v.WMem, v.ICC
		s.Prefetch = -1
		if v.PF {
			s.Prefetch = 1
		}
		if s.ICC != 0 && s.ICC < s.ICB() && s.OH()*s.OW() > 14*14 {
			continue
		}
		if seen[ChooseTiling(&s)] {
			continue
		}
		seen[ChooseTiling(&s)] = true
		vs = append(vs, s)
	}
	return vs
}

// TestBenchLayers times the kernels of every distinct ResNet50V2 conv shape:
//
//	go test ./codegen/avx2 -run TestBenchLayers -v -bench-layers
func TestBenchLayers(t *testing.T) { harness.BenchLayers(t, benchFlags, PeakGFLOPS, benchVariants) }

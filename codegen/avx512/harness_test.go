package avx512

import (
	"testing"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
	"github.com/rnc-dev/rnc/codegen/internal/kerneltest"
)

// harness runs this generator's kernels in the shared test harness.
var harness = kerneltest.Direct[ConvSpec, Tiling]{
	Pkg: "avx512", Generate: Generate, Print: Print, Validate: (*ConvSpec).Validate,
	Conv: (*ConvSpec).conv, New: fromConv, NB: func(t Tiling) int { return t.NB },
	RefConv: RefConv, PackOIHW: PackOIHW,
}

// kcase is one kernel of a generated test module.
type kcase = kerneltest.Case[ConvSpec, Tiling]

// fromConv returns the spec with the shared fields of c.
func fromConv(c conv.Spec) ConvSpec {
	return ConvSpec{IC: c.IC, OC: c.OC, H: c.H, W: c.W, KH: c.KH, KW: c.KW, SH: c.SH, SW: c.SW, PadT: c.PadT, PadB: c.PadB, PadL: c.PadL,
		PadR: c.PadR, FirstNHWC: c.FirstNHWC, ResH: c.ResH, ResW: c.ResW, Epilogue: c.Epilogue, NB: c.NB, URW: c.URW, ICC: c.ICC, Prefetch: c.Prefetch, Narrow: c.Narrow}
}

// checkAsm applies the instruction checks to every TEXT block: an FMA
// (plain or with embedded broadcast) and no CALL.
func checkAsm(t *testing.T, asm []byte) {
	kerneltest.CheckAsm(t, asm, `(?m)^\s+VFMADD231PS(\.BCST)?\s`, nil)
}

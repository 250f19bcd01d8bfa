package codegen

import (
	"github.com/rnc-dev/rnc/codegen/avx2"
	"github.com/rnc-dev/rnc/codegen/avx512"
	"github.com/rnc-dev/rnc/codegen/internal/direct"
	"github.com/rnc-dev/rnc/passes"
)

// A backend is a target's code generator for the one kernel family whose
// code is target-specific: the direct convolution. The other families are
// generated from the target's description (abi.Target) alone: the simd
// kernels (pool, eltwise, head) at its vector width, the Winograd kernels
// for a target that lists the family. docs/targets.md walks through
// adding a target: its description, its generator package, and one entry
// here.
type backend struct {
	direct direct.Generator
}

// backends holds the generator of every target with assembly kernels.
var backends = map[passes.Target]backend{
	passes.AVX512: {direct: avx512.Direct},
	passes.AVX2:   {direct: avx2.Direct},
	passes.VNNI:   {direct: avx512.Direct}, // float32 steps of int8 models; their int8 convs: codegen/vnni (convU8Kernel)
}

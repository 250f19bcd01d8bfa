package codegen

import (
	"github.com/rnc-dev/rnc/codegen/internal/conv"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
)

// A backend is a target's code generator for the kernel families its
// description (abi.Target) lists whose code is target-specific: the
// direct convolution's. The other families are generated from the
// description alone: the simd kernels (pool, eltwise, head) at its
// vector width, the Winograd kernels for a target that has them.
// docs/targets.md walks through adding a target.
type backend struct {
	// direct makes the kernel of a conv step whose epilogue convEpilogue
	// translated: its key (equal keys, one kernel), its emitter, and the
	// register tile's output-channel blocks; ok false sends the step to
	// the portable Go kernel.
	direct func(s *runtime.Step, epi []conv.Step, resH, resW int, aliased bool) (key string, emit func(ctxEmitter, string) error, nb int, ok bool)
}

// backends holds the generator of every target with assembly kernels.
var backends = map[passes.Target]backend{
	passes.AVX512: {direct: avx512Direct},
	passes.AVX2:   {direct: avx2Direct},
}

package winograd

import (
	"github.com/mmcloughlin/avo/build"

	"github.com/rnc-dev/rnc/codegen/internal/goasm"
)

// Print compiles the functions of ctx and returns the Go assembly and the
// Go declarations (stubs) of package pkg; generator names the generator in
// the "Code generated" headers. It is the printer of every kernel
// generator (goasm.Print, also avx512.Print and avx2.Print), so a context
// may mix Winograd and direct kernels.
func Print(ctx *build.Context, pkg, generator string) (asm, stubs []byte, err error) {
	return goasm.Print(ctx, pkg, generator)
}

package avx2

import (
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"

	"github.com/rnc-dev/rnc/codegen/avx512"
)

// Compile is avo's pass.Compile without the register-allocation passes
// (the kernels name only physical registers; see avx512.Compile, which
// this is).
var Compile = avx512.Compile

// Print compiles the functions of ctx with Compile and returns the Go
// assembly and the Go declarations (stubs) of package pkg. generator names
// the generator in the "Code generated" headers. A context may mix avx2
// and avx512 kernels (a caller dispatching on CPU features at run time
// then keeps the two sets behind different names).
func Print(ctx *build.Context, pkg, generator string) (asm, stubs []byte, err error) {
	return avx512.Print(ctx, pkg, generator)
}

// PrintFile is Print for an ir.File from ctx.Result().
func PrintFile(f *ir.File, pkg, generator string) (asm, stubs []byte, err error) {
	return avx512.PrintFile(f, pkg, generator)
}

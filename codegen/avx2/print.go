package avx2

import (
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"

	"github.com/rnc-dev/rnc/codegen/internal/goasm"
)

// Compile is avo's pass.Compile without the register-allocation passes
// (the kernels name only physical registers): goasm.Compile, shared by
// every kernel generator.
var Compile = goasm.Compile

// Print compiles the functions of ctx with Compile and returns the Go
// assembly and the Go declarations (stubs) of package pkg. generator names
// the generator in the "Code generated" headers. A context may mix the
// kernels of several generators (it is goasm.Print).
func Print(ctx *build.Context, pkg, generator string) (asm, stubs []byte, err error) {
	return goasm.Print(ctx, pkg, generator)
}

// PrintFile is Print for an ir.File from ctx.Result().
func PrintFile(f *ir.File, pkg, generator string) (asm, stubs []byte, err error) {
	return goasm.PrintFile(f, pkg, generator)
}

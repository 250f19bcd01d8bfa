// Package goasm compiles avo functions and prints them as Go assembly and stubs: the printer every kernel generator (direct, Winograd, pooling and elementwise) goes through.
package goasm

import (
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"
)

// Compile is avo's pass.Compile without the register-allocation passes
// (Liveness, AllocateRegisters, BindRegisters). The kernels name only
// physical registers, so those passes do nothing for them, but Liveness
// alone takes seconds on kernels of this size (15 s for the test sweep).
// VerifyAllocation still rejects any virtual register. A file that also
// holds functions written with virtual registers needs pass.Compile (which
// works for these kernels too, only slower).
var Compile = pass.Concat(
	pass.Verify,
	pass.FunctionPass(pass.PruneJumpToFollowingLabel),
	pass.FunctionPass(pass.PruneDanglingLabels),
	pass.FunctionPass(pass.LabelTarget),
	pass.FunctionPass(pass.CFG),
	pass.InstructionPass(pass.ZeroExtend32BitOutputs),
	pass.FunctionPass(pass.VerifyAllocation),
	pass.FunctionPass(pass.EnsureBasePointerCalleeSaved),
	pass.Func(pass.IncludeTextFlagHeader),
	pass.FunctionPass(pass.PruneSelfMoves),
	pass.FunctionPass(pass.RequiredISAExtensions),
)

// Print compiles the functions of ctx with Compile and returns the Go
// assembly and the Go declarations (stubs) of package pkg. generator names
// the generator in the "Code generated" headers. A context may mix the
// kernels of several generators (AVX-512 and AVX2 ones under different
// names, for a caller dispatching on CPU features at run time).
func Print(ctx *build.Context, pkg, generator string) (asm, stubs []byte, err error) {
	f, err := ctx.Result()
	if err != nil {
		return nil, nil, err
	}
	return PrintFile(f, pkg, generator)
}

// PrintFile is Print for an ir.File from ctx.Result().
func PrintFile(f *ir.File, pkg, generator string) (asm, stubs []byte, err error) {
	if err := Compile.Execute(f); err != nil {
		return nil, nil, err
	}
	cfg := printer.Config{Name: generator, Pkg: pkg}
	if asm, err = printer.NewGoAsm(cfg).Print(f); err != nil {
		return nil, nil, err
	}
	if stubs, err = printer.NewStubs(cfg).Print(f); err != nil {
		return nil, nil, err
	}
	return asm, stubs, nil
}

// Package codegen lowers a model to a Go package: shape-specialized amd64 kernels generated with avo, a plan per target that runtime executes, and a portable Go fallback.
//
// Generate runs the pass pipeline once per target (avx512: NCHW16c, avx2:
// NCHW8c, generic: NCHW8c with Go kernels), turns each lowered graph into a
// runtime.Plan literal, and emits one kernel per distinct (op, shapes,
// strides, padding, epilogue) — identical kernels once. The generated
// package picks its plan at init from the CPU's features.
package codegen

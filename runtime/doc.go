// Package runtime is what rnc-generated packages import: weights, the weight program, the worker pool, the arena and CPU feature selection.
//
// It imports no compiler package (dsl, ir, passes, codegen), so a generated
// model links only this package and the standard library.
package runtime

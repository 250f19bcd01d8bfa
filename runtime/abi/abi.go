// Package abi is the contract between rnc's compiler and the runtime a generated package runs on: element types, the epilogue vocabulary, what each kernel family accepts, and the targets.
//
// Everything here is data that both sides read: the IR (package ir) types
// its values with DType and spells its epilogues with Op; the passes ask a
// family's Caps what a compiled kernel accepts before fusing into it; the
// code generators check the same Caps before emitting a kernel and name
// the Go parameter types from DType; the runtime finds a plan's Target by
// name to test the CPU's features. Package runtime re-exports the names a
// generated package spells (runtime.EpiAdd is abi.Add).
package abi

import "fmt"

// DType is an element type.
type DType uint8

const (
	F32  DType = iota // float32: every float model, every activation of a float plan
	U8                // uint8: quantized activations (zero point 0..255)
	S8                // int8: quantized weights (symmetric)
	S32               // int32: integer accumulators and quantized biases
	BF16              // bfloat16: reserved; no kernel computes in it yet
)

var dtypes = [...]struct {
	name, goType string
	size         int
}{
	F32:  {"f32", "float32", 4},
	U8:   {"u8", "uint8", 1},
	S8:   {"s8", "int8", 1},
	S32:  {"s32", "int32", 4},
	BF16: {"bf16", "uint16", 2},
}

// DTypes lists every element type, in order.
func DTypes() []DType {
	out := make([]DType, len(dtypes))
	for i := range dtypes {
		out[i] = DType(i)
	}
	return out
}

func (d DType) valid() bool { return int(d) < len(dtypes) }

// String is the type's name in the IR's text form ("f32", "u8", ...).
func (d DType) String() string {
	if !d.valid() {
		return fmt.Sprintf("dtype(%d)", uint8(d))
	}
	return dtypes[d].name
}

// Size is the size of one element in bytes.
func (d DType) Size() int {
	if !d.valid() {
		return 0
	}
	return dtypes[d].size
}

// GoType is the Go type a kernel's pointer parameters to elements of d
// have ("float32" for F32: a conv kernel's `in *float32`).
func (d DType) GoType() string {
	if !d.valid() {
		return ""
	}
	return dtypes[d].goType
}

// ParseDType is the inverse of DType.String.
func ParseDType(s string) (DType, error) {
	for i, t := range dtypes {
		if t.name == s {
			return DType(i), nil
		}
	}
	return 0, fmt.Errorf("unknown element type %q (want f32, u8, s8, s32 or bf16)", s)
}

// Package emit holds the avo helpers every kernel generator uses: numbered labels, immediates, parameter addresses, vector registers, constant tables and vector math.
package emit

import (
	"fmt"
	"strings"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// Labels numbers the labels of one function: New("row") returns
// "L1_row", then "L2_…" (with Prefix "L").
type Labels struct {
	Prefix string
	n      int
}

// New returns the next label, tagged tag.
func (l *Labels) New(tag string) string {
	l.n++
	return fmt.Sprintf("%s%d_%s", l.Prefix, l.n, tag)
}

// Imm returns v as a signed 8- or 32-bit immediate; if v does not fit 32
// bits it panics with a Bug naming the generator pkg (Catch turns it into
// the generator's error).
func Imm(pkg string, v int) operand.Op {
	if v == int(int8(v)) {
		return operand.I8(v)
	}
	if v != int(int32(v)) {
		Bugf("%s: immediate %d out of range", pkg, v)
	}
	return operand.I32(v)
}

// Param returns the address of the function parameter name.
func Param(c *build.Context, name string) operand.Mem {
	b, err := c.Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// ZMM is the AVX-512 vector register file.
var ZMM = [32]reg.VecPhysical{
	reg.Z0, reg.Z1, reg.Z2, reg.Z3, reg.Z4, reg.Z5, reg.Z6, reg.Z7,
	reg.Z8, reg.Z9, reg.Z10, reg.Z11, reg.Z12, reg.Z13, reg.Z14, reg.Z15,
	reg.Z16, reg.Z17, reg.Z18, reg.Z19, reg.Z20, reg.Z21, reg.Z22, reg.Z23,
	reg.Z24, reg.Z25, reg.Z26, reg.Z27, reg.Z28, reg.Z29, reg.Z30, reg.Z31,
}

// YMM is the AVX2 vector register file.
var YMM = [16]reg.VecPhysical{
	reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7,
	reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15,
}

// Signature is a kernel's Go signature from its element type: pointer
// parameters ptrs to elements of elem, then int parameters ints:
// Signature(abi.F32, "in, out", "n") is "func(in, out *float32, n int)".
// The kernels' pointer types come from the element type's description
// (abi.DType.GoType), not from text written per kernel.
func Signature(elem abi.DType, ptrs, ints string) string {
	return MixedSignature([]Ptrs{{ptrs, elem}}, ints)
}

// Ptrs is a group of a kernel's pointer parameters to elements of one
// type: Ptrs{"res, mul", abi.U8}.
type Ptrs struct {
	Names string
	Elem  abi.DType
}

// MixedSignature is Signature for a kernel whose pointer parameters point
// to elements of several types (an int8 kernel's uint8 activations, int8
// weights and float32 scales): the groups ptrs in order, then int
// parameters ints. MixedSignature([]Ptrs{{"in", abi.U8}, {"wt", abi.S8}},
// "n") is "func(in *uint8, wt *int8, n int)".
func MixedSignature(ptrs []Ptrs, ints string) string {
	var parts []string
	for _, p := range ptrs {
		parts = append(parts, p.Names+" *"+p.Elem.GoType())
	}
	if ints != "" {
		parts = append(parts, ints+" int")
	}
	return "func(" + strings.Join(parts, ", ") + ")"
}

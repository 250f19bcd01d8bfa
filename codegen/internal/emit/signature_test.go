package emit

import (
	"testing"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// TestSignature: a kernel's pointer parameters take the Go type of its
// element type.
func TestSignature(t *testing.T) {
	for _, c := range []struct {
		elem       abi.DType
		ptrs, ints string
		want       string
	}{
		{abi.F32, "in, out", "n", "func(in, out *float32, n int)"},
		{abi.U8, "in", "", "func(in *uint8)"},
		{abi.S32, "acc, out", "r0, r1", "func(acc, out *int32, r0, r1 int)"},
	} {
		if got := Signature(c.elem, c.ptrs, c.ints); got != c.want {
			t.Errorf("Signature(%v, %q, %q) = %q, want %q", c.elem, c.ptrs, c.ints, got, c.want)
		}
	}
}

// TestMixedSignature: pointer groups of several element types.
func TestMixedSignature(t *testing.T) {
	for _, c := range []struct {
		ptrs []Ptrs
		ints string
		want string
	}{
		{[]Ptrs{{"in", abi.U8}, {"wt", abi.S8}, {"m, b", abi.F32}, {"q", abi.S32}}, "ocb0, ocb1", "func(in *uint8, wt *int8, m, b *float32, q *int32, ocb0, ocb1 int)"},
		{[]Ptrs{{"x", abi.F32}}, "", "func(x *float32)"},
		{nil, "n", "func(n int)"},
	} {
		if got := MixedSignature(c.ptrs, c.ints); got != c.want {
			t.Errorf("MixedSignature(%v, %q) = %q, want %q", c.ptrs, c.ints, got, c.want)
		}
	}
	// A single group is Signature.
	if a, b := MixedSignature([]Ptrs{{"in, out", abi.F32}}, "n"), Signature(abi.F32, "in, out", "n"); a != b {
		t.Errorf("MixedSignature %q != Signature %q", a, b)
	}
}

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

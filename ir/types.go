package ir

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// DType is an element type (package abi: the runtime's buffers and the
// kernels' parameters are typed with the same values). The float pipeline
// computes in F32; the integer types are the quantized path's.
type DType = abi.DType

const (
	F32  = abi.F32  // float32
	U8   = abi.U8   // uint8 activations (quantized, with a zero point)
	S8   = abi.S8   // int8 weights (quantized, symmetric)
	S32  = abi.S32  // int32 accumulators and quantized biases
	BF16 = abi.BF16 // bfloat16: reserved
)

// Layout is how a value's elements are stored in memory, per image.
type Layout uint8

const (
	// NHWC: [H][W][C], channels innermost (Keras's own layout).
	NHWC Layout = iota
	// NC: [C], a flat vector per image (after global pooling, Dense).
	NC
	// NCHW16c: [ceil(C/16)][H][W][16]; channels past C in the last block are zero.
	NCHW16c
	// NCHW8c: [ceil(C/8)][H][W][8]; channels past C in the last block are zero.
	NCHW8c
)

var layoutNames = [...]string{NHWC: "nhwc", NC: "nc", NCHW16c: "nChw16c", NCHW8c: "nChw8c"}

func (l Layout) String() string {
	if int(l) < len(layoutNames) {
		return layoutNames[l]
	}
	return fmt.Sprintf("layout(%d)", uint8(l))
}

// ParseLayout is the inverse of Layout.String.
func ParseLayout(s string) (Layout, error) {
	for i, n := range layoutNames {
		if n == s {
			return Layout(i), nil
		}
	}
	return 0, fmt.Errorf("unknown layout %q", s)
}

// Block returns the channel block of a blocked layout, or 0.
func (l Layout) Block() int {
	switch l {
	case NCHW16c:
		return 16
	case NCHW8c:
		return 8
	}
	return 0
}

// Rank is the number of per-image dimensions the layout stores.
func (l Layout) Rank() int {
	if l == NC {
		return 1
	}
	return 3
}

// Type is the type of a value: dtype, per-image dimensions (H, W, C for
// feature maps; C for vectors) and layout. The batch dimension N is implicit.
type Type struct {
	DType  DType
	Dims   []int
	Layout Layout
}

// FeatureMap returns the type of an H×W×C float32 map in layout l.
func FeatureMap(h, w, c int, l Layout) Type { return Type{F32, []int{h, w, c}, l} }

// Vector returns the type of a C-vector per image.
func Vector(c int) Type { return Type{F32, []int{c}, NC} }

// C is the channel count (the last dimension).
func (t Type) C() int { return t.Dims[len(t.Dims)-1] }

// H and W are the spatial dimensions of a feature map.
func (t Type) H() int { return t.Dims[0] }
func (t Type) W() int { return t.Dims[1] }

// Elems is the number of stored elements per image, including the zero
// channels that pad the last block of a blocked layout.
func (t Type) Elems() int {
	n := 1
	for _, d := range t.Dims[:len(t.Dims)-1] {
		n *= d
	}
	c := t.C()
	if b := t.Layout.Block(); b > 0 {
		c = (c + b - 1) / b * b
	}
	return n * c
}

// Bytes is the storage size per image: its elements times its element
// type's size.
func (t Type) Bytes() int64 { return int64(t.Elems()) * int64(t.DType.Size()) }

// Equal reports whether two types are identical.
func (t Type) Equal(u Type) bool {
	if t.DType != u.DType || t.Layout != u.Layout || len(t.Dims) != len(u.Dims) {
		return false
	}
	for i := range t.Dims {
		if t.Dims[i] != u.Dims[i] {
			return false
		}
	}
	return true
}

// SameShape reports whether t and u have the same dtype and dimensions,
// whatever their layouts.
func (t Type) SameShape(u Type) bool {
	u.Layout = t.Layout
	return t.Equal(u)
}

// String prints e.g. "f32[N,56,56,64] nChw16c".
func (t Type) String() string {
	var b strings.Builder
	b.WriteString(t.DType.String())
	b.WriteString("[N")
	for _, d := range t.Dims {
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(d))
	}
	b.WriteString("] ")
	b.WriteString(t.Layout.String())
	return b.String()
}

// KerasShape prints the shape as Keras's summary does: "(None, 56, 56, 64)".
func (t Type) KerasShape() string {
	var b strings.Builder
	b.WriteString("(None")
	for _, d := range t.Dims {
		b.WriteString(", ")
		b.WriteString(strconv.Itoa(d))
	}
	b.WriteString(")")
	return b.String()
}

package runtime

import (
	"fmt"
	"unsafe"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// An Arena is the activation memory of a batch: bytes whose first is
// 64-byte aligned, read and written through typed views of its buffers
// (F32 for float32 values). A Buf's offset counts elements of its own
// type, so every view is aligned to its element size.
type Arena []byte

// NewArena returns an arena of the given size in bytes.
func NewArena(bytes int) Arena {
	b := make([]byte, bytes+64)
	off := int((64 - uintptr(unsafe.Pointer(&b[0]))%64) % 64)
	return Arena(b[off : off+bytes])
}

// F32Arena views floats as an arena (for tests that build one by hand).
func F32Arena(f []float32) Arena {
	if len(f) == 0 {
		return nil
	}
	return Arena(unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f)))
}

// F32 is image i's float32 view of buffer b in an arena holding n images.
func (a Arena) F32(b Buf, n, i int) []float32 {
	if b.Type != abi.F32 {
		panic(fmt.Sprintf("runtime: a float32 view of a %s buffer", b.Type))
	}
	off, size := (n*b.Off+i*b.Size())*4, b.Size()*4
	v := a[off : off+size]
	if size == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&v[0])), b.Size())
}

// ptrF32 is the address of image i's first float32 of b.
func (a Arena) ptrF32(b Buf, n, i int) *float32 { return &a.F32(b, n, i)[0] }

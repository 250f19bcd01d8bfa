// Package simd generates the small vector kernels around the convolutions — pooling, elementwise epilogues, and the classifier head — for AVX-512 (zmm, 16-channel blocks) and AVX2 (ymm, 8-channel blocks), with avo.
//
// All kernels work on one image in a blocked layout NCHW{B}c (B = 16 or 8)
// and name physical registers only (X/Y/Z 0–15 for AVX2). Loop bounds that
// depend on the layer are immediates; loops over rows and pixels run at
// run time, so the kernels stay small.
package simd

import (
	"fmt"
	"math"
	"slices"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/rnc-dev/rnc/codegen/internal/emit"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// Width is the vector width in floats: 16 (AVX-512) or 8 (AVX2).
type Width int

// vec returns vector register i of the width.
func (w Width) vec(i int) reg.VecPhysical {
	if w == 16 {
		return []reg.VecPhysical{reg.Z0, reg.Z1, reg.Z2, reg.Z3, reg.Z4, reg.Z5, reg.Z6, reg.Z7, reg.Z8, reg.Z9, reg.Z10, reg.Z11, reg.Z12, reg.Z13, reg.Z14, reg.Z15}[i]
	}
	return []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7, reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15}[i]
}

var xmm = []reg.VecPhysical{reg.X0, reg.X1, reg.X2, reg.X3, reg.X4, reg.X5, reg.X6, reg.X7, reg.X8, reg.X9, reg.X10, reg.X11, reg.X12, reg.X13, reg.X14, reg.X15}

// MapSignature is the signature of pooling and eltwise kernels: pooling
// computes output rows [r0, r1), eltwise pixels [r0, r1), of channel
// blocks [cb0, cb1).
var MapSignature = emit.Signature(abi.F32, "in, res, scale, shift, out0, out1", "cb0, cb1, r0, r1")

// HeadSignature is the classifier head's: v (CPad floats) and y (units
// rounded up to the block) are scratch; y receives x·kernel + bias.
var HeadSignature = emit.Signature(abi.F32, "in, wt, bias, v, y", "")

// Epi is an epilogue step the map kernels implement: a kind of the one
// epilogue vocabulary (package abi) that abi.MapCaps accepts.
type Epi = abi.Op

const (
	Relu   = abi.Relu   // x = max(x, 0)
	Add    = abi.Add    // x += res (same position, same layout)
	Affine = abi.Affine // x = x*scale[c] + shift[c]
	Out    = abi.Out    // store x to out0; the final value goes to out0, or to out1 after an Out
)

func param(c *build.Context, name string) operand.Mem { return emit.Param(c, name) }

func imm(v int) operand.Op { return emit.Imm("simd", v) }

// nanMax emits acc = max(acc, m) keeping NaN: a NaN in either makes acc
// NaN for the rest of the reduction. MAXPS alone returns its second source
// when either is NaN, so a NaN in acc would be lost at the next tap (and
// AVX-512's VRANGEPS returns its first source when the second is NaN): the
// lanes where acc or m is unordered are ORed into a mask — K2 on AVX-512,
// the vector mask (via t) on AVX2 — and nanMaxEnd makes them NaN.
func nanMax(c *build.Context, w Width, m operand.Op, acc, mask, t reg.VecPhysical) {
	if w == 16 {
		c.VCMPPS(operand.U8(3), m, acc, reg.K1) // unordered
		c.KORW(reg.K1, reg.K2, reg.K2)
	} else {
		c.VCMPPS(operand.U8(3), m, acc, t)
		c.VORPS(t, mask, mask)
	}
	c.VMAXPS(m, acc, acc)
}

// nanMaxStart clears the NaN mask of a reduction (nanMax).
func nanMaxStart(c *build.Context, w Width, mask reg.VecPhysical) {
	if w == 16 {
		c.KXORW(reg.K2, reg.K2, reg.K2)
	} else {
		c.VXORPS(mask, mask, mask)
	}
}

// nanMaxEnd sets the lanes of acc that saw a NaN to NaN (all-ones bits).
func nanMaxEnd(c *build.Context, w Width, acc, mask reg.VecPhysical) {
	if w == 16 {
		c.VPTERNLOGD(operand.U8(0xff), acc, acc, reg.K2, acc)
	} else {
		c.VORPS(mask, acc, acc)
	}
}

// broadcastConst sets vector register v to the float32 constant f in every
// lane (via tmp, a general register, and x, v's xmm half).
func broadcastConst(c *build.Context, f float32, tmp reg.Register, x, v reg.VecPhysical) {
	c.MOVL(operand.U32(math.Float32bits(f)), tmp.(reg.GPPhysical).As32())
	c.VMOVD(tmp.(reg.GPPhysical).As32(), x)
	c.VBROADCASTSS(x, v)
}

// checkEpi validates an epilogue against the map kernels' capability
// (abi.MapCaps, the table the fuse pass reads): relu, at most one
// unstrided Add, one Affine and one Out.
func checkEpi(epi []Epi) error {
	steps := make([]abi.Step, len(epi))
	for i, e := range epi {
		steps[i] = abi.Step{Kind: e, Sub: 1}
	}
	if err := abi.MapCaps.Check(steps); err != nil {
		return fmt.Errorf("simd: epilogue %v: %v", epi, err)
	}
	return nil
}

// epilogue emits the steps on vector x for the element at byte offset
// off of the current channel block: res, out0 and out1 point at the block's
// start (in RDX, R8, R9 for the caller), scale and shift are in registers
// sc and sh, zero holds 0.
func epilogue(c *build.Context, epi []Epi, x, zero, sc, sh reg.VecPhysical, off reg.Register) {
	store := reg.R8
	for _, e := range epi {
		switch e {
		case Relu:
			c.VMAXPS(x, zero, x) // x = max(0, x), NaN kept
		case Add:
			c.VADDPS(operand.Mem{Base: reg.RDX, Index: off, Scale: 1}, x, x)
		case Affine:
			c.VFMADD213PS(sh, sc, x) // x = x*sc + sh
		case Out:
			c.VMOVUPS(x, operand.Mem{Base: store, Index: off, Scale: 1})
			store = reg.R9
		}
	}
	c.VMOVUPS(x, operand.Mem{Base: store, Index: off, Scale: 1})
}

// mapRoles claims the registers of a map kernel's epilogue.
func mapRoles(ph *emit.Phase, x, zero, sc, sh reg.VecPhysical) {
	ph.Claim("value", x)
	ph.ClaimConst("zero", zero)
	ph.ClaimConst("scale", sc)
	ph.ClaimConst("shift", sh)
}

// PoolSpec is a pooling layer (one image, NCHW{B}c in and out).
type PoolSpec struct {
	C, H, W                int
	KH, KW, SH, SW         int
	PadT, PadB, PadL, PadR int
	Max, PadZero           bool
	Epi                    []Epi
}

// OH and OW are the output size.
func (s *PoolSpec) OH() int { return (s.H+s.PadT+s.PadB-s.KH)/s.SH + 1 }
func (s *PoolSpec) OW() int { return (s.W+s.PadL+s.PadR-s.KW)/s.SW + 1 }

// Pool emits a pooling kernel with MapSignature.
//
// Per channel block and output row it clips the kernel rows to the input
// (top/bottom), per output pixel the kernel columns (left/right); padded
// taps are skipped (max: ignored, or taken as 0 with PadZero; average:
// excluded from the count, as Keras's 'same'). A window with no tap inside
// the input (padding wider than the pool) gives 0, as in ir/interp. Max
// pooling keeps NaN (nanMax).
func Pool(c *build.Context, w Width, name string, s *PoolSpec) (err error) {
	if err := checkEpi(s.Epi); err != nil {
		return err
	}
	if s.OH() < 1 || s.OW() < 1 || s.KH < 1 || s.KW < 1 || s.SH < 1 || s.SW < 1 || s.C < 1 ||
		min(s.PadT, s.PadB, s.PadL, s.PadR) < 0 {
		return fmt.Errorf("simd: bad pooling %+v", *s)
	}
	defer emit.Catch(&err)
	B := int(w)
	vb := 4 * B // bytes per vector
	c.Function(name)
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr(MapSignature)
	c.Doc(fmt.Sprintf("%s: %dx%d/%dx%d pool (max=%v padzero=%v) on %dx%dx%d, pads %d,%d,%d,%d, epilogue %v.",
		name, s.KH, s.KW, s.SH, s.SW, s.Max, s.PadZero, s.H, s.W, s.C, s.PadT, s.PadB, s.PadL, s.PadR, s.Epi))
	acc, zero, sc, sh, t, cnt := w.vec(0), w.vec(1), w.vec(2), w.vec(3), w.vec(4), w.vec(5)
	ninf, mask := w.vec(6), w.vec(7)
	ph := emit.Begin(emit.Current(c), "simd", "")
	mapRoles(ph, acc, zero, sc, sh)
	ph.Claim("temporary", t)
	ph.Claim("count", cnt)
	ph.ClaimConst("-inf", ninf)
	ph.Claim("NaN mask", mask)
	// Registers: R10 cb, R11 oh, R12 ow, R13 kh counter, R14 kw counter,
	// RSI input block base, RDI row pointer, RAX/RBX/RCX scratch,
	// RDX res block, R8 out0 block, R9 out1 block, R15 output offset.
	rows := c.AllocLocal(8) // kernel rows of the current output row
	c.VXORPS(zero, zero, zero)
	broadcastConst(c, float32(math.Inf(-1)), reg.RAX, xmm[6], ninf)
	c.MOVQ(param(c, "cb0"), reg.R10)
	done, cbLoop, ohLoop, owLoop, khLoop, kwLoop, nextRow, nextCb, noClip, empty, epi := "done", "cb", "oh", "ow", "kh", "kw", "nextrow", "nextcb", "noclip", "empty", "epi"
	c.Label(cbLoop)
	c.CMPQ(reg.R10, param(c, "cb1"))
	c.JGE(operand.LabelRef(done))
	blockPointers(c, s.Epi, s.H*s.W*vb, s.OH()*s.OW()*vb, vb, sc, sh)
	c.MOVQ(param(c, "r0"), reg.R11)
	c.Label(ohLoop)
	c.CMPQ(reg.R11, param(c, "r1"))
	c.JGE(operand.LabelRef(nextCb))
	// RAX = ih0 = oh*SH - PadT; RBX = khLo; R13 = khHi - khLo (rows to visit; ≤ 0 when the window lies in the padding)
	c.MOVQ(reg.R11, reg.RAX)
	c.IMUL3Q(imm(s.SH), reg.RAX, reg.RAX)
	c.SUBQ(imm(s.PadT), reg.RAX)
	c.XORQ(reg.RBX, reg.RBX)
	c.MOVQ(reg.RAX, reg.RCX)
	c.NEGQ(reg.RCX)
	c.CMOVQGT(reg.RCX, reg.RBX) // khLo = max(0, -ih0)
	c.MOVQ(operand.I32(s.H), reg.RCX)
	c.SUBQ(reg.RAX, reg.RCX) // H - ih0
	c.MOVQ(operand.I32(s.KH), reg.R13)
	c.CMPQ(reg.RCX, reg.R13)
	c.CMOVQLT(reg.RCX, reg.R13) // khHi = min(KH, H - ih0)
	c.SUBQ(reg.RBX, reg.R13)    // rows = khHi - khLo
	c.MOVQ(reg.R13, rows)
	c.ADDQ(reg.RBX, reg.RAX) // first input row
	c.IMUL3Q(imm(s.W*vb), reg.RAX, reg.RAX)
	c.ADDQ(reg.RSI, reg.RAX)
	c.MOVQ(reg.RAX, reg.RDI) // RDI = input row base (column 0)
	// R15 = output offset of (oh, 0)
	c.MOVQ(reg.R11, reg.R15)
	c.IMUL3Q(imm(s.OW()*vb), reg.R15, reg.R15)
	c.XORQ(reg.R12, reg.R12)
	c.Label(owLoop)
	// RAX = iw0 = ow*SW - PadL; RBX = kwLo; R14 = kwHi - kwLo (≤ 0 likewise)
	c.MOVQ(reg.R12, reg.RAX)
	c.IMUL3Q(imm(s.SW), reg.RAX, reg.RAX)
	c.SUBQ(imm(s.PadL), reg.RAX)
	c.XORQ(reg.RBX, reg.RBX)
	c.MOVQ(reg.RAX, reg.RCX)
	c.NEGQ(reg.RCX)
	c.CMOVQGT(reg.RCX, reg.RBX)
	c.MOVQ(operand.I32(s.W), reg.RCX)
	c.SUBQ(reg.RAX, reg.RCX)
	c.MOVQ(operand.I32(s.KW), reg.R14)
	c.CMPQ(reg.RCX, reg.R14)
	c.CMOVQLT(reg.RCX, reg.R14)
	c.SUBQ(reg.RBX, reg.R14) // cols = kwHi - kwLo
	c.ADDQ(reg.RBX, reg.RAX) // first input column
	c.IMUL3Q(imm(vb), reg.RAX, reg.RAX)
	c.ADDQ(reg.RDI, reg.RAX) // RAX = pointer to (first row, first column)
	// No tap inside the input (rows or cols ≤ 0): the result is 0, and
	// nothing is read.
	c.MOVQ(rows, reg.R13)
	c.TESTQ(reg.R13, reg.R13)
	c.JLE(operand.LabelRef(empty))
	c.TESTQ(reg.R14, reg.R14)
	c.JLE(operand.LabelRef(empty))
	if s.Max {
		c.VMOVUPS(ninf, acc)
		nanMaxStart(c, w, mask)
	} else {
		c.VXORPS(acc, acc, acc)
	}
	c.Label(khLoop)
	c.MOVQ(reg.RAX, reg.RCX)
	c.MOVQ(reg.R14, reg.RBX)
	c.Label(kwLoop)
	if s.Max {
		nanMax(c, w, operand.Mem{Base: reg.RCX}, acc, mask, t)
	} else {
		c.VADDPS(operand.Mem{Base: reg.RCX}, acc, acc)
	}
	c.ADDQ(imm(vb), reg.RCX)
	c.DECQ(reg.RBX)
	c.JNZ(operand.LabelRef(kwLoop))
	c.ADDQ(imm(s.W*vb), reg.RAX)
	c.DECQ(reg.R13)
	c.JNZ(operand.LabelRef(khLoop))
	if s.Max {
		nanMaxEnd(c, w, acc, mask)
	}
	// taps = rows*cols
	c.MOVQ(rows, reg.RAX)
	c.IMULQ(reg.R14, reg.RAX)
	if s.Max && s.PadZero {
		c.CMPQ(reg.RAX, imm(s.KH*s.KW))
		c.JGE(operand.LabelRef(noClip))
		c.VMAXPS(acc, zero, acc) // padded taps count as 0; NaN kept
		c.Label(noClip)
	}
	if !s.Max {
		c.VCVTSI2SSQ(reg.RAX, xmm[5], xmm[5])
		c.VBROADCASTSS(xmm[5], cnt)
		c.VDIVPS(cnt, acc, acc)
	}
	c.JMP(operand.LabelRef(epi))
	c.Label(empty)
	c.VXORPS(acc, acc, acc)
	c.Label(epi)
	epilogue(c, s.Epi, acc, zero, sc, sh, reg.R15)
	c.ADDQ(imm(vb), reg.R15)
	c.INCQ(reg.R12)
	c.CMPQ(reg.R12, imm(s.OW()))
	c.JLT(operand.LabelRef(owLoop))
	c.Label(nextRow)
	c.INCQ(reg.R11)
	c.JMP(operand.LabelRef(ohLoop))
	c.Label(nextCb)
	c.INCQ(reg.R10)
	c.JMP(operand.LabelRef(cbLoop))
	c.Label(done)
	c.VZEROUPPER()
	c.RET()
	ph.End()
	return nil
}

// EltSpec is an elementwise epilogue over a whole map: x (and res) in the
// same layout as the outputs.
type EltSpec struct {
	C, H, W int
	Epi     []Epi
}

// blockPointers points the operands of a map kernel at channel block R10:
// RSI the input (inB bytes per block), R8 out0, R9 out1 (Out), RDX res
// (Add) (outB bytes per block), and loads the block's scale and shift
// vectors into sc and sh (Affine).
func blockPointers(c *build.Context, epi []Epi, inB, outB, vb int, sc, sh reg.VecPhysical) {
	ptr := func(p string, stride int, dst reg.Register) {
		c.MOVQ(reg.R10, dst)
		c.IMUL3Q(imm(stride), dst, dst)
		c.ADDQ(param(c, p), dst)
	}
	ptr("in", inB, reg.RSI)
	ptr("out0", outB, reg.R8)
	if slices.Contains(epi, Out) {
		ptr("out1", outB, reg.R9)
	}
	if slices.Contains(epi, Add) {
		ptr("res", outB, reg.RDX)
	}
	if slices.Contains(epi, Affine) {
		ptr("scale", vb, reg.RAX)
		c.VMOVUPS(operand.Mem{Base: reg.RAX}, sc)
		ptr("shift", vb, reg.RAX)
		c.VMOVUPS(operand.Mem{Base: reg.RAX}, sh)
	}
}

// Eltwise emits an elementwise kernel with MapSignature over pixels
// [r0, r1) of channel blocks [cb0, cb1).
func Eltwise(c *build.Context, w Width, name string, s *EltSpec) (err error) {
	if err := checkEpi(s.Epi); err != nil {
		return err
	}
	if s.C < 1 || s.H < 1 || s.W < 1 {
		return fmt.Errorf("simd: bad elementwise %+v", *s)
	}
	defer emit.Catch(&err)
	vb := 4 * int(w)
	c.Function(name)
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr(MapSignature)
	c.Doc(fmt.Sprintf("%s: elementwise %v on %dx%dx%d.", name, s.Epi, s.H, s.W, s.C))
	x, zero, sc, sh := w.vec(0), w.vec(1), w.vec(2), w.vec(3)
	ph := emit.Begin(emit.Current(c), "simd", "")
	mapRoles(ph, x, zero, sc, sh)
	block := s.H * s.W * vb
	c.VXORPS(zero, zero, zero)
	c.MOVQ(param(c, "cb0"), reg.R10)
	c.Label("cb")
	c.CMPQ(reg.R10, param(c, "cb1"))
	c.JGE(operand.LabelRef("done"))
	blockPointers(c, s.Epi, block, block, vb, sc, sh)
	c.MOVQ(param(c, "r0"), reg.R15)
	c.IMUL3Q(imm(vb), reg.R15, reg.R15)
	c.MOVQ(param(c, "r1"), reg.R14)
	c.IMUL3Q(imm(vb), reg.R14, reg.R14)
	c.Label("px")
	c.CMPQ(reg.R15, reg.R14)
	c.JGE(operand.LabelRef("nextcb"))
	c.VMOVUPS(operand.Mem{Base: reg.RSI, Index: reg.R15, Scale: 1}, x)
	epilogue(c, s.Epi, x, zero, sc, sh, reg.R15)
	c.ADDQ(imm(vb), reg.R15)
	c.JMP(operand.LabelRef("px"))
	c.Label("nextcb")
	c.INCQ(reg.R10)
	c.JMP(operand.LabelRef("cb"))
	c.Label("done")
	c.VZEROUPPER()
	c.RET()
	ph.End()
	return nil
}

// HeadSpec is a classifier head: optional global pooling of an H×W×C map
// (NCHW{B}c), then a Dense layer with a kernel packed OI{B}o and a bias
// padded to the block. The activation is applied by the caller.
type HeadSpec struct {
	C, H, W int
	Pool    int // 0 none (the input is a C-vector), 1 average, 2 max
	Units   int
	Bias    bool
}

// Head emits a head kernel with HeadSignature: v receives the pooled
// vector, y the Dense outputs (rounded up to the block).
func Head(c *build.Context, w Width, name string, s *HeadSpec) (err error) {
	B := int(w)
	vb := 4 * B
	if s.C < 1 || s.Units < 1 || s.Pool < 0 || s.Pool > 2 || (s.Pool != 0 && (s.H < 1 || s.W < 1)) {
		return fmt.Errorf("simd: bad head %+v", *s)
	}
	defer emit.Catch(&err)
	c.Function(name)
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr(HeadSignature)
	c.Doc(fmt.Sprintf("%s: head pool=%d on %dx%dx%d, dense %d units.", name, s.Pool, s.H, s.W, s.C, s.Units))
	acc := []reg.VecPhysical{w.vec(0), w.vec(1), w.vec(2), w.vec(3)}
	b0, b1, b2, b3 := w.vec(4), w.vec(5), w.vec(6), w.vec(7)
	mask, t := w.vec(8), w.vec(9) // the max pool's NaN mask (AVX2)
	ph := emit.Begin(emit.Current(c), "simd", "")
	for i, a := range acc {
		ph.Claim(fmt.Sprintf("accumulator %d", i), a)
	}
	for i, b := range []reg.VecPhysical{b0, b1, b2, b3} {
		ph.Claim(fmt.Sprintf("broadcast %d", i), b)
	}
	ph.Claim("NaN mask", mask)
	ph.Claim("temporary", t)
	c.MOVQ(param(c, "v"), reg.RDI)
	if s.Pool == 0 {
		c.MOVQ(param(c, "in"), reg.RDI) // the input is the vector
	} else {
		cb := (s.C + B - 1) / B
		hw := s.H * s.W
		c.MOVQ(param(c, "in"), reg.RSI)
		c.XORQ(reg.R10, reg.R10) // channel block
		c.Label("pcb")
		if s.Pool == 2 {
			broadcastConst(c, float32(math.Inf(-1)), reg.RAX, xmm[0], acc[0])
			nanMaxStart(c, w, mask)
		} else {
			c.VXORPS(acc[0], acc[0], acc[0])
		}
		c.MOVQ(operand.I32(hw), reg.RCX)
		c.Label("pp")
		if s.Pool == 2 {
			nanMax(c, w, operand.Mem{Base: reg.RSI}, acc[0], mask, t)
		} else {
			c.VADDPS(operand.Mem{Base: reg.RSI}, acc[0], acc[0])
		}
		c.ADDQ(imm(vb), reg.RSI)
		c.DECQ(reg.RCX)
		c.JNZ(operand.LabelRef("pp"))
		if s.Pool == 2 {
			nanMaxEnd(c, w, acc[0], mask)
		}
		if s.Pool == 1 {
			broadcastConst(c, float32(1/float64(hw)), reg.RAX, xmm[4], b0)
			c.VMULPS(b0, acc[0], acc[0])
		}
		c.MOVQ(reg.R10, reg.RAX)
		c.IMUL3Q(imm(vb), reg.RAX, reg.RAX)
		c.VMOVUPS(acc[0], operand.Mem{Base: reg.RDI, Index: reg.RAX, Scale: 1})
		c.INCQ(reg.R10)
		c.CMPQ(reg.R10, imm(cb))
		c.JLT(operand.LabelRef("pcb"))
	}
	// Dense: y[ob] = bias[ob] + sum_c v[c] * k[ob][c][:], four chains over c.
	ob := (s.Units + B - 1) / B
	c.MOVQ(param(c, "wt"), reg.RSI)
	c.MOVQ(param(c, "y"), reg.R8)
	c.MOVQ(param(c, "bias"), reg.R9)
	c.XORQ(reg.R10, reg.R10) // output block
	c.Label("ob")
	for _, a := range acc {
		c.VXORPS(a, a, a)
	}
	c.XORQ(reg.RCX, reg.RCX) // c
	c4 := s.C / 4 * 4
	if c4 > 0 {
		c.Label("c4")
		for j, b := range []reg.VecPhysical{b0, b1, b2, b3} {
			c.VBROADCASTSS(operand.Mem{Base: reg.RDI, Index: reg.RCX, Scale: 4, Disp: 4 * j}, b)
			c.VFMADD231PS(operand.Mem{Base: reg.RSI, Disp: j * vb}, b, acc[j])
		}
		c.ADDQ(imm(4*vb), reg.RSI)
		c.ADDQ(imm(4), reg.RCX)
		c.CMPQ(reg.RCX, imm(c4))
		c.JLT(operand.LabelRef("c4"))
	}
	if s.C > c4 {
		c.Label("c1")
		c.VBROADCASTSS(operand.Mem{Base: reg.RDI, Index: reg.RCX, Scale: 4}, b0)
		c.VFMADD231PS(operand.Mem{Base: reg.RSI}, b0, acc[0])
		c.ADDQ(imm(vb), reg.RSI)
		c.INCQ(reg.RCX)
		c.CMPQ(reg.RCX, imm(s.C))
		c.JLT(operand.LabelRef("c1"))
	}
	c.VADDPS(acc[1], acc[0], acc[0])
	c.VADDPS(acc[3], acc[2], acc[2])
	c.VADDPS(acc[2], acc[0], acc[0])
	c.MOVQ(reg.R10, reg.RAX)
	c.IMUL3Q(imm(vb), reg.RAX, reg.RAX)
	if s.Bias {
		c.VADDPS(operand.Mem{Base: reg.R9, Index: reg.RAX, Scale: 1}, acc[0], acc[0])
	}
	c.VMOVUPS(acc[0], operand.Mem{Base: reg.R8, Index: reg.RAX, Scale: 1})
	c.INCQ(reg.R10)
	c.CMPQ(reg.R10, imm(ob))
	c.JLT(operand.LabelRef("ob"))
	c.VZEROUPPER()
	c.RET()
	ph.End()
	return nil
}

// Package direct emits the loop nest the AVX-512 and AVX2 direct-convolution kernels share around an instruction set's register tile.
package direct

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	avoir "github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
	"github.com/rnc-dev/rnc/codegen/internal/emit"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// Signature is the Go signature of every direct-convolution kernel.
var Signature = emit.Signature(abi.F32, "in, wt, bias, res, mul, scale, shift, out0, out1", "ocb0, ocb1, oh0, oh1")

// Registers. The hot loop uses only R8–R13 (R15 with prefetch) and the
// vector file.
var (
	RIn    = reg.R8  // input pointer of the current (icb, kh)
	RW     = reg.R9  // weight pointer of the current (icb, kh)
	RInC   = reg.R10 // input pointer of the current icb (kh = khLo)
	RWC    = reg.R11 // weight pointer of the current icb
	RIcb   = reg.R12 // icb down-counter
	RKh    = reg.R13 // kh down-counter
	RTIn   = reg.RAX // input pointer of the tile (icb 0, kh = khLo, iw of its first pixel - PadL)
	RTOut0 = reg.RBX // out0 pointer of the tile (block ocb, first pixel)
	RTOut1 = reg.RCX
	RTRes  = reg.RDX
	RTCnt  = reg.RSI // interior-tile loop counter
	RNkh   = reg.RDI // number of valid kh taps of this row
	RRowW  = reg.R14 // weight pointer of the row (group ocb, kh = khLo)
	RTmp   = reg.R15
	RPf    = reg.R15 // prefetch offset (hot loop, PF): next group/chunk + (oh-oh0)·pfStep

	// Epilogue: the group's bias, scale and shift pointers, and mul − out0
	// (the Mul operand has out0's layout: RTOut0 + PMul addresses it).
	PBias, PScale, PShift, PMul = reg.R8, reg.R9, reg.R10, reg.R11
)

// ISA is the part of a kernel that differs between instruction sets: the
// register tile.
type ISA interface {
	// Tile emits one register tile of width u whose pixel p sees kernel
	// column kw iff valid[p][kw]: a comment, BeginTile, the taps of one
	// (icb, kh) step, EndTile.
	Tile(u int, valid [][]bool)
	// Acc is the accumulator of block j, pixel p in a tile of width u.
	Acc(j, p, u int) reg.VecPhysical
	// Zero clears v.
	Zero(v reg.VecPhysical)
	// Epilogue emits the epilogue steps on the accumulators of a tile of
	// width u (with Nest.EmitEpilogue).
	Epilogue(u int)
	// Scratch returns two vector registers that are not accumulators of a
	// tile of width u nor the epilogue's zero or affine registers (for
	// Sigmoid).
	Scratch(u int) [2]reg.VecPhysical
}

// Register roles: BeginTile opens the accumulation phase of a tile (its
// accumulators claimed; Tile claims its weight and broadcast registers on
// Phase()), EndTile closes it, and EmitEpilogue checks the epilogue's
// registers in a phase of its own (emit.Phase): a register given two roles,
// or used without one, is a generation error.

// Nest is one kernel being generated: for each group of NB output blocks,
// each reduction chunk and each row, the register tiles along the row, each
// with its icb and kh loops and its epilogue. The caller sets the
// configuration fields (C … ISA) and calls Emit.
type Nest struct {
	C   *build.Context
	S   conv.Spec
	Pkg string // generator name (panics)
	// The tiling: NB output blocks × URW pixels per register tile, ICC
	// input blocks per reduction chunk, weight prefetch.
	NB, URW, ICC int
	PF           bool
	Split        func(ow, u int) []int // the tile widths of a row of ow pixels
	ISA          ISA

	// The element types, as sizes in bytes (0: 4, float32): ActB of the
	// activations (input, outputs, residual, gating operand), WtB of the
	// weights. The per-channel operands (bias, scale, shift) are float32
	// whatever these are. A chunked reduction (ICC < ICB) keeps partial
	// sums in out0 and needs float32 activations.
	ActB, WtB int
	// Sig is the kernel's Go signature ("": Signature). Whatever its
	// types, it has the parameters the nest reads: in, wt, out0, ocb0,
	// ocb1, oh0, oh1, and those of the epilogue's steps (out1, res, mul,
	// bias, scale, shift).
	Sig string

	// Derived constants (bytes, or counts): VecB is one channel block of
	// one pixel of an activation (a vector of float32), Lanes the input
	// channels of one weight tap, PixB one input pixel, TapWB the weights
	// of one (kh, kw) tap of one output block, OcbWB all weights of one
	// output block.
	VecB, Lanes, PixB, TapWB, OcbWB int

	// Consts is the kernel's constant table (Sigmoid, Scale).
	Consts *emit.Consts

	fn                                                                            *avoir.Function
	ph                                                                            *emit.Phase
	labels                                                                        emit.Labels
	inRowB, icbInB, khWB, icbWB                                                   int
	oh, ow, icb, ocb                                                              int
	outRowB, outOcbB                                                              int
	rh, rw, rs, resRowB, resOcbB                                                  int
	lOcb, lOh, lGrpW, lGrpOut0, lGrpOut1, lGrpRes, lGrpBias, lGrpScale, lGrpShift operand.Mem
	lIcb0, lIcbN                                                                  operand.Mem // chunk start and size (chunked order)
	lMulD                                                                         operand.Mem // mul − out0 in bytes
	icbL, khL                                                                     string      // loop labels of the current tile
}

// Imm returns v as a signed 8- or 32-bit immediate.
func (n *Nest) Imm(v int) operand.Op { return emit.Imm(n.Pkg, v) }

func (n *Nest) label(tag string) string { return n.labels.New(tag) }

func (n *Nest) param(name string) operand.Mem { return emit.Param(n.C, name) }

// Chunked reports whether the reduction is split into chunks (ICC < ICB):
// partial sums then go through out0 between chunks.
func (n *Nest) Chunked() bool { return n.ICC < n.icb }

// Emit emits the kernel as the function name (with Signature, NOSPLIT);
// its doc comment describes the spec and ends with tiling.
func (n *Nest) Emit(name, tiling string) {
	s := &n.S
	n.labels = emit.Labels{Prefix: "L"}
	n.Consts = emit.NewConsts(name, n.S.Block*4)
	n.derive()
	if n.Chunked() && n.VecB != n.S.Block*4 {
		emit.Bugf("%s: %s: a chunked reduction keeps partial sums in out0, which needs float32 outputs", n.Pkg, name)
	}
	n.C.Function(name)
	n.fn = emit.Current(n.C)
	n.C.Attributes(attr.NOSPLIT)
	sig := n.Sig
	if sig == "" {
		sig = Signature
	}
	n.C.SignatureExpr(sig)
	n.C.Doc(fmt.Sprintf("%s: conv %dx%dx%d -> %d, %dx%d/%dx%d pad %d,%d,%d,%d nhwc=%v epilogue %v tiling %s.",
		name, s.H, s.W, s.IC, s.OC, s.KH, s.KW, s.SH, s.SW, s.PadT, s.PadB, s.PadL, s.PadR, s.FirstNHWC, s.Epilogue, tiling))
	n.body()
	n.Consts.Emit(n.C)
}

func (n *Nest) derive() {
	s := &n.S
	actB, wtB := n.ActB, n.WtB
	if actB == 0 {
		actB = 4
	}
	if wtB == 0 {
		wtB = 4
	}
	n.VecB = s.Block * actB
	n.oh, n.ow, n.icb, n.ocb = s.OH(), s.OW(), s.ICB(), s.OCB()
	switch {
	case s.FirstNHWC:
		n.Lanes = s.IC
		n.PixB = s.IC * actB
	case s.Narrow > 0: // one blocked pixel; Narrow weight vectors per tap
		n.Lanes = s.Narrow
		n.PixB = n.VecB
	default:
		n.Lanes = s.Block
		n.PixB = n.VecB
	}
	n.inRowB = s.W * n.PixB
	n.icbInB = s.H * s.W * n.VecB
	n.TapWB = n.Lanes * s.Block * wtB
	n.khWB = s.KW * n.TapWB
	n.icbWB = s.KH * n.khWB
	n.OcbWB = n.icb * n.icbWB
	n.outRowB = n.ow * n.VecB
	n.outOcbB = n.oh * n.ow * n.VecB
	n.rh, n.rw, n.rs = s.ResDims()
	n.resRowB = n.rw * n.VecB
	n.resOcbB = n.rh * n.rw * n.VecB
}

func (n *Nest) body() {
	c := n.C
	s := &n.S
	locals := c.AllocLocal(12 * 8)
	loc := func(i int) operand.Mem { return locals.Offset(8 * i) }
	n.lOcb, n.lOh, n.lGrpW, n.lGrpOut0, n.lGrpOut1 = loc(0), loc(1), loc(2), loc(3), loc(4)
	n.lGrpRes, n.lGrpBias, n.lGrpScale, n.lGrpShift = loc(5), loc(6), loc(7), loc(8)
	n.lIcb0, n.lIcbN, n.lMulD = loc(9), loc(10), loc(11)

	done := n.label("done")
	// Empty ranges.
	c.MOVQ(n.param("ocb0"), RTmp)
	c.CMPQ(RTmp, n.param("ocb1"))
	c.JGE(operand.LabelRef(done))
	c.MOVQ(n.param("oh0"), reg.RAX)
	c.CMPQ(reg.RAX, n.param("oh1"))
	c.JGE(operand.LabelRef(done))
	c.MOVQ(RTmp, n.lOcb)
	if s.Has(conv.Mul) {
		c.MOVQ(n.param("mul"), reg.RAX)
		c.SUBQ(n.param("out0"), reg.RAX)
		c.MOVQ(reg.RAX, n.lMulD)
	}

	grp := n.label("grp")
	c.Label(grp)
	// Group pointers.
	c.MOVQ(n.lOcb, RTmp)
	grpPtr := func(p string, stride int, dst operand.Mem) {
		c.MOVQ(RTmp, reg.RAX)
		c.IMUL3Q(n.Imm(stride), reg.RAX, reg.RAX)
		c.ADDQ(n.param(p), reg.RAX)
		c.MOVQ(reg.RAX, dst)
	}
	grpPtr("wt", n.OcbWB, n.lGrpW)
	grpPtr("out0", n.outOcbB, n.lGrpOut0)
	if conv.Stores1(s.Epilogue) {
		grpPtr("out1", n.outOcbB, n.lGrpOut1)
	}
	if s.Has(conv.AddResidual) {
		grpPtr("res", n.resOcbB, n.lGrpRes)
	}
	chanB := s.Block * 4 // one block of a float32 per-channel operand
	if s.Has(conv.Bias) {
		grpPtr("bias", chanB, n.lGrpBias)
	}
	if s.Has(conv.Affine) {
		grpPtr("scale", chanB, n.lGrpScale)
		grpPtr("shift", chanB, n.lGrpShift)
	}
	chunk := n.label("chunk")
	if n.Chunked() {
		c.MOVQ(operand.I32(0), n.lIcb0)
		c.Label(chunk)
		// lIcbN = min(ICC, ICB - lIcb0)
		c.MOVQ(operand.I32(n.icb), reg.RAX)
		c.SUBQ(n.lIcb0, reg.RAX)
		c.MOVQ(operand.I32(n.ICC), reg.RBX)
		c.CMPQ(reg.RAX, reg.RBX)
		c.CMOVQLT(reg.RAX, reg.RBX)
		c.MOVQ(reg.RBX, n.lIcbN)
	}
	c.MOVQ(n.param("oh0"), reg.RAX)
	c.MOVQ(reg.RAX, n.lOh)

	row := n.label("row")
	c.Label(row)
	n.rowSetup()
	n.rowTiles()
	c.INCQ(n.lOh)
	c.MOVQ(n.lOh, reg.RAX)
	c.CMPQ(reg.RAX, n.param("oh1"))
	c.JLT(operand.LabelRef(row))
	if n.Chunked() {
		c.MOVQ(n.lIcb0, reg.RAX)
		c.ADDQ(n.lIcbN, reg.RAX)
		c.MOVQ(reg.RAX, n.lIcb0)
		c.CMPQ(reg.RAX, n.Imm(n.icb))
		c.JLT(operand.LabelRef(chunk))
	}
	c.MOVQ(n.lOcb, RTmp)
	c.ADDQ(n.Imm(n.NB), RTmp)
	c.MOVQ(RTmp, n.lOcb)
	c.CMPQ(RTmp, n.param("ocb1"))
	c.JLT(operand.LabelRef(grp))

	c.Label(done)
	c.VZEROUPPER()
	c.RET()
}

// rowSetup computes, for the row in lOh, RNkh, RRowW and the tile pointers
// of the row's first pixel.
func (n *Nest) rowSetup() {
	c := n.C
	s := &n.S
	// RAX = ih0 = oh*SH - PadT
	c.MOVQ(n.lOh, reg.RAX)
	if s.SH == 2 {
		c.SHLQ(n.Imm(1), reg.RAX)
	}
	if s.PadT != 0 {
		c.SUBQ(n.Imm(s.PadT), reg.RAX)
	}
	// RBX = khLo = max(0, -ih0)
	c.XORQ(reg.RBX, reg.RBX)
	if s.PadT != 0 {
		c.MOVQ(reg.RAX, reg.RCX)
		c.NEGQ(reg.RCX)
		c.CMOVQGT(reg.RCX, reg.RBX)
	}
	// RNkh = min(KH, H-ih0) - khLo
	c.MOVQ(operand.I32(s.H), reg.RCX)
	c.SUBQ(reg.RAX, reg.RCX)
	c.MOVQ(operand.I32(s.KH), RNkh)
	c.CMPQ(reg.RCX, RNkh)
	c.CMOVQLT(reg.RCX, RNkh)
	c.SUBQ(reg.RBX, RNkh)
	// RTIn = in + ((ih0+khLo)*W - PadL)*PixB
	c.ADDQ(reg.RBX, reg.RAX)
	c.IMUL3Q(n.Imm(n.inRowB), reg.RAX, reg.RAX)
	c.ADDQ(n.param("in"), reg.RAX)
	if s.PadL != 0 {
		c.SUBQ(n.Imm(s.PadL*n.PixB), reg.RAX)
	}
	// RRowW = grpW + khLo*khWB
	c.IMUL3Q(n.Imm(n.khWB), reg.RBX, reg.RBX)
	c.ADDQ(n.lGrpW, reg.RBX)
	c.MOVQ(reg.RBX, RRowW)
	if n.Chunked() {
		// + chunk start
		c.MOVQ(n.lIcb0, RTmp)
		c.IMUL3Q(n.Imm(n.icbInB), RTmp, reg.RCX)
		c.ADDQ(reg.RCX, reg.RAX)
		c.IMUL3Q(n.Imm(n.icbWB), RTmp, reg.RCX)
		c.ADDQ(reg.RCX, RRowW)
	}
	// out pointers
	c.MOVQ(n.lOh, RTmp)
	c.IMUL3Q(n.Imm(n.outRowB), RTmp, RTmp)
	c.MOVQ(n.lGrpOut0, RTOut0)
	c.ADDQ(RTmp, RTOut0)
	if conv.Stores1(s.Epilogue) {
		c.MOVQ(n.lGrpOut1, RTOut1)
		c.ADDQ(RTmp, RTOut1)
	}
	if s.Has(conv.AddResidual) {
		c.MOVQ(n.lOh, RTRes)
		c.IMUL3Q(n.Imm(n.rs*n.resRowB), RTRes, RTRes)
		c.ADDQ(n.lGrpRes, RTRes)
	}
	if n.PF {
		// RPf = distance to the next group/chunk + (oh-oh0)*pfStep: each
		// row prefetches the same footprint one step further, so over the
		// rows of a chunk the window's leading edge sweeps the next chunk
		// evenly instead of fetching it all during the first row.
		c.MOVQ(n.lOh, RPf)
		c.SUBQ(n.param("oh0"), RPf)
		c.IMUL3Q(n.Imm(n.pfStep()), RPf, RPf)
		c.ADDQ(n.Imm(n.pfDist()), RPf)
	}
}

// pfStep is how far the prefetch window advances per row: the prefetch
// distance spread over the layer's rows, in whole cache lines.
func (n *Nest) pfStep() int {
	return n.pfDist() / n.oh &^ 63
}

// pfDist is the prefetch distance in bytes: the next chunk of the same
// blocks, or the next group of blocks.
func (n *Nest) pfDist() int {
	if n.Chunked() {
		return n.ICC * n.icbWB
	}
	return n.NB * n.OcbWB
}

// validity of the taps of a tile starting at ow0 with width u:
// valid[p][kw].
func (n *Nest) validity(ow0, u int) (valid [][]bool, interior bool) {
	s := &n.S
	interior = true
	valid = make([][]bool, u)
	for p := 0; p < u; p++ {
		valid[p] = make([]bool, s.KW)
		for kw := 0; kw < s.KW; kw++ {
			iw := (ow0+p)*s.SW - s.PadL + kw
			valid[p][kw] = iw >= 0 && iw < s.W
			if !valid[p][kw] {
				interior = false
			}
		}
	}
	return
}

// Used reports whether some pixel of a tile uses kernel column kw.
func Used(valid [][]bool, kw int) bool {
	for _, v := range valid {
		if v[kw] {
			return true
		}
	}
	return false
}

// advance moves the tile pointers by u pixels.
func (n *Nest) advance(u int) {
	c := n.C
	c.ADDQ(n.Imm(u*n.S.SW*n.PixB), RTIn)
	c.ADDQ(n.Imm(u*n.VecB), RTOut0)
	if conv.Stores1(n.S.Epilogue) {
		c.ADDQ(n.Imm(u*n.VecB), RTOut1)
	}
	if n.S.Has(conv.AddResidual) {
		c.ADDQ(n.Imm(u*n.rs*n.VecB), RTRes)
	}
}

// rowTiles emits the tiles of one row: a loop over each run of interior
// tiles of the same width, an unrolled body for every other tile.
func (n *Nest) rowTiles() {
	c := n.C
	widths := n.Split(n.ow, n.URW)
	ow0 := 0
	for i := 0; i < len(widths); {
		u := widths[i]
		valid, interior := n.validity(ow0, u)
		// Run of interior tiles of the same width: loop.
		k := 1
		if interior {
			for i+k < len(widths) && widths[i+k] == u {
				if _, in := n.validity(ow0+k*u, u); !in {
					break
				}
				k++
			}
		}
		if k >= 2 {
			lbl := n.label("tiles")
			c.MOVQ(operand.I32(k), RTCnt)
			c.Label(lbl)
			n.ISA.Tile(u, valid)
			n.advance(u)
			c.DECQ(RTCnt)
			c.JNZ(operand.LabelRef(lbl))
		} else {
			n.ISA.Tile(u, valid)
			if ow0+u < n.ow {
				n.advance(u)
			}
		}
		ow0 += k * u
		i += k
	}
}

// BeginTile starts a register tile of width u: it clears the accumulators
// (or, chunked, loads the partial sums from out0 after the first chunk)
// and opens the icb and kh loops. The taps of one (icb, kh) step read the
// input and the weights at in and w.
func (n *Nest) BeginTile(u int) (in, w reg.Register) {
	c := n.C
	n.ph = emit.Begin(n.fn, n.Pkg, fmt.Sprintf("tile %dx%d", n.NB, u))
	n.claimAcc(n.ph, u)
	var loadL, accL string
	if n.Chunked() {
		loadL, accL = n.label("load"), n.label("acc")
		c.CMPQ(n.lIcb0, n.Imm(0))
		c.JNE(operand.LabelRef(loadL))
	}
	for j := 0; j < n.NB; j++ {
		for p := 0; p < u; p++ {
			n.ISA.Zero(n.ISA.Acc(j, p, u))
		}
	}
	if n.Chunked() {
		c.JMP(operand.LabelRef(accL))
		c.Label(loadL)
		for j := 0; j < n.NB; j++ {
			for p := 0; p < u; p++ {
				c.VMOVUPS(operand.Mem{Base: RTOut0, Disp: j*n.outOcbB + p*n.VecB}, n.ISA.Acc(j, p, u))
			}
		}
		c.Label(accL)
	}
	c.MOVQ(RTIn, RInC)
	c.MOVQ(RRowW, RWC)
	if n.Chunked() {
		c.MOVQ(n.lIcbN, RIcb)
	} else if n.icb > 1 {
		c.MOVQ(operand.I32(n.icb), RIcb)
	}
	n.icbL = n.label("icb")
	c.Label(n.icbL)
	in, w = RInC, RWC
	if n.S.KH > 1 {
		c.MOVQ(RInC, RIn)
		c.MOVQ(RWC, RW)
		c.MOVQ(RNkh, RKh)
		n.khL = n.label("kh")
		c.Label(n.khL)
		in, w = RIn, RW
	}
	return in, w
}

// GroupOcb is the stack slot holding the first output block of the
// current group (valid from the group's start to its end, e.g. in an
// ISA's Epilogue).
func (n *Nest) GroupOcb() operand.Mem { return n.lOcb }

// Phase is the accumulation phase of the current tile (between BeginTile
// and EndTile), for the ISA to claim its registers.
func (n *Nest) Phase() *emit.Phase { return n.ph }

// claimAcc claims the accumulators of a tile of width u, each its own role.
func (n *Nest) claimAcc(ph *emit.Phase, u int) {
	for j := 0; j < n.NB; j++ {
		for p := 0; p < u; p++ {
			ph.Claim(fmt.Sprintf("accumulator %d,%d", j, p), n.ISA.Acc(j, p, u))
		}
	}
}

// EndTile closes the kh and icb loops of BeginTile and emits the epilogue
// (chunked: after the last chunk; the other chunks store partial sums to
// out0).
func (n *Nest) EndTile(u int) {
	c := n.C
	if n.S.KH > 1 {
		c.ADDQ(n.Imm(n.inRowB), RIn)
		c.ADDQ(n.Imm(n.khWB), RW)
		c.DECQ(RKh)
		c.JNZ(operand.LabelRef(n.khL))
	}
	if n.icb > 1 {
		c.ADDQ(n.Imm(n.icbInB), RInC)
		c.ADDQ(n.Imm(n.icbWB), RWC)
		c.DECQ(RIcb)
		c.JNZ(operand.LabelRef(n.icbL))
	}
	if !n.Chunked() {
		n.ph.End()
		n.ISA.Epilogue(u)
		return
	}
	// Not the last chunk: store the partial sums to out0.
	epiL, endL := n.label("epi"), n.label("end")
	c.MOVQ(n.lIcb0, RIcb)
	c.ADDQ(n.lIcbN, RIcb)
	c.CMPQ(RIcb, n.Imm(n.icb))
	c.JEQ(operand.LabelRef(epiL))
	for j := 0; j < n.NB; j++ {
		for p := 0; p < u; p++ {
			c.VMOVUPS(n.ISA.Acc(j, p, u), operand.Mem{Base: RTOut0, Disp: j*n.outOcbB + p*n.VecB})
		}
	}
	c.JMP(operand.LabelRef(endL))
	c.Label(epiL)
	n.ph.End()
	n.ISA.Epilogue(u)
	c.Label(endL)
}

// EmitEpilogue applies the epilogue steps to the accumulators of a tile of
// width u. zero is cleared (ISA.Zero) for Relu; block(j), if not nil, runs
// before the pixels of block j; affine(j, a) emits the Affine step on
// accumulator a of block j, whose scale and shift are at PScale and PShift
// + j*VecB, using the registers affineRegs (claimed as constants: loaded
// from memory only). The other steps are the same on every instruction
// set.
func (n *Nest) EmitEpilogue(u int, zero reg.VecPhysical, affineRegs []reg.VecPhysical, block func(j int), affine func(j int, a reg.VecPhysical)) {
	c := n.C
	s := &n.S
	ph := emit.Begin(n.fn, n.Pkg, fmt.Sprintf("epilogue of tile %dx%d", n.NB, u))
	n.claimAcc(ph, u)
	if s.Has(conv.Affine) {
		ph.ClaimConst("affine", affineRegs...)
	}
	if s.Has(conv.Relu) {
		ph.ClaimConst("zero", zero)
		n.ISA.Zero(zero)
	}
	if s.Has(conv.Bias) {
		c.MOVQ(n.lGrpBias, PBias)
	}
	if s.Has(conv.Affine) {
		c.MOVQ(n.lGrpScale, PScale)
		c.MOVQ(n.lGrpShift, PShift)
	}
	if s.Has(conv.Mul) {
		c.MOVQ(n.lMulD, PMul)
	}
	tmp := n.ISA.Scratch(u)
	if s.Has(conv.Sigmoid) {
		ph.Claim("sigmoid scratch", tmp[0], tmp[1])
	}
	for j := 0; j < n.NB; j++ {
		if block != nil {
			block(j)
		}
		for p := 0; p < u; p++ {
			a := n.ISA.Acc(j, p, u)
			for _, st := range s.Epilogue {
				switch st.Kind {
				case conv.Bias:
					c.VADDPS(operand.Mem{Base: PBias, Disp: j * n.VecB}, a, a)
				case conv.Relu:
					c.VMAXPS(a, zero, a) // a = max(0, a), NaN kept (MAXPS returns its second source if either is NaN)
				case conv.AddResidual:
					c.VADDPS(operand.Mem{Base: RTRes, Disp: j*n.resOcbB + p*n.rs*n.VecB}, a, a)
				case conv.Store:
					out := RTOut0
					if st.Out == 1 {
						out = RTOut1
					}
					c.VMOVUPS(a, operand.Mem{Base: out, Disp: j*n.outOcbB + p*n.VecB})
				case conv.Affine:
					affine(j, a)
				case conv.Sigmoid:
					emit.Sigmoid(c, n.Consts, a, tmp[0], tmp[1], s.Block == 16)
				case conv.Mul:
					c.VMULPS(operand.Mem{Base: RTOut0, Index: PMul, Scale: 1, Disp: j*n.outOcbB + p*n.VecB}, a, a)
				case conv.Scale:
					emit.Scale(c, n.Consts, a, st.A, st.B)
				}
			}
		}
	}
	ph.End()
}

// NarrowSelect is the VPERMILPS immediate of lane step l of a narrow
// grouped conv (conv.Spec.Narrow = n ≤ 4): within each 4-lane quarter,
// lane q takes lane ⌊q/n⌋·n + l, the l-th input of its group. It panics
// (a generator bug) unless n divides 4 and l < n.
func NarrowSelect(n, l int) operand.U8 {
	if n > 4 || !conv.NarrowOK(n, 4) || l < 0 || l >= n {
		emit.Bugf("direct: narrow select of lane %d in groups of %d", l, n)
	}
	imm := 0
	for q := 0; q < 4; q++ {
		imm |= (q/n*n + l) << (2 * q)
	}
	return operand.U8(imm)
}

// NarrowIndex is the VPERMPS index vector of lane step l of a narrow
// grouped conv of n-channel groups on blocks of b lanes: lane o takes lane
// ⌊o/n⌋·n + l. It panics (a generator bug) unless n is a narrow width of b
// and l < n.
func NarrowIndex(n, l, b int) []uint32 {
	if !conv.NarrowOK(n, b) || l < 0 || l >= n {
		emit.Bugf("direct: narrow index of lane %d in groups of %d on %d lanes", l, n, b)
	}
	v := make([]uint32, b)
	for o := range v {
		v[o] = uint32(o/n*n + l)
	}
	return v
}

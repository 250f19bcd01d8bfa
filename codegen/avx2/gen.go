package avx2

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/rnc-dev/rnc/codegen/avx512"
)

// Signature is the Go signature of every generated kernel (the same as
// avx512's).
//
// The kernel computes output rows [oh0, oh1) of the output-channel blocks
// [ocb0, ocb1) (8 channels each) of one image. ocb0 and ocb1 must be
// multiples of the kernel's Tiling.NB (NB always divides OCB). Empty ranges
// return at once. Pointers the epilogue does not use may be nil. Calls on
// disjoint (block range × row range) rectangles write disjoint output and
// may run concurrently.
const Signature = avx512.Signature

// Tiling is the register tiling of a kernel: each register tile holds
// NB×URW accumulators (NB output-channel blocks of 8 × URW consecutive
// output pixels of one row).
type Tiling struct {
	NB, URW int
	// WR is the number of the NB weight vectors of a lane step that are
	// loaded into registers (once, then used by URW FMAs); the other
	// NB−WR are read by each of their URW FMAs as a memory operand
	// (MLAS's SconvKernelFma3 reads all of them that way). WR < NB only
	// when NB×URW + NB + 1 > 16. Narrower tail tiles use more registers.
	WR int
	// ICC is the number of 8-channel input blocks per reduction chunk.
	// ICC < ICB selects the chunked loop order (see package doc): partial
	// sums go through out0 between chunks.
	ICC int
	// PF: software-prefetch the weights of the next group (or, chunked, of
	// the next chunk) while computing the first row of each call.
	PF bool
}

func (t Tiling) String() string {
	e := ""
	if t.WR < t.NB {
		e = fmt.Sprintf("m%d", t.NB-t.WR)
	}
	if t.PF {
		e += "p"
	}
	return fmt.Sprintf("%dx%d%s/%d", t.NB, t.URW, e, t.ICC)
}

// Register file: 16 ymm. A tile uses NB×URW accumulators, at least one
// broadcast register and up to NB weight registers.
const (
	nYMM   = 16
	maxAcc = nYMM - 1 // accumulators + ≥ 1 broadcast register
)

// weightRegs is the number of weight registers of an nb×u tile: all nb if
// they fit next to the accumulators and one broadcast register, else what
// is left; wmem (ConvSpec.WMem) forces at least that many memory operands.
func weightRegs(nb, u, wmem int) int {
	return max(0, min(nb-wmem, nYMM-1-nb*u))
}

// autoURW is the widest tile ChooseTiling considers for nb blocks:
// nb×u ≤ 14 accumulators and at least nb−1 weights in registers
// (4×3 with one weight vector from memory, 3×4, 2×7 with one from memory,
// 1×14).
func autoURW(nb int) int {
	return []int{0, 14, 7, 4, 3}[nb]
}

// Cost-model constants (cycles; fitted to -bench-variants measurements,
// see the package doc).
const (
	loadsPerCycle = 1.5 // vector loads per cycle next to two FMAs (fitted; the load ports do 2)
	minStep       = 5.0 // ≥ 10 independent accumulators hide the FMA latency
	tileOverhead  = 1.0 // per tile and lane step: zeroing, epilogue, loop control
	tailPenalty   = 2.0 // per narrower tile width of a row: its extra unrolled bodies
)

// tileCost is the modelled cycle count of one lane step (one input channel
// of one kernel tap) for a tile of nb×u accumulators with wr weight
// registers: two FMA pipes; FMA latency 4–5, so each accumulator (one
// dependency chain) costs ≥ 5 cycles per step unless there are ≥ 10
// chains; loadsPerCycle vector loads per cycle (wr weight loads, u
// broadcasts, u per memory-operand weight); plus tileOverhead.
func tileCost(nb, u, wr int) float64 {
	fma := float64(nb*u) / 2
	loads := float64(wr+(nb-wr)*u+u) / loadsPerCycle
	return max(fma, minStep, loads) + tileOverhead
}

// rowCost is the modelled cost of one output row of width ow over all ocb
// output blocks with nb×u tiles: (ocb/nb) × (Σ_tiles tileCost +
// tailPenalty per narrower tile width, for its extra unrolled bodies).
func rowCost(ocb, ow, nb, u, wmem int) float64 {
	c := 0.0
	narrow := map[int]bool{}
	for _, w := range rowTiles(ow, u) {
		c += tileCost(nb, w, weightRegs(nb, w, wmem))
		if w < u && !narrow[w] {
			narrow[w] = true
			c += tailPenalty
		}
	}
	return c * float64(ocb/nb)
}

// rowTiles splits an output row of ow pixels into tile widths: the fewest
// tiles of at most u pixels, as equal as possible, wider ones first
// (7 = 3+2+2 rather than 3+3+1: a 1-pixel tile of 4 blocks has only 4
// accumulators, too few to hide the FMA latency).
func rowTiles(ow, u int) []int {
	var t []int
	n := (ow + u - 1) / u
	for i := 0; i < n; i++ {
		w := ow / n
		if i < ow%n {
			w++
		}
		t = append(t, w)
	}
	return t
}

// ChooseTiling returns the tiling used for s: the spec's NB/URW/WMem/ICC
// overrides if set, otherwise the (NB, URW) with NB | OCB, NB ≤ 4,
// URW ≤ autoURW(NB), that minimizes rowCost (ties prefer larger NB, i.e.
// fewer broadcasts per FMA, then larger URW); the reduction chunk ICC from
// chooseICC; software prefetch for streaming layers.
func ChooseTiling(s *ConvSpec) Tiling {
	ocb := s.OCB()
	ow := s.OW()
	var best Tiling
	if s.NB != 0 && s.URW != 0 {
		best = Tiling{NB: s.NB, URW: min(s.URW, maxAcc/s.NB)}
	} else {
		bestCost := 0.0
		for nb := 4; nb >= 1; nb-- {
			if ocb%nb != 0 || (s.NB != 0 && nb != s.NB) {
				continue
			}
			hi := autoURW(nb)
			if s.URW != 0 {
				hi = min(s.URW, maxAcc/nb)
			}
			for u := hi; u >= 1; u-- {
				if s.URW != 0 && u != hi {
					continue
				}
				c := rowCost(ocb, ow, nb, u, s.WMem)
				if best.NB == 0 || c < bestCost-1e-9 {
					best, bestCost = Tiling{NB: nb, URW: u}, c
				}
			}
		}
	}
	// The widest tile of the balanced row split (7 pixels at URW 6: 4+3).
	best.URW = rowTiles(ow, min(best.URW, ow))[0]
	best.WR = weightRegs(best.NB, best.URW, s.WMem)
	best.ICC = chooseICC(s, best.NB)
	best.PF = s.Prefetch > 0 || (s.Prefetch == 0 && streaming(s))
	return best
}

// streaming reports whether s is a weight-streaming layer: at batch 1 its
// weights come from DRAM (in a network run) and are large (≥ 1 MiB) and
// large per output pixel (≥ 10 KiB: each weight feeds ≤ ~100 FMAs), so the
// weight stream, not the FMA pipes, can be the bound. Such layers use the
// chunked order with one input block per chunk and software prefetch of
// the next chunk. (ResNet50V2: the 7×7 layers, the 3×3 256 at 14×14 and
// the 512→1024 shortcut.)
func streaming(s *ConvSpec) bool {
	w := s.Sizes().Wt * 4
	return w >= streamWeights && w >= streamPerPixel*s.OH()*s.OW()
}

// Cache budgets of the reduction-chunk rule.
const (
	groupWeightsL2 = 256 << 10 // weights of one oc-block group kept in L2 across rows
	chunkWeights   = 40 << 10  // weights of one chunk (L1-sized)
	partialBytes   = 64 << 10  // partial sums of one group (all rows) kept in L1/L2
	streamWeights  = 1 << 20   // see streaming
	streamPerPixel = 10 << 10
)

// chooseICC returns the reduction chunk (input-channel blocks per chunk).
// Streaming layers: streamICC. Others: no chunking (ICB) unless the
// group's weights exceed groupWeightsL2 and its partial sums over all rows
// fit partialBytes; then the largest chunk whose weights fit chunkWeights
// (at least one block).
func chooseICC(s *ConvSpec, nb int) int {
	icb := s.ICB()
	if s.ICC != 0 {
		return min(s.ICC, icb)
	}
	perIcb := nb * s.KH * s.KW * 8 * 8 * 4
	if streaming(s) {
		return min(icb, streamICC)
	}
	if icb == 1 || perIcb*icb <= groupWeightsL2 || s.OH()*s.OW()*nb*32 > partialBytes {
		return icb
	}
	return max(1, min(icb, chunkWeights/perIcb))
}

// streamICC is the reduction chunk of streaming layers (8-channel blocks).
const streamICC = 1

// Registers. The hot loop uses only R8–R13 (R15 with prefetch) and the ymm
// file.
var (
	rIn    = reg.R8  // input pointer of the current (icb, kh)
	rW     = reg.R9  // weight pointer of the current (icb, kh)
	rInC   = reg.R10 // input pointer of the current icb (kh = khLo)
	rWC    = reg.R11 // weight pointer of the current icb
	rIcb   = reg.R12 // icb down-counter
	rKh    = reg.R13 // kh down-counter
	rTIn   = reg.RAX // input pointer of the tile (icb 0, kh = khLo, iw of its first pixel - PadL)
	rTOut0 = reg.RBX // out0 pointer of the tile (block ocb, first pixel)
	rTOut1 = reg.RCX
	rTRes  = reg.RDX
	rTCnt  = reg.RSI // interior-tile loop counter
	rNkh   = reg.RDI // number of valid kh taps of this row
	rRowW  = reg.R14 // weight pointer of the row (group ocb, kh = khLo)
	rTmp   = reg.R15
	rPf    = reg.R15 // prefetch offset (hot loop, PF): next group/chunk in the first row, else 0
)

const (
	vecB = 32 // bytes of one ymm vector = one 8-channel block of a pixel
	blk  = 8  // channels per block
)

type gen struct {
	c  *build.Context
	s  *ConvSpec
	t  Tiling
	nl int // label counter

	// derived constants (bytes)
	lanes, pixB, inRowB, icbInB, tapWB, khWB, icbWB, ocbWB int
	oh, ow, icb, ocb                                       int
	outRowB, outOcbB                                       int
	rh, rw, rs, resRowB, resOcbB                           int

	// locals
	lOcb, lOh, lGrpW, lGrpOut0, lGrpOut1, lGrpRes, lGrpBias, lGrpScale, lGrpShift operand.Mem
	lIcb0, lIcbN                                                                  operand.Mem // chunk start and size (chunked order)
}

func (g *gen) label(tag string) string {
	g.nl++
	return fmt.Sprintf("L%d_%s", g.nl, tag)
}

// imm returns v as a signed 8- or 32-bit immediate.
func imm(v int) operand.Op {
	if v == int(int8(v)) {
		return operand.I8(v)
	}
	if v != int(int32(v)) {
		panic(fmt.Sprintf("avx2: immediate %d out of range", v))
	}
	return operand.I32(v)
}

// imm32 returns v as a signed 32-bit immediate (for MOVQ).
func imm32(v int) operand.Op { return operand.I32(v) }

func param(c *build.Context, name string) operand.Mem {
	b, err := c.Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// Generate emits the kernel for s as the function name (with Signature)
// into ctx and returns its tiling. It does not call ctx.Package (the stubs
// use only builtin types); many kernels may share one ctx. Print the file
// with Print, or with Compile (or pass.Compile) and avo's printers.
//
// Aliasing: out0 and out1 must not overlap the input, the weights or each
// other. res may be the same buffer as out0 (in-place residual add) unless
// the tiling is chunked (ICC < ICB), which keeps partial sums in out0.
func Generate(ctx *build.Context, name string, s *ConvSpec) (Tiling, error) {
	if err := s.Validate(); err != nil {
		return Tiling{}, err
	}
	g := &gen{c: ctx, s: s, t: ChooseTiling(s)}
	g.derive()
	ctx.Function(name)
	ctx.Attributes(attr.NOSPLIT)
	ctx.SignatureExpr(Signature)
	ctx.Doc(fmt.Sprintf("%s: conv %dx%dx%d -> %d, %dx%d/%dx%d pad %d,%d,%d,%d nhwc=%v epilogue %v tiling %v (AVX2+FMA).",
		name, s.H, s.W, s.IC, s.OC, s.KH, s.KW, s.SH, s.SW, s.PadT, s.PadB, s.PadL, s.PadR, s.FirstNHWC, s.Epilogue, g.t))
	g.body()
	return g.t, nil
}

func (g *gen) derive() {
	s := g.s
	g.oh, g.ow, g.icb, g.ocb = s.OH(), s.OW(), s.ICB(), s.OCB()
	if s.FirstNHWC {
		g.lanes = s.IC
		g.pixB = s.IC * 4
	} else {
		g.lanes = blk
		g.pixB = vecB
	}
	g.inRowB = s.W * g.pixB
	g.icbInB = s.H * s.W * vecB
	g.tapWB = g.lanes * vecB
	g.khWB = s.KW * g.tapWB
	g.icbWB = s.KH * g.khWB
	g.ocbWB = g.icb * g.icbWB
	g.outRowB = g.ow * vecB
	g.outOcbB = g.oh * g.ow * vecB
	g.rh, g.rw, g.rs = s.resDims()
	g.resRowB = g.rw * vecB
	g.resOcbB = g.rh * g.rw * vecB
}

func (g *gen) body() {
	c := g.c
	s := g.s
	nb := g.t.NB
	locals := c.AllocLocal(11 * 8)
	loc := func(i int) operand.Mem { return locals.Offset(8 * i) }
	g.lOcb, g.lOh, g.lGrpW, g.lGrpOut0, g.lGrpOut1 = loc(0), loc(1), loc(2), loc(3), loc(4)
	g.lGrpRes, g.lGrpBias, g.lGrpScale, g.lGrpShift = loc(5), loc(6), loc(7), loc(8)
	g.lIcb0, g.lIcbN = loc(9), loc(10)

	done := g.label("done")
	// Empty ranges.
	c.MOVQ(param(c, "ocb0"), rTmp)
	c.CMPQ(rTmp, param(c, "ocb1"))
	c.JGE(operand.LabelRef(done))
	c.MOVQ(param(c, "oh0"), reg.RAX)
	c.CMPQ(reg.RAX, param(c, "oh1"))
	c.JGE(operand.LabelRef(done))
	c.MOVQ(rTmp, g.lOcb)

	grp := g.label("grp")
	c.Label(grp)
	// Group pointers.
	c.MOVQ(g.lOcb, rTmp)
	grpPtr := func(p string, stride int, dst operand.Mem) {
		c.MOVQ(rTmp, reg.RAX)
		c.IMUL3Q(imm(stride), reg.RAX, reg.RAX)
		c.ADDQ(param(c, p), reg.RAX)
		c.MOVQ(reg.RAX, dst)
	}
	grpPtr("wt", g.ocbWB, g.lGrpW)
	grpPtr("out0", g.outOcbB, g.lGrpOut0)
	if s.has(Store1) {
		grpPtr("out1", g.outOcbB, g.lGrpOut1)
	}
	if s.has(AddResidual) {
		grpPtr("res", g.resOcbB, g.lGrpRes)
	}
	if s.has(Bias) {
		grpPtr("bias", vecB, g.lGrpBias)
	}
	if s.has(Affine) {
		grpPtr("scale", vecB, g.lGrpScale)
		grpPtr("shift", vecB, g.lGrpShift)
	}
	chunk := g.label("chunk")
	if g.chunked() {
		c.MOVQ(imm32(0), g.lIcb0)
		c.Label(chunk)
		// lIcbN = min(ICC, ICB - lIcb0)
		c.MOVQ(imm32(g.icb), reg.RAX)
		c.SUBQ(g.lIcb0, reg.RAX)
		c.MOVQ(imm32(g.t.ICC), reg.RBX)
		c.CMPQ(reg.RAX, reg.RBX)
		c.CMOVQLT(reg.RAX, reg.RBX)
		c.MOVQ(reg.RBX, g.lIcbN)
	}
	c.MOVQ(param(c, "oh0"), reg.RAX)
	c.MOVQ(reg.RAX, g.lOh)

	row := g.label("row")
	c.Label(row)
	g.rowSetup()
	g.rowTiles()
	c.INCQ(g.lOh)
	c.MOVQ(g.lOh, reg.RAX)
	c.CMPQ(reg.RAX, param(c, "oh1"))
	c.JLT(operand.LabelRef(row))
	if g.chunked() {
		c.MOVQ(g.lIcb0, reg.RAX)
		c.ADDQ(g.lIcbN, reg.RAX)
		c.MOVQ(reg.RAX, g.lIcb0)
		c.CMPQ(reg.RAX, imm(g.icb))
		c.JLT(operand.LabelRef(chunk))
	}
	c.MOVQ(g.lOcb, rTmp)
	c.ADDQ(imm(nb), rTmp)
	c.MOVQ(rTmp, g.lOcb)
	c.CMPQ(rTmp, param(c, "ocb1"))
	c.JLT(operand.LabelRef(grp))

	c.Label(done)
	c.VZEROUPPER()
	c.RET()
}

// rowSetup computes, for the row in lOh, rNkh, rRowW and the tile pointers
// of the row's first pixel.
func (g *gen) rowSetup() {
	c := g.c
	s := g.s
	// RAX = ih0 = oh*SH - PadT
	c.MOVQ(g.lOh, reg.RAX)
	if s.SH == 2 {
		c.SHLQ(imm(1), reg.RAX)
	}
	if s.PadT != 0 {
		c.SUBQ(imm(s.PadT), reg.RAX)
	}
	// RBX = khLo = max(0, -ih0)
	c.XORQ(reg.RBX, reg.RBX)
	if s.PadT != 0 {
		c.MOVQ(reg.RAX, reg.RCX)
		c.NEGQ(reg.RCX)
		c.CMOVQGT(reg.RCX, reg.RBX)
	}
	// rNkh = min(KH, H-ih0) - khLo
	c.MOVQ(imm32(s.H), reg.RCX)
	c.SUBQ(reg.RAX, reg.RCX)
	c.MOVQ(imm32(s.KH), rNkh)
	c.CMPQ(reg.RCX, rNkh)
	c.CMOVQLT(reg.RCX, rNkh)
	c.SUBQ(reg.RBX, rNkh)
	// rTIn = in + ((ih0+khLo)*W - PadL)*pixB
	c.ADDQ(reg.RBX, reg.RAX)
	c.IMUL3Q(imm(g.inRowB), reg.RAX, reg.RAX)
	c.ADDQ(param(c, "in"), reg.RAX)
	if s.PadL != 0 {
		c.SUBQ(imm(s.PadL*g.pixB), reg.RAX)
	}
	// rRowW = grpW + khLo*khWB
	c.IMUL3Q(imm(g.khWB), reg.RBX, reg.RBX)
	c.ADDQ(g.lGrpW, reg.RBX)
	c.MOVQ(reg.RBX, rRowW)
	if g.chunked() {
		// + chunk start
		c.MOVQ(g.lIcb0, rTmp)
		c.IMUL3Q(imm(g.icbInB), rTmp, reg.RCX)
		c.ADDQ(reg.RCX, reg.RAX)
		c.IMUL3Q(imm(g.icbWB), rTmp, reg.RCX)
		c.ADDQ(reg.RCX, rRowW)
	}
	// out pointers
	c.MOVQ(g.lOh, rTmp)
	c.IMUL3Q(imm(g.outRowB), rTmp, rTmp)
	c.MOVQ(g.lGrpOut0, rTOut0)
	c.ADDQ(rTmp, rTOut0)
	if s.has(Store1) {
		c.MOVQ(g.lGrpOut1, rTOut1)
		c.ADDQ(rTmp, rTOut1)
	}
	if s.has(AddResidual) {
		c.MOVQ(g.lOh, rTRes)
		c.IMUL3Q(imm(g.rs*g.resRowB), rTRes, rTRes)
		c.ADDQ(g.lGrpRes, rTRes)
	}
	if g.t.PF {
		// rPf = oh == oh0 ? distance to the next group/chunk : 0
		c.XORQ(rPf, rPf)
		c.MOVQ(g.lOh, reg.R9)
		c.CMPQ(reg.R9, param(c, "oh0"))
		c.MOVQ(imm32(g.pfDist()), reg.R8)
		c.CMOVQEQ(reg.R8, rPf)
	}
}

// pfDist is the prefetch distance in bytes: the next chunk of the same
// blocks, or the next group of blocks.
func (g *gen) pfDist() int {
	if g.chunked() {
		return g.t.ICC * g.icbWB
	}
	return g.t.NB * g.ocbWB
}

// validity of the taps of a tile starting at ow0 with width u:
// valid[p][kw].
func (g *gen) validity(ow0, u int) (valid [][]bool, interior bool) {
	s := g.s
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

// advance moves the tile pointers by u pixels.
func (g *gen) advance(u int) {
	c := g.c
	c.ADDQ(imm(u*g.s.SW*g.pixB), rTIn)
	c.ADDQ(imm(u*vecB), rTOut0)
	if g.s.has(Store1) {
		c.ADDQ(imm(u*vecB), rTOut1)
	}
	if g.s.has(AddResidual) {
		c.ADDQ(imm(u*g.rs*vecB), rTRes)
	}
}

func (g *gen) rowTiles() {
	c := g.c
	widths := rowTiles(g.ow, g.t.URW)
	ow0 := 0
	for i := 0; i < len(widths); {
		u := widths[i]
		valid, interior := g.validity(ow0, u)
		// Run of interior tiles of the same width: loop.
		n := 1
		if interior {
			for i+n < len(widths) && widths[i+n] == u {
				if _, in := g.validity(ow0+n*u, u); !in {
					break
				}
				n++
			}
		}
		if n >= 2 {
			lbl := g.label("tiles")
			c.MOVQ(imm32(n), rTCnt)
			c.Label(lbl)
			g.tile(u, valid)
			g.advance(u)
			c.DECQ(rTCnt)
			c.JNZ(operand.LabelRef(lbl))
		} else {
			g.tile(u, valid)
			if ow0+u < g.ow {
				g.advance(u)
			}
		}
		ow0 += n * u
		i += n
	}
}

var ymm = [nYMM]reg.VecPhysical{
	reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7,
	reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15,
}

// acc is the accumulator of block j, pixel p in a tile of width u.
func (g *gen) acc(j, p, u int) reg.VecPhysical { return ymm[j*u+p] }

// tile emits the accumulation and epilogue of one register tile of width u.
//
// Registers: accumulators Y0..Y(NB*u-1); weight registers Y15, Y14, ...
// (wr of them, for blocks 0..wr-1); the rest are broadcast registers,
// used round robin. Blocks wr..NB-1 read their weights as FMA memory
// operands.
func (g *gen) tile(u int, valid [][]bool) {
	c := g.c
	s := g.s
	nb := g.t.NB
	wr := weightRegs(nb, u, g.s.WMem)
	wreg := func(j int) reg.VecPhysical { return ymm[nYMM-1-j] }
	nbc := nYMM - nb*u - wr
	breg := func(k int) reg.VecPhysical { return ymm[nYMM-1-wr-k%nbc] }
	c.Commentf("tile %dx%d, %d weight registers", nb, u, wr)
	var loadL, accL string
	if g.chunked() {
		loadL, accL = g.label("load"), g.label("acc")
		c.CMPQ(g.lIcb0, imm(0))
		c.JNE(operand.LabelRef(loadL))
	}
	for j := 0; j < nb; j++ {
		for p := 0; p < u; p++ {
			a := g.acc(j, p, u)
			c.VXORPS(a, a, a)
		}
	}
	if g.chunked() {
		c.JMP(operand.LabelRef(accL))
		c.Label(loadL)
		for j := 0; j < nb; j++ {
			for p := 0; p < u; p++ {
				c.VMOVUPS(operand.Mem{Base: rTOut0, Disp: j*g.outOcbB + p*vecB}, g.acc(j, p, u))
			}
		}
		c.Label(accL)
	}
	c.MOVQ(rTIn, rInC)
	c.MOVQ(rRowW, rWC)
	if g.chunked() {
		c.MOVQ(g.lIcbN, rIcb)
	} else if g.icb > 1 {
		c.MOVQ(imm32(g.icb), rIcb)
	}
	icbL := g.label("icb")
	c.Label(icbL)
	in, w := rInC, rWC
	var khL string
	if s.KH > 1 {
		c.MOVQ(rInC, rIn)
		c.MOVQ(rWC, rW)
		c.MOVQ(rNkh, rKh)
		khL = g.label("kh")
		c.Label(khL)
		in, w = rIn, rW
	}
	nbk := 0
	for kw := 0; kw < s.KW; kw++ {
		used := false
		for p := 0; p < u; p++ {
			used = used || valid[p][kw]
		}
		if !used {
			continue
		}
		for l := 0; l < g.lanes; l++ {
			wm := func(j int) operand.Mem {
				return operand.Mem{Base: w, Disp: j*g.ocbWB + kw*g.tapWB + l*vecB}
			}
			for j := 0; j < nb; j++ {
				if j < wr {
					c.VMOVUPS(wm(j), wreg(j))
				}
				// One prefetch per 64-byte line: every other lane.
				if g.t.PF && l%2 == 0 {
					m := wm(j)
					m.Index, m.Scale = rPf, 1
					c.PREFETCHT1(m)
				}
			}
			for p := 0; p < u; p++ {
				if !valid[p][kw] {
					continue
				}
				b := breg(nbk)
				nbk++
				c.VBROADCASTSS(operand.Mem{Base: in, Disp: (p*s.SW+kw)*g.pixB + l*4}, b)
				for j := 0; j < nb; j++ {
					if j < wr {
						c.VFMADD231PS(wreg(j), b, g.acc(j, p, u))
					} else {
						c.VFMADD231PS(wm(j), b, g.acc(j, p, u))
					}
				}
			}
		}
	}
	if s.KH > 1 {
		c.ADDQ(imm(g.inRowB), rIn)
		c.ADDQ(imm(g.khWB), rW)
		c.DECQ(rKh)
		c.JNZ(operand.LabelRef(khL))
	}
	if g.icb > 1 {
		c.ADDQ(imm(g.icbInB), rInC)
		c.ADDQ(imm(g.icbWB), rWC)
		c.DECQ(rIcb)
		c.JNZ(operand.LabelRef(icbL))
	}
	if !g.chunked() {
		g.epilogue(u)
		return
	}
	// Not the last chunk: store the partial sums to out0.
	epiL, endL := g.label("epi"), g.label("end")
	c.MOVQ(g.lIcb0, rIcb)
	c.ADDQ(g.lIcbN, rIcb)
	c.CMPQ(rIcb, imm(g.icb))
	c.JEQ(operand.LabelRef(epiL))
	for j := 0; j < nb; j++ {
		for p := 0; p < u; p++ {
			c.VMOVUPS(g.acc(j, p, u), operand.Mem{Base: rTOut0, Disp: j*g.outOcbB + p*vecB})
		}
	}
	c.JMP(operand.LabelRef(endL))
	c.Label(epiL)
	g.epilogue(u)
	c.Label(endL)
}

func (g *gen) chunked() bool { return g.t.ICC < g.icb }

// epilogue applies the steps to the accumulators of a tile of width u.
// Y15 (never an accumulator) holds zero for Relu; bias, residual, scale and
// shift are FMA-free memory operands (Affine is VMULPS + VADDPS).
func (g *gen) epilogue(u int) {
	c := g.c
	s := g.s
	nb := g.t.NB
	zero := ymm[nYMM-1]
	pBias, pScale, pShift := reg.R8, reg.R9, reg.R10
	if s.has(Relu) {
		c.VXORPS(zero, zero, zero)
	}
	if s.has(Bias) {
		c.MOVQ(g.lGrpBias, pBias)
	}
	if s.has(Affine) {
		c.MOVQ(g.lGrpScale, pScale)
		c.MOVQ(g.lGrpShift, pShift)
	}
	for j := 0; j < nb; j++ {
		for p := 0; p < u; p++ {
			a := g.acc(j, p, u)
			for _, st := range s.Epilogue {
				switch st.Kind {
				case Bias:
					c.VADDPS(operand.Mem{Base: pBias, Disp: j * vecB}, a, a)
				case Relu:
					c.VMAXPS(zero, a, a)
				case AddResidual:
					c.VADDPS(operand.Mem{Base: rTRes, Disp: j*g.resOcbB + p*g.rs*vecB}, a, a)
				case Store0:
					c.VMOVUPS(a, operand.Mem{Base: rTOut0, Disp: j*g.outOcbB + p*vecB})
				case Affine:
					c.VMULPS(operand.Mem{Base: pScale, Disp: j * vecB}, a, a)
					c.VADDPS(operand.Mem{Base: pShift, Disp: j * vecB}, a, a)
				case Store1:
					c.VMOVUPS(a, operand.Mem{Base: rTOut1, Disp: j*g.outOcbB + p*vecB})
				}
			}
		}
	}
}

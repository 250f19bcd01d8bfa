package avx512

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Signature is the Go signature of every generated kernel.
//
// The kernel computes output rows [oh0, oh1) of the output-channel blocks
// [ocb0, ocb1) (16 channels each) of one image. ocb0 and ocb1 must be
// multiples of the kernel's Tiling.NB (NB always divides OCB). Empty ranges
// return at once. Pointers the epilogue does not use may be nil. Calls on
// disjoint (block range × row range) rectangles write disjoint output and
// may run concurrently.
const Signature = "func(in, wt, bias, res, scale, shift, out0, out1 *float32, ocb0, ocb1, oh0, oh1 int)"

// Tiling is the register tiling of a kernel: each register tile holds
// NB×URW accumulators (NB output-channel blocks of 16 × URW consecutive
// output pixels of one row).
type Tiling struct {
	NB, URW int
	Embed   bool // broadcast folded into the FMA memory operand
	// ICC is the number of 16-channel input blocks per reduction chunk.
	// ICC < ICB selects the chunked loop order (see package doc): partial
	// sums go through out0 between chunks.
	ICC int
	// PF: software-prefetch the weights of the next group (or, chunked, of
	// the next chunk) while computing the first row of each call.
	PF bool
}

func (t Tiling) String() string {
	e := ""
	if t.Embed {
		e = "e"
	}
	if t.PF {
		e += "p"
	}
	return fmt.Sprintf("%dx%d%s/%d", t.NB, t.URW, e, t.ICC)
}

// maxURW is the widest tile for nb blocks: nb*u accumulators + nb weight
// registers + at least two broadcast registers must fit in 32 zmm, and at
// most 28 accumulators are used.
func maxURW(nb int, embed bool) int {
	u := (30 - nb) / nb
	if embed {
		u = (32 - nb) / nb
	}
	return min(u, 28/nb)
}

// autoURW is the widest tile ChooseTiling considers for nb blocks. Wider
// tiles (2×14, 1×28) measured 2–15% slower, presumably because of their
// larger unrolled bodies (≈ 15 KB per 3×3 tile variant) and their
// broadcast-per-FMA ratio.
func autoURW(nb int) int {
	return []int{0, 12, 8, 8, 6}[nb]
}

// tileCost is the modelled cycle count of one lane step (one input channel
// of one kernel tap) for a tile of nb×u accumulators: two FMA pipes; FMA
// latency 4, so each accumulator (one dependency chain) costs at least 4
// cycles per step, which in practice needs ≥ 10 chains (5 cycles); two
// vector loads per cycle; plus 1 for the per-tile overhead (zeroing,
// epilogue, loop control, refilling the pipeline).
func tileCost(nb, u int, embed bool) float64 {
	fma := float64(nb*u) / 2
	loads := float64(nb+u) / 2
	if embed {
		loads = float64(nb+nb*u) / 2
	}
	return max(fma, 5, loads) + 1
}

// rowCost is the modelled cost of one output row of width ow over all ocb
// output blocks with nb×u tiles: (ocb/nb) × (Σ_tiles tileCost + 2 if the
// row needs a narrower tail tile, for its extra unrolled body).
func rowCost(ocb, ow, nb, u int, embed bool) float64 {
	c := 0.0
	for _, w := range rowTiles(ow, u) {
		c += tileCost(nb, w, embed)
		if w < u {
			c += 2
		}
	}
	return c * float64(ocb/nb)
}

// rowTiles splits an output row of ow pixels into tile widths.
func rowTiles(ow, u int) []int {
	var t []int
	for x := 0; x < ow; x += u {
		t = append(t, min(u, ow-x))
	}
	return t
}

// ChooseTiling returns the tiling used for s: the spec's NB/URW/ICC
// overrides if set, otherwise the (NB, URW) with NB | OCB, NB ≤ 4,
// URW ≤ autoURW(NB), that minimizes rowCost (ties prefer larger NB, i.e.
// fewer broadcasts per FMA, then larger URW), and the reduction chunk ICC
// from chooseICC; software prefetch for streaming layers.
func ChooseTiling(s *ConvSpec) Tiling {
	ocb := s.OCB()
	ow := s.OW()
	var best Tiling
	if s.NB != 0 && s.URW != 0 {
		best = Tiling{NB: s.NB, URW: min(s.URW, maxURW(s.NB, s.EmbedBcast)), Embed: s.EmbedBcast}
	} else {
		bestCost := 0.0
		for nb := 4; nb >= 1; nb-- {
			if ocb%nb != 0 || (s.NB != 0 && nb != s.NB) {
				continue
			}
			for u := min(autoURW(nb), maxURW(nb, s.EmbedBcast)); u >= 1; u-- {
				if s.URW != 0 && u != s.URW {
					continue
				}
				c := rowCost(ocb, ow, nb, u, s.EmbedBcast)
				if best.NB == 0 || c < bestCost-1e-9 {
					best, bestCost = Tiling{NB: nb, URW: u, Embed: s.EmbedBcast}, c
				}
			}
		}
	}
	best.URW = min(best.URW, ow)
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
// Streaming layers: 1. Others: no chunking (ICB) unless the group's
// weights exceed groupWeightsL2 and its partial sums over all rows fit
// partialBytes; then the largest chunk whose weights fit chunkWeights (at
// least one block).
func chooseICC(s *ConvSpec, nb int) int {
	icb := s.ICB()
	if s.ICC != 0 {
		return min(s.ICC, icb)
	}
	perIcb := nb * s.KH * s.KW * 16 * 16 * 4
	if streaming(s) {
		return 1
	}
	if icb == 1 || perIcb*icb <= groupWeightsL2 || s.OH()*s.OW()*nb*64 > partialBytes {
		return icb
	}
	return max(1, min(icb, chunkWeights/perIcb))
}

// Registers. The hot loop uses only R8–R13 and the zmm file.
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
	rTCnt  = reg.RSI // generic-tile loop counter
	rNkh   = reg.RDI // number of valid kh taps of this row
	rRowW  = reg.R14 // weight pointer of the row (group ocb, kh = khLo)
	rTmp   = reg.R15
	rPf    = reg.R15 // prefetch offset (hot loop, PF): next group/chunk in the first row, else 0
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
		panic(fmt.Sprintf("avx512: immediate %d out of range", v))
	}
	return operand.I32(v)
}

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
	ctx.Doc(fmt.Sprintf("%s: conv %dx%dx%d -> %d, %dx%d/%dx%d pad %d,%d,%d,%d nhwc=%v epilogue %v tiling %v.",
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
		g.lanes = 16
		g.pixB = 64
	}
	g.inRowB = s.W * g.pixB
	g.icbInB = s.H * s.W * 64
	g.tapWB = g.lanes * 64
	g.khWB = s.KW * g.tapWB
	g.icbWB = s.KH * g.khWB
	g.ocbWB = g.icb * g.icbWB
	g.outRowB = g.ow * 64
	g.outOcbB = g.oh * g.ow * 64
	g.rh, g.rw, g.rs = s.resDims()
	g.resRowB = g.rw * 64
	g.resOcbB = g.rh * g.rw * 64
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
		grpPtr("bias", 64, g.lGrpBias)
	}
	if s.has(Affine) {
		grpPtr("scale", 64, g.lGrpScale)
		grpPtr("shift", 64, g.lGrpShift)
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

// pixel validity of a tile starting at ow0 with width u: valid[p][kw].
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
	c.ADDQ(imm(u*64), rTOut0)
	if g.s.has(Store1) {
		c.ADDQ(imm(u*64), rTOut1)
	}
	if g.s.has(AddResidual) {
		c.ADDQ(imm(u*g.rs*64), rTRes)
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

var zmm = [32]reg.VecPhysical{
	reg.Z0, reg.Z1, reg.Z2, reg.Z3, reg.Z4, reg.Z5, reg.Z6, reg.Z7,
	reg.Z8, reg.Z9, reg.Z10, reg.Z11, reg.Z12, reg.Z13, reg.Z14, reg.Z15,
	reg.Z16, reg.Z17, reg.Z18, reg.Z19, reg.Z20, reg.Z21, reg.Z22, reg.Z23,
	reg.Z24, reg.Z25, reg.Z26, reg.Z27, reg.Z28, reg.Z29, reg.Z30, reg.Z31,
}

func (g *gen) acc(j, p, u int) reg.VecPhysical { return zmm[j*u+p] }

// tile emits the accumulation and epilogue of one register tile of width u.
func (g *gen) tile(u int, valid [][]bool) {
	c := g.c
	s := g.s
	nb := g.t.NB
	wreg := func(j int) reg.VecPhysical { return zmm[31-j] }
	nbc := 32 - nb - nb*u
	breg := func(k int) reg.VecPhysical { return zmm[31-nb-k%nbc] }
	c.Commentf("tile %dx%d", nb, u)
	var loadL, accL string
	if g.chunked() {
		loadL, accL = g.label("load"), g.label("acc")
		c.CMPQ(g.lIcb0, imm(0))
		c.JNE(operand.LabelRef(loadL))
	}
	for j := 0; j < nb; j++ {
		for p := 0; p < u; p++ {
			a := g.acc(j, p, u)
			c.VPXORD(a, a, a)
		}
	}
	if g.chunked() {
		c.JMP(operand.LabelRef(accL))
		c.Label(loadL)
		for j := 0; j < nb; j++ {
			for p := 0; p < u; p++ {
				c.VMOVUPS(operand.Mem{Base: rTOut0, Disp: j*g.outOcbB + p*64}, g.acc(j, p, u))
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
			for j := 0; j < nb; j++ {
				c.VMOVUPS(operand.Mem{Base: w, Disp: j*g.ocbWB + kw*g.tapWB + l*64}, wreg(j))
				if g.t.PF {
					c.PREFETCHT1(operand.Mem{Base: w, Index: rPf, Scale: 1, Disp: j*g.ocbWB + kw*g.tapWB + l*64})
				}
			}
			for p := 0; p < u; p++ {
				if !valid[p][kw] {
					continue
				}
				m := operand.Mem{Base: in, Disp: (p*s.SW+kw)*g.pixB + l*4}
				if g.t.Embed {
					for j := 0; j < nb; j++ {
						c.VFMADD231PS_BCST(m, wreg(j), g.acc(j, p, u))
					}
					continue
				}
				b := breg(nbk)
				nbk++
				c.VBROADCASTSS(m, b)
				for j := 0; j < nb; j++ {
					c.VFMADD231PS(b, wreg(j), g.acc(j, p, u))
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
			c.VMOVUPS(g.acc(j, p, u), operand.Mem{Base: rTOut0, Disp: j*g.outOcbB + p*64})
		}
	}
	c.JMP(operand.LabelRef(endL))
	c.Label(epiL)
	g.epilogue(u)
	c.Label(endL)
}

func (g *gen) chunked() bool { return g.t.ICC < g.icb }

func (g *gen) epilogue(u int) {
	c := g.c
	s := g.s
	nb := g.t.NB
	zero := reg.Z31
	scl := reg.Z30
	pBias, pScale, pShift := reg.R8, reg.R9, reg.R10
	if s.has(Relu) {
		c.VPXORD(zero, zero, zero)
	}
	if s.has(Bias) {
		c.MOVQ(g.lGrpBias, pBias)
	}
	if s.has(Affine) {
		c.MOVQ(g.lGrpScale, pScale)
		c.MOVQ(g.lGrpShift, pShift)
	}
	for j := 0; j < nb; j++ {
		if s.has(Affine) {
			c.VMOVUPS(operand.Mem{Base: pScale, Disp: j * 64}, scl)
		}
		for p := 0; p < u; p++ {
			a := g.acc(j, p, u)
			for _, st := range s.Epilogue {
				switch st.Kind {
				case Bias:
					c.VADDPS(operand.Mem{Base: pBias, Disp: j * 64}, a, a)
				case Relu:
					c.VMAXPS(zero, a, a)
				case AddResidual:
					c.VADDPS(operand.Mem{Base: rTRes, Disp: j*g.resOcbB + p*g.rs*64}, a, a)
				case Store0:
					c.VMOVUPS(a, operand.Mem{Base: rTOut0, Disp: j*g.outOcbB + p*64})
				case Affine:
					c.VFMADD213PS(operand.Mem{Base: pShift, Disp: j * 64}, scl, a)
				case Store1:
					c.VMOVUPS(a, operand.Mem{Base: rTOut1, Disp: j*g.outOcbB + p*64})
				}
			}
		}
	}
}

// imm32 returns v as a signed 32-bit immediate (for MOVQ).
func imm32(v int) operand.Op { return operand.I32(v) }

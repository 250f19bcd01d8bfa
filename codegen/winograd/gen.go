package winograd

import (
	"fmt"
	"math"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	avoir "github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
	"github.com/rnc-dev/rnc/codegen/internal/emit"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// Signature is the Go signature of every generated kernel.
//
// The kernel computes output tile rows [t0, t1) (tile row r = output rows
// 4r … 4r+3, clipped at the bottom; 0 ≤ t0 ≤ t1 ≤ TH) for all output
// channels of one image, using ws (Tiling.Workspace floats, normally
// runtime.WinogradWorkspace) as scratch. Empty ranges return at once.
// Pointers the epilogue does not use may be nil. Calls on disjoint tile-row
// ranges with different workspaces write disjoint memory and may run
// concurrently.
var Signature = emit.Signature(abi.F32, "in, u, bias, res, mul, scale, shift, out0, out1, ws", "t0, t1")

var zmm = emit.ZMM

type gen struct {
	c      *build.Context
	fn     *avoir.Function
	s      *Spec
	t      Tiling
	labels emit.Labels
	k      *emit.Consts // Sigmoid and Scale constants

	oh, ow, th, tw, icb, ocb, smax int
	// byte strides
	vXi, vIcb, mOff, mXi, mJ   int // workspace
	uOcb, uXi                  int // U
	inRow, inIcb               int
	outRow, outOcb             int
	rh, rw, rs, resRow, resOcb int

	masks     []int   // valid input rows (bit k: row 4r-PadT+k) of each tile row r
	branchRow [6]bool // input row k is invalid for some tile row
	// locals: first tile row of the strip, rows in the strip, group,
	// row in the strip (output phase), end of the range
	lT, lN, lG, lRR, lT1 operand.Mem
}

func (g *gen) label(tag string) string { return g.labels.New(tag) }

// imm returns v as a signed 8- or 32-bit immediate.
func imm(v int) operand.Op { return emit.Imm("winograd", v) }

func mem(base reg.Register, disp int) operand.Mem {
	if disp != int(int32(disp)) {
		emit.Bugf("winograd: displacement %d out of range", disp)
	}
	return operand.Mem{Base: base, Disp: disp}
}

// phase starts a register-role phase of the kernel (emit.Phase).
func (g *gen) phase(what string) *emit.Phase { return emit.Begin(g.fn, "winograd", what) }

// claimRange claims zmm[lo..hi] for role, each register as "role i".
func claimRange(ph *emit.Phase, role string, lo, hi int) {
	for i := lo; i <= hi; i++ {
		ph.Claim(fmt.Sprintf("%s %d", role, i-lo), zmm[i])
	}
}

// Generate emits the kernel for s as the function name (with Signature)
// into ctx. It does not call ctx.Package; many kernels (and direct ones)
// may share one ctx. Print the file with Print.
//
// Aliasing: out0, out1 and ws must not overlap each other, the input or U.
// res may be the same buffer as out0 (in-place residual, ResStride 1) when
// AddResidual comes before Store→out0 in the epilogue: each residual element is
// read right before the same element of out0 is written, and no call reads
// out0 otherwise.
func Generate(ctx *build.Context, name string, s *Spec) (err error) {
	if err := s.Validate(); err != nil {
		return err
	}
	defer emit.Catch(&err)
	g := &gen{c: ctx, s: s, t: ChooseTiling(s), labels: emit.Labels{Prefix: "W"}, k: emit.NewConsts(name, 64)}
	g.derive()
	ctx.Function(name)
	g.fn = emit.Current(ctx)
	ctx.Attributes(attr.NOSPLIT)
	ctx.SignatureExpr(Signature)
	ctx.Doc(fmt.Sprintf("%s: winograd F(4x4,3x3) conv %dx%dx%d -> %d, pad %d,%d,%d,%d epilogue %v tiling %v.",
		name, s.H, s.W, s.IC, s.OC, s.PadT, s.PadB, s.PadL, s.PadR, s.Epilogue, g.t))
	g.body()
	g.k.Emit(ctx)
	return nil
}

func (g *gen) derive() {
	s := g.s
	g.oh, g.ow = s.OH(), s.OW()
	g.th, g.tw = s.Tiles()
	g.icb, g.ocb = s.ICB(), s.OCB()
	g.smax = g.t.Rows * g.tw
	g.vIcb = g.smax * 64
	g.vXi = g.icb * g.vIcb
	g.mOff = 36 * g.vXi
	g.mJ = g.smax * 64
	g.mXi = g.t.NB * g.mJ
	if (g.mOff+36*min(4, g.ocb)*g.smax*64)/4 != g.t.Workspace {
		panic("winograd: workspace layout disagrees with runtime.WinogradWorkspaceTiles")
	}
	g.uXi = g.icb * 16 * 64
	g.uOcb = 36 * g.uXi
	g.inRow = s.W * 64
	g.inIcb = s.H * g.inRow
	g.outRow = g.ow * 64
	g.outOcb = g.oh * g.outRow
	g.rh, g.rw, g.rs = s.resDims()
	g.resRow = g.rw * 64
	g.resOcb = g.rh * g.resRow
	for r := 0; r < g.th; r++ {
		m := 0
		for k := 0; k < 6; k++ {
			ih := 4*r - s.PadT + k
			if ih >= 0 && ih < s.H {
				m |= 1 << k
			} else {
				g.branchRow[k] = true
			}
		}
		g.masks = append(g.masks, m)
	}
}

func (g *gen) body() {
	c := g.c
	locals := c.AllocLocal(5 * 8)
	g.lT, g.lN, g.lG, g.lRR, g.lT1 = locals.Offset(0), locals.Offset(8), locals.Offset(16), locals.Offset(24), locals.Offset(32)
	done := g.label("done")
	// Clamp the range to [0, TH].
	c.MOVQ(emit.Param(c, "t1"), reg.RBX)
	c.MOVQ(operand.I32(g.th), reg.RCX)
	c.CMPQ(reg.RBX, reg.RCX)
	c.CMOVQGT(reg.RCX, reg.RBX)
	c.MOVQ(reg.RBX, g.lT1)
	c.MOVQ(emit.Param(c, "t0"), reg.RAX)
	c.XORQ(reg.RCX, reg.RCX)
	c.TESTQ(reg.RAX, reg.RAX)
	c.CMOVQLT(reg.RCX, reg.RAX)
	c.CMPQ(reg.RAX, reg.RBX)
	c.JGE(operand.LabelRef(done))
	c.MOVQ(reg.RAX, g.lT)

	strip := g.label("strip")
	c.Label(strip)
	// lN = min(Rows, t1 - lT)
	c.MOVQ(g.lT1, reg.RAX)
	c.SUBQ(g.lT, reg.RAX)
	c.MOVQ(operand.I32(g.t.Rows), reg.RBX)
	c.CMPQ(reg.RAX, reg.RBX)
	c.CMOVQGT(reg.RBX, reg.RAX)
	c.MOVQ(reg.RAX, g.lN)
	g.inputPhase()

	c.MOVQ(operand.I32(0), g.lG)
	grp := g.label("grp")
	c.Label(grp)
	g.gemmPhase()
	g.outputPhase()
	c.MOVQ(g.lG, reg.RAX)
	c.INCQ(reg.RAX)
	c.MOVQ(reg.RAX, g.lG)
	c.CMPQ(reg.RAX, imm(g.ocb/g.t.NB))
	c.JLT(operand.LabelRef(grp))

	c.MOVQ(g.lT, reg.RAX)
	c.ADDQ(g.lN, reg.RAX)
	c.MOVQ(reg.RAX, g.lT)
	c.CMPQ(reg.RAX, g.lT1)
	c.JLT(operand.LabelRef(strip))

	c.Label(done)
	c.VZEROUPPER()
	c.RET()
}

// constant broadcasts the float f into z (clobbers R13).
func (g *gen) constant(f float32, z reg.VecPhysical) {
	g.c.MOVL(operand.U32(math.Float32bits(f)), reg.R13L)
	g.c.VPBROADCASTD(reg.R13L, z)
}

// run is a maximal sequence of consecutive tile columns with the same code
// variant.
type run struct{ c0, n int }

// runs groups tile columns 0..tw-1 by key; loop reports whether a run of
// that key may become a loop (interior tiles).
func (g *gen) runs(key func(c int) int, loop func(k int) bool) []run {
	var rs []run
	for c := 0; c < g.tw; {
		n := 1
		if loop(key(c)) {
			for c+n < g.tw && key(c+n) == key(c) {
				n++
			}
		}
		rs = append(rs, run{c, n})
		c += n
	}
	return rs
}

// Input transform registers.
var (
	inZero = reg.Z28
	inC4   = reg.Z31
	inC5   = reg.Z30
	inC2   = reg.Z29
)

// inputPhase transforms the input tiles of the strip's lN tile rows into V
// (workspace layout [ξ][ICB][smax][16]; tile t = rr*TW + column).
//
// Registers: R10 row in strip, R11 tile row, CX valid-row mask, R8/R9 row
// input/V pointers of the current icb, AX/BX tile pointers, DI icb counter,
// SI run counter.
func (g *gen) inputPhase() {
	c := g.c
	s := g.s
	c.Comment("input transform")
	ph := g.phase("input transform")
	defer ph.End()
	ph.ClaimConst("constant 4", inC4)
	ph.ClaimConst("constant 5", inC5)
	ph.ClaimConst("constant 2", inC2)
	ph.ClaimConst("zero", inZero)
	claimRange(ph, "transformed element", 0, 17)
	claimRange(ph, "row", 18, 23)
	claimRange(ph, "temporary", 24, 27)
	g.constant(4, inC4)
	g.constant(5, inC5)
	g.constant(2, inC2)
	c.VPXORD(inZero, inZero, inZero)
	c.XORQ(reg.R10, reg.R10)
	rowL := g.label("inrow")
	c.Label(rowL)
	c.MOVQ(g.lT, reg.R11)
	c.ADDQ(reg.R10, reg.R11)
	needMask := false
	for _, b := range g.branchRow {
		needMask = needMask || b
	}
	if needMask {
		c.MOVQ(operand.I32(0x3f), reg.RCX)
		for r, m := range g.masks {
			if m == 0x3f {
				continue
			}
			c.MOVQ(operand.I32(m), reg.RDX)
			c.CMPQ(reg.R11, imm(r))
			c.CMOVQEQ(reg.RDX, reg.RCX)
		}
	}
	// R8 = in + (4r - PadT)*inRow - PadL*64
	c.IMUL3Q(imm(4*g.inRow), reg.R11, reg.R8)
	c.ADDQ(emit.Param(c, "in"), reg.R8)
	if off := s.PadT*g.inRow + s.PadL*64; off != 0 {
		c.SUBQ(imm(off), reg.R8)
	}
	// R9 = ws + rr*TW*64
	c.IMUL3Q(imm(g.tw*64), reg.R10, reg.R9)
	c.ADDQ(emit.Param(c, "ws"), reg.R9)
	c.MOVQ(operand.I32(g.icb), reg.RDI)
	icbL := g.label("inicb")
	c.Label(icbL)
	c.MOVQ(reg.R8, reg.RAX)
	c.MOVQ(reg.R9, reg.RBX)
	valid := func(col int) (v [6]bool, key int) {
		for j := 0; j < 6; j++ {
			iw := 4*col - s.PadL + j
			v[j] = iw >= 0 && iw < s.W
			if v[j] {
				key |= 1 << j
			}
		}
		return
	}
	rs := g.runs(func(col int) int { _, k := valid(col); return k }, func(k int) bool { return k == 0x3f })
	for i, r := range rs {
		v, _ := valid(r.c0)
		last := i == len(rs)-1
		if r.n >= 2 {
			l := g.label("intiles")
			c.MOVQ(operand.I32(r.n), reg.RSI)
			c.Label(l)
			g.inTile(v)
			c.ADDQ(imm(4*64), reg.RAX)
			c.ADDQ(imm(64), reg.RBX)
			c.DECQ(reg.RSI)
			c.JNZ(operand.LabelRef(l))
			continue
		}
		g.inTile(v)
		if !last {
			c.ADDQ(imm(4*64), reg.RAX)
			c.ADDQ(imm(64), reg.RBX)
		}
	}
	c.ADDQ(imm(g.inIcb), reg.R8)
	c.ADDQ(imm(g.vIcb), reg.R9)
	c.DECQ(reg.RDI)
	c.JNZ(operand.LabelRef(icbL))
	c.INCQ(reg.R10)
	c.CMPQ(reg.R10, g.lN)
	c.JLT(operand.LabelRef(rowL))
}

// inT emits part of the 1-D input transform y = Bᵀ d: the outputs
// y[3h], y[3h+1], y[3h+2] into out (d read-only; t1, t2 scratch):
//
//	y0 = 4d0 − 5d2 + d4          y3 = (d4 − d2) + 2(d3 − d1)
//	y1 = (d4 − 4d2) + (d3 − 4d1)  y4 = (d4 − d2) − 2(d3 − d1)
//	y2 = (d4 − 4d2) − (d3 − 4d1)  y5 = 4d1 − 5d3 + d5
func (g *gen) inT(d [6]reg.VecPhysical, h int, out [3]reg.VecPhysical, t1, t2 reg.VecPhysical) {
	c := g.c
	if h == 0 {
		c.VMOVAPS(d[4], t1)
		c.VFNMADD231PS(d[2], inC4, t1) // t1 = d4 − 4d2
		c.VMOVAPS(d[3], t2)
		c.VFNMADD231PS(d[1], inC4, t2) // t2 = d3 − 4d1
		c.VMOVAPS(d[4], out[0])
		c.VFNMADD231PS(d[2], inC5, out[0])
		c.VFMADD231PS(d[0], inC4, out[0])
		c.VADDPS(t2, t1, out[1])
		c.VSUBPS(t2, t1, out[2])
		return
	}
	c.VSUBPS(d[2], d[4], t1) // t1 = d4 − d2
	c.VSUBPS(d[1], d[3], t2) // t2 = d3 − d1
	c.VMOVAPS(t1, out[0])
	c.VFMADD231PS(t2, inC2, out[0])
	c.VMOVAPS(t1, out[1])
	c.VFNMADD231PS(t2, inC2, out[1])
	c.VMOVAPS(d[5], out[2])
	c.VFNMADD231PS(d[3], inC5, out[2])
	c.VFMADD231PS(d[1], inC4, out[2])
}

// inTile transforms one 6×6×16 input tile at AX (row stride inRow) into V
// at BX (V = Bᵀ d B, ξ = 6a + b at BX + ξ*vXi). valid[j]: input column j
// is inside the image; rows are checked at run time against the mask in
// CX (an invalid row contributes zeros).
//
// The tile is done in two halves of transformed columns b (0–2, 3–5),
// each kept in registers between the two 1-D passes (18 zmm, Z0–Z17):
// the input is loaded twice, but nothing goes through memory but V.
// Z18–Z23 hold the loaded row, Z18–Z27 the second pass's temporaries.
func (g *gen) inTile(valid [6]bool) {
	c := g.c
	e := func(k, b int) reg.VecPhysical { return zmm[k*3+b] }
	for h := 0; h < 2; h++ {
		for k := 0; k < 6; k++ {
			var zl, dl string
			if g.branchRow[k] {
				zl, dl = g.label("zrow"), g.label("drow")
				c.TESTQ(operand.I32(1<<k), reg.RCX)
				c.JEQ(operand.LabelRef(zl))
			}
			var d [6]reg.VecPhysical
			for j := 0; j < 6; j++ {
				d[j] = inZero
				if valid[j] {
					d[j] = zmm[18+j]
					c.VMOVUPS(mem(reg.RAX, k*g.inRow+j*64), d[j])
				}
			}
			g.inT(d, h, [3]reg.VecPhysical{e(k, 0), e(k, 1), e(k, 2)}, reg.Z24, reg.Z25)
			if g.branchRow[k] {
				c.JMP(operand.LabelRef(dl))
				c.Label(zl)
				for b := 0; b < 3; b++ {
					c.VPXORD(e(k, b), e(k, b), e(k, b))
				}
				c.Label(dl)
			}
		}
		for b := 0; b < 3; b++ {
			var col [6]reg.VecPhysical
			for k := 0; k < 6; k++ {
				col[k] = e(k, b)
			}
			for ha := 0; ha < 2; ha++ {
				y := [3]reg.VecPhysical{zmm[18+3*ha], zmm[19+3*ha], zmm[20+3*ha]}
				g.inT(col, ha, y, zmm[24+2*ha], zmm[25+2*ha])
				for i := 0; i < 3; i++ {
					a := 3*ha + i
					c.VMOVUPS(y[i], mem(reg.RBX, (a*6+3*h+b)*g.vXi))
				}
			}
		}
	}
}

// gemmPhase computes M[ξ][j][t] = Σ_i V[ξ][i][t] U[ξ][i][g*NB+j] for the
// group lG, every ξ and every tile of the strip (workspace layout
// [ξ][NB][smax][16]). The register-block sequence depends on the strip's
// row count, so there is one copy per row count.
//
// Registers: R8/R9/R10 U, V, M pointers of ξ, R13 ξ counter, AX/BX block V
// and M pointers, SI run counter, R11/R12 U and V pointers in the
// reduction, R14 icb counter, R15 prefetch walker.
func (g *gen) gemmPhase() {
	c := g.c
	c.Comment("batched GEMM")
	end := g.label("gemmend")
	var ls []string
	for n := 1; n <= g.t.Rows; n++ {
		ls = append(ls, g.label(fmt.Sprintf("gemm%d", n)))
	}
	if g.t.Rows > 1 {
		c.MOVQ(g.lN, reg.RAX)
		for n := 1; n < g.t.Rows; n++ {
			c.CMPQ(reg.RAX, imm(n))
			c.JEQ(operand.LabelRef(ls[n-1]))
		}
	}
	for n := g.t.Rows; n >= 1; n-- {
		c.Label(ls[n-1])
		g.gemm(g.t.Blocks[n-1])
		if n > 1 {
			c.JMP(operand.LabelRef(end))
		}
	}
	c.Label(end)
}

func (g *gen) gemm(blocks []int) {
	c := g.c
	nb := g.t.NB
	c.MOVQ(g.lG, reg.R8)
	c.IMUL3Q(imm(nb*g.uOcb), reg.R8, reg.R8)
	c.ADDQ(emit.Param(c, "u"), reg.R8)
	c.MOVQ(emit.Param(c, "ws"), reg.R9)
	c.LEAQ(mem(reg.R9, g.mOff), reg.R10)
	c.MOVQ(operand.I32(36), reg.R13)
	xiL := g.label("xi")
	c.Label(xiL)
	c.MOVQ(reg.R9, reg.RAX)
	c.MOVQ(reg.R10, reg.RBX)
	if g.t.PF && len(blocks) > 1 {
		// R15 walks the next ξ's U panel (NB streams of ICp lines).
		c.LEAQ(mem(reg.R8, g.uXi), reg.R15)
	}
	type brun struct{ w, n int }
	var rs []brun
	for _, w := range blocks {
		if len(rs) > 0 && w == rs[len(rs)-1].w {
			rs[len(rs)-1].n++
			continue
		}
		rs = append(rs, brun{w, 1})
	}
	for i, r := range rs {
		last := i == len(rs)-1
		if r.n >= 2 {
			l := g.label("blocks")
			c.MOVQ(operand.I32(r.n), reg.RSI)
			c.Label(l)
			g.micro(r.w, len(blocks))
			c.ADDQ(imm(r.w*64), reg.RAX)
			c.ADDQ(imm(r.w*64), reg.RBX)
			c.DECQ(reg.RSI)
			c.JNZ(operand.LabelRef(l))
			continue
		}
		g.micro(r.w, len(blocks))
		if !last {
			c.ADDQ(imm(r.w*64), reg.RAX)
			c.ADDQ(imm(r.w*64), reg.RBX)
		}
	}
	c.ADDQ(imm(g.uXi), reg.R8)
	c.ADDQ(imm(g.vXi), reg.R9)
	c.ADDQ(imm(g.mXi), reg.R10)
	c.DECQ(reg.R13)
	c.JNZ(operand.LabelRef(xiL))
}

// micro emits one NB×w register block: acc[j][p] = Σ_i V[t+p][i] U[i][j]
// over all input channels, stored to M at BX. With prefetch, every k-th
// lane step (k blocks per ξ) prefetches one line of each of the NB streams
// of the next ξ's panel (walker R15), so that the k blocks of a ξ together
// prefetch the whole next panel, evenly spread over the ξ.
func (g *gen) micro(w, k int) {
	c := g.c
	nb := g.t.NB
	acc := func(j, p int) reg.VecPhysical { return zmm[j*w+p] }
	wreg := func(j int) reg.VecPhysical { return zmm[31-j] }
	nbc := 32 - nb - nb*w
	breg := func(k int) reg.VecPhysical { return zmm[31-nb-k%nbc] }
	c.Commentf("block %dx%d", nb, w)
	ph := g.phase(fmt.Sprintf("GEMM block %dx%d", nb, w))
	defer ph.End()
	for j := 0; j < nb; j++ {
		ph.Claim(fmt.Sprintf("weight %d", j), wreg(j))
		for p := 0; p < w; p++ {
			ph.Claim(fmt.Sprintf("accumulator %d,%d", j, p), acc(j, p))
		}
	}
	for k := 0; k < nbc; k++ {
		ph.Claim("broadcast", breg(k))
	}
	for j := 0; j < nb; j++ {
		for p := 0; p < w; p++ {
			a := acc(j, p)
			c.VPXORD(a, a, a)
		}
	}
	c.MOVQ(reg.R8, reg.R11)
	c.MOVQ(reg.RAX, reg.R12)
	if g.icb > 1 {
		c.MOVQ(operand.I32(g.icb), reg.R14)
	}
	l := g.label("red")
	c.Label(l)
	nbk := 0
	for lane := 0; lane < 16; lane++ {
		for j := 0; j < nb; j++ {
			c.VMOVUPS(mem(reg.R11, j*g.uOcb+lane*64), wreg(j))
		}
		if g.t.PF && k > 1 && lane%k == 0 {
			for j := 0; j < nb; j++ {
				c.PREFETCHT1(mem(reg.R15, j*g.uOcb))
			}
			c.ADDQ(imm(64), reg.R15)
		}
		for p := 0; p < w; p++ {
			b := breg(nbk)
			nbk++
			c.VBROADCASTSS(mem(reg.R12, p*64+lane*4), b)
			for j := 0; j < nb; j++ {
				c.VFMADD231PS(b, wreg(j), acc(j, p))
			}
		}
	}
	if g.icb > 1 {
		c.ADDQ(imm(16*64), reg.R11)
		c.ADDQ(imm(g.vIcb), reg.R12)
		c.DECQ(reg.R14)
		c.JNZ(operand.LabelRef(l))
	}
	for j := 0; j < nb; j++ {
		for p := 0; p < w; p++ {
			c.VMOVUPS(acc(j, p), mem(reg.RBX, j*g.mJ+p*64))
		}
	}
}

// Output transform registers.
var (
	outC2    = reg.Z31
	outC4    = reg.Z30
	outC8    = reg.Z29
	outZero  = reg.Z28
	outBias  = reg.Z27
	outScale = reg.Z26
	outShift = reg.Z25
)

// outputPhase transforms M of group lG back (Y = Aᵀ M A), applies the
// epilogue and stores the clipped 4×4 tiles.
//
// Registers: R13 tile row, R14 valid output rows of the tile row, R8 M row
// pointer of the block, R9/R10/R11 out0/out1/res row pointers of the block,
// R12 byte offset of the block in bias/scale/shift, DI block counter, SI
// run counter, AX/BX/CX/DX tile pointers (M, out0, out1, res), R15 mul −
// out0 (the Mul operand has out0's layout).
func (g *gen) outputPhase() {
	c := g.c
	s := g.s
	nb := g.t.NB
	c.Comment("output transform")
	ph := g.phase("output transform")
	defer ph.End()
	for _, r := range []struct {
		role string
		z    reg.VecPhysical
	}{{"constant 2", outC2}, {"constant 4", outC4}, {"constant 8", outC8}, {"zero", outZero}, {"bias", outBias}, {"scale", outScale}, {"shift", outShift}} {
		ph.ClaimConst(r.role, r.z)
	}
	claimRange(ph, "transform", 0, 17)
	claimRange(ph, "scratch", 18, 21) // the sigmoid's too (a, b), after the transform of a row
	g.constant(2, outC2)
	g.constant(4, outC4)
	g.constant(8, outC8)
	c.VPXORD(outZero, outZero, outZero)
	if s.has(conv.Mul) {
		c.MOVQ(emit.Param(c, "mul"), reg.R15)
		c.SUBQ(emit.Param(c, "out0"), reg.R15)
	}
	c.MOVQ(operand.I32(0), g.lRR)
	rowL := g.label("outrow")
	c.Label(rowL)
	c.MOVQ(g.lT, reg.R13)
	c.ADDQ(g.lRR, reg.R13)
	if g.oh%4 != 0 {
		// R14 = min(4, OH - 4r)
		c.MOVQ(operand.I32(g.oh), reg.R14)
		c.MOVQ(reg.R13, reg.RAX)
		c.SHLQ(imm(2), reg.RAX)
		c.SUBQ(reg.RAX, reg.R14)
		c.MOVQ(operand.I32(4), reg.RAX)
		c.CMPQ(reg.R14, reg.RAX)
		c.CMOVQGT(reg.RAX, reg.R14)
	}
	// R8 = ws + mOff + rr*TW*64
	c.MOVQ(g.lRR, reg.R8)
	c.IMUL3Q(imm(g.tw*64), reg.R8, reg.R8)
	c.ADDQ(emit.Param(c, "ws"), reg.R8)
	c.ADDQ(imm(g.mOff), reg.R8)
	// R12 = lG*NB*64; out pointers
	c.MOVQ(g.lG, reg.R12)
	ptr := func(p string, ocbB, rowB int, dst reg.Register) {
		c.IMUL3Q(imm(nb*ocbB), reg.R12, dst)
		c.IMUL3Q(imm(rowB), reg.R13, reg.RAX)
		c.ADDQ(reg.RAX, dst)
		c.ADDQ(emit.Param(c, p), dst)
	}
	ptr("out0", g.outOcb, 4*g.outRow, reg.R9)
	if conv.Stores1(s.Epilogue) {
		ptr("out1", g.outOcb, 4*g.outRow, reg.R10)
	}
	if s.has(conv.AddResidual) {
		ptr("res", g.resOcb, 4*g.rs*g.resRow, reg.R11)
	}
	c.IMUL3Q(imm(nb*64), reg.R12, reg.R12)
	c.MOVQ(operand.I32(nb), reg.RDI)
	blkL := g.label("outblk")
	c.Label(blkL)
	vec := func(p string, z reg.VecPhysical) {
		c.MOVQ(emit.Param(c, p), reg.RSI)
		c.VMOVUPS(operand.Mem{Base: reg.RSI, Index: reg.R12, Scale: 1}, z)
	}
	if s.has(conv.Bias) {
		vec("bias", outBias)
	}
	if s.has(conv.Affine) {
		vec("scale", outScale)
		vec("shift", outShift)
	}
	c.MOVQ(reg.R8, reg.RAX)
	c.MOVQ(reg.R9, reg.RBX)
	c.MOVQ(reg.R10, reg.RCX)
	c.MOVQ(reg.R11, reg.RDX)
	cols := func(col int) int { return min(4, g.ow-4*col) }
	rs := g.runs(cols, func(k int) bool { return k == 4 })
	advance := func() {
		c.ADDQ(imm(64), reg.RAX)
		c.ADDQ(imm(4*64), reg.RBX)
		if conv.Stores1(s.Epilogue) {
			c.ADDQ(imm(4*64), reg.RCX)
		}
		if s.has(conv.AddResidual) {
			c.ADDQ(imm(4*g.rs*64), reg.RDX)
		}
	}
	for i, r := range rs {
		last := i == len(rs)-1
		if r.n >= 2 {
			l := g.label("outtiles")
			c.MOVQ(operand.I32(r.n), reg.RSI)
			c.Label(l)
			g.outTile(cols(r.c0))
			advance()
			c.DECQ(reg.RSI)
			c.JNZ(operand.LabelRef(l))
			continue
		}
		g.outTile(cols(r.c0))
		if !last {
			advance()
		}
	}
	c.ADDQ(imm(g.mJ), reg.R8)
	c.ADDQ(imm(g.outOcb), reg.R9)
	if conv.Stores1(s.Epilogue) {
		c.ADDQ(imm(g.outOcb), reg.R10)
	}
	if s.has(conv.AddResidual) {
		c.ADDQ(imm(g.resOcb), reg.R11)
	}
	c.ADDQ(imm(64), reg.R12)
	c.DECQ(reg.RDI)
	c.JNZ(operand.LabelRef(blkL))
	c.MOVQ(g.lRR, reg.RAX)
	c.INCQ(reg.RAX)
	c.MOVQ(reg.RAX, g.lRR)
	c.CMPQ(reg.RAX, g.lN)
	c.JLT(operand.LabelRef(rowL))
}

// outT emits the 1-D output transform rows i ∈ rows of y = Aᵀ m (m
// read-only) into out[i]; a, b, cc, d are scratch:
//
//	y0 = m0 + (m1 + m2) + (m3 + m4)   y2 = (m1 + m2) + 4(m3 + m4)
//	y1 = (m1 − m2) + 2(m3 − m4)       y3 = (m1 − m2) + 8(m3 − m4) + m5
func (g *gen) outT(m [6]reg.VecPhysical, rows []int, out [4]reg.VecPhysical, a, b, cc, d reg.VecPhysical) {
	c := g.c
	need := func(i int) bool {
		for _, r := range rows {
			if r == i {
				return true
			}
		}
		return false
	}
	sum := need(0) || need(2)
	dif := need(1) || need(3)
	if sum {
		c.VADDPS(m[2], m[1], a)
		c.VADDPS(m[4], m[3], cc)
	}
	if dif {
		c.VSUBPS(m[2], m[1], b)
		c.VSUBPS(m[4], m[3], d)
	}
	for _, i := range rows {
		y := out[i]
		switch i {
		case 0:
			c.VADDPS(a, m[0], y)
			c.VADDPS(cc, y, y)
		case 1:
			c.VMOVAPS(b, y)
			c.VFMADD231PS(d, outC2, y)
		case 2:
			c.VMOVAPS(a, y)
			c.VFMADD231PS(cc, outC4, y)
		case 3:
			c.VADDPS(m[5], b, y)
			c.VFMADD231PS(d, outC8, y)
		}
	}
}

// outTile transforms the M tile of one block at AX (ξ stride mXi) back
// (Y = Aᵀ M A), applies the epilogue and stores the first cols columns of
// the valid rows (R14 of them when OH%4 != 0) at BX (out0) / CX (out1).
//
// It works on two halves of output rows (0–1, 2–3): the first pass
// (over the 6 columns of M, loaded into Z12–Z17) leaves the half's 2×6
// intermediate values in Z0–Z11, the second pass (per output row) turns
// them into 4 outputs (Z12–Z15). Scratch Z18–Z21 (the sigmoid's: Z18,
// Z19).
func (g *gen) outTile(cols int) {
	c := g.c
	s := g.s
	tmp := func(i, q int) reg.VecPhysical { return zmm[(i%2)*6+q] }
	a, b, cc, d := reg.Z18, reg.Z19, reg.Z20, reg.Z21
	skip := ""
	for h := 0; h < 2; h++ {
		rows := []int{2 * h, 2*h + 1}
		if g.oh%4 != 0 && 2*h >= g.oh%4 {
			if skip == "" {
				skip = g.label("rowskip")
			}
			c.CMPQ(reg.R14, imm(2*h))
			c.JLE(operand.LabelRef(skip))
		}
		for q := 0; q < 6; q++ {
			var m [6]reg.VecPhysical
			for k := 0; k < 6; k++ {
				m[k] = zmm[12+k]
				c.VMOVUPS(mem(reg.RAX, (k*6+q)*g.mXi), m[k])
			}
			var out [4]reg.VecPhysical
			for _, i := range rows {
				out[i] = tmp(i, q)
			}
			g.outT(m, rows, out, a, b, cc, d)
		}
		for _, i := range rows {
			if g.oh%4 != 0 && i >= g.oh%4 && i > 2*h {
				if skip == "" {
					skip = g.label("rowskip")
				}
				c.CMPQ(reg.R14, imm(i))
				c.JLE(operand.LabelRef(skip))
			}
			var m [6]reg.VecPhysical
			for q := 0; q < 6; q++ {
				m[q] = tmp(i, q)
			}
			y := [4]reg.VecPhysical{reg.Z12, reg.Z13, reg.Z14, reg.Z15}
			g.outT(m, []int{0, 1, 2, 3}, y, a, b, cc, d)
			for jj := 0; jj < cols; jj++ {
				v := y[jj]
				for _, st := range s.Epilogue {
					switch st.Kind {
					case conv.Bias:
						c.VADDPS(outBias, v, v)
					case conv.Relu:
						c.VMAXPS(v, outZero, v) // NaN kept
					case conv.AddResidual:
						c.VADDPS(mem(reg.RDX, i*g.rs*g.resRow+jj*g.rs*64), v, v)
					case conv.Store:
						out := reg.RBX
						if st.Out == 1 {
							out = reg.RCX
						}
						c.VMOVUPS(v, mem(out, i*g.outRow+jj*64))
					case conv.Affine:
						c.VFMADD213PS(outShift, outScale, v)
					case conv.Sigmoid:
						emit.Sigmoid(c, g.k, v, a, b, true)
					case conv.Mul:
						c.VMULPS(operand.Mem{Base: reg.RBX, Index: reg.R15, Scale: 1, Disp: i*g.outRow + jj*64}, v, v)
					case conv.Scale:
						emit.Scale(c, g.k, v, st.A, st.B)
					}
				}
			}
		}
	}
	if skip != "" {
		c.Label(skip)
	}
}

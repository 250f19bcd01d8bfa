package vnni

import (
	"fmt"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
	"github.com/rnc-dev/rnc/codegen/internal/direct"
	"github.com/rnc-dev/rnc/codegen/internal/emit"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/abi"
)

// Signature is the Go signature of every generated kernel:
//
//	func(in *uint8, wt *int8, m, b, scale, shift *float32, res, mul *uint8, q *int32, out0, out1 *uint8, ocb0, ocb1, oh0, oh1 int)
//
// The kernel computes output rows [oh0, oh1) of the output-channel blocks
// [ocb0, ocb1) (16 channels each) of one image. ocb0 and ocb1 must be
// multiples of the kernel's Tiling.NB (NB always divides OCB). Empty
// ranges return at once. Pointers the epilogue does not use may be nil.
// Calls on disjoint (block range × row range) rectangles write disjoint
// output and may run concurrently. q is the parameter block
// (runtime.ConvU8Quant.Words).
var Signature = emit.MixedSignature([]emit.Ptrs{
	{Names: "in", Elem: abi.U8}, {Names: "wt", Elem: abi.S8}, {Names: "m, b, scale, shift", Elem: abi.F32},
	{Names: "res, mul", Elem: abi.U8}, {Names: "q", Elem: abi.S32}, {Names: "out0, out1", Elem: abi.U8},
}, "ocb0, ocb1, oh0, oh1")

// Tiling is the register tiling of a kernel: each register tile holds
// NB×URW int32 accumulators (NB output-channel blocks of 16 × URW
// consecutive output pixels of one row); PF: software prefetch of the
// next group's weights.
type Tiling struct {
	NB, URW int
	PF      bool
}

func (t Tiling) String() string {
	p := ""
	if t.PF {
		p = "p"
	}
	return fmt.Sprintf("%dx%d%s", t.NB, t.URW, p)
}

// maxURW is the widest tile for nb blocks: nb*u accumulators + nb weight
// registers + at least two broadcast registers fit in 32 zmm, and at most
// 28 accumulators (the epilogue's zero and scratch registers are Z31 and
// Z30).
func maxURW(nb int) int { return min((30-nb)/nb, 28/nb) }

// autoURW is the widest tile ChooseTiling considers for nb blocks (as the
// float32 generator's, whose register budget is the same).
func autoURW(nb int) int { return []int{0, 12, 8, 8, 6}[nb] }

// tileCost is the modelled cycle count of one reduction step (4 input
// channels of one kernel tap) of an nb×u tile: one VPDPBUSD per
// accumulator, two per cycle at best (the float32 model's FMA pipes: on
// Zen 4 both are double-pumped 256-bit units); at least 5 cycles (the
// dependency chain of an accumulator); two loads per cycle (nb weight
// vectors, u broadcasts); plus 1 for the per-tile overhead.
func tileCost(nb, u int) float64 {
	return max(float64(nb*u)/2, 5, float64(nb+u)/2) + 1
}

// rowTiles splits an output row of ow pixels into tile widths.
func rowTiles(ow, u int) []int {
	var t []int
	for x := 0; x < ow; x += u {
		t = append(t, min(u, ow-x))
	}
	return t
}

// rowCost is the modelled cost of one output row over all ocb blocks with
// nb×u tiles (+2 for a narrower tail tile, its extra unrolled body).
func rowCost(ocb, ow, nb, u int) float64 {
	c := 0.0
	for _, w := range rowTiles(ow, u) {
		c += tileCost(nb, w)
		if w < u {
			c += 2
		}
	}
	return c * float64(ocb/nb)
}

// ChooseTiling returns the tiling used for s: the NB/URW overrides if
// set, otherwise the (NB, URW) with NB | OCB, NB ≤ 4, URW ≤ autoURW(NB)
// that minimizes rowCost (ties prefer larger NB, then larger URW); weight
// prefetch as the float32 kernels decide it (conv.Spec.PF) on the
// layer's weight count, overridden by Prefetch.
func ChooseTiling(s *ConvSpec) Tiling {
	ocb, ow := s.OCB(), s.OW()
	var best Tiling
	if s.NB != 0 && s.URW != 0 {
		best = Tiling{NB: s.NB, URW: min(s.URW, maxURW(s.NB))}
	} else {
		bestCost := 0.0
		for nb := 4; nb >= 1; nb-- {
			if ocb%nb != 0 || (s.NB != 0 && nb != s.NB) {
				continue
			}
			for u := min(autoURW(nb), maxURW(nb)); u >= 1; u-- {
				if s.URW != 0 && u != min(s.URW, maxURW(nb)) {
					continue
				}
				if c := rowCost(ocb, ow, nb, u); best.NB == 0 || c < bestCost-1e-9 {
					best, bestCost = Tiling{NB: nb, URW: u}, c
				}
			}
		}
	}
	best.URW = min(best.URW, ow)
	best.PF = s.conv().PF()
	return best
}

// gen is the VNNI register tile inside the shared loop nest.
type gen struct {
	direct.Nest
	t      Tiling
	groups int // groups of 4 input channels per tap that can hold a real channel
}

// Generate emits the kernel for s as the function name (with Signature)
// into ctx and returns its tiling. Many kernels may share one ctx; print
// the file with goasm.Print.
//
// Aliasing: out0 and out1 must not overlap the input, the weights or each
// other. res (read at stride 1) and mul may be out0 when the epilogue
// reads them before its store to out0: each element is read, then
// written, by the same epilogue step sequence.
func Generate(ctx *build.Context, name string, s *ConvSpec) (t Tiling, err error) {
	if err := s.Validate(); err != nil {
		return Tiling{}, err
	}
	defer emit.Catch(&err)
	g := &gen{t: ChooseTiling(s), groups: 4}
	cs := s.conv()
	if cs.ICB() == 1 {
		g.groups = (s.IC + 3) / 4 // the other groups are padding in every block
	}
	g.Nest = direct.Nest{C: ctx, S: *cs, Pkg: "vnni", NB: g.t.NB, URW: g.t.URW, ICC: cs.ICB(), PF: g.t.PF,
		Split: rowTiles, ISA: g, ActB: 1, WtB: 1, Sig: Signature}
	g.Emit(name, "vnni "+g.t.String())
	return g.t, nil
}

var zmm = emit.ZMM

// Acc is the accumulator of block j, pixel p in a tile of width u:
// Z0..Z(NB*u-1).
func (g *gen) Acc(j, p, u int) reg.VecPhysical { return zmm[j*u+p] }

// Zero clears v.
func (g *gen) Zero(v reg.VecPhysical) { g.C.VPXORD(v, v, v) }

// Tile emits one register tile of width u: for each kernel column and
// group of 4 input channels, the NB weight vectors into Z31, Z30, ...,
// then for each pixel its 4 input bytes broadcast to a register (rotating
// over the registers left) and one VPDPBUSD per block. (VPDPBUSD's
// unsigned operand is its register source, its signed one the register or
// memory operand that may be broadcast: the input bytes, unsigned, need a
// register of their own.)
func (g *gen) Tile(u int, valid [][]bool) {
	c := g.C
	s := &g.S
	nb := g.NB
	wreg := func(j int) reg.VecPhysical { return zmm[31-j] }
	nbc := 32 - nb - nb*u
	breg := func(k int) reg.VecPhysical { return zmm[31-nb-k%nbc] }
	c.Commentf("tile %dx%d", nb, u)
	in, w := g.BeginTile(u)
	ph := g.Phase()
	for j := 0; j < nb; j++ {
		ph.Claim(fmt.Sprintf("weight %d", j), wreg(j))
	}
	for k := 0; k < nbc; k++ {
		ph.Claim("broadcast", breg(k))
	}
	nbk := 0
	for kw := 0; kw < s.KW; kw++ {
		if !direct.Used(valid, kw) {
			continue
		}
		for grp := 0; grp < g.groups; grp++ {
			for j := 0; j < nb; j++ {
				m := operand.Mem{Base: w, Disp: j*g.OcbWB + kw*g.TapWB + grp*64}
				c.VMOVDQU32(m, wreg(j))
				if g.PF {
					m.Index, m.Scale = direct.RPf, 1
					c.PREFETCHT1(m)
				}
			}
			for p := 0; p < u; p++ {
				if !valid[p][kw] {
					continue
				}
				b := breg(nbk)
				nbk++
				c.VPBROADCASTD(operand.Mem{Base: in, Disp: (p*s.SW+kw)*g.PixB + grp*4}, b)
				for j := 0; j < nb; j++ {
					c.VPDPBUSD(wreg(j), b, g.Acc(j, p, u))
				}
			}
		}
	}
	g.EndTile(u)
}

// Scratch is not used: the int8 epilogue has no sigmoid.
func (g *gen) Scratch(u int) [2]reg.VecPhysical { return [2]reg.VecPhysical{zmm[28], zmm[29]} }

// Epilogue registers: the tile's per-channel pointers (block ocb of m, b,
// scale, shift), the parameter block and mul − out0, in the hot loop's
// registers, free after it.
var (
	pM, pB, pScale, pShift, pQ, pMul = reg.R8, reg.R9, reg.R10, reg.R11, reg.R12, reg.R13
)

// Epilogue turns the int32 accumulators of a tile of width u into the
// outputs, step by step as runtime.ConvU8 (package abi's arithmetic):
// AccReal (VCVTDQ2PS, VMULPS m, VADDPS b: no FMA), then the steps, each
// operation rounded on its own; the operands' bytes are widened
// (VPMOVZXBD), their zero point subtracted in int32 and converted, then
// scaled; a store quantizes in a scratch register: v·inv, VCVTPS2DQ
// (round half to even; NaN and overflow give the integer indefinite
// MinInt32), at least −z (VPMAXSD), plus z (VPADDD), narrowed to bytes
// with unsigned saturation (VPMOVUSDB) and stored. That is abi's clamp to
// [−z, 255−z] then + z without the upper clamp: after the VPMAXSD, c + z
// is ≥ 0, and where it exceeds MaxInt32 the add wraps to a value whose
// unsigned reading is c + z, which saturates to 255 as it should (one
// VPMINSD less per store, measured 4% faster on the epilogue-heavy 1×1
// layers). Z31 holds zero for Relu (VMAXPS with the value as its second
// source keeps NaN), Z30 is the scratch register.
func (g *gen) Epilogue(u int) {
	c := g.C
	s := &g.S
	ph := emit.Begin(emit.Current(c), g.Pkg, fmt.Sprintf("epilogue of tile %dx%d", g.NB, u))
	for j := 0; j < g.NB; j++ {
		for p := 0; p < u; p++ {
			ph.Claim(fmt.Sprintf("accumulator %d,%d", j, p), g.Acc(j, p, u))
		}
	}
	zero, tmp := reg.Z31, reg.Z30
	ph.Claim("scratch", tmp)
	if s.Has(conv.Relu) {
		ph.ClaimConst("zero", zero)
		g.Zero(zero)
	}
	param := func(name string) operand.Mem { return emit.Param(c, name) }
	// pMul is the block offset (ocb·64) until the per-channel pointers are set.
	c.MOVQ(g.GroupOcb(), pMul)
	c.SHLQ(operand.U8(6), pMul)
	chanPtr := func(name string, r reg.Register) {
		c.MOVQ(param(name), r)
		c.ADDQ(pMul, r)
	}
	chanPtr("m", pM)
	chanPtr("b", pB)
	if s.Has(conv.Affine) {
		chanPtr("scale", pScale)
		chanPtr("shift", pShift)
	}
	c.MOVQ(param("q"), pQ)
	if s.Has(conv.Mul) {
		c.MOVQ(param("mul"), pMul)
		c.SUBQ(param("out0"), pMul)
	}
	q := func(word int) operand.Mem { return operand.Mem{Base: pQ, Disp: 4 * word} }
	rh, rw, rs := s.ResDims()
	oh, ow := s.OH(), s.OW()
	outOcbB := oh * ow * Block
	resOcbB := rh * rw * Block
	// dequant leaves in tmp the real value of the operand bytes at m.
	dequant := func(m operand.Mem, z, sc int) {
		c.VPMOVZXBD(m, tmp)
		c.VPSUBD_BCST(q(z), tmp, tmp)
		c.VCVTDQ2PS(tmp, tmp)
		c.VMULPS_BCST(q(sc), tmp, tmp)
	}
	for j := 0; j < g.NB; j++ {
		for p := 0; p < u; p++ {
			a := g.Acc(j, p, u)
			c.VCVTDQ2PS(a, a)
			c.VMULPS(operand.Mem{Base: pM, Disp: j * 64}, a, a)
			c.VADDPS(operand.Mem{Base: pB, Disp: j * 64}, a, a)
			for _, st := range s.Epilogue {
				switch st.Kind {
				case conv.Relu:
					c.VMAXPS(a, zero, a) // max(0, a); NaN kept (MAXPS returns its second source, a, if either is NaN)
				case conv.AddResidual:
					dequant(operand.Mem{Base: direct.RTRes, Disp: j*resOcbB + p*rs*Block}, runtime.QResZ, runtime.QResS)
					c.VADDPS(tmp, a, a)
				case conv.Mul:
					dequant(operand.Mem{Base: direct.RTOut0, Index: pMul, Scale: 1, Disp: j*outOcbB + p*Block}, runtime.QMulZ, runtime.QMulS)
					c.VMULPS(tmp, a, a)
				case conv.Affine:
					c.VMULPS(operand.Mem{Base: pScale, Disp: j * 64}, a, a)
					c.VADDPS(operand.Mem{Base: pShift, Disp: j * 64}, a, a)
				case conv.Scale:
					emit.Scale(c, g.Consts, a, st.A, st.B)
				case conv.Store:
					out, w := direct.RTOut0, runtime.QOut
					if st.Out == 1 {
						out, w = direct.RTOut1, runtime.QOut+4
					}
					c.VMULPS_BCST(q(w), a, tmp)
					c.VCVTPS2DQ(tmp, tmp)
					c.VPMAXSD_BCST(q(w+2), tmp, tmp)
					c.VPADDD_BCST(q(w+1), tmp, tmp)
					c.VPMOVUSDB(tmp, operand.Mem{Base: out, Disp: j*outOcbB + p*Block})
				}
			}
		}
	}
	ph.End()
}

package avx512

import (
	"fmt"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/rnc-dev/rnc/codegen/internal/direct"
	"github.com/rnc-dev/rnc/codegen/internal/emit"
)

// Signature is the Go signature of every generated kernel.
//
// The kernel computes output rows [oh0, oh1) of the output-channel blocks
// [ocb0, ocb1) (16 channels each) of one image. ocb0 and ocb1 must be
// multiples of the kernel's Tiling.NB (NB always divides OCB). Empty ranges
// return at once. Pointers the epilogue does not use may be nil. Calls on
// disjoint (block range × row range) rectangles write disjoint output and
// may run concurrently.
var Signature = direct.Signature

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
// from the shared chunk rule; software prefetch for streaming layers.
func ChooseTiling(s *ConvSpec) Tiling {
	ocb := s.OCB()
	ow := s.OW()
	var best Tiling
	if s.Narrow > 0 && s.NB == 0 && s.URW == 0 {
		// A narrow grouped conv is one block: its row in equal tiles of
		// at most 14 pixels (a shuffle per FMA; measured on Zen 4, 14
		// pixels beat 10–12 by 8–25% on 56- and 28-wide rows, and a row
		// split without a narrow tail tile beats one with).
		best = Tiling{NB: 1, URW: ceilDiv(ow, ceilDiv(ow, 14))}
	} else if s.NB != 0 && s.URW != 0 {
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
	cs := s.conv()
	best.ICC = cs.ChooseICC(best.NB)
	best.PF = cs.PF()
	return best
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// gen is the AVX-512 register tile inside the shared loop nest.
type gen struct {
	direct.Nest
	t Tiling
}

// Generate emits the kernel for s as the function name (with Signature)
// into ctx and returns its tiling. It does not call ctx.Package (the stubs
// use only builtin types); many kernels may share one ctx. Print the file
// with Print, or with Compile (or pass.Compile) and avo's printers.
//
// Aliasing: out0 and out1 must not overlap the input, the weights or each
// other. res may be the same buffer as out0 (in-place residual add) unless
// the tiling is chunked (ICC < ICB), which keeps partial sums in out0.
func Generate(ctx *build.Context, name string, s *ConvSpec) (t Tiling, err error) {
	if err := s.Validate(); err != nil {
		return Tiling{}, err
	}
	defer emit.Catch(&err)
	g := &gen{t: ChooseTiling(s)}
	g.Nest = direct.Nest{C: ctx, S: *s.conv(), Pkg: "avx512", NB: g.t.NB, URW: g.t.URW, ICC: g.t.ICC, PF: g.t.PF, Split: rowTiles, ISA: g}
	g.Emit(name, g.t.String())
	return g.t, nil
}

var zmm = emit.ZMM

// Acc is the accumulator of block j, pixel p in a tile of width u:
// Z0..Z(NB*u-1).
func (g *gen) Acc(j, p, u int) reg.VecPhysical { return zmm[j*u+p] }

// Zero clears v.
func (g *gen) Zero(v reg.VecPhysical) { g.C.VPXORD(v, v, v) }

// Tile emits the accumulation and epilogue of one register tile of width
// u: weights in Z31, Z30, ..., broadcasts rotating over the registers left
// (none with Embed: the FMA broadcasts its memory operand).
func (g *gen) Tile(u int, valid [][]bool) {
	c := g.C
	s := &g.S
	nb := g.NB
	wreg := func(j int) reg.VecPhysical { return zmm[31-j] }
	nbc := 32 - nb - nb*u
	wide := s.Narrow > 4 // 8-channel groups: VPERMPS, its index vector in zmm[nb*u]
	if wide {
		nbc--
	}
	breg := func(k int) reg.VecPhysical { return zmm[31-nb-k%nbc] }
	idx := zmm[nb*u]
	c.Commentf("tile %dx%d", nb, u)
	in, w := g.BeginTile(u)
	ph := g.Phase()
	for j := 0; j < nb; j++ {
		ph.Claim(fmt.Sprintf("weight %d", j), wreg(j))
	}
	if !g.t.Embed {
		for k := 0; k < nbc; k++ {
			ph.Claim("broadcast", breg(k))
		}
	}
	if wide {
		ph.Claim("narrow index", idx)
	}
	nbk := 0
	for kw := 0; kw < s.KW; kw++ {
		if !direct.Used(valid, kw) {
			continue
		}
		for l := 0; l < g.Lanes; l++ {
			for j := 0; j < nb; j++ {
				c.VMOVUPS(operand.Mem{Base: w, Disp: j*g.OcbWB + kw*g.TapWB + l*64}, wreg(j))
				if g.PF {
					c.PREFETCHT1(operand.Mem{Base: w, Index: direct.RPf, Scale: 1, Disp: j*g.OcbWB + kw*g.TapWB + l*64})
				}
			}
			if wide {
				c.VMOVUPS(g.Consts.GetVec(direct.NarrowIndex(s.Narrow, l, 16)), idx)
			}
			for p := 0; p < u; p++ {
				if !valid[p][kw] {
					continue
				}
				m := operand.Mem{Base: in, Disp: (p*s.SW+kw)*g.PixB + l*4}
				if s.Narrow > 0 {
					// Lane o takes input lane ⌊o/Narrow⌋·Narrow + l: one
					// shuffle of the pixel (in-lane for groups of ≤ 4).
					b := breg(nbk)
					nbk++
					px := operand.Mem{Base: in, Disp: (p*s.SW + kw) * g.PixB}
					if wide {
						c.VPERMPS(px, idx, b)
					} else {
						c.VPERMILPS(direct.NarrowSelect(s.Narrow, l), px, b)
					}
					for j := 0; j < nb; j++ {
						c.VFMADD231PS(b, wreg(j), g.Acc(j, p, u))
					}
					continue
				}
				if g.t.Embed {
					for j := 0; j < nb; j++ {
						c.VFMADD231PS_BCST(m, wreg(j), g.Acc(j, p, u))
					}
					continue
				}
				b := breg(nbk)
				nbk++
				c.VBROADCASTSS(m, b)
				for j := 0; j < nb; j++ {
					c.VFMADD231PS(b, wreg(j), g.Acc(j, p, u))
				}
			}
		}
	}
	g.EndTile(u)
}

// Scratch returns Z28 and Z29: a tile has at most 28 accumulators.
func (g *gen) Scratch(u int) [2]reg.VecPhysical { return [2]reg.VecPhysical{zmm[28], zmm[29]} }

// Epilogue applies the steps to the accumulators of a tile of width u: Z31
// holds zero for Relu, Z30 the scale of the block for Affine (one FMA with
// the shift as memory operand).
func (g *gen) Epilogue(u int) {
	scl := reg.Z30
	g.EmitEpilogue(u, reg.Z31, []reg.VecPhysical{scl}, func(j int) {
		if g.S.Has(Affine) {
			g.C.VMOVUPS(operand.Mem{Base: direct.PScale, Disp: j * 64}, scl)
		}
	}, func(j int, a reg.VecPhysical) {
		g.C.VFMADD213PS(operand.Mem{Base: direct.PShift, Disp: j * 64}, scl, a)
	})
}

// Direct is the avx512 target's entry in codegen's backend table: the
// kernel for a direct convolution request, or ok false when its spec does
// not validate (the step then runs the portable Go code).
func Direct(r direct.Request) (direct.Kernel, bool) {
	spec := ConvSpec{IC: r.IC, OC: r.OC, H: r.H, W: r.W, KH: r.KH, KW: r.KW, SH: r.SH, SW: r.SW,
		PadT: r.PadT, PadB: r.PadB, PadL: r.PadL, PadR: r.PadR, FirstNHWC: r.FirstNHWC, ResH: r.ResH, ResW: r.ResW, Epilogue: r.Epilogue,
		Narrow: r.Narrow}
	if r.InPlace {
		spec.ICC = spec.ICB()
	}
	if spec.Validate() != nil {
		return direct.Kernel{}, false
	}
	return direct.Kernel{
		Key: spec.Key(),
		Emit: func(ctx *build.Context, name string) error {
			_, err := Generate(ctx, name, &spec)
			return err
		},
		NB: ChooseTiling(&spec).NB,
	}, true
}

package avx2

import (
	"fmt"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/rnc-dev/rnc/codegen/internal/direct"
	"github.com/rnc-dev/rnc/codegen/internal/emit"
)

// Signature is the Go signature of every generated kernel (the same as
// avx512's: direct.Signature).
//
// The kernel computes output rows [oh0, oh1) of the output-channel blocks
// [ocb0, ocb1) (8 channels each) of one image. ocb0 and ocb1 must be
// multiples of the kernel's Tiling.NB (NB always divides OCB). Empty ranges
// return at once. Pointers the epilogue does not use may be nil. Calls on
// disjoint (block range × row range) rectangles write disjoint output and
// may run concurrently.
var Signature = direct.Signature

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

// accLimit is the accumulator budget of s: maxAcc, or two less when the
// epilogue has a Sigmoid (its two scratch registers Y13 and Y14 sit next to
// the zero register Y15, which is not an accumulator either).
func accLimit(s *ConvSpec) int {
	if s.conv().Has(Sigmoid) {
		return maxAcc - 2
	}
	return maxAcc
}

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
// the shared chunk rule; software prefetch for streaming layers.
func ChooseTiling(s *ConvSpec) Tiling {
	ocb := s.OCB()
	ow := s.OW()
	var best Tiling
	if s.NB != 0 && s.URW != 0 {
		best = Tiling{NB: s.NB, URW: min(s.URW, accLimit(s)/s.NB)}
	} else {
		bestCost := 0.0
		for nb := 4; nb >= 1; nb-- {
			if ocb%nb != 0 || (s.NB != 0 && nb != s.NB) {
				continue
			}
			hi := min(autoURW(nb), accLimit(s)/nb)
			if s.URW != 0 {
				hi = min(s.URW, accLimit(s)/nb)
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
	cs := s.conv()
	best.ICC = cs.ChooseICC(best.NB)
	best.PF = cs.PF()
	return best
}

const vecB = 32 // bytes of one ymm vector = one 8-channel block of a pixel

// gen is the AVX2 register tile inside the shared loop nest.
type gen struct {
	direct.Nest
	s *ConvSpec
	t Tiling
}

// Generate emits the kernel for s as the function name (with Signature)
// into ctx and returns its tiling, under avx512.Generate's contract: no
// ctx.Package call, many kernels (avx512 ones too) per ctx, printed with
// Print; out0 and out1 overlap nothing else, res may be out0 unless the
// tiling is chunked.
func Generate(ctx *build.Context, name string, s *ConvSpec) (Tiling, error) {
	if err := s.Validate(); err != nil {
		return Tiling{}, err
	}
	return generate(ctx, name, s, ChooseTiling(s))
}

// generate emits the kernel for s with tiling t.
func generate(ctx *build.Context, name string, s *ConvSpec, t Tiling) (_ Tiling, err error) {
	defer emit.Catch(&err)
	g := &gen{s: s, t: t}
	g.Nest = direct.Nest{C: ctx, S: *s.conv(), Pkg: "avx2", NB: g.t.NB, URW: g.t.URW, ICC: g.t.ICC, PF: g.t.PF, Split: rowTiles, ISA: g}
	g.Emit(name, g.t.String()+" (AVX2+FMA)")
	return g.t, nil
}

var ymm = emit.YMM

// Acc is the accumulator of block j, pixel p in a tile of width u.
func (g *gen) Acc(j, p, u int) reg.VecPhysical { return ymm[j*u+p] }

// Zero clears v.
func (g *gen) Zero(v reg.VecPhysical) { g.C.VXORPS(v, v, v) }

// Tile emits the accumulation and epilogue of one register tile of width u.
//
// Registers: accumulators Y0..Y(NB*u-1); weight registers Y15, Y14, ...
// (wr of them, for blocks 0..wr-1); the rest are broadcast registers,
// used round robin. Blocks wr..NB-1 read their weights as FMA memory
// operands.
func (g *gen) Tile(u int, valid [][]bool) {
	c := g.C
	s := &g.S
	nb := g.NB
	wr := weightRegs(nb, u, g.s.WMem)
	wreg := func(j int) reg.VecPhysical { return ymm[nYMM-1-j] }
	nbc := nYMM - nb*u - wr
	breg := func(k int) reg.VecPhysical { return ymm[nYMM-1-wr-k%nbc] }
	c.Commentf("tile %dx%d, %d weight registers", nb, u, wr)
	in, w := g.BeginTile(u)
	ph := g.Phase()
	for j := 0; j < wr; j++ {
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
		for l := 0; l < g.Lanes; l++ {
			wm := func(j int) operand.Mem {
				return operand.Mem{Base: w, Disp: j*g.OcbWB + kw*g.TapWB + l*vecB}
			}
			for j := 0; j < nb; j++ {
				if j < wr {
					c.VMOVUPS(wm(j), wreg(j))
				}
				// One prefetch per 64-byte line: every other lane.
				if g.PF && l%2 == 0 {
					m := wm(j)
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
				if s.Narrow > 0 {
					// Lane o takes input lane ⌊o/Narrow⌋·Narrow + l of
					// its 4-lane quarter: one in-lane shuffle of the pixel.
					c.VPERMILPS(direct.NarrowSelect(s.Narrow, l), operand.Mem{Base: in, Disp: (p*s.SW + kw) * g.PixB}, b)
				} else {
					c.VBROADCASTSS(operand.Mem{Base: in, Disp: (p*s.SW+kw)*g.PixB + l*4}, b)
				}
				for j := 0; j < nb; j++ {
					if j < wr {
						c.VFMADD231PS(wreg(j), b, g.Acc(j, p, u))
					} else {
						c.VFMADD231PS(wm(j), b, g.Acc(j, p, u))
					}
				}
			}
		}
	}
	g.EndTile(u)
}

// Scratch returns Y13 and Y14 (accLimit keeps them free of accumulators
// when the epilogue has a Sigmoid).
func (g *gen) Scratch(u int) [2]reg.VecPhysical { return [2]reg.VecPhysical{ymm[nYMM-3], ymm[nYMM-2]} }

// Epilogue applies the steps to the accumulators of a tile of width u.
// Y15 (never an accumulator) holds zero for Relu; bias, residual, scale and
// shift are FMA-free memory operands (Affine is VMULPS + VADDPS).
func (g *gen) Epilogue(u int) {
	g.EmitEpilogue(u, ymm[nYMM-1], nil, nil, func(j int, a reg.VecPhysical) {
		g.C.VMULPS(operand.Mem{Base: direct.PScale, Disp: j * vecB}, a, a)
		g.C.VADDPS(operand.Mem{Base: direct.PShift, Disp: j * vecB}, a, a)
	})
}

// Direct is the avx2 target's entry in codegen's backend table: the
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

package winograd

import (
	"errors"
	"fmt"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
	"github.com/rnc-dev/rnc/runtime"
)

// Spec describes one stride-1 3×3 convolution layer for one image (batch
// is looped by the caller). Input and outputs are NCHW16c; the weights are
// runtime.PackWinograd's U; bias, scale and shift are OC rounded up to 16
// floats, zero-padded; the residual is NCHW16c of ResH × ResW (0: OH*rs,
// OW*rs), read at (oh*rs, ow*rs) with rs the AddResidual step's ResStride.
type Spec struct {
	IC, OC                 int // logical channel counts (padded to 16 in memory)
	H, W                   int // input spatial size
	PadT, PadB, PadL, PadR int // zero padding, 0..2 each
	ResH, ResW             int
	Epilogue               []conv.Step // as in the direct kernels (avx512.ConvSpec.Epilogue)

	// Tuning overrides (0 = automatic, see ChooseTiling): output-channel
	// blocks per GEMM group, widest register block (tiles), tile rows per
	// strip, software prefetch of U (1 on, -1 off). A Rows override changes
	// the workspace size (Tiling.Workspace), which then differs from
	// runtime.WinogradWorkspace.
	NB, U, Rows, Prefetch int
}

// OH returns the output height.
func (s *Spec) OH() int { return s.H + s.PadT + s.PadB - 2 }

// OW returns the output width.
func (s *Spec) OW() int { return s.W + s.PadL + s.PadR - 2 }

// ICB returns the number of 16-channel input blocks.
func (s *Spec) ICB() int { return (s.IC + 15) / 16 }

// OCB returns the number of 16-channel output blocks.
func (s *Spec) OCB() int { return (s.OC + 15) / 16 }

// Tiles returns the tile grid: TH rows × TW columns of 4×4 output tiles.
func (s *Spec) Tiles() (th, tw int) {
	return runtime.WinogradTiles(s.H, s.W, s.PadT, s.PadB, s.PadL, s.PadR)
}

// conv returns the equivalent direct convolution with 16-channel blocks
// (for its buffer sizes, its checks and conv.RefConv).
func (s *Spec) conv() *conv.Spec {
	return &conv.Spec{Block: 16, IC: s.IC, OC: s.OC, H: s.H, W: s.W, KH: 3, KW: 3, SH: 1, SW: 1,
		PadT: s.PadT, PadB: s.PadB, PadL: s.PadL, PadR: s.PadR, ResH: s.ResH, ResW: s.ResW, Epilogue: s.Epilogue}
}

// resDims returns the residual tensor's spatial size and stride.
func (s *Spec) resDims() (rh, rw, rs int) {
	return conv.ResDims(s.Epilogue, s.ResH, s.ResW, s.OH(), s.OW())
}

func (s *Spec) has(k conv.StepKind) bool { return conv.Has(s.Epilogue, k) }

// Sizes are the float32 element counts of the kernel's buffers for one
// image (0 when unused), including channel padding, and WS the workspace
// per call.
type Sizes struct {
	In, U, Bias, Res, Mul, Scale, Shift, Out0, Out1, WS int
}

// Sizes returns the buffer sizes (in float32 elements) the kernel reads or
// writes.
func (s *Spec) Sizes() Sizes {
	z := s.conv().Sizes()
	return Sizes{In: z.In, U: runtime.NumElements(runtime.WinogradShape(s.IC, s.OC)),
		Bias: z.Bias, Res: z.Res, Mul: z.Mul, Scale: z.Scale, Shift: z.Shift, Out0: z.Out0, Out1: z.Out1,
		WS: ChooseTiling(s).Workspace}
}

// Validate checks that the spec is supported.
func (s *Spec) Validate() error {
	switch {
	case s.IC <= 0 || s.OC <= 0 || s.H <= 0 || s.W <= 0:
		return errors.New("winograd: non-positive size")
	case s.PadT < 0 || s.PadB < 0 || s.PadL < 0 || s.PadR < 0 ||
		s.PadT > 2 || s.PadB > 2 || s.PadL > 2 || s.PadR > 2:
		return errors.New("winograd: padding must be 0..2")
	case s.OH() <= 0 || s.OW() <= 0:
		return errors.New("winograd: empty output")
	case s.NB < 0 || s.NB > 4 || s.U < 0 || s.Rows < 0:
		return errors.New("winograd: bad tiling override")
	case s.NB != 0 && s.OCB()%s.NB != 0:
		return fmt.Errorf("winograd: NB=%d does not divide OCB=%d", s.NB, s.OCB())
	case s.U > maxU(1):
		return fmt.Errorf("winograd: U=%d wider than %d", s.U, maxU(1))
	case s.NB != 0 && s.U > maxU(s.NB):
		return fmt.Errorf("winograd: U=%d too wide for NB=%d (max %d)", s.U, s.NB, maxU(s.NB))
	}
	if err := s.conv().Validate("winograd"); err != nil {
		return err
	}
	return nil
}

// Tiling is how a kernel splits its work (see the package documentation).
type Tiling struct {
	NB   int  // output-channel blocks (16 channels) per GEMM group; divides OCB
	U    int  // widest register block, in tiles
	Rows int  // tile rows per strip
	PF   bool // software prefetch of the next U panel
	// Blocks[n-1] are the register-block widths covering a strip of n tile
	// rows (n*TW tiles), n = 1..Rows.
	Blocks [][]int
	// Workspace is the per-call scratch in floats (see
	// runtime.WinogradWorkspace).
	Workspace int
}

func (t Tiling) String() string {
	p := ""
	if t.PF {
		p = "p"
	}
	return fmt.Sprintf("%dx%d%s/r%d", t.NB, t.U, p, t.Rows)
}

// maxU is the widest register block for nb output blocks: nb*u
// accumulators, nb U registers and at least two broadcast registers in 32
// zmm, at most 28 accumulators.
func maxU(nb int) int { return min((30-nb)/nb, 28/nb) }

// autoU is the widest block ChooseTiling considers for nb.
func autoU(nb int) int { return []int{0, 12, 8, 8, 6}[nb] }

// blockCost is the modelled cycle count of one lane step (one input
// channel) of an nb×w register block: two FMA pipes, ≥ 10 chains to hide
// the FMA latency, two loads per cycle, 1 for the per-block overhead (the
// avx512 package's model, fitted on the same machine and loop shape).
func blockCost(nb, w int) float64 {
	return max(float64(nb*w)/2, 5, float64(nb+w)/2) + 1
}

// partition splits s tiles into ⌈s/u⌉ register blocks of nearly equal
// width (wider ones first).
func partition(s, u int) []int {
	k := (s + u - 1) / u
	b := make([]int, k)
	for i := range b {
		b[i] = s / k
		if i < s%k {
			b[i]++
		}
	}
	return b
}

// stripCost is the modelled GEMM cost of a strip of s tiles over all
// output blocks.
func stripCost(ocb, s, nb, u int) float64 {
	c := 0.0
	for _, w := range partition(s, u) {
		c += blockCost(nb, w)
	}
	return c * float64(ocb/nb)
}

// panelL1 is the L1 budget for one U panel (NB blocks × ICp input
// channels × 64 bytes), which every register block of a ξ re-reads.
const panelL1 = 32 << 10

// ChooseTiling returns the tiling of s: Rows from
// runtime.WinogradStripRows; the (NB, U) with NB | OCB, NB ≤ 4,
// U ≤ autoU(NB) that minimizes the modelled GEMM cost of a full strip
// (stripCost; ×1.15 when a strip has several register blocks per ξ and the
// U panel exceeds panelL1, so it cannot stay in L1 between them — 4×6 vs
// 2×8 at 14×14×256: 3% slower with cached weights, 19% with weights from
// DRAM), ties preferring larger NB,
// then larger U; and software prefetch of U. Overrides in s win.
func ChooseTiling(s *Spec) Tiling {
	th, tw := s.Tiles()
	var t Tiling
	t.Rows = s.Rows
	if t.Rows == 0 {
		t.Rows = runtime.WinogradStripRows(s.IC, s.OC, s.H, s.W, s.PadT, s.PadB, s.PadL, s.PadR)
	}
	t.Rows = max(1, min(t.Rows, th))
	st := t.Rows * tw
	ocb := s.OCB()
	best := 0.0
	for nb := 4; nb >= 1; nb-- {
		if ocb%nb != 0 || (s.NB != 0 && nb != s.NB) {
			continue
		}
		umax := autoU(nb)
		if s.U != 0 {
			umax = s.U
		}
		for u := min(umax, maxU(nb)); u >= 1; u-- {
			if s.U != 0 && u != s.U {
				continue
			}
			c := stripCost(ocb, st, nb, u)
			if nb*s.ICB()*16*64 > panelL1 && len(partition(st, u)) > 1 {
				c *= 1.15
			}
			if t.NB == 0 || c < best-1e-9 {
				t.NB, t.U, best = nb, u, c
			}
		}
	}
	t.U = min(t.U, st)
	for n := 1; n <= t.Rows; n++ {
		t.Blocks = append(t.Blocks, partition(n*tw, t.U))
	}
	for _, b := range t.Blocks {
		t.PF = t.PF || (s.Prefetch >= 0 && len(b) > 1)
	}
	t.Workspace = runtime.WinogradWorkspaceTiles(s.IC, s.OC, st)
	return t
}

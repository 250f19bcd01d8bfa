package vnni

import (
	"errors"
	"fmt"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/abi"
)

// Block is the channel block of the int8 layouts: nChw16c activations,
// OIhw4i16o4i weights (runtime.U8Block).
const Block = runtime.U8Block

// Features are the CPU features the kernels need, under their GODEBUG
// names: the avx512 target's and AVX-512 VNNI (VPDPBUSD).
var Features = append(append([]abi.Feature{}, abi.AVX512.Features...), abi.CPUFeature("avx512vnni"))

// Missing lists, by GODEBUG name, the features of Features this CPU lacks.
func Missing() []string {
	var no []string
	for _, f := range Features {
		if !*f.Has {
			no = append(no, f.Name)
		}
	}
	return no
}

// Caps is what the kernels' epilogue takes, in the IR's terms (an Out
// step is an early store; the value after the last step is the last
// output): abi.ConvU8Caps, the one table runtime.ConvU8 checks too —
// relu, constant scaling, one affine, one residual add read at stride 1
// or 2, one product with a gate at stride 1, one early store.
var Caps = &abi.ConvU8Caps

// ConvSpec describes one int8 convolution layer for one image (batch is
// looped by the caller: every pointer is per image). Layouts, the
// epilogue and the arithmetic are in the package documentation.
type ConvSpec struct {
	IC, OC                 int // logical channel counts (padded to 16 in memory)
	H, W                   int // input spatial size
	KH, KW                 int // kernel size
	SH, SW                 int // strides (1 or 2)
	PadT, PadB, PadL, PadR int // explicit zero padding (q = 0)

	// ResH, ResW: spatial size of the residual (the AddResidual operand).
	// 0 means OH*rs, OW*rs.
	ResH, ResW int

	// Epilogue is the ordered list of steps after AccReal: Relu,
	// AddResidual (ResStride 1 or 2), Mul, Affine, Scale and one or two
	// Stores, the first to out0 and the second to out1, the last step a
	// Store.
	Epilogue []conv.Step

	// Tiling overrides (0 = automatic, see ChooseTiling): output-channel
	// blocks and output pixels per register tile; Prefetch 1 on, -1 off.
	NB, URW, Prefetch int
}

// conv returns s as the shared spec (16-channel blocks, no chunking).
func (s *ConvSpec) conv() *conv.Spec {
	c := &conv.Spec{Block: Block, IC: s.IC, OC: s.OC, H: s.H, W: s.W, KH: s.KH, KW: s.KW, SH: s.SH, SW: s.SW,
		PadT: s.PadT, PadB: s.PadB, PadL: s.PadL, PadR: s.PadR, ResH: s.ResH, ResW: s.ResW,
		Epilogue: s.Epilogue, NB: s.NB, URW: s.URW, Prefetch: s.Prefetch}
	c.ICC = c.ICB()
	return c
}

// OH returns the output height.
func (s *ConvSpec) OH() int { return s.conv().OH() }

// OW returns the output width.
func (s *ConvSpec) OW() int { return s.conv().OW() }

// ICB returns the number of 16-channel input blocks.
func (s *ConvSpec) ICB() int { return s.conv().ICB() }

// OCB returns the number of 16-channel output blocks.
func (s *ConvSpec) OCB() int { return s.conv().OCB() }

// MACs returns the multiply-accumulate count of the layer (logical
// channels, padding taps excluded).
func (s *ConvSpec) MACs() int64 { return s.conv().MACs() }

// Has reports whether the epilogue has a step of kind k.
func (s *ConvSpec) Has(k conv.StepKind) bool { return conv.Has(s.Epilogue, k) }

// Ref returns the convolution as the runtime's integer reference and
// portable kernel (runtime.ConvU8): the same geometry, and the epilogue
// in the plan's terms (early stores as Out steps, the last store
// implicit).
func (s *ConvSpec) Ref() runtime.ConvU8 {
	c := runtime.ConvU8{IC: s.IC, OC: s.OC, H: s.H, W: s.W, KH: s.KH, KW: s.KW, SH: s.SH, SW: s.SW,
		Pad: [4]int{s.PadT, s.PadB, s.PadL, s.PadR}, ResH: s.ResH, ResW: s.ResW}
	for i, st := range s.Epilogue {
		e := runtime.Epi{Op: st.Kind, Sub: 1}
		switch st.Kind {
		case conv.AddResidual:
			e.Sub = max(st.ResStride, 1)
		case conv.Scale:
			e.Mul, e.Add = st.A, st.B
		case conv.Store:
			if i == len(s.Epilogue)-1 {
				continue
			}
		}
		c.Epi = append(c.Epi, e)
	}
	return c
}

// Sizes are the element counts of a kernel's buffers for one image (0
// when the epilogue does not use the buffer): bytes for the uint8 and
// int8 ones, float32 counts for M, B, Scale, Shift, int32 words for Q.
type Sizes struct {
	In, Wt, M, B, Scale, Shift, Res, Mul, Q, Out0, Out1 int
}

// Sizes returns the buffer sizes of the kernel, including channel
// padding.
func (s *ConvSpec) Sizes() Sizes {
	r := s.Ref()
	z := r.Sizes()
	out1 := 0
	if z.Outs > 1 {
		out1 = z.Out
	}
	return Sizes{In: z.In, Wt: z.Wt, M: z.Chan, B: z.Chan, Scale: z.Affine, Shift: z.Affine, Res: z.Res, Mul: z.Mul,
		Q: runtime.ConvU8QWords, Out0: z.Out, Out1: out1}
}

// Validate checks that the spec is supported: the geometry, a reduction
// of at most abi.MaxAccTerms products, the epilogue (Caps; stores in
// order, the last step a store) and the tiling overrides.
func (s *ConvSpec) Validate() error {
	stores := 0
	var steps []abi.Step
	for i, st := range s.Epilogue {
		switch st.Kind {
		case conv.Store:
			if st.Out != stores {
				return fmt.Errorf("vnni: epilogue step %d stores to out%d, want out%d (stores go to out0, then out1)", i, st.Out, stores)
			}
			stores++
			if i == len(s.Epilogue)-1 {
				continue
			}
		case conv.Bias:
			return fmt.Errorf("vnni: epilogue step %d: a bias step (AccReal adds the bias)", i)
		case conv.Sigmoid:
			return fmt.Errorf("vnni: epilogue step %d: a sigmoid step (no bit-exact int8 sigmoid)", i)
		}
		sub := 1
		if st.Kind == conv.AddResidual {
			sub = max(st.ResStride, 1)
		}
		steps = append(steps, abi.Step{Kind: st.Kind, Sub: sub})
	}
	if len(s.Epilogue) == 0 || s.Epilogue[len(s.Epilogue)-1].Kind != conv.Store {
		return errors.New("vnni: the epilogue must end with a store")
	}
	if err := Caps.Check(steps); err != nil {
		return fmt.Errorf("vnni: epilogue %v: %w", s.Epilogue, err)
	}
	r := s.Ref()
	if err := r.Check(); err != nil {
		return fmt.Errorf("vnni: %w", err)
	}
	switch {
	case s.NB < 0 || s.NB > 4 || s.URW < 0 || s.Prefetch < -1 || s.Prefetch > 1:
		return fmt.Errorf("vnni: bad tiling override NB=%d URW=%d Prefetch=%d", s.NB, s.URW, s.Prefetch)
	case s.NB != 0 && s.OCB()%s.NB != 0:
		return fmt.Errorf("vnni: NB=%d does not divide OCB=%d", s.NB, s.OCB())
	}
	return nil
}

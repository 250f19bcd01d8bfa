package runtime

import (
	"fmt"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// A Program is what a generated package hands to runtime: the input and
// output shapes and one Plan per target it was compiled for.
type Program struct {
	Name                   string
	InputH, InputW, InputC int
	// InputNCHW: Predict's images are channels first (C, H, W each), as
	// PyTorch's tensors, and are transposed into the plan's input buffer.
	InputNCHW bool
	Classes   int // elements of one output
	Plans     []*Plan
}

// A Plan is a model lowered for one target: the weight program that turns
// the file's tensors into the kernels' operands, the steps, and the arena
// they run in.
type Plan struct {
	Target  string // avx512, avx2 or generic
	Weights []WStep
	Steps   []Step
	// ArenaFloats is the activation arena per image in 4-byte words
	// (ArenaBytes: the arena's bytes). The planner aligns every buffer to
	// 64 bytes, so an arena of any element types is a whole number of words.
	ArenaFloats int
	Input       Buf // where the NHWC input images go
	Output      Buf // the graph's output
}

// DType is a buffer's element type (package abi's), under the names
// generated plans spell.
type DType = abi.DType

const (
	F32  = abi.F32
	U8   = abi.U8
	S8   = abi.S8
	S32  = abi.S32
	BF16 = abi.BF16
)

// ArenaBytes is the activation arena per image, in bytes.
func (p *Plan) ArenaBytes() int { return 4 * p.ArenaFloats }

// Buf locates one value in the arena. Offsets and sizes are per image and
// count elements of the buffer's type: for a batch of n images, value v of
// image i starts at element n*Off + i*Size(), byte Type.Size() times that.
type Buf struct {
	Type    abi.DType // element type (zero: float32)
	Off     int       // in elements of Type
	H, W, C int       // logical dimensions (H = W = 1 for vectors)
	Block   int       // 0: NHWC (or a plain vector); 8 or 16: NCHW[Block]c
	Vec     bool
}

// CPad is the stored channel count (C rounded up to the block).
func (b Buf) CPad() int {
	if b.Block == 0 {
		return b.C
	}
	return (b.C + b.Block - 1) / b.Block * b.Block
}

// Size is the number of elements per image.
func (b Buf) Size() int { return b.H * b.W * b.CPad() }

// Bytes is the buffer's size per image in bytes.
func (b Buf) Bytes() int { return b.Size() * b.Type.Size() }

// At is the offset of logical element (h, w, c) within one image.
func (b Buf) At(h, w, c int) int {
	if b.Block == 0 {
		return (h*b.W+w)*b.C + c
	}
	return ((c/b.Block*b.H+h)*b.W+w)*b.Block + c%b.Block
}

// OpKind is what a step computes.
type OpKind uint8

const (
	OpConv       OpKind = iota // Conv2D + bias + epilogue; In[0] is x, In[1:] epilogue operands
	OpPool                     // max or average pooling (Max, PadZero)
	OpGlobalPool               // global average or max pooling to a vector (Max)
	OpEltwise                  // epilogue applied to In[0] (read at stride Sub0)
	OpDense                    // vector · kernel + bias, then Act (also per pixel of an nhwc map)
	OpHead                     // optional global pooling (Pool: 0 none, 1 avg, 2 max), Dense, Act
	OpReorder                  // copy between layouts
	OpZeroPad                  // pad H and W with PadValue
	OpSoftmax                  // softmax over channels
	OpCopy                     // Flatten, Dropout: the logical values unchanged
	OpQuantize                 // f32 In[0] → u8 Out[0] with Out[0]'s parameters (QW.OutS[0], QW.OutZ[0])
	OpDequantize               // u8 In[0] → f32 Out[0] with In[0]'s parameters (QW.XS, QW.XZ)
)

// Activations of Dense and Head.
const (
	ActLinear uint8 = iota
	ActRelu
	ActSigmoid
	ActSoftmax
)

// EpiOp is one epilogue step: the one vocabulary of package abi, under
// the names generated plans spell.
type EpiOp = abi.Op

const (
	EpiRelu    = abi.Relu    // x = max(x, 0)
	EpiSigmoid = abi.Sigmoid // x = 1/(1+exp(-x))
	EpiAdd     = abi.Add     // x += In[Arg] at stride Sub
	EpiMul     = abi.Mul     // x *= In[Arg] at stride Sub
	EpiAffine  = abi.Affine  // x = x*w[Scale][c] + w[Shift][c]
	EpiOut     = abi.Out     // store x to the next output
	EpiScale   = abi.Scale   // x = x*Mul + Add
)

// Epi is one epilogue step.
type Epi struct {
	Op           EpiOp
	Arg, Sub     int
	Scale, Shift int // weight indices
	Mul, Add     float32
}

// CapSteps is the shape of an epilogue a capability table checks
// (abi.Caps.Check).
func CapSteps(epi []Epi) []abi.Step {
	out := make([]abi.Step, len(epi))
	for i, e := range epi {
		out[i] = abi.Step{Kind: e.Op, Sub: e.Sub}
	}
	return out
}

// Step is one operation of a plan.
type Step struct {
	Name  string // the Keras layers it implements
	Kind  OpKind
	In    []Buf
	Out   []Buf
	Epi   []Epi
	Flops int64 // per image

	Kernel, Bias int // weight indices (-1: none)
	// An int8 conv (OpConv on a u8 In[0]): M is the weight index of its
	// per-channel m = s_w·s_x (AccReal's factor), QW those of the
	// quantization parameters it reads; Kernel holds s8 codes packed
	// OIhw4i16o4i (as float32 until Load narrows them).
	M  int
	QW QW
	// WBlock is the block of the kernel's packing: conv OIhwBiBo (or OhwiBo
	// when In[0] is nhwc), Dense/Head OIBo; biases are padded to it.
	WBlock int

	KH, KW, SH, SW int
	DH, DW         int // conv dilation: taps DH rows, DW columns apart (0 or 1: adjacent); portable kernel only
	// Groups (0 or 1: dense) splits a conv into groups of whole channel
	// blocks: group g's output blocks read its input blocks only, through
	// a kernel of the group's size (In[0].C/Groups → Out[0].C/Groups) called
	// on pointers offset to the group.
	Groups int
	// Narrow (0: none) marks a grouped conv whose groups have Narrow (1, 2,
	// 4, or 8 on 16-channel blocks) input and output channels, run with one group of Groups per
	// channel block: its kernel is packed Ohwi{WBlock}o from the grouped
	// [kh, kw, Narrow, C] kernel, and output lane o of a block reads lanes
	// ⌊o/Narrow⌋·Narrow … +Narrow−1 of the same input block.
	Narrow   int
	Pad      [4]int // top, bottom, left, right
	PadZero  bool   // pooling: padded positions count as 0
	Max      bool   // pooling: max (else average)
	PadValue float32
	Sub0     int   // OpEltwise: read stride of In[0]
	Pool     uint8 // OpHead: 0 none, 1 avg, 2 max
	Act      uint8

	// Parallel split of a conv: NB output-channel blocks per task, and
	// RowTasks row ranges per image (for a Winograd conv: ranges of rows
	// of 4×4 tiles).
	NB, RowTasks int
	// Winograd: the kernel is U of Winograd F(4×4,3×3) (runtime.PackWinograd),
	// and the compiled kernel needs WS floats of per-thread workspace.
	Winograd bool
	WS       int
	// PerThread: split a Winograd conv into as few tile-row ranges as
	// there are threads (its U is large: every call streams all of it).
	// Tile rows are independent, so the outputs do not depend on the split.
	PerThread bool
	// Compiled kernels (nil: the portable Go code runs): Conv for OpConv,
	// Map for OpPool and OpEltwise, Head for OpHead.
	Conv   ConvKernel
	ConvU8 ConvU8Kernel
	Wino   WinoKernel
	Map    MapKernel
	Head   HeadKernel
}

// WinoKernel is the signature of generated Winograd convolution kernels:
// output tile rows [t0, t1) (4 output rows each) of all output channels of
// one image, with ws as scratch.
type WinoKernel func(in, u, bias, res, mul, scale, shift, out0, out1, ws *float32, t0, t1 int)

// MapKernel is the signature of generated pooling (rows [r0, r1)) and
// elementwise (pixels [r0, r1)) kernels over channel blocks [cb0, cb1) of
// one image.
type MapKernel func(in, res, scale, shift, out0, out1 *float32, cb0, cb1, r0, r1 int)

// HeadKernel is the signature of generated classifier heads: v and y are
// scratch vectors; y receives x·kernel + bias (before the activation).
type HeadKernel func(in, wt, bias, v, y *float32)

// ConvKernel is the signature of generated convolution kernels: output rows
// [oh0, oh1) of output-channel blocks [ocb0, ocb1) of one image.
type ConvKernel func(in, wt, bias, res, mul, scale, shift, out0, out1 *float32, ocb0, ocb1, oh0, oh1 int)

// QW are the weight indices (-1: none) of the quantization parameters an
// int8 step reads, each a one-element tensor: the scale and zero point of
// its u8 input (X), of the Add and Mul operands of its epilogue, and of
// each output.
type QW struct {
	XS, XZ     int
	ResS, ResZ int
	MulS, MulZ int
	OutS, OutZ [2]int
}

// ConvU8Kernel is the signature of generated int8 convolution kernels
// (codegen/vnni): output rows [oh0, oh1) of output-channel blocks
// [ocb0, ocb1) of one image; q is the step's parameter block
// (ConvU8Quant.Words).
type ConvU8Kernel func(in *uint8, wt *int8, m, b, scale, shift *float32, res, mul *uint8, q *int32, out0, out1 *uint8, ocb0, ocb1, oh0, oh1 int)

// Int8 reports whether the step is an int8 convolution.
func (s *Step) Int8() bool { return s.Kind == OpConv && len(s.In) > 0 && s.In[0].Type == abi.U8 }

// OH and OW are a conv or pooling step's output size.
func (s *Step) OH() int { return s.Out[0].H }
func (s *Step) OW() int { return s.Out[0].W }

// validate checks a plan's internal consistency once, at load time.
func (p *Plan) validate() error {
	check := func(b Buf) error {
		es := b.Type.Size()
		if es == 0 || b.Type != abi.F32 && b.Type != abi.U8 {
			return fmt.Errorf("buffer %+v: element type %s has no kernels in this runtime", b, b.Type)
		}
		if b.Type == abi.U8 && b.Block != U8Block {
			return fmt.Errorf("buffer %+v: a u8 buffer is nChw%dc", b, U8Block)
		}
		if b.Off < 0 || b.H < 1 || b.W < 1 || b.C < 1 || (b.Off+b.Size())*es > p.ArenaBytes() {
			return fmt.Errorf("buffer %+v outside the arena of %d bytes", b, p.ArenaBytes())
		}
		return nil
	}
	for i := range p.Steps {
		s := &p.Steps[i]
		for _, b := range append(append([]Buf(nil), s.In...), s.Out...) {
			if err := check(b); err != nil {
				return fmt.Errorf("plan %s step %d (%s): %w", p.Target, i, s.Name, err)
			}
		}
		if err := s.checkTypes(); err != nil {
			return fmt.Errorf("plan %s step %d (%s): %w", p.Target, i, s.Name, err)
		}
		if g := s.Groups; g > 1 && (s.Kind != OpConv || s.WBlock < 1 || s.In[0].Block != s.WBlock ||
			s.In[0].CPad()%(g*s.WBlock) != 0 || s.Out[0].CPad()%(g*s.WBlock) != 0 || s.NB < 1 || (s.Out[0].CPad()/s.WBlock/g)%s.NB != 0) {
			return fmt.Errorf("plan %s step %d (%s): %d groups do not split its channel blocks", p.Target, i, s.Name, g)
		}
		if n := s.Narrow; n != 0 && (n != 1 && n != 2 && n != 4 && (n != 8 || s.WBlock != 16) || s.WBlock%4 != 0 || s.In[0].C != s.Out[0].C ||
			s.In[0].C%s.WBlock != 0 || s.Groups != s.In[0].C/s.WBlock || s.NB != 1) {
			return fmt.Errorf("plan %s step %d (%s): a narrow grouped conv of %d-channel groups needs one group per %d-channel block, %d → %d channels in %d groups", p.Target, i, s.Name, n, s.WBlock, s.In[0].C, s.Out[0].C, s.Groups)
		}
		for _, w := range []int{s.Kernel, s.Bias} {
			if w >= len(p.Weights) {
				return fmt.Errorf("plan %s step %d (%s): weight %d out of range", p.Target, i, s.Name, w)
			}
		}
	}
	if err := check(p.Input); err != nil {
		return err
	}
	if p.Input.Type != abi.F32 || p.Output.Type != abi.F32 {
		return fmt.Errorf("plan %s: its input and output are %s and %s, want f32", p.Target, p.Input.Type, p.Output.Type)
	}
	return check(p.Output)
}

// checkTypes checks the element types a step reads and writes: u8 only
// in an int8 conv (all its buffers), as a Quantize's output and a
// Dequantize's input; f32 everywhere else. Weight indices of an int8
// step must be in range (checked again where Load reads them).
func (s *Step) checkTypes() error {
	in, out := abi.F32, abi.F32
	switch {
	case s.Kind == OpQuantize:
		out = abi.U8
	case s.Kind == OpDequantize:
		in = abi.U8
	case s.Int8():
		in, out = abi.U8, abi.U8
	}
	for i, b := range s.In {
		if b.Type != in {
			return fmt.Errorf("input %d is %s, want %s", i, b.Type, in)
		}
	}
	for i, b := range s.Out {
		if b.Type != out {
			return fmt.Errorf("output %d is %s, want %s", i, b.Type, out)
		}
	}
	if (s.Kind == OpQuantize || s.Kind == OpDequantize) && (len(s.In) != 1 || len(s.Out) != 1 || s.In[0].H != s.Out[0].H || s.In[0].W != s.Out[0].W || s.In[0].C != s.Out[0].C || s.In[0].Block != s.Out[0].Block) {
		return fmt.Errorf("a %v step converts one buffer to one of the same shape and layout", s.Kind)
	}
	return nil
}

package abi

import "fmt"

// Op is one step of an epilogue: the elementwise work fused after a
// convolution, a pooling or an elementwise op, applied per output element,
// in order, before and between its stores. The IR (ir.Step), the plans
// (runtime.Epi) and the kernel generators (conv.Step, the simd kernels)
// spell their steps with these kinds; each carries its operands in its
// own form (IR weights, weight indices, kernel constants).
type Op uint8

const (
	Relu    Op = iota // x = max(x, 0)
	Sigmoid           // x = 1 / (1 + exp(-x))
	Add               // x += operand, read at a stride (the residual)
	Mul               // x *= operand, read at a stride (a gate)
	Affine            // x = x*scale[c] + shift[c] (a batch norm after the op)
	Out               // store x as the next output; the value after the last step is the last output
	Scale             // x = x*a + b (constants: Rescaling)
	Bias              // x += bias[c]: the convolution's own bias, a compiled conv kernel's first step
)

var opNames = [...]string{Relu: "relu", Sigmoid: "sigmoid", Add: "add", Mul: "mul", Affine: "affine", Out: "out", Scale: "scale", Bias: "bias"}

// Ops lists every epilogue kind, in order.
func Ops() []Op {
	out := make([]Op, len(opNames))
	for i := range opNames {
		out[i] = Op(i)
	}
	return out
}

// String is the step's name in the IR's text form and in kernel comments.
func (k Op) String() string {
	if int(k) < len(opNames) {
		return opNames[k]
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// ParseOp is the inverse of Op.String.
func ParseOp(s string) (Op, error) {
	for i, n := range opNames {
		if n == s {
			return Op(i), nil
		}
	}
	return 0, fmt.Errorf("unknown epilogue step %q", s)
}

// Operand reports whether a step of kind k reads a tensor operand
// (Add, Mul) at a stride.
func (k Op) Operand() bool { return k == Add || k == Mul }

// Step is the shape of one epilogue step as a capability check sees it:
// its kind and, for Add and Mul, the stride its operand is read at.
type Step struct {
	Kind Op
	Sub  int // operand read stride in H and W (Add, Mul); 0 counts as 1
}

// Family is a kind of compiled kernel a target may have.
type Family uint8

const (
	Direct   Family = iota // direct convolution, blocked (or NHWC first layer) input, register-tiled
	Winograd               // Winograd F(4×4,3×3) convolution
	Pool                   // max and average pooling on blocked maps
	Eltwise                // an epilogue applied to a blocked map (no producer to fuse into)
	Head                   // global pooling + dense + activation
	DirectU8               // int8 direct convolution: u8 nChw16c × s8 OIhw4i16o4i (VPDPBUSD)
)

var familyNames = [...]string{Direct: "direct", Winograd: "winograd", Pool: "pool", Eltwise: "eltwise", Head: "head", DirectU8: "direct-u8"}

func (f Family) String() string {
	if int(f) < len(familyNames) {
		return familyNames[f]
	}
	return fmt.Sprintf("family(%d)", uint8(f))
}

// Caps is what a kernel family's epilogue accepts: which step kinds, how
// many of the counted ones, and the strides its operands may be read at.
// The fuse pass asks it before growing an op's epilogue and the code
// generators ask it before emitting the kernel, so a fused epilogue is one
// a kernel runs (codegen TestCapsAgree).
type Caps struct {
	Kinds      []Op       // accepted kinds (Bias is implicit in a conv's)
	Max        map[Op]int // kinds accepted at most so many times (absent: any number)
	AddStrides []int      // strides an Add operand may be read at
	MulStrides []int      // strides a Mul operand may be read at
}

// Check reports why the family cannot run epilogue epi, or nil.
func (c *Caps) Check(epi []Step) error {
	count := map[Op]int{}
	for _, st := range epi {
		if !has(c.Kinds, st.Kind) {
			return fmt.Errorf("no %s step", st.Kind)
		}
		count[st.Kind]++
		if m, ok := c.Max[st.Kind]; ok && count[st.Kind] > m {
			return fmt.Errorf("more than %d %s step(s)", m, st.Kind)
		}
		sub := max(st.Sub, 1)
		switch st.Kind {
		case Add:
			if !has(c.AddStrides, sub) {
				return fmt.Errorf("an add operand read at stride %d", sub)
			}
		case Mul:
			if !has(c.MulStrides, sub) {
				return fmt.Errorf("a mul operand read at stride %d", sub)
			}
		}
	}
	return nil
}

func has[T comparable](xs []T, x T) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// The capabilities of the compiled kernel families. The direct and
// Winograd convolutions take relu, sigmoid, constant scaling, one affine,
// one residual add at stride 1 or 2, one product with a tensor at stride
// 1 and one early store (two outputs). Pooling and elementwise kernels
// take relu, one affine, one unstrided add and one early store.
var (
	ConvCaps = Caps{
		Kinds:      []Op{Relu, Sigmoid, Scale, Add, Mul, Affine, Out},
		Max:        map[Op]int{Add: 1, Mul: 1, Affine: 1, Out: 1},
		AddStrides: []int{1, 2},
		MulStrides: []int{1},
	}
	MapCaps = Caps{
		Kinds:      []Op{Relu, Add, Affine, Out},
		Max:        map[Op]int{Add: 1, Affine: 1, Out: 1},
		AddStrides: []int{1},
	}
)

// ConvU8Caps is what an int8 convolution's epilogue takes (the VNNI
// kernels, codegen/vnni, and the portable runtime.ConvU8): the float32
// conv's steps but the sigmoid (no bit-exact int8 sigmoid is defined in
// int8.go). Its bias is part of AccReal.
var ConvU8Caps = Caps{
	Kinds:      []Op{Relu, Scale, Add, Mul, Affine, Out},
	Max:        map[Op]int{Add: 1, Mul: 1, Affine: 1, Out: 1},
	AddStrides: []int{1, 2},
	MulStrides: []int{1},
}

// FamilyCaps is the epilogue capability of family f's kernels (nil for a
// family that takes no epilogue: the head).
func FamilyCaps(f Family) *Caps {
	switch f {
	case Direct, Winograd:
		return &ConvCaps
	case Pool, Eltwise:
		return &MapCaps
	case DirectU8:
		return &ConvU8Caps
	}
	return nil
}

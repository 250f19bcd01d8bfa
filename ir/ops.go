package ir

import (
	"fmt"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// Kind is an op kind. Every kind is declared once, in the kinds table below,
// with its one-line semantics; the printer, parser, Verify and interpreter
// all read that table.
type Kind uint8

const (
	Input Kind = iota
	Conv2D
	BatchNorm
	Activation
	ZeroPad
	MaxPool
	AvgPool
	GlobalAvgPool
	GlobalMaxPool
	Add
	Multiply
	Dense
	Dropout
	Flatten
	Rescale
	Affine
	Eltwise
	Reorder
	Head
	Quantize
	Dequantize
	numKinds
)

// KindInfo describes a kind.
type KindInfo struct {
	// Name is the op's name in the text form (Keras's class name for
	// Keras layers).
	Name string
	// Keras is the Keras class the summary prints; empty for ops that only
	// passes create.
	Keras string
	// Doc is the one-line semantics.
	Doc string
	// Attrs lists the attributes the op has, in text order.
	Attrs []string
	// Params lists the weight roles.
	Params []ParamInfo
	// MinIn and MaxIn bound the number of inputs (MaxIn < 0: unbounded).
	MinIn, MaxIn int
	// Elementwise ops compute each output element from the elements at the
	// same position of their inputs (so they may run in place).
	Elementwise bool
}

// ParamInfo describes one weight role of a kind.
type ParamInfo struct {
	Role      string
	Optional  bool
	Trainable bool
	// Derived weights are made by a pass (an int8 conv's m), never a
	// layer's file tensor: the model language does not declare them.
	Derived bool
}

var kinds = [numKinds]KindInfo{
	Input: {Name: "Input", Keras: "InputLayer", MinIn: 0, MaxIn: 0,
		Attrs: []string{"preprocess", "mean", "std", "resize", "layout"},
		Doc:   "the model's input, NHWC images; its type is the input shape; preprocess is the images' declared pixel convention (preprocess.go), mean and std those of preprocess=meanstd"},
	Conv2D: {Name: "Conv2D", Keras: "Conv2D", MinIn: 1, MaxIn: -1,
		Attrs:  []string{"filters", "k", "s", "dil", "groups", "pad", "epi"},
		Params: []ParamInfo{{"kernel", false, true, false}, {"bias", true, true, false}, {"m", true, false, true}},
		Doc:    "y = conv(x0, kernel, strides s, dilation dil (1x1 when absent), zero pads t,b,l,r) + bias, then the epilogue; inputs after x0 are epilogue operands. With groups G > 1 the channels split into G equal groups, output group g reading input group g only (kernel [kh, kw, C/G, filters]). On u8 values (an int8 conv): the kernel is s8 codes, acc = Σ x0·kernel exactly, v = acc·m[c] + bias[c] (m = s_w·s_x), the epilogue reads its operands dequantized, and each output is quantized with its parameters (runtime/abi/int8.go)"},
	BatchNorm: {Name: "BatchNormalization", Keras: "BatchNormalization", MinIn: 1, MaxIn: 1, Elementwise: true,
		Attrs:  []string{"eps"},
		Params: []ParamInfo{{"gamma", false, true, false}, {"beta", false, true, false}, {"moving_mean", false, false, false}, {"moving_variance", false, false, false}},
		Doc:    "inference batch norm per channel: y = (x - moving_mean) / sqrt(moving_variance + eps) * gamma + beta"},
	Activation: {Name: "Activation", Keras: "Activation", MinIn: 1, MaxIn: 1, Elementwise: true,
		Attrs: []string{"fn"},
		Doc:   "y = fn(x), fn one of relu, sigmoid, softmax (over channels), linear"},
	ZeroPad: {Name: "ZeroPadding2D", Keras: "ZeroPadding2D", MinIn: 1, MaxIn: 1,
		Attrs: []string{"pad", "value"},
		Doc:   "pads H and W by t,b,l,r with value (0 for Keras's ZeroPadding2D)"},
	MaxPool: {Name: "MaxPooling2D", Keras: "MaxPooling2D", MinIn: 1, MaxIn: -1,
		Attrs: []string{"pool", "s", "pad", "padzero", "epi"},
		Doc:   "max over pool windows at strides s (padded positions are ignored, or count as 0 when padzero), then the epilogue"},
	AvgPool: {Name: "AveragePooling2D", Keras: "AveragePooling2D", MinIn: 1, MaxIn: -1,
		Attrs: []string{"pool", "s", "pad", "epi"},
		Doc:   "mean over pool windows at strides s (padded positions excluded from the count, as Keras 'same'), then the epilogue"},
	GlobalAvgPool: {Name: "GlobalAveragePooling2D", Keras: "GlobalAveragePooling2D", MinIn: 1, MaxIn: 1,
		Doc: "y[c] = mean over H,W of x[h,w,c]"},
	GlobalMaxPool: {Name: "GlobalMaxPooling2D", Keras: "GlobalMaxPooling2D", MinIn: 1, MaxIn: 1,
		Doc: "y[c] = max over H,W of x[h,w,c]"},
	Add: {Name: "Add", Keras: "Add", MinIn: 2, MaxIn: -1, Elementwise: true,
		Attrs: []string{"sub"},
		Doc:   "y = sum of the inputs; input i is read at stride sub[i] in H and W (1 when absent)"},
	Multiply: {Name: "Multiply", Keras: "Multiply", MinIn: 2, MaxIn: -1, Elementwise: true,
		Attrs: []string{"sub"},
		Doc:   "y = product of the inputs; input i is read at stride sub[i] in H and W (1 when absent)"},
	Dense: {Name: "Dense", Keras: "Dense", MinIn: 1, MaxIn: 1,
		Attrs:  []string{"units", "act"},
		Params: []ParamInfo{{"kernel", false, true, false}, {"bias", true, true, false}},
		Doc:    "y = act(x · kernel + bias) on a vector; act linear, relu, sigmoid or softmax"},
	Dropout: {Name: "Dropout", Keras: "Dropout", MinIn: 1, MaxIn: 1, Elementwise: true,
		Attrs: []string{"rate"},
		Doc:   "identity at inference"},
	Flatten: {Name: "Flatten", Keras: "Flatten", MinIn: 1, MaxIn: 1,
		Doc: "y = x as a vector in Keras's (H, W, C) order"},
	Rescale: {Name: "Rescaling", Keras: "Rescaling", MinIn: 1, MaxIn: 1, Elementwise: true,
		Attrs: []string{"scale", "offset"},
		Doc:   "y = x * scale + offset (constants)"},
	Affine: {Name: "Affine", MinIn: 1, MaxIn: 1, Elementwise: true,
		Params: []ParamInfo{{"scale", false, false, false}, {"shift", false, false, false}},
		Doc:    "y = x * scale[c] + shift[c] (an unfolded batch norm)"},
	Eltwise: {Name: "Eltwise", MinIn: 1, MaxIn: -1, Elementwise: true,
		Attrs: []string{"epi"},
		Doc:   "y = epilogue applied to x0; inputs after x0 are epilogue operands"},
	Reorder: {Name: "Reorder", MinIn: 1, MaxIn: 1,
		Doc: "y = x converted to the output's layout"},
	Head: {Name: "Head", MinIn: 1, MaxIn: 1,
		Attrs:  []string{"pooling", "units", "act"},
		Params: []ParamInfo{{"kernel", false, true, false}, {"bias", true, true, false}},
		Doc:    "y = act(pool(x) · kernel + bias): global pooling (avg, max or none) fused with Dense and its activation"},
	Quantize: {Name: "Quantize", MinIn: 1, MaxIn: 1,
		Doc: "y (u8) = clamp(round(x/scale) + zero, 0, 255) with y's parameters q=(scale,zero) (abi.QuantizeU8)"},
	Dequantize: {Name: "Dequantize", MinIn: 1, MaxIn: 1,
		Doc: "y (f32) = scale·(x − zero) with x's parameters (abi.Dequant)"},
}

// Info returns the kind's table entry.
func (k Kind) Info() *KindInfo { return &kinds[k] }

func (k Kind) String() string {
	if k < numKinds {
		return kinds[k].Name
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// KindByName finds a kind by its text-form name.
func KindByName(name string) (Kind, bool) {
	for k := Kind(0); k < numKinds; k++ {
		if kinds[k].Name == name {
			return k, true
		}
	}
	return 0, false
}

// Kinds returns every kind, in table order.
func Kinds() []Kind {
	ks := make([]Kind, numKinds)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

// HasAttr reports whether kind k carries attribute name.
func (k Kind) HasAttr(name string) bool {
	for _, a := range kinds[k].Attrs {
		if a == name {
			return true
		}
	}
	return false
}

// Attrs holds every attribute any kind uses; a kind reads only those its
// table entry lists.
type Attrs struct {
	Filters  int     // Conv2D output channels
	Units    int     // Dense/Head output units
	Kernel   [2]int  // Conv2D kernel (kh, kw); pooling window for pools
	Strides  [2]int  // (sh, sw)
	Dilation [2]int  // Conv2D dilation (dh, dw): kernel taps dh rows, dw columns apart; zero means 1x1 (see Dil)
	Groups   int     // Conv2D channel groups; 0 or 1: a dense convolution (see G)
	Pad      [4]int  // zero padding top, bottom, left, right
	PadValue float64 // ZeroPadding2D fill value
	PadZero  bool    // MaxPooling2D: padded positions count as 0
	Eps      float64 // BatchNormalization epsilon
	Fn       string  // Activation function
	Act      string  // Dense/Head activation ("" = linear)
	Rate     float64 // Dropout rate
	Scale    float64 // Rescaling factor
	Offset   float64 // Rescaling offset
	Pooling  string  // Head: "avg", "max" or "none"
	Sub      []int   // Add/Multiply: per-input read stride
	Epi      []Step  // Conv2D/Eltwise/pooling epilogue
	// Prep is an Input's declared pixel convention (Mode "" when none).
	Prep Preprocessing
}

// Dil is a Conv2D's dilation: Dilation, or 1x1 when it is unset (zero).
func (a *Attrs) Dil() [2]int {
	if a.Dilation == [2]int{} {
		return [2]int{1, 1}
	}
	return a.Dilation
}

// G is a Conv2D's number of channel groups (1 when Groups is unset).
func (a *Attrs) G() int { return max(a.Groups, 1) }

// NarrowGroups returns the channels per group of a conv of g groups,
// cin input and cout output channels on maps of channel block b when it
// runs as a narrow grouped conv — its kernel packed Ohwi{b}o as it is,
// [kh, kw, cin/g, cout], each output lane reading its group's lanes of the
// same block (runtime.Step.Narrow) — and 0 when it does not: groups of 1,
// 2 or 4 channels in and out, or 8 on 16-channel blocks (ResNeXt's first
// two stages; depthwise), on whole blocks.
func NarrowGroups(g, cin, cout, b int) int {
	if g < 2 || cin != cout || cin%g != 0 || b < 4 || cin%b != 0 {
		return 0
	}
	if n := cin / g; n == 1 || n == 2 || n == 4 || n == 8 && b == 16 {
		return n
	}
	return 0
}

// Dilated reports whether a Conv2D's taps are spread out (a dilation
// other than 1x1).
func (a *Attrs) Dilated() bool { return a.Dil() != [2]int{1, 1} }

func (a Attrs) clone(wmap map[*Weight]*Weight) Attrs {
	c := a
	c.Sub = append([]int(nil), a.Sub...)
	if a.Epi != nil {
		c.Epi = make([]Step, len(a.Epi))
		for i, s := range a.Epi {
			s.Scale, s.Shift = wmap[s.Scale], wmap[s.Shift]
			c.Epi[i] = s
		}
	}
	return c
}

// StepKind is one step of an epilogue: the vocabulary ir, passes, codegen
// and runtime share (package abi). An IR epilogue has no Bias step: a
// Conv2D's bias is its parameter.
type StepKind = abi.Op

const (
	StepRelu    = abi.Relu    // x = max(x, 0)
	StepSigmoid = abi.Sigmoid // x = 1 / (1 + exp(-x))
	StepAdd     = abi.Add     // x += input[Arg] read at stride Sub
	StepMul     = abi.Mul     // x *= input[Arg] read at stride Sub
	StepAffine  = abi.Affine  // x = x * Scale[c] + Shift[c]
	StepOut     = abi.Out     // store x as the next output; the value after the last step is the last output
	StepScale   = abi.Scale   // x = x * Mul + Add (constants)
)

// Step is one epilogue step. Epilogues run per output element, in order, on
// the value a Conv2D accumulated (after its bias), a pooling computed, or an
// Eltwise's x0.
type Step struct {
	Kind         StepKind
	Arg          int // input index of the operand (StepAdd, StepMul)
	Sub          int // read stride of the operand in H and W (≥ 1)
	Scale, Shift *Weight
	Mul, Add     float64 // StepScale
}

// NumOutputs is the number of outputs an op with epilogue epi has.
func NumOutputs(epi []Step) int {
	n := 1
	for _, s := range epi {
		if s.Kind == StepOut {
			n++
		}
	}
	return n
}

// Activation function names.
const (
	Relu    = "relu"
	Sigmoid = "sigmoid"
	Softmax = "softmax"
	Linear  = "linear"
)

// ActivationSteps returns the epilogue steps of the elementwise activation
// fn (relu, sigmoid), nil for linear or none (and for softmax, which is not
// elementwise).
func ActivationSteps(fn string) []Step {
	switch fn {
	case Relu:
		return []Step{{Kind: StepRelu, Sub: 1}}
	case Sigmoid:
		return []Step{{Kind: StepSigmoid, Sub: 1}}
	}
	return nil
}

// ValidActivation reports whether fn names an activation rnc implements.
func ValidActivation(fn string) bool {
	switch fn {
	case Relu, Sigmoid, Softmax, Linear:
		return true
	}
	return false
}

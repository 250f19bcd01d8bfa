package ir

import (
	"fmt"
)

// InferDims computes the per-image dimensions of op's outputs from its
// inputs and attributes. Errors are phrased for the model's author: they
// name the layers involved.
func InferDims(op *Op) ([][]int, error) {
	info := op.Kind.Info()
	if len(op.Inputs) < info.MinIn || (info.MaxIn >= 0 && len(op.Inputs) > info.MaxIn) {
		return nil, fmt.Errorf("%s takes %s, got %d", info.Name, arity(info), len(op.Inputs))
	}
	for i, in := range op.Inputs {
		if in == nil {
			return nil, fmt.Errorf("%s: input %d is missing", info.Name, i)
		}
	}
	a := &op.Attrs
	one := func(d []int) ([][]int, error) { return [][]int{d}, nil }
	switch op.Kind {
	case Input:
		if len(op.Outputs) != 1 {
			return nil, fmt.Errorf("Input has no type")
		}
		return one(op.Outputs[0].Type.Dims)
	case Conv2D:
		x, err := featureMap(op, 0)
		if err != nil {
			return nil, err
		}
		if a.Filters < 1 {
			return nil, fmt.Errorf("filters must be positive, got %d", a.Filters)
		}
		if g := a.G(); x[2]%g != 0 || a.Filters%g != 0 {
			return nil, fmt.Errorf("groups = %d must divide the input channels (%d) and the filters (%d)", g, x[2], a.Filters)
		}
		oh, ow, err := window(op, x, a.Kernel, a.Strides, a.Dil(), a.Pad, "kernel")
		if err != nil {
			return nil, err
		}
		out := []int{oh, ow, a.Filters}
		if err := checkEpilogue(op, out); err != nil {
			return nil, err
		}
		dims := make([][]int, NumOutputs(a.Epi))
		for i := range dims {
			dims[i] = out
		}
		return dims, nil
	case BatchNorm, Activation, Dropout, Affine, Rescale:
		x := op.Inputs[0].Type.Dims
		if op.Kind == Activation && !ValidActivation(a.Fn) {
			return nil, fmt.Errorf("unknown activation %q (want relu, sigmoid, softmax or linear)", a.Fn)
		}
		if op.Kind == BatchNorm && !(a.Eps > 0) {
			return nil, fmt.Errorf("epsilon must be positive, got %v", a.Eps)
		}
		if op.Kind == Dropout && !(a.Rate >= 0 && a.Rate < 1) {
			return nil, fmt.Errorf("rate must be in [0, 1), got %v", a.Rate)
		}
		return one(x)
	case ZeroPad:
		x, err := featureMap(op, 0)
		if err != nil {
			return nil, err
		}
		for _, p := range a.Pad {
			if p < 0 {
				return nil, fmt.Errorf("padding must not be negative, got %v", a.Pad)
			}
		}
		return one([]int{x[0] + a.Pad[0] + a.Pad[1], x[1] + a.Pad[2] + a.Pad[3], x[2]})
	case MaxPool, AvgPool:
		x, err := featureMap(op, 0)
		if err != nil {
			return nil, err
		}
		oh, ow, err := window(op, x, a.Kernel, a.Strides, [2]int{1, 1}, a.Pad, "pool size")
		if err != nil {
			return nil, err
		}
		out := []int{oh, ow, x[2]}
		if err := checkEpilogue(op, out); err != nil {
			return nil, err
		}
		dims := make([][]int, NumOutputs(a.Epi))
		for i := range dims {
			dims[i] = out
		}
		return dims, nil
	case GlobalAvgPool, GlobalMaxPool:
		x, err := featureMap(op, 0)
		if err != nil {
			return nil, err
		}
		return one([]int{x[2]})
	case Add, Multiply:
		if len(a.Sub) != 0 && len(a.Sub) != len(op.Inputs) {
			return nil, fmt.Errorf("sub has %d strides for %d inputs", len(a.Sub), len(op.Inputs))
		}
		out := op.Inputs[0].Type.Dims
		if len(a.Sub) > 0 {
			var err error
			if out, err = subsampled(op, 0, a.Sub[0]); err != nil {
				return nil, err
			}
		}
		for i := 1; i < len(op.Inputs); i++ {
			s := 1
			if len(a.Sub) > 0 {
				s = a.Sub[i]
			}
			d, err := subsampled(op, i, s)
			if err != nil {
				return nil, err
			}
			if !equalInts(d, out) {
				return nil, fmt.Errorf("inputs have different shapes: %s %s and %s %s",
					inputName(op, 0), dimsString(out), inputName(op, i), dimsString(d))
			}
		}
		return one(out)
	case Dense:
		x := op.Inputs[0].Type.Dims
		if a.Units < 1 {
			return nil, fmt.Errorf("units must be positive, got %d", a.Units)
		}
		if a.Act != "" && !ValidActivation(a.Act) {
			return nil, fmt.Errorf("unknown activation %q (want relu, sigmoid, softmax or linear)", a.Act)
		}
		out := append([]int(nil), x...)
		out[len(out)-1] = a.Units
		return one(out)
	case Flatten:
		x := op.Inputs[0].Type.Dims
		n := 1
		for _, d := range x {
			n *= d
		}
		return one([]int{n})
	case Eltwise:
		x := op.Inputs[0].Type.Dims
		if err := checkEpilogue(op, x); err != nil {
			return nil, err
		}
		dims := make([][]int, NumOutputs(a.Epi))
		for i := range dims {
			dims[i] = x
		}
		return dims, nil
	case Reorder, Quantize, Dequantize:
		return one(op.Inputs[0].Type.Dims)
	case Head:
		x := op.Inputs[0].Type.Dims
		switch a.Pooling {
		case "avg", "max":
			if len(x) != 3 {
				return nil, fmt.Errorf("Head with %s pooling needs a feature map, got %s", a.Pooling, dimsString(x))
			}
		case "none":
			if len(x) != 1 {
				return nil, fmt.Errorf("Head without pooling needs a vector, got %s", dimsString(x))
			}
		default:
			return nil, fmt.Errorf("Head pooling must be avg, max or none, got %q", a.Pooling)
		}
		if a.Units < 1 {
			return nil, fmt.Errorf("units must be positive, got %d", a.Units)
		}
		if a.Act != "" && !ValidActivation(a.Act) {
			return nil, fmt.Errorf("unknown activation %q", a.Act)
		}
		return one([]int{a.Units})
	}
	return nil, fmt.Errorf("no shape rule for %s", info.Name)
}

func arity(info *KindInfo) string {
	switch {
	case info.MaxIn == info.MinIn:
		return fmt.Sprintf("%d inputs", info.MinIn)
	case info.MaxIn < 0:
		return fmt.Sprintf("at least %d inputs", info.MinIn)
	}
	return fmt.Sprintf("%d to %d inputs", info.MinIn, info.MaxIn)
}

func inputName(op *Op, i int) string {
	v := op.Inputs[i]
	if v.Def != nil && len(v.Def.Names) > 0 {
		return v.Def.Name()
	}
	return v.Name()
}

func dimsString(d []int) string {
	return Type{Dims: d}.KerasShape()
}

func featureMap(op *Op, i int) ([]int, error) {
	d := op.Inputs[i].Type.Dims
	if len(d) != 3 {
		return nil, fmt.Errorf("needs a 4-d input (N, H, W, C), but %s is %s", inputName(op, i), dimsString(d))
	}
	return d, nil
}

// window computes the output size of a sliding window (conv or pool) of
// k taps spaced d apart: it spans (k-1)·d+1 pixels.
func window(op *Op, x []int, k, s, d [2]int, pad [4]int, what string) (int, int, error) {
	if k[0] < 1 || k[1] < 1 {
		return 0, 0, fmt.Errorf("%s must be positive, got %dx%d", what, k[0], k[1])
	}
	if s[0] < 1 || s[1] < 1 {
		return 0, 0, fmt.Errorf("strides must be positive, got %dx%d", s[0], s[1])
	}
	if d[0] < 1 || d[1] < 1 {
		return 0, 0, fmt.Errorf("dilation must be positive, got %dx%d", d[0], d[1])
	}
	for _, p := range pad {
		if p < 0 {
			return 0, 0, fmt.Errorf("padding must not be negative, got %v", pad)
		}
	}
	h, w := x[0]+pad[0]+pad[1], x[1]+pad[2]+pad[3]
	// (k-1)·d+1 > n, without overflow
	if k[0]-1 > (h-1)/d[0] || k[1]-1 > (w-1)/d[1] || h < 1 || w < 1 {
		span := ""
		if d != [2]int{1, 1} {
			span = fmt.Sprintf(" dilated %dx%d", d[0], d[1])
		}
		return 0, 0, fmt.Errorf("%s %dx%d%s does not fit the %s input %dx%d (padded %dx%d)",
			what, k[0], k[1], span, inputName(op, 0), x[0], x[1], h, w)
	}
	return (h-(k[0]-1)*d[0]-1)/s[0] + 1, (w-(k[1]-1)*d[1]-1)/s[1] + 1, nil
}

// subsampled is the dims of input i read at stride s in H and W.
func subsampled(op *Op, i, s int) ([]int, error) {
	d := op.Inputs[i].Type.Dims
	if s == 1 {
		return d, nil
	}
	if s < 1 {
		return nil, fmt.Errorf("read stride must be positive, got %d", s)
	}
	if len(d) != 3 {
		return nil, fmt.Errorf("a strided read needs a feature map, %s is %s", inputName(op, i), dimsString(d))
	}
	return []int{(d[0]-1)/s + 1, (d[1]-1)/s + 1, d[2]}, nil
}

func checkEpilogue(op *Op, out []int) error {
	for _, st := range op.Attrs.Epi {
		switch st.Kind {
		case StepAdd, StepMul:
			if st.Arg < 1 || st.Arg >= len(op.Inputs) {
				return fmt.Errorf("epilogue operand %d is not an input", st.Arg)
			}
			d, err := subsampled(op, st.Arg, st.Sub)
			if err != nil {
				return err
			}
			if !equalInts(d, out) {
				return fmt.Errorf("epilogue operand %s %s does not match the output %s",
					inputName(op, st.Arg), dimsString(d), dimsString(out))
			}
		case StepAffine:
			if st.Scale == nil || st.Shift == nil {
				return fmt.Errorf("affine step without scale and shift")
			}
			c := out[len(out)-1]
			if !st.Scale.Fits([]int{c}) || !st.Shift.Fits([]int{c}) {
				return fmt.Errorf("affine step parameters %v, %v do not match %d channels", st.Scale.Shape, st.Shift.Shape, c)
			}
		case StepRelu, StepSigmoid, StepOut, StepScale:
		default:
			return fmt.Errorf("unknown epilogue step %d", st.Kind)
		}
	}
	// Every non-operand input must be used by a step.
	used := make([]bool, len(op.Inputs))
	used[0] = true
	for _, st := range op.Attrs.Epi {
		if st.Kind == StepAdd || st.Kind == StepMul {
			used[st.Arg] = true
		}
	}
	for i, u := range used {
		if !u {
			return fmt.Errorf("input %d (%s) is not used by the epilogue", i, inputName(op, i))
		}
	}
	return nil
}

// ParamShapes returns the shape each weight role of op must have, given
// its input types and attributes, when the weight is unpacked (Keras's
// own layout). Roles bound to packed weights are checked by Verify against
// PackedShape.
func ParamShapes(op *Op) map[string][]int {
	a := &op.Attrs
	switch op.Kind {
	case Conv2D:
		cin := op.Inputs[0].Type.C() / a.G()
		return map[string][]int{"kernel": {a.Kernel[0], a.Kernel[1], cin, a.Filters}, "bias": {a.Filters}, "m": {a.Filters}}
	case BatchNorm:
		c := []int{op.Inputs[0].Type.C()}
		return map[string][]int{"gamma": c, "beta": c, "moving_mean": c, "moving_variance": c}
	case Affine:
		c := []int{op.Inputs[0].Type.C()}
		return map[string][]int{"scale": c, "shift": c}
	case Dense, Head:
		cin := op.Inputs[0].Type.C()
		return map[string][]int{"kernel": {cin, a.Units}, "bias": {a.Units}}
	}
	return nil
}

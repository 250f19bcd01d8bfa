package dsl

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/rnc-dev/rnc/ir"
)

// required marks a builtin parameter without a default.
type requiredT struct{}

var required = requiredT{}

type bparam struct {
	name string
	def  any
}

// builtin is a layer or helper function. Layer builtins take the input
// tensor first, then Keras's arguments with Keras's defaults.
type builtin struct {
	params []bparam
	// variadic collects all positional arguments into the first parameter
	// (Add([a, b]) and Add(a, b) both work).
	variadic bool
	// pure builtins have no effect but their value: a call of one whose
	// value is unused is an error (unused.go).
	pure bool
	fn   func(e *expander, c *callExpr, a *args) (any, error)
	// doc is the one-line meaning `rnc help builtins` prints.
	doc string
}

var builtins map[string]*builtin

func init() {
	x := bparam{"x", required}
	name := bparam{"name", none{}}
	pool := []bparam{x, {"pool_size", int64(2)}, {"strides", none{}}, {"padding", "valid"}, name}
	builtins = map[string]*builtin{
		"Input": {params: []bparam{{"shape", required}, name, {"preprocessing", none{}}, {"mean", none{}}, {"std", none{}}, {"resize", none{}}, {"layout", "nhwc"}}, fn: bInput,
			doc: `the model's input: images of shape [height, width, channels] (or vectors, [features]), Keras's Input; preprocessing ("tf", "caffe", "torch", "raw", or "meanstd" with mean and std: three numbers each, R, G, B, on the 0..1 scale) declares how images become inputs; resize = R makes Preprocess resize as torchvision's evaluation transform does, Resize(R) (the shorter side to R pixels, PIL's bilinear) then CenterCrop to [height, width], instead of Keras's nearest-neighbour resize straight to [height, width]; layout "nchw" makes the compiled model read its images channels first, as PyTorch's tensors (the shape stays [height, width, channels])`},
		"Conv2D": {params: []bparam{x, {"filters", required}, {"kernel_size", required}, {"strides", int64(1)},
			{"padding", "valid"}, {"use_bias", true}, {"activation", none{}}, {"dilation_rate", int64(1)}, {"groups", int64(1)}, name}, fn: bConv2D,
			doc: `2-D convolution, Keras's Conv2D (activation: "relu", "sigmoid" or "linear"; dilation_rate: an int or [dh, dw]; groups: channel groups, each output group reading its input group only, as Keras's and PyTorch's groups)`},
		"Conv2d": {params: []bparam{x, {"out_channels", required}, {"kernel_size", required}, {"stride", int64(1)}, {"padding", int64(0)},
			{"dilation", int64(1)}, {"groups", int64(1)}, {"bias", true}, name}, fn: bTorchConv2d,
			doc: `2-D convolution, PyTorch's Conv2d: zero padding of padding (an int or [ph, pw]) on both sides of each dimension, groups, bias (no activation)`},
		"MaxPool2d": {params: []bparam{x, {"kernel_size", required}, {"stride", none{}}, {"padding", int64(0)}, name}, fn: bTorchMaxPool2d,
			doc: "maximum of every kernel_size window, PyTorch's MaxPool2d: stride defaults to kernel_size; padded cells are −∞ (never the maximum), padding at most half the window"},
		"BatchNorm2d": {params: []bparam{x, {"eps", 1e-5}, {"momentum", 0.1}, name}, fn: bTorchBatchNorm2d,
			doc: "batch normalization of the channels by the running mean and variance (inference), PyTorch's BatchNorm2d (eps 1e-5)"},
		"AdaptiveAvgPool2d": {params: []bparam{x, {"output_size", int64(1)}, name}, fn: bTorchAdaptiveAvgPool2d,
			doc: "mean over height and width, PyTorch's AdaptiveAvgPool2d(1) followed by flatten: a vector of the channels (output_size 1 only)"},
		"Linear": {params: []bparam{x, {"out_features", required}, {"bias", true}, name}, fn: bTorchLinear,
			doc: "fully connected layer of a vector, PyTorch's Linear (no activation)"},
		"BatchNormalization": {params: []bparam{x, {"axis", int64(-1)}, {"momentum", 0.99}, {"epsilon", 1e-3}, name}, fn: bBatchNorm,
			doc: "batch normalization of the channels by the moving mean and variance (inference), Keras's BatchNormalization"},
		"Activation": {params: []bparam{x, {"activation", required}, name}, fn: bActivation,
			doc: `"relu", "sigmoid", "softmax" (over the channels) or "linear" of every element, Keras's Activation`},
		"ZeroPadding2D": {params: []bparam{x, {"padding", int64(1)}, name}, fn: bZeroPad,
			doc: "zeros around the map: padding is an int, [pad_h, pad_w] or [[top, bottom], [left, right]], Keras's ZeroPadding2D"},
		"MaxPooling2D": {params: pool, fn: bPool(ir.MaxPool),
			doc: "maximum of every pool_size window (strides default to pool_size), Keras's MaxPooling2D"},
		"AveragePooling2D": {params: pool, fn: bPool(ir.AvgPool),
			doc: "mean of every pool_size window (strides default to pool_size), Keras's AveragePooling2D"},
		"GlobalAveragePooling2D": {params: []bparam{x, name}, fn: bSimple(ir.GlobalAvgPool),
			doc: "mean over height and width: a vector of the channels, Keras's GlobalAveragePooling2D"},
		"GlobalMaxPooling2D": {params: []bparam{x, name}, fn: bSimple(ir.GlobalMaxPool),
			doc: "maximum over height and width: a vector of the channels, Keras's GlobalMaxPooling2D"},
		"Flatten": {params: []bparam{x, name}, fn: bSimple(ir.Flatten),
			doc: "the map as a vector, in (height, width, channels) order, Keras's Flatten"},
		"Add": {params: []bparam{{"inputs", required}, name}, variadic: true, fn: bMerge(ir.Add),
			doc: "sum of two or more tensors of one shape, Add([a, b]) or Add(a, b), Keras's Add"},
		"Multiply": {params: []bparam{{"inputs", required}, name}, variadic: true, fn: bMerge(ir.Multiply),
			doc: "product of two or more tensors of one shape, Multiply([a, b]) or Multiply(a, b), Keras's Multiply"},
		"Dense": {params: []bparam{x, {"units", required}, {"activation", none{}}, {"use_bias", true}, name}, fn: bDense,
			doc: "fully connected layer of a vector (or of every pixel of a map), Keras's Dense"},
		"Dropout": {params: []bparam{x, {"rate", required}, name}, fn: bDropout,
			doc: "the identity at inference, Keras's Dropout"},
		"Rescaling": {params: []bparam{x, {"scale", required}, {"offset", 0.0}, name}, fn: bRescaling,
			doc: "x * scale + offset, with constants, Keras's Rescaling"},
		"Model": {params: []bparam{{"inputs", required}, {"outputs", required}, {"name", "model"}}, pure: true, fn: bModel,
			doc: "a model's inputs, outputs and name, for the model declaration to return, Keras's Model"},
		"str": {params: []bparam{{"value", required}}, pure: true, fn: bStr,
			doc: "the text of an int, float, bool or string"},
		"len": {params: []bparam{{"value", required}}, pure: true, fn: bLen,
			doc: "the length of a list or a string"},
		"int": {params: []bparam{{"value", required}}, pure: true, fn: bInt,
			doc: "a number or a bool as an int (a float is truncated toward zero)"},
		"float": {params: []bparam{{"value", required}}, pure: true, fn: bFloat,
			doc: "a number as a float"},
		"min": {params: []bparam{{"values", required}}, variadic: true, pure: true, fn: bMinMax(-1),
			doc: "the smallest of numbers, min(a, b, ...) or min(list)"},
		"max": {params: []bparam{{"values", required}}, variadic: true, pure: true, fn: bMinMax(1),
			doc: "the largest of numbers, max(a, b, ...) or max(list)"},
		"error": {params: []bparam{{"message", required}}, fn: bError,
			doc: "stops the expansion with the message, at the call, with the chain of macro calls that led there"},
	}
}

// BuiltinNames lists the builtins, sorted.
func BuiltinNames() []string {
	var n []string
	for k := range builtins {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// BuiltinHelp documents the builtins, sorted by name, one a line: the
// signature with the defaults, then the meaning (`rnc help builtins`).
func BuiltinHelp() string {
	var b strings.Builder
	for _, n := range BuiltinNames() {
		b.WriteString(signature(n) + "  " + builtins[n].doc + "\n")
	}
	return b.String()
}

// signature is a builtin's parameters with their defaults, as a call.
func signature(name string) string {
	var ps []string
	for _, p := range builtins[name].params {
		if p.def == required {
			ps = append(ps, p.name)
		} else {
			ps = append(ps, p.name+" = "+show(p.def))
		}
	}
	return name + "(" + strings.Join(ps, ", ") + ")"
}

// args are a builtin call's bound arguments.
type args struct {
	e    *expander
	call *callExpr
	name string // the builtin
	v    map[string]any
	pos  map[string]srcPos
}

func (e *expander) callBuiltin(c *callExpr, b *builtin, env map[string]any) (any, error) {
	a := &args{e: e, call: c, name: c.name, v: map[string]any{}, pos: map[string]srcPos{}}
	known := map[string]bool{}
	for _, p := range b.params {
		known[p.name] = true
	}
	var rest []any
	npos := 0
	for _, arg := range c.args {
		v, err := e.eval(arg.value, env)
		if err != nil {
			return nil, err
		}
		name := arg.name
		if name == "" {
			if b.variadic {
				if len(a.v) > 0 {
					return nil, e.errorf(arg.pos, "%s: positional argument after a named one", c.name)
				}
				rest = append(rest, v)
				continue
			}
			if npos >= len(b.params) {
				return nil, e.errorf(arg.pos, "too many arguments to %s: it takes %d", c.name, len(b.params))
			}
			name = b.params[npos].name
			npos++
		} else if !known[name] {
			var names []string
			for _, p := range b.params {
				names = append(names, p.name)
			}
			return nil, e.errorf(arg.pos, "%s has no parameter %q (it has: %s)", c.name, name, strings.Join(names, ", "))
		}
		if _, dup := a.v[name]; dup {
			return nil, e.errorf(arg.pos, "argument %q of %s given twice", name, c.name)
		}
		a.v[name], a.pos[name] = v, arg.pos
	}
	if b.variadic && len(rest) > 0 {
		first := b.params[0].name
		if _, dup := a.v[first]; dup {
			return nil, e.errorf(c.pos, "argument %q of %s given twice", first, c.name)
		}
		if l, ok := rest[0].([]any); ok && len(rest) == 1 {
			a.v[first] = l
		} else {
			a.v[first] = rest
		}
		a.pos[first] = c.args[0].pos
	}
	for _, p := range b.params {
		if _, ok := a.v[p.name]; ok {
			continue
		}
		if p.def == required {
			return nil, e.errorf(c.pos, "missing argument %q in call of %s", p.name, c.name)
		}
		a.v[p.name], a.pos[p.name] = p.def, c.pos
	}
	return b.fn(e, c, a)
}

func (a *args) errorf(param, format string, args ...any) error {
	return a.e.errorf(a.pos[param], "%s: %s", a.name, fmt.Sprintf(format, args...))
}

func (a *args) wrongType(param, want string) error {
	v := a.v[param]
	return a.errorf(param, "%s must be %s, got %s %s", param, want, typeName(v), show(v))
}

func (a *args) int(param string) (int, error) {
	n, ok := a.v[param].(int64)
	if !ok {
		return 0, a.wrongType(param, "an int")
	}
	if n > math.MaxInt32 || n < math.MinInt32 {
		return 0, a.errorf(param, "%s = %d is out of range", param, n)
	}
	return int(n), nil
}

func (a *args) float(param string) (float64, error) {
	f, ok := number(a.v[param])
	if !ok {
		return 0, a.wrongType(param, "a number")
	}
	return f, nil
}

func (a *args) bool(param string) (bool, error) {
	b, ok := a.v[param].(bool)
	if !ok {
		return false, a.wrongType(param, "a bool")
	}
	return b, nil
}

func (a *args) str(param string) (string, error) {
	s, ok := a.v[param].(string)
	if !ok {
		return "", a.wrongType(param, "a string")
	}
	return s, nil
}

func (a *args) isNone(param string) bool {
	_, ok := a.v[param].(none)
	return ok
}

func (a *args) tensor(param string) (*ir.Value, error) {
	t, ok := a.v[param].(*ir.Value)
	if !ok {
		return nil, a.wrongType(param, "a tensor")
	}
	return t, nil
}

// pair reads an int or a list of two ints (kernel_size, strides, pool_size).
func (a *args) pair(param string) ([2]int, error) {
	switch v := a.v[param].(type) {
	case int64:
		n, err := a.int(param)
		return [2]int{n, n}, err
	case []any:
		if len(v) == 2 {
			x, ok1 := v[0].(int64)
			y, ok2 := v[1].(int64)
			if ok1 && ok2 && x <= math.MaxInt32 && y <= math.MaxInt32 && x >= math.MinInt32 && y >= math.MinInt32 {
				return [2]int{int(x), int(y)}, nil
			}
		}
	}
	return [2]int{}, a.wrongType(param, "an int or a list of two ints")
}

// padding reads 'valid' or 'same'.
func (a *args) padding() (bool, error) {
	s, err := a.str("padding")
	if err != nil {
		return false, err
	}
	switch s {
	case "valid":
		return false, nil
	case "same":
		return true, nil
	}
	return false, a.errorf("padding", "padding must be 'valid' or 'same', got %q", s)
}

// samePads computes TensorFlow's 'same' padding (the extra pixel goes to
// the bottom and right).
func samePads(h, w int, k, s [2]int) [4]int {
	pad := func(n, k, s int) (int, int) {
		if s < 1 {
			return 0, 0
		}
		out := (n + s - 1) / s
		total := max((out-1)*s+k-n, 0)
		return total / 2, total - total/2
	}
	var p [4]int
	p[0], p[1] = pad(h, k[0], s[0])
	p[2], p[3] = pad(w, k[1], s[1])
	return p
}

var snake1 = regexp.MustCompile(`(.)([A-Z][a-z0-9]+)`)
var snake2 = regexp.MustCompile(`([a-z])([A-Z])`)

// snakeCase is Keras's generic_utils.to_snake_case.
func snakeCase(s string) string {
	s = snake1.ReplaceAllString(s, "${1}_${2}")
	return strings.ToLower(snake2.ReplaceAllString(s, "${1}_${2}"))
}

// layerName returns the layer's name argument, or Keras's automatic name
// for its class.
func (e *expander) layerName(a *args, class string) (string, error) {
	if !a.isNone("name") {
		n, err := a.str("name")
		if err != nil {
			return "", err
		}
		if !ir.ValidName.MatchString(n) {
			return "", a.errorf("name", "invalid layer name %q: use letters, digits, '_', '.' and '-'", n)
		}
		return n, nil
	}
	base := snakeCase(class)
	if class == "InputLayer" {
		e.counters["input"]++
		return "input_" + strconv.Itoa(e.counters["input"]), nil
	}
	n := e.counters[base]
	e.counters[base]++
	if n == 0 {
		return base, nil
	}
	return base + "_" + strconv.Itoa(n), nil
}

// layer creates one Keras layer.
func (e *expander) layer(a *args, kind ir.Kind, inputs []*ir.Value, attrs ir.Attrs, withBias bool, out *ir.Type) (*ir.Value, error) {
	class := kind.Info().Keras
	name, err := e.layerName(a, class)
	if err != nil {
		return nil, err
	}
	if prev, dup := e.names[name]; dup {
		return nil, e.errorf(a.call.pos, "%s: duplicate layer name %q (first used at %s)", a.name, name, posString(prev))
	}
	if len(e.g.Ops) >= maxLayers {
		return nil, e.errorf(a.call.pos, "layer budget exceeded: the model has more than %d layers", maxLayers)
	}
	op := &ir.Op{Kind: kind, Names: []string{name}, Inputs: inputs, Attrs: attrs, Pos: posString(a.call.pos)}
	if out != nil {
		op.Outputs = []*ir.Value{{Type: *out}}
	}
	if err := e.g.AddLayer(op, withBias); err != nil {
		return nil, e.errorf(a.call.pos, "%s %s: %v", a.name, name, err)
	}
	for _, v := range op.Outputs {
		if !fits(v.Type.Dims) {
			return nil, e.errorf(a.call.pos, "%s %s: shape budget exceeded: the output %s holds more than %d elements", a.name, name, v.Type.KerasShape(), maxElements)
		}
	}
	for _, p := range op.Kind.Info().Params {
		if w := op.Params[p.Role]; w != nil && !fits(w.Shape) {
			return nil, e.errorf(a.call.pos, "%s %s: shape budget exceeded: the %s %v holds more than %d elements", a.name, name, p.Role, w.Shape, maxElements)
		}
	}
	e.names[name] = a.call.pos
	return op.Out(), nil
}

// fits reports whether a tensor of these dimensions holds at most
// maxElements elements (per image), computed without overflow.
func fits(dims []int) bool {
	n := 1
	for _, d := range dims {
		if d < 0 || d > maxElements {
			return false
		}
		if n *= d; n > maxElements {
			return false
		}
	}
	return true
}

// bInput is Keras's Input(shape, name), with the image's pixel convention:
//
//	Input(shape = [224, 224, 3], preprocessing = "tf")
//	Input(shape = [32, 32, 3], preprocessing = "meanstd", mean = [0.49, 0.48, 0.45], std = [0.25, 0.24, 0.26])
//
// preprocessing is one of "raw" (the 0..255 values as they are), "tf"
// (x/127.5 − 1), "caffe" (BGR, minus ImageNet's mean pixel), "torch"
// ((x/255 − ImageNet's mean) / ImageNet's std, RGB) — the modes of Keras's
// imagenet_utils.preprocess_input — or "meanstd": (x/255 − mean) / std
// per R, G, B channel with the model's own mean and std (three numbers
// each, on the 0..1 scale: torchvision's Normalize). ir/preprocess.go
// defines them. It is omitted (none) when the model declares no convention;
// the generated package's Preprocess then returns an error. resize = R
// replaces Keras's nearest-neighbour resize to [height, width] with
// torchvision's evaluation transform: Resize(R), CenterCrop([height, width]).
func bInput(e *expander, c *callExpr, a *args) (any, error) {
	l, ok := a.v["shape"].([]any)
	if !ok || (len(l) != 3 && len(l) != 1) {
		return nil, a.wrongType("shape", "a list [height, width, channels] (or [features])")
	}
	dims := make([]int, len(l))
	for i, d := range l {
		n, ok := d.(int64)
		if !ok || n < 1 || n > 1<<20 {
			return nil, a.errorf("shape", "shape must hold positive ints, got %s", show(a.v["shape"]))
		}
		dims[i] = int(n)
	}
	lay := ir.NHWC
	if len(dims) == 1 {
		lay = ir.NC
	}
	prep, err := a.preprocessing(len(dims) == 3)
	if err != nil {
		return nil, err
	}
	switch layout, _ := a.v["layout"].(string); {
	case layout == "nchw" && len(dims) == 3:
		prep.NCHW = true
	case layout == "nchw":
		return nil, a.errorf("layout", `layout = "nchw" needs an image input, shape [height, width, channels]`)
	case layout != "nhwc":
		return nil, a.errorf("layout", `layout must be "nhwc" or "nchw", got %s`, show(a.v["layout"]))
	}
	if !a.isNone("resize") {
		r, ok := a.v["resize"].(int64)
		switch {
		case !ok:
			return nil, a.wrongType("resize", "an int: the shorter side's length before the center crop")
		case prep.Mode == "":
			return nil, a.errorf("resize", "resize goes with a preprocessing mode (preprocessing = \"torch\", ...)")
		case r < 1 || r > ir.MaxResize:
			return nil, a.errorf("resize", "resize must be 1 to %d, got %d", ir.MaxResize, r)
		}
		prep.Resize = int(r)
	}
	t := ir.Type{DType: ir.F32, Dims: dims, Layout: lay}
	return e.layer(a, ir.Input, nil, ir.Attrs{Prep: prep}, false, &t)
}

// preprocessing reads Input's preprocessing, mean and std.
func (a *args) preprocessing(image bool) (ir.Preprocessing, error) {
	var p ir.Preprocessing
	if a.isNone("preprocessing") {
		for _, k := range []string{"mean", "std"} {
			if !a.isNone(k) {
				return p, a.errorf(k, "%s goes with preprocessing = %q", k, ir.PrepMeanStd)
			}
		}
		return p, nil
	}
	mode, ok := a.v["preprocessing"].(string)
	if !ok || !ir.ValidPrepMode(mode) {
		return p, a.errorf("preprocessing", "preprocessing must be one of %s, got %s %s", quoteList(ir.PrepModes), typeName(a.v["preprocessing"]), show(a.v["preprocessing"]))
	}
	if !image {
		return p, a.errorf("preprocessing", "preprocessing = %q needs an image input, shape [height, width, channels]", mode)
	}
	p.Mode = mode
	if mode != ir.PrepMeanStd {
		for _, k := range []string{"mean", "std"} {
			if !a.isNone(k) {
				return p, a.errorf(k, "%s goes with preprocessing = %q, not %q", k, ir.PrepMeanStd, mode)
			}
		}
		return p, nil
	}
	for _, k := range []string{"mean", "std"} {
		if a.isNone(k) {
			return p, a.errorf("preprocessing", "preprocessing = %q needs mean and std: three numbers each, for R, G and B, on the 0..1 scale", mode)
		}
		dst := &p.Mean
		if k == "std" {
			dst = &p.Std
		}
		l, ok := a.v[k].([]any)
		if !ok || len(l) != 3 {
			return p, a.wrongType(k, "a list of three numbers (R, G, B)")
		}
		for i, v := range l {
			f, ok := number(v)
			if !ok {
				return p, a.wrongType(k, "a list of three numbers (R, G, B)")
			}
			dst[i] = f
		}
	}
	if err := p.Check(); err != nil {
		param := "mean"
		if pe, ok := err.(*ir.PrepError); ok {
			param = pe.Field
		}
		return p, a.errorf(param, "%v", err)
	}
	return p, nil
}

// quoteList prints ["a", "b"] as "a", "b".
func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func bConv2D(e *expander, c *callExpr, a *args) (any, error) {
	x, err := a.tensor("x")
	if err != nil {
		return nil, err
	}
	filters, err := a.int("filters")
	if err != nil {
		return nil, err
	}
	k, err := a.pair("kernel_size")
	if err != nil {
		return nil, err
	}
	s, err := a.pair("strides")
	if err != nil {
		return nil, err
	}
	same, err := a.padding()
	if err != nil {
		return nil, err
	}
	bias, err := a.bool("use_bias")
	if err != nil {
		return nil, err
	}
	act, err := activationName(a, "activation")
	if err != nil {
		return nil, err
	}
	d, err := a.pair("dilation_rate")
	if err != nil {
		return nil, err
	}
	if d[0] < 1 || d[1] < 1 {
		return nil, a.errorf("dilation_rate", "dilation_rate must be positive, got %s", show(a.v["dilation_rate"]))
	}
	attrs := ir.Attrs{Filters: filters, Kernel: k, Strides: s}
	if d != [2]int{1, 1} {
		attrs.Dilation = d
	}
	groups, err := a.int("groups")
	if err != nil {
		return nil, err
	}
	if groups < 1 {
		return nil, a.errorf("groups", "groups must be positive, got %d", groups)
	}
	if groups > 1 {
		attrs.Groups = groups
	}
	// Keras applies the activation inside the layer: one layer, one op,
	// the activation its epilogue.
	if act == ir.Softmax {
		return nil, a.errorf("activation", `activation "softmax" is not supported on a convolution; apply Activation(y, "softmax") to its output`)
	}
	attrs.Epi = ir.ActivationSteps(act)
	if same && len(x.Type.Dims) == 3 {
		// TensorFlow's 'same' padding for the window the dilated kernel spans
		span := [2]int{(k[0]-1)*d[0] + 1, (k[1]-1)*d[1] + 1}
		attrs.Pad = samePads(x.Type.H(), x.Type.W(), span, s)
	}
	return e.layer(a, ir.Conv2D, []*ir.Value{x}, attrs, bias, nil)
}

func bBatchNorm(e *expander, c *callExpr, a *args) (any, error) {
	x, err := a.tensor("x")
	if err != nil {
		return nil, err
	}
	axis, err := a.int("axis")
	if err != nil {
		return nil, err
	}
	if axis != -1 && axis != len(x.Type.Dims) {
		return nil, a.errorf("axis", "only the channel axis (-1) is supported, got %d", axis)
	}
	if _, err := a.float("momentum"); err != nil {
		return nil, err
	}
	eps, err := a.float("epsilon")
	if err != nil {
		return nil, err
	}
	return e.layer(a, ir.BatchNorm, []*ir.Value{x}, ir.Attrs{Eps: eps}, false, nil)
}

// PyTorch's layers (torch.nn), beside Keras's where their semantics
// differ: symmetric padding inside the conv, −∞ padding of a max pool.

func bTorchConv2d(e *expander, c *callExpr, a *args) (any, error) {
	x, err := a.tensor("x")
	if err != nil {
		return nil, err
	}
	out, err := a.int("out_channels")
	if err != nil {
		return nil, err
	}
	k, err := a.pair("kernel_size")
	if err != nil {
		return nil, err
	}
	s, err := a.pair("stride")
	if err != nil {
		return nil, err
	}
	p, err := a.pair("padding")
	if err != nil {
		return nil, err
	}
	d, err := a.pair("dilation")
	if err != nil {
		return nil, err
	}
	if d[0] < 1 || d[1] < 1 {
		return nil, a.errorf("dilation", "dilation must be positive, got %s", show(a.v["dilation"]))
	}
	if p[0] < 0 || p[1] < 0 {
		return nil, a.errorf("padding", "padding must not be negative, got %s", show(a.v["padding"]))
	}
	groups, err := a.int("groups")
	if err != nil {
		return nil, err
	}
	if groups < 1 {
		return nil, a.errorf("groups", "groups must be positive, got %d", groups)
	}
	bias, err := a.bool("bias")
	if err != nil {
		return nil, err
	}
	attrs := ir.Attrs{Filters: out, Kernel: k, Strides: s, Pad: [4]int{p[0], p[0], p[1], p[1]}}
	if d != [2]int{1, 1} {
		attrs.Dilation = d
	}
	if groups > 1 {
		attrs.Groups = groups
	}
	return e.layer(a, ir.Conv2D, []*ir.Value{x}, attrs, bias, nil)
}

func bTorchMaxPool2d(e *expander, c *callExpr, a *args) (any, error) {
	x, err := a.tensor("x")
	if err != nil {
		return nil, err
	}
	k, err := a.pair("kernel_size")
	if err != nil {
		return nil, err
	}
	s := k // PyTorch: stride defaults to kernel_size
	if !a.isNone("stride") {
		if s, err = a.pair("stride"); err != nil {
			return nil, err
		}
	}
	p, err := a.pair("padding")
	if err != nil {
		return nil, err
	}
	if p[0] < 0 || p[1] < 0 || 2*p[0] > k[0] || 2*p[1] > k[1] {
		return nil, a.errorf("padding", "padding must be between 0 and half the kernel (%dx%d), got %s", k[0], k[1], show(a.v["padding"]))
	}
	// Padded cells are ignored (PadZero false): the −∞ of PyTorch's max pool.
	return e.layer(a, ir.MaxPool, []*ir.Value{x}, ir.Attrs{Kernel: k, Strides: s, Pad: [4]int{p[0], p[0], p[1], p[1]}}, false, nil)
}

func bTorchBatchNorm2d(e *expander, c *callExpr, a *args) (any, error) {
	x, err := a.tensor("x")
	if err != nil {
		return nil, err
	}
	if _, err := a.float("momentum"); err != nil {
		return nil, err
	}
	eps, err := a.float("eps")
	if err != nil {
		return nil, err
	}
	return e.layer(a, ir.BatchNorm, []*ir.Value{x}, ir.Attrs{Eps: eps}, false, nil)
}

func bTorchAdaptiveAvgPool2d(e *expander, c *callExpr, a *args) (any, error) {
	x, err := a.tensor("x")
	if err != nil {
		return nil, err
	}
	if n, err := a.int("output_size"); err != nil {
		return nil, err
	} else if n != 1 {
		return nil, a.errorf("output_size", "only output_size 1 (global average pooling) is supported, got %d", n)
	}
	return e.layer(a, ir.GlobalAvgPool, []*ir.Value{x}, ir.Attrs{}, false, nil)
}

func bTorchLinear(e *expander, c *callExpr, a *args) (any, error) {
	x, err := a.tensor("x")
	if err != nil {
		return nil, err
	}
	units, err := a.int("out_features")
	if err != nil {
		return nil, err
	}
	bias, err := a.bool("bias")
	if err != nil {
		return nil, err
	}
	return e.layer(a, ir.Dense, []*ir.Value{x}, ir.Attrs{Units: units}, bias, nil)
}

func activationName(a *args, param string) (string, error) {
	if a.isNone(param) {
		return "", nil
	}
	fn, err := a.str(param)
	if err != nil {
		return "", err
	}
	if !ir.ValidActivation(fn) {
		return "", a.errorf(param, "unknown activation %q (want 'relu', 'sigmoid', 'softmax' or 'linear')", fn)
	}
	return fn, nil
}

func bActivation(e *expander, c *callExpr, a *args) (any, error) {
	x, err := a.tensor("x")
	if err != nil {
		return nil, err
	}
	fn, err := activationName(a, "activation")
	if err != nil {
		return nil, err
	}
	if fn == "" {
		return nil, a.wrongType("activation", "a string")
	}
	return e.layer(a, ir.Activation, []*ir.Value{x}, ir.Attrs{Fn: fn}, false, nil)
}

func bZeroPad(e *expander, c *callExpr, a *args) (any, error) {
	x, err := a.tensor("x")
	if err != nil {
		return nil, err
	}
	var pad [4]int
	bad := a.wrongType("padding", "an int, [pad_h, pad_w] or [[top, bottom], [left, right]]")
	ints := func(l []any) ([]int, bool) {
		r := make([]int, len(l))
		for i, v := range l {
			n, ok := v.(int64)
			if !ok || n < 0 || n > 1<<20 {
				return nil, false
			}
			r[i] = int(n)
		}
		return r, true
	}
	switch v := a.v["padding"].(type) {
	case int64:
		if v < 0 || v > 1<<20 {
			return nil, a.errorf("padding", "padding must be a non-negative int, got %d", v)
		}
		pad = [4]int{int(v), int(v), int(v), int(v)}
	case []any:
		if len(v) != 2 {
			return nil, bad
		}
		if p, ok := ints(v); ok {
			pad = [4]int{p[0], p[0], p[1], p[1]}
			break
		}
		h, ok1 := v[0].([]any)
		w, ok2 := v[1].([]any)
		if !ok1 || !ok2 || len(h) != 2 || len(w) != 2 {
			return nil, bad
		}
		hp, ok1 := ints(h)
		wp, ok2 := ints(w)
		if !ok1 || !ok2 {
			return nil, bad
		}
		pad = [4]int{hp[0], hp[1], wp[0], wp[1]}
	default:
		return nil, bad
	}
	return e.layer(a, ir.ZeroPad, []*ir.Value{x}, ir.Attrs{Pad: pad}, false, nil)
}

func bPool(kind ir.Kind) func(e *expander, c *callExpr, a *args) (any, error) {
	return func(e *expander, c *callExpr, a *args) (any, error) {
		x, err := a.tensor("x")
		if err != nil {
			return nil, err
		}
		k, err := a.pair("pool_size")
		if err != nil {
			return nil, err
		}
		s := k // Keras: strides default to pool_size
		if !a.isNone("strides") {
			if s, err = a.pair("strides"); err != nil {
				return nil, err
			}
		}
		same, err := a.padding()
		if err != nil {
			return nil, err
		}
		attrs := ir.Attrs{Kernel: k, Strides: s}
		if same && len(x.Type.Dims) == 3 {
			attrs.Pad = samePads(x.Type.H(), x.Type.W(), k, s)
		}
		return e.layer(a, kind, []*ir.Value{x}, attrs, false, nil)
	}
}

func bSimple(kind ir.Kind) func(e *expander, c *callExpr, a *args) (any, error) {
	return func(e *expander, c *callExpr, a *args) (any, error) {
		x, err := a.tensor("x")
		if err != nil {
			return nil, err
		}
		return e.layer(a, kind, []*ir.Value{x}, ir.Attrs{}, false, nil)
	}
}

func bMerge(kind ir.Kind) func(e *expander, c *callExpr, a *args) (any, error) {
	return func(e *expander, c *callExpr, a *args) (any, error) {
		l, ok := a.v["inputs"].([]any)
		if !ok {
			return nil, a.wrongType("inputs", "a list of tensors")
		}
		if len(l) < 2 {
			return nil, a.errorf("inputs", "%s needs at least 2 inputs, got %d", a.name, len(l))
		}
		if err := e.work(c.pos, len(l)); err != nil {
			return nil, err
		}
		var ins []*ir.Value
		for _, v := range l {
			t, ok := v.(*ir.Value)
			if !ok {
				return nil, a.errorf("inputs", "inputs must be tensors, got %s %s", typeName(v), show(v))
			}
			ins = append(ins, t)
		}
		return e.layer(a, kind, ins, ir.Attrs{}, false, nil)
	}
}

func bDense(e *expander, c *callExpr, a *args) (any, error) {
	x, err := a.tensor("x")
	if err != nil {
		return nil, err
	}
	units, err := a.int("units")
	if err != nil {
		return nil, err
	}
	act, err := activationName(a, "activation")
	if err != nil {
		return nil, err
	}
	if act == ir.Linear {
		act = ""
	}
	bias, err := a.bool("use_bias")
	if err != nil {
		return nil, err
	}
	return e.layer(a, ir.Dense, []*ir.Value{x}, ir.Attrs{Units: units, Act: act}, bias, nil)
}

func bDropout(e *expander, c *callExpr, a *args) (any, error) {
	x, err := a.tensor("x")
	if err != nil {
		return nil, err
	}
	rate, err := a.float("rate")
	if err != nil {
		return nil, err
	}
	return e.layer(a, ir.Dropout, []*ir.Value{x}, ir.Attrs{Rate: rate}, false, nil)
}

func tensors(a *args, param string) ([]*ir.Value, error) {
	switch v := a.v[param].(type) {
	case *ir.Value:
		return []*ir.Value{v}, nil
	case []any:
		if err := a.e.work(a.pos[param], len(v)); err != nil {
			return nil, err
		}
		var ts []*ir.Value
		for _, x := range v {
			t, ok := x.(*ir.Value)
			if !ok {
				return nil, a.wrongType(param, "a tensor or a list of tensors")
			}
			ts = append(ts, t)
		}
		if len(ts) > 0 {
			return ts, nil
		}
	}
	return nil, a.wrongType(param, "a tensor or a list of tensors")
}

func bModel(e *expander, c *callExpr, a *args) (any, error) {
	ins, err := tensors(a, "inputs")
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		if in.Def.Kind != ir.Input {
			return nil, a.errorf("inputs", "inputs must come from Input, but %s is a %s", in.Def.Name(), in.Def.Kind)
		}
	}
	outs, err := tensors(a, "outputs")
	if err != nil {
		return nil, err
	}
	name, err := a.str("name")
	if err != nil {
		return nil, err
	}
	return &modelValue{inputs: ins, outputs: outs, name: name}, nil
}

func bStr(e *expander, c *callExpr, a *args) (any, error) {
	switch v := a.v["value"].(type) {
	case string:
		return v, nil
	case int64, float64, bool:
		s := show(v)
		return s, e.built(c.pos, s)
	}
	return nil, a.wrongType("value", "an int, float, bool or string")
}

// bError stops the expansion with the message, at the call's position
// and with the macro call chain, like every other error: a macro library's
// way of rejecting an argument it does not support.
func bError(e *expander, c *callExpr, a *args) (any, error) {
	msg, ok := a.v["message"].(string)
	if !ok {
		return nil, a.wrongType("message", "a string")
	}
	return nil, e.errorf(c.pos, "%s", msg)
}

func bLen(e *expander, c *callExpr, a *args) (any, error) {
	switch v := a.v["value"].(type) {
	case string:
		return int64(len(v)), nil
	case []any:
		return int64(len(v)), nil
	}
	return nil, a.wrongType("value", "a list or a string")
}

func bInt(e *expander, c *callExpr, a *args) (any, error) {
	switch v := a.v["value"].(type) {
	case int64:
		return v, nil
	case float64:
		if math.IsNaN(v) || v >= math.MaxInt64 || v <= math.MinInt64 {
			return nil, a.errorf("value", "%v does not fit an int", v)
		}
		return int64(v), nil
	case bool:
		if v {
			return int64(1), nil
		}
		return int64(0), nil
	}
	return nil, a.wrongType("value", "a number or a bool")
}

func bFloat(e *expander, c *callExpr, a *args) (any, error) {
	f, ok := number(a.v["value"])
	if !ok {
		return nil, a.wrongType("value", "a number")
	}
	return f, nil
}

func bMinMax(sign int) func(e *expander, c *callExpr, a *args) (any, error) {
	return func(e *expander, c *callExpr, a *args) (any, error) {
		l, ok := a.v["values"].([]any)
		if !ok || len(l) == 0 {
			return nil, a.wrongType("values", "numbers")
		}
		if err := e.work(c.pos, len(l)); err != nil {
			return nil, err
		}
		best := l[0]
		bf, ok := number(best)
		if !ok {
			return nil, a.wrongType("values", "numbers")
		}
		for _, v := range l[1:] {
			f, ok := number(v)
			if !ok {
				return nil, a.errorf("values", "values must be numbers, got %s %s", typeName(v), show(v))
			}
			if (sign < 0 && f < bf) || (sign > 0 && f > bf) {
				best, bf = v, f
			}
		}
		return best, nil
	}
}

func bRescaling(e *expander, c *callExpr, a *args) (any, error) {
	x, err := a.tensor("x")
	if err != nil {
		return nil, err
	}
	scale, err := a.float("scale")
	if err != nil {
		return nil, err
	}
	offset, err := a.float("offset")
	if err != nil {
		return nil, err
	}
	return e.layer(a, ir.Rescale, []*ir.Value{x}, ir.Attrs{Scale: scale, Offset: offset}, false, nil)
}

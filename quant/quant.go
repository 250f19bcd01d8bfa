// Package quant is rnc's int8 post-training quantization: it calibrates a lowered graph on float32 images with the interpreter, chooses activation scales and zero points and per-channel weight scales, measures the error of int8 inference layer by layer, and writes the quantized weight file (docs/int8.md).
package quant

import (
	"fmt"
	"math"
	"sort"

	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
)

// Method is how a tensor's range is chosen from what calibration saw.
type Method string

const (
	// MinMax covers every value seen: nothing is clipped, and one outlier
	// widens every step.
	MinMax Method = "minmax"
	// Percentile covers the values seen from their (100 − P)th to their
	// P-th percentile (P = Options.Percentile): the top 100 − P percent are
	// clipped, and as many at the bottom of a tensor with negative values
	// (the grid holds 0 whatever the range).
	Percentile Method = "percentile"
)

// DefaultMethod and DefaultPercentile are what rnc quantize uses unless
// told otherwise; docs/int8.md gives the measurements behind the choice.
const (
	DefaultMethod     = Percentile
	DefaultPercentile = 99.999
)

// ParseMethod checks a method name.
func ParseMethod(s string) (Method, error) {
	switch m := Method(s); m {
	case MinMax, Percentile:
		return m, nil
	}
	return "", fmt.Errorf("unknown calibration method %q (want minmax or percentile)", s)
}

// Options configure a calibration.
type Options struct {
	Method     Method  // "" is DefaultMethod
	Percentile float64 // for Percentile, in (0, 100]; 0 is DefaultPercentile
	// MemoryBytes bounds what one interpreter run may hold (0: 1 GiB); the
	// images run in batches that fit, and a model one image of which does
	// not fit is an error.
	MemoryBytes int64
}

func (o *Options) fill() error {
	if o.Method == "" {
		o.Method = DefaultMethod
	}
	if _, err := ParseMethod(string(o.Method)); err != nil {
		return err
	}
	if o.Percentile == 0 {
		o.Percentile = DefaultPercentile
	}
	if !(o.Percentile > 50 && o.Percentile <= 100) {
		return fmt.Errorf("percentile %v: want a number in (50, 100] (the range runs from the (100 − P)th to the P-th percentile)", o.Percentile)
	}
	if o.MemoryBytes <= 0 {
		o.MemoryBytes = 1 << 30
	}
	return nil
}

// Result is a calibrated, quantized model: one Layer per op of the lowered
// graph but its Input, in graph order.
type Result struct {
	Graph   *ir.Graph
	Options Options
	Layers  []*Layer
	Images  int // calibration images
	// Measured counts the images Measure ran (the calibration images, for
	// Calibrate's result); OutputSQNR is the SQNR in dB of the graph's
	// output on them, fake-quantized run against float32, and Agree counts
	// those whose top-1 class is the same in both.
	Measured   int
	OutputSQNR float64
	Agree      int

	it   *interp.Interp // the float32 model
	fit  *interp.Interp // the fake-quantized model
	orig map[*ir.Op]*ir.Op
	per  int   // values per image
	mem  int64 // Options.MemoryBytes
}

// Layer is one op of the lowered graph and what quantization made of it.
type Layer struct {
	Name string // LayerName(Op): the prefix of its tensors' names
	Op   *ir.Op
	// Int8 says whether the op computes in int8; if not, Why says why it
	// stays float32 (it still reads and writes quantized tensors).
	Int8    bool
	Why     string
	Outputs []*Tensor
	// Kernel is the op's kernel after batch-norm folding, in its logical
	// layout (HWIO for a Conv2D, [in, out] for a Dense or Head), and Bias
	// its bias in real units (zeros when it has none): set for every op
	// with a kernel. An int8 op also has the kernel quantized per output
	// channel (KernelQ, KernelScale).
	Kernel      []float32
	KernelShape []int
	Bias        []float32
	KernelQ     []int8
	KernelScale []float32
	// Floats are the op's other float32 weights by their names in the
	// file (LayerName/role, LayerName/epi<i>_scale, ...), in Order.
	Floats map[string][]float32
	Shapes map[string][]int
	Order  []string
}

// Tensor is one output value of an op.
type Tensor struct {
	Value *ir.Value
	Index int // the op's output index
	// Quantized says whether the value is uint8 in the int8 model: an
	// input, epilogue operand or output of an int8 conv (passes.PlanInt8).
	Quantized bool
	Stats     *Stats
	Lo, Hi    float64 // the range the parameters were chosen for
	Params    Params  // when Quantized
	// Signal and Noise are Σx² and Σ(x − x̂)² over the images measured
	// (Measure), x̂ the value in the fake-quantized run.
	Signal, Noise float64
}

// Classifies reports whether the graph's output is a vector of class
// scores, of which Agree counts the top-1 (a model without its classifier
// outputs feature maps).
func (r *Result) Classifies() bool { return len(r.Graph.Outputs[0].Type.Dims) == 1 }

// SQNR is 10·log10(Signal/Noise) in dB: +Inf when the fake-quantized run
// gave the float32 values exactly.
func (t *Tensor) SQNR() float64 { return sqnr(t.Signal, t.Noise) }

func sqnr(signal, noise float64) float64 {
	if noise == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(signal/noise)
}

// LayerName is the name an op's tensors are stored under: the Keras layer
// whose kernel it applies for an op with one (a Conv2D with the batch norm
// and activation fused into it is its Conv2D's layer,
// "conv2_block1_2_conv"), else the last Keras layer it implements (the one
// whose output it computes).
func LayerName(op *ir.Op) string { return passes.LayerName(op) }

// Pipeline is the pass configuration of the graph Calibrate takes: the
// int8 pipeline (nChw16c layouts, no Winograd) up to fuse, so that its ops
// are the ones passes.Quantize rewrites when rnc compile --precision int8
// compiles the same model.
func Pipeline(model string) passes.Config {
	return passes.Config{Target: passes.AVX512, Precision: passes.Int8, Stop: "fuse", Model: model}
}

// Calibrate runs g — a graph after the pass pipeline, whose ops are the
// kernels an int8 package runs — in float32 on n images (NHWC float32,
// consecutive) with the interpreter, observing every op output; chooses
// the quantization parameters of every quantized tensor and the int8
// kernels; then measures the result on the same images (Measure).
func Calibrate(g *ir.Graph, file *runtime.Weights, images []float32, n int, opt Options) (*Result, error) {
	if err := opt.fill(); err != nil {
		return nil, err
	}
	ins := g.Inputs()
	if len(ins) != 1 || len(g.Outputs) != 1 {
		return nil, fmt.Errorf("quantize: the model has %d inputs and %d outputs, want 1 and 1", len(ins), len(g.Outputs))
	}
	it, err := interp.New(g, file)
	if err != nil {
		return nil, err
	}
	r := &Result{Graph: g, Options: opt, Images: n, it: it, per: logicalSize(ins[0].Type), mem: opt.MemoryBytes}
	if err := r.checkImages(images, n); err != nil {
		return nil, err
	}
	if need := r.imageBytes(); need > opt.MemoryBytes {
		return nil, fmt.Errorf("quantize: one image needs %d bytes of activations and their copies, more than the limit of %d", need, opt.MemoryBytes)
	}
	if err := r.plan(); err != nil {
		return nil, err
	}
	tensors := r.tensors()
	batch := r.batch(n)
	for i0 := 0; i0 < n; i0 += batch {
		k := min(batch, n-i0)
		var oerr error
		_, err := it.RunObserved(images[i0*r.per:(i0+k)*r.per], k, func(op *ir.Op, outs [][]float32) {
			for i, v := range outs {
				t := tensors[op.Outputs[i]]
				if t == nil || oerr != nil {
					continue
				}
				if err := t.Stats.Add(v); err != nil {
					oerr = fmt.Errorf("quantize: %s output %d on calibration images %d..%d: %w", op.Name(), i, i0, i0+k-1, err)
				}
			}
		})
		if err == nil {
			err = oerr
		}
		if err != nil {
			return nil, err
		}
	}
	r.choose()
	if err := r.checkZeroPoints(); err != nil {
		return nil, err
	}
	if err := r.weights(file); err != nil {
		return nil, err
	}
	fg, ffile, err := r.fakeGraph(file)
	if err != nil {
		return nil, err
	}
	if r.fit, err = interp.New(fg, ffile); err != nil {
		return nil, fmt.Errorf("quantize: the fake-quantized model: %w", err)
	}
	r.orig = map[*ir.Op]*ir.Op{}
	for i, op := range fg.Ops {
		r.orig[op] = g.Ops[i]
	}
	if err := r.Measure(images, n); err != nil {
		return nil, err
	}
	return r, nil
}

// fakeRun runs the fake-quantized model on k images: every quantized
// tensor is rounded to its uint8 grid as its op produces it, so each op
// reads its inputs as an int8 kernel would; each sees every tensor's
// values as the ops that read it do.
func (r *Result) fakeRun(x []float32, k int, tensors map[*ir.Value]*Tensor, each func(t *Tensor, v []float32)) ([][]float32, error) {
	out, err := r.fit.RunObserved(x, k, func(fop *ir.Op, outs [][]float32) {
		op := r.orig[fop]
		for i, v := range outs {
			t := tensors[op.Outputs[i]]
			if t == nil {
				continue
			}
			if t.Quantized {
				t.Params.Fake(v)
			}
			each(t, v)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("quantize: the fake-quantized run: %w", err)
	}
	return out, nil
}

func (r *Result) checkImages(images []float32, n int) error {
	if n < 1 || len(images) != n*r.per {
		return fmt.Errorf("quantize: %d values are not %d images of %s", len(images), n, r.Graph.Inputs()[0].Type.KerasShape())
	}
	return nil
}

// Measure runs the fake-quantized model — int8 kernels dequantized, every
// quantized tensor rounded to its uint8 grid as it is produced, so that
// each op reads its inputs as an int8 kernel would — and the float32 one
// on n images, and sets every tensor's Signal and Noise, OutputSQNR,
// Agree and Measured from them (replacing an earlier measurement).
func (r *Result) Measure(images []float32, n int) error {
	if err := r.checkImages(images, n); err != nil {
		return err
	}
	tensors := r.tensors()
	for _, t := range tensors {
		t.Signal, t.Noise = 0, 0
	}
	r.Agree, r.Measured = 0, n
	per, batch := r.per, r.batch(n)
	classes := logicalSize(r.Graph.Outputs[0].Type)
	var outSig, outNoise float64
	for i0 := 0; i0 < n; i0 += batch {
		k := min(batch, n-i0)
		x := images[i0*per : (i0+k)*per]
		ref := map[*ir.Value][]float32{}
		want, err := r.it.RunObserved(x, k, func(op *ir.Op, outs [][]float32) {
			for i, v := range outs {
				if tensors[op.Outputs[i]] != nil {
					ref[op.Outputs[i]] = append([]float32(nil), v...)
				}
			}
		})
		if err != nil {
			return err
		}
		got, err := r.fakeRun(x, k, tensors, func(t *Tensor, v []float32) {
			s, e := sumSq(ref[t.Value], v)
			t.Signal += s
			t.Noise += e
		})
		if err != nil {
			return err
		}
		s, e := sumSq(want[0], got[0])
		outSig, outNoise = outSig+s, outNoise+e
		for j := 0; j < k && r.Classifies(); j++ {
			if argmax(want[0][j*classes:(j+1)*classes]) == argmax(got[0][j*classes:(j+1)*classes]) {
				r.Agree++
			}
		}
	}
	r.OutputSQNR = sqnr(outSig, outNoise)
	return nil
}

// plan makes the layers: which ops compute in int8 and which tensors are
// quantized (the conv rules that need the observed ranges come in
// choose).
func (r *Result) plan() error {
	g := r.Graph
	p := passes.PlanInt8(g)
	names := map[string]*ir.Op{}
	for _, op := range g.Ops {
		quantized := false
		for _, o := range op.Outputs {
			quantized = quantized || p.Values[o]
		}
		if op.Kind == ir.Input && !quantized {
			continue
		}
		l := &Layer{Name: LayerName(op), Op: op, Int8: p.Convs[op]}
		if prev := names[l.Name]; prev != nil {
			return fmt.Errorf("quantize: ops %s and %s would both be stored as %q", prev.Name(), op.Name(), l.Name)
		}
		names[l.Name] = op
		switch {
		case l.Int8:
		case op.Kind == ir.Conv2D:
			l.Why = p.Why[op]
		case op.Kind == ir.Dense || op.Kind == ir.Head:
			l.Why = "classifier"
		default:
			l.Why = "no int8 kernel"
		}
		for i, o := range op.Outputs {
			l.Outputs = append(l.Outputs, &Tensor{Value: o, Index: i, Quantized: p.Values[o], Stats: NewStats()})
		}
		r.Layers = append(r.Layers, l)
	}
	return nil
}

// tensors maps every op output to its Tensor.
func (r *Result) tensors() map[*ir.Value]*Tensor {
	m := map[*ir.Value]*Tensor{}
	for _, l := range r.Layers {
		for _, t := range l.Outputs {
			m[t.Value] = t
		}
	}
	return m
}

// inherits reports whether op's output holds only values of its first
// input (and zeros): it then keeps that input's parameters, so that an
// int8 kernel copies or compares bytes and never requantizes.
func inherits(op *ir.Op) bool {
	switch op.Kind {
	case ir.Reorder, ir.Flatten, ir.Dropout, ir.GlobalMaxPool:
		return true
	case ir.ZeroPad:
		return op.Attrs.PadValue == 0
	case ir.MaxPool:
		return len(op.Attrs.Epi) == 0
	}
	return false
}

// choose sets every quantized tensor's range and parameters, and keeps in
// float32 a conv whose input can be negative: an int8 conv's input has
// zero point 0 (runtime/abi/int8.go).
func (r *Result) choose() {
	tensors := r.tensors()
	for _, l := range r.Layers {
		for _, t := range l.Outputs {
			if !t.Quantized {
				continue
			}
			if in := tensors[l.Op.Inputs[0]]; in != nil && in.Quantized && inherits(l.Op) {
				t.Lo, t.Hi, t.Params = in.Lo, in.Hi, in.Params
				continue
			}
			t.Lo, t.Hi = t.Stats.Range(r.Options.Method, r.Options.Percentile)
			t.Params = ParamsFor(t.Lo, t.Hi)
		}
	}
}

// checkZeroPoints refuses an int8 conv whose input's zero point is not 0:
// passes.PlanInt8 chose only inputs that follow a ReLU, so calibration
// cannot have seen a negative value there.
func (r *Result) checkZeroPoints() error {
	tensors := r.tensors()
	for _, l := range r.Layers {
		if l.Int8 {
			if in := tensors[l.Op.Inputs[0]]; in == nil || in.Params.Zero != 0 {
				return fmt.Errorf("quantize: %s: its input is not a tensor of zero point 0 (%v): an internal error", l.Name, in)
			}
		}
	}
	return nil
}

// logical is the weight holding w's value in its logical layout (the
// argument of a packing).
func logical(w *ir.Weight) *ir.Weight {
	if w != nil && w.Op == ir.WPack && len(w.Args) == 1 {
		return w.Args[0]
	}
	return w
}

// weights evaluates the folded weights of every layer (interp.EvalWeights)
// and quantizes the int8 layers' kernels.
func (r *Result) weights(file *runtime.Weights) error {
	type ref struct {
		l    *Layer
		name string
		role string
	}
	var ws []*ir.Weight
	var refs []ref
	for _, l := range r.Layers {
		op := l.Op
		roles := make([]string, 0, len(op.Params))
		for role, w := range op.Params {
			if w != nil {
				roles = append(roles, role)
			}
		}
		sort.Strings(roles)
		for _, role := range roles {
			ws = append(ws, logical(op.Params[role]))
			refs = append(refs, ref{l, l.Name + "/" + role, role})
		}
		for i, st := range op.Attrs.Epi {
			for _, p := range []struct {
				w    *ir.Weight
				what string
			}{{st.Scale, "scale"}, {st.Shift, "shift"}} {
				if p.w != nil {
					ws = append(ws, logical(p.w))
					refs = append(refs, ref{l, passes.EpiWeightName(l.Name, i, p.what), ""})
				}
			}
		}
	}
	vals, err := interp.EvalWeights(r.Graph, file, ws)
	if err != nil {
		return err
	}
	for i, rf := range refs {
		l, w := rf.l, ws[i]
		switch rf.role {
		case "kernel":
			l.Kernel, l.KernelShape = vals[i], append([]int(nil), w.Shape...)
		case "bias":
			l.Bias = vals[i]
		default:
			if l.Floats == nil {
				l.Floats, l.Shapes = map[string][]float32{}, map[string][]int{}
			}
			l.Floats[rf.name], l.Shapes[rf.name] = vals[i], append([]int(nil), w.Shape...)
			l.Order = append(l.Order, rf.name)
		}
	}
	for _, l := range r.Layers {
		if l.Kernel == nil {
			continue
		}
		out := l.KernelShape[len(l.KernelShape)-1]
		if l.Bias == nil {
			l.Bias = make([]float32, out)
		}
		if len(l.Bias) != out {
			return fmt.Errorf("quantize: %s: bias of %d values for %d output channels", l.Name, len(l.Bias), out)
		}
		if l.Int8 {
			if l.KernelQ, l.KernelScale, err = QuantizeKernel(l.Kernel, out); err != nil {
				return fmt.Errorf("quantize: %s: %w", l.Name, err)
			}
		}
	}
	return nil
}

// fakeName is the file tensor that holds an int8 layer's dequantized
// kernel in the fake-quantized model.
func fakeName(l *Layer) string { return "$fakequant/" + l.Name + "/kernel" }

// fakeGraph returns a copy of the graph whose int8 layers read their
// dequantized kernels, and the weights it runs with (the file's tensors
// and those kernels).
func (r *Result) fakeGraph(file *runtime.Weights) (*ir.Graph, *runtime.Weights, error) {
	fg := r.Graph.Clone()
	fw := runtime.NewWeights()
	for _, name := range file.Order {
		t := file.Tensors[name]
		d, err := file.Data(name)
		if err != nil {
			return nil, nil, err
		}
		if err := fw.Add(name, t.Shape, d); err != nil {
			return nil, nil, err
		}
	}
	index := map[*ir.Op]int{}
	for i, op := range r.Graph.Ops {
		index[op] = i
	}
	for _, l := range r.Layers {
		if !l.Int8 || l.KernelQ == nil {
			continue
		}
		op := fg.Ops[index[l.Op]] // Clone keeps the order
		w, err := fg.Weights.Load(fakeName(l), l.KernelShape)
		if err != nil {
			return nil, nil, fmt.Errorf("quantize: %s: %w", l.Name, err)
		}
		op.Params["kernel"] = w
		if err := fw.Add(w.Name, l.KernelShape, DequantKernel(l.KernelQ, l.KernelScale)); err != nil {
			return nil, nil, err
		}
	}
	return fg, fw, nil
}

// batch is how many images one interpreter run takes: as many as fit in
// Options.MemoryBytes with the run's activations (ImageBytes) and the
// copies of every output Measure keeps, at least one.
func (r *Result) batch(n int) int {
	return int(max(1, min(int64(n), r.mem/max(r.imageBytes(), 1))))
}

// imageBytes is about what one image costs a run of Measure.
func (r *Result) imageBytes() int64 {
	var values int64
	for _, op := range r.Graph.Ops {
		for _, o := range op.Outputs {
			values = ir.AddSat(values, ir.MulSat(4, int64(logicalSize(o.Type))))
		}
	}
	// The fake-quantized model's activations are the same.
	return ir.AddSat(r.it.ImageBytes(), ir.MulSat(2, values))
}

func logicalSize(t ir.Type) int {
	k := 1
	for _, d := range t.Dims {
		k *= d
	}
	return k
}

// sumSq returns Σx² and Σ(x − y)².
func sumSq(x, y []float32) (sig, noise float64) {
	for i, a := range x {
		d := float64(a) - float64(y[i])
		sig += float64(a) * float64(a)
		noise += d * d
	}
	return sig, noise
}

// argmax is the index of the first largest value.
func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

package quant

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/abi"
)

// golden returns tinyv2 lowered for avx512, its golden weights and its two
// golden input images.
func golden(t *testing.T) (*ir.Graph, *runtime.Weights, []float32) {
	t.Helper()
	g, err := dsl.Load(filepath.Join("..", "models", "tinyv2.rn"), dsl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := passes.Run(g, Pipeline("")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "testdata", "golden")
	w, err := runtime.ReadSafetensorsFile(filepath.Join(dir, "tinyv2.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "tinyv2_input_b2_seed2.f32"))
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, len(b)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return g, w, x
}

// TestCalibrateTinyv2: one layer per op but the input, named after its
// conv's layer; the stem and the classifier stay float32, every other conv
// is int8 with its kernel quantized; every post-ReLU output has zero point
// 0; the dual-output convs have two quantized outputs; the graph's output
// stays float32; and the fake-quantized model stays close to float32.
func TestCalibrateTinyv2(t *testing.T) {
	g, w, x := golden(t)
	for _, opt := range []Options{{Method: MinMax}, {Method: Percentile, Percentile: 99.99}, {}} {
		r, err := Calibrate(g, w, x, 2, opt)
		if err != nil {
			t.Fatal(err)
		}
		m := fmt.Sprint(r.Options.Method, r.Options.Percentile)
		if len(r.Layers) != len(g.Ops)-1 {
			t.Fatalf("%s: %d layers for %d ops", m, len(r.Layers), len(g.Ops))
		}
		var names []string
		dual := 0
		for _, l := range r.Layers {
			names = append(names, l.Name)
			switch {
			case l.Name == "conv1_conv":
				if l.Int8 || !strings.Contains(l.Why, "stem") || l.KernelQ != nil || len(l.Kernel) != 3*3*3*16 {
					t.Errorf("%s: the stem: int8 %v (%s), %d int8 weights, %d float32", m, l.Int8, l.Why, len(l.KernelQ), len(l.Kernel))
				}
			case l.Op.Kind == ir.Head:
				if l.Int8 || l.Why != "classifier" || l.Outputs[0].Quantized {
					t.Errorf("%s: the head: int8 %v (%s), output quantized %v", m, l.Int8, l.Why, l.Outputs[0].Quantized)
				}
			case l.Op.Kind == ir.Conv2D:
				if !l.Int8 || len(l.KernelQ) != len(l.Kernel) || len(l.KernelScale) != l.Op.Attrs.Filters || len(l.Bias) != l.Op.Attrs.Filters {
					t.Errorf("%s: %s: int8 %v (%s), %d int8 weights, %d scales", m, l.Name, l.Int8, l.Why, len(l.KernelQ), len(l.KernelScale))
				}
			}
			if len(l.Outputs) == 2 {
				dual++
			}
			for _, o := range l.Outputs {
				if l.Op.Kind == ir.Head {
					continue
				}
				if !o.Quantized {
					t.Errorf("%s: %s output %d is not quantized", m, l.Name, o.Index)
				}
				epi := l.Op.Attrs.Epi
				relu := len(epi) > 0 && epi[len(epi)-1].Kind == ir.StepRelu && o.Index == len(l.Outputs)-1
				if relu && (o.Stats.Min < 0 || o.Params.Zero != 0) {
					t.Errorf("%s: %s output %d follows a ReLU: min %g, zero point %d", m, l.Name, o.Index, o.Stats.Min, o.Params.Zero)
				}
				if !relu && o.Stats.Min < 0 && o.Params.Dequant(uint8(o.Params.Zero)) != 0 {
					t.Errorf("%s: %s output %d: 0 is not exact", m, l.Name, o.Index)
				}
				if s := o.SQNR(); !(s > 25) {
					t.Errorf("%s: %s output %d: SQNR %.1f dB", m, l.Name, o.Index, s)
				}
			}
		}
		want := []string{"conv1_conv", "conv2_block1_0_conv", "conv2_block1_1_conv", "conv2_block1_2_conv", "conv2_block1_3_conv",
			"conv2_block2_1_conv", "conv2_block2_2_conv", "conv2_block2_3_conv", "conv3_block1_0_conv", "conv3_block1_1_conv",
			"conv3_block1_2_conv", "conv3_block1_3_conv", "conv3_block2_1_conv", "conv3_block2_2_conv", "conv3_block2_3_conv", "predictions"}
		if !slices.Equal(names, want) {
			t.Errorf("%s: layers %q\nwant %q", m, names, want)
		}
		if dual != 2 {
			t.Errorf("%s: %d dual-output layers, want 2", m, dual)
		}
		// Measured on the two golden images: minmax 42.1 dB, percentile
		// 99.99 42.6 dB, 99.999 42.1 dB (on 2 images a tensor has at most
		// 2·32·32·32 values: 0.001% of them is less than one, so the
		// default is min/max here), the same top-1.
		if r.OutputSQNR < 38 || r.Agree != 2 || r.Measured != 2 {
			t.Errorf("%s: output SQNR %.1f dB, top-1 agreement %d/%d", m, r.OutputSQNR, r.Agree, r.Measured)
		}
	}
}

// TestFakeQuantIsInt8: the fake-quantized run is an honest simulation of
// int8 inference. For every int8 conv whose epilogue is a ReLU or nothing,
// the uint8 outputs of the fake-quantized run equal, but for float
// rounding at the half-way points, what the integer arithmetic of
// runtime/abi computes from the uint8 inputs of that run and the int8
// kernel: acc = Σ q_x·q_w in int32, AccReal(acc, s_x·s_w, b), ReLU,
// QuantizeU8.
func TestFakeQuantIsInt8(t *testing.T) {
	g, w, x := golden(t)
	r, err := Calibrate(g, w, x, 2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tensors := r.tensors()
	got := map[*ir.Value][]float32{} // the fake-quantized run's values
	if _, err := r.fakeRun(x, 2, tensors, func(t *Tensor, v []float32) { got[t.Value] = slices.Clone(v) }); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, l := range r.Layers {
		op := l.Op
		epi := op.Attrs.Epi
		if !l.Int8 || op.Kind != ir.Conv2D || len(op.Inputs) != 1 || len(epi) > 1 || (len(epi) == 1 && epi[0].Kind != ir.StepRelu) {
			continue
		}
		in, out := tensors[op.Inputs[0]], l.Outputs[0]
		xt, ot := op.Inputs[0].Type, op.Out().Type
		H, W, C := xt.H(), xt.W(), xt.C()
		OH, OW, F := ot.H(), ot.W(), ot.C()
		a := op.Attrs
		if in.Params.Zero != 0 {
			t.Fatalf("%s: input zero point %d", l.Name, in.Params.Zero)
		}
		xin, xout := got[in.Value], got[out.Value]
		off, total := 0, 0
		for b := 0; b < 2; b++ {
			for oh := 0; oh < OH; oh++ {
				for ow := 0; ow < OW; ow++ {
					for f := 0; f < F; f++ {
						var acc int32
						for dh := 0; dh < a.Kernel[0]; dh++ {
							for dw := 0; dw < a.Kernel[1]; dw++ {
								ih, iw := oh*a.Strides[0]-a.Pad[0]+dh, ow*a.Strides[1]-a.Pad[2]+dw
								if ih < 0 || ih >= H || iw < 0 || iw >= W {
									continue // padding: q = 0, the zero point
								}
								for c := 0; c < C; c++ {
									qx := in.Params.Quantize(xin[((b*H+ih)*W+iw)*C+c])
									qw := l.KernelQ[((dh*a.Kernel[1]+dw)*C+c)*F+f]
									acc += int32(qx) * int32(qw)
								}
							}
						}
						v := abi.AccReal(acc, in.Params.Scale*l.KernelScale[f], l.Bias[f])
						if len(epi) == 1 {
							v = max(v, 0)
						}
						want := abi.QuantizeU8(v, out.Params.Inv(), out.Params.Zero)
						have := out.Params.Quantize(xout[((b*OH+oh)*OW+ow)*F+f])
						total++
						switch d := int(want) - int(have); {
						case d == 0:
						case d == 1 || d == -1:
							off++
						default:
							t.Fatalf("%s: image %d (%d,%d,%d): integer %d, fake-quantized %d", l.Name, b, oh, ow, f, want, have)
						}
					}
				}
			}
		}
		t.Logf("%s: %d of %d outputs differ by one step", l.Name, off, total)
		if off*1000 > total {
			t.Errorf("%s: %d of %d outputs differ by one step", l.Name, off, total)
		}
		checked++
	}
	if checked < 6 {
		t.Errorf("checked %d layers, want the 6 of tinyv2 with a single ReLU", checked)
	}
}

// TestWeightsFile: the quantized file holds, under the documented names,
// each int8 layer's I8 kernel (its logical shape), F32 scales and bias, a
// float32 layer's F32 kernel and bias, every epilogue weight, and each
// quantized output's scale and U8 zero point; it survives the safetensors
// writer and reader.
func TestWeightsFile(t *testing.T) {
	g, w, x := golden(t)
	r, err := Calibrate(g, w, x, 2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := r.Weights()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := runtime.WriteSafetensors(&buf, ws); err != nil {
		t.Fatal(err)
	}
	back, err := runtime.ParseSafetensors(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // name → dtype and shape
	spec := func(name string, d abi.DType, shape ...int) { want[name] = fmt.Sprint(d, shape) }
	for _, op := range g.Ops {
		if op.Kind == ir.Input {
			continue
		}
		name := LayerName(op)
		switch op.Kind {
		case ir.Conv2D:
			k := []int{op.Attrs.Kernel[0], op.Attrs.Kernel[1], op.Inputs[0].Type.C(), op.Attrs.Filters}
			if name == "conv1_conv" {
				spec(name+"/kernel", abi.F32, k...)
			} else {
				spec(name+"/kernel_q", abi.S8, k...)
				spec(name+"/kernel_scale", abi.F32, op.Attrs.Filters)
			}
			spec(name+"/bias", abi.F32, op.Attrs.Filters)
			for i, st := range op.Attrs.Epi {
				if st.Kind == ir.StepAffine {
					spec(name+fmt.Sprintf("/epi%d_scale", i), abi.F32, op.Attrs.Filters)
					spec(name+fmt.Sprintf("/epi%d_shift", i), abi.F32, op.Attrs.Filters)
				}
			}
			for i := range op.Outputs {
				spec(OutScaleName(name, i), abi.F32, 1)
				spec(OutZeroName(name, i), abi.U8, 1)
			}
		case ir.Head:
			spec(name+"/kernel", abi.F32, op.Inputs[0].Type.C(), op.Attrs.Units)
			spec(name+"/bias", abi.F32, op.Attrs.Units)
		default:
			t.Fatalf("tinyv2 lowered has a %s", op.Kind)
		}
	}
	got := map[string]string{}
	for _, name := range back.Order {
		tn := back.Tensors[name]
		got[name] = fmt.Sprint(tn.DType, tn.Shape)
	}
	for name, s := range want {
		if got[name] != s {
			t.Errorf("%s: %q, want %q", name, got[name], s)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected tensor %s", name)
		}
	}
	// The values are the result's.
	for _, l := range r.Layers {
		if l.Int8 && l.KernelQ != nil {
			if q, err := back.Int8(KernelQName(l.Name)); err != nil || !slices.Equal(q, l.KernelQ) {
				t.Errorf("%s: kernel %v", l.Name, err)
			}
		}
		for _, o := range l.Outputs {
			if !o.Quantized {
				continue
			}
			s, err1 := back.Data(OutScaleName(l.Name, o.Index))
			z, err2 := back.Uint8(OutZeroName(l.Name, o.Index))
			if err1 != nil || err2 != nil || s[0] != o.Params.Scale || int32(z[0]) != o.Params.Zero {
				t.Errorf("%s output %d: scale %v zero %v (%v, %v), want %v", l.Name, o.Index, s, z, err1, err2, o.Params)
			}
		}
	}
	md := back.Metadata
	if md["format"] != Format || md["format_version"] != FormatVersion || md["method"] != "percentile" || md["percentile"] != "99.999" ||
		md["float32_layers"] != "conv1_conv,predictions" || md["calibration_images"] != "2" || md["top1_agreement"] != "2/2" {
		t.Errorf("metadata %v", md)
	}
}

// TestCalibrateErrors: bad options, a wrong number of values, weights
// that do not fit and non-finite activations are errors that say what is
// wrong.
func TestCalibrateErrors(t *testing.T) {
	g, w, x := golden(t)
	nan := slices.Clone(x)
	nan[5] = float32(math.NaN())
	other := runtime.NewWeights()
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"method", func() error { _, err := Calibrate(g, w, x, 2, Options{Method: "kl"}); return err }, `unknown calibration method "kl"`},
		{"percentile", func() error { _, err := Calibrate(g, w, x, 2, Options{Percentile: 101}); return err }, "percentile 101: want a number in (50, 100]"},
		{"count", func() error { _, err := Calibrate(g, w, x[:100], 2, Options{}); return err }, "100 values are not 2 images of (None, 32, 32, 3)"},
		{"weights", func() error { _, err := Calibrate(g, other, x, 2, Options{}); return err }, `missing tensor "conv1_conv/kernel"`},
		{"memory", func() error { _, err := Calibrate(g, w, x, 2, Options{MemoryBytes: 1 << 20}); return err }, "quantize: one image needs"},
		{"NaN", func() error { _, err := Calibrate(g, w, nan, 2, Options{}); return err }, "conv1_pad+conv1_conv+conv2_block1_preact_bn+conv2_block1_preact_relu output 0 on calibration images 0..1: non-finite value NaN"},
	} {
		if err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestNoClassifier: a model without its classifier outputs a feature map,
// which stays float32; there is no top-1 to agree on, and the table and
// the file say nothing of one.
func TestNoClassifier(t *testing.T) {
	g, err := dsl.Load(filepath.Join("..", "models", "tinyv2.rn"), dsl.Options{Set: map[string]string{"include_top": "false"}})
	if err != nil {
		t.Fatal(err)
	}
	w := interp.RandomWeights(g, 1)
	if err := passes.Run(g, Pipeline("")); err != nil {
		t.Fatal(err)
	}
	_, _, x := golden(t)
	r, err := Calibrate(g, w, x, 2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	last := r.Layers[len(r.Layers)-1]
	var lastConv *Layer
	for _, l := range r.Layers {
		if l.Op.Kind == ir.Conv2D {
			lastConv = l
		}
	}
	if r.Classifies() || last.Outputs[0].Quantized || !lastConv.Int8 {
		t.Errorf("classifies %v; the last layer %s: output quantized %v; the last conv %s: int8 %v", r.Classifies(), last.Name, last.Outputs[0].Quantized, lastConv.Name, lastConv.Int8)
	}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "top-1") || !strings.Contains(b.String(), "output SQNR") {
		t.Errorf("table:\n%s", b.String())
	}
	ws, err := r.Weights()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ws.Metadata["top1_agreement"]; ok || ws.Tensors[OutScaleName(last.Name, 0)] != nil {
		t.Errorf("metadata %v; %s has an output scale", ws.Metadata, last.Name)
	}
}

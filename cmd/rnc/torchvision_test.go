package main

import (
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
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/abi"
	"github.com/rnc-dev/rnc/runtime/npy"
)

// torchvisionModels are models/torchvision's models with the parameter
// count PyTorch gives (sum of p.numel() over model.parameters(),
// torchvision 0.14.1: BN running statistics are buffers, not parameters)
// and the BN that closes each block's residual branch (the fixture
// generator's one block-dependent choice, as in tools/pytorch/reference.py).
var torchvisionModels = []struct {
	name    string
	params  int64
	closing string
}{
	{"resnet18", 11689512, "bn2"},
	{"resnet34", 21797672, "bn2"},
	{"resnet50", 25557032, "bn3"},
	{"resnet101", 44549160, "bn3"},
	{"resnet152", 60192808, "bn3"},
	{"wide_resnet50_2", 68883240, "bn3"},
	{"wide_resnet101_2", 126886696, "bn3"},
	{"resnext50_32x4d", 25028904, "bn3"},
	{"resnext101_32x8d", 88791336, "bn3"},
	{"resnext101_64x4d", 83455272, "bn3"},
}

// TestTorchvisionParams: each model's trainable parameter count, as rnc
// summary prints it, is PyTorch's.
func TestTorchvisionParams(t *testing.T) {
	for _, m := range torchvisionModels {
		g, err := dsl.Load(path("models/torchvision/"+m.name+".rn"), dsl.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := ir.Count(g).Trainable; got != m.params {
			t.Errorf("%s: %d trainable parameters, PyTorch has %d", m.name, got, m.params)
		}
		if g.Name != m.name {
			t.Errorf("%s: model name %q", m.name, g.Name)
		}
	}
	out, err := rnc(t, "summary", path("models/torchvision/resnet50.rn"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "\nTrainable params: 25,557,032\n") {
		t.Errorf("rnc summary resnet50 ends:\n%s", out[max(0, len(out)-300):])
	}
}

// TestTorchvisionLibraryErrors: what the library cannot build (grouped
// convolution: ResNeXt; BasicBlock with another width; a block name it
// does not know) is an error naming it, not a wrong network.
func TestTorchvisionLibraryErrors(t *testing.T) {
	for _, c := range []struct{ call, want string }{
		{`resnet([64, 64, 3], "basic", [2, 2, 2, 2], width_per_group = 128)`, "BasicBlock only supports groups=1 and base_width=64"},
		{`resnet([64, 64, 3], "basicblock", [2, 2, 2, 2])`, `block must be "basic" or "bottleneck", got "basicblock"`},
		{`resnet([64, 64, 3], "basic", [2, 2, 2])`, "layers must list 4 block counts, got 3"},
	} {
		file := path("models/torchvision/bad.rn")
		src := "import \"lib/torchvision.rn\"\nmodel bad() {\n    return " + c.call + "\n}\n"
		_, err := dsl.Load(file, dsl.Options{ReadFile: func(p string) ([]byte, error) {
			if p == file {
				return []byte(src), nil
			}
			return os.ReadFile(p)
		}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.call, err, c.want)
		}
	}
}

// tvGolden is the generator of tools/pytorch/reference.py's weights (its
// doc comment has the recipe).
const tvGolden = 0x9E3779B97F4A7C15

// tvValues are the values of state_dict tensor key, n elements in
// PyTorch's layout, uniform in [lo, hi].
func tvValues(key string, n int, seed uint64, lo, hi float64) []float32 {
	h := uint64(0xCBF29CE484222325)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 0x100000001B3
	}
	base := seed*tvGolden ^ h
	out := make([]float32, n)
	for k := range out {
		z := base + uint64(k+1)*tvGolden
		z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
		z = (z ^ z>>27) * 0x94D049BB133111EB
		z ^= z >> 31
		u := float64(z>>40) / (1 << 24)
		d := float64((hi - lo) * u) // the conversion keeps the product rounded: no fused multiply-add
		out[k] = float32(lo + d)
	}
	return out
}

// torchvisionWeights are tools/pytorch/reference.py's weights for g (a
// models/torchvision graph) under rnc's names and layouts: the PyTorch
// name mapping (A.weight OIHW -> A/kernel HWIO, BN weight, bias,
// running_mean, running_var -> gamma, beta, moving_mean, moving_variance,
// fc.weight -> fc/kernel transposed).
func torchvisionWeights(g *ir.Graph, closing string, seed uint64) (*runtime.Weights, error) {
	ws := runtime.NewWeights()
	for _, w := range g.Weights.Files() {
		layer, role, ok := strings.Cut(w.Name, "/")
		if !ok {
			return nil, fmt.Errorf("weight %q: no layer/param name", w.Name)
		}
		module := layer[strings.LastIndex(layer, ".")+1:]
		var data []float32
		switch {
		case role == "kernel" && len(w.Shape) == 4: // HWIO from OIHW
			kh, kw, ci, co := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
			b := math.Sqrt(6.0 / float64(ci*kh*kw))
			pt := tvValues(layer+".weight", kh*kw*ci*co, seed, -b, b)
			data = make([]float32, len(pt))
			for o := range co {
				for i := range ci {
					for y := range kh {
						for x := range kw {
							data[((y*kw+x)*ci+i)*co+o] = pt[((o*ci+i)*kh+y)*kw+x]
						}
					}
				}
			}
		case layer == "fc" && role == "kernel": // [in, out] from [out, in]
			in, out := w.Shape[0], w.Shape[1]
			b := 1 / math.Sqrt(float64(in))
			pt := tvValues("fc.weight", in*out, seed, -b, b)
			data = make([]float32, len(pt))
			for o := range out {
				for i := range in {
					data[i*out+o] = pt[o*in+i]
				}
			}
		case layer == "fc" && role == "bias":
			b := 1 / math.Sqrt(float64(g.Weights.Lookup("fc/kernel").Shape[0]))
			data = tvValues("fc.bias", w.Shape[0], seed, -b, b)
		case role == "gamma":
			lo, hi := 0.5, 1.5
			if module == closing {
				lo, hi = 0.1, 0.3
			}
			data = tvValues(layer+".weight", w.Shape[0], seed, lo, hi)
		case role == "beta":
			data = tvValues(layer+".bias", w.Shape[0], seed, -0.2, 0.2)
		case role == "moving_mean":
			data = tvValues(layer+".running_mean", w.Shape[0], seed, -0.2, 0.2)
		case role == "moving_variance":
			data = tvValues(layer+".running_var", w.Shape[0], seed, 0.5, 1.5)
		default:
			return nil, fmt.Errorf("weight %q %v: no PyTorch name", w.Name, w.Shape)
		}
		if err := ws.Add(w.Name, w.Shape, data); err != nil {
			return nil, err
		}
	}
	return ws, nil
}

// tvCompare checks logits got against torchvision's want: the largest
// difference within 1e-4 of the largest |logit|, the same top-1 per image.
func tvCompare(got, want []float32, classes int) (maxDiff, maxLogit float64, err error) {
	if len(got) != len(want) {
		return 0, 0, fmt.Errorf("%d logits, want %d", len(got), len(want))
	}
	for i := range want {
		maxDiff = max(maxDiff, math.Abs(float64(got[i]-want[i])))
		maxLogit = max(maxLogit, math.Abs(float64(want[i])))
	}
	if maxDiff > 1e-4*maxLogit {
		return maxDiff, maxLogit, fmt.Errorf("max |difference| %.3g, more than 1e-4 of the largest logit %.4g", maxDiff, maxLogit)
	}
	argmax := func(v []float32) int {
		best := 0
		for i := range v {
			if v[i] > v[best] {
				best = i
			}
		}
		return best
	}
	for n := 0; n < len(want)/classes; n++ {
		g, w := got[n*classes:(n+1)*classes], want[n*classes:(n+1)*classes]
		if argmax(g) != argmax(w) {
			return maxDiff, maxLogit, fmt.Errorf("image %d: top-1 %d, torchvision's %d", n, argmax(g), argmax(w))
		}
	}
	return maxDiff, maxLogit, nil
}

// tvFixture loads a model at the fixtures' input size, its weights, the
// input and torchvision's logits (testdata/torchvision, written by
// tools/pytorch/reference.py with its defaults: 64x64, batch 2, seed 1).
func tvFixture(t *testing.T, name, closing string) (g *ir.Graph, ws *runtime.Weights, input []float32, n int, want []float32) {
	t.Helper()
	g, err := dsl.Load(path("models/torchvision/"+name+".rn"), dsl.Options{Set: map[string]string{"input_shape": "[64, 64, 3]"}})
	if err != nil {
		t.Fatal(err)
	}
	ws, err = torchvisionWeights(g, closing, 1)
	if err != nil {
		t.Fatal(err)
	}
	input, shape, err := npy.Read(path("testdata/torchvision/input_64x64.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 4 || shape[1] != 64 || shape[2] != 64 || shape[3] != 3 {
		t.Fatalf("input shape %v", shape)
	}
	want, wshape, err := npy.Read(path("testdata/torchvision/" + name + ".logits.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if len(wshape) != 2 || wshape[0] != shape[0] || wshape[1] != 1000 {
		t.Fatalf("logits shape %v", wshape)
	}
	return g, ws, input, shape[0], want
}

// TestTorchvisionLogits: the reference interpreter, with the weights of
// tools/pytorch/reference.py (made again here by its generator), gives
// torchvision's logits for every model (64x64 inputs, batch 2): within
// 1e-4 of the largest logit, the same top-1. With -short, resnet18 and
// resnet50 only.
func TestTorchvisionLogits(t *testing.T) {
	for _, m := range torchvisionModels {
		if testing.Short() && m.name != "resnet18" && m.name != "resnet50" {
			continue
		}
		g, ws, input, n, want := tvFixture(t, m.name, m.closing)
		outs, err := interp.Eval(g, ws, input, n)
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		d, l, err := tvCompare(outs[0], want, 1000)
		if err != nil {
			t.Errorf("%s: %v", m.name, err)
		}
		t.Logf("%s: max |difference| %.3g, largest logit %.4g", m.name, d, l)
	}
}

// TestTorchvisionCompiled: resnet18 (BasicBlock), resnet50 (Bottleneck)
// and resnext50_32x4d (grouped 3x3 convs), compiled and run by rnc run on
// every target this CPU runs, give torchvision's logits. The models take
// NCHW images, as torchvision: the fixture's NHWC input is transposed,
// and resnet18 also runs with layout = "nhwc" on the NHWC input (the same
// logits: the layout is only how Predict reads its images).
func TestTorchvisionCompiled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds packages")
	}
	dir := t.TempDir()
	nhwc, shape, err := npy.Read(path("testdata/torchvision/input_64x64.npy"))
	if err != nil {
		t.Fatal(err)
	}
	n, h, w, c := shape[0], shape[1], shape[2], shape[3]
	nchw := make([]float32, len(nhwc))
	for i := 0; i < n; i++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				for ch := 0; ch < c; ch++ {
					nchw[((i*c+ch)*h+y)*w+x] = nhwc[((i*h+y)*w+x)*c+ch]
				}
			}
		}
	}
	nchwPath := filepath.Join(dir, "input_nchw.npy")
	if err := npy.Write(nchwPath, nchw, []int{n, c, h, w}); err != nil {
		t.Fatal(err)
	}
	for _, m := range torchvisionModels {
		if m.name != "resnet18" && m.name != "resnet50" && m.name != "resnext50_32x4d" {
			continue
		}
		_, ws, _, _, want := tvFixture(t, m.name, m.closing)
		wpath := filepath.Join(dir, m.name+".safetensors")
		if err := runtime.WriteSafetensorsFile(wpath, ws); err != nil {
			t.Fatal(err)
		}
		for _, target := range []string{"avx512", "avx2", "generic"} {
			tg, err := abi.Lookup(target)
			if err != nil {
				t.Fatal(err)
			}
			if miss := tg.Missing(); len(miss) > 0 {
				t.Logf("%s: this CPU lacks %v", target, miss)
				continue
			}
			runs := []struct{ layout, input string }{{"nchw", nchwPath}}
			if m.name == "resnet18" {
				runs = append(runs, struct{ layout, input string }{"nhwc", path("testdata/torchvision/input_64x64.npy")})
			}
			for _, r := range runs {
				outPath := filepath.Join(dir, m.name+"_"+target+"_"+r.layout+".npy")
				out, err := rnc(t, "run", path("models/torchvision/"+m.name+".rn"), "--set", "input_shape=[64,64,3]", "--set", "layout="+r.layout,
					"--weights", wpath, "--input", r.input, "--target", target, "--out", outPath)
				if err != nil {
					t.Fatalf("%s %s %s: %v\n%s", m.name, target, r.layout, err, out)
				}
				got, _, err := npy.Read(outPath)
				if err != nil {
					t.Fatal(err)
				}
				d, l, err := tvCompare(got, want, 1000)
				if err != nil {
					t.Errorf("%s %s %s: %v", m.name, target, r.layout, err)
				}
				t.Logf("%s %s %s: max |difference| %.3g, largest logit %.4g", m.name, target, r.layout, d, l)
			}
		}
	}
}

// TestTorchvisionCompile: every model of models/torchvision compiles at
// its default 224x224 input for every target.
func TestTorchvisionCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("generates seven packages")
	}
	for _, m := range torchvisionModels {
		out, err := rnc(t, "compile", path("models/torchvision/"+m.name+".rn"), "-o", filepath.Join(t.TempDir(), m.name), "--runtime", "import")
		if err != nil {
			t.Errorf("%s: %v\n%s", m.name, err, out)
		}
	}
}

// TestTorchvisionOptions: --set num_classes and classifier_activation =
// softmax: the outputs are the softmax of the same model's logits.
func TestTorchvisionOptions(t *testing.T) {
	input, shape, err := npy.Read(path("testdata/torchvision/input_64x64.npy"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(set map[string]string) []float32 {
		g, err := dsl.Load(path("models/torchvision/resnet18.rn"), dsl.Options{Set: set})
		if err != nil {
			t.Fatal(err)
		}
		ws, err := torchvisionWeights(g, "bn2", 1)
		if err != nil {
			t.Fatal(err)
		}
		outs, err := interp.Eval(g, ws, input, shape[0])
		if err != nil {
			t.Fatal(err)
		}
		return outs[0]
	}
	logits := run(map[string]string{"input_shape": "[64,64,3]", "num_classes": "10"})
	probs := run(map[string]string{"input_shape": "[64,64,3]", "num_classes": "10", "classifier_activation": "softmax"})
	if len(logits) != 2*10 || len(probs) != 2*10 {
		t.Fatalf("%d logits, %d probabilities, want 20", len(logits), len(probs))
	}
	for n := range 2 {
		l := logits[n*10 : n*10+10]
		m := float64(slices.Max(l))
		sum := 0.0
		for _, v := range l {
			sum += math.Exp(float64(v) - m)
		}
		for i, v := range l {
			want := math.Exp(float64(v)-m) / sum
			if d := math.Abs(float64(probs[n*10+i]) - want); d > 1e-6 {
				t.Errorf("image %d class %d: probability %v, softmax of the logits %v", n, i, probs[n*10+i], want)
			}
		}
	}
}

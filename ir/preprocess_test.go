package ir_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/ir"
)

// TestModelsDeclarePreprocessing: every model in models/ and
// models/variants/ declares its input convention: "tf" for the ResNetV2
// family (Keras's resnet_v2.preprocess_input), "caffe" for ResNet v1
// (Keras's resnet.preprocess_input), and the CIFAR networks the mean/std
// normalization of the paper's Torch code (models/lib/variants.rn); the IR
// text carries it and it survives the round trip.
func TestModelsDeclarePreprocessing(t *testing.T) {
	// The model language computes 125.3 / 255 in float64, as this does (a
	// Go constant expression would be exact, then rounded).
	div := func(v ...float64) (r [3]float64) {
		for i, x := range v {
			r[i] = x / 255
		}
		return r
	}
	cifar := ir.Preprocessing{Mode: ir.PrepMeanStd, Mean: div(125.3, 123.0, 113.9), Std: div(63.0, 62.1, 66.7)}
	want := map[string]ir.Preprocessing{
		"resnet50v2": {Mode: ir.PrepTF}, "resnet101v2": {Mode: ir.PrepTF}, "resnet152v2": {Mode: ir.PrepTF},
		"resnet200v2": {Mode: ir.PrepTF}, "tinyv2": {Mode: ir.PrepTF}, "stemv2": {Mode: ir.PrepTF},
		"resnet50": {Mode: ir.PrepCaffe}, "resnet101": {Mode: ir.PrepCaffe}, "resnet152": {Mode: ir.PrepCaffe},
		"tinyv1":  {Mode: ir.PrepCaffe},
		"example": {Mode: ir.PrepTF}, // README's example
		"dilated": {},                // a test model: no convention
	}
	files, err := filepath.Glob(filepath.Join("..", "models", "*.rn"))
	if err != nil {
		t.Fatal(err)
	}
	variants, err := filepath.Glob(filepath.Join("..", "models", "variants", "*.rn"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, variants...)
	if len(files) < 27 {
		t.Fatalf("found %d models", len(files))
	}
	for _, f := range files {
		rel, _ := filepath.Rel(filepath.Join("..", "models"), f)
		m := strings.TrimSuffix(filepath.ToSlash(rel), ".rn")
		w, ok := want[m]
		if !ok {
			if !strings.HasPrefix(m, "variants/") && !strings.HasPrefix(m, "resnet110") && !strings.HasPrefix(m, "resnet164") && !strings.HasPrefix(m, "resnet1001") {
				t.Errorf("%s: no expected convention: add the model to this test", m)
				continue
			}
			w = cifar
		}
		g := loadModel(t, m)
		if got := g.Inputs()[0].Def.Attrs.Prep; got != w {
			t.Errorf("%s: preprocessing %+v, want %+v", m, got, w)
		}
		h, err := ir.Parse(g.String())
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if got := h.Inputs()[0].Def.Attrs.Prep; got != w {
			t.Errorf("%s: parsed preprocessing %+v, want %+v", m, got, w)
		}
		if shown := strings.Contains(g.String(), " preprocess="); shown != (w.Mode != "") ||
			w.Mode != "" && !strings.Contains(g.String(), " preprocess="+w.Mode+" ") {
			t.Errorf("%s: the IR text does not show preprocess=%s (and only it)", m, w.Mode)
		}
	}
}

// TestPreprocessingText: the attribute's text form, its parse errors and
// what Verify refuses.
func TestPreprocessingText(t *testing.T) {
	const in = "  %0 input_1 = Input()"
	const tail = " : f32[N,8,8,3] nhwc\n"
	rest := "  %1 g = GlobalAveragePooling2D(%0) : f32[N,3] nc\n  return %1\nweights\n"
	prog := func(attrs string) string { return "model \"m\"\n" + in + attrs + tail + rest }
	ok := []struct {
		attrs string
		want  ir.Preprocessing
	}{
		{"", ir.Preprocessing{}},
		{" preprocess=caffe", ir.Preprocessing{Mode: ir.PrepCaffe}},
		{" preprocess=meanstd mean=0.5,0.25,1e-3 std=0.2,0.5,1", ir.Preprocessing{Mode: ir.PrepMeanStd, Mean: [3]float64{0.5, 0.25, 1e-3}, Std: [3]float64{0.2, 0.5, 1}}},
		{" preprocess=torch resize=256 layout=nchw", ir.Preprocessing{Mode: ir.PrepTorch, Resize: 256, NCHW: true}},
	}
	for _, c := range ok {
		g, err := ir.Parse(prog(c.attrs))
		if err != nil {
			t.Fatalf("%q: %v", c.attrs, err)
		}
		if err := ir.Verify(g); err != nil {
			t.Fatalf("%q: %v", c.attrs, err)
		}
		if got := g.Ops[0].Attrs.Prep; got != c.want {
			t.Errorf("%q: %+v, want %+v", c.attrs, got, c.want)
		}
		if got := g.String(); got != prog(strings.Replace(c.attrs, "1e-3", "0.001", 1)) {
			t.Errorf("%q: prints\n%s", c.attrs, got)
		}
	}
	parseErrs := []struct{ attrs, want string }{
		{" preprocess=TF", `Input: attribute preprocess: unknown preprocessing "TF"`},
		{" preprocess=meanstd mean=0.5,0.5 std=1,1,1", `Input: attribute mean: want 3 numbers separated by ",", got "0.5,0.5"`},
		{" preprocess=meanstd mean=0.5,x,0.5 std=1,1,1", `Input: attribute mean: bad number "x"`},
		{" preprocess=torch resize=0", `Input: attribute resize: resize "0": want an integer 1 to 65536`},
		{" preprocess=torch resize=65537", `resize "65537": want an integer 1 to 65536`},
	}
	for _, c := range parseErrs {
		_, err := ir.Parse(prog(c.attrs))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want it to contain %q", c.attrs, err, c.want)
		}
	}
	verifyErrs := []struct{ attrs, want string }{
		{" preprocess=tf std=1,1,1", `input_1 (Input): mean and std go with preprocessing "meanstd", not "tf"`},
		{" mean=1,1,1", `input_1 (Input): mean and std go with preprocessing "meanstd", and none is declared`},
		{" resize=256", `input_1 (Input): resize 256 goes with a preprocessing mode, and none is declared`},
		{" preprocess=meanstd mean=0,0,0 std=1,0,1", `std[1] = 0 is not a positive finite float32`},
		{" preprocess=meanstd mean=0,0,0 std=1,1,NaN", `std[2] = NaN is not a positive finite float32`},
		{" preprocess=meanstd mean=0,+Inf,0 std=1,1,1", `mean[1] = +Inf is not a finite float32`},
		{" preprocess=meanstd mean=0,0,1e39 std=1,1,1", `mean[2] = 1e+39 is not a finite float32`},
	}
	for _, c := range verifyErrs {
		g, err := ir.Parse(prog(c.attrs))
		if err != nil {
			t.Fatalf("%q: %v", c.attrs, err)
		}
		if err := ir.Verify(g); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: Verify error %v, want it to contain %q", c.attrs, err, c.want)
		}
	}
	// A vector input is no image.
	g, err := ir.Parse("model \"m\"\n  %0 input_1 = Input() preprocess=tf : f32[N,12] nc\n  return %0\nweights\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := ir.Verify(g); err == nil || !strings.Contains(err.Error(), "preprocessing tf declared on an input that is not an image") {
		t.Errorf("vector input: Verify error %v", err)
	}
}

package quant

import (
	"path/filepath"

	"github.com/rnc-dev/rnc/ir"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/npy"
)

// digitsData is tinyv2 lowered for AVX-512 with its digits weights, and
// the digits calibration and test splits (testdata/digits).
type digitsData struct {
	g                  *ir.Graph
	w                  *runtime.Weights
	calib, test, label []float32
	nCalib, nTest      int
}

func loadDigits(t *testing.T) *digitsData {
	t.Helper()
	dir := filepath.Join("..", "testdata", "digits")
	g, err := dsl.Load(filepath.Join("..", "models", "tinyv2.rn"), dsl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := passes.Run(g, Pipeline("")); err != nil {
		t.Fatal(err)
	}
	w, err := runtime.ReadSafetensorsFile(filepath.Join(dir, "tinyv2_digits.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) ([]float32, int) {
		v, shape, err := npy.Read(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return v, shape[0]
	}
	d := &digitsData{g: g, w: w}
	d.calib, d.nCalib = read("calib_inputs.npy")
	d.test, d.nTest = read("test_inputs.npy")
	d.label, _ = read("test_labels.npy")
	return d
}

// TestDigitsFakeQuant: calibrated on the 30 calibration images of the
// digits data (testdata/digits), the fake-quantized tinyv2 — every int8
// layer's kernel and every quantized tensor on its uint8 grid, as int8
// inference computes them — classifies the 200 held-out test images as the
// float32 model does on all but at most 2 (the bound: int8 top-1
// within 1 point of float32's, 198/200). This is the simulation of int8
// inference (TestFakeQuantIsInt8 checks it against abi's integer
// arithmetic on relu-only layers); the integer reference and the
// generated int8 package take its place when the int8 path is wired in.
func TestDigitsFakeQuant(t *testing.T) {
	d := loadDigits(t)
	r, err := Calibrate(d.g, d.w, d.calib, d.nCalib, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Measure(d.test, d.nTest); err != nil {
		t.Fatal(err)
	}
	t.Logf("calibrated on %d images (%s %g): on the %d test images, output SQNR %.1f dB, top-1 agreement with float32 %d/%d",
		r.Images, r.Options.Method, r.Options.Percentile, r.Measured, r.OutputSQNR, r.Agree, r.Measured)
	if r.Measured != 200 || r.Agree < r.Measured-2 {
		t.Errorf("top-1 agreement %d/%d: more than 2 test images change class", r.Agree, r.Measured)
	}
}

// TestDigitsInt8: the integer reference (the interpreter on the int8 graph: int32 sums of
// uint8 × int8 codes, abi's epilogue arithmetic) of tinyv2 calibrated on
// the 30 digits calibration images scores within 1 point (2 images) of
// float32's 198/200 on the 200 test images.
func TestDigitsInt8(t *testing.T) {
	d := loadDigits(t)
	r, err := Calibrate(d.g, d.w, d.calib, d.nCalib, Options{})
	if err != nil {
		t.Fatal(err)
	}
	int8Convs := 0
	for _, l := range r.Layers {
		if l.Int8 {
			int8Convs++
		}
	}
	if int8Convs < 10 {
		t.Fatalf("%d int8 convs", int8Convs)
	}
	out, err := r.RunInt8(d.test, d.nTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := r.it.Run(d.test, d.nTest) // float32 (198/200: ir/interp TestDigitsFloat32Accuracy)
	if err != nil {
		t.Fatal(err)
	}
	score := func(out []float32) int {
		correct, classes := 0, len(out)/d.nTest
		for i := 0; i < d.nTest; i++ {
			if argmax(out[i*classes:(i+1)*classes]) == int(d.label[i]) {
				correct++
			}
		}
		return correct
	}
	int8Score, floatScore := score(out[0]), score(ref[0])
	t.Logf("int8 (integer reference, %d int8 convs): %d/%d correct; float32: %d/%d", int8Convs, int8Score, d.nTest, floatScore, d.nTest)
	if int8Score < floatScore-2 {
		t.Errorf("int8 top-1 %d/%d, more than 1 point below float32's %d/%d", int8Score, d.nTest, floatScore, d.nTest)
	}
}

package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/runtime/npy"
)

// tinyTorch is tools/pytorch/fixtures.py's Tiny network in the model
// language, with PyTorch's layer names and batch-norm epsilon.
const tinyTorch = `model tiny(input_shape = [8, 8, 3]) {
    x = Input(shape = input_shape)
    x = Conv2D(x, 4, 3, use_bias = false, name = "conv1")
    x = BatchNormalization(x, epsilon = 0.00001, name = "bn1")
    x = Activation(x, "relu", name = "relu")
    x = GlobalAveragePooling2D(x, name = "pool")
    return Dense(x, 5, name = "fc")
}
`

// TestPyTorchCheckpoint: a checkpoint torch.save wrote (float32 and
// bfloat16) is listed, imported against a model, and run by the
// interpreter and by a compiled package, reproducing the logits PyTorch
// computed (tools/pytorch/fixtures.py); a model that does not fit is told
// which tensor is wrong.
func TestPyTorchCheckpoint(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "tiny.rn")
	if err := os.WriteFile(model, []byte(tinyTorch), 0o644); err != nil {
		t.Fatal(err)
	}
	pth := path("runtime/pytorch/testdata/tiny_f32.pth")
	input := path("runtime/pytorch/testdata/tiny_input.npy")
	want, _, err := npy.Read(path("runtime/pytorch/testdata/tiny_logits.npy"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := rnc(t, "weights", "ls", pth)
	if err != nil || !strings.Contains(out, "conv1/kernel") || !strings.Contains(out, "[3 3 3 4]") || !strings.Contains(out, "149 parameters") {
		t.Fatalf("weights ls: %v\n%s", err, out)
	}
	st := filepath.Join(dir, "w.safetensors")
	if _, err := rnc(t, "weights", "import", pth, "--model", model, "-o", st); err != nil {
		t.Fatal(err)
	}
	_, err = rnc(t, "weights", "import", pth, "--model", model, "--set", "input_shape=[8,8,4]", "-o", st)
	if err == nil || !strings.Contains(err.Error(), `tensor "conv1/kernel" has shape [3 3 3 4], want [3 3 4 4]`) {
		t.Errorf("import against the wrong model: %v", err)
	}
	check := func(what, w string, tol float64, args ...string) {
		y := filepath.Join(dir, "y.npy")
		os.Remove(y)
		if out, err := rnc(t, append([]string{"run", model, "--weights", w, "--input", input, "--out", y}, args...)...); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, out)
		}
		got, _, err := npy.Read(y)
		if err != nil || len(got) != len(want) {
			t.Fatalf("%s: %d outputs, want %d (%v)", what, len(got), len(want), err)
		}
		for i := range want {
			if d := math.Abs(float64(got[i] - want[i])); d > tol {
				t.Errorf("%s: logit %d = %v, PyTorch's %v", what, i, got[i], want[i])
			}
		}
	}
	check("interp", pth, 1e-5, "--interp")
	check("interp, imported", st, 1e-5, "--interp")
	check("compiled", pth, 1e-5, "--target", "generic")
	// bfloat16 weights: the same network within bfloat16's precision.
	check("interp bf16", path("runtime/pytorch/testdata/tiny_bf16.pth"), 0.05, "--interp")
}

package main

import (
	"fmt"
	"github.com/rnc-dev/rnc/runtime/npy"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/quant"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/abi"
)

// TestQuantize: rnc quantize on tinyv2 with its golden weights and the two
// golden images prints one row per op output of the lowered graph (the
// input aside) and writes a file that reads back with the documented names
// and shapes; the fake-quantized model's output SQNR clears a floor, with
// either method.
func TestQuantize(t *testing.T) {
	model := path("models/tinyv2.rn")
	w := path("testdata/golden/tinyv2.safetensors")
	x := path("testdata/golden/tinyv2_input_b2_seed2.npy")
	g, err := dsl.Load(model, dsl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := passes.Run(g, passes.Config{Target: passes.AVX512}); err != nil {
		t.Fatal(err)
	}
	var rows []string // layer name and output index, as the table prints them
	for _, op := range g.Ops {
		for i := range op.Outputs {
			if op.Kind != ir.Input {
				rows = append(rows, fmt.Sprintf("%s %s %d", quant.LayerName(op), op.Kind, i))
			}
		}
	}
	for _, flags := range [][]string{{"--method", "minmax"}, {"--method", "percentile", "--percentile", "99.9"}, {"--set", "input_shape=[32,32,3]"}} {
		method := "percentile"
		if flags[0] == "--method" {
			method = flags[1]
		}
		out := filepath.Join(t.TempDir(), "q.safetensors")
		stdout, err := rnc(t, append([]string{"quantize", model, "--weights", w, "--calibrate", x, "-o", out}, flags...)...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", method, err, stdout)
		}
		lines := strings.Split(stdout, "\n")
		if !strings.HasPrefix(lines[0], "layer ") {
			t.Fatalf("%s: no table header:\n%s", method, stdout)
		}
		var got []string
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) < 4 || f[2] != "int8" && f[2] != "float32" {
				break
			}
			got = append(got, strings.Join([]string{f[0], f[1], f[3]}, " "))
		}
		if !slices.Equal(got, rows) {
			t.Errorf("%s: table rows\n%q\nwant one per op output\n%q", method, got, rows)
		}
		// Measured on these two images: 42.1 dB (minmax and the default
		// percentile 99.999, which here clips nothing) and 41.0 dB
		// (percentile 99.9); the floor leaves room for float rounding and
		// a change of the calibration's details, not for a broken
		// simulation (a model whose int8 tensors were off by a step here
		// and there would fall far below it).
		m := regexp.MustCompile(`output SQNR ([0-9.]+) dB, top-1 agreement with float32 2/2`).FindStringSubmatch(stdout)
		if m == nil {
			t.Fatalf("%s: no output SQNR with full top-1 agreement:\n%s", method, stdout)
		}
		if db, _ := strconv.ParseFloat(m[1], 64); db < 38 {
			t.Errorf("%s: output SQNR %.1f dB, want at least 38", method, db)
		}
		q, err := runtime.ReadSafetensorsFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if q.Metadata["method"] != method || q.Metadata["format"] != quant.Format || q.Metadata["model"] != "tinyv2.rn" {
			t.Errorf("%s: metadata %v", method, q.Metadata)
		}
		if want := map[bool]string{true: "input_shape=[32,32,3]"}[flags[0] == "--set"]; q.Metadata["set"] != want {
			t.Errorf("%s: metadata set %q, want %q", method, q.Metadata["set"], want)
		}
		want := map[string]string{
			"conv1_conv/kernel":                   "f32 [3 3 3 16]",
			"conv1_conv/bias":                     "f32 [16]",
			"conv1_conv/out0_scale":               "f32 [1]",
			"conv1_conv/out0_zero_point":          "u8 [1]",
			"conv2_block1_2_conv/kernel_q":        "s8 [3 3 8 8]",
			"conv2_block1_2_conv/kernel_scale":    "f32 [8]",
			"conv2_block1_2_conv/bias":            "f32 [8]",
			"conv2_block1_3_conv/kernel_q":        "s8 [1 1 8 32]",
			"conv2_block1_3_conv/epi2_scale":      "f32 [32]",
			"conv2_block1_3_conv/epi2_shift":      "f32 [32]",
			"conv2_block1_3_conv/out0_scale":      "f32 [1]",
			"conv2_block1_3_conv/out1_zero_point": "u8 [1]",
			"predictions/kernel":                  "f32 [64 10]",
			"predictions/bias":                    "f32 [10]",
		}
		for name, s := range want {
			tn := q.Tensors[name]
			if tn == nil {
				t.Errorf("%s: no tensor %s", method, name)
			} else if got := fmt.Sprint(tn.DType, tn.Shape); got != s {
				t.Errorf("%s: %s is %s, want %s", method, name, got, s)
			}
		}
		if tn := q.Tensors["predictions/out0_scale"]; tn != nil {
			t.Errorf("%s: the classifier's float32 output has a scale", method)
		}
		for _, name := range q.Order {
			if tn := q.Tensors[name]; strings.HasSuffix(name, "_zero_point") && tn.DType != abi.U8 ||
				strings.HasSuffix(name, "/kernel_q") && tn.DType != abi.S8 {
				t.Errorf("%s: %s is %s", method, name, tn.DType)
			}
		}
		// weights ls lists it, with the integer types.
		ls, err := rnc(t, "weights", "ls", out)
		if err != nil || !regexp.MustCompile(`conv2_block1_2_conv/kernel_q +\[3 3 8 8\] +576 s8`).MatchString(ls) {
			t.Errorf("weights ls: %v\n%s", err, ls)
		}
	}
}

// TestQuantizeOutput: -o never names an input, and an existing file is
// replaced only if it is a safetensors file; an error leaves it as it was.
func TestQuantizeOutput(t *testing.T) {
	dir := t.TempDir()
	copyTo := func(src, name string) string {
		b, err := os.ReadFile(path(src))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	model := copyTo("models/tinyv2.rn", "tinyv2.rn")
	os.MkdirAll(filepath.Join(dir, "lib"), 0o755)
	lib, _ := os.ReadFile(path("models/lib/resnet.rn"))
	os.WriteFile(filepath.Join(dir, "lib", "resnet.rn"), lib, 0o644)
	w := copyTo("testdata/golden/tinyv2.safetensors", "w.safetensors")
	x := copyTo("testdata/golden/tinyv2_input_b2_seed2.npy", "x.npy")
	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("mine"), 0o644)
	link := filepath.Join(dir, "link.safetensors")
	os.Symlink(w, link)
	args := func(out string, extra ...string) []string {
		return append([]string{"quantize", model, "--weights", w, "--calibrate", x, "-o", out}, extra...)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{args(w), "is the weights file"},
		{args(link), "is the weights file"},
		{args(x), "is the calibration file"},
		{args(model), "is the model file"},
		{args(notes), "exists and is not a safetensors file: not replacing it"},
		{args(dir), "exists and is not a regular file"},
		{[]string{"quantize", model, "--weights", w, "-o", filepath.Join(dir, "q.safetensors")}, "--weights, --calibrate and -o are required"},
		{args(filepath.Join(dir, "q.safetensors"), "--method", "kl"), `--method: unknown calibration method "kl"`},
		{args(filepath.Join(dir, "q.safetensors"), "--percentile", "0"), "--percentile 0: want a number in (50, 100]"},
		{args(filepath.Join(dir, "q.safetensors"), "--percentile", "10"), "--percentile 10: want a number in (50, 100]"},
		{args(filepath.Join(dir, "q.safetensors"), "--method", "minmax", "--percentile", "99.9"), "--percentile applies to --method percentile, not minmax"},
		{[]string{"quantize", model, "--weights", w, "--calibrate", nanInput(t, dir, x), "-o", filepath.Join(dir, "q.safetensors")}, "image 1 holds NaN at (3, 4, 2) (h, w, c)"},
		{args(filepath.Join(dir, "missing", "q.safetensors")), "does not exist (or is not a directory)"},
		{[]string{"quantize", model, "--weights", w, "--calibrate", notes, "-o", filepath.Join(dir, "q.safetensors")}, notes},
		{[]string{"quantize", model, "--weights", x, "--calibrate", x, "-o", filepath.Join(dir, "q.safetensors")}, x},
		{[]string{"quantize", model, "--weights", w, "--calibrate", path("testdata/golden/stemv2_input_b2_seed2.npy"), "-o", filepath.Join(dir, "q.safetensors")}, "calibration images " + path("testdata/golden/stemv2_input_b2_seed2.npy")},
	} {
		_, err := rnc(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args[1:], err, tc.want)
		}
	}
	for p, want := range map[string]string{w: "testdata/golden/tinyv2.safetensors", x: "testdata/golden/tinyv2_input_b2_seed2.npy", model: "models/tinyv2.rn"} {
		a, _ := os.ReadFile(p)
		b, _ := os.ReadFile(path(want))
		if string(a) != string(b) {
			t.Errorf("%s was changed", p)
		}
	}
	if b, _ := os.ReadFile(notes); string(b) != "mine" {
		t.Error("notes.txt was changed")
	}
	if _, err := os.Stat(filepath.Join(dir, "q.safetensors")); err == nil {
		t.Error("a failed quantize wrote its output")
	}
	// A float32 weight file is not replaced; an int8 one (an earlier
	// quantize's) is.
	float := copyTo("testdata/golden/stemv2.safetensors", "float.safetensors")
	if _, err := rnc(t, args(float)...); err == nil || !strings.Contains(err.Error(), "is not an int8 weight file") {
		t.Errorf("-o a float32 weight file: %v", err)
	}
	if a, _ := os.ReadFile(float); string(a) != string(must(os.ReadFile(path("testdata/golden/stemv2.safetensors")))) {
		t.Error("the float32 weight file was changed")
	}
	old := filepath.Join(dir, "old.safetensors")
	for i := 0; i < 2; i++ {
		if _, err := rnc(t, args(old)...); err != nil {
			t.Fatal(err)
		}
	}
	if q, err := runtime.ReadSafetensorsFile(old); err != nil || q.Metadata["format"] != quant.Format {
		t.Errorf("the old int8 file was not replaced: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// nanInput writes a copy of the .npy images x with a NaN in image 1 at
// (3, 4, 2) and returns its path.
func nanInput(t *testing.T, dir, x string) string {
	t.Helper()
	v, shape, err := npy.Read(x)
	if err != nil {
		t.Fatal(err)
	}
	h, w, c := shape[1], shape[2], shape[3]
	v[h*w*c+(3*w+4)*c+2] = float32(math.NaN())
	p := filepath.Join(dir, "nan.npy")
	if err := npy.Write(p, v, shape); err != nil {
		t.Fatal(err)
	}
	return p
}

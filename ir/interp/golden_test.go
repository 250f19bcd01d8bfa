package interp_test

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir/interp"
	"github.com/rnc-dev/rnc/runtime"
)

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// TestGolden runs the three golden models from their .rn sources with the
// weights, inputs and outputs PyTorch computed (cross-checked by ONNX
// Runtime): max abs diff ≤ 1e-5 and the same top-1 for every image.
func TestGolden(t *testing.T) {
	for _, m := range []string{"tinyv2", "tinyv1", "stemv2"} {
		t.Run(m, func(t *testing.T) {
			g, err := dsl.Load(filepath.Join("..", "..", "models", m+".rn"), dsl.Options{})
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("..", "..", "testdata", "golden")
			w, err := runtime.ReadSafetensorsFile(filepath.Join(dir, m+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			x := readF32(t, filepath.Join(dir, m+"_input_b2_seed2.f32"))
			want := readF32(t, filepath.Join(dir, m+"_expected_b2.f32"))
			outs, err := interp.Eval(g, w, x, 2)
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, outs[0], want, 10, 1e-5)
		})
	}
}

// TestGoldenH5 runs the golden models with their weights re-saved by h5py
// in the Keras 2 layout (runtime/testdata/h5): the same outputs as the
// safetensors weights, through the content-sniffing loader.
func TestGoldenH5(t *testing.T) {
	for m, file := range map[string]string{"tinyv2": "keras2_tinyv2.h5", "tinyv1": "keras2_tinyv1_full_latest.h5", "stemv2": "keras2_stemv2_latest.h5"} {
		g, err := dsl.Load(filepath.Join("..", "..", "models", m+".rn"), dsl.Options{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := runtime.LoadWeightsFile(filepath.Join("..", "..", "runtime", "testdata", "h5", file))
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join("..", "..", "testdata", "golden")
		x := readF32(t, filepath.Join(dir, m+"_input_b2_seed2.f32"))
		want := readF32(t, filepath.Join(dir, m+"_expected_b2.f32"))
		outs, err := interp.Eval(g, w, x, 2)
		if err != nil {
			t.Fatal(err)
		}
		checkClose(t, outs[0], want, 10, 1e-5)
	}
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// checkClose compares probabilities image by image: max abs diff and top-1.
func checkClose(t *testing.T, got, want []float32, classes int, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	maxd := 0.0
	for i := range got {
		maxd = math.Max(maxd, math.Abs(float64(got[i])-float64(want[i])))
	}
	if !(maxd <= tol) {
		t.Errorf("max abs diff %g > %g", maxd, tol)
	}
	for i := 0; i < len(got)/classes; i++ {
		g, w := argmax(got[i*classes:(i+1)*classes]), argmax(want[i*classes:(i+1)*classes])
		if g != w {
			t.Errorf("image %d: top-1 %d, want %d", i, g, w)
		}
	}
	t.Logf("max abs diff %.3g", maxd)
}

// TestGoldenReadme: every file or directory testdata/golden/README.md
// names (`M...` for each of its models M; models/... from the repository
// root, the rest from testdata/golden) exists, and every golden file is
// described there.
func TestGoldenReadme(t *testing.T) {
	root := filepath.Join("..", "..")
	dir := filepath.Join(root, "testdata", "golden")
	b, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	models := []string{"tinyv2", "tinyv1", "stemv2"}
	described := map[string]bool{}
	ref := regexp.MustCompile(`(?:\.\./|\b)[\w./-]*\w\.(?:safetensors|f32|npy|onnx|md|rn|h5|py|txt)\b|\.\./[\w./-]+/`)
	for _, name := range ref.FindAllString(string(b), -1) {
		for _, model := range models {
			rel := strings.Replace(name, "M", model, 1)
			if !strings.HasPrefix(name, "M") {
				rel = strings.Replace(name, "/M.", "/"+model+".", 1)
			}
			p := filepath.Join(dir, rel)
			if strings.HasPrefix(name, "models/") {
				p = filepath.Join(root, rel)
			}
			if _, err := os.Stat(p); err != nil {
				t.Errorf("README.md names %s: %v", name, err)
			}
			described[filepath.Base(p)] = true
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if base := filepath.Base(f); base != "README.md" && !described[base] {
			t.Errorf("README.md does not describe %s", base)
		}
	}
}

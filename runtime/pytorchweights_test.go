package runtime

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestWeightsPyTorch: LoadWeightsFile, ListWeightsFile and ParseWeights
// read a torch.save checkpoint by content (whatever its name), with rnc's
// names and layouts and float16/bfloat16 converted, equal to the values
// tools/pytorch/fixtures.py recorded; Check names the first mismatch.
func TestWeightsPyTorch(t *testing.T) {
	for _, name := range []string{"tiny_f32", "tiny_f16", "tiny_bf16", "strided", "shared"} {
		src := filepath.Join("pytorch", "testdata", name+".pth")
		want, err := ReadSafetensorsFile(filepath.Join("pytorch", "testdata", name+".expected.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		renamed := filepath.Join(t.TempDir(), "weights.safetensors") // the extension does not matter
		if err := os.WriteFile(renamed, b, 0o644); err != nil {
			t.Fatal(err)
		}
		lazy, err := LoadWeightsFile(renamed)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := ParseWeights(name, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, ws := range []*Weights{lazy, parsed} {
			if !slices.Equal(ws.Order, want.Order) {
				t.Errorf("%s: tensors %v, want %v", name, ws.Order, want.Order)
			}
			var spec []TensorSpec
			for _, n := range want.Order {
				spec = append(spec, TensorSpec{Name: n, Shape: want.Tensors[n].Shape})
				got, err := ws.Data(n)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want.Tensors[n].Data) {
					t.Errorf("%s: %s = %v, want %v", name, n, got, want.Tensors[n].Data)
				}
			}
			if err := ws.Check(spec); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		lazy.Close()
		listed, err := ListWeightsFile(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range want.Order {
			if !slices.Equal(listed.Tensors[n].Shape, want.Tensors[n].Shape) {
				t.Errorf("%s: listed %s %v", name, n, listed.Tensors[n].Shape)
			}
		}
		if _, err := listed.Data(want.Order[0]); err == nil {
			t.Errorf("%s: listed weights gave data", name)
		}
	}
	ws, err := LoadWeightsFile(filepath.Join("pytorch", "testdata", "tiny_f32.pth"))
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	err = ws.Check([]TensorSpec{{Name: "conv1/kernel", Shape: []int{3, 3, 3, 8}}})
	if err == nil || !strings.Contains(err.Error(), `tensor "conv1/kernel" has shape [3 3 3 4], want [3 3 3 8]`) {
		t.Errorf("Check of the wrong architecture: %v", err)
	}
}

// TestWeightsPyTorchRefused: the legacy format is refused by name, and a
// checkpoint's error names the file.
func TestWeightsPyTorchRefused(t *testing.T) {
	legacy := filepath.Join("pytorch", "testdata", "legacy.pth")
	_, err := LoadWeightsFile(legacy)
	if err == nil || !strings.Contains(err.Error(), legacy) || !strings.Contains(err.Error(), "legacy format of PyTorch before 1.6") {
		t.Errorf("legacy: %v", err)
	}
	b, err := os.ReadFile(filepath.Join("pytorch", "testdata", "tiny_f32.pth"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pth")
	os.WriteFile(cut, b[:len(b)/2], 0o644)
	if _, err := LoadWeightsFile(cut); err == nil || !strings.Contains(err.Error(), "reading weights "+cut+": pytorch: not a readable zip archive") {
		t.Errorf("truncated: %v", err)
	}
}

// TestSafetensorsHalf: F16 and BF16 tensors (as timm and Hugging Face
// publish them) are read as float32, exactly, in memory and lazily from a
// file; their byte sizes are checked at two bytes an element.
func TestSafetensorsHalf(t *testing.T) {
	data := []byte{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0xff, 0x7b, // F16: 1, -2, 2^-24, 65504
		0x80, 0x3f, 0x49, 0xc0} // BF16: 1, -3.140625
	file := stFile(`{"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}}`, data)
	path := filepath.Join(t.TempDir(), "half.safetensors")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	lazy, err := LoadWeightsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lazy.Close()
	mem, err := ParseSafetensors(file)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{"h": {1, -2, 5.9604645e-08, 65504}, "b": {1, -3.140625}}
	for _, ws := range []*Weights{lazy, mem} {
		for name, w := range want {
			got, err := ws.Data(name)
			if err != nil || !slices.Equal(got, w) {
				t.Errorf("%s: %v %v, want %v", name, got, err, w)
			}
		}
		if err := ws.Check([]TensorSpec{{Name: "h", Shape: []int{2, 2}}, {Name: "b", Shape: []int{2}}}); err != nil {
			t.Error(err)
		}
	}
	_, err = ParseSafetensors(stFile(`{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,16]}}`, make([]byte, 16)))
	if err == nil || !strings.Contains(err.Error(), "span 16 bytes, want 8 (2 bytes × 4 elements") {
		t.Errorf("F16 of the wrong size: %v", err)
	}
}

// TestSafetensorsTorchNames: safetensors with PyTorch's state_dict names,
// in bfloat16 or float16 and with an int64 num_batches_tracked (as timm and
// Hugging Face publish them), are read as the checkpoint is: rnc's names,
// HWIO and [in, out] layouts, float32 values, the counter dropped.
func TestSafetensorsTorchNames(t *testing.T) {
	for _, name := range []string{"tiny_bf16", "tiny_f16"} {
		src := filepath.Join("pytorch", "testdata", name+".torchnames.safetensors")
		want, err := ReadSafetensorsFile(filepath.Join("pytorch", "testdata", name+".expected.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		lazy, err := LoadWeightsFile(src)
		if err != nil {
			t.Fatal(err)
		}
		defer lazy.Close()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		mem, err := ParseWeights(src, b)
		if err != nil {
			t.Fatal(err)
		}
		listed, err := ListWeightsFile(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, ws := range []*Weights{lazy, mem, listed} {
			if !slices.Equal(ws.Order, want.Order) {
				t.Fatalf("%s: tensors %v, want %v", name, ws.Order, want.Order)
			}
			for _, n := range want.Order {
				if !slices.Equal(ws.Tensors[n].Shape, want.Tensors[n].Shape) {
					t.Errorf("%s: %s has shape %v, want %v", name, n, ws.Tensors[n].Shape, want.Tensors[n].Shape)
				}
				if ws == listed {
					continue
				}
				got, err := ws.Data(n)
				if err != nil || !slices.Equal(got, want.Tensors[n].Data) {
					t.Errorf("%s: %s = %v (%v), want %v", name, n, got, err, want.Tensors[n].Data)
				}
			}
		}
	}
	bad := stFile(`{"conv.weight":{"dtype":"F32","shape":[1,1,2],"data_offsets":[0,8]}}`, f32LE(1, 2))
	if _, err := ParseWeights("bad", bad); err == nil || !strings.Contains(err.Error(), `"conv.weight" is a weight of rank 3`) {
		t.Errorf("a rank-3 weight: %v", err)
	}
}

package runtime

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/runtime/hdf5"
)

const h5Dir = "testdata/h5"

// goldenSafetensors parses testdata/golden/<model>.safetensors by hand
// (8-byte header length, JSON header, data) and returns the tensors in file
// order.
func goldenSafetensors(t testing.TB, model string) (order []string, tensors map[string]*Tensor) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "golden", model+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(raw)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	type entry struct {
		DType   string   `json:"dtype"`
		Shape   []int    `json:"shape"`
		Offsets [2]int64 `json:"data_offsets"`
	}
	entries := map[string]entry{}
	tensors = map[string]*Tensor{}
	for name, msg := range header {
		if name == "__metadata__" {
			continue
		}
		var e entry
		if err := json.Unmarshal(msg, &e); err != nil {
			t.Fatal(err)
		}
		if e.DType != "F32" {
			t.Fatalf("%s: dtype %s", name, e.DType)
		}
		b := raw[8+int64(n)+e.Offsets[0] : 8+int64(n)+e.Offsets[1]]
		data := make([]float32, len(b)/4)
		for i := range data {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		entries[name] = e
		tensors[name] = &Tensor{Name: name, Shape: e.Shape, Data: data}
		order = append(order, name)
	}
	sort.Slice(order, func(i, j int) bool { return entries[order[i]].Offsets[0] < entries[order[j]].Offsets[0] })
	return order, tensors
}

func readH5(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h5Dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func sameTensor(t *testing.T, name string, got, want *Tensor) {
	t.Helper()
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		t.Errorf("%s: shape %v, want %v", name, got.Shape, want.Shape)
		return
	}
	if len(got.Data) != len(want.Data) {
		t.Errorf("%s: %d values, want %d", name, len(got.Data), len(want.Data))
		return
	}
	for i := range got.Data {
		if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
			t.Errorf("%s[%d] = %v, want %v (bit-exact)", name, i, got.Data[i], want.Data[i])
			return
		}
	}
}

func TestParseKerasH5Golden(t *testing.T) {
	cases := []struct{ file, model, format string }{
		{"keras2_tinyv2.h5", "tinyv2", "keras2-h5"},
		{"keras2_tinyv1_full_latest.h5", "tinyv1", "keras2-h5"},
		{"keras2_stemv2_latest.h5", "stemv2", "keras2-h5"},
		{"keras3_tinyv2.weights.h5", "tinyv2", "keras3-weights-h5"},
		{"keras3_tinyv2_nested.weights.h5", "tinyv2", "keras3-weights-h5"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			data := readH5(t, tc.file)
			if !IsHDF5(data) {
				t.Fatal("IsHDF5 = false")
			}
			w, err := ParseKerasH5(data)
			if err != nil {
				t.Fatal(err)
			}
			order, want := goldenSafetensors(t, tc.model)
			// Keras 2 files list layers and weights in order; Keras 3
			// order is recovered from data addresses, which h5py may
			// reuse, so only the set is compared there.
			if tc.format == "keras2-h5" && strings.Join(w.Order, ",") != strings.Join(order, ",") {
				t.Errorf("order:\n got %v\nwant %v", w.Order, order)
			}
			if len(w.Tensors) != len(want) {
				t.Errorf("%d tensors, want %d", len(w.Tensors), len(want))
			}
			for name, wt := range want {
				gt, ok := w.Tensors[name]
				if !ok {
					t.Errorf("missing %s", name)
					continue
				}
				sameTensor(t, name, gt, wt)
			}
			if w.Metadata["format"] != tc.format {
				t.Errorf("format %q, want %q", w.Metadata["format"], tc.format)
			}
			if tc.format == "keras2-h5" && (w.Metadata["keras_version"] != "2.13.1" || w.Metadata["backend"] != "tensorflow") {
				t.Errorf("metadata %v", w.Metadata)
			}
			// The result passes the model's own check.
			var specs []TensorSpec
			for _, name := range order {
				specs = append(specs, TensorSpec{Name: name, Shape: want[name].Shape})
			}
			if err := w.Check(specs); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestParseKerasH5Nested(t *testing.T) {
	w, err := ParseKerasH5(readH5(t, "keras2_nested.h5"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]struct {
		Shape []int     `json:"shape"`
		Data  []float64 `json:"data"`
	}
	if err := json.Unmarshal(readH5(t, "keras2_nested.json"), &want); err != nil {
		t.Fatal(err)
	}
	wantOrder := "conv_a/kernel,conv_a/bias,bn_b/gamma,bn_b/beta,bn_b/moving_mean,bn_b/moving_variance,head/kernel,head/bias,solo/kernel"
	if got := strings.Join(w.Order, ","); got != wantOrder {
		t.Errorf("order %s\nwant  %s", got, wantOrder)
	}
	for name, e := range want {
		wt := &Tensor{Shape: e.Shape}
		for _, v := range e.Data {
			wt.Data = append(wt.Data, float32(v))
		}
		gt, ok := w.Tensors[name]
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		sameTensor(t, name, gt, wt)
	}
}

// keras2Name is keras2NameIn for a layer whose weight names are all.
func keras2Name(layer, weight string, all []string) string {
	common, uniform := commonScope(all)
	return keras2NameIn(layer, weight, common, uniform)
}

func TestKeras2Name(t *testing.T) {
	for _, tc := range []struct {
		layer, weight string
		all           []string
		want          string
	}{
		{"conv1_conv", "conv1_conv/kernel:0", []string{"conv1_conv/kernel:0", "conv1_conv/bias:0"}, "conv1_conv/kernel"},
		{"conv1_conv", "conv1_conv/kernel", nil, "conv1_conv/kernel"},
		{"dense", "kernel:0", []string{"kernel:0"}, "dense/kernel"},
		{"dense", "dense_1/kernel:0", []string{"dense_1/kernel:0", "dense_1/bias:0"}, "dense/kernel"},
		{"block", "block/sub/kernel:0", []string{"block/sub/kernel:0", "block/other/kernel:0"}, "block/sub/kernel"},
		{"resnet50v2", "conv1_conv/kernel:0", []string{"conv1_conv/kernel:0", "post_bn/gamma:0"}, "conv1_conv/kernel"},
		{"x", "x/kernel:12", nil, "x/kernel"},
		{"x", "a:b/kernel", []string{"a:b/kernel"}, "x/kernel"},
	} {
		if got := keras2Name(tc.layer, tc.weight, tc.all); got != tc.want {
			t.Errorf("keras2Name(%q, %q) = %q, want %q", tc.layer, tc.weight, got, tc.want)
		}
	}
}

func TestKeras3Params(t *testing.T) {
	shapes := func(s ...[]int) func(int) []int { return func(i int) []int { return s[i] } }
	for _, tc := range []struct {
		s    [][]int
		want string
	}{
		{[][]int{{3, 3, 2, 4}, {4}}, "[kernel bias]"},
		{[][]int{{3, 3, 2, 4}}, "[kernel]"},
		{[][]int{{8, 2}, {2}}, "[kernel bias]"},
		{[][]int{{8, 2}}, "[kernel]"},
		{[][]int{{4}, {4}, {4}, {4}}, "[gamma beta moving_mean moving_variance]"},
		{[][]int{{4}, {4}, {4}, {5}}, "error"},
		{[][]int{{4}, {4}, {4}}, "error"},
		{[][]int{{3, 3, 4, 1}, {4}, {4}}, "error"},
	} {
		p, err := keras3Params(tc.s[0], len(tc.s), shapes(tc.s...))
		got := fmt.Sprint(p)
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("%v: %s, want %s (%v)", tc.s, got, tc.want, err)
		}
	}
}

func TestIsHDF5(t *testing.T) {
	sig := []byte("\x89HDF\r\n\x1a\n")
	if !IsHDF5(sig) || IsHDF5(nil) || IsHDF5([]byte("\x89HDF\r\n")) || IsHDF5(make([]byte, 4096)) {
		t.Error("IsHDF5 at 0")
	}
	for _, off := range []int{512, 1024, 2048, 4096} {
		b := append(make([]byte, off), sig...)
		if !IsHDF5(b) {
			t.Errorf("signature at %d not found", off)
		}
	}
	b := append(make([]byte, 100), sig...)
	if IsHDF5(b) {
		t.Error("signature at 100 accepted")
	}
	st, err := os.ReadFile(filepath.Join("..", "testdata", "golden", "tinyv2.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if IsHDF5(st) {
		t.Error("safetensors file taken for HDF5")
	}
}

func TestParseKerasH5Errors(t *testing.T) {
	if _, err := ParseKerasH5(readH5(t, "storage_v0.h5")); err == nil || !strings.Contains(err.Error(), "not a Keras weights file") {
		t.Errorf("non-Keras HDF5: %v", err)
	}
	if _, err := ParseKerasH5([]byte("garbage")); err == nil || !strings.HasPrefix(err.Error(), "keras h5: ") {
		t.Errorf("garbage: %v", err)
	}
	// A broken dataset: the error names the layer and the dataset.
	for _, tc := range []struct{ file, dataset, want string }{
		{"keras2_tinyv2.h5", "conv1_conv/conv1_conv/kernel:0", `keras h5: layer "conv1_conv" dataset "conv1_conv/kernel:0": `},
		{"keras3_tinyv2.weights.h5", "layers/conv2d/vars/0", `keras h5: layer "conv1_conv" dataset /layers/conv2d/vars/0: `},
	} {
		data := append([]byte(nil), readH5(t, tc.file)...)
		f, err := hdf5.Open(data)
		if err != nil {
			t.Fatal(err)
		}
		o, err := f.Root().Lookup(tc.dataset)
		if err != nil {
			t.Fatal(err)
		}
		data[o.Address()] = 0xEE // object header version
		_, err = ParseKerasH5(data)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !strings.Contains(err.Error(), "unsupported HDF5 feature object header version 238 at offset") {
			t.Errorf("%s with a broken %s: %v", tc.file, tc.dataset, err)
		}
	}
}

// smallLimits are the HDF5 limits of the corruption tests and the fuzz
// target: small enough that a crafted input cannot make a test slow.
func smallLimits() hdf5.Limits {
	return hdf5.Limits{MaxDataBytes: 1 << 20, MaxFillBytes: 64 << 10, BudgetPerByte: 64, BudgetBase: 4 << 20}
}

func TestParseKerasH5Corrupt(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(h5Dir, "keras*.h5"))
	for _, p := range files {
		orig, _ := os.ReadFile(p)
		for k := 0; k < 64; k++ {
			n := len(orig) * k / 64
			if _, err := parseKerasH5(orig[:n:n], smallLimits(), false); err == nil {
				t.Errorf("%s truncated to %d bytes: no error", filepath.Base(p), n)
			}
		}
		seed := uint32(len(orig))
		for k := 0; k < 200; k++ {
			data := append([]byte(nil), orig...)
			seed = seed*1664525 + 1013904223
			i := int(seed>>8) % min(len(data), 8192)
			if k%2 == 1 {
				i = int(seed>>4) % len(data)
			}
			data[i] ^= byte(seed>>24) | 1
			w, err := parseKerasH5(data, smallLimits(), false)
			if err == nil && w == nil {
				t.Fatal("nil weights without error")
			}
			if err != nil && !strings.HasPrefix(err.Error(), "keras h5: ") {
				t.Errorf("error without prefix: %v", err)
			}
		}
	}
}

func FuzzParseKerasH5(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(h5Dir, "keras*.h5"))
	for _, p := range files {
		data, _ := os.ReadFile(p)
		f.Add(data[:min(len(data), 16384)])
		if len(data) < 64<<10 {
			f.Add(data)
		}
	}
	for _, s := range hostileH5Seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// With smallLimits the reader may spend 64 × the input + 4 MiB;
		// what it allocates is within a small factor of that.
		for _, headersOnly := range []bool{true, false} {
			var w *Weights
			var err error
			checkBounded(t, "parseKerasH5", data, 160, 12<<20, func() { w, err = parseKerasH5(data, smallLimits(), headersOnly) })
			if err == nil && w == nil {
				t.Fatal("nil weights without error")
			}
		}
		IsHDF5(data)
	})
}

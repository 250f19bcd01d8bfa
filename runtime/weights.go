package runtime

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
)

// Tensor is one named float32 tensor, row-major (C order).
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// NumElements returns the product of the shape's dimensions.
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Weights is a set of named tensors, as read from a weight file. Names
// follow Keras: "<layer>/<param>", e.g. "conv1_conv/kernel".
type Weights struct {
	// Order is the order of the tensors in the file (or of insertion).
	Order   []string
	Tensors map[string]*Tensor
	// Metadata holds free-form string metadata (safetensors __metadata__).
	Metadata map[string]string
	// src, when set, holds the data of tensors whose Data is nil (a file
	// opened by OpenSafetensors): Data reads them on demand.
	src weightSource
}

// weightSource reads tensor data on demand.
type weightSource interface {
	read(name string) ([]float32, error)
	close() error
}

// Data returns a tensor's values: Tensor.Data if loaded, else read from
// the file the weights were opened from (a new slice on every call).
func (w *Weights) Data(name string) ([]float32, error) {
	t := w.Tensors[name]
	if t == nil {
		return nil, fmt.Errorf("no tensor %q", name)
	}
	if t.Data != nil || w.src == nil {
		return t.Data, nil
	}
	return w.src.read(name)
}

// loadAll reads the data of every tensor not loaded yet.
func (w *Weights) loadAll() error {
	for _, name := range w.Order {
		t := w.Tensors[name]
		if t == nil || t.Data != nil || w.src == nil {
			continue
		}
		d, err := w.src.read(name)
		if err != nil {
			return err
		}
		t.Data = d
	}
	return nil
}

// Close releases the file lazily opened weights read from.
func (w *Weights) Close() error {
	if w.src == nil {
		return nil
	}
	err := w.src.close()
	w.src = nil
	return err
}

// NewWeights returns an empty set.
func NewWeights() *Weights {
	return &Weights{Tensors: map[string]*Tensor{}, Metadata: map[string]string{}}
}

// Add inserts a tensor; it fails if the name is already present or if the
// data length does not match the shape.
func (w *Weights) Add(name string, shape []int, data []float32) error {
	if _, dup := w.Tensors[name]; dup {
		return fmt.Errorf("duplicate tensor %q", name)
	}
	if n := NumElements(shape); n != len(data) {
		return fmt.Errorf("tensor %q: shape %v holds %d values, got %d", name, shape, n, len(data))
	}
	w.Tensors[name] = &Tensor{Name: name, Shape: append([]int(nil), shape...), Data: data}
	w.Order = append(w.Order, name)
	return nil
}

// TensorSpec is what a model expects of one tensor.
type TensorSpec struct {
	Name  string
	Shape []int
}

// Check verifies that w holds exactly the tensors in want, with the given
// shapes and finite values. The error names every offending tensor (up to a
// few of each kind) and what was expected.
func (w *Weights) Check(want []TensorSpec) error {
	var problems []string
	seen := make(map[string]bool, len(want))
	for _, s := range want {
		seen[s.Name] = true
		t, ok := w.Tensors[s.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("missing tensor %q (want shape %v)", s.Name, s.Shape))
			continue
		}
		if !equalShape(t.Shape, s.Shape) {
			problems = append(problems, fmt.Sprintf("tensor %q has shape %v, want %v", s.Name, t.Shape, s.Shape))
			continue
		}
		if err := checkFinite(s.Name, t.Data); err != nil { // data not loaded yet: checked when read
			problems = append(problems, err.Error())
		}
	}
	var extra []string
	for name := range w.Tensors {
		if !seen[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		problems = append(problems, fmt.Sprintf("unexpected tensor %q (shape %v): the model has no such weight", name, w.Tensors[name].Shape))
	}
	if len(problems) == 0 {
		return nil
	}
	const max = 8
	if len(problems) > max {
		n := len(problems) - max
		problems = append(problems[:max], fmt.Sprintf("and %d more", n))
	}
	return fmt.Errorf("weights do not match the model: %s", strings.Join(problems, "; "))
}

// checkFinite reports the first NaN or infinity in a tensor's values.
func checkFinite(name string, data []float32) error {
	for i, v := range data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("tensor %q holds a non-finite value %v at flat index %d", name, v, i)
		}
	}
	return nil
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// LoadWeightsFile reads a weight file: safetensors, or a Keras HDF5 weight
// file (Keras 2 .h5 or Keras 3 .weights.h5), chosen by content, not by the
// file's extension. A safetensors file is opened lazily: its tensors are
// read when used (Weights.Data), so loading a model holds at most a few of
// them at once; Close the result when done.
func LoadWeightsFile(path string) (*Weights, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading weights: %w", err)
	}
	var head [8]byte
	n, _ := f.ReadAt(head[:], 0)
	if IsHDF5(head[:n]) || n < 8 {
		f.Close()
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading weights: %w", err)
		}
		return ParseWeights(path, data)
	}
	ws, err := openSafetensors(f)
	if err != nil {
		f.Close()
		if data, rerr := os.ReadFile(path); rerr == nil && IsHDF5(data) { // an HDF5 signature past offset 0
			return ParseWeights(path, data)
		}
		return nil, fmt.Errorf("reading weights %s: safetensors: %w", path, err)
	}
	return ws, nil
}

// ParseWeights parses a weight file held in memory, safetensors or Keras
// HDF5 by content; name is used in messages.
func ParseWeights(name string, data []byte) (*Weights, error) {
	var ws *Weights
	var err error
	if IsHDF5(data) {
		ws, err = ParseKerasH5(data)
	} else {
		ws, err = ParseSafetensors(data)
	}
	if err != nil {
		return nil, fmt.Errorf("reading weights %s: %w", name, err)
	}
	return ws, nil
}

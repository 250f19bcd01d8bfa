package runtime

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/rnc-dev/rnc/internal/fileio"
	"github.com/rnc-dev/rnc/runtime/abi"
	"github.com/rnc-dev/rnc/runtime/hdf5"
	"github.com/rnc-dev/rnc/runtime/pytorch"
)

// Tensor is one named tensor, row-major (C order): float32 values in
// Data, or, in a quantized weight file (docs/int8.md), int8 values in I8
// or uint8 values in U8, as DType says.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
	// DType is the element type: abi.F32 (the zero value; Data), abi.S8
	// (I8, safetensors "I8") or abi.U8 (U8, safetensors "U8").
	DType abi.DType
	I8    []int8
	U8    []uint8
}

// loaded reports whether t's values are in memory.
func (t *Tensor) loaded() bool {
	switch t.DType {
	case abi.S8:
		return t.I8 != nil
	case abi.U8:
		return t.U8 != nil
	}
	return t.Data != nil
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
	// read returns a float32 tensor's values.
	read(name string) ([]float32, error)
	// readBytes returns the bytes of a tensor of one-byte elements (I8,
	// U8).
	readBytes(name string) ([]byte, error)
	close() error
}

// Data returns a float32 tensor's values: Tensor.Data if loaded, else read
// from the file the weights were opened from (a new slice on every call).
// A tensor of another element type is an error.
func (w *Weights) Data(name string) ([]float32, error) {
	t, err := w.typed(name, abi.F32)
	if err != nil {
		return nil, err
	}
	if t.Data != nil || w.src == nil {
		return t.Data, nil
	}
	return w.src.read(name)
}

// Floats returns a tensor's values as float32, whatever its element type
// (f32, or the s8 and u8 of a quantized file, which float32 holds
// exactly): what the weight program reads.
func (w *Weights) Floats(name string) ([]float32, error) {
	t := w.Tensors[name]
	if t == nil {
		return nil, fmt.Errorf("no tensor %q", name)
	}
	var f []float32
	switch t.DType {
	case abi.S8:
		v, err := w.Int8(name)
		if err != nil {
			return nil, err
		}
		f = make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
	case abi.U8:
		v, err := w.Uint8(name)
		if err != nil {
			return nil, err
		}
		f = make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
	default:
		return w.Data(name)
	}
	return f, nil
}

// Int8 returns an int8 tensor's values (see Data).
func (w *Weights) Int8(name string) ([]int8, error) {
	t, err := w.typed(name, abi.S8)
	if err != nil {
		return nil, err
	}
	if t.I8 != nil || w.src == nil {
		return t.I8, nil
	}
	b, err := w.src.readBytes(name)
	if err != nil {
		return nil, err
	}
	return bytesAsInt8(b), nil
}

// Uint8 returns a uint8 tensor's values (see Data).
func (w *Weights) Uint8(name string) ([]uint8, error) {
	t, err := w.typed(name, abi.U8)
	if err != nil {
		return nil, err
	}
	if t.U8 != nil || w.src == nil {
		return t.U8, nil
	}
	return w.src.readBytes(name)
}

// typed returns the tensor name, which must hold elements of type d.
func (w *Weights) typed(name string, d abi.DType) (*Tensor, error) {
	t := w.Tensors[name]
	if t == nil {
		return nil, fmt.Errorf("no tensor %q", name)
	}
	if t.DType != d {
		return nil, fmt.Errorf("tensor %q holds %s values, not %s", name, t.DType.GoType(), d.GoType())
	}
	return t, nil
}

func bytesAsInt8(b []byte) []int8 {
	out := make([]int8, len(b))
	for i, v := range b {
		out[i] = int8(v)
	}
	return out
}

// loadAll reads the data of every tensor not loaded yet.
func (w *Weights) loadAll() error {
	for _, name := range w.Order {
		t := w.Tensors[name]
		if t == nil || t.loaded() || w.src == nil {
			continue
		}
		switch t.DType {
		case abi.S8, abi.U8:
			b, err := w.src.readBytes(name)
			if err != nil {
				return err
			}
			if t.DType == abi.S8 {
				t.I8 = bytesAsInt8(b)
			} else {
				t.U8 = b
			}
		default:
			d, err := w.src.read(name)
			if err != nil {
				return err
			}
			t.Data = d
		}
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

// AddInt8 inserts an int8 tensor (safetensors "I8"), as Add does.
func (w *Weights) AddInt8(name string, shape []int, data []int8) error {
	return w.addTyped(&Tensor{Name: name, Shape: append([]int(nil), shape...), DType: abi.S8, I8: data}, len(data))
}

// AddUint8 inserts a uint8 tensor (safetensors "U8"), as Add does.
func (w *Weights) AddUint8(name string, shape []int, data []uint8) error {
	return w.addTyped(&Tensor{Name: name, Shape: append([]int(nil), shape...), DType: abi.U8, U8: data}, len(data))
}

func (w *Weights) addTyped(t *Tensor, n int) error {
	if _, dup := w.Tensors[t.Name]; dup {
		return fmt.Errorf("duplicate tensor %q", t.Name)
	}
	if want := NumElements(t.Shape); want != n {
		return fmt.Errorf("tensor %q: shape %v holds %d values, got %d", t.Name, t.Shape, want, n)
	}
	if n == 0 { // loaded, not to be read from a file
		if t.DType == abi.S8 {
			t.I8 = []int8{}
		} else {
			t.U8 = []uint8{}
		}
	}
	w.Tensors[t.Name] = t
	w.Order = append(w.Order, t.Name)
	return nil
}

// Int8Format is the "format" metadata of the int8 weight files rnc
// quantize writes (quant.Format).
const Int8Format = "rnc-int8"

// TensorSpec is what a model expects of one tensor.
type TensorSpec struct {
	Name  string
	Shape []int
	DType abi.DType // zero: f32
}

// Check verifies that w holds exactly the tensors in want, with the given
// shapes and finite values. The error names every offending tensor (up to a
// few of each kind) and what was expected.
func (w *Weights) Check(want []TensorSpec) error {
	int8Model := false
	for _, s := range want {
		int8Model = int8Model || s.DType != abi.F32
	}
	switch f := w.Metadata["format"]; {
	case f == Int8Format && !int8Model:
		return fmt.Errorf("this is an int8 weight file (format %q, written by rnc quantize) and the model computes in float32: give it the float32 weights, or compile the model with --precision int8 (docs/int8.md)", f)
	case f != Int8Format && int8Model:
		return fmt.Errorf("the model computes in int8 and this is not an int8 weight file (its format metadata is %q, not %q): quantize the float32 weights with rnc quantize (docs/int8.md)", f, Int8Format)
	}
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
		if t.DType != s.DType {
			problems = append(problems, fmt.Sprintf("tensor %q holds %s values, want %s", s.Name, t.DType.GoType(), s.DType.GoType()))
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

// maxHDF5FileBytes bounds the size of a Keras HDF5 weight file, which is
// read into memory whole (the largest Keras application, ConvNeXtXLarge,
// has 1.4 GB of weights).
const maxHDF5FileBytes = 16 << 30

// weightFormat is the format of a weight file, told by its content.
type weightFormat int

const (
	formatSafetensors weightFormat = iota
	formatHDF5
	formatPyTorch // a zip archive: torch.save's checkpoint
)

// sniffWeights tells a weight file's format from its first bytes: an HDF5
// signature at offset 0, 512, 1024, ... (hdf5.FindSignature), or a
// safetensors header, whose JSON "MUST begin with a {" (the safetensors
// format description; JSON white space before it is tolerated, as
// ParseSafetensors does). Anything else is neither, and the error says so
// rather than reading its first 8 bytes as a header length.
func sniffWeights(r io.ReaderAt, size int64) (weightFormat, error) {
	var head [72]byte
	n, err := r.ReadAt(head[:min(int64(len(head)), size)], 0)
	if err != nil && err != io.EOF {
		return 0, err
	}
	if IsHDF5(head[:n]) {
		return formatHDF5, nil
	}
	if pytorch.IsZip(head[:n]) {
		return formatPyTorch, nil
	}
	if pytorch.IsLegacy(head[:n]) {
		return 0, pytorch.ErrLegacy
	}
	if n > 8 {
		for _, c := range head[8:n] {
			if c == '{' {
				return formatSafetensors, nil
			}
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				break
			}
		}
	}
	for off := int64(512); off+8 <= size; off *= 2 { // an HDF5 user block
		var sig [8]byte
		if _, err := r.ReadAt(sig[:], off); err != nil {
			return 0, err
		}
		if IsHDF5(sig[:]) {
			return formatHDF5, nil
		}
	}
	return 0, fmt.Errorf("neither safetensors nor HDF5 nor a PyTorch checkpoint (a %d-byte file starting with % x)", size, head[:min(n, 8)])
}

// openWeights opens a weight file (a regular file only: a device, a named
// pipe or a directory is refused before it is opened) and tells its format.
func openWeights(path string) (*os.File, int64, weightFormat, error) {
	f, st, err := fileio.Open(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("reading weights: %w", err)
	}
	format, err := sniffWeights(f, st.Size())
	if err != nil {
		f.Close()
		return nil, 0, 0, fmt.Errorf("reading weights %s: %w", path, err)
	}
	return f, st.Size(), format, nil
}

// readHDF5 reads an open HDF5 file whole and closes it.
func readHDF5(f *os.File, path string, size int64) ([]byte, error) {
	defer f.Close()
	if size > maxHDF5FileBytes {
		return nil, fmt.Errorf("reading weights %s: HDF5 file of %d bytes is over the %d GiB limit", path, size, maxHDF5FileBytes>>30)
	}
	data, err := fileio.ReadOpen(f, path, size)
	if err != nil {
		return nil, fmt.Errorf("reading weights: %w", err)
	}
	return data, nil
}

// LoadWeightsFile reads a weight file: safetensors, a Keras HDF5 weight
// file (Keras 2 .h5 or Keras 3 .weights.h5) or a PyTorch checkpoint
// (torch.save's zip format, runtime/pytorch: named and laid out as rnc's,
// read lazily like safetensors), chosen by content, not by the file's
// extension; anything else is an error. A safetensors file with PyTorch's
// state_dict names (no "/" in any name) is renamed and laid out as a
// checkpoint is. Only regular files are read.
// A safetensors file is opened lazily: its tensors are read when used
// (Weights.Data), so loading a model holds at most a few of them at once;
// Close the result when done. An HDF5 file is read whole and its tensors
// converted, within the limits of hdf5.DefaultLimits.
func LoadWeightsFile(path string) (*Weights, error) {
	return loadWeightsFile(path, false)
}

// ListWeightsFile reads what a weight file says about its tensors — names,
// shapes and metadata — without reading or checking any tensor data: the
// result's tensors have no Data, and Weights.Data reports an error. A
// safetensors file is read up to the end of its header; a Keras HDF5 file
// is read into memory but only its metadata (groups, attributes, dataset
// headers) is parsed.
func ListWeightsFile(path string) (*Weights, error) {
	return loadWeightsFile(path, true)
}

func loadWeightsFile(path string, headersOnly bool) (*Weights, error) {
	f, size, format, err := openWeights(path)
	if err != nil {
		return nil, err
	}
	if format == formatHDF5 {
		data, err := readHDF5(f, path, size)
		if err != nil {
			return nil, err
		}
		ws, err := parseKerasH5(data, hdf5.DefaultLimits(), headersOnly)
		if err != nil {
			return nil, fmt.Errorf("reading weights %s: %w", path, err)
		}
		if headersOnly {
			ws.src = listedSource{}
		}
		return ws, nil
	}
	var ws *Weights
	if format == formatPyTorch {
		ws, err = openPyTorch(f, size)
	} else if ws, err = openSafetensors(f, size); err == nil && torchNamed(ws) {
		err = renameTorch(ws)
	}
	if err != nil {
		f.Close()
		if format == formatSafetensors {
			err = fmt.Errorf("safetensors: %w", err)
		}
		return nil, fmt.Errorf("reading weights %s: %w", path, err)
	}
	if headersOnly {
		ws.src.close()
		ws.src = listedSource{}
	}
	return ws, nil
}

// listedSource is the source of listed weights: they have no data.
type listedSource struct{}

func (listedSource) read(name string) ([]float32, error) {
	return nil, fmt.Errorf("tensor %q: the weights were listed (ListWeightsFile), not loaded", name)
}

func (listedSource) readBytes(name string) ([]byte, error) {
	return nil, fmt.Errorf("tensor %q: the weights were listed (ListWeightsFile), not loaded", name)
}

func (listedSource) close() error { return nil }

// nopCloser is a reader of memory, which needs no closing.
type nopCloser struct{ io.ReaderAt }

func (nopCloser) Close() error { return nil }

// ParseWeights parses a weight file held in memory, safetensors, Keras
// HDF5 or a PyTorch checkpoint by content (anything else is an error); name is used in messages.
func ParseWeights(name string, data []byte) (*Weights, error) {
	format, err := sniffWeights(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("reading weights %s: %w", name, err)
	}
	var ws *Weights
	switch format {
	case formatHDF5:
		ws, err = ParseKerasH5(data)
	case formatPyTorch:
		if ws, err = openPyTorch(nopCloser{bytes.NewReader(data)}, int64(len(data))); err == nil {
			err = ws.loadAll()
			ws.src = nil
		}
	default:
		if ws, err = ParseSafetensors(data); err == nil && torchNamed(ws) {
			err = renameTorch(ws)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading weights %s: %w", name, err)
	}
	return ws, nil
}

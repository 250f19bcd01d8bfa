// Package pytorch reads PyTorch state_dict checkpoints (torch.save's zip format) through a restricted unpickler, mapping their names and layouts to rnc's.
//
// A checkpoint written by torch.save(model.state_dict(), f) since PyTorch
// 1.6 is a zip archive: <archive>/data.pkl, a pickle of an OrderedDict of
// tensors, each rebuilt by torch._utils._rebuild_tensor_v2 from a typed
// storage that the pickle names by a persistent id and whose bytes are the
// entry <archive>/data/<key>. This package unpickles data.pkl with
// github.com/nlpodyssey/gopickle after scanning its opcodes itself: any
// global other than collections.OrderedDict, _rebuild_tensor_v2,
// _rebuild_parameter and the Float, Half, BFloat16 and Long storages is
// refused, naming it, before anything is built. Storage offsets and strides
// are honoured; float16 and bfloat16 are converted to float32. The legacy
// format of PyTorch before 1.6 (a bare pickle stream after a magic number)
// is not read: IsLegacy recognizes it so that callers can say so.
//
// Names follow rnc's "<layer>/<param>" convention by structure (Map).
package pytorch

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// DType is a storage's element type.
type DType int

const (
	Float32 DType = iota
	Float16
	BFloat16
	Int64
)

var dtypes = []struct {
	dtype   DType
	storage string // torch's storage class
	name    string
	size    int
}{
	{Float32, "FloatStorage", "float32", 4},
	{Float16, "HalfStorage", "float16", 2},
	{BFloat16, "BFloat16Storage", "bfloat16", 2},
	{Int64, "LongStorage", "int64", 8},
}

func (d DType) String() string { return dtypes[d].name }

// Size is the element size in bytes.
func (d DType) Size() int { return dtypes[d].size }

// maxRank bounds a tensor's rank.
const maxRank = 32

// zipMagic starts every zip archive torch.save writes.
var zipMagic = []byte("PK\x03\x04")

// IsZip reports whether head, a file's first bytes, starts a zip archive
// (a local file header), as a PyTorch checkpoint does.
func IsZip(head []byte) bool { return bytes.HasPrefix(head, zipMagic) }

// legacyMagic follows the pickle's PROTO opcode at the start of the
// legacy (pre-1.6) format: the magic number 0x1950a86a20f9469cfc6c as a
// LONG1.
var legacyMagic = []byte("\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19")

// IsLegacy reports whether head starts a checkpoint in PyTorch's legacy
// (pre-1.6, non-zip) format, which this package does not read.
func IsLegacy(head []byte) bool {
	return len(head) >= 2 && head[0] == 0x80 && bytes.HasPrefix(head[2:], legacyMagic)
}

// ErrLegacy is the error for a legacy checkpoint.
var ErrLegacy = errors.New("a PyTorch checkpoint in the legacy format of PyTorch before 1.6 (a bare pickle stream, not a zip archive), which rnc does not read: load it in Python and save it again with torch.save(state_dict, f), which writes the zip format")

// Tensor is one tensor of a checkpoint, as rnc names and lays it out.
type Tensor struct {
	Name  string // rnc's name, "<layer>/<param>"
	Key   string // the state_dict key
	Shape []int  // rnc's shape (HWIO for a conv kernel, [in, out] for a Linear)
	DType DType  // the stored element type, converted to float32 when read
	rec   *tensorRec
	perm  []int // the storage tensor's axis for each of rnc's axes
	entry *zip.File
}

// File is an open checkpoint: its tensors' names and shapes, read from
// data.pkl; their values are read on demand (Read).
type File struct {
	// Tensors are the tensors rnc keeps, in the state_dict's order
	// (num_batches_tracked is dropped).
	Tensors []*Tensor
	byName  map[string]*Tensor
	r       io.ReaderAt
	size    int64
}

// maxExpansion bounds a compressed storage entry's size relative to the
// whole file (torch writes storages uncompressed).
const maxExpansion = 16

// Open reads the checkpoint r of size bytes: its zip directory, data.pkl
// and each tensor's storage entry, checked against the tensor's shape,
// strides and offset. No tensor data is read.
func Open(r io.ReaderAt, size int64) (*File, error) {
	z, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("pytorch: not a readable zip archive: %w", err)
	}
	var pkl *zip.File
	for _, f := range z.File {
		if dir, base, ok := strings.Cut(f.Name, "/"); ok && base == "data.pkl" && dir != "" {
			if pkl != nil {
				return nil, fmt.Errorf("pytorch: the archive has two data.pkl (%s and %s)", pkl.Name, f.Name)
			}
			pkl = f
		}
	}
	if pkl == nil {
		return nil, errors.New("pytorch: the zip archive has no <archive>/data.pkl: not a checkpoint torch.save wrote")
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl")
	entries := map[string]*zip.File{}
	for _, f := range z.File {
		if key, ok := strings.CutPrefix(f.Name, prefix+"data/"); ok {
			entries[key] = f
		}
		if f.Name == prefix+"byteorder" {
			b, err := readEntry(f, 16, size)
			if err != nil {
				return nil, fmt.Errorf("pytorch: %w", err)
			}
			if s := string(b); s != "little" {
				return nil, fmt.Errorf("pytorch: %s says %q: only little-endian checkpoints are read", f.Name, s)
			}
		}
	}
	p, err := readEntry(pkl, maxPickleBytes, size)
	if err != nil {
		return nil, fmt.Errorf("pytorch: %w", err)
	}
	recs, err := unpickle(p)
	if err != nil {
		return nil, fmt.Errorf("pytorch: %s: %w", pkl.Name, err)
	}
	keys := make([]Key, len(recs))
	for i, rec := range recs {
		keys[i] = Key{rec.key, len(rec.t.shape)}
	}
	names, err := Map(keys)
	if err != nil {
		return nil, fmt.Errorf("pytorch: %w", err)
	}
	f := &File{byName: map[string]*Tensor{}, r: r, size: size}
	for i, rec := range recs {
		m := names[i]
		if m.Name == "" {
			continue // dropped
		}
		t := &Tensor{Name: m.Name, Key: rec.key, DType: rec.t.storage.dtype, rec: rec.t, perm: m.Perm}
		if err := f.check(t, entries); err != nil {
			return nil, fmt.Errorf("pytorch: state_dict key %q: %w", rec.key, err)
		}
		t.Shape = make([]int, len(m.Perm))
		for j, a := range m.Perm {
			t.Shape[j] = rec.t.shape[a]
		}
		if f.byName[t.Name] != nil {
			return nil, fmt.Errorf("pytorch: state_dict keys %q and %q both become %q", f.byName[t.Name].Key, rec.key, t.Name)
		}
		f.byName[t.Name] = t
		f.Tensors = append(f.Tensors, t)
	}
	return f, nil
}

// check validates a tensor against its storage entry.
func (f *File) check(t *Tensor, entries map[string]*zip.File) error {
	rec, st := t.rec, t.rec.storage
	if st.dtype != Float32 && st.dtype != Float16 && st.dtype != BFloat16 {
		return fmt.Errorf("holds %s values: rnc reads float32, float16 and bfloat16 tensors", st.dtype)
	}
	e := entries[st.key]
	if e == nil {
		return fmt.Errorf("its storage %q is not in the archive (no data/%s entry)", st.key, st.key)
	}
	esz := uint64(st.dtype.Size())
	if e.UncompressedSize64 != uint64(st.numel)*esz {
		return fmt.Errorf("storage %q: the pickle says %d %s elements (%d bytes), the archive's %s holds %d bytes", st.key, st.numel, st.dtype, uint64(st.numel)*esz, e.Name, e.UncompressedSize64)
	}
	if e.Method == zip.Store && e.CompressedSize64 != e.UncompressedSize64 {
		return fmt.Errorf("storage %q: stored entry %s has %d compressed and %d uncompressed bytes", st.key, e.Name, e.CompressedSize64, e.UncompressedSize64)
	}
	if e.UncompressedSize64 > maxExpansion*uint64(f.size) {
		return fmt.Errorf("storage %q: entry %s would expand to %d bytes, more than %d times the %d-byte file: refused", st.key, e.Name, e.UncompressedSize64, maxExpansion, f.size)
	}
	if len(rec.stride) != len(rec.shape) {
		return fmt.Errorf("size %v and stride %v differ in rank", rec.shape, rec.stride)
	}
	n, last := 1, rec.offset
	for _, d := range rec.shape {
		if d != 0 && n > math.MaxInt32/d {
			return fmt.Errorf("size %v: too many elements", rec.shape)
		}
		n *= d
	}
	if n == 0 {
		return nil
	}
	for i, d := range rec.shape {
		if rec.stride[i] > 0 && d-1 > (math.MaxInt-last)/rec.stride[i] {
			return fmt.Errorf("size %v, stride %v: offsets overflow", rec.shape, rec.stride)
		}
		last += (d - 1) * rec.stride[i]
	}
	if last >= st.numel {
		return fmt.Errorf("size %v, stride %v at storage offset %d reach element %d of storage %q, which has %d", rec.shape, rec.stride, rec.offset, last, st.key, st.numel)
	}
	if n > st.numel {
		return fmt.Errorf("size %v holds %d elements, more than its storage %q's %d (a broadcast view is not read)", rec.shape, n, st.key, st.numel)
	}
	t.entry = e
	return nil
}

// readEntry reads a small zip entry whole.
func readEntry(f *zip.File, limit uint64, fileSize int64) ([]byte, error) {
	if f.UncompressedSize64 > limit {
		return nil, fmt.Errorf("%s is %d bytes, over the limit of %d", f.Name, f.UncompressedSize64, limit)
	}
	if f.UncompressedSize64 > maxExpansion*uint64(fileSize)+1024 {
		return nil, fmt.Errorf("%s would expand to %d bytes from a %d-byte file: refused", f.Name, f.UncompressedSize64, fileSize)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	defer rc.Close()
	b := make([]byte, f.UncompressedSize64)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	if _, err := rc.Read(make([]byte, 1)); err != io.EOF { // the checksum is checked at EOF
		if err == nil {
			err = errors.New("longer than its header says")
		}
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	return b, nil
}

// Read returns the float32 values of the tensor rnc names name, in rnc's
// layout (row-major over Tensor.Shape).
func (f *File) Read(name string) ([]float32, error) {
	t := f.byName[name]
	if t == nil {
		return nil, fmt.Errorf("pytorch: no tensor %q", name)
	}
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	out := make([]float32, n)
	if n == 0 {
		return out, nil
	}
	rec := t.rec
	esz := t.DType.Size()
	// The span of the storage the tensor reads.
	first, last := rec.offset, rec.offset
	for i, d := range rec.shape {
		last += (d - 1) * rec.stride[i]
	}
	span := make([]byte, (last-first+1)*esz)
	if err := f.readSpan(t.entry, int64(first*esz), span); err != nil {
		return nil, fmt.Errorf("pytorch: tensor %q (state_dict key %q): %w", name, t.Key, err)
	}
	// Walk rnc's index space; the storage index of each element.
	rank := len(t.Shape)
	strides := make([]int, rank)
	for j, a := range t.perm {
		strides[j] = rec.stride[a]
	}
	idx := make([]int, rank)
	at := 0 // storage index relative to first
	for k := range out {
		o := at * esz
		switch t.DType {
		case Float32:
			out[k] = math.Float32frombits(binary.LittleEndian.Uint32(span[o:]))
		case Float16:
			out[k] = Float16ToFloat32(binary.LittleEndian.Uint16(span[o:]))
		case BFloat16:
			out[k] = BFloat16ToFloat32(binary.LittleEndian.Uint16(span[o:]))
		}
		for j := rank - 1; j >= 0; j-- {
			idx[j]++
			at += strides[j]
			if idx[j] < t.Shape[j] {
				break
			}
			at -= idx[j] * strides[j]
			idx[j] = 0
		}
	}
	return out, nil
}

// readSpan reads len(b) bytes of entry e from byte off of its data.
func (f *File) readSpan(e *zip.File, off int64, b []byte) error {
	if e.Method == zip.Store {
		start, err := e.DataOffset()
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		if start < 0 || start+int64(e.UncompressedSize64) > f.size {
			return fmt.Errorf("%s: its data runs past the end of the %d-byte file (truncated?)", e.Name, f.size)
		}
		if _, err := f.r.ReadAt(b, start+off); err != nil {
			return fmt.Errorf("%s: reading bytes [%d, %d): %w", e.Name, off, off+int64(len(b)), err)
		}
		return nil
	}
	rc, err := e.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", e.Name, err)
	}
	defer rc.Close()
	if _, err := io.CopyN(io.Discard, rc, off); err != nil {
		return fmt.Errorf("%s: %w", e.Name, err)
	}
	if _, err := io.ReadFull(rc, b); err != nil {
		return fmt.Errorf("%s: %w", e.Name, err)
	}
	return nil
}

// Float16ToFloat32 converts an IEEE 754 binary16 value, exactly.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf, NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp == 0:
		if frac == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: frac × 2^-24, exact in float32.
		v := float32(frac) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}

// BFloat16ToFloat32 converts a bfloat16 value (a float32's upper half).
func BFloat16ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

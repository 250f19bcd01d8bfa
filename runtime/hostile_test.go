package runtime

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/runtime/hdf5"
	"github.com/rnc-dev/rnc/runtime/internal/h5build"
)

// allocated returns the bytes fn allocates (runtime.MemStats.TotalAlloc).
func allocated(fn func()) uint64 {
	var a, b goruntime.MemStats
	goruntime.ReadMemStats(&a)
	fn()
	goruntime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// kerasDense is a Keras 2 file with one Dense layer "dense" whose kernel
// dataset is made by kernel (given the builder) and whose bias is [3]
// contiguous.
func kerasDense(kernel func(b *h5build.File) uint64) []byte {
	b := h5build.New()
	k := kernel(b)
	addr, size := b.Float32Data([]float32{0.5, 0.25, 0.125})
	bias := b.Dataset([]uint64{3}, h5build.Contiguous(addr, size))
	root := b.Keras2([]h5build.Keras2Layer{{Name: "dense", Weights: []h5build.Keras2Weight{
		{Name: "dense/kernel:0", Addr: k}, {Name: "dense/bias:0", Addr: bias}}}})
	return b.Bytes(root)
}

func validKernel(b *h5build.File) uint64 {
	addr, size := b.Float32Data([]float32{1, 2, 3, 4, 5, 6})
	return b.Dataset([]uint64{2, 3}, h5build.Contiguous(addr, size))
}

// The Trust report's file: a 2 KB Keras .h5 whose kernel declares 2^30
// float32 never written. It crashed `rnc weights ls`, `rnc weights import`
// and Load with an out-of-memory error.
func unwrittenKernel(b *h5build.File) uint64 {
	return b.Dataset([]uint64{1 << 15, 1 << 15}, h5build.Contiguous(h5build.Undef, 4<<30), h5build.Fill(f32LE(0)))
}

func TestKerasBuilderFile(t *testing.T) {
	ws, err := ParseKerasH5(kerasDense(validKernel))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ws.Order, []string{"dense/kernel", "dense/bias"}) ||
		fmt.Sprint(ws.Tensors["dense/kernel"].Shape, ws.Tensors["dense/kernel"].Data) != "[2 3] [1 2 3 4 5 6]" {
		t.Fatalf("got %v %v", ws.Order, ws.Tensors["dense/kernel"])
	}
}

func TestUnwrittenKerasDataset(t *testing.T) {
	data := kerasDense(unwrittenKernel)
	if len(data) > 2048 {
		t.Fatalf("the hostile file is %d bytes", len(data))
	}
	path := writeTemp(t, "hostile.h5", data)
	for name, fn := range map[string]func() error{
		"ParseKerasH5":    func() error { _, err := ParseKerasH5(data); return err },
		"LoadWeightsFile": func() error { _, err := LoadWeightsFile(path); return err },
		"ListWeightsFile": func() error { _, err := ListWeightsFile(path); return err },
		"Load":            func() error { _, err := Load(tinyProgram(), path); return err },
	} {
		var err error
		n := allocated(func() { err = fn() })
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, want := range []string{`layer "dense" dataset "dense/kernel:0"`, "no storage written", "4294967296 bytes", "MaxFillBytes"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q\ndoes not contain %q", name, err, want)
			}
		}
		if n > 1<<20 {
			t.Errorf("%s: allocated %d bytes for a %d-byte file", name, n, len(data))
		}
	}
}

// TestKerasStructureLimits: layer lists and group trees that would make
// the reader repeat work the file does not pay for.
func TestKerasStructureLimits(t *testing.T) {
	// layer_names listing one layer twice, and two layers sharing a group.
	b := h5build.New()
	addr, size := b.Float32Data([]float32{1})
	ds := b.Dataset([]uint64{1}, h5build.Contiguous(addr, size))
	g := b.Header(h5build.AttrStrings("weight_names", []string{"kernel:0"}), h5build.Link("kernel:0", ds))
	twice := b.Bytes(b.Header(h5build.AttrStrings("layer_names", []string{"a", "a"}), h5build.Link("a", g)))
	shared := b.Bytes(b.Header(h5build.AttrStrings("layer_names", []string{"a", "b"}), h5build.Link("a", g), h5build.Link("b", g)))

	// A Keras 3 container whose group links to itself twice: 2^64 paths
	// for a walk that does not remember where it has been.
	b = h5build.New()
	self := b.End() // the next header's address
	b.Header(h5build.Link("x", self), h5build.Link("y", self))
	cycle := b.Bytes(b.Header(h5build.Link("layers", self)))

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"layer listed twice", twice, `layer "a" is listed twice in layer_names`},
		{"layers sharing a group", shared, `layers "a" and "b" are the same group`},
		{"group cycle", cycle, "is the group /layers again"},
	} {
		for _, headersOnly := range []bool{false, true} {
			_, err := parseKerasH5(tc.data, hdf5.DefaultLimits(), headersOnly)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s (headers only %v): err = %v, want %q", tc.name, headersOnly, err, tc.want)
			}
		}
	}
}

// TestListReadsNoData: ListWeightsFile reads names and shapes only.
func TestListReadsNoData(t *testing.T) {
	// safetensors: the bytes read are the length and the header.
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, sampleWeights(t)); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()
	hlen := binary.LittleEndian.Uint64(file)
	r := &countingReader{r: bytes.NewReader(file)}
	ws, err := openSafetensors(r, int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	if r.n != 8+int64(hlen) {
		t.Errorf("reading the header of a %d-byte file read %d bytes, want %d", len(file), r.n, 8+hlen)
	}
	if len(ws.Order) != len(sampleWeights(t).Order) {
		t.Errorf("listed %v", ws.Order)
	}

	// A safetensors file whose data is garbage lists; loading it and
	// checking reports the garbage.
	garbage := append([]byte(nil), file...)
	for i := 8 + int(hlen); i < len(garbage); i++ {
		garbage[i] = 0xFF // NaN
	}
	path := writeTemp(t, "garbage.safetensors", garbage)
	listed, err := ListWeightsFile(path)
	if err != nil || !slices.Equal(listed.Order, ws.Order) {
		t.Fatalf("listing: %v, %v", listed, err)
	}
	if _, err := listed.Data(listed.Order[0]); err == nil || !strings.Contains(err.Error(), "listed (ListWeightsFile), not loaded") {
		t.Errorf("Data of listed weights: %v", err)
	}

	// HDF5: a kernel stored as a deflated chunk that does not inflate
	// lists, with its shape; loading it fails naming the dataset.
	data := kerasDense(func(b *h5build.File) uint64 {
		bad := []byte("\x78\x9cnot deflate at all")
		addr := b.Append(bad)
		return b.Dataset([]uint64{2, 3}, h5build.ChunkedSingle(addr, []uint64{2, 3}, 4, uint64(len(bad))), h5build.Deflate())
	})
	path = writeTemp(t, "bad.h5", data)
	listed, err = ListWeightsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(listed.Order, listed.Tensors["dense/kernel"].Shape); got != "[dense/kernel dense/bias] [2 3]" {
		t.Errorf("listed %s", got)
	}
	if _, err := LoadWeightsFile(path); err == nil || !strings.Contains(err.Error(), `dataset "dense/kernel:0"`) || !strings.Contains(err.Error(), "deflate") {
		t.Errorf("loading: %v", err)
	}

	// A real Keras file: listing parses its metadata only; loading also
	// converts every value, which listing did not pay for.
	for _, name := range []string{"keras2_tinyv2.h5", "keras3_tinyv2.weights.h5", "keras2_stemv2_latest.h5"} {
		data := readH5(t, name)
		lw, lf, err := readKerasH5(data, hdf5.DefaultLimits(), true)
		if err != nil {
			t.Fatal(err)
		}
		fw, ff, err := readKerasH5(data, hdf5.DefaultLimits(), false)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(lw.Order, fw.Order) {
			t.Errorf("%s: listed %v, loaded %v", name, lw.Order, fw.Order)
		}
		values := 0
		for _, n := range fw.Order {
			if fmt.Sprint(lw.Tensors[n].Shape) != fmt.Sprint(fw.Tensors[n].Shape) || lw.Tensors[n].Data != nil {
				t.Errorf("%s: %s listed as %v", name, n, lw.Tensors[n])
			}
			values += 4 * len(fw.Tensors[n].Data)
		}
		if lf.Spent()+uint64(values) > ff.Spent() {
			t.Errorf("%s (%d bytes, %d of values): listing spent %d, loading %d", name, len(data), values, lf.Spent(), ff.Spent())
		}
	}
}

type countingReader struct {
	r io.ReaderAt
	n int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return nil }

// TestNeitherFormat: a file that is neither safetensors nor HDF5 says so.
func TestNeitherFormat(t *testing.T) {
	jpeg := []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xdb\x00\x43\x00")
	jpeg = append(jpeg, make([]byte, 2000)...)
	for name, data := range map[string][]byte{"photo.jpg": jpeg, "empty": nil, "short": []byte("{}"), "text.txt": []byte("hello, world\n")} {
		path := writeTemp(t, name, data)
		for fn, load := range map[string]func(string) (*Weights, error){"LoadWeightsFile": LoadWeightsFile, "ListWeightsFile": ListWeightsFile} {
			_, err := load(path)
			if err == nil || !strings.Contains(err.Error(), path+": neither safetensors nor HDF5") {
				t.Errorf("%s(%s): %v", fn, name, err)
			}
		}
		if _, err := ParseWeights(name, data); err == nil || !strings.Contains(err.Error(), name+": neither safetensors nor HDF5") {
			t.Errorf("ParseWeights(%s): %v", name, err)
		}
	}
	// Sniffing does not mistake a safetensors header or an HDF5 user
	// block for "neither".
	for name, data := range map[string][]byte{
		"bad.safetensors": stFile(`{"a":1}`, nil),
		"spaced":          stFile(" \n{}", nil),
		"userblock.h5":    append(make([]byte, 512), "\x89HDF\r\n\x1a\n\x07"...),
	} {
		_, err := LoadWeightsFile(writeTemp(t, name, data))
		if err != nil && strings.Contains(err.Error(), "neither") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestSafetensorsHostileHeaders: values of the wrong kind or size cost no
// more than their bytes, and are refused by what they are.
func TestSafetensorsHostileHeaders(t *testing.T) {
	long := "[" + strings.Repeat("1,", 1<<17) + "1]"
	for _, tc := range []struct {
		name, entry, want string
	}{
		{"rank 2^17", `{"dtype":"F32","shape":` + long + `,"data_offsets":[0,4]}`, "shape has more than 32 dimensions"},
		{"huge dtype", `{"dtype":` + long + `,"shape":[1],"data_offsets":[0,4]}`, "dtype is an array"},
		{"huge offsets", `{"dtype":"F32","shape":[1],"data_offsets":` + long + `}`, "data_offsets is an array of more than 2 elements"},
		{"nested shape", `{"dtype":"F32","shape":[` + long + `],"data_offsets":[0,4]}`, "shape[0]: got an array"},
	} {
		file := stFile(`{"t":`+tc.entry+`}`, f32LE(1))
		var err error
		n := allocated(func() { _, err = ParseSafetensors(file) })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
		if n > 16*uint64(len(file)) {
			t.Errorf("%s: a %d-byte file made the parser allocate %d bytes", tc.name, len(file), n)
		}
	}
}

// tinyProgram is the smallest valid program: no steps, a 1×1×1 input that
// is its own output.
func tinyProgram() *Program {
	return &Program{Name: "tiny", InputH: 1, InputW: 1, InputC: 1, Classes: 1, Plans: []*Plan{{
		Target: "generic", ArenaFloats: 1,
		Input: Buf{H: 1, W: 1, C: 1}, Output: Buf{H: 1, W: 1, C: 1},
	}}}
}

// checkBounded runs a reader on data and fails if it panics or allocates
// more than a bound proportional to the input plus a constant.
func checkBounded(t *testing.T, what string, data []byte, perByte, base uint64, fn func()) {
	t.Helper()
	n := allocated(fn)
	if bound := perByte*uint64(len(data)) + base; n > bound {
		t.Fatalf("%s: a %d-byte input allocated %d bytes (bound %d × size + %d = %d)", what, len(data), n, perByte, base, bound)
	}
}

// hostileSeeds are small crafted files for the fuzz targets' corpora.
func hostileH5Seeds(t testing.TB) [][]byte {
	seeds := [][]byte{kerasDense(validKernel), kerasDense(unwrittenKernel)}
	seeds = append(seeds, kerasDense(func(b *h5build.File) uint64 {
		z := zlibBytes(t, make([]byte, 1<<20))
		addr := b.Append(z)
		return b.Dataset([]uint64{256, 1024}, h5build.ChunkedSingle(addr, []uint64{256, 1024}, 4, uint64(len(z))), h5build.Deflate())
	}))
	seeds = append(seeds, kerasDense(func(b *h5build.File) uint64 {
		addr, _ := b.Float32Data(make([]float32, 16))
		return b.Dataset([]uint64{1 << 28}, h5build.Contiguous(addr, 4<<28))
	}))
	b := h5build.New()
	self := b.End()
	b.Header(h5build.Link("x", self), h5build.Link("y", self))
	seeds = append(seeds, b.Bytes(b.Header(h5build.Link("layers", self))))
	return seeds
}

func zlibBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

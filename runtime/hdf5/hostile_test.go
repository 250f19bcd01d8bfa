package hdf5

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	goruntime "runtime"
	"strings"
	"testing"

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

func f32Bytes(vals ...float32) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func deflate(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readFloat32 opens data, looks up path and reads it as float32.
func readFloat32(data []byte, lim Limits, path string) ([]float32, error) {
	f, err := OpenLimits(data, lim)
	if err != nil {
		return nil, err
	}
	d, err := f.Root().Dataset(path)
	if err != nil {
		return nil, err
	}
	return d.Float32()
}

// TestBuilder checks that the files of h5build read as written, so that
// the hostile variants below fail for what they change, not for a broken
// builder.
func TestBuilder(t *testing.T) {
	b := h5build.New()
	addr, size := b.Float32Data([]float32{1, 2, 3, 4, 5, 6})
	contiguous := b.Dataset([]uint64{2, 3}, h5build.Contiguous(addr, size))
	compact := b.Dataset([]uint64{2}, h5build.Compact(f32Bytes(7, 8)))
	unwritten := b.Dataset([]uint64{3}, h5build.Contiguous(h5build.Undef, 12), h5build.Fill(f32Bytes(1.5)))
	z := deflate(t, f32Bytes(9, 10, 11, 12))
	zaddr := b.Append(z)
	single := b.Dataset([]uint64{4}, h5build.ChunkedSingle(zaddr, []uint64{4}, 4, uint64(len(z))), h5build.Deflate())
	c0, _ := b.Float32Data([]float32{1, 2})
	c1, _ := b.Float32Data([]float32{3, 4})
	tree := b.ChunkBtree1(1, []h5build.Chunk{{Addr: c0, Size: 8, Offset: []uint64{0}}, {Addr: c1, Size: 8, Offset: []uint64{4}}})
	sparse := b.Dataset([]uint64{6}, h5build.ChunkedBtree1(tree, []uint32{2}, 4), h5build.Fill(f32Bytes(-1)))
	heap := b.GlobalHeap([]byte("hello"), []byte("world!"))
	sub := b.Header(h5build.Link("x", compact))
	root := b.Header(
		h5build.AttrStrings("names", []string{"a", "bc"}),
		h5build.AttrVlenStrings("vlen", []h5build.VlenRef{{Len: 5, Collection: heap, Index: 1}, {Len: 6, Collection: heap, Index: 2}}),
		h5build.Link("contiguous", contiguous), h5build.Link("unwritten", unwritten), h5build.Link("single", single),
		h5build.Link("sparse", sparse), h5build.Link("sub", sub), h5build.SoftLink("soft", "/sub/x"))
	data := b.Bytes(root)

	for _, tc := range []struct {
		path string
		want []float32
	}{
		{"contiguous", []float32{1, 2, 3, 4, 5, 6}},
		{"sub/x", []float32{7, 8}},
		{"soft", []float32{7, 8}},
		{"unwritten", []float32{1.5, 1.5, 1.5}},
		{"single", []float32{9, 10, 11, 12}},
		{"sparse", []float32{1, 2, -1, -1, 3, 4}},
	} {
		got, err := readFloat32(data, DefaultLimits(), tc.path)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s = %v, %v; want %v", tc.path, got, err, tc.want)
		}
	}
	f, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"names": "[a bc]", "vlen": "[hello world!]"} {
		a, err := f.Root().Attr(name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := a.Strings()
		if err != nil || fmt.Sprint(s) != want {
			t.Errorf("attribute %s = %v, %v; want %s", name, s, err, want)
		}
	}
}

// hostile is a crafted file and the error it must give.
type hostile struct {
	name string
	data []byte
	lim  Limits
	want []string // substrings of the error
	kind error
}

// hostileFiles are small files that declare far more than they hold. Each
// made the reader allocate or work in proportion to what it declares
// before the limits were added.
func hostileFiles(t testing.TB) []hostile {
	var out []hostile
	add := func(name string, data []byte, lim Limits, kind error, want ...string) {
		out = append(out, hostile{name, data, lim, want, kind})
	}

	// A float32 dataset of 2^30 elements (4 GiB) with no storage written:
	// it would read as its fill value.
	b := h5build.New()
	ds := b.Dataset([]uint64{1 << 30}, h5build.Contiguous(h5build.Undef, 4<<30), h5build.Fill(f32Bytes(1)))
	add("unwritten", b.Bytes(b.Header(h5build.Link("d", ds))), DefaultLimits(), ErrLimit,
		"no storage written for the dataset: its 4294967296 bytes would read as the fill value, more than MaxFillBytes (1048576)")

	// Contiguous data declared far beyond the end of the file.
	b = h5build.New()
	addr, _ := b.Float32Data(make([]float32, 16))
	ds = b.Dataset([]uint64{1 << 28}, h5build.Contiguous(addr, 4<<28))
	add("beyond the file", b.Bytes(b.Header(h5build.Link("d", ds))), DefaultLimits(), ErrCorrupt,
		"1073741824 bytes of data at address", "run past the end of the")

	// A chunked dataset of 2^26 elements with one chunk of 16 written.
	b = h5build.New()
	addr, _ = b.Float32Data(make([]float32, 16))
	tree := b.ChunkBtree1(1, []h5build.Chunk{{Addr: addr, Size: 64, Offset: []uint64{0}}})
	ds = b.Dataset([]uint64{1 << 26}, h5build.ChunkedBtree1(tree, []uint32{16}, 4))
	add("chunks unwritten", b.Bytes(b.Header(h5build.Link("d", ds))), DefaultLimits(), ErrLimit,
		"no storage written for 268435392 of the dataset's 268435456 bytes")

	// A chunk that claims to inflate to 1 GiB from a few bytes.
	b = h5build.New()
	z := deflate(t, make([]byte, 64))
	addr = b.Append(z)
	ds = b.Dataset([]uint64{1 << 28}, h5build.ChunkedSingle(addr, []uint64{1 << 28}, 4, uint64(len(z))), h5build.Deflate())
	add("deflate ratio", b.Bytes(b.Header(h5build.Link("d", ds))), DefaultLimits(), ErrCorrupt, "cannot inflate to the 1073741824 bytes of a chunk")

	// A real deflate bomb: 16 MiB of zeros in a 16 KiB chunk. Within
	// the default limits' base it reads; with a smaller budget it is refused.
	b = h5build.New()
	z = deflate(t, make([]byte, 16<<20))
	addr = b.Append(z)
	ds = b.Dataset([]uint64{4 << 20}, h5build.ChunkedSingle(addr, []uint64{4 << 20}, 4, uint64(len(z))), h5build.Deflate())
	add("deflate bomb", b.Bytes(b.Header(h5build.Link("d", ds))), Limits{MaxDataBytes: 1 << 30, MaxFillBytes: 1 << 20, BudgetPerByte: 64, BudgetBase: 1 << 20},
		ErrLimit, "exceed the reader's budget")

	// Many datasets sharing one data region: each read is paid by the
	// budget, not by the file.
	b = h5build.New()
	addr, size := b.Float32Data(make([]float32, 16<<10))
	var links []h5build.Msg
	for i := range 400 {
		links = append(links, h5build.Link(fmt.Sprint("d", i), b.Dataset([]uint64{16 << 10}, h5build.Contiguous(addr, size))))
	}
	add("shared data", b.Bytes(b.Header(links...)), Limits{MaxDataBytes: 1 << 30, MaxFillBytes: 1 << 20, BudgetPerByte: 64, BudgetBase: 0},
		ErrLimit, "dataset values", "exceed the reader's budget")

	// Many object headers sharing one large continuation block.
	b = h5build.New()
	var pad []h5build.Msg
	for range 1000 {
		pad = append(pad, h5build.Msg{Type: 0x01, Data: []byte{2, 0, 0, 0}}) // scalar dataspaces
	}
	ca, cl := b.ContinuationBlock(pad...)
	links = nil
	for i := range 2000 {
		links = append(links, h5build.Link(fmt.Sprint("g", i), b.Header(h5build.Continuation(ca, cl))))
	}
	add("shared continuation", b.Bytes(b.Header(links...)), Limits{MaxDataBytes: 1 << 30, MaxFillBytes: 1 << 20, BudgetPerByte: 64, BudgetBase: 0},
		ErrLimit, "exceed the reader's budget")

	// A variable-length string attribute whose 4000 elements all point at
	// one 16 KiB heap object (64 MB of strings).
	b = h5build.New()
	heap := b.GlobalHeap(bytes.Repeat([]byte("x"), 16<<10))
	refs := make([]h5build.VlenRef, 4000)
	for i := range refs {
		refs[i] = h5build.VlenRef{Len: 16 << 10, Collection: heap, Index: 1}
	}
	add("vlen strings", b.Bytes(b.Header(h5build.AttrVlenStrings("a", refs))), Limits{MaxDataBytes: 1 << 30, MaxFillBytes: 1 << 20, BudgetPerByte: 64, BudgetBase: 0},
		ErrLimit, `attribute "a"`, "exceed the reader's budget")

	// Soft links whose targets go through soft links, 8 parts at each of
	// 10 levels: 8^10 lookups when hops were counted per level.
	b = h5build.New()
	var soft []h5build.Msg
	soft = append(soft, h5build.SoftLink("l9", "/"))
	for i := 8; i >= 0; i-- {
		next := fmt.Sprint("l", i+1)
		soft = append(soft, h5build.SoftLink(fmt.Sprint("l", i), strings.Repeat(next+"/", 8)))
	}
	add("soft link fan-out", b.Bytes(b.Header(soft...)), DefaultLimits(), nil, "more than 32 soft links followed")
	return out
}

// readHostile reads everything in a hostile file; the first error.
func readHostile(h hostile) error {
	f, err := OpenLimits(h.data, h.lim)
	if err != nil {
		return err
	}
	root := f.Root()
	if as, err := root.Attrs(); err != nil {
		return err
	} else {
		for _, a := range as {
			if _, err := a.Strings(); err != nil {
				return err
			}
		}
	}
	names, err := root.Names()
	if err != nil {
		return err
	}
	for _, n := range names {
		o, err := root.Lookup(n)
		if err != nil {
			return err
		}
		if o.Kind() == KindDataset {
			d, err := o.AsDataset()
			if err != nil {
				return err
			}
			if _, err := d.Float32(); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestHostileFiles(t *testing.T) {
	for _, h := range hostileFiles(t) {
		t.Run(h.name, func(t *testing.T) {
			var err error
			n := allocated(func() { err = readHostile(h) })
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range h.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if h.kind != nil && !errors.Is(err, h.kind) {
				t.Errorf("error %q is not %v", err, h.kind)
			}
			budget := uint64(h.lim.BudgetPerByte)*uint64(len(h.data)) + uint64(h.lim.BudgetBase)
			if bound := 2*budget + 8*uint64(len(h.data)) + 4<<20; n > bound {
				t.Errorf("a %d-byte file made the reader allocate %d bytes (bound %d)", len(h.data), n, bound)
			}
			t.Logf("%d-byte file: %v (%d bytes allocated)", len(h.data), err, n)
		})
	}
}

// TestDeflateBombWithinBudget reads the deflate bomb of hostileFiles with
// the default limits, whose base allows it: limits refuse work a file cannot
// pay for, not compressed data as such.
func TestDeflateBombWithinBudget(t *testing.T) {
	b := h5build.New()
	z := deflate(t, make([]byte, 1<<20))
	addr := b.Append(z)
	ds := b.Dataset([]uint64{256 << 10}, h5build.ChunkedSingle(addr, []uint64{256 << 10}, 4, uint64(len(z))), h5build.Deflate())
	got, err := readFloat32(b.Bytes(b.Header(h5build.Link("d", ds))), DefaultLimits(), "d")
	if err != nil || len(got) != 256<<10 {
		t.Fatalf("read %d values: %v", len(got), err)
	}
}

// TestHeaderChecksumAtEnd: a version 2 object header whose chunk reaches
// the end of the file leaves no room for its checksum; reading it sliced
// past the end of the data.
func TestHeaderChecksumAtEnd(t *testing.T) {
	b := h5build.New()
	root := b.Header(h5build.Link("x", 0))
	data := b.Bytes(root)
	data = data[: len(data)-4 : len(data)-4] // drop the checksum
	if _, err := Open(data); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want a corrupt-file error", err)
	}
}

// TestSmallFillReads: a dataset never written, within MaxFillBytes, reads
// as its fill value; one byte more is refused, naming the limit.
func TestSmallFillReads(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxFillBytes = 64
	for _, tc := range []struct {
		n    uint64
		fail bool
	}{{16, false}, {17, true}} {
		b := h5build.New()
		ds := b.Dataset([]uint64{tc.n}, h5build.Contiguous(h5build.Undef, 4*tc.n), h5build.Fill(f32Bytes(2)))
		got, err := readFloat32(b.Bytes(b.Header(h5build.Link("d", ds))), lim, "d")
		if tc.fail {
			if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "MaxFillBytes (64)") || !strings.Contains(err.Error(), "dataset /d") {
				t.Errorf("%d elements: err = %v, want a MaxFillBytes error naming /d", tc.n, err)
			}
			continue
		}
		if err != nil || len(got) != int(tc.n) || got[0] != 2 {
			t.Errorf("%d elements: %v, %v", tc.n, got, err)
		}
	}
}

// TestMaxDataBytesCountsConversion: the limit is on the value as returned.
func TestMaxDataBytesCountsConversion(t *testing.T) {
	b := h5build.New()
	addr, size := b.Float32Data(make([]float32, 64))
	ds := b.Dataset([]uint64{64}, h5build.Contiguous(addr, size))
	data := b.Bytes(b.Header(h5build.Link("d", ds)))
	lim := DefaultLimits()
	lim.MaxDataBytes = 256 // 64 float32 fit, 64 float64 do not
	f, err := OpenLimits(data, lim)
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.Root().Dataset("d")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Float32(); err != nil {
		t.Errorf("Float32: %v", err)
	}
	if _, err := d.Float64(); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "512 bytes as read") {
		t.Errorf("Float64: %v, want a MaxDataBytes error", err)
	}
}

// TestValidFilesSpendLittle: reading every fixture whole costs a few times
// its size (about 4× for compressed chunks: the dataset, the inflated and
// unshuffled chunks, the values), far below the default budget (64 × size +
// 16 MiB).
func TestValidFilesSpendLittle(t *testing.T) {
	for _, p := range fixtures(t) {
		data := readFixture(t, p[len(fixtureDir)+1:])
		f, err := Open(data)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		err = f.Root().Walk(func(o *Object) error {
			n++
			if o.Kind() == KindDataset {
				d, err := o.AsDataset()
				if err != nil {
					return err
				}
				_, err = d.Float32()
				return err
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if f.Spent() > 6*uint64(len(data)) {
			t.Errorf("%s: reading %d objects of a %d-byte file spent %d", p, n, len(data), f.Spent())
		}
	}
}

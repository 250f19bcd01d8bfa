package hdf5

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixtureDir = "../testdata/h5"

type dsSpec struct {
	Shape  []int    `json:"shape"`
	DType  string   `json:"dtype"`
	A      float64  `json:"a"`
	B      float64  `json:"b"`
	Fill   *float64 `json:"fill"`
	Region [][2]int `json:"region"`
}

type fileSpec struct {
	Datasets     map[string]dsSpec `json:"datasets"`
	Big          int               `json:"big"`
	BigAttrCount int               `json:"big_attr_count"`
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func manifest(t *testing.T) map[string]fileSpec {
	var m map[string]fileSpec
	if err := json.Unmarshal(readFixture(t, "storage_manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// expected recomputes value[i] = i*a + b exactly as make_fixtures.py does
// (each operation rounded in the dataset's precision).
func expected64(spec dsSpec, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		if spec.DType[1:] == "f4" {
			out[i] = float64(float32(float32(i)*float32(spec.A)) + float32(spec.B))
		} else {
			out[i] = float64(float64(i)*spec.A) + spec.B
		}
	}
	if spec.Fill != nil {
		// Only Region (rows x cols of a 2-D dataset) was written; values
		// there are k*a+b over the region in C order.
		cols := spec.Shape[1]
		r, c := spec.Region[0], spec.Region[1]
		k := 0
		for i := range out {
			out[i] = *spec.Fill
		}
		for y := r[0]; y < r[1]; y++ {
			for x := c[0]; x < c[1]; x++ {
				out[y*cols+x] = float64(float32(float32(k)*float32(spec.A)) + float32(spec.B))
				k++
			}
		}
	}
	return out
}

func TestStorageFixtures(t *testing.T) {
	wantLayouts := map[string]map[string]string{
		"storage_v0.h5": {
			"contig_f32": "contiguous", "compact_f32": "compact", "chunked_f32": "chunked/btree1",
			"ext_f32": "chunked/btree1", "bt2_f32": "chunked/btree1",
		},
		"storage_v2.h5": {
			"contig_f32": "contiguous", "compact_f32": "compact", "chunked_f32": "chunked/btree1",
			"ext_f32": "chunked/btree1", "bt2_f32": "chunked/btree1", "single_chunk_f32": "chunked/btree1",
		},
		"storage_latest.h5": {
			"contig_f32": "contiguous", "compact_f32": "compact", "chunked_f32": "chunked/fixed-array",
			"paged_f32": "chunked/fixed-array", "single_chunk_f32": "chunked/single",
			"single_chunk_gzip_f64": "chunked/single", "implicit_f32": "chunked/implicit",
			"ext_f32": "chunked/extensible-array", "ext_big_f32": "chunked/extensible-array",
			"ext_gzip_f32": "chunked/extensible-array", "bt2_f32": "chunked/btree2",
			"bt2_gzip_f64": "chunked/btree2",
		},
	}
	wantSuper := map[string]int{"storage_v0.h5": 0, "storage_v2.h5": 2, "storage_latest.h5": 3}
	if len(manifest(t)) != len(wantSuper) {
		t.Errorf("the manifest lists %d files, want %d", len(manifest(t)), len(wantSuper))
	}
	for file, spec := range manifest(t) {
		t.Run(file, func(t *testing.T) {
			f, err := Open(readFixture(t, file))
			if err != nil {
				t.Fatal(err)
			}
			if f.SuperblockVersion != wantSuper[file] {
				t.Errorf("superblock version %d, want %d", f.SuperblockVersion, wantSuper[file])
			}
			root := f.Root()
			for name, ds := range spec.Datasets {
				d, err := root.Dataset(name)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if fmt.Sprint(d.Shape()) != fmt.Sprint(ds.Shape) {
					t.Errorf("%s: shape %v, want %v", name, d.Shape(), ds.Shape)
				}
				if want := wantLayouts[file][name]; want != "" && d.Layout() != want {
					t.Errorf("%s: layout %s, want %s", name, d.Layout(), want)
				}
				n := 1
				for _, s := range ds.Shape {
					n *= s
				}
				want := expected64(ds, n)
				got32, err := d.Float32()
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				got64, err := d.Float64()
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if len(got32) != n || len(got64) != n {
					t.Errorf("%s: %d/%d values, want %d", name, len(got32), len(got64), n)
					continue
				}
				bad := 0
				for i := range want {
					if math.Float64bits(got64[i]) != math.Float64bits(want[i]) ||
						math.Float32bits(got32[i]) != math.Float32bits(float32(want[i])) {
						if bad < 3 {
							t.Errorf("%s[%d] = %v / %v, want %v", name, i, got32[i], got64[i], want[i])
						}
						bad++
					}
				}
			}
			checkAttrs(t, root, spec)
		})
	}
}

func checkAttrs(t *testing.T, root *Group, spec fileSpec) {
	strs := func(o *Object, name string) []string {
		t.Helper()
		a, err := o.Attr(name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := a.Strings()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	o := root.Object
	if got := strs(o, "fixed_strs"); fmt.Sprintf("%q", got) != `["alpha" "be" "gamma_delta"]` {
		t.Errorf("fixed_strs = %q", got)
	}
	if got := strs(o, "vlen_strs"); fmt.Sprintf("%q", got) != `["one" "twenty-two" "ünïcode"]` {
		t.Errorf("vlen_strs = %q", got)
	}
	if got := strs(o, "vlen_scalar"); len(got) != 1 || got[0] != "hello" {
		t.Errorf("vlen_scalar = %q", got)
	}
	if got := strs(o, "fixed_scalar"); len(got) != 1 || got[0] != "tensorflow" {
		t.Errorf("fixed_scalar = %q", got)
	}
	a, err := o.Attr("empty_f64")
	if err != nil || a.Len() != 0 || a.IsString() || fmt.Sprint(a.Shape) != "[0]" {
		t.Errorf("empty_f64: %v %+v", err, a)
	}
	a, _ = o.Attr("f64s")
	if v, err := a.Float64s(); err != nil || fmt.Sprint(v) != "[1.5 -2.25 3]" {
		t.Errorf("f64s = %v %v", v, err)
	}
	a, _ = o.Attr("i32s")
	if v, err := a.Int64s(); err != nil || fmt.Sprint(v) != "[1 -2 3]" {
		t.Errorf("i32s = %v %v", v, err)
	}
	if _, err := o.Attr("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing attribute: %v", err)
	}

	many, err := root.Group("many_attrs")
	if err != nil {
		t.Fatal(err)
	}
	names, err := many.AttrNames()
	if err != nil || len(names) != 12 {
		t.Fatalf("many_attrs: %v %v", names, err)
	}
	for k := 0; k < 12; k++ {
		got := strs(many.Object, fmt.Sprintf("attr_%02d", k))
		if fmt.Sprint(got) != fmt.Sprintf("[v%d w%d]", k, k) {
			t.Errorf("attr_%02d = %q", k, got)
		}
	}

	bigAttr, err := root.Group("big_attr")
	if err != nil {
		t.Fatal(err)
	}
	ln := strs(bigAttr.Object, "layer_names")
	if len(ln) != spec.BigAttrCount {
		t.Fatalf("big_attr layer_names: %d names, want %d", len(ln), spec.BigAttrCount)
	}
	for k, s := range ln {
		if s != fmt.Sprintf("layer_name_%014d", k) {
			t.Fatalf("layer_names[%d] = %q", k, s)
		}
	}

	big, err := root.Group("big")
	if err != nil {
		t.Fatal(err)
	}
	members, err := big.Names()
	if err != nil || len(members) != spec.Big {
		t.Fatalf("big: %d members (%v), want %d", len(members), err, spec.Big)
	}
	for k, name := range members {
		if name != fmt.Sprintf("layer_%03d", k) {
			t.Fatalf("big member %d = %q", k, name)
		}
		d, err := big.Dataset(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := d.Float32()
		if err != nil || len(v) != 1 || v[0] != float32(k) {
			t.Fatalf("%s = %v %v", name, v, err)
		}
	}
	few, err := root.Group("few")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := few.Names(); err != nil || fmt.Sprint(n) != "[g0 g1 g2]" {
		t.Errorf("few = %v %v", n, err)
	}
	// Path lookup, absolute and relative.
	c, err := root.Group("/a/b")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Has("c/leaf") || !c.Has("/a/b/c/leaf") || c.Has("c/nope") {
		t.Error("Has")
	}
	if _, err := c.Dataset("c"); err == nil {
		t.Error("Dataset on a group succeeded")
	}
	if _, err := c.Group("c/leaf"); err == nil {
		t.Error("Group on a dataset succeeded")
	}
	if _, err := c.Lookup("c/leaf/x"); err == nil {
		t.Error("lookup through a dataset succeeded")
	}
}

// smallLimits are the limits of the corruption tests and the fuzz target:
// small enough that a crafted input cannot make a test slow.
func smallLimits() Limits {
	return Limits{MaxDataBytes: 1 << 20, MaxFillBytes: 64 << 10, BudgetPerByte: 64, BudgetBase: 4 << 20}
}

// readAll opens data and reads every object, attribute and dataset.
func readAll(data []byte) (int, error) { return readAllLimits(data, DefaultLimits()) }

func readAllLimits(data []byte, lim Limits) (int, error) {
	f, err := OpenLimits(data, lim)
	if err != nil {
		return 0, err
	}
	count := 0
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	err = f.Root().Walk(func(o *Object) error {
		count++
		as, err := o.Attrs()
		keep(err)
		for _, a := range as {
			if a.IsString() {
				_, err = a.Strings()
			} else {
				_, err = a.Float64s()
			}
			keep(err)
		}
		if o.Kind() == KindDataset {
			d, err := o.AsDataset()
			keep(err)
			if err == nil {
				_, err = d.Float32()
				keep(err)
			}
		} else if o.Kind() == KindGroup {
			g, _ := o.AsGroup()
			names, err := g.Names()
			keep(err)
			for _, n := range names {
				_, err := g.Lookup(n)
				keep(err)
			}
		}
		return nil
	})
	keep(err)
	return count, firstErr
}

func fixtures(t testing.TB) []string {
	m, err := filepath.Glob(filepath.Join(fixtureDir, "*.h5"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	return m
}

func TestReadAllFixtures(t *testing.T) {
	for _, p := range fixtures(t) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		n, err := readAll(data)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
		if n < 5 {
			t.Errorf("%s: only %d objects", filepath.Base(p), n)
		}
	}
}

func TestSignatureOffsets(t *testing.T) {
	data := readFixture(t, "storage_v0.h5")
	// A user block of 512 bytes: HDF5 puts the superblock at 512 and the
	// base address makes every address relative to it.
	shifted := append(make([]byte, 512), data...)
	if FindSignature(shifted) != 512 {
		t.Fatal("signature at 512 not found")
	}
	if FindSignature([]byte("not hdf5")) != -1 {
		t.Fatal("found a signature in garbage")
	}
	// Our fixture's base address is 0, so shifting breaks its addresses:
	// the reader must fail cleanly, not panic.
	if _, err := readAll(shifted); err == nil {
		t.Log("shifted file read without error (base address 0)")
	}
}

func TestUnsupportedAndCorruptErrors(t *testing.T) {
	data := append([]byte(nil), readFixture(t, "storage_v0.h5")...)
	data[8] = 7
	_, err := Open(data)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "superblock version 7 at offset 8") {
		t.Errorf("superblock version 7: %v", err)
	}
	latest := append([]byte(nil), readFixture(t, "storage_latest.h5")...)
	latest[20] ^= 0xFF // inside the superblock: checksum mismatch
	_, err = Open(latest)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("flipped superblock byte: %v", err)
	}
	if _, err := Open(nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("empty file: %v", err)
	}
}

func TestTruncatedFiles(t *testing.T) {
	for _, p := range fixtures(t) {
		data, _ := os.ReadFile(p)
		steps := 97
		for k := 0; k < steps; k++ {
			n := len(data) * k / steps
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("%s truncated to %d: panic %v", filepath.Base(p), n, r)
					}
				}()
				if _, err := readAll(data[:n:n]); err == nil && n < len(data)/2 {
					t.Errorf("%s truncated to %d of %d bytes: no error", filepath.Base(p), n, len(data))
				}
			}()
		}
	}
}

func TestFlippedBytes(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, p := range fixtures(t) {
		orig, _ := os.ReadFile(p)
		// Concentrate on metadata: the first part of the file and random
		// places everywhere.
		data := append([]byte(nil), orig...)
		for k := 0; k < 300; k++ {
			copy(data, orig) // undo the previous flips
			for j := 0; j < 1+rng.Intn(4); j++ {
				var i int
				if k%2 == 0 {
					i = rng.Intn(min(len(data), 4096))
				} else {
					i = rng.Intn(len(data))
				}
				data[i] ^= byte(1 + rng.Intn(255))
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("%s flip %d: panic %v", filepath.Base(p), k, r)
					}
				}()
				readAllLimits(data, smallLimits())
			}()
		}
	}
}

func FuzzReadAll(f *testing.F) {
	for _, p := range fixtures(f) {
		data, _ := os.ReadFile(p)
		if len(data) <= 64<<10 {
			f.Add(data)
		}
	}
	// Small synthetic seeds: the first KiBs of every fixture keep the
	// superblock and root group, which is where most structure lives.
	for _, p := range fixtures(f) {
		data, _ := os.ReadFile(p)
		f.Add(data[:min(len(data), 8192)])
	}
	for _, h := range hostileFiles(f) {
		f.Add(h.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// With smallLimits the reader may spend 64 × the input + 4 MiB;
		// what it allocates is within a small factor of that.
		n := allocated(func() { readAllLimits(data, smallLimits()) })
		if bound := 160*uint64(len(data)) + 12<<20; n > bound {
			t.Fatalf("a %d-byte input allocated %d bytes (bound %d)", len(data), n, bound)
		}
	})
}

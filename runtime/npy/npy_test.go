package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
)

const golden = "../../testdata/golden"

// npyFile assembles a .npy file of the given version from a header (used
// verbatim, no padding) and data bytes.
func npyFile(major byte, header string, data []byte) []byte {
	b := append([]byte(magic), major, 0)
	if major == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(header)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(header)))
	}
	b = append(b, header...)
	return append(b, data...)
}

func f32LE(vals ...float32) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func f64LE(vals ...float64) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// sameBits compares float32 slices bit for bit (so NaNs compare equal).
func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		stem  string
		shape []int
	}{
		{"tinyv2_input_b2_seed2", []int{2, 32, 32, 3}},
		{"tinyv2_expected_b2", []int{2, 10}},
		{"tinyv1_input_b2_seed2", []int{2, 32, 32, 3}},
		{"tinyv1_expected_b2", []int{2, 10}},
		{"stemv2_input_b2_seed2", []int{2, 64, 64, 3}},
		{"stemv2_expected_b2", []int{2, 10}},
	} {
		t.Run(tc.stem, func(t *testing.T) {
			npyPath := filepath.Join(golden, tc.stem+".npy")
			f32Path := filepath.Join(golden, tc.stem+".f32")
			data, shape, err := Read(npyPath)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(shape, tc.shape) {
				t.Errorf("shape %v, want %v", shape, tc.shape)
			}
			raw, rawShape, err := Read(f32Path)
			if err != nil {
				t.Fatal(err)
			}
			if want := []int{len(raw)}; !slices.Equal(rawShape, want) {
				t.Errorf("raw shape %v, want %v", rawShape, want)
			}
			if !sameBits(data, raw) {
				t.Fatalf(".npy and .f32 values differ (%d vs %d values)", len(data), len(raw))
			}

			// Writing reproduces both files byte for byte: the .npy header
			// layout is NumPy's.
			dir := t.TempDir()
			for _, p := range []struct{ orig, ext string }{{npyPath, ".npy"}, {f32Path, ".f32"}} {
				out := filepath.Join(dir, "out"+p.ext)
				if err := Write(out, data, shape); err != nil {
					t.Fatal(err)
				}
				got, _ := os.ReadFile(out)
				want, _ := os.ReadFile(p.orig)
				if !bytes.Equal(got, want) {
					t.Errorf("Write(%s) differs from %s", out, p.orig)
				}
			}
		})
	}
	data, _, err := Read(filepath.Join(golden, "tinyv2_input_b2_seed2.npy"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range data {
		if !(v >= -1 && v <= 1) {
			t.Fatalf("input value %v outside [-1, 1]", v)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	nan := math.Float32frombits(0x7fc01234)
	for _, tc := range []struct {
		name  string
		shape []int
		data  []float32
	}{
		{"scalar", []int{}, []float32{3.5}},
		{"empty 1-d", []int{0}, []float32{}},
		{"empty 3-d", []int{2, 0, 5}, []float32{}},
		{"1-d", []int{3}, []float32{1, -2, 3}},
		{"special values", []int{2, 3}, []float32{nan, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), math.MaxFloat32, math.SmallestNonzeroFloat32}},
		{"6-d", []int{1, 2, 1, 2, 1, 2}, []float32{1, 2, 3, 4, 5, 6, 7, 8}},
		{"long first dim", []int{100000}, make([]float32, 100000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, ext := range []string{".npy", ".NPY", ".f32", ".bin", ""} {
				path := filepath.Join(dir, "t"+ext)
				if err := Write(path, tc.data, tc.shape); err != nil {
					t.Fatal(err)
				}
				data, shape, err := Read(path)
				if err != nil {
					t.Fatal(err)
				}
				wantShape := tc.shape
				if !strings.EqualFold(ext, ".npy") {
					wantShape = []int{len(tc.data)}
				}
				if !slices.Equal(shape, wantShape) {
					t.Errorf("%s: shape %v, want %v", ext, shape, wantShape)
				}
				if !sameBits(data, tc.data) {
					t.Errorf("%s: data differs", ext)
				}
			}
			b, err := encode(tc.data, tc.shape)
			if err != nil {
				t.Fatal(err)
			}
			if hl := int(binary.LittleEndian.Uint16(b[8:])); (10+hl)%64 != 0 || b[9+hl] != '\n' {
				t.Errorf("header of length %d is not 64-byte aligned and newline-terminated", hl)
			}
		})
	}
}

func TestEncodeHeader(t *testing.T) {
	// total is the offset of the data as numpy.save writes it: the header
	// gets 21-len(str(shape[0])) spare spaces, then is padded to a multiple
	// of 64 bytes, by a full 64 when it is already aligned.
	for _, tc := range []struct {
		shape []int
		dict  string
		total int
	}{
		{[]int{}, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 128},
		{[]int{5}, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", 128},
		{[]int{12, 3}, "{'descr': '<f4', 'fortran_order': False, 'shape': (12, 3), }", 128},
		{[]int{0, 7}, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 7), }", 128},
		{slices.Repeat([]int{1}, 16), "{'descr': '<f4', 'fortran_order': False, 'shape': (" + strings.Repeat("1, ", 15) + "1), }", 192},
		{slices.Repeat([]int{1}, 36), "{'descr': '<f4', 'fortran_order': False, 'shape': (" + strings.Repeat("1, ", 35) + "1), }", 256},
	} {
		b, err := encode(make([]float32, product(tc.shape)), tc.shape)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]byte(magic), 1, 0)
		want = binary.LittleEndian.AppendUint16(want, uint16(tc.total-10))
		want = append(want, tc.dict...)
		want = append(want, strings.Repeat(" ", tc.total-11-len(tc.dict))...)
		want = append(want, '\n')
		want = append(want, make([]byte, 4*product(tc.shape))...)
		if !bytes.Equal(b, want) {
			t.Errorf("shape %v:\ngot  %q\nwant %q", tc.shape, b, want)
		}
	}
}

func product(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func TestParseVariants(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  []byte
		shape []int
		data  []float32
	}{
		{"version 2.0", npyFile(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", f32LE(1, 2)), []int{2}, []float32{1, 2}},
		{"version 3.0", npyFile(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }   \n", f32LE(1, 2)), []int{1, 2}, []float32{1, 2}},
		{"f8 converted", npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }\n", f64LE(0.1, -1e300, math.Inf(-1), 1.5)), []int{4}, []float32{0.1, float32(math.Inf(-1)), float32(math.Inf(-1)), 1.5}},
		{"key order, double quotes", npyFile(1, `{"shape": (2,), "fortran_order": False, "descr": "<f4"}`+"\n", f32LE(1, 2)), []int{2}, []float32{1, 2}},
		{"python 2 longs", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1L, 2L), }\n", f32LE(1, 2)), []int{1, 2}, []float32{1, 2}},
		{"no trailing commas, no newline", npyFile(1, "{'descr':'<f4','fortran_order':False,'shape':(2, 1)}", f32LE(1, 2)), []int{2, 1}, []float32{1, 2}},
		{"scalar", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", f32LE(7)), []int{}, []float32{7}},
		{"empty", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }\n", nil), []int{0, 3}, []float32{}},
		{"huge zero-size", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 9223372036854775807), }\n", nil), []int{0, math.MaxInt64}, []float32{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, shape, err := Parse(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(shape, tc.shape) {
				t.Errorf("shape %v, want %v", shape, tc.shape)
			}
			if !sameBits(data, tc.data) {
				t.Errorf("data %v, want %v", data, tc.data)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	hdr := func(h string, data []byte) []byte { return npyFile(1, h, data) }
	const pre = "{'descr': '<f4', 'fortran_order': False, "
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, `not a .npy file: missing the "\x93NUMPY" magic`},
		{"raw floats", f32LE(1, 2, 3), "not a .npy file"},
		{"magic only", []byte(magic), "truncated header: file is 6 bytes"},
		{"no header length", []byte(magic + "\x01\x00\x05"), "truncated header: file is 9 bytes"},
		{"v2 no header length", []byte(magic + "\x02\x00\x05\x00\x00"), "truncated header: file is 11 bytes"},
		{"version 4.0", []byte(magic + "\x04\x00\x00\x00\x00\x00"), "format version 4.0 is not supported, want 1.0, 2.0 or 3.0"},
		{"version 1.1", []byte(magic + "\x01\x01\x00\x00"), "format version 1.1 is not supported"},
		{"header beyond file", npyFile(1, "{}", nil)[:11], "truncated header: header length 2, but only 1 bytes follow"},
		{"absurd v2 header", []byte(magic + "\x02\x00\xff\xff\xff\xff"), "header length 4294967295 exceeds the 1048576-byte limit"},
		{"empty header", hdr("", nil), "cannot parse header \"\": at offset 0: unexpected end of header"},
		{"garbage header", hdr("hello", nil), "cannot parse header \"hello\": at offset 0: unexpected 'h'"},
		{"unterminated dict", hdr("{'descr': '<f4'", nil), "want ',' or '}' in dictionary"},
		{"unterminated string", hdr("{'descr: '<f4'}", nil), "want ':' after key"},
		{"unterminated string at end", hdr("{'descr", nil), "at offset 1: unterminated string"},
		{"trailing garbage", hdr(pre+"'shape': (1,)} x", f32LE(1)), "unexpected 'x' after the dictionary"},
		{"header not dict", hdr("(1, 2)", nil), "header is a tuple, want a dictionary"},
		{"missing key", hdr("{'descr': '<f4', 'shape': (1,)}", f32LE(1)), "header has keys 'descr', 'shape', want exactly 'descr', 'fortran_order', 'shape'"},
		{"extra key", hdr(pre+"'shape': (1,), 'x': 1}", f32LE(1)), "header has keys 'descr', 'fortran_order', 'shape', 'x', want exactly"},
		{"duplicate key", hdr(pre+"'shape': (1,), 'shape': (1,)}", f32LE(1)), "duplicate key 'shape'"},
		{"non-string key", hdr("{1: 2}", nil), "want a string key or '}'"},
		{"dtype >i8", hdr("{'descr': '>i8', 'fortran_order': False, 'shape': (1,), }", f64LE(1)), "dtype '>i8' is not supported, want '<f4' or '<f8'"},
		{"dtype <f2", hdr("{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", nil), "dtype '<f2' is not supported"},
		{"dtype >f4", hdr("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", f32LE(1)), "dtype '>f4' is not supported"},
		{"structured dtype", hdr("{'descr': [('a', '<f4'), ('b', '<f4', (2,))], 'fortran_order': False, 'shape': (1,), }", nil), "descr is a list (a structured dtype?), want a dtype string such as '<f4'"},
		{"descr None", hdr("{'descr': None, 'fortran_order': False, 'shape': (1,), }", nil), "descr is None"},
		{"fortran order", hdr("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f32LE(1, 2, 3, 4)), "fortran_order True is not supported, want False (C order)"},
		{"fortran_order int", hdr("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", f32LE(1)), "fortran_order is an int, want True or False"},
		{"shape list", hdr(pre+"'shape': [2]}", f32LE(1, 2)), "shape is a list, want a tuple of ints"},
		{"shape parenthesised int", hdr(pre+"'shape': (2)}", f32LE(1, 2)), "shape is an int, want a tuple of ints"},
		{"negative dim", hdr(pre+"'shape': (2, -1)}", nil), "shape[1] is -1, want a non-negative int"},
		{"float dim", hdr(pre+"'shape': (2.0,)}", nil), "only decimal integers are supported"},
		{"string dim", hdr(pre+"'shape': ('2',)}", nil), "shape[0] is a string, want a non-negative int"},
		{"huge dim", hdr(pre+"'shape': (99999999999999999999,)}", nil), "integer 99999999999999999999 out of range"},
		{"bare sign", hdr(pre+"'shape': (-,)}", nil), "want digits after the sign"},
		{"element overflow", hdr(pre+"'shape': (4294967296, 4294967296)}", nil), "shape [4294967296 4294967296]: element count overflows"},
		{"byte overflow", hdr(pre+"'shape': (4611686018427387904,)}", nil), "byte size overflows"},
		{"truncated data", hdr(pre+"'shape': (2, 2)}", f32LE(1, 2, 3)), "truncated data: shape [2 2] of '<f4' needs 16 bytes, the file has 12"},
		{"truncated f8 data", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", f64LE(1)), "truncated data: shape [2] of '<f8' needs 16 bytes, the file has 8"},
		{"trailing data", hdr(pre+"'shape': (1,)}", f32LE(1, 2)), "4 unexpected bytes after the 4 data bytes of shape [1]"},
		{"deep nesting", hdr("{'descr': "+strings.Repeat("(", 100000)+"}", nil), "nested more than 16 levels deep"},
		{"newline in string", hdr("{'descr': '<f\n4'}", nil), "newline in string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, shape, err := Parse(tc.file)
			if err == nil {
				t.Fatalf("parsed without error: shape %v, %d values", shape, len(data))
			}
			if data != nil || shape != nil {
				t.Error("non-nil results with an error")
			}
			if !strings.HasPrefix(err.Error(), "npy: ") {
				t.Errorf("error %q lacks the npy: prefix", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	odd := filepath.Join(dir, "odd.f32")
	if err := os.WriteFile(odd, []byte{1, 2, 3, 4, 5, 6, 7}, 0o644); err != nil {
		t.Fatal(err)
	}
	badNpy := filepath.Join(dir, "bad.npy")
	if err := os.WriteFile(badNpy, npyFile(1, "{'descr': '>i8', 'fortran_order': False, 'shape': (1,), }", f64LE(1)), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.npy")
	for _, tc := range []struct {
		path string
		want []string
	}{
		{odd, []string{odd, "raw float32 file is 7 bytes, not a multiple of 4"}},
		{badNpy, []string{badNpy, "dtype '>i8' is not supported, want '<f4' or '<f8'"}},
		{missing, []string{missing, "no such file"}},
	} {
		_, _, err := Read(tc.path)
		if err == nil {
			t.Errorf("Read(%s): no error", tc.path)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Read(%s): error %q does not contain %q", tc.path, err, w)
			}
		}
	}
	if _, _, err := Read(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v does not wrap os.ErrNotExist", err)
	}

	for _, tc := range []struct {
		name  string
		path  string
		data  []float32
		shape []int
		want  string
	}{
		{"npy shape mismatch", filepath.Join(dir, "a.npy"), []float32{1, 2, 3}, []int{2, 2}, "shape [2 2] holds 4 values, got 3"},
		{"npy negative dim", filepath.Join(dir, "a.npy"), nil, []int{-1}, "negative dimension"},
		{"raw shape mismatch", filepath.Join(dir, "a.f32"), []float32{1, 2, 3}, []int{2}, "shape [2] holds 2 values, got 3"},
		{"npy too many dims", filepath.Join(dir, "a.npy"), []float32{1}, slices.Repeat([]int{1}, 30000), "over the version 1.0 limit"},
		{"missing dir", filepath.Join(dir, "no", "a.f32"), []float32{1}, nil, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Write(tc.path, tc.data, tc.shape)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("err = %v, want one naming %s and containing %q", err, tc.path, tc.want)
			}
		})
	}
	// A nil shape means flat, an empty one a scalar.
	for _, tc := range []struct {
		name  string
		shape []int
		want  []int
	}{
		{"flat.f32", nil, []int{1}},
		{"flat.npy", nil, []int{1}},
		{"scalar.npy", []int{}, []int{}},
	} {
		path := filepath.Join(dir, tc.name)
		if err := Write(path, []float32{1}, tc.shape); err != nil {
			t.Fatal(err)
		}
		_, shape, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if shape == nil || !slices.Equal(shape, tc.want) {
			t.Errorf("%s: shape %#v, want %v", tc.name, shape, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(golden, "*_expected_b2.npy"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(npyFile(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", f32LE(1, 2)))
	f.Add(npyFile(3, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }\n", f64LE(1)))
	f.Add(npyFile(1, `{"shape": (), "fortran_order": False, "descr": "<f4"}`, f32LE(1)))
	f.Add(npyFile(1, "{'descr': [('a', '<f4')], 'fortran_order': True, 'shape': (1L,), }", nil))
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		data, shape, err := Parse(b)
		if err != nil {
			if data != nil || shape != nil {
				t.Fatal("non-nil results with an error")
			}
			return
		}
		n := 1
		for _, d := range shape {
			n *= d
		}
		if n != len(data) {
			t.Fatalf("shape %v but %d values", shape, len(data))
		}
		enc, err := encode(data, shape)
		if err != nil {
			if len(shape) > 1000 {
				return // legitimately too many dims for a version 1.0 header
			}
			t.Fatalf("encoding a parsed array: %v", err)
		}
		data2, shape2, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-parsing: %v", err)
		}
		if !slices.Equal(shape, shape2) || !sameBits(data, data2) {
			t.Fatal("encode/parse changed the array")
		}
		enc2, err := encode(data2, shape2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatal("encoding is not a fixed point")
		}
	})
}

// TestReadSpecialFiles: Read refuses what is not a regular file before
// reading it — /dev/zero would otherwise be read until memory runs out, and
// a FIFO without a writer would block forever.
func TestReadSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.npy")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"/dev/zero", "/dev/zero is a character device, not a regular file"},
		{fifo, fifo + " is a named pipe, not a regular file"},
		{dir, dir + " is a directory, not a regular file"},
	} {
		data, shape, err := Read(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || data != nil || shape != nil {
			t.Errorf("Read(%s): %v, want an error containing %q", tc.path, err, tc.want)
		}
	}
}

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestReadAllocation: Read streams the file: a valid file costs its values
// plus a small buffer (not a second copy of the file), and a header whose
// shape the data cannot fill is refused before the values are allocated.
func TestReadAllocation(t *testing.T) {
	dir := t.TempDir()
	const n = 1 << 20 // 4 MiB of float32
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(i)
	}
	for _, name := range []string{"big.npy", "big.f32"} {
		p := filepath.Join(dir, name)
		if err := Write(p, vals, nil); err != nil {
			t.Fatal(err)
		}
		var data []float32
		var err error
		got := allocated(func() { data, _, err = Read(p) })
		if err != nil || !sameBits(data, vals) {
			t.Fatalf("Read(%s): %v", name, err)
		}
		if limit := uint64(4*n + 256<<10); got > limit {
			t.Errorf("Read(%s) allocated %d bytes for %d bytes of values, want at most %d", name, got, 4*n, limit)
		}
	}
	// 2^40 float32 declared, 16 bytes present: 4 TiB must not be allocated.
	hostile := filepath.Join(dir, "hostile.npy")
	if err := os.WriteFile(hostile, npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }\n", f32LE(1, 2, 3, 4)), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	got := allocated(func() { _, _, err = Read(hostile) })
	if err == nil || !strings.Contains(err.Error(), "truncated data: shape [1099511627776] of '<f4' needs 4398046511104 bytes, the file has 16") {
		t.Errorf("hostile header: %v", err)
	}
	if got > 1<<20 {
		t.Errorf("hostile header: allocated %d bytes", got)
	}
}

// FuzzRead: Read (streaming a file) and Parse (bytes in memory) agree on
// every input, and Read's raw path reads any length that is a multiple of
// 4. The seed corpus (testdata/fuzz/FuzzRead, and the seeds below) runs in
// plain go test.
func FuzzRead(f *testing.F) {
	f.Add(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", f32LE(1, 2)))
	f.Add(f32LE(1, 2, 3))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "x")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		data, shape, err := Read(p)
		if err != nil && (data != nil || shape != nil) {
			t.Fatal("non-nil results with an error")
		}
		if !bytes.HasPrefix(b, []byte(magic)) {
			if (err == nil) != (len(b)%4 == 0) {
				t.Fatalf("raw file of %d bytes: error %v", len(b), err)
			}
			if err == nil && (!slices.Equal(shape, []int{len(b) / 4}) || !bytes.Equal(appendF32(nil, data), b)) {
				t.Fatal("raw values differ from the file")
			}
			return
		}
		pdata, pshape, perr := Parse(b)
		if (err == nil) != (perr == nil) {
			t.Fatalf("Read error %v, Parse error %v", err, perr)
		}
		if err != nil {
			// The same message, Read's naming the file.
			if want := strings.TrimPrefix(perr.Error(), "npy: "); !strings.HasSuffix(err.Error(), want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("Read error %q, Parse error %q", err, perr)
			}
			return
		}
		if !slices.Equal(shape, pshape) || !sameBits(data, pdata) {
			t.Fatal("Read and Parse differ")
		}
	})
}

// TestNpyNameMustBeNpy: a file named .npy without the .npy magic is an
// error, not raw float32 values (a mislabeled or truncated file would
// otherwise be read as a flat tensor).
func TestNpyNameMustBeNpy(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "x.f32")
	if err := Write(raw, []float32{1, 2, 3}, []int{3}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	named := filepath.Join(dir, "x.npy")
	if err := os.WriteFile(named, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(named); err == nil || !strings.Contains(err.Error(), "not a .npy file") {
		t.Errorf("raw floats named .npy: %v", err)
	}
	if data, _, err := Read(raw); err != nil || len(data) != 3 {
		t.Errorf("raw floats named .f32: %v, %v", data, err)
	}
}

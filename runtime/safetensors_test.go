package runtime

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// stFile assembles a safetensors file from a header and a data section.
func stFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

// f32LE encodes values as little-endian float32.
func f32LE(vals ...float32) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// sameWeights reports how a and b differ (order, shapes, bit patterns of the
// data, metadata), or "" if they do not.
func sameWeights(a, b *Weights) string {
	if !slices.Equal(a.Order, b.Order) {
		return "order " + strings.Join(a.Order, ",") + " vs " + strings.Join(b.Order, ",")
	}
	if len(a.Tensors) != len(b.Tensors) {
		return "tensor count differs"
	}
	for _, name := range a.Order {
		ta, tb := a.Tensors[name], b.Tensors[name]
		if ta == nil || tb == nil {
			return "tensor " + name + " missing"
		}
		if ta.Name != tb.Name || !slices.Equal(ta.Shape, tb.Shape) || len(ta.Data) != len(tb.Data) {
			return "tensor " + name + " name/shape/length differs"
		}
		if ta.DType != tb.DType || !slices.Equal(ta.I8, tb.I8) || !slices.Equal(ta.U8, tb.U8) ||
			(ta.I8 == nil) != (tb.I8 == nil) || (ta.U8 == nil) != (tb.U8 == nil) {
			return "tensor " + name + " dtype or integer data differs"
		}
		for i := range ta.Data {
			if math.Float32bits(ta.Data[i]) != math.Float32bits(tb.Data[i]) {
				return "tensor " + name + " data differs"
			}
		}
	}
	if len(a.Metadata) != len(b.Metadata) {
		return "metadata size differs"
	}
	for k, v := range a.Metadata {
		if w, ok := b.Metadata[k]; !ok || w != v {
			return "metadata " + k + " differs"
		}
	}
	return ""
}

func sampleWeights(t testing.TB) *Weights {
	t.Helper()
	ws := NewWeights()
	nan := math.Float32frombits(0x7fc00123) // a NaN with a payload
	add := func(name string, shape []int, data []float32) {
		if err := ws.Add(name, shape, data); err != nil {
			t.Fatal(err)
		}
	}
	add("conv1_conv/kernel", []int{1, 1, 2, 3}, []float32{1, -2, 3.5, 0, float32(math.Copysign(0, -1)), 1e-45})
	add("scalar", []int{}, []float32{42})
	add("empty", []int{0, 3}, []float32{})
	add(`odd "name" <&> ü`, []int{3}, []float32{nan, float32(math.Inf(1)), float32(math.Inf(-1))})
	add("b/bias", []int{2}, []float32{math.MaxFloat32, math.SmallestNonzeroFloat32})
	if err := ws.AddInt8("q/kernel_q", []int{2, 3}, []int8{-128, -127, -1, 0, 1, 127}); err != nil {
		t.Fatal(err)
	}
	if err := ws.AddUint8("q/out0_zero_point", []int{3}, []uint8{0, 128, 255}); err != nil {
		t.Fatal(err)
	}
	if err := ws.AddInt8("q/empty", []int{0}, nil); err != nil {
		t.Fatal(err)
	}
	add("after/ints", []int{1}, []float32{-3})
	ws.Metadata["model"] = "sample"
	ws.Metadata["a"] = "<&> \"quoted\"\n"
	return ws
}

func TestSafetensorsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		ws   func(testing.TB) *Weights
	}{
		{"sample", sampleWeights},
		{"empty", func(testing.TB) *Weights { return NewWeights() }},
		{"no metadata", func(t testing.TB) *Weights {
			ws := sampleWeights(t)
			ws.Metadata = nil
			return ws
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := tc.ws(t)
			var buf bytes.Buffer
			if err := WriteSafetensors(&buf, ws); err != nil {
				t.Fatal(err)
			}
			if hl := binary.LittleEndian.Uint64(buf.Bytes()); hl%8 != 0 {
				t.Errorf("header length %d is not a multiple of 8", hl)
			}
			got, err := ParseSafetensors(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if d := sameWeights(ws, got); d != "" {
				t.Fatalf("round trip changed the weights: %s", d)
			}
		})
	}
}

func TestSafetensorsWriteDeterministic(t *testing.T) {
	var first []byte
	for i := 0; i < 20; i++ { // map iteration order varies between runs
		ws := sampleWeights(t)
		for j := 0; j < 10; j++ {
			ws.Metadata[string(rune('k'+j))] = "v"
		}
		var buf bytes.Buffer
		if err := WriteSafetensors(&buf, ws); err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = buf.Bytes()
		} else if !bytes.Equal(first, buf.Bytes()) {
			t.Fatal("WriteSafetensors output differs between runs")
		}
	}
}

func TestSafetensorsWriteExactBytes(t *testing.T) {
	ws := NewWeights()
	if err := ws.Add("x", []int{2}, []float32{1, -2}); err != nil {
		t.Fatal(err)
	}
	if err := ws.Add("a<b", []int{}, []float32{0.5}); err != nil {
		t.Fatal(err)
	}
	ws.Metadata["model"] = "m"
	ws.Metadata["classes"] = "10"
	header := `{"__metadata__":{"classes":"10","model":"m"},` +
		`"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},` +
		`"a<b":{"dtype":"F32","shape":[],"data_offsets":[8,12]}}`
	for len(header)%8 != 0 {
		header += " "
	}
	want := stFile(header, f32LE(1, -2, 0.5))
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, ws); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("got\n%q\nwant\n%q", buf.Bytes(), want)
	}
}

func TestParseSafetensorsFileOrder(t *testing.T) {
	// JSON order differs from data order; gaps and trailing bytes are allowed.
	header := `{"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},` +
		`"__metadata__":{"k":"v"},` +
		`"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},` +
		`"a":{"shape":[2],"data_offsets":[4,12],"dtype":"F32","extra":[1]}}`
	data := f32LE(9, 1, 2, 3, 7)
	file := stFile(header, data)
	ws, err := ParseSafetensors(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"z", "a", "b"}; !slices.Equal(ws.Order, want) {
		t.Errorf("Order = %v, want %v", ws.Order, want)
	}
	if got := ws.Tensors["a"].Data; !slices.Equal(got, []float32{1, 2}) {
		t.Errorf("a = %v, want [1 2]", got)
	}
	if got := ws.Tensors["b"].Data; !slices.Equal(got, []float32{3}) {
		t.Errorf("b = %v, want [3]", got)
	}
	if ws.Metadata["k"] != "v" {
		t.Errorf("metadata = %v", ws.Metadata)
	}
	// The values are copies: clobbering the input does not change them.
	for i := range file {
		file[i] = 0xff
	}
	if got := ws.Tensors["a"].Data; !slices.Equal(got, []float32{1, 2}) {
		t.Errorf("after clobbering the input, a = %v", got)
	}
}

func TestParseSafetensorsErrors(t *testing.T) {
	const ok = `"dtype":"F32","shape":[2],"data_offsets":[0,8]`
	d8 := f32LE(1, 2)
	hdr := func(entries string) []byte { return stFile("{"+entries+"}", d8) }
	lenOnly := func(n uint64, rest string) []byte {
		return append(binary.LittleEndian.AppendUint64(nil, n), rest...)
	}
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty file", nil, "0 bytes, shorter than the 8-byte header length"},
		{"short file", []byte{1, 0, 0}, "3 bytes, shorter than the 8-byte"},
		{"header beyond file", lenOnly(100, "{}"), "header length 100 is larger than the 2 bytes"},
		{"absurd header", lenOnly(1<<40, "{}"), "exceeds the 100 MiB limit"},
		{"max uint64 header", lenOnly(math.MaxUint64, "{}"), "exceeds the 100 MiB limit"},
		{"empty header", stFile("", nil), "header is not a valid JSON object: unexpected end of JSON input"},
		{"not JSON", stFile("{\"a\":", nil), "header is not a valid JSON object"},
		{"garbage", stFile("hello", nil), "header is not a valid JSON object: invalid character"},
		{"array header", stFile("[1,2]", nil), "found an array, want an object"},
		{"string header", stFile(`"x"`, nil), "found a string, want an object"},
		{"trailing data", stFile("{} {}", nil), "unexpected an object after the object"},
		{"trailing garbage", stFile("{}x", nil), "after the object: invalid character"},
		{"NUL padding", stFile("{}\x00\x00", nil), "after the object"},
		{"invalid UTF-8", stFile("{\"\xff\":1}", nil), "header is not valid UTF-8"},
		{"duplicate tensor", hdr(`"w":{` + ok + `},"w":{` + ok + `}`), `duplicate tensor name "w"`},
		{"duplicate tensor via escape", hdr(`"w":{` + ok + `},"\u0077":{` + ok + `}`), `duplicate tensor name "w"`},
		{"duplicate metadata", hdr(`"__metadata__":{},"__metadata__":{}`), `duplicate tensor name "__metadata__"`},
		{"duplicate field", hdr(`"w":{` + ok + `,"dtype":"F32"}`), `tensor "w": entry is not a valid JSON object: duplicate key "dtype"`},
		{"entry not object", hdr(`"w":5`), `tensor "w": entry is not a valid JSON object: found a number, want an object`},
		{"entry null", hdr(`"w":null`), `tensor "w": entry is not a valid JSON object: found null`},
		{"missing dtype", hdr(`"w":{"shape":[2],"data_offsets":[0,8]}`), `tensor "w": missing "dtype"`},
		{"missing shape", hdr(`"w":{"dtype":"F32","data_offsets":[0,8]}`), `tensor "w": missing "shape"`},
		{"missing offsets", hdr(`"w":{"dtype":"F32","shape":[2]}`), `tensor "w": missing "data_offsets"`},
		{"dtype number", hdr(`"w":{"dtype":32,"shape":[2],"data_offsets":[0,8]}`), `tensor "w": dtype is a number, want the string "F32"`},
		{"dtype F64", hdr(`"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}`), `tensor "w": dtype F64 is not supported, want F32`},
		{"dtype lower case", hdr(`"w":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}`), `dtype f32 is not supported, want F32`},
		{"shape not array", hdr(`"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}`), `tensor "w": shape is a number, want an array of non-negative integers`},
		{"shape null", hdr(`"w":{"dtype":"F32","shape":null,"data_offsets":[0,8]}`), `tensor "w": shape is null, want an array`},
		{"negative dim", hdr(`"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]}`), `tensor "w": shape[1]: got -1, want a non-negative integer`},
		{"fractional dim", hdr(`"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}`), `shape[0]: got 1.5, want a non-negative integer`},
		{"exponent dim", hdr(`"w":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}`), `shape[0]: got 2e0, want a non-negative integer`},
		{"string dim", hdr(`"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}`), `shape[0]: got a string, want a non-negative integer`},
		{"huge dim", hdr(`"w":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}`), `shape[0]: got 99999999999999999999, want`},
		{"element overflow", hdr(`"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}`), `tensor "w": shape [4294967296 4294967296 4]: element count overflows`},
		{"overflow hidden by zero", hdr(`"w":{"dtype":"F32","shape":[4294967296,4294967296,4,0],"data_offsets":[0,0]}`), `element count overflows`},
		{"byte size overflow", hdr(`"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}`), `tensor "w": shape [4611686018427387904]: byte size overflows`},
		{"offsets not array", hdr(`"w":{"dtype":"F32","shape":[2],"data_offsets":"0,8"}`), `tensor "w": data_offsets is a string, want an array [begin, end]`},
		{"one offset", hdr(`"w":{"dtype":"F32","shape":[2],"data_offsets":[8]}`), `data_offsets is an array of 1 elements, want an array [begin, end]`},
		{"three offsets", hdr(`"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}`), `data_offsets is an array of more than 2 elements`},
		{"negative offset", hdr(`"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}`), `tensor "w": data_offsets begin: got -8, want a non-negative integer`},
		{"float offset", hdr(`"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]}`), `tensor "w": data_offsets end: got 8.0, want`},
		{"begin after end", hdr(`"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}`), `tensor "w": data_offsets [8, 0]: begin is after end`},
		{"end beyond data", hdr(`"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}`), `tensor "w": data_offsets [0, 16]: end is beyond the data section (8 bytes)`},
		{"huge end", hdr(`"w":{"dtype":"F32","shape":[2],"data_offsets":[0,9223372036854775807]}`), `end is beyond the data section`},
		{"size mismatch", hdr(`"w":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}`), `tensor "w": data_offsets [0, 8] span 8 bytes, want 4 (4 bytes × 1 elements of shape [1])`},
		{"dtype I16", hdr(`"w":{"dtype":"I16","shape":[4],"data_offsets":[0,8]}`), `tensor "w": dtype I16 is not supported, want F32 (or I8, U8`},
		{"I8 size mismatch", hdr(`"w":{"dtype":"I8","shape":[2],"data_offsets":[0,8]}`), `tensor "w": data_offsets [0, 8] span 8 bytes, want 2 (1 bytes × 2 elements of shape [2])`},
		{"U8 size mismatch", hdr(`"w":{"dtype":"U8","shape":[4,4],"data_offsets":[0,8]}`), `span 8 bytes, want 16 (1 bytes × 16 elements`},
		{"I8 beyond data", hdr(`"w":{"dtype":"I8","shape":[9],"data_offsets":[0,9]}`), `end is beyond the data section (8 bytes)`},
		{"I8 byte size overflow", hdr(`"w":{"dtype":"I8","shape":[4611686018427387904],"data_offsets":[0,8]}`), `byte size overflows`},
		{"I8 overlaps F32", hdr(`"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"I8","shape":[2],"data_offsets":[3,5]}`), `tensors "a" (bytes [0, 4)) and "b" (bytes [3, 5)) overlap`},
		{"overlap", hdr(`"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}`), `tensors "a" (bytes [0, 8)) and "b" (bytes [4, 8)) overlap`},
		{"identical ranges", hdr(`"a":{` + ok + `},"b":{` + ok + `}`), `tensors "a" (bytes [0, 8)) and "b" (bytes [0, 8)) overlap`},
		{"overlap across empty", hdr(`"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}`), `tensors "a" (bytes [0, 8)) and "b" (bytes [4, 8)) overlap`},
		{"metadata not object", hdr(`"__metadata__":["a"]`), `__metadata__ is not a valid JSON object of strings: found an array`},
		{"metadata number value", hdr(`"__metadata__":{"classes":10}`), `metadata "classes" is a number, want a string`},
		{"metadata null value", hdr(`"__metadata__":{"m":null}`), `metadata "m" is null, want a string`},
		{"metadata duplicate", hdr(`"__metadata__":{"m":"a","m":"b"}`), `duplicate metadata key "m"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, err := ParseSafetensors(tc.file)
			if err == nil {
				t.Fatalf("parsed without error: %v", ws.Order)
			}
			if !strings.HasPrefix(err.Error(), "safetensors: ") {
				t.Errorf("error %q lacks the safetensors: prefix", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

func TestParseSafetensorsAccepts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  []byte
		order []string
	}{
		{"empty object", stFile("{}", nil), nil},
		{"space padded", stFile("{}      ", nil), nil},
		{"whitespace around", stFile(" \n{ }\t\r\n", nil), nil},
		{"null metadata", stFile(`{"__metadata__":null}`, nil), nil},
		{"scalar", stFile(`{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, f32LE(1)), []string{"s"}},
		{"empty tensors at the end", stFile(`{"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"f":{"dtype":"F32","shape":[2,0],"data_offsets":[4,4]}}`, f32LE(1)), []string{"e", "f"}},
		{"zero-size inside another", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}`, f32LE(1, 2)), []string{"a", "e"}},
		{"huge zero-size shape", stFile(`{"e":{"dtype":"F32","shape":[0,9223372036854775807],"data_offsets":[0,0]}}`, nil), []string{"e"}},
		{"non-finite values", stFile(`{"n":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32LE(float32(math.NaN()), float32(math.Inf(1)))), []string{"n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, err := ParseSafetensors(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ws.Order, tc.order) {
				t.Errorf("Order = %q, want %q", ws.Order, tc.order)
			}
			checkRoundTrip(t, ws)
		})
	}
}

func TestWriteSafetensorsErrors(t *testing.T) {
	good := func() *Weights {
		ws := NewWeights()
		ws.Add("a", []int{2}, []float32{1, 2})
		return ws
	}
	for _, tc := range []struct {
		name   string
		mutate func(ws *Weights) *Weights
		want   string
	}{
		{"nil", func(*Weights) *Weights { return nil }, "nil Weights"},
		{"data too short", func(ws *Weights) *Weights { ws.Tensors["a"].Data = []float32{1}; return ws }, `tensor "a": shape [2] holds 2 values, got 1`},
		{"negative dim", func(ws *Weights) *Weights { ws.Tensors["a"].Shape = []int{-2}; return ws }, `tensor "a": negative dimension in shape [-2]`},
		{"not in Tensors", func(ws *Weights) *Weights { ws.Order = append(ws.Order, "b"); return ws }, `tensor "b" is in Order but not in Tensors`},
		{"not in Order", func(ws *Weights) *Weights {
			ws.Tensors["c"] = &Tensor{Name: "c", Shape: []int{}, Data: []float32{1}}
			return ws
		}, `tensor "c" is in Tensors but not in Order`},
		{"listed twice", func(ws *Weights) *Weights { ws.Order = append(ws.Order, "a"); return ws }, `tensor "a" is listed twice in Order`},
		{"reserved name", func(ws *Weights) *Weights { ws.Add("__metadata__", nil, []float32{1}); return ws }, `tensor name "__metadata__" is reserved`},
		{"bad UTF-8 name", func(ws *Weights) *Weights { ws.Add("\xff", nil, []float32{1}); return ws }, `name is not valid UTF-8`},
		{"unstorable type", func(ws *Weights) *Weights {
			ws.Tensors["a"].DType, ws.Tensors["a"].Data = abi.S32, nil
			return ws
		}, `tensor "a": element type s32 cannot be stored (F32, I8 and U8 can)`},
		{"I8 too short", func(ws *Weights) *Weights {
			ws.AddInt8("q", []int{3}, []int8{1, 2, 3})
			ws.Tensors["q"].I8 = ws.Tensors["q"].I8[:2]
			return ws
		}, `tensor "q": shape [3] holds 3 values, got 2`},
		{"I8 with floats", func(ws *Weights) *Weights {
			ws.Tensors["a"].DType, ws.Tensors["a"].I8 = abi.S8, []int8{1, 2}
			return ws
		}, `tensor "a" of type I8 also holds 2 float32 values`},
		{"U8 with int8s", func(ws *Weights) *Weights {
			ws.AddUint8("u", []int{1}, []uint8{1})
			ws.Tensors["u"].I8 = []int8{1}
			return ws
		}, `tensor "u" of type U8 also holds 1 int8 values`},
		{"bad UTF-8 metadata", func(ws *Weights) *Weights { ws.Metadata["k"] = "\xfe"; return ws }, `metadata "k": key or value is not valid UTF-8`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteSafetensors(&buf, tc.mutate(good()))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes despite the error", buf.Len())
			}
		})
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n < len(p) {
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteSafetensorsWriterError(t *testing.T) {
	ws := NewWeights()
	ws.Add("big", []int{100000}, make([]float32, 100000))
	err := WriteSafetensors(&failWriter{n: 1000}, ws)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want disk full", err)
	}
}

func TestSafetensorsFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	ws := sampleWeights(t)
	if err := WriteSafetensorsFile(path, ws); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSafetensorsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := sameWeights(ws, got); d != "" {
		t.Fatalf("file round trip: %s", d)
	}

	// An inconsistent Weights leaves an existing file alone.
	bad := NewWeights()
	bad.Order = []string{"ghost"}
	if err := WriteSafetensorsFile(path, bad); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want an error naming %s", err, path)
	}
	if _, err := ReadSafetensorsFile(path); err != nil {
		t.Errorf("file damaged by a failed write: %v", err)
	}

	missing := filepath.Join(dir, "missing.safetensors")
	if _, err := ReadSafetensorsFile(missing); err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want a not-exist error naming %s", err, missing)
	}
	corrupt := filepath.Join(dir, "corrupt.safetensors")
	if err := os.WriteFile(corrupt, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSafetensorsFile(corrupt); err == nil || !strings.Contains(err.Error(), corrupt) || !strings.Contains(err.Error(), "shorter than") {
		t.Errorf("err = %v, want a parse error naming %s", err, corrupt)
	}
	if err := WriteSafetensorsFile(filepath.Join(dir, "no", "such", "dir.safetensors"), ws); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

func TestSafetensorsGolden(t *testing.T) {
	type spec struct {
		name  string
		shape []int
		first []float32 // leading values, if checked
	}
	for _, tc := range []struct {
		model   string
		count   int
		dataLen int
		tensors []spec
		meta    map[string]string
	}{
		{"tinyv2", 76, 61608, []spec{
			{"conv1_conv/kernel", []int{3, 3, 3, 16}, []float32{0.09405610710382462, 0.22361613810062408, 0.08993358165025711}},
			{"conv1_conv/bias", []int{16}, nil},
			{"conv2_block1_preact_bn/gamma", []int{16}, nil},
			{"post_bn/moving_variance", []int{64}, nil},
			{"predictions/kernel", []int{64, 10}, nil},
			{"predictions/bias", []int{10}, nil},
		}, map[string]string{"model": "tinyv2", "classes": "10", "input_hw": "32"}},
		{"tinyv1", 92, 71208, []spec{
			{"conv1_conv/kernel", []int{7, 7, 3, 16}, []float32{0.040309756994247437, 0.09583548456430435, 0.038542963564395905}},
			{"conv1_bn/gamma", []int{16}, nil},
			{"predictions/kernel", []int{64, 10}, nil},
		}, map[string]string{"model": "tinyv1", "classes": "10", "input_hw": "32"}},
		{"stemv2", 76, 240936, []spec{
			{"conv1_conv/kernel", []int{7, 7, 3, 32}, nil},
			{"predictions/kernel", []int{128, 10}, nil},
		}, map[string]string{"model": "stemv2", "input_hw": "64"}},
	} {
		t.Run(tc.model, func(t *testing.T) {
			ws, err := ReadSafetensorsFile(filepath.Join("..", "testdata", "golden", tc.model+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			if len(ws.Order) != tc.count || len(ws.Tensors) != tc.count {
				t.Errorf("%d tensors (%d in Order), want %d", len(ws.Tensors), len(ws.Order), tc.count)
			}
			if ws.Order[0] != "conv1_conv/kernel" || ws.Order[len(ws.Order)-1] != "predictions/bias" {
				t.Errorf("Order runs %q … %q, want conv1_conv/kernel … predictions/bias", ws.Order[0], ws.Order[len(ws.Order)-1])
			}
			total := 0
			for _, name := range ws.Order {
				total += 4 * len(ws.Tensors[name].Data)
			}
			if total != tc.dataLen {
				t.Errorf("tensors hold %d bytes, want %d", total, tc.dataLen)
			}
			for _, s := range tc.tensors {
				tn := ws.Tensors[s.name]
				if tn == nil {
					t.Errorf("missing %q", s.name)
					continue
				}
				if !slices.Equal(tn.Shape, s.shape) {
					t.Errorf("%q has shape %v, want %v", s.name, tn.Shape, s.shape)
				}
				if len(s.first) > 0 && !slices.Equal(tn.Data[:len(s.first)], s.first) {
					t.Errorf("%q starts %v, want %v", s.name, tn.Data[:len(s.first)], s.first)
				}
			}
			for k, v := range tc.meta {
				if ws.Metadata[k] != v {
					t.Errorf("metadata %q = %q, want %q", k, ws.Metadata[k], v)
				}
			}
			specs := make([]TensorSpec, 0, len(ws.Order))
			for _, name := range ws.Order {
				specs = append(specs, TensorSpec{Name: name, Shape: ws.Tensors[name].Shape})
			}
			if err := ws.Check(specs); err != nil {
				t.Errorf("Check: %v", err)
			}
			checkRoundTrip(t, ws)
		})
	}
}

// checkRoundTrip asserts that ws re-serialises, re-parses to the same
// tensors, and that serialisation is a fixed point.
func checkRoundTrip(t *testing.T, ws *Weights) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, ws); err != nil {
		t.Fatalf("writing parsed weights: %v", err)
	}
	again, err := ParseSafetensors(buf.Bytes())
	if err != nil {
		t.Fatalf("re-parsing written weights: %v", err)
	}
	if d := sameWeights(ws, again); d != "" {
		t.Fatalf("write/parse changed the weights: %s", d)
	}
	var buf2 bytes.Buffer
	if err := WriteSafetensors(&buf2, again); err != nil {
		t.Fatalf("writing re-parsed weights: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Fatal("serialisation is not a fixed point")
	}
}

func FuzzParseSafetensors(f *testing.F) {
	golden, _ := filepath.Glob(filepath.Join("..", "testdata", "golden", "*.safetensors"))
	for _, p := range golden {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, sampleWeights(f)); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(stFile("{}", nil))
	f.Add(stFile(`{"__metadata__":{"model":"x"}}`, nil))
	f.Add(stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[],"data_offsets":[8,12]}}`, f32LE(1, 2, 3)))
	f.Add(stFile(`{"b":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"a":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}`, f32LE(1)))
	f.Add(stFile(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, f32LE(1)))
	f.Add(stFile(`{"k":{"dtype":"I8","shape":[3],"data_offsets":[0,3]},"z":{"dtype":"U8","shape":[1],"data_offsets":[3,4]},"f":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, append([]byte{0x80, 0x7f, 1, 255}, f32LE(2)...)))
	f.Add([]byte{})
	// Hostile headers: absurd lengths, huge values of the wrong kind,
	// offsets outside the file, overlapping and out-of-order data.
	long := "[" + strings.Repeat("1,", 4096) + "1]"
	f.Add(binary.LittleEndian.AppendUint64(nil, math.MaxUint64))
	f.Add(append(binary.LittleEndian.AppendUint64(nil, 1<<40), "{}"...))
	f.Add(stFile(`{"t":{"dtype":"F32","shape":`+long+`,"data_offsets":[0,4]}}`, f32LE(1)))
	f.Add(stFile(`{"t":{"dtype":`+long+`,"shape":[1],"data_offsets":[0,4]}}`, f32LE(1)))
	f.Add(stFile(`{"t":{"dtype":"F32","shape":[1],"data_offsets":`+long+`}}`, f32LE(1)))
	f.Add(stFile(`{"t":{"dtype":"F32","shape":[1073741824],"data_offsets":[0,4294967296]}}`, f32LE(1)))
	f.Add(stFile(`{"t":{"dtype":"F32","shape":[3037000500,3037000500],"data_offsets":[0,4]}}`, f32LE(1)))
	f.Add(stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32LE(1, 2)))
	f.Add(stFile(`{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32LE(1, 2)))
	f.Add([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ws *Weights
		var err error
		// Parsing allocates the header's JSON a few times over and the
		// data once: bounded by the input, never by what it declares.
		checkBounded(t, "ParseSafetensors", data, 24, 64<<10, func() { ws, err = ParseSafetensors(data) })
		// The file reader (header, then tensor by tensor) and the format
		// sniffing, on the same bytes.
		var lazy *Weights
		var lerr error
		checkBounded(t, "openSafetensors", data, 24, 64<<10, func() {
			if lazy, lerr = openSafetensors(&countingReader{r: bytes.NewReader(data)}, int64(len(data))); lerr == nil {
				if err := lazy.loadAll(); err != nil {
					t.Fatalf("loading an opened file: %v", err)
				}
			}
		})
		if (err == nil) != (lerr == nil) {
			t.Fatalf("ParseSafetensors: %v; openSafetensors: %v", err, lerr)
		}
		if err == nil {
			lazy.src = nil
			if d := sameWeights(ws, lazy); d != "" {
				t.Fatalf("ParseSafetensors and openSafetensors differ: %s", d)
			}
		}
		sniffWeights(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if ws != nil {
				t.Fatal("non-nil Weights with an error")
			}
			return
		}
		checkRoundTrip(t, ws)
	})
}

// TestSafetensorsInt: the I8 and U8 tensors of a quantized weight file
// (docs/int8.md) are written and read byte for byte, in memory and lazily,
// and a reader asking for the wrong element type is told so.
func TestSafetensorsInt(t *testing.T) {
	ws := NewWeights()
	if err := ws.AddInt8("k", []int{3}, []int8{-128, 127, 1}); err != nil {
		t.Fatal(err)
	}
	if err := ws.AddUint8("z", []int{1}, []uint8{255}); err != nil {
		t.Fatal(err)
	}
	if err := ws.Add("f", []int{1}, []float32{2}); err != nil {
		t.Fatal(err)
	}
	header := `{"k":{"dtype":"I8","shape":[3],"data_offsets":[0,3]},` +
		`"z":{"dtype":"U8","shape":[1],"data_offsets":[3,4]},` +
		`"f":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`
	for len(header)%8 != 0 {
		header += " "
	}
	want := stFile(header, append([]byte{0x80, 0x7f, 1, 255}, f32LE(2)...))
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, ws); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("got\n%q\nwant\n%q", buf.Bytes(), want)
	}
	parsed, err := ParseSafetensors(want)
	if err != nil {
		t.Fatal(err)
	}
	if d := sameWeights(ws, parsed); d != "" {
		t.Fatalf("parsed: %s", d)
	}
	if tk := parsed.Tensors["k"]; tk.DType != abi.S8 || tk.Data != nil || tk.U8 != nil {
		t.Errorf("k parsed as %+v", tk)
	}
	path := writeTemp(t, "q.safetensors", want)
	lazy, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lazy.Close()
	for _, ww := range []*Weights{parsed, lazy} {
		if k, err := ww.Int8("k"); err != nil || !slices.Equal(k, []int8{-128, 127, 1}) {
			t.Errorf("Int8(k) = %v, %v", k, err)
		}
		if z, err := ww.Uint8("z"); err != nil || !slices.Equal(z, []uint8{255}) {
			t.Errorf("Uint8(z) = %v, %v", z, err)
		}
		if f, err := ww.Data("f"); err != nil || !slices.Equal(f, []float32{2}) {
			t.Errorf("Data(f) = %v, %v", f, err)
		}
		for _, tc := range []struct {
			name string
			fn   func() error
			want string
		}{
			{"Data(k)", func() error { _, err := ww.Data("k"); return err }, `tensor "k" holds int8 values, not float32`},
			{"Data(z)", func() error { _, err := ww.Data("z"); return err }, `tensor "z" holds uint8 values, not float32`},
			{"Int8(f)", func() error { _, err := ww.Int8("f"); return err }, `tensor "f" holds float32 values, not int8`},
			{"Uint8(k)", func() error { _, err := ww.Uint8("k"); return err }, `tensor "k" holds int8 values, not uint8`},
			{"Int8(none)", func() error { _, err := ww.Int8("none"); return err }, `no tensor "none"`},
			{"Check", func() error {
				return ww.Check([]TensorSpec{{Name: "k", Shape: []int{3}}, {Name: "z", Shape: []int{1}}, {Name: "f", Shape: []int{1}}})
			}, `tensor "k" holds int8 values, want float32`},
		} {
			if err := tc.fn(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
			}
		}
	}
	if err := lazy.loadAll(); err != nil {
		t.Fatal(err)
	}
	lazy.src = nil
	if d := sameWeights(ws, lazy); d != "" {
		t.Fatalf("loaded lazily: %s", d)
	}
	// A file truncated after it was opened is an error, not short data.
	trunc, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer trunc.Close()
	if err := os.Truncate(path, int64(len(want)-6)); err != nil {
		t.Fatal(err)
	}
	if _, err := trunc.Int8("k"); err == nil || !strings.Contains(err.Error(), `tensor "k": reading data bytes [0, 3)`) {
		t.Errorf("truncated: %v", err)
	}
}

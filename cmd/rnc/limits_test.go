package main

import (
	"encoding/binary"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/runtime/npy"
)

// TestBatchBytes: a batch is charged its inputs and outputs for every
// image but the arena only for the chunk runtime Predict runs at once, so
// a batch whose n × arena is far above maxBatchBytes passes when its
// chunks fit.
func TestBatchBytes(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		n         int
		io, arena int64
		want      int64
	}{
		{1, 3 * mib, 100 * mib, 103 * mib},
		{3, mib, 100 * mib, 303 * mib},
		// 10 images of 100 MiB fit in the 1 GiB cap: 100 images run in
		// chunks of 10.
		{100, mib, 100 * mib, 1100 * mib},
		// An arena above the cap runs one image at a time.
		{2, mib, 3 << 30, 2*mib + 3<<30},
		{4, mib, 0, 4 * mib},
		{maxBatch, math.MaxInt64 / 2, mib, math.MaxInt64},
		{2, mib, math.MaxInt64 - mib, math.MaxInt64},
	} {
		if got := batchBytes(c.n, c.io, c.arena); got != c.want {
			t.Errorf("batchBytes(%d, %d, %d) = %d, want %d", c.n, c.io, c.arena, got, c.want)
		}
	}
	// 100 images of 100 MiB of activations (10 GiB as n × arena) take
	// 1.1 GiB.
	if err := checkBatch(100, batchBytes(100, mib, 100*mib)); err != nil {
		t.Error(err)
	}
	// Inputs and outputs are charged per image: 8192 images of 1 MiB.
	if err := checkBatch(8192, batchBytes(8192, mib, mib)); err == nil {
		t.Error("a batch of 8 GiB of inputs and outputs passed")
	}
}

// TestRuntimeArenaCap: runtimeArenaCap is the value of maxArenaBytes in
// runtime/model.go, which rnc cannot import.
func TestRuntimeArenaCap(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path("runtime/model.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "maxArenaBytes" || len(vs.Values) != 1 {
			return true
		}
		found = true
		tv, err := types.Eval(fset, nil, token.NoPos, types.ExprString(vs.Values[0]))
		if err != nil || tv.Value == nil {
			t.Fatalf("maxArenaBytes = %s: not a constant (%v)", types.ExprString(vs.Values[0]), err)
		}
		if v, ok := constant.Int64Val(tv.Value); !ok || v != runtimeArenaCap {
			t.Errorf("runtime's maxArenaBytes is %s, runtimeArenaCap %d", tv.Value, int64(runtimeArenaCap))
		}
		return false
	})
	if !found {
		t.Error("runtime/model.go declares no maxArenaBytes")
	}
}

// TestRunnerInput: the runner reads a tensor file where the user put it,
// nothing is copied; a picture is written, as preprocessed, to the
// runner's directory.
func TestRunnerInput(t *testing.T) {
	dir := t.TempDir()
	in := path("testdata/golden/stemv2_input_b2_seed2.npy")
	got, err := runnerInput(in, nil, false, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.Abs(in); got != want {
		t.Errorf("a tensor file: the runner reads %s, want %s", got, want)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a tensor file was copied: %v", ents)
	}
	x := []float32{1, -2, 3.5}
	got, err = runnerInput("cat.jpg", x, true, dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(got) != dir {
		t.Errorf("a picture: the runner reads %s, not a file in %s", got, dir)
	}
	if y, _, err := npy.Read(got); err != nil || !slices.Equal(y, x) {
		t.Errorf("a picture: the runner reads %v (%v), want %v", y, err, x)
	}
}

// TestInputLimits: an input file over 8 GiB (a sparse file: nothing is
// written) and a picture of more than 64 megapixels (a PNG header
// declaring one) are refused before they are read, by run with and
// without --interp.
func TestInputLimits(t *testing.T) {
	m, w := path("models/tinyv2.rn"), path("testdata/golden/tinyv2.safetensors")
	dir := t.TempDir()
	big := filepath.Join(dir, "big.f32")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Truncate(big, maxBatchBytes+4); err != nil {
		t.Fatal(err)
	}
	pic := filepath.Join(dir, "huge.png")
	if err := os.WriteFile(pic, pngHeader(8193, 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ input, want string }{
		{big, "input " + big + " is 8589934596 bytes, more than the limit of 8589934592 (8 GiB)"},
		{pic, pic + ": a 8193x8192 picture, more than 67108864 pixels"},
	} {
		for _, mode := range []string{"--interp", ""} {
			args := []string{"run", m, "--weights", w, "--input", c.input}
			if mode != "" {
				args = append(args, mode)
			}
			if _, err := rnc(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v: %v, want %q", args, err, c.want)
			}
		}
	}
}

// pngHeader is the start of a PNG file of the given size: the signature
// and the IHDR chunk (8-bit RGB), all image.DecodeConfig reads.
func pngHeader(width, height uint32) []byte {
	ihdr := []byte("IHDR")
	ihdr = binary.BigEndian.AppendUint32(ihdr, width)
	ihdr = binary.BigEndian.AppendUint32(ihdr, height)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	b := []byte("\x89PNG\r\n\x1a\n")
	b = binary.BigEndian.AppendUint32(b, uint32(len(ihdr)-4))
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}

// TestRuntimePrepFields: runtimePrep carries every field of
// ir.Preprocessing (a field added to both and not copied would make rnc
// run preprocess differently from the generated package).
func TestRuntimePrepFields(t *testing.T) {
	p := ir.Preprocessing{Mode: ir.PrepMeanStd, Mean: [3]float64{0.1, 0.2, 0.3}, Std: [3]float64{0.4, 0.5, 0.6}, NCHW: true, Resize: 77}
	iv, rv := reflect.ValueOf(p), reflect.ValueOf(runtimePrep(p))
	for i := range iv.NumField() {
		f := iv.Type().Field(i)
		if iv.Field(i).IsZero() {
			t.Fatalf("the test leaves ir.Preprocessing.%s zero: set it", f.Name)
		}
		r := rv.FieldByName(f.Name)
		if !r.IsValid() || !reflect.DeepEqual(r.Interface(), iv.Field(i).Interface()) {
			t.Errorf("runtimePrep: field %s = %v, want %v", f.Name, r, iv.Field(i))
		}
	}
}

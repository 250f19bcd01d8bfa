package emit_test

import (
	_ "embed"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/rnc-dev/rnc/codegen/internal/emit"
	"github.com/rnc-dev/rnc/codegen/internal/goasm"
	"github.com/rnc-dev/rnc/codegen/internal/kerneltest"
	"github.com/rnc-dev/rnc/internal/gotmpl"
)

// mathKernel emits name(x *float32, n int): x[i] = f(x[i]) for i < n (n a
// multiple of the vector width), with f = sigmoid, or scale(a, b) then
// sigmoid when scale.
func mathKernel(c *build.Context, name string, avx512 bool, scale bool) {
	vb, regs := 32, emit.YMM[:]
	if avx512 {
		vb, regs = 64, emit.ZMM[:]
	}
	k := emit.NewConsts(name, vb)
	c.Function(name)
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(x *float32, n int)")
	c.MOVQ(emit.Param(c, "x"), reg.RSI)
	c.MOVQ(emit.Param(c, "n"), reg.RCX)
	c.SHLQ(operand.U8(2), reg.RCX)
	c.ADDQ(reg.RSI, reg.RCX)
	c.Label(name + "_loop")
	c.CMPQ(reg.RSI, reg.RCX)
	c.JGE(operand.LabelRef(name + "_done"))
	c.VMOVUPS(operand.Mem{Base: reg.RSI}, regs[0])
	if scale {
		emit.Scale(c, k, regs[0], -1.5, 0.25)
	}
	emit.Sigmoid(c, k, regs[0], regs[1], regs[2], avx512)
	c.VMOVUPS(regs[0], operand.Mem{Base: reg.RSI})
	c.ADDQ(operand.U32(vb), reg.RSI)
	c.JMP(operand.LabelRef(name + "_loop"))
	c.Label(name + "_done")
	c.VZEROUPPER()
	c.RET()
	k.Emit(c)
}

// mathMain is main.go of TestSigmoid's module
// (testdata/math_main.go.txt): it runs the kernels named on its command line
// on the input file and writes their outputs, one after the other.
//
//go:embed testdata/math_main.go.txt
var mathMain string

// TestMathMainSource: mathMain is a gofmt-clean Go file of package main.
func TestMathMainSource(t *testing.T) {
	if err := gotmpl.Check("math_main.go.txt", []byte(mathMain)); err != nil {
		t.Error(err)
	}
	if !strings.HasPrefix(mathMain, "package main\n") {
		t.Error("math_main.go.txt: not package main")
	}
}

// TestSigmoid runs emit.Sigmoid (and Scale) on both instruction sets over
// [−120, 120] densely, the clamping points and the special values, and
// checks them against float64: relative error ≤ 4e-7 for |x| ≤ 87,
// absolute ≤ 2e-38 beyond (where the input is clamped), exactly 1 and 0
// for ±Inf, NaN for NaN.
func TestSigmoid(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go module")
	}
	c := build.NewContext()
	mathKernel(c, "sig16", true, false)
	mathKernel(c, "sig8", false, false)
	mathKernel(c, "scalesig16", true, true)
	mathKernel(c, "scalesig8", false, true)
	asm, stubs, err := goasm.Print(c, "main", "emit test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for n, b := range map[string][]byte{"go.mod": []byte("module mt\n\ngo 1.26\n"), "k_amd64.s": asm, "stubs.go": stubs, "main.go": []byte(mathMain)} {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var x []float32
	for v := -120.0; v <= 120; v += 1.0 / 1024 {
		x = append(x, float32(v))
	}
	for _, v := range []float64{0, 1e-30, -1e-30, 86.99, 87, 87.01, 87.5, 87.6, 88, 88.8, 89, 1e10, math.MaxFloat32, math.Inf(1)} {
		x = append(x, float32(v), float32(-v))
	}
	x = append(x, float32(math.NaN()), -float32(math.NaN()))
	for len(x)%16 != 0 {
		x = append(x, 0)
	}
	in, out := filepath.Join(dir, "x.f32"), filepath.Join(dir, "y.f32")
	if err := kerneltest.WriteF32(in, x); err != nil {
		t.Fatal(err)
	}
	// Run the kernels this CPU runs (zmm: AVX-512, ymm: AVX2 and FMA).
	var names []string
	for _, name := range []string{"sig16", "sig8", "scalesig16", "scalesig8"} {
		target := map[bool]string{true: "avx512", false: "avx2"}[strings.HasSuffix(name, "16")]
		if m := kerneltest.Missing(target); m != "" {
			t.Logf("%s not run: this CPU cannot run %s kernels (%s)", name, target, m)
			continue
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		t.Skip("this CPU runs neither the avx512 nor the avx2 kernels")
	}
	if b, err := kerneltest.GoCmd(dir, append([]string{"run", ".", in, out}, names...)...).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	got, err := kerneltest.ReadF32(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(names)*len(x) {
		t.Fatalf("got %d values, want %d", len(got), len(names)*len(x))
	}
	for fi, name := range names {
		worst := 0.0
		for i, v := range x {
			a := float64(v)
			if strings.HasPrefix(name, "scale") {
				a = float64(float32(float32(a)*-1.5) + 0.25)
			}
			want := 1 / (1 + math.Exp(-a))
			g := float64(got[fi*len(x)+i])
			d := math.Abs(g - want)
			if math.IsNaN(a) {
				if !math.IsNaN(g) {
					t.Errorf("%s(NaN) = %g, want NaN", name, g)
				}
			} else if math.IsInf(a, 0) {
				if g != want { // exactly 0 or 1: an infinity times it must be what the interpreter gives
					t.Errorf("%s(%g) = %g, want %g exactly", name, a, g, want)
				}
			} else if math.Abs(a) <= 87 {
				d /= want
				worst = math.Max(worst, d)
				if d > 4e-7 || math.IsNaN(g) {
					t.Errorf("%s(%g) = %g, want %g (relative error %.2g)", name, v, g, want, d)
				}
			} else if d > 2e-38 || math.IsNaN(g) {
				t.Errorf("%s(%g) = %g, want %g", name, v, g, want)
			}
		}
		t.Logf("%s: max relative error %.3g over %d inputs", name, worst, len(x))
	}
}

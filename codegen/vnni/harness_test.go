package vnni

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mmcloughlin/avo/build"

	"github.com/rnc-dev/rnc/codegen/avx512"
	"github.com/rnc-dev/rnc/codegen/internal/goasm"
	"github.com/rnc-dev/rnc/codegen/internal/kerneltest"
	"github.com/rnc-dev/rnc/runtime"
)

// kcase is one int8 kernel of a generated test module.
type kcase struct {
	Name string
	Spec ConvSpec
	T    Tiling // filled by writeModule
}

// dcase is one float32 avx512 direct kernel of a benchmark module: the
// only use of package avx512 here, in tests, to time the float32 kernel
// of a layer next to its int8 kernel.
type dcase struct {
	Name string
	Spec avx512.ConvSpec
}

// writeModule generates the kernels of ks (filling in their tilings) and
// ds into a standalone module in dir and returns the assembly.
func writeModule(t testing.TB, dir string, ks []kcase, ds []dcase) []byte {
	t.Helper()
	ctx := build.NewContext()
	var u8s []kerneltest.U8Kernel
	for i := range ks {
		c := &ks[i]
		tl, err := Generate(ctx, c.Name, &c.Spec)
		if err != nil {
			t.Fatalf("%s %+v: %v", c.Name, c.Spec, err)
		}
		c.T = tl
		z := c.Spec.Sizes()
		u8s = append(u8s, kerneltest.U8Kernel{Name: c.Name, OCB: c.Spec.OCB(), NB: tl.NB, OH: c.Spec.OH(),
			Bytes: [11]int{z.In, z.Wt, 4 * z.M, 4 * z.B, 4 * z.Scale, 4 * z.Shift, z.Res, z.Mul, 4 * z.Q, z.Out0, z.Out1}})
	}
	var dks []kerneltest.DirectKernel
	for i := range ds {
		s := &ds[i].Spec
		tl, err := avx512.Generate(ctx, ds[i].Name, s)
		if err != nil {
			t.Fatalf("%s: %v", ds[i].Name, err)
		}
		dks = append(dks, kerneltest.DirectKernel{Name: ds[i].Name, Sizes: s.Sizes(), OCB: s.OCB(), NB: tl.NB, OH: s.OH()})
	}
	asm, stubs, err := goasm.Print(ctx, "main", "vnni test")
	if err != nil {
		t.Fatal(err)
	}
	kerneltest.WriteU8Module(t, dir, asm, stubs, u8s, dks)
	return asm
}

// inputBytes is the driver's input file of a kernel: its inputs
// concatenated in the table's order (little-endian floats and words).
func inputBytes(a *runtime.ConvU8Args) []byte {
	var b bytes.Buffer
	b.Write(a.In)
	for _, w := range a.Wt {
		b.WriteByte(byte(w))
	}
	for _, f := range [][]float32{a.M, a.B, a.Scale, a.Shift} {
		binary.Write(&b, binary.LittleEndian, f)
	}
	b.Write(a.Res)
	b.Write(a.Mul)
	q, err := a.Q.Words()
	if err != nil {
		panic(err)
	}
	binary.Write(&b, binary.LittleEndian, q[:])
	return b.Bytes()
}

// The input sets every kernel runs on.
const (
	setRand    = "rand"    // random bytes and weights, outputs spread over 0..255
	setPad     = "pad"     // as rand, with random bytes in the input's pad lanes (channels past IC)
	setMax     = "max"     // every input byte (pad lanes too) 255, every weight 127: the largest accumulators
	setMin     = "min"     // every input byte 255, every weight −127: the smallest
	setSpecial = "special" // scales that make ±Inf, NaN and int32 overflow in the epilogue
	setEdge    = "edge"    // M = 0: v is the bias, chosen at the edges of VCVTPS2DQ's range and of the clamp
)

// edgeValues are the biases of the edge set: round-half-even ties, the
// largest float32s below 2^31 (plus a zero point of 128..255, past
// MaxInt32), −2^31 and just beyond, the clamp's ends.
var edgeValues = []float32{0.5, 1.5, 2.5, -0.5, -1.5, 254.5, 255.5, 127.5, -127.5, 2147483520, 2147483392, 2147483264,
	2147483648, -2147483648, -2147483904, 1e10, -1e10, 0, float32(math.Copysign(0, -1))}

// blockedU8 returns random bytes in nChw16c for c channels of an h×w map;
// pad lanes hold pad(rng).
func blockedU8(rng *rand.Rand, c, h, w int, pad func() uint8) []uint8 {
	v := make([]uint8, (c+Block-1)/Block*Block*h*w)
	for i := range v {
		if ch := i/(Block*h*w)*Block + i%Block; ch < c {
			v[i] = uint8(rng.Intn(256))
		} else {
			v[i] = pad()
		}
	}
	return v
}

// makeArgs returns the inputs of set for s (outputs allocated).
func makeArgs(s *ConvSpec, set string, rng *rand.Rand) runtime.ConvU8Args {
	z := s.Sizes()
	ref := s.Ref()
	rz := ref.Sizes()
	zero := func() uint8 { return 0 }
	var a runtime.ConvU8Args
	switch set {
	case setPad:
		a.In = blockedU8(rng, s.IC, s.H, s.W, func() uint8 { return uint8(rng.Intn(256)) })
	case setMax, setMin:
		a.In = blockedU8(rng, s.IC, s.H, s.W, func() uint8 { return 255 })
		for i := range a.In {
			a.In[i] = 255
		}
	default:
		a.In = blockedU8(rng, s.IC, s.H, s.W, zero)
	}
	hwio := make([]float32, s.KH*s.KW*s.IC*s.OC)
	sw := make([]float32, s.OC)
	switch set {
	case setMax, setMin:
		for i := range hwio {
			hwio[i] = map[string]float32{setMax: 127, setMin: -127}[set]
		}
		for o := range sw {
			sw[o] = 1
		}
	default:
		for i := range hwio {
			hwio[i] = float32(rng.NormFloat64())
		}
		for i, w := range hwio {
			sw[i%s.OC] = max(sw[i%s.OC], float32(math.Abs(float64(w)))/127)
		}
	}
	var err error
	if a.Wt, err = runtime.PackConvS8(hwio, s.KH, s.KW, s.IC, s.OC, sw); err != nil {
		panic(err)
	}
	terms := float64(s.IC * s.KH * s.KW)
	unit := 1 / (6700 * math.Sqrt(terms)) // acc·unit is about N(0, 1) for random inputs
	if set == setMax || set == setMin {
		unit = 1 / (255 * 127 * terms)
	}
	uni := func(lo, hi float64) float32 { return float32(lo + (hi-lo)*rng.Float64()) }
	vec := func(n int, f func(c int) float32) []float32 {
		if n == 0 {
			return nil
		}
		v := make([]float32, n)
		for c := range v {
			v[c] = f(c)
		}
		return v
	}
	u8 := func(n int) []uint8 {
		if n == 0 {
			return nil
		}
		v := make([]uint8, n)
		for i := range v {
			v[i] = uint8(rng.Intn(256))
		}
		return v
	}
	a.M = vec(z.M, func(int) float32 { return uni(0.5, 1.5) * float32(unit) })
	a.B = vec(z.B, func(int) float32 { return uni(-1, 1) })
	a.Scale = vec(z.Scale, func(int) float32 { return uni(-2, 2) })
	a.Shift = vec(z.Shift, func(int) float32 { return uni(-1, 1) })
	a.Res, a.Mul = u8(z.Res), u8(z.Mul)
	z8 := func() int32 { return int32(rng.Intn(256)) }
	a.Q = runtime.ConvU8Quant{
		Res: runtime.U8Quant{S: uni(0.002, 0.02), Z: z8()},
		Mul: runtime.U8Quant{S: uni(0.002, 0.01), Z: z8()},
		Out: [2]runtime.U8Out{{Inv: uni(20, 60), Z: z8()}, {Inv: uni(20, 60), Z: z8()}},
	}
	if set == setSpecial {
		huge := []float32{1e32, -1e32, 0, 1e-30, float32(unit) * 1e8, float32(math.Inf(1)), float32(unit)}
		for c := range a.M {
			a.M[c] = huge[rng.Intn(len(huge))]
		}
		a.B[rng.Intn(len(a.B))] = float32(math.NaN())
		a.B[rng.Intn(len(a.B))] = float32(math.Inf(-1))
		for c := range a.Scale {
			a.Scale[c] = []float32{0, 3e38, -1, 1e-38}[rng.Intn(4)]
		}
		if len(a.Shift) > 0 {
			a.Shift[rng.Intn(len(a.Shift))] = float32(math.NaN())
		}
		a.Q.Res.S = 3e38                             // |q − z| ≥ 2 overflows to ±Inf
		a.Q.Mul.S = 1e30                             // Inf·0 where the gate is its zero point
		a.Q.Out[0].Inv = 3e9                         // |v| ≥ 0.72: outside int32, the integer indefinite
		a.Q.Out[1] = runtime.U8Out{Inv: 1e38, Z: 77} // only 0 and ±tiny stay in range
		for i := range a.Mul {
			if rng.Intn(3) == 0 {
				a.Mul[i] = uint8(a.Q.Mul.Z)
			}
		}
	}
	if set == setEdge {
		for c := range a.M {
			a.M[c] = 0
			a.B[c] = edgeValues[rng.Intn(len(edgeValues))]
		}
		a.Q.Out = [2]runtime.U8Out{{Inv: 1, Z: 255}, {Inv: 1, Z: 130}}
	}
	for i := 0; i < rz.Outs; i++ {
		a.Out = append(a.Out, make([]uint8, rz.Out))
	}
	return a
}

// sets lists the input sets of s.
func sets(s *ConvSpec) []string {
	l := []string{setRand, setMax, setMin, setSpecial, setEdge}
	if s.IC%Block != 0 {
		l = append(l, setPad)
	}
	return l
}

// testKernels generates cases into one module, checks the assembly,
// builds it and runs every kernel on every input set over several (block
// range × row range) pieces plus empty ranges, inputs against guard
// pages, outputs between sentinels; each output must equal
// runtime.ConvU8's byte for byte.
func testKernels(t *testing.T, cases []kcase) {
	t.Helper()
	start := time.Now()
	dir := t.TempDir()
	asm := writeModule(t, dir, cases, nil)
	checkAsm(t, asm)
	gen := time.Since(start)
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(7))
	args := map[string]runtime.ConvU8Args{}
	for _, c := range cases {
		for _, set := range sets(&c.Spec) {
			a := makeArgs(&c.Spec, set, rng)
			name := c.Name + "." + set
			args[name] = a
			if err := os.WriteFile(filepath.Join(data, name+".in"), inputBytes(&a), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	t1 := time.Now()
	if out, err := kerneltest.GoCmd(dir, "build", "-o", "kt8.bin", ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	build := time.Since(t1)
	for _, target := range kerneltest.NeedsCPU(asm) {
		kerneltest.RequireCPU(t, target)
	}
	t1 = time.Now()
	if out, err := kerneltest.GoCmd(dir, "run", ".", "check", data).CombinedOutput(); err != nil {
		t.Fatalf("driver: %v\n%s", err, out)
	}
	run := time.Since(t1)
	tilings := map[Tiling]int{}
	n, sat, mid := 0, 0, 0
	for _, c := range cases {
		tilings[c.T]++
		ref := c.Spec.Ref()
		for _, set := range sets(&c.Spec) {
			name := c.Name + "." + set
			a := args[name]
			if err := ref.Run(&a, 0, ref.OCB(), 0, ref.OH()); err != nil {
				t.Fatalf("%s: reference: %v", name, err)
			}
			got, err := os.ReadFile(filepath.Join(data, name+".out"))
			if err != nil {
				t.Fatal(err)
			}
			want := bytes.Join(a.Out, nil)
			if len(got) != len(want) {
				t.Fatalf("%s: %d output bytes, want %d", name, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					per := len(a.Out[0])
					o, j := i/per, i%per
					oh, ow := c.Spec.OH(), c.Spec.OW()
					t.Errorf("%s %+v tiling %v: out%d[%d] (oc %d, oh %d, ow %d) = %d, want %d",
						name, c.Spec, c.T, o, j, j/(oh*ow*Block)*Block+j%Block, j/(ow*Block)%oh, j/Block%ow, got[i], want[i])
					break
				}
			}
			for _, v := range want {
				n++
				switch v {
				case 0, 255:
					sat++
				default:
					mid++
				}
			}
		}
	}
	t.Logf("%d kernels, %d bytes of assembly, %d output bytes compared (%d at 0 or 255, %d between); generate %v, build %v, run %v",
		len(cases), len(asm), n, sat, mid, gen.Round(time.Millisecond), build.Round(time.Millisecond), run.Round(time.Millisecond))
	t.Logf("tilings: %v", tilings)
}

// checkAsm: every kernel has a VPDPBUSD inside a loop, no CALL and no
// fused multiply-add (the epilogue's products are rounded on their own).
func checkAsm(t *testing.T, asm []byte) {
	t.Helper()
	kerneltest.CheckAsm(t, asm, `(?m)^\s+VPDPBUSD\s`, func(name, block string) {
		if bytes.Contains([]byte(block), []byte("VFMADD")) || bytes.Contains([]byte(block), []byte("VFNMADD")) {
			t.Errorf("%s: a fused multiply-add", name)
		}
	})
}

// String names a case for failures.
func (c kcase) String() string { return fmt.Sprintf("%s %+v", c.Name, c.Spec) }

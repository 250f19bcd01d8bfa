package simd_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/build"

	"github.com/rnc-dev/rnc/codegen/avx512"
	"github.com/rnc-dev/rnc/codegen/simd"
)

// kcase is one kernel of the sweep: its generator and the runtime.Step
// literal (Go source) that describes the same computation for the Go twin.
type kcase struct {
	name string
	gen  func(c *build.Context, name string) error
	step string // runtime.Step literal; In/Out offsets are placed by the harness
	kind string // map or head
	cpu  string // the target whose CPU features it needs
}

func epiSrc(epi []simd.Epi) (string, int) {
	var parts []string
	outs := 1
	for _, e := range epi {
		switch e {
		case simd.Relu:
			parts = append(parts, "{Op: runtime.EpiRelu}")
		case simd.Add:
			parts = append(parts, "{Op: runtime.EpiAdd, Arg: 1, Sub: 1}")
		case simd.Affine:
			parts = append(parts, "{Op: runtime.EpiAffine, Scale: 2, Shift: 3}")
		case simd.Out:
			parts = append(parts, "{Op: runtime.EpiOut}")
			outs++
		}
	}
	return "[]runtime.Epi{" + strings.Join(parts, ", ") + "}", outs
}

func has(epi []simd.Epi, e simd.Epi) bool {
	for _, x := range epi {
		if x == e {
			return true
		}
	}
	return false
}

// TestKernels generates pooling, eltwise and head kernels for both widths
// over odd channel counts and sizes, every padding and epilogue the models
// use, builds them into one standalone package with the runtime, and
// compares each with the runtime's Go twin (Step.RunGo): outputs within
// 1e-5, and NaN guards around every output untouched.
func TestKernels(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package")
	}
	var cases []kcase
	cpu := map[simd.Width]string{16: "avx512", 8: "avx2"}
	epis := [][]simd.Epi{nil, {simd.Relu}, {simd.Affine, simd.Relu}, {simd.Add, simd.Out, simd.Affine, simd.Relu}, {simd.Add, simd.Relu}}
	n := 0
	for _, w := range []simd.Width{16, 8} {
		for _, c := range []int{3, 8, 16, 24, 40} {
			for _, hw := range [][2]int{{1, 1}, {5, 7}, {9, 9}, {12, 11}} {
				for _, p := range []simd.PoolSpec{
					{KH: 3, KW: 3, SH: 2, SW: 2, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Max: true, PadZero: true},
					{KH: 3, KW: 3, SH: 2, SW: 2, PadT: 0, PadB: 1, PadL: 0, PadR: 1, Max: true},
					{KH: 2, KW: 3, SH: 1, SW: 2, PadT: 1, PadB: 0, PadL: 1, PadR: 1},
					{KH: 1, KW: 1, SH: 2, SW: 2, Max: true},
				} {
					p.C, p.H, p.W = c, hw[0], hw[1]
					if p.OH() < 1 || p.OW() < 1 || p.KH > p.H+p.PadT+p.PadB || p.KW > p.W+p.PadL+p.PadR {
						continue
					}
					p.Epi = epis[n%len(epis)]
					if has(p.Epi, simd.Add) && (p.OH() != p.H || p.OW() != p.W) && false {
						continue
					}
					n++
					spec, w := p, w
					epi, outs := epiSrc(spec.Epi)
					cases = append(cases, kcase{
						name: fmt.Sprintf("pool%d", len(cases)),
						gen:  func(c *build.Context, name string) error { return simd.Pool(c, w, name, &spec) },
						step: fmt.Sprintf("runtime.Step{Kind: runtime.OpPool, KH: %d, KW: %d, SH: %d, SW: %d, Pad: [4]int{%d, %d, %d, %d}, Max: %v, PadZero: %v, Epi: %s, Kernel: -1, Bias: -1, WBlock: %d, In: bufs(%d, %d, %d, %d, %d, %d, %v), Out: outs(%d, %d, %d, %d, %d)}",
							spec.KH, spec.KW, spec.SH, spec.SW, spec.PadT, spec.PadB, spec.PadL, spec.PadR, spec.Max, spec.PadZero, epi, w,
							spec.C, spec.H, spec.W, int(w), spec.OH(), spec.OW(), has(spec.Epi, simd.Add), spec.C, spec.OH(), spec.OW(), int(w), outs),
						kind: "map",
						cpu:  cpu[w],
					})
				}
				e := simd.EltSpec{C: c, H: hw[0], W: hw[1], Epi: epis[(n+1)%len(epis)]}
				if len(e.Epi) == 0 {
					e.Epi = []simd.Epi{simd.Relu}
				}
				n++
				spec, w2 := e, w
				epi, outs := epiSrc(spec.Epi)
				cases = append(cases, kcase{
					name: fmt.Sprintf("elt%d", len(cases)),
					gen:  func(c *build.Context, name string) error { return simd.Eltwise(c, w2, name, &spec) },
					step: fmt.Sprintf("runtime.Step{Kind: runtime.OpEltwise, Sub0: 1, Epi: %s, Kernel: -1, Bias: -1, In: bufs(%d, %d, %d, %d, %d, %d, %v), Out: outs(%d, %d, %d, %d, %d)}",
						epi, spec.C, spec.H, spec.W, int(w2), spec.H, spec.W, has(spec.Epi, simd.Add), spec.C, spec.H, spec.W, int(w2), outs),
					kind: "map",
					cpu:  cpu[w2],
				})
			}
			for _, hd := range []simd.HeadSpec{{H: 3, W: 5, Pool: 1, Units: 10, Bias: true}, {H: 2, W: 2, Pool: 2, Units: 17}, {H: 1, W: 1, Pool: 0, Units: 9, Bias: true}} {
				hd.C = c
				spec, w3 := hd, w
				in := fmt.Sprintf("bufs(%d, %d, %d, %d, 0, 0, false)", c, hd.H, hd.W, int(w3))
				if hd.Pool == 0 {
					in = fmt.Sprintf("vec(%d)", c)
				}
				cases = append(cases, kcase{
					name: fmt.Sprintf("head%d", len(cases)),
					gen:  func(c *build.Context, name string) error { return simd.Head(c, w3, name, &spec) },
					step: fmt.Sprintf("runtime.Step{Kind: runtime.OpHead, Pool: %d, Kernel: 4, Bias: %d, WBlock: %d, In: %s, Out: vec(%d)}",
						hd.Pool, map[bool]int{true: 5, false: -1}[hd.Bias], int(w3), in, hd.Units),
					kind: "head",
					cpu:  cpu[w3],
				})
			}
		}
	}
	ctx := build.NewContext()
	var table []string
	for _, c := range cases {
		if err := c.gen(ctx, c.name); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		table = append(table, fmt.Sprintf("\t{%q, %q, %q, %s, %s},", c.name, c.kind, c.cpu, c.name, c.step))
	}
	asm, stubs, err := avx512.Print(ctx, "kt", "simd_test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("testdata", "kt-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	files := map[string]string{
		"kernels_amd64.s":  string(asm),
		"kernels_amd64.go": string(stubs),
		"kt_test.go":       strings.Replace(harness, "// CASES", strings.Join(table, "\n"), 1),
	}
	for f, s := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("go", "test", "-count=1", "-v", "./"+dir).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("%d kernels: %s", len(cases), out)
	if strings.Contains(string(out), "--- SKIP: TestKernels") {
		t.Skip("this CPU runs none of the kernels")
	}
}

// harness is the generated package's test: each kernel against its Go twin.
const harness = `package kt

import (
	"math"
	"math/rand"
	"testing"

	"github.com/rnc-dev/rnc/runtime"
)

type mapK = func(in, res, scale, shift, out0, out1 *float32, cb0, cb1, r0, r1 int)
type headK = func(in, wt, bias, v, y *float32)

var cases = []struct {
	name, kind string
	cpu        string // the target whose CPU features it needs
	k          any
	step       runtime.Step
}{
// CASES
}

func bufs(c, h, w, block, oh, ow int, res bool) []runtime.Buf {
	in := []runtime.Buf{{H: h, W: w, C: c, Block: block}}
	if res {
		in = append(in, runtime.Buf{H: oh, W: ow, C: c, Block: block})
	}
	return in
}

func outs(c, h, w, block, n int) []runtime.Buf {
	var o []runtime.Buf
	for i := 0; i < n; i++ {
		o = append(o, runtime.Buf{H: h, W: w, C: c, Block: block})
	}
	return o
}

func vec(c int) []runtime.Buf { return []runtime.Buf{{H: 1, W: 1, C: c, Vec: true}} }

const guard = 64 // NaN floats around every buffer

func TestKernels(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	ran, skipped := 0, map[string]int{}
	defer func() {
		if len(skipped) > 0 {
			t.Logf("ran %d kernels; not run, as this CPU cannot (runtime.Supported): %v", ran, skipped)
		}
		if ran == 0 {
			t.Skip("this CPU runs none of the kernels")
		}
	}()
	for _, c := range cases {
		if !runtime.Supported(c.cpu) {
			skipped[c.cpu]++
			continue
		}
		ran++
		s := c.step
		off := guard
		place := func(b []runtime.Buf) {
			for i := range b {
				b[i].Off = off
				off += b[i].Size() + guard
			}
		}
		place(s.In)
		place(s.Out)
		arena := make([]float32, off)
		for i := range arena {
			arena[i] = float32(math.NaN())
		}
		for _, b := range s.In {
			for h := 0; h < b.H; h++ {
				for x := 0; x < b.W; x++ {
					for ch := 0; ch < b.CPad(); ch++ {
						v := float32(rng.NormFloat64())
						if ch >= b.C {
							v = 0 // pad channels hold zeros
						}
						arena[b.Off+b.At(h, x, ch)] = v
					}
				}
			}
		}
		for _, b := range s.Out { // outputs: every element is written
			for i := 0; i < b.Size(); i++ {
				arena[b.Off+i] = 12345
			}
		}
		cpad := (s.In[0].C + 15) / 16 * 16
		units := s.Out[0].C
		w := make([][]float32, 6)
		for i := range w {
			w[i] = make([]float32, 16+cpad*((units+15)/16*16))
		}
		for i := 2; i <= 5; i++ {
			for j := range w[i] {
				w[i][j] = float32(rng.NormFloat64())
			}
		}
		for j := s.In[0].C; j < cpad; j++ { // padded scale/shift
			w[2][j], w[3][j] = 0, 0
		}
		got := append([]float32(nil), arena...)
		want := append([]float32(nil), arena...)
		scratch := make([]float32, 4*cpad+4*units+64)
		out := s.Out[0]
		switch c.kind {
		case "map":
			rows := out.H
			if s.Kind == runtime.OpEltwise {
				rows = out.H * out.W
			}
			k := c.k.(mapK)
			p := func(b runtime.Buf) *float32 { return &got[b.Off] }
			var res, out1 *float32
			if len(s.In) > 1 {
				res = p(s.In[1])
			}
			if len(s.Out) > 1 {
				out1 = p(s.Out[1])
			}
			cb := out.CPad() / out.Block
			mid := rows / 2
			k(p(s.In[0]), res, &w[2][0], &w[3][0], p(out), out1, 0, cb, 0, mid)
			k(p(s.In[0]), res, &w[2][0], &w[3][0], p(out), out1, 0, cb, mid, rows)
			k(p(s.In[0]), res, &w[2][0], &w[3][0], p(out), out1, 0, cb, rows, rows) // empty
			s.RunGo(w, want, 1, 0, 0, out.H, scratch)
		case "head":
			k := c.k.(headK)
			var bias *float32
			if s.Bias >= 0 {
				bias = &w[s.Bias][0]
			}
			half := len(scratch) / 2
			k(&got[s.In[0].Off], &w[4][0], bias, &scratch[0], &scratch[half])
			copy(got[out.Off:out.Off+units], scratch[half:half+units])
			s.RunGo(w, want, 1, 0, 0, 1, scratch)
		}
		for i := range got {
			a, b := got[i], want[i]
			if math.IsNaN(float64(b)) {
				if !math.IsNaN(float64(a)) {
					t.Errorf("%s: guard at %d overwritten with %v", c.name, i, a)
					break
				}
				continue
			}
			if d := math.Abs(float64(a - b)); !(d <= 1e-5*math.Max(1, math.Abs(float64(b)))) {
				t.Errorf("%s: element %d = %v, Go twin %v", c.name, i, a, b)
				break
			}
		}
	}
}
`

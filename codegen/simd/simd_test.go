package simd_test

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/build"

	"github.com/rnc-dev/rnc/codegen/internal/goasm"
	"github.com/rnc-dev/rnc/codegen/simd"
	"github.com/rnc-dev/rnc/internal/gotmpl"
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

// poolGeoms are the pooling geometries of the sweep: Keras's max and
// average pools (valid and same), pools of size 1 (MaxPooling2D(1, s)),
// and zero padding fused into a max pool (PadZero) wider than the pool
// itself, so that whole windows lie in the padding.
var poolGeoms = []simd.PoolSpec{
	{KH: 3, KW: 3, SH: 2, SW: 2, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Max: true, PadZero: true},
	{KH: 3, KW: 3, SH: 2, SW: 2, PadT: 0, PadB: 1, PadL: 0, PadR: 1, Max: true},
	{KH: 2, KW: 3, SH: 1, SW: 2, PadT: 1, PadB: 0, PadL: 1, PadR: 1},
	{KH: 3, KW: 2, SH: 3, SW: 1, PadT: 1, PadB: 1, PadL: 0, PadR: 1},
	{KH: 1, KW: 1, SH: 2, SW: 2, Max: true},
	{KH: 1, KW: 1, SH: 1, SW: 1, Max: true},
	{KH: 1, KW: 1, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Max: true, PadZero: true},
	{KH: 1, KW: 1, SH: 3, SW: 2, PadT: 2, PadB: 3, PadL: 3, PadR: 1, Max: true, PadZero: true},
	{KH: 2, KW: 2, SH: 1, SW: 1, PadT: 3, PadB: 2, PadL: 2, PadR: 3, Max: true, PadZero: true},
	{KH: 3, KW: 3, SH: 1, SW: 1, PadT: 4, PadB: 4, PadL: 4, PadR: 4},
}

// TestKernels generates pooling, eltwise and head kernels for both widths
// over channel counts below, at and above one vector, odd and one-pixel
// sizes, every pooling geometry of poolGeoms and the epilogues the models
// use, builds them into one standalone package with the runtime, and
// compares each with the runtime's Go twin (Step.RunGo), with its inputs
// against guard pages and on inputs with NaN, ±Inf and huge values
// (testdata/harness.go.txt).
func TestKernels(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package")
	}
	var cases []kcase
	cpu := map[simd.Width]string{16: "avx512", 8: "avx2"}
	epis := [][]simd.Epi{nil, {simd.Relu}, {simd.Affine, simd.Relu}, {simd.Add, simd.Out, simd.Affine, simd.Relu}, {simd.Add, simd.Relu}}
	n := 0
	for _, w := range []simd.Width{16, 8} {
		for ci, c := range []int{1, 3, 8, 16, 17, 40} {
			for hi, hw := range [][2]int{{1, 1}, {1, 6}, {5, 7}, {9, 9}, {16, 20}, {23, 6}} {
				for pi, p := range poolGeoms {
					if (ci+hi+pi)%2 == 1 && hw != [2]int{16, 20} && hw != [2]int{23, 6} {
						continue // half of the small-map combinations
					}
					p.C, p.H, p.W = c, hw[0], hw[1]
					if p.OH() < 1 || p.OW() < 1 {
						continue
					}
					p.Epi = epis[n%len(epis)]
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
			for _, hd := range []simd.HeadSpec{{H: 3, W: 5, Pool: 1, Units: 10, Bias: true}, {H: 2, W: 2, Pool: 2, Units: 17}, {H: 1, W: 1, Pool: 0, Units: 9, Bias: true}, {H: 1, W: 3, Pool: 2, Units: 1, Bias: true}} {
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
	src, err := gotmpl.Execute(harness, harnessFile{strings.Join(table, "\n")})
	if err != nil {
		t.Fatal(err)
	}
	asm, stubs, err := goasm.Print(ctx, "kt", "simd_test")
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
	if os.Getenv("KEEP") == "" {
		defer os.RemoveAll(dir)
	}
	files := map[string]string{
		"kernels_amd64.s":  string(asm),
		"kernels_amd64.go": string(stubs),
		"kt_test.go":       string(src),
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

// harness is the generated package's test (testdata/harness.go.txt, a
// text/template on harnessFile).
var harness = gotmpl.Parse("harness.go.txt", harnessText)

//go:embed testdata/harness.go.txt
var harnessText string

// harnessFile is what varies in the harness.
type harnessFile struct {
	Cases string // the rows of the table of cases
}

// TestHarnessSource: the harness, with a representative table, is a
// gofmt-clean Go file.
func TestHarnessSource(t *testing.T) {
	src, err := gotmpl.Execute(harness, harnessFile{"\t{\"pool0\", \"map\", \"avx512\", pool0, runtime.Step{Kind: runtime.OpPool, In: bufs(16, 3, 3, 16, 1, 1, false), Out: outs(16, 1, 1, 16, 1)}},\n" +
		"\t{\"head1\", \"head\", \"avx2\", head1, runtime.Step{Kind: runtime.OpHead, In: vec(8), Out: vec(9)}},"})
	if err != nil {
		t.Fatal(err)
	}
	if err := gotmpl.Check("harness.go.txt", src); err != nil {
		t.Error(err)
	}
	if !strings.Contains(string(src), "\tin := []runtime.Buf{{H: h, W: w, C: c, Block: block}}\n") {
		t.Errorf("the escaped {{ of a composite literal is not as written:\n%s", src)
	}
}

package winograd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/build"

	"github.com/rnc-dev/rnc/codegen/avx512"
	"github.com/rnc-dev/rnc/runtime"
)

// wcase is one Winograd kernel of a generated test module.
type wcase struct {
	Name string
	Spec Spec
	T    Tiling // filled by writeModule
}

// dcase is one avx512 direct kernel of a generated (benchmark) module.
type dcase struct {
	Name string
	Spec avx512.ConvSpec
	T    avx512.Tiling
}

// inPlaceOK reports whether the spec's epilogue allows res == out0.
func inPlaceOK(s *Spec) bool {
	for _, st := range s.Epilogue {
		switch {
		case st.Kind == avx512.AddResidual:
			return st.ResStride <= 1
		case st.Kind == avx512.Store0:
			return false
		}
	}
	return false
}

// writeModule writes a standalone module (module wt, stdlib only) with the
// kernels of ws and ds and the driver driverSrc into dir. It returns the
// assembly.
func writeModule(t testing.TB, dir string, ws []wcase, ds []dcase) []byte {
	t.Helper()
	ctx := build.NewContext()
	for i := range ws {
		if err := Generate(ctx, ws[i].Name, &ws[i].Spec); err != nil {
			t.Fatalf("%s: %v", ws[i].Name, err)
		}
		ws[i].T = ChooseTiling(&ws[i].Spec)
	}
	for i := range ds {
		tl, err := avx512.Generate(ctx, ds[i].Name, &ds[i].Spec)
		if err != nil {
			t.Fatalf("%s: %v", ds[i].Name, err)
		}
		ds[i].T = tl
	}
	asm, stubs, err := avx512.Print(ctx, "main", "winograd test")
	if err != nil {
		t.Fatal(err)
	}
	var tab bytes.Buffer
	tab.WriteString("package main\n\nvar wkernels = []winfo{\n")
	for _, c := range ws {
		z := c.Spec.Sizes()
		th, _ := c.Spec.Tiles()
		fmt.Fprintf(&tab, "\t{%q, %s, [9]int{%d, %d, %d, %d, %d, %d, %d, %d, %d}, %d, %v},\n",
			c.Name, c.Name, z.In, z.U, z.Bias, z.Res, z.Scale, z.Shift, z.Out0, z.Out1, z.WS, th, inPlaceOK(&c.Spec))
	}
	tab.WriteString("}\n\nvar dkernels = []dinfo{\n")
	for _, c := range ds {
		z := c.Spec.Sizes()
		fmt.Fprintf(&tab, "\t{%q, %s, [8]int{%d, %d, %d, %d, %d, %d, %d, %d}, %d, %d},\n",
			c.Name, c.Name, z.In, z.Wt, z.Bias, z.Res, z.Scale, z.Shift, z.Out0, z.Out1, c.Spec.OCB(), c.Spec.OH())
	}
	tab.WriteString("}\n")
	files := map[string][]byte{
		"go.mod":          []byte("module wt\n\ngo 1.26\n"),
		"kernels_amd64.s": asm,
		"stubs.go":        stubs,
		"table.go":        tab.Bytes(),
		"main.go":         []byte(driverSrc),
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return asm
}

// goCmd runs the go tool in dir with a clean module environment.
func goCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "GOFLAGS=") || strings.HasPrefix(e, "GOWORK=") ||
			strings.HasPrefix(e, "GO111MODULE=") || strings.HasPrefix(e, "GOTOOLCHAIN=") {
			continue
		}
		env = append(env, e)
	}
	cmd.Env = append(env, "GOFLAGS=", "GOWORK=off", "GO111MODULE=on", "GOTOOLCHAIN=local")
	return cmd
}

// checkAsm applies the instruction checks to every TEXT block.
func checkAsm(t *testing.T, asm []byte) {
	t.Helper()
	blocks := strings.Split(string(asm), "\nTEXT ")
	if len(blocks) < 2 {
		t.Fatal("no TEXT blocks")
	}
	fma := regexp.MustCompile(`(?m)^\s+VFMADD231PS\s`)
	call := regexp.MustCompile(`(?m)^\s+CALL\s`)
	for _, b := range blocks[1:] {
		name := strings.SplitN(b, "(", 2)[0]
		if !fma.MatchString(b) {
			t.Errorf("%s: no VFMADD231PS", name)
		}
		if call.MatchString(b) {
			t.Errorf("%s: contains CALL", name)
		}
	}
}

// wargs are the inputs of one Winograd test kernel: the direct kernel's
// operands (for avx512.RefConv) plus U.
type wargs struct {
	avx512.Args
	U []float32
}

// randInputs makes random inputs for s honoring the padding contract (pad
// lanes and pad channels are zero). The kernel is drawn in HWIO and packed
// both ways.
func randInputs(s *Spec, rng *rand.Rand) wargs {
	cs := s.Conv()
	z := cs.Sizes()
	r := func() float32 { return float32(rng.Float64()*2 - 1) }
	var a wargs
	a.In = make([]float32, z.In)
	for i := range a.In {
		if c := (i/(16*s.H*s.W))*16 + i%16; c < s.IC {
			a.In[i] = r()
		}
	}
	hwio := make([]float32, 9*s.IC*s.OC)
	for i := range hwio {
		hwio[i] = r() / float32(math.Sqrt(float64(9*s.IC)))
	}
	oihw := make([]float32, len(hwio))
	for kh := 0; kh < 3; kh++ {
		for kw := 0; kw < 3; kw++ {
			for i := 0; i < s.IC; i++ {
				for o := 0; o < s.OC; o++ {
					oihw[((o*s.IC+i)*3+kh)*3+kw] = hwio[((kh*3+kw)*s.IC+i)*s.OC+o]
				}
			}
		}
	}
	a.Wt = avx512.PackOIHW(&cs, oihw)
	a.U = runtime.PackWinograd(hwio, s.IC, s.OC)
	vec := func(n int) []float32 {
		if n == 0 {
			return nil
		}
		v := make([]float32, n)
		for i := 0; i < s.OC; i++ {
			v[i] = r()
		}
		return v
	}
	a.Bias, a.Scale, a.Shift = vec(z.Bias), vec(z.Scale), vec(z.Shift)
	if z.Res > 0 {
		a.Res = make([]float32, z.Res)
		rh, rw, _ := s.resDims()
		for i := range a.Res {
			if c := (i/(16*rh*rw))*16 + i%16; c < s.OC {
				a.Res[i] = r()
			}
		}
	}
	return a
}

func writeF32(path string, parts ...[]float32) error {
	var buf bytes.Buffer
	for _, p := range parts {
		if err := binary.Write(&buf, binary.LittleEndian, p); err != nil {
			return err
		}
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func readF32(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// driverSrc is the main package of the generated test module.
//
//	wt check DIR   runs every Winograd kernel on DIR/NAME.in (in, u, bias,
//	               res, scale, shift concatenated), split into several calls
//	               over tile-row ranges, with inputs against PROT_NONE guard
//	               pages (after, then before them), the workspace against a
//	               guard page and refilled with NaNs before every call, and
//	               sentinel guards around the outputs; with an in-place
//	               residual run (res == out0) where the epilogue allows it;
//	               writes DIR/NAME.out (out0, out1).
//	wt bench REPS [coldw] [FILTER]  times every kernel over a whole image.
const driverSrc = `package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

type wfn = func(in, u, bias, res, scale, shift, out0, out1, ws *float32, t0, t1 int)
type dfn = func(in, wt, bias, res, scale, shift, out0, out1 *float32, ocb0, ocb1, oh0, oh1 int)

type winfo struct {
	name    string
	fn      wfn
	sz      [9]int // in u bias res scale shift out0 out1 ws
	th      int
	inplace bool
}

type dinfo struct {
	name   string
	fn     dfn
	sz     [8]int // in wt bias res scale shift out0 out1
	ocb, oh int
}

const guard = 67
const sentinel = 0x7fa5a5a5

func ptr(s []float32) *float32 {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}

// guarded returns n floats with a PROT_NONE page right before (atEnd=false)
// or right after (atEnd=true) them.
func guarded(n int, atEnd bool) []float32 {
	if n == 0 {
		return nil
	}
	ps := os.Getpagesize()
	nb := n * 4
	pages := (nb + ps - 1) / ps
	mem, err := syscall.Mmap(-1, 0, (pages+2)*ps, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		panic(err)
	}
	if err := syscall.Mprotect(mem[:ps], syscall.PROT_NONE); err != nil {
		panic(err)
	}
	if err := syscall.Mprotect(mem[(pages+1)*ps:], syscall.PROT_NONE); err != nil {
		panic(err)
	}
	off := ps
	if atEnd {
		off = (pages+1)*ps - nb
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&mem[off])), n)
}

func readF32(path string) []float32 {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func ranges(n int, cuts ...int) [][2]int {
	pts := []int{0}
	for _, c := range cuts {
		if c > pts[len(pts)-1] && c < n {
			pts = append(pts, c)
		}
	}
	pts = append(pts, n)
	var r [][2]int
	for i := 0; i+1 < len(pts); i++ {
		r = append(r, [2]int{pts[i], pts[i+1]})
	}
	return r
}

func fillNaN(s []float32) {
	for i := range s {
		s[i] = float32(math.NaN())
	}
}

// run calls k over pieces of its tile-row range. inplace: out0 starts as a
// copy of res and res points to out0.
func run(k winfo, in [6][]float32, atEnd, inplace bool) (o0, o1 []float32) {
	var g [6][]float32
	for i := range g {
		g[i] = guarded(len(in[i]), atEnd)
		copy(g[i], in[i])
	}
	ws := guarded(k.sz[8], true)
	outs := [2][]float32{}
	bufs := [2][]float32{}
	for i := 0; i < 2; i++ {
		n := k.sz[6+i]
		if n == 0 {
			continue
		}
		b := make([]float32, n+2*guard)
		for j := range b {
			b[j] = math.Float32frombits(sentinel)
		}
		bufs[i] = b
		outs[i] = b[guard : guard+n]
	}
	res := g[3]
	if inplace {
		copy(outs[0], in[3])
		res = outs[0]
	}
	call := func(t0, t1 int) {
		fillNaN(ws)
		k.fn(ptr(g[0]), ptr(g[1]), ptr(g[2]), ptr(res), ptr(g[4]), ptr(g[5]), ptr(outs[0]), ptr(outs[1]), ptr(ws), t0, t1)
	}
	call(1, 1) // empty
	call(k.th, k.th)
	call(k.th, k.th+3) // clamped to empty
	call(-2, 0)
	rs := ranges(k.th, 1, k.th/2+1)
	for i, r := range rs {
		if i == 0 {
			r[0] = -1 // clamped to 0
		}
		if i == len(rs)-1 {
			r[1] += 5 // clamped to th
		}
		call(r[0], r[1])
	}
	for i := 0; i < 2; i++ {
		b := bufs[i]
		if b == nil {
			continue
		}
		for j := range b {
			if (j < guard || j >= len(b)-guard) && math.Float32bits(b[j]) != sentinel {
				fmt.Fprintf(os.Stderr, "%s: out%d guard %d overwritten\n", k.name, i, j-guard)
				os.Exit(3)
			}
		}
	}
	return outs[0], outs[1]
}

func same(name, what string, a, b []float32) {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			fmt.Fprintf(os.Stderr, "%s: %s differs at %d: %g vs %g\n", name, what, i, a[i], b[i])
			os.Exit(3)
		}
	}
}

func check(dir string) {
	for _, k := range wkernels {
		data := readF32(filepath.Join(dir, k.name+".in"))
		var in [6][]float32
		off := 0
		for i := 0; i < 6; i++ {
			in[i] = data[off : off+k.sz[i]]
			off += k.sz[i]
		}
		a0, a1 := run(k, in, true, false)
		b0, b1 := run(k, in, false, false)
		same(k.name, "out0 between runs", a0, b0)
		same(k.name, "out1 between runs", a1, b1)
		if k.inplace {
			c0, c1 := run(k, in, true, true)
			same(k.name, "out0 in place", a0, c0)
			same(k.name, "out1 in place", a1, c1)
		}
		f, err := os.Create(filepath.Join(dir, k.name+".out"))
		if err != nil {
			panic(err)
		}
		binary.Write(f, binary.LittleEndian, a0)
		binary.Write(f, binary.LittleEndian, a1)
		f.Close()
	}
}

func aligned(n int, rng *rand.Rand) []float32 {
	b := make([]float32, n+16)
	off := 0
	for uintptr(unsafe.Pointer(&b[off]))%64 != 0 {
		off++
	}
	s := b[off : off+n]
	for i := range s {
		s[i] = float32(rng.Float64()*2 - 1)
	}
	return s
}

// copies returns w plus, in mode coldw, further copies of it totalling
// ≥ 96 MiB, so that rotating through them makes the weights come from DRAM
// while the activations stay cached (as inside a network run).
func copies(w []float32, mode string, rng *rand.Rand) [][]float32 {
	ws := [][]float32{w}
	if mode == "coldw" {
		for n := len(w) * 4; n < 96<<20; n += len(w) * 4 {
			ws = append(ws, aligned(len(w), rng))
		}
	}
	return ws
}

func timeit(reps int, wts [][]float32, call func(w []float32)) (med, mn float64) {
	call(wts[0])
	call(wts[0])
	ts := make([]float64, reps)
	for r := range ts {
		w := wts[(r+1)%len(wts)]
		t0 := time.Now()
		call(w)
		ts[r] = float64(time.Since(t0).Nanoseconds())
	}
	sort.Float64s(ts)
	return ts[len(ts)/2], ts[0]
}

// bench times each kernel over a whole image (one call).
func bench(reps int, mode string, filter *regexp.Regexp) {
	rng := rand.New(rand.NewSource(1))
	for _, k := range wkernels {
		if !filter.MatchString(k.name) {
			continue
		}
		var b [9][]float32
		for i := range b {
			if k.sz[i] > 0 {
				b[i] = aligned(k.sz[i], rng)
			}
		}
		wts := copies(b[1], mode, rng)
		med, mn := timeit(reps, wts, func(w []float32) {
			k.fn(ptr(b[0]), ptr(w), ptr(b[2]), ptr(b[3]), ptr(b[4]), ptr(b[5]), ptr(b[6]), ptr(b[7]), ptr(b[8]), 0, k.th)
		})
		fmt.Printf("BENCH %s %.0f %.0f\n", k.name, med, mn)
	}
	for _, k := range dkernels {
		if !filter.MatchString(k.name) {
			continue
		}
		var b [8][]float32
		for i := range b {
			if k.sz[i] > 0 {
				b[i] = aligned(k.sz[i], rng)
			}
		}
		wts := copies(b[1], mode, rng)
		med, mn := timeit(reps, wts, func(w []float32) {
			k.fn(ptr(b[0]), ptr(w), ptr(b[2]), ptr(b[3]), ptr(b[4]), ptr(b[5]), ptr(b[6]), ptr(b[7]), 0, k.ocb, 0, k.oh)
		})
		fmt.Printf("BENCH %s %.0f %.0f\n", k.name, med, mn)
	}
}

func main() {
	switch os.Args[1] {
	case "check":
		check(os.Args[2])
	case "bench":
		reps, _ := strconv.Atoi(os.Args[2])
		mode, filter := "", ""
		if len(os.Args) > 3 {
			mode = os.Args[3]
		}
		if len(os.Args) > 4 {
			filter = os.Args[4]
		}
		bench(reps, mode, regexp.MustCompile(filter))
	}
}
`

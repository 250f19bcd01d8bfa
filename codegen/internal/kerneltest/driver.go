package kerneltest

// CommonSrc is common.go of every generated test module: guarded inputs,
// sentinel-guarded outputs, NaN fills, comparisons and the timing loop.
const CommonSrc = `package main

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

// guardedCopies returns copies of in, each against a guard page.
func guardedCopies(in [7][]float32, atEnd bool) (g [7][]float32) {
	for i := range g {
		g[i] = guarded(len(in[i]), atEnd)
		copy(g[i], in[i])
	}
	return g
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

// inputSets returns the input sets of kernel name in dir: name (NAME.in)
// and, if there is one, name.special (NAME.special.in: inputs with NaN,
// ±Inf and huge values).
func inputSets(dir, name string) []string {
	sets := []string{name}
	if _, err := os.Stat(filepath.Join(dir, name+".special.in")); err == nil {
		sets = append(sets, name+".special")
	}
	return sets
}

// readInputs splits DIR/NAME.in into the seven inputs of sizes sz.
func readInputs(dir, name string, sz []int) (in [7][]float32) {
	data := readF32(filepath.Join(dir, name+".in"))
	off := 0
	for i := 0; i < 7; i++ {
		in[i] = data[off : off+sz[i]]
		off += sz[i]
	}
	return in
}

// writeOutputs writes DIR/NAME.out (out0, out1).
func writeOutputs(dir, name string, o0, o1 []float32) {
	f, err := os.Create(filepath.Join(dir, name+".out"))
	if err != nil {
		panic(err)
	}
	binary.Write(f, binary.LittleEndian, o0)
	binary.Write(f, binary.LittleEndian, o1)
	f.Close()
}

// ranges splits [0, n) at the cuts (rounded down to multiples of step).
func ranges(n, step int, cuts ...int) [][2]int {
	pts := []int{0}
	for _, c := range cuts {
		c = c / step * step
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

// outputs returns the outputs of sizes n0, n1 (nil when 0), each inside a
// buffer (bufs) with guard sentinels on both sides.
func outputs(n0, n1 int) (outs, bufs [2][]float32) {
	for i, n := range [2]int{n0, n1} {
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
	return outs, bufs
}

// checkGuards exits if a kernel wrote into the sentinels of bufs.
func checkGuards(name string, bufs [2][]float32) {
	for i, b := range bufs {
		for j := range b {
			if (j < guard || j >= len(b)-guard) && math.Float32bits(b[j]) != sentinel {
				fmt.Fprintf(os.Stderr, "%s: out%d guard %d overwritten\n", name, i, j-guard)
				os.Exit(3)
			}
		}
	}
}

// same exits unless a and b are bitwise equal.
func same(name, what string, a, b []float32) {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			fmt.Fprintf(os.Stderr, "%s: %s differs at %d: %g vs %g\n", name, what, i, a[i], b[i])
			os.Exit(3)
		}
	}
}

func fillNaN(s []float32) {
	for i := range s {
		s[i] = float32(math.NaN())
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

// buffers returns aligned random buffers of sizes sz (nil when 0).
func buffers(sz []int, rng *rand.Rand) [][]float32 {
	b := make([][]float32, len(sz))
	for i, n := range sz {
		if n > 0 {
			b[i] = aligned(n, rng)
		}
	}
	return b
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

var flush []float32

// timeit returns the median and minimum time (ns) of reps calls after two
// warm-up calls; run r uses the weights wts[(r+1)%len(wts)]. Mode "cold"
// writes 128 MiB before every timed run (nothing cached).
func timeit(reps int, mode string, wts [][]float32, call func(w []float32)) (med, mn float64) {
	if mode == "cold" && flush == nil {
		flush = make([]float32, 32<<20)
	}
	call(wts[0])
	call(wts[0])
	ts := make([]float64, reps)
	for r := range ts {
		if mode == "cold" {
			for i := 0; i < len(flush); i += 16 {
				flush[i]++
			}
		}
		w := wts[(r+1)%len(wts)]
		t0 := time.Now()
		call(w)
		ts[r] = float64(time.Since(t0).Nanoseconds())
	}
	sort.Float64s(ts)
	return ts[len(ts)/2], ts[0]
}

// bencher times kernels: "bench REPS [MODE] [FILTER]".
type bencher struct {
	reps   int
	mode   string
	filter *regexp.Regexp
	rng    *rand.Rand
}

func newBencher() *bencher {
	b := &bencher{rng: rand.New(rand.NewSource(1))}
	b.reps, _ = strconv.Atoi(os.Args[2])
	f := ""
	if len(os.Args) > 3 {
		b.mode = os.Args[3]
	}
	if len(os.Args) > 4 {
		f = os.Args[4]
	}
	b.filter = regexp.MustCompile(f)
	return b
}

// kernel times one kernel, if its name matches the filter, with random
// buffers of sizes sz (b[1], the weights, rotated through copies in mode
// coldw; call runs the kernel) and prints "BENCH name median min" (ns).
func (bn *bencher) kernel(name string, sz []int, call func(b [][]float32, w []float32)) {
	if !bn.filter.MatchString(name) {
		return
	}
	b := buffers(sz, bn.rng)
	med, mn := timeit(bn.reps, bn.mode, copies(b[1], bn.mode, bn.rng), func(w []float32) { call(b, w) })
	fmt.Printf("BENCH %s %.0f %.0f\n", name, med, mn)
}
`

// DirectSrc is direct.go of every generated test module: the table type
// of direct-convolution kernels (dkernels, in table.go) and their check
// and benchmark.
const DirectSrc = `package main

type dfn = func(in, wt, bias, res, mul, scale, shift, out0, out1 *float32, ocb0, ocb1, oh0, oh1 int)

type dinfo struct {
	name        string
	fn          dfn
	sz          [9]int // in wt bias res mul scale shift out0 out1
	ocb, nb, oh int
}

// runDirect calls k over several (block range × row range) pieces plus
// empty ranges, with its inputs against guard pages (after them when
// atEnd, else before) and sentinel guards around the outputs.
func runDirect(k dinfo, in [7][]float32, atEnd bool) (o0, o1 []float32) {
	g := guardedCopies(in, atEnd)
	outs, bufs := outputs(k.sz[7], k.sz[8])
	call := func(ob0, ob1, h0, h1 int) {
		k.fn(ptr(g[0]), ptr(g[1]), ptr(g[2]), ptr(g[3]), ptr(g[4]), ptr(g[5]), ptr(g[6]), ptr(outs[0]), ptr(outs[1]), ob0, ob1, h0, h1)
	}
	call(0, k.ocb, 1, 1) // empty
	call(k.nb, k.nb, 0, k.oh) // empty
	for _, ob := range ranges(k.ocb, k.nb, k.ocb/2) {
		for _, h := range ranges(k.oh, 1, 1, k.oh/2+1) {
			call(ob[0], ob[1], h[0], h[1])
		}
	}
	checkGuards(k.name, bufs)
	return outs[0], outs[1]
}

// checkDirect runs every direct kernel on DIR/NAME.in (in, wt, bias, res,
// mul, scale, shift concatenated) and DIR/NAME.special.in if present, with
// the guard pages after and then before the inputs, and writes
// DIR/NAME.out (out0, out1) and DIR/NAME.special.out.
func checkDirect(dir string) {
	for _, k := range dkernels {
		for _, set := range inputSets(dir, k.name) {
			in := readInputs(dir, set, k.sz[:7])
			a0, a1 := runDirect(k, in, true)
			b0, b1 := runDirect(k, in, false)
			same(set, "out0 between runs", a0, b0)
			same(set, "out1 between runs", a1, b1)
			writeOutputs(dir, set, a0, a1)
		}
	}
}

// benchDirect times each direct kernel over its full range.
func benchDirect(bn *bencher) {
	for _, k := range dkernels {
		bn.kernel(k.name, k.sz[:], func(b [][]float32, w []float32) {
			k.fn(ptr(b[0]), ptr(w), ptr(b[2]), ptr(b[3]), ptr(b[4]), ptr(b[5]), ptr(b[6]), ptr(b[7]), ptr(b[8]), 0, k.ocb, 0, k.oh)
		})
	}
}
`

// DirectMainSrc is main.go of a module of direct kernels only:
//
//	go run . check DIR                   checkDirect
//	go run . bench REPS [cold|coldw] [FILTER]  benchDirect
const DirectMainSrc = `package main

import "os"

func main() {
	switch os.Args[1] {
	case "check":
		checkDirect(os.Args[2])
	case "bench":
		benchDirect(newBencher())
	}
}
`

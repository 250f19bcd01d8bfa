package avx2

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/build"
)

// kcase is one kernel of a generated test module.
type kcase struct {
	Name string
	Spec ConvSpec
	T    Tiling // filled by writeModule
}

// genFiles generates the assembly and stubs of all cases into one package.
func genFiles(cases []kcase) (asm, stubs []byte, err error) {
	ctx := build.NewContext()
	for i := range cases {
		t, err := Generate(ctx, cases[i].Name, &cases[i].Spec)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", cases[i].Name, err)
		}
		cases[i].T = t
	}
	return Print(ctx, "main", "avx2 test")
}

// writeModule writes a standalone module (module kt, stdlib only) with the
// kernels of cases and the driver driverSrc into dir.
func writeModule(t testing.TB, dir string, cases []kcase) []byte {
	t.Helper()
	asm, stubs, err := genFiles(cases)
	if err != nil {
		t.Fatal(err)
	}
	var tab bytes.Buffer
	tab.WriteString("package main\n\nvar kernels = []kinfo{\n")
	for _, c := range cases {
		z := c.Spec.Sizes()
		fmt.Fprintf(&tab, "\t{%q, %s, [8]int{%d, %d, %d, %d, %d, %d, %d, %d}, %d, %d, %d},\n",
			c.Name, c.Name, z.In, z.Wt, z.Bias, z.Res, z.Scale, z.Shift, z.Out0, z.Out1,
			c.Spec.OCB(), c.T.NB, c.Spec.OH())
	}
	tab.WriteString("}\n")
	files := map[string][]byte{
		"go.mod":          []byte("module kt\n\ngo 1.26\n"),
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

// allowedVec is the whitelist of vector (and prefetch) instructions the
// kernels may contain: AVX/AVX2/FMA3 instructions with VEX encodings only.
var allowedVec = map[string]bool{
	"VBROADCASTSS": true, "VFMADD231PS": true, "VMOVUPS": true, "VMAXPS": true,
	"VXORPS": true, "VADDPS": true, "VMULPS": true, "VZEROUPPER": true,
	"PREFETCHT0": true, "PREFETCHT1": true,
}

// checkAsm applies the instruction checks to every TEXT block: at least
// one VFMADD231PS, no CALL, no register outside Y0–Y15 (no zmm, no
// Y16–Y31, no mask registers), no EVEX-only syntax (.BCST, .Z, {sae}...)
// and only whitelisted vector instructions.
func checkAsm(t *testing.T, asm []byte) {
	t.Helper()
	blocks := strings.Split(string(asm), "\nTEXT ")
	if len(blocks) < 2 {
		t.Fatal("no TEXT blocks")
	}
	fma := regexp.MustCompile(`(?m)^\s+VFMADD231PS\s`)
	call := regexp.MustCompile(`(?m)^\s+CALL\s`)
	badReg := regexp.MustCompile(`\b(Y1[6-9]|Y2[0-9]|Y3[01]|Z\d+|X1[6-9]|X2[0-9]|X3[01]|K[0-7])\b`)
	evex := regexp.MustCompile(`(?m)^\s+\S+\.(BCST|Z|SAE|RN_SAE|RZ_SAE|RD_SAE|RU_SAE)\b|\{`)
	mnem := regexp.MustCompile(`(?m)^\s+((V|PREFETCH)[A-Z0-9_.]*)\s`)
	for _, b := range blocks[1:] {
		name := strings.SplitN(b, "(", 2)[0]
		if !fma.MatchString(b) {
			t.Errorf("%s: no VFMADD231PS", name)
		}
		if call.MatchString(b) {
			t.Errorf("%s: contains CALL", name)
		}
		if m := badReg.FindString(b); m != "" {
			t.Errorf("%s: uses register %s (not AVX2)", name, m)
		}
		if m := evex.FindString(b); m != "" {
			t.Errorf("%s: EVEX-only syntax %q", name, strings.TrimSpace(m))
		}
		for _, m := range mnem.FindAllStringSubmatch(b, -1) {
			if !allowedVec[m[1]] {
				t.Errorf("%s: instruction %s not in the AVX2 whitelist", name, m[1])
				break
			}
		}
	}
}

// checkEncodings assembles the kernels of dir with "go tool asm -S" and
// checks the machine code of every vector instruction: it must start with
// a VEX prefix (0xC4 or 0xC5) — never EVEX (0x62) — so no encoding choice
// of the Go assembler can sneak AVX-512 in. It returns the number of
// vector instructions checked. (go tool objdump cannot decode VEX.)
func checkEncodings(t *testing.T, dir string) int {
	t.Helper()
	goroot, err := goCmd(dir, "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	inc := filepath.Join(strings.TrimSpace(string(goroot)), "pkg", "include")
	out, err := goCmd(dir, "tool", "asm", "-S", "-p", "main", "-I", inc, "-o", filepath.Join(dir, "enc.o"), "kernels_amd64.s").CombinedOutput()
	if err != nil {
		t.Fatalf("go tool asm: %v\n%.2000s", err, out)
	}
	// Listing: per function a header, "\t0xPC DEC (file:line)\tOP\targs"
	// lines, then "\t0xOFF xx xx ... " hex dump lines of its code.
	insn := regexp.MustCompile(`^\t0x([0-9a-f]+) \d+ \([^)]*\)\t(\S+)`)
	dump := regexp.MustCompile(`^\t0x([0-9a-f]+) ((?:[0-9a-f]{2} )+)`)
	type ins struct {
		pc int
		op string
	}
	n := 0
	var fn string
	var list []ins
	var code []byte
	flush := func() {
		for i, x := range list {
			if !strings.HasPrefix(x.op, "V") {
				continue
			}
			if x.pc >= len(code) || (i+1 < len(list) && list[i+1].pc <= x.pc) {
				t.Errorf("%s: cannot locate the code of %s at %#x", fn, x.op, x.pc)
				continue
			}
			n++
			if b := code[x.pc]; b != 0xc4 && b != 0xc5 {
				t.Errorf("%s: %s at %#x is not VEX-encoded (first byte %#02x)", fn, x.op, x.pc, b)
			}
		}
		list, code = list[:0], code[:0]
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "\t") {
			flush()
			fn = strings.SplitN(line, " ", 2)[0]
			continue
		}
		if m := insn.FindStringSubmatch(line); m != nil {
			pc, _ := strconv.ParseInt(m[1], 16, 64)
			if m[2] == "TEXT" || m[2] == "FUNCDATA" || m[2] == "PCDATA" {
				continue
			}
			list = append(list, ins{int(pc), m[2]})
			continue
		}
		if m := dump.FindStringSubmatch(line); m != nil {
			off, _ := strconv.ParseInt(m[1], 16, 64)
			if int(off) != len(code) {
				continue // relocation lines etc.
			}
			for _, h := range strings.Fields(m[2]) {
				v, _ := strconv.ParseUint(h, 16, 8)
				code = append(code, byte(v))
			}
		}
	}
	flush()
	return n
}

// randInputs makes random inputs for s honoring the padding contract (pad
// lanes and pad channels are zero).
func randInputs(s *ConvSpec, rng *rand.Rand) Args {
	z := s.Sizes()
	var a Args
	r := func() float32 { return float32(rng.Float64()*2 - 1) }
	a.In = make([]float32, z.In)
	if s.FirstNHWC {
		for i := range a.In {
			a.In[i] = r()
		}
	} else {
		for i := range a.In {
			c := (i/(8*s.H*s.W))*8 + i%8
			if c < s.IC {
				a.In[i] = r()
			}
		}
	}
	w := make([]float32, s.OC*s.IC*s.KH*s.KW)
	for i := range w {
		w[i] = r() / float32(math.Sqrt(float64(s.IC*s.KH*s.KW)))
	}
	a.Wt = PackOIHW(s, w)
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
			c := (i/(8*rh*rw))*8 + i%8
			if c < s.OC {
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
//	go run . check DIR   runs every kernel on DIR/NAME.in (in, wt, bias, res,
//	                     scale, shift concatenated), split into several calls
//	                     over oc-block groups and row ranges, with inputs
//	                     against PROT_NONE guard pages (both ends) and
//	                     sentinel guards around the outputs; writes
//	                     DIR/NAME.out (out0, out1).
//	go run . bench REPS [cold|coldw]  times every kernel over its full range.
const driverSrc = `package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

type kfn = func(in, wt, bias, res, scale, shift, out0, out1 *float32, ocb0, ocb1, oh0, oh1 int)

type kinfo struct {
	name        string
	fn          kfn
	sz          [8]int // in wt bias res scale shift out0 out1
	ocb, nb, oh int
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

func run(k kinfo, in [6][]float32, atEnd bool) (o0, o1 []float32) {
	var g [6][]float32
	for i := range g {
		g[i] = guarded(len(in[i]), atEnd)
		copy(g[i], in[i])
	}
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
	call := func(ob0, ob1, h0, h1 int) {
		k.fn(ptr(g[0]), ptr(g[1]), ptr(g[2]), ptr(g[3]), ptr(g[4]), ptr(g[5]), ptr(outs[0]), ptr(outs[1]), ob0, ob1, h0, h1)
	}
	call(0, k.ocb, 1, 1) // empty
	call(k.nb, k.nb, 0, k.oh) // empty
	for _, ob := range ranges(k.ocb, k.nb, k.ocb/2) {
		for _, h := range ranges(k.oh, 1, 1, k.oh/2+1) {
			call(ob[0], ob[1], h[0], h[1])
		}
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

func check(dir string) {
	for _, k := range kernels {
		data := readF32(filepath.Join(dir, k.name+".in"))
		var in [6][]float32
		off := 0
		for i := 0; i < 6; i++ {
			in[i] = data[off : off+k.sz[i]]
			off += k.sz[i]
		}
		a0, a1 := run(k, in, true)
		b0, b1 := run(k, in, false)
		for i := range a0 {
			if math.Float32bits(a0[i]) != math.Float32bits(b0[i]) {
				fmt.Fprintf(os.Stderr, "%s: out0 differs between runs at %d\n", k.name, i)
				os.Exit(3)
			}
		}
		for i := range a1 {
			if math.Float32bits(a1[i]) != math.Float32bits(b1[i]) {
				fmt.Fprintf(os.Stderr, "%s: out1 differs between runs at %d\n", k.name, i)
				os.Exit(3)
			}
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

var sink float32

// bench times each kernel over its full range. mode "cold" writes 128 MiB
// before every run (nothing cached); mode "coldw" rotates through copies of
// the weights totalling ≥ 96 MiB, so weights come from DRAM while
// activations stay cached (as inside a network run).
func bench(reps int, mode string) {
	rng := rand.New(rand.NewSource(1))
	var flush []float32
	if mode == "cold" {
		flush = make([]float32, 32<<20)
	}
	for _, k := range kernels {
		var b [8][]float32
		for i := range b {
			if k.sz[i] > 0 {
				b[i] = aligned(k.sz[i], rng)
			}
		}
		wts := [][]float32{b[1]}
		if mode == "coldw" {
			for n := len(b[1]) * 4; n < 96<<20; n += len(b[1]) * 4 {
				w := aligned(len(b[1]), rng)
				wts = append(wts, w)
			}
		}
		call := func(w []float32) {
			k.fn(ptr(b[0]), ptr(w), ptr(b[2]), ptr(b[3]), ptr(b[4]), ptr(b[5]), ptr(b[6]), ptr(b[7]), 0, k.ocb, 0, k.oh)
		}
		call(b[1])
		call(b[1])
		ts := make([]float64, reps)
		for r := range ts {
			if flush != nil {
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
		fmt.Printf("BENCH %s %.0f %.0f\n", k.name, ts[len(ts)/2], ts[0])
	}
}

func main() {
	switch os.Args[1] {
	case "check":
		check(os.Args[2])
	case "bench":
		reps, _ := strconv.Atoi(os.Args[2])
		mode := ""
		if len(os.Args) > 3 {
			mode = os.Args[3]
		}
		bench(reps, mode)
	}
}
`

// Package kerneltest is the kernel generators' test harness: standalone test modules with guarded drivers, inputs, comparisons, benchmarks.
package kerneltest

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
	"time"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
)

// GoCmd runs the go tool in dir with a clean module environment.
func GoCmd(dir string, args ...string) *exec.Cmd {
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

// WriteF32 writes the parts, concatenated, as little-endian float32s.
func WriteF32(path string, parts ...[]float32) error {
	var buf bytes.Buffer
	for _, p := range parts {
		if err := binary.Write(&buf, binary.LittleEndian, p); err != nil {
			return err
		}
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// ReadF32 reads a file of little-endian float32s.
func ReadF32(path string) ([]float32, error) {
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

// WriteModule writes a standalone module (module name, stdlib only) into
// dir: the kernels' assembly and stubs (package main), table.go (table: the
// kernel tables, at least dkernels), the driver library (CommonSrc,
// DirectSrc) and mainSrc.
func WriteModule(t testing.TB, dir, name string, asm, stubs []byte, table, mainSrc string) {
	t.Helper()
	files := map[string][]byte{
		"go.mod":          []byte("module " + name + "\n\ngo 1.26\n"),
		"kernels_amd64.s": asm,
		"stubs.go":        stubs,
		"table.go":        []byte("package main\n\n" + table),
		"common.go":       []byte(CommonSrc),
		"direct.go":       []byte(DirectSrc),
		"main.go":         []byte(mainSrc),
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// DirectKernel is one entry of the driver's dkernels table.
type DirectKernel struct {
	Name        string // also the Go function
	Sizes       conv.Sizes
	OCB, NB, OH int
}

// DirectTable returns the declaration of the dkernels table.
func DirectTable(ks []DirectKernel) string {
	var b strings.Builder
	b.WriteString("var dkernels = []dinfo{\n")
	for _, k := range ks {
		z := k.Sizes
		fmt.Fprintf(&b, "\t{%q, %s, [9]int{%d, %d, %d, %d, %d, %d, %d, %d, %d}, %d, %d, %d},\n",
			k.Name, k.Name, z.In, z.Wt, z.Bias, z.Res, z.Mul, z.Scale, z.Shift, z.Out0, z.Out1, k.OCB, k.NB, k.OH)
	}
	b.WriteString("}\n")
	return b.String()
}

// Run is one run of a TestKernels: a module in a temporary directory, its
// data directory and timings.
type Run struct {
	Dir, Data         string
	start             time.Time
	gen, build, check time.Duration
}

// Start starts a run (the generation clock) in a new temporary directory.
func Start(t *testing.T) *Run { return &Run{Dir: t.TempDir(), start: time.Now()} }

// Generated stops the generation clock and creates the data directory.
func (r *Run) Generated(t *testing.T) {
	t.Helper()
	r.gen = time.Since(r.start)
	r.Data = filepath.Join(r.Dir, "data")
	if err := os.Mkdir(r.Data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// Input writes the inputs of kernel name, concatenated.
func (r *Run) Input(t *testing.T, name string, parts ...[]float32) {
	t.Helper()
	if err := WriteF32(filepath.Join(r.Data, name+".in"), parts...); err != nil {
		t.Fatal(err)
	}
}

// BuildAndCheck builds the module as bin and runs "bin check DATA"; it
// skips t after the build when this CPU cannot run the module's kernels
// (NeedsCPU).
func (r *Run) BuildAndCheck(t *testing.T, bin string) {
	t.Helper()
	t1 := time.Now()
	if out, err := GoCmd(r.Dir, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	r.build = time.Since(t1)
	asm, err := os.ReadFile(filepath.Join(r.Dir, "kernels_amd64.s"))
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range NeedsCPU(asm) {
		RequireCPU(t, target)
	}
	t1 = time.Now()
	cmd := exec.Command(filepath.Join(r.Dir, bin), "check", r.Data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("driver: %v\n%s", err, out)
	}
	r.check = time.Since(t1)
}

// Output reads the outputs (out0, out1) the driver wrote for kernel name.
func (r *Run) Output(t *testing.T, name string) []float32 {
	t.Helper()
	got, err := ReadF32(filepath.Join(r.Data, name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Log logs the kernel count, the assembly size and the timings.
func (r *Run) Log(t *testing.T, kernels int, asm []byte) {
	t.Helper()
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	t.Logf("%d kernels, %d bytes of assembly; generate %v, build %v, run %v, total %v",
		kernels, len(asm), ms(r.gen), ms(r.build), ms(r.check), ms(time.Since(r.start)))
}

// Compare returns the largest |got − want| (+Inf for a NaN), its index and
// the largest |want|. It fails t if the lengths differ.
func Compare(t *testing.T, name string, got, want []float32) (maxDiff, maxRef float64, at int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", name, len(got), len(want))
	}
	at = -1
	for j := range want {
		maxRef = math.Max(maxRef, math.Abs(float64(want[j])))
		d := math.Abs(float64(got[j]) - float64(want[j]))
		if d > maxDiff || math.IsNaN(d) {
			maxDiff, at = d, j
			if math.IsNaN(d) {
				maxDiff = math.Inf(1)
			}
		}
	}
	return maxDiff, maxRef, at
}

// CheckAsm applies the instruction checks every kernel passes to each TEXT
// block of asm: an FMA (a line matching the regexp fma) inside a loop (between
// a label and a later backward jump to it) and no CALL. more, if not nil,
// checks the block (of function name) further.
func CheckAsm(t *testing.T, asm []byte, fma string, more func(name, block string)) {
	t.Helper()
	blocks := strings.Split(string(asm), "\nTEXT ")
	if len(blocks) < 2 {
		t.Fatal("no TEXT blocks")
	}
	fmaRe := regexp.MustCompile(fma)
	call := regexp.MustCompile(`(?m)^\s+CALL\s`)
	for _, b := range blocks[1:] {
		name := strings.SplitN(b, "(", 2)[0]
		if !fmaRe.MatchString(b) {
			t.Errorf("%s: no multiply-add (%s)", name, fma)
		} else if !fmaInLoop(b, fmaRe) {
			t.Errorf("%s: no multiply-add (%s) inside a loop", name, fma)
		}
		if call.MatchString(b) {
			t.Errorf("%s: contains CALL", name)
		}
		if more != nil {
			more(name, b)
		}
	}
}

var (
	labelRe = regexp.MustCompile(`^(\w+):`)
	jumpRe  = regexp.MustCompile(`^\s+J[A-Z]+\s+(\w+)\s*$`)
)

// fmaInLoop reports whether some line of block matching fma lies between
// a label and a backward jump to that label.
func fmaInLoop(block string, fma *regexp.Regexp) bool {
	lines := strings.Split(block, "\n")
	labels := map[string]int{}
	for i, l := range lines {
		if m := labelRe.FindStringSubmatch(l); m != nil {
			labels[m[1]] = i
		}
		m := jumpRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		start, ok := labels[m[1]]
		if !ok {
			continue // a forward jump
		}
		for _, body := range lines[start+1 : i] {
			if fma.MatchString(body) {
				return true
			}
		}
	}
	return false
}

// ParseBench returns the (median, minimum) times in ns of the driver's
// "BENCH name median min" lines.
func ParseBench(out []byte) map[string][2]float64 {
	ns := map[string][2]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "BENCH" {
			v, _ := strconv.ParseFloat(f[2], 64)
			m, _ := strconv.ParseFloat(f[3], 64)
			ns[f[1]] = [2]float64{v, m}
		}
	}
	return ns
}

// Uniform returns a random value in [-1, 1).
func Uniform(rng *rand.Rand) float32 { return float32(rng.Float64()*2 - 1) }

// Blocked returns random blocked activations (c channels in blocks of
// blk, h×w) honoring the padding contract: pad lanes are zero.
func Blocked(rng *rand.Rand, blk, c, h, w int) []float32 {
	v := make([]float32, (c+blk-1)/blk*blk*h*w)
	for i := range v {
		if ch := (i/(blk*h*w))*blk + i%blk; ch < c {
			v[i] = Uniform(rng)
		}
	}
	return v
}

// Vec returns n floats (nil for 0), the first c of them random.
func Vec(rng *rand.Rand, n, c int) []float32 {
	if n == 0 {
		return nil
	}
	v := make([]float32, n)
	for i := 0; i < c; i++ {
		v[i] = Uniform(rng)
	}
	return v
}

// Huge is the "huge" special input value: large enough to dominate every
// sum, small enough that a product of two inputs (an epilogue's Mul of a
// huge output by a huge operand) stays finite in float32.
const Huge = 1e15

// SpecialValues are the values Special injects: NaN, ±Inf, ±Huge.
var SpecialValues = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), Huge, -Huge}

// NaNOnly injects NaN only: for operands that multiply (an epilogue's Mul),
// where an infinity or a huge value would turn a rounding difference of the
// other factor near zero into a sign flip or an overflow that no float32
// kernel and float64 reference can agree on.
var NaNOnly = []float32{float32(math.NaN())}

// Special returns a copy of v (blocked like Blocked: blk-channel blocks of
// an h×w map with c real channels; blk = 0 for a plain array, all real)
// with about one real element in per replaced by one of vals; pad lanes
// stay zero.
func Special(rng *rand.Rand, v []float32, per int, vals []float32, blk, c, h, w int) []float32 {
	out := append([]float32(nil), v...)
	for i := range out {
		if blk > 0 {
			if ch := (i/(blk*h*w))*blk + i%blk; ch >= c {
				continue
			}
		}
		if rng.Intn(per) == 0 {
			out[i] = vals[rng.Intn(len(vals))]
		}
	}
	return out
}

// CompareSpecial checks got against want (a float64-accumulated reference)
// for inputs with NaN, ±Inf and huge values, under rnc's numeric semantics:
// where want is NaN got is NaN; where want is ±Inf got is the same
// infinity; where want is finite got is within tol × max(1, the largest
// finite |want|). spread(j), if not nil, reports whether output j shares
// a Winograd tile with a NaN, ±Inf or huge input: the transforms mix every
// input of the tile into every output, so such an output is only required
// to be NaN where want is (NaN cannot vanish); any other value is allowed
// (an infinity or a rounding error the size of the huge input, through a
// nonlinear epilogue). It reports the first mismatch and the count of
// non-finite references.
func CompareSpecial(t *testing.T, name string, got, want []float32, tol float64, spread func(j int) bool) (nonFinite int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", name, len(got), len(want))
	}
	maxRef := 0.0
	for _, v := range want {
		if a := math.Abs(float64(v)); !math.IsInf(a, 0) && !math.IsNaN(a) {
			maxRef = math.Max(maxRef, a)
		}
	}
	bound := tol * math.Max(1, maxRef)
	for j := range want {
		g, w := float64(got[j]), float64(want[j])
		ok := false
		sp := spread != nil && spread(j)
		switch {
		case math.IsNaN(w):
			ok = math.IsNaN(g)
		case sp:
			ok = true
		case math.IsInf(w, 0):
			ok = g == w
		default:
			ok = math.Abs(g-w) <= bound
		}
		if math.IsInf(w, 0) {
			nonFinite++
		}
		if math.IsNaN(w) {
			nonFinite++
		}
		if !ok {
			t.Errorf("%s (NaN, ±Inf, huge inputs): element %d = %g, want %g (tolerance %g)", name, j, g, w, bound)
			return nonFinite
		}
	}
	return nonFinite
}

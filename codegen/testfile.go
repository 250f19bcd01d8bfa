package codegen

// testTemplate is the generated package's test file: API checks on
// synthetic weights, allocation and determinism checks, an optional
// comparison with reference outputs (RNC_REFERENCE=dir holding
// weights.h5 or weights.safetensors, input.f32 and expected.f32), and
// benchmarks. Preparing a model (its weight program) is what these tests
// spend most time on for a large model: they make the synthetic weights
// once and as few models as they can.
const testTemplate = `%s

package %s

import (
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/npy"
)

const imageSize = InputHeight * InputWidth * InputChannels

// synthetic returns the synthetic weights, made once (a model reads them
// and does not change them).
func synthetic(tb testing.TB) *runtime.Weights {
	tb.Helper()
	return syntheticOnce()
}

var syntheticOnce = sync.OnceValue(func() *runtime.Weights { return runtime.SyntheticWeights(program, 1) })

func input(n int) []float32 {
	x := make([]float32, n*imageSize)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.37)) * 0.9
	}
	return x
}

// targets are the compiled targets the tests check: the best one this CPU
// runs, or, with RNC_ALL_TARGETS set, every one it runs (the portable
// generic target is slow on large models); not are those it cannot run
// (runtime.Supported: avx512 needs AVX-512 F, VL, BW and DQ, avx2 needs
// AVX2 and FMA; GODEBUG=cpu.avx512f=off and the like mask a feature).
func targets() (ts, not []string) {
	for _, p := range program.Plans {
		if runtime.Supported(p.Target) {
			ts = append(ts, p.Target)
		} else {
			not = append(not, p.Target)
		}
	}
	if os.Getenv("RNC_ALL_TARGETS") == "" {
		return ts[:1], not
	}
	return ts, not
}

func TestPredictErrors(t *testing.T) {
	m, err := New(synthetic(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// dst is filled with a NaN payload no model computes; a failed Predict
	// must leave every element (and the capacity beyond len) untouched.
	sentinel := math.Float32frombits(0x7fc0beef)
	dst := make([]float32, 2*Classes+16)
	for i := range dst {
		dst[i] = sentinel
	}
	for _, c := range []struct{ dst, src int }{{2 * Classes, 0}, {2 * Classes, imageSize + 1}, {2*Classes - 1, 2 * imageSize}, {0, imageSize}, {2 * Classes, imageSize - 1}} {
		if err := m.Predict(dst[:c.dst], make([]float32, c.src)); err == nil {
			t.Errorf("Predict(dst %%d, src %%d): no error", c.dst, c.src)
		}
		for i, v := range dst {
			if math.Float32bits(v) != math.Float32bits(sentinel) {
				t.Fatalf("Predict(dst %%d, src %%d) failed but wrote dst[%%d]", c.dst, c.src, i)
			}
		}
	}
	if err := m.Predict(nil, nil); err == nil {
		t.Error("Predict(nil, nil): no error")
	}
}

// TestConcurrentPredict: goroutines sharing one Model get the outputs one
// caller gets, bit for bit.
func TestConcurrentPredict(t *testing.T) {
	m, err := New(synthetic(t), WithThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	t.Logf("target %%s (the best this CPU runs)", m.Target())
	x := input(1)
	want := make([]float32, Classes)
	if err := m.Predict(want, x); err != nil {
		t.Fatal(err)
	}
	const callers = 3
	got := make([][]float32, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for g := range got {
		got[g] = make([]float32, Classes)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 2 && errs[g] == nil; r++ {
				errs[g] = m.Predict(got[g], x)
			}
		}()
	}
	wg.Wait()
	for g := range got {
		if errs[g] != nil {
			t.Fatal(errs[g])
		}
		for i := range want {
			if math.Float32bits(got[g][i]) != math.Float32bits(want[i]) {
				t.Fatalf("caller %%d: output %%d = %%v, alone %%v", g, i, got[g][i], want[i])
			}
		}
	}
}

// TestDeterministic: the same outputs, bit for bit, for every thread count
// (no reduction is split across threads) and, on 2 threads, on a third run
// on a used arena, and no allocation in Predict, for every target checked.
func TestDeterministic(t *testing.T) {
	x := input(2)
	ts, _ := targets()
	for _, target := range ts {
		var first []float32
		for _, threads := range []int{1, 2, 3} {
			m, err := New(synthetic(t), WithTarget(target), WithThreads(threads))
			if err != nil {
				t.Fatal(err)
			}
			y := make([]float32, 2*Classes)
			if err := m.Predict(y, x); err != nil {
				t.Fatal(err)
			}
			if first == nil { // 1 thread: the reference
				first = append([]float32(nil), y...)
				m.Close()
				continue
			}
			check := func(run string) {
				t.Helper()
				for i := range y {
					if math.Float32bits(y[i]) != math.Float32bits(first[i]) {
						t.Fatalf("%%s: %%d threads, %%s: output %%d = %%v, the first run on 1 thread gave %%v", target, threads, run, i, y[i], first[i])
					}
				}
			}
			check("first run")
			if threads == 2 { // two more runs (the portable target is slow)
				if n := testing.AllocsPerRun(1, func() { _ = m.Predict(y, x) }); n != 0 {
					t.Errorf("%%s: %%d threads: Predict allocates %%v times per call", target, threads, n)
				}
				check("third run")
			}
			m.Close()
		}
	}
}

// TestReference compares every compiled target that this CPU runs with
// reference outputs: set RNC_REFERENCE to a directory holding weights.h5
// (Keras) or weights.safetensors, input.f32 (NHWC images) and expected.f32;
// RNC_TOLERANCE sets the largest difference allowed, |got - want| ≤
// tol·max(1, max |want|) (default 1e-5: absolute on probabilities, relative
// to the largest value on raw features).
func TestReference(t *testing.T) {
	dir := os.Getenv("RNC_REFERENCE")
	if dir == "" {
		t.Skip("RNC_REFERENCE not set")
	}
	tol := 1e-5
	if s := os.Getenv("RNC_TOLERANCE"); s != "" {
		fmt.Sscan(s, &tol)
	}
	x, _, err := npy.Read(filepath.Join(dir, "input.f32"))
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := npy.Read(filepath.Join(dir, "expected.f32"))
	if err != nil {
		t.Fatal(err)
	}
	n := len(x) / imageSize
	ts, not := targets()
	if len(not) > 0 {
		t.Logf("not checked: %%v (this CPU cannot run them)", not)
	}
	if len(ts)+len(not) < len(program.Plans) {
		t.Logf("checking %%v; RNC_ALL_TARGETS=1 checks every compiled target this CPU runs", ts)
	}
	weights := filepath.Join(dir, "weights.h5")
	if _, err := os.Stat(weights); err != nil {
		weights = filepath.Join(dir, "weights.safetensors")
	}
	for _, target := range ts {
		m, err := Load(weights, WithTarget(target))
		if err != nil {
			t.Fatal(err)
		}
		y := make([]float32, n*Classes)
		if err := m.Predict(y, x); err != nil {
			t.Fatal(err)
		}
		m.Close()
		scale := 1.0
		for _, v := range want {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		worst := 0.0
		for i := range want {
			d := math.Abs(float64(y[i])-float64(want[i])) / scale
			if !(d <= worst) {
				worst = d
			}
		}
		if !(worst <= tol) {
			t.Errorf("%%s: max difference %%g > %%g", target, worst, tol)
		}
		for i := 0; i < n; i++ {
			if a, b := argmax(y[i*Classes:(i+1)*Classes]), argmax(want[i*Classes:(i+1)*Classes]); a != b {
				t.Errorf("%%s: image %%d: top-1 %%d, want %%d", target, i, a, b)
			}
		}
		t.Logf("%%s: max difference %%.3g (scaled by max(1, max |want|) = %%.3g)", target, worst, scale)
	}
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// TestPreprocess: Preprocess makes one image of the model's input size,
// which Predict accepts, PreprocessInto allocates nothing and refuses a
// short dst; for a model without a declared RGB convention both are errors.
func TestPreprocess(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 7, 5))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 37)
	}
	x, err := Preprocess(img)
	if Preprocessing == "" || InputChannels != 3 {
		if err == nil {
			t.Fatalf("Preprocess: no error for a model whose convention is %%q with %%d channels", Preprocessing, InputChannels)
		}
		t.Logf("Preprocess: %%v", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(x) != imageSize {
		t.Fatalf("Preprocess gave %%d values, want %%d", len(x), imageSize)
	}
	if Preprocessing == "raw" && x[0] != float32(img.Pix[0]) {
		t.Errorf("raw: first value %%v, want %%v", x[0], img.Pix[0])
	}
	dst := make([]float32, 2*imageSize)
	if err := PreprocessInto(dst[imageSize:], image.NewNRGBA(image.Rect(2, 2, 2, 9))); err == nil {
		t.Error("PreprocessInto: no error for an image without pixels")
	}
	if err := PreprocessInto(dst[:imageSize-1], img); err == nil {
		t.Error("PreprocessInto: no error for a short dst")
	}
	if n := testing.AllocsPerRun(2, func() { _ = PreprocessInto(dst[imageSize:], img) }); n != 0 {
		t.Errorf("PreprocessInto allocates %%v times per call", n)
	}
	for i, v := range x {
		if dst[imageSize+i] != v {
			t.Fatalf("PreprocessInto and Preprocess differ at %%d", i)
		}
	}
	m, err := New(synthetic(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Predict(make([]float32, 2*Classes), dst); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPredict: batch 1 and 8, 1 and 2 threads, on the best target.
func BenchmarkPredict(b *testing.B) {
	w := synthetic(b)
	for _, batch := range []int{1, 8} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("batch%%d/threads%%d", batch, threads), func(b *testing.B) {
				m, err := New(w, WithThreads(threads))
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				x, y := input(batch), make([]float32, batch*Classes)
				if err := m.Predict(y, x); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := m.Predict(y, x); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}
`

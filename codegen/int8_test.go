package codegen

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/internal/randmodel"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/quant"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/npy"
)

// int8Case is one int8 package of TestInt8EndToEnd: the model calibrated
// on its images, its int8 graph and quantized weights, and the input its
// activations are compared on.
type int8Case struct {
	name string
	g8   *ir.Graph // the integer reference's graph (quant.Result.Int8Graph)
	w8   *runtime.Weights
	x    []float32
	n    int
}

// dumpTest is written into every int8 package: with RNC_DUMP set, it runs
// ref/input.f32 on every compiled target this CPU runs, on 1 and 3
// threads, and writes every uint8 buffer each step writes (all images, in
// logical NHWC order) to RNC_DUMP/TARGET-THREADS/STEP.OUT.u8, listed in
// manifest.txt as "STEP OUT NAME".
const dumpTest = `package %[1]s

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/npy"
)

func TestInt8Dump(t *testing.T) {
	if os.Getenv("RNC_DUMP") == "" {
		t.Skip("RNC_DUMP not set")
	}
	root := filepath.Join(os.Getenv("RNC_DUMP"), %[1]q)
	x, _, err := npy.Read(filepath.Join("ref", "input.f32"))
	if err != nil {
		t.Fatal(err)
	}
	n := len(x) / imageSize
	ts, _ := targets()
	for _, target := range ts {
		for _, threads := range []int{1, 3} {
			m, err := Load(filepath.Join("ref", "weights.safetensors"), WithTarget(target), WithThreads(threads))
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(root, fmt.Sprintf("%%s-%%d", target, threads))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			bufs := map[[2]int][]byte{}
			var manifest []byte
			plan := m.Runtime().Plan()
			y := make([]float32, n*Classes)
			if err := m.Runtime().Observe(y, x, func(step, out, image int, b runtime.Buf, data []byte) {
				if b.Type != runtime.U8 {
					return
				}
				key := [2]int{step, out}
				if bufs[key] == nil {
					bufs[key] = make([]byte, n*b.H*b.W*b.C)
					manifest = fmt.Appendf(manifest, "%%d %%d %%s\n", step, out, plan.Steps[step].Name)
				}
				dst := bufs[key][image*b.H*b.W*b.C:]
				for h := 0; h < b.H; h++ {
					for w := 0; w < b.W; w++ {
						for c := 0; c < b.C; c++ {
							dst[(h*b.W+w)*b.C+c] = data[b.At(h, w, c)]
						}
					}
				}
			}); err != nil {
				t.Fatal(err)
			}
			m.Close()
			for k, v := range bufs {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%%d.%%d.u8", k[0], k[1])), v, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "manifest.txt"), manifest, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
`

// writeInt8 calibrates model g (Keras-level) on calib with weights w,
// generates its int8 package (avx512vnni and generic) into dir/name with
// the quantized weights and input x, and returns the case.
func writeInt8(t *testing.T, dir, name string, g *ir.Graph, w *runtime.Weights, calib []float32, nCalib int, x []float32) int8Case {
	t.Helper()
	cg := g.Clone()
	if err := passes.Run(cg, quant.Pipeline(name)); err != nil {
		t.Fatal(err)
	}
	r, err := quant.Calibrate(cg, w, calib, nCalib, quant.Options{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	g8, w8, err := r.Int8Graph()
	if err != nil {
		t.Fatal(err)
	}
	res, err := Generate(g, Options{Package: name, Targets: []passes.Target{passes.VNNI, passes.Generic},
		Pipeline: passes.Config{Check: true, Model: name, Precision: passes.Int8}, Source: name + ".rn"})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	pkg := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Join(pkg, "ref"), 0o755); err != nil {
		t.Fatal(err)
	}
	res.Files["dump_test.go"] = []byte(fmt.Sprintf(dumpTest, name))
	for f, data := range res.Files {
		if err := os.WriteFile(filepath.Join(pkg, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := runtime.WriteSafetensorsFile(filepath.Join(pkg, "ref", "weights.safetensors"), w8); err != nil {
		t.Fatal(err)
	}
	if err := npy.Write(filepath.Join(pkg, "ref", "input.f32"), x, nil); err != nil {
		t.Fatal(err)
	}
	in := g.Inputs()[0].Type
	return int8Case{name: name, g8: g8, w8: w8, x: x, n: len(x) / (in.H() * in.W() * in.C())}
}

// TestInt8EndToEnd: generated int8 packages equal the integer reference
// (the interpreter on the int8 graph, its own code) bit for bit — every
// uint8 activation every step writes, on every target this CPU runs
// (AVX-512 VNNI kernels; the portable runtime.ConvU8), on 1 and 3
// threads. The float32 stem's output is quantized by both from float32
// values computed in different orders, so a code there may differ by 1:
// those are counted, and the interpreter continues from the package's
// codes, so that everything after is compared exactly. Models: tinyv2
// trained on digits (testdata/digits), ResNet50V2 and ResNet50 at 32×32
// with random weights, and random models (odd shapes, every epilogue the
// int8 kernels take).
func TestInt8EndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds generated packages")
	}
	dir, err := tempDir("int8-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var cases []int8Case
	{
		g := loadModel(t, "tinyv2", nil)
		d := filepath.Join("..", "testdata", "digits")
		w, err := runtime.ReadSafetensorsFile(filepath.Join(d, "tinyv2_digits.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		calib, cs, err := npy.Read(filepath.Join(d, "calib_inputs.npy"))
		if err != nil {
			t.Fatal(err)
		}
		test := readF32(t, filepath.Join(d, "test_inputs.npy"))
		per := len(calib) / cs[0]
		cases = append(cases, writeInt8(t, dir, "digits", g, w, calib, cs[0], test[:4*per]))
	}
	for _, m := range []string{"resnet50v2", "resnet50"} {
		g := loadModel(t, m, map[string]string{"input_shape": "[32,32,3]"})
		w := interp.RandomWeights(g, 1)
		calib := interp.RandomInput(32, 32, 3, 4, 3)
		cases = append(cases, writeInt8(t, dir, m, g, w, calib, 4, interp.RandomInput(32, 32, 3, 2, 4)))
	}
	for seed := uint64(1); len(cases) < 3+8 && seed < 100; seed++ {
		m := randmodel.New(seed)
		gm, err := dsl.Load(m.Name+".rn", dsl.Options{ReadFile: func(string) ([]byte, error) { return []byte(m.Source), nil }})
		if err != nil {
			t.Fatal(err)
		}
		probe := gm.Clone()
		if err := passes.Run(probe, quant.Pipeline(m.Name)); err != nil {
			t.Fatal(err)
		}
		if len(passes.PlanInt8(probe).Convs) == 0 {
			continue
		}
		in := gm.Inputs()[0].Type
		w := interp.RandomWeights(gm, seed)
		calib := interp.RandomInput(in.H(), in.W(), in.C(), 3, seed)
		cases = append(cases, writeInt8(t, dir, m.Name, gm, w, calib, 3, interp.RandomInput(in.H(), in.W(), in.C(), m.Batch, seed+1)))
	}
	dump, err := filepath.Abs(filepath.Join(dir, "dump"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"test", "-vet=off", "-ldflags=-w"}
	for _, c := range cases {
		args = append(args, "./"+filepath.Join(dir, c.name))
	}
	args = append(args, "-run", "TestInt8Dump|TestDeterministic|TestConcurrentPredict|TestPredictErrors")
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "RNC_DUMP="+dump, "RNC_TARGET=", "RNC_ALL_TARGETS=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test: %v\n%s", err, out)
	}
	run, not := cpuInt8Targets()
	if len(not) > 0 {
		t.Logf("int8 targets this CPU cannot run (not compared): %v", not)
	}
	for _, c := range cases {
		for _, target := range run {
			for _, threads := range []int{1, 3} {
				compareDump(t, c, filepath.Join(dump, c.name, fmt.Sprintf("%s-%d", target, threads)))
			}
		}
	}
}

// cpuInt8Targets splits the int8 targets into those this CPU runs and not.
func cpuInt8Targets() (run, not []string) {
	for _, tg := range []passes.Target{passes.VNNI, passes.Generic} {
		if runtime.Supported(string(tg)) {
			run = append(run, string(tg))
		} else {
			not = append(not, string(tg))
		}
	}
	return run, not
}

// compareDump compares one target's dump with the integer reference.
func compareDump(t *testing.T, c int8Case, dir string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "manifest.txt"))
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	defer f.Close()
	got := map[string][]byte{} // "name/out" → codes
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var step, out int
		var name string
		if _, err := fmt.Sscanf(sc.Text(), "%d %d %s", &step, &out, &name); err != nil {
			t.Fatalf("%s: manifest line %q: %v", dir, sc.Text(), err)
		}
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%d.%d.u8", step, out)))
		if err != nil {
			t.Fatal(err)
		}
		got[fmt.Sprintf("%s/%d", name, out)] = b
	}
	it, err := interp.New(c.g8, c.w8)
	if err != nil {
		t.Fatal(err)
	}
	compared, stemOff, stemCodes := 0, 0, 0
	var bad []string
	if _, err := it.RunObserved(c.x, c.n, func(op *ir.Op, outs [][]float32) {
		for i, o := range op.Outputs {
			if o.Type.DType != ir.U8 {
				continue
			}
			key := fmt.Sprintf("%s/%d", op.Name(), i)
			g, ok := got[key]
			if !ok || len(g) != len(outs[i]) {
				bad = append(bad, fmt.Sprintf("%s: %d bytes in the package's dump, the reference has %d", key, len(g), len(outs[i])))
				continue
			}
			for j, want := range outs[i] {
				if float32(g[j]) == want {
					continue
				}
				if op.Kind == ir.Quantize && (float32(g[j]) == want+1 || float32(g[j]) == want-1) {
					stemOff++
					continue
				}
				bad = append(bad, fmt.Sprintf("%s (%v) byte %d: package %d, reference %v", key, op.Kind, j, g[j], want))
				break
			}
			if op.Kind == ir.Quantize {
				stemCodes += len(g)
				for j := range outs[i] {
					outs[i][j] = float32(g[j]) // continue from the package's codes
				}
			} else {
				compared++
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("%s: %d of the uint8 buffers differ from the integer reference:\n%s", dir, len(bad), strings.Join(bad, "\n"))
	}
	if compared == 0 || stemOff*100 > stemCodes {
		t.Errorf("%s: %d int8 buffers compared; %d of %d quantized stem codes off by one", dir, compared, stemOff, stemCodes)
	}
	t.Logf("%s: %d int8 buffers equal the integer reference; %d of %d quantized float32 codes off by one", dir, compared, stemOff, stemCodes)
}

// digitsInt8 is tinyv2 (trained on digits, testdata/digits) calibrated on
// its 30 calibration images, with its float32 weights and those images.
func digitsInt8(t *testing.T) (r *quant.Result, w *runtime.Weights, calib []float32) {
	t.Helper()
	g := loadModel(t, "tinyv2", nil)
	if err := passes.Run(g, quant.Pipeline("tinyv2")); err != nil {
		t.Fatal(err)
	}
	d := filepath.Join("..", "testdata", "digits")
	w, err := runtime.ReadSafetensorsFile(filepath.Join(d, "tinyv2_digits.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	calib, cs, err := npy.Read(filepath.Join(d, "calib_inputs.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if r, err = quant.Calibrate(g, w, calib, cs[0], quant.Options{}); err != nil {
		t.Fatal(err)
	}
	return r, w, calib
}

// TestInt8LoadRefuses: a quantized file whose parameters the int8
// arithmetic is not defined for is refused at Load, naming the tensor —
// an int8 conv's input zero point other than 0, a scale that is not a
// positive finite number, a kernel code of −128 — and so is a float32
// file, or an int8 file without its format; the file as written loads.
func TestInt8LoadRefuses(t *testing.T) {
	r, w, calib := digitsInt8(t)
	g8, _, err := r.Int8Graph()
	if err != nil {
		t.Fatal(err)
	}
	if err := passes.MemPlan(g8); err != nil {
		t.Fatal(err)
	}
	l, err := lower(g8, string(passes.Generic))
	if err != nil {
		t.Fatal(err)
	}
	for i := range l.plan.Steps {
		if l.plan.Steps[i].Kind == runtime.OpConv {
			split(&l.plan.Steps[i], 1)
		}
	}
	in := g8.Inputs()[0].Type
	prog := &runtime.Program{Name: "tinyv2", InputH: in.H(), InputW: in.W(), InputC: in.C(), Classes: 10, Plans: []*runtime.Plan{l.plan}}
	var conv *ir.Op
	for _, op := range g8.Ops {
		if op.Kind == ir.Conv2D && op.Inputs[0].Type.DType == ir.U8 && conv == nil {
			conv = op
		}
	}
	x := conv.Inputs[0]
	kernel := conv.Param("kernel").Args[0].Name
	for _, c := range []struct {
		name   string
		change func(ws *runtime.Weights)
		want   string
	}{
		{"as written", func(*runtime.Weights) {}, ""},
		{"input zero point 3", func(ws *runtime.Weights) { ws.Tensors[x.Q.Zero.Name].U8[0] = 3 }, fmt.Sprintf("tensor %q: the input's zero point is 3, want 0", x.Q.Zero.Name)},
		{"negative scale", func(ws *runtime.Weights) { ws.Tensors[x.Q.Scale.Name].Data[0] = -0.5 }, fmt.Sprintf("tensor %q: scale -0.5, want a positive finite number", x.Q.Scale.Name)},
		{"zero scale", func(ws *runtime.Weights) { ws.Tensors[x.Q.Scale.Name].Data[0] = 0 }, fmt.Sprintf("tensor %q: scale 0", x.Q.Scale.Name)},
		{"kernel code -128", func(ws *runtime.Weights) { ws.Tensors[kernel].I8[5] = -128 }, fmt.Sprintf("tensor %q: kernel code -128, want an integer in −127..127", kernel)},
		{"no format", func(ws *runtime.Weights) { delete(ws.Metadata, "format") }, "not an int8 weight file"},
		{"missing zero point", func(ws *runtime.Weights) { delete(ws.Tensors, x.Q.Zero.Name) }, fmt.Sprintf("missing tensor %q", x.Q.Zero.Name)},
		{"float32 file", func(ws *runtime.Weights) { *ws = *w }, "not an int8 weight file"},
	} {
		ws, err := r.Weights()
		if err != nil {
			t.Fatal(err)
		}
		c.change(ws)
		m, err := runtime.New(prog, ws, runtime.WithThreads(1))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
		if m != nil {
			y := make([]float32, 10)
			if err := m.Predict(y, calib[:in.H()*in.W()*in.C()]); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			m.Close()
		}
	}
}

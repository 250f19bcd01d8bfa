package vnni

import (
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/rnc-dev/rnc/codegen/avx512"
	"github.com/rnc-dev/rnc/codegen/internal/conv"
	"github.com/rnc-dev/rnc/codegen/internal/direct"
	"github.com/rnc-dev/rnc/codegen/internal/emit"
	"github.com/rnc-dev/rnc/codegen/internal/goasm"
	"github.com/rnc-dev/rnc/codegen/internal/kerneltest"
)

var (
	benchReps   = flag.Int("bench-reps", 31, "BenchmarkLayers: timed runs per kernel (median reported)")
	benchFilter = flag.String("bench-filter", "", "BenchmarkLayers: only layers whose name matches this regexp")
	benchMin    = flag.Bool("bench-min", false, "BenchmarkLayers: report the minimum times, not the medians")
	benchTiles  = flag.String("bench-tilings", "", `BenchmarkLayers: also time these int8 tilings of every layer, "NBxURW[p],..." (e.g. "4x6,2x7p")`)
)

// peakIters is the loop count of the peak kernels: 24 independent
// multiply-adds per iteration.
const peakIters = 200000

// peakKernel emits name, a loop of peakIters × 24 independent VPDPBUSD
// (vnni) or VFMADD231PS on zmm registers, with signature sig: the
// throughput bound of the kernels' inner loops.
func peakKernel(c *build.Context, name, sig string, vnni bool) {
	c.Function(name)
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr(sig)
	for i := 0; i < 32; i++ {
		c.VPXORD(emit.ZMM[i], emit.ZMM[i], emit.ZMM[i])
	}
	c.MOVQ(operand.I32(peakIters), reg.RCX)
	c.Label(name + "_loop")
	for i := 0; i < 24; i++ {
		if vnni {
			c.VPDPBUSD(reg.Z30, reg.Z31, emit.ZMM[i])
		} else {
			c.VFMADD231PS(reg.Z30, reg.Z31, emit.ZMM[i])
		}
	}
	c.DECQ(reg.RCX)
	c.JNZ(operand.LabelRef(name + "_loop"))
	c.VZEROUPPER()
	c.RET()
}

// floatSpec is the float32 avx512 kernel of the layer c.
func floatSpec(c conv.Spec) avx512.ConvSpec {
	return avx512.ConvSpec{IC: c.IC, OC: c.OC, H: c.H, W: c.W, KH: c.KH, KW: c.KW, SH: c.SH, SW: c.SW,
		PadT: c.PadT, PadB: c.PadB, PadL: c.PadL, PadR: c.PadR, ResH: c.ResH, ResW: c.ResW, Epilogue: c.Epilogue}
}

// int8Spec is the int8 kernel of the layer c: its epilogue without the
// bias (AccReal adds it).
func int8Spec(c conv.Spec) ConvSpec {
	s := ConvSpec{IC: c.IC, OC: c.OC, H: c.H, W: c.W, KH: c.KH, KW: c.KW, SH: c.SH, SW: c.SW,
		PadT: c.PadT, PadB: c.PadB, PadL: c.PadL, PadR: c.PadR, ResH: c.ResH, ResW: c.ResW}
	for _, st := range c.Epilogue {
		if st.Kind != conv.Bias {
			s.Epilogue = append(s.Epilogue, st)
		}
	}
	return s
}

// parseTilings parses -bench-tilings.
func parseTilings(s string) ([]Tiling, error) {
	var ts []Tiling
	re := regexp.MustCompile(`^(\d)x(\d+)(p?)$`)
	for _, f := range strings.Split(s, ",") {
		if f == "" {
			continue
		}
		m := re.FindStringSubmatch(strings.TrimSpace(f))
		if m == nil {
			return nil, fmt.Errorf("-bench-tilings: %q is not NBxURW[p]", f)
		}
		nb, _ := strconv.Atoi(m[1])
		u, _ := strconv.Atoi(m[2])
		ts = append(ts, Tiling{NB: nb, URW: u, PF: m[3] == "p"})
	}
	return ts, nil
}

// BenchmarkLayers times, in one module and one run, the int8 kernel of
// every distinct conv shape of Keras ResNet50V2 (224×224, batch 1; the
// 3-channel stem stays float32) right after the float32 avx512 kernel of
// the same layer, and the peak loops of both (24 independent VPDPBUSD or
// VFMADD231PS per iteration), and logs a table: time, GOP/s (2·MACs over
// the full kernel window per second; int8 MACs, float32 FLOPs), the share
// of the measured peak, and float32 time / int8 time. Its metrics are
// the multiplicity-weighted totals.
//
//	go test ./codegen/vnni -run '^$' -bench Layers [-bench-reps 31] [-bench-filter RE] [-bench-tilings 4x6,2x7p]
//
// It measures once whatever b.N (a later call with a larger b.N reports
// the same run): building the module takes seconds and the driver times
// each kernel -bench-reps times itself. ns/op is the int8 total.
func BenchmarkLayers(b *testing.B) {
	kerneltest.RequireCPU(b, kerneltest.VNNI)
	if benchDone == nil {
		r := benchLayers(b)
		benchDone = &r
	}
	b.Log("\n" + benchDone.table)
	for _, m := range benchDone.metrics {
		b.ReportMetric(m.v, m.unit)
	}
}

// benchResult is BenchmarkLayers's measurement: its table and metrics.
type benchResult struct {
	table   string
	metrics []struct {
		v    float64
		unit string
	}
}

var benchDone *benchResult

// benchLayers builds and runs the benchmark module.
func benchLayers(b *testing.B) benchResult {
	variants, err := parseTilings(*benchTiles)
	if err != nil {
		b.Fatal(err)
	}
	filter := regexp.MustCompile(*benchFilter)
	layers := kerneltest.Direct[conv.Spec, int]{New: func(c conv.Spec) conv.Spec { return c }}.Layers()
	var ks []kcase
	var ds []dcase
	type row struct {
		name string
		n    int
		q, f string // kernel names
	}
	var rows []row
	for i, l := range layers {
		if l.Spec.FirstNHWC || !filter.MatchString(l.Name) {
			continue
		}
		r := row{name: l.Name, n: l.N, q: fmt.Sprintf("q%d", i), f: fmt.Sprintf("f%d", i)}
		ks = append(ks, kcase{Name: r.q, Spec: int8Spec(l.Spec)})
		ds = append(ds, dcase{Name: r.f, Spec: floatSpec(l.Spec)})
		rows = append(rows, r)
		seen := map[Tiling]bool{ChooseTiling(&ks[len(ks)-1].Spec): true}
		for _, v := range variants {
			s := int8Spec(l.Spec)
			s.NB, s.URW, s.Prefetch = v.NB, v.URW, -1
			if v.PF {
				s.Prefetch = 1
			}
			if s.Validate() != nil || seen[ChooseTiling(&s)] {
				continue
			}
			seen[ChooseTiling(&s)] = true
			ks = append(ks, kcase{Name: fmt.Sprintf("q%dv%d", i, len(ks)), Spec: s})
			rows = append(rows, row{name: l.Name + " (variant)", q: ks[len(ks)-1].Name})
		}
	}
	dir := b.TempDir()
	// The module: the layers' kernels, then the two peak loops as kernels
	// qpeak and fpeak (their call's ocb1 is ignored).
	ctx := build.NewContext()
	peakKernel(ctx, "qpeak", Signature, true)
	peakKernel(ctx, "fpeak", direct.Signature, false)
	var u8s []kerneltest.U8Kernel
	for i := range ks {
		c := &ks[i]
		tl, err := Generate(ctx, c.Name, &c.Spec)
		if err != nil {
			b.Fatalf("%s: %v", c.Name, err)
		}
		c.T = tl
		z := c.Spec.Sizes()
		u8s = append(u8s, kerneltest.U8Kernel{Name: c.Name, OCB: c.Spec.OCB(), NB: tl.NB, OH: c.Spec.OH(),
			Bytes: [11]int{z.In, z.Wt, 4 * z.M, 4 * z.B, 4 * z.Scale, 4 * z.Shift, z.Res, z.Mul, 4 * z.Q, z.Out0, z.Out1}})
	}
	var dks []kerneltest.DirectKernel
	ftl := map[string]avx512.Tiling{}
	for i := range ds {
		s := &ds[i].Spec
		tl, err := avx512.Generate(ctx, ds[i].Name, s)
		if err != nil {
			b.Fatalf("%s: %v", ds[i].Name, err)
		}
		ftl[ds[i].Name] = tl
		dks = append(dks, kerneltest.DirectKernel{Name: ds[i].Name, Sizes: s.Sizes(), OCB: s.OCB(), NB: tl.NB, OH: s.OH()})
	}
	// Pair int8 kernel i with float32 kernel i: variants get none.
	var pairedD []kerneltest.DirectKernel
	di := 0
	for _, k := range ks {
		if strings.Contains(k.Name, "v") {
			pairedD = append(pairedD, kerneltest.DirectKernel{Name: "fnone"})
			continue
		}
		pairedD = append(pairedD, dks[di])
		di++
	}
	u8s = append(u8s, kerneltest.U8Kernel{Name: "qpeak", OCB: 1, NB: 1, OH: 1})
	pairedD = append(pairedD, kerneltest.DirectKernel{Name: "fpeak", OCB: 1, NB: 1, OH: 1})
	asm, stubs, err := goasm.Print(ctx, "main", "vnni bench")
	if err != nil {
		b.Fatal(err)
	}
	stubs = append(stubs, []byte("\nfunc fnone(in, wt, bias, res, mul, scale, shift, out0, out1 *float32, ocb0, ocb1, oh0, oh1 int) {}\n")...)
	kerneltest.WriteU8Module(b, dir, asm, stubs, u8s, pairedD)
	if out, err := kerneltest.GoCmd(dir, "build", "-o", "kt8.bin", ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(dir, "kt8.bin"), "bench", strconv.Itoa(*benchReps), "", "").CombinedOutput()
	if err != nil {
		b.Fatalf("driver: %v\n%s", err, out)
	}
	ns := kerneltest.ParseBench(out)
	const peakMACs = peakIters * 24
	qPeak := 2 * peakMACs * 64 / ns["qpeak"][0] // int8 GOP/s
	fPeak := 2 * peakMACs * 16 / ns["fpeak"][0] // float32 GFLOP/s
	var tab strings.Builder
	fmt.Fprintf(&tab, "peak: int8 %.1f GOP/s (VPDPBUSD zmm), float32 %.1f GFLOP/s (VFMADD231PS zmm): %.2fx\n", qPeak, fPeak, qPeak/fPeak)
	fmt.Fprintf(&tab, "GOP/s: 2·MACs over the whole kernel window per second; %%peak: the MACs of taps inside the image against the peak loop\n")
	fmt.Fprintf(&tab, "%-30s %3s | %-6s %9s %8s %6s | %-7s %9s %8s %6s | %7s\n",
		"layer", "n", "int8", "µs", "GOP/s", "%peak", "float32", "µs", "GFLOP/s", "%peak", "f32/int8")
	spec := map[string]ConvSpec{}
	tiling := map[string]Tiling{}
	for _, k := range ks {
		spec[k.Name], tiling[k.Name] = k.Spec, k.T
	}
	var totQ, totF, ops, eops float64
	for _, r := range rows {
		s := spec[r.q]
		nominal := 2 * float64(s.OH()*s.OW()*s.KH*s.KW) * float64(s.IC*s.OC)
		executed := 2 * float64(s.MACs())
		tq := ns[r.q][0]
		if *benchMin {
			tq = ns[r.q][1]
		}
		if r.f == "" {
			fmt.Fprintf(&tab, "%-30s %3s | %-6v %9.1f %8.1f %5.1f%% |\n", r.name, "", tiling[r.q], tq/1e3, nominal/tq, 100*executed/tq/qPeak)
			continue
		}
		tf := ns[r.f][0]
		if *benchMin {
			tf = ns[r.f][1]
		}
		fmt.Fprintf(&tab, "%-30s %3d | %-6v %9.1f %8.1f %5.1f%% | %-7v %9.1f %8.1f %5.1f%% | %6.2fx\n",
			r.name, r.n, tiling[r.q], tq/1e3, nominal/tq, 100*executed/tq/qPeak, ftl[r.f], tf/1e3, nominal/tf, 100*executed/tf/fPeak, tf/tq)
		totQ += float64(r.n) * tq
		totF += float64(r.n) * tf
		ops += float64(r.n) * nominal
		eops += float64(r.n) * executed
	}
	fmt.Fprintf(&tab, "total (×n): int8 %.2f ms, %.1f GOP/s (%.1f%% of peak); float32 %.2f ms, %.1f GFLOP/s (%.1f%%); int8 time / float32 time %.3f (%.2fx faster)\n",
		totQ/1e6, ops/totQ, 100*eops/totQ/qPeak, totF/1e6, ops/totF, 100*eops/totF/fPeak, totQ/totF, totF/totQ)
	var r benchResult
	r.table = tab.String()
	for _, m := range []struct {
		v    float64
		unit string
	}{{ops / totQ, "int8-GOP/s"}, {ops / totF, "f32-GFLOP/s"}, {totQ / totF, "int8/f32-time"}, {totQ, "ns/op"}} {
		r.metrics = append(r.metrics, m)
	}
	return r
}

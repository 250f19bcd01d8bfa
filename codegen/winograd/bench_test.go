package winograd

import (
	"flag"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
	"github.com/rnc-dev/rnc/codegen/internal/kerneltest"
)

var (
	benchLayers   = flag.Bool("bench-layers", false, "TestBenchLayers: time the ResNet50V2 stride-1 3x3 layers, Winograd vs direct")
	benchReps     = flag.Int("bench-reps", 51, "TestBenchLayers: timed runs per kernel (median reported)")
	benchModes    = flag.String("bench-mode", "warm,coldw", `TestBenchLayers: comma-separated modes: "warm" (all cached), "coldw" (weights from DRAM: a different copy every run)`)
	benchFilter   = flag.String("bench-filter", "", "TestBenchLayers: only layers whose name matches this regexp")
	benchMin      = flag.Bool("bench-min", false, "TestBenchLayers: also print the minimum times (direct, Winograd)")
	benchVariants = flag.Bool("bench-variants", false, "TestBenchLayers: also time alternative Winograd tilings")
)

// PeakGFLOPS is the measured single-core zmm FMA peak of the target machine.
const PeakGFLOPS = 264.0 // as avx512.PeakGFLOPS (Zen 5, ≈4.1 GHz, two 512-bit FMA pipes)

type resnetLayer struct {
	Name string
	N    int // multiplicity in ResNet50V2
	Spec Spec
}

// resnet50v2Layers are the stride-1 3×3 convolutions of Keras ResNet50V2 at
// 224×224 (batch 1) with their multiplicities and epilogue (BN folded into
// the kernel and bias, then ReLU).
func resnet50v2Layers() []resnetLayer {
	ep := conv.Steps(conv.Bias, conv.Relu, conv.Store)
	c3 := func(hw, c int) Spec {
		return Spec{IC: c, OC: c, H: hw, W: hw, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: ep}
	}
	return []resnetLayer{
		{"c2 3x3 64 @56", 2, c3(56, 64)},
		{"c3 3x3 128 @28", 3, c3(28, 128)},
		{"c4 3x3 256 @14", 5, c3(14, 256)},
		{"c5 3x3 512 @7", 3, c3(7, 512)},
	}
}

// benchTilings are the alternative tilings of -bench-variants (0 = auto).
var benchTilings = []struct{ nb, u, rows, pf int }{
	{4, 6, 0, 0}, {4, 5, 0, 0}, {4, 4, 0, 0}, {2, 14, 0, 0}, {2, 8, 0, 0}, {2, 7, 0, 0}, {1, 12, 0, 0},
	{0, 0, 1, 0}, {0, 0, 2, 0}, {0, 0, 3, 0}, {0, 0, 4, 0}, {0, 0, 0, -1},
	{2, 8, 1, 0}, {2, 8, 2, 0}, {2, 8, 3, 0}, {2, 14, 1, 0}, {2, 14, 2, 0},
}

// directMACs counts every kernel tap, padding included (the usual FLOP
// count of a model).
func directMACs(s *Spec) float64 {
	return float64(s.OH()) * float64(s.OW()) * 9 * float64(s.IC) * float64(s.OC)
}

// TestBenchLayers times the Winograd kernel of every stride-1 3×3 layer of
// ResNet50V2 against the avx512 direct kernel of the same layer, both
// generated into one module:
//
//	go test ./codegen/winograd -run TestBenchLayers -v -bench-layers [-bench-mode warm,coldw] [-bench-variants] [-bench-filter RE]
func TestBenchLayers(t *testing.T) {
	if !*benchLayers {
		t.Skip("needs -bench-layers")
	}
	kerneltest.RequireCPU(t, "avx512")
	layers := resnet50v2Layers()
	filter := regexp.MustCompile(*benchFilter)
	var ws []wcase
	var ds []dcase
	owner := map[string]int{}
	for i, l := range layers {
		if !filter.MatchString(l.Name) {
			continue
		}
		ws = append(ws, wcase{Name: fmt.Sprintf("w%d", i), Spec: l.Spec})
		owner[fmt.Sprintf("w%d", i)] = i
		ds = append(ds, dcase{Name: fmt.Sprintf("d%d", i), Spec: directSpec(&l.Spec)})
		if !*benchVariants {
			continue
		}
		seen := map[string]bool{ChooseTiling(&l.Spec).String(): true}
		for _, v := range benchTilings {
			s := l.Spec
			s.NB, s.U, s.Rows, s.Prefetch = v.nb, v.u, v.rows, v.pf
			if s.Validate() != nil {
				continue
			}
			key := ChooseTiling(&s).String()
			if seen[key] {
				continue
			}
			seen[key] = true
			n := fmt.Sprintf("w%dv%d", i, len(ws))
			ws = append(ws, wcase{Name: n, Spec: s})
			owner[n] = i
		}
	}
	dir := t.TempDir()
	asm := writeModule(t, dir, ws, ds)
	if out, err := kerneltest.GoCmd(dir, "build", "-o", "wt.bin", ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	modes := strings.Split(*benchModes, ",")
	ns := map[string]map[string][2]float64{} // mode → kernel → (median, min)
	for _, m := range modes {
		arg := m
		if m == "warm" {
			arg = ""
		}
		out, err := kerneltest.GoCmd(dir, "run", ".", "bench", strconv.Itoa(*benchReps), arg).CombinedOutput()
		if err != nil {
			t.Fatalf("driver: %v\n%s", err, out)
		}
		ns[m] = kerneltest.ParseBench(out)
	}
	var tab strings.Builder
	fmt.Fprintf(&tab, "%-16s %2s %-9s", "layer", "n", "tiling")
	for _, m := range modes {
		fmt.Fprintf(&tab, " | %-5s %9s %9s %8s %8s %7s", m, "direct µs", "wino µs", "dir GF/s", "win GF/s", "speedup")
	}
	tab.WriteString("\n")
	totD, totW := map[string]float64{}, map[string]float64{}
	for _, c := range ws {
		li := owner[c.Name]
		l := layers[li]
		d := fmt.Sprintf("d%d", li)
		variant := c.Name != fmt.Sprintf("w%d", li)
		fmt.Fprintf(&tab, "%-16s %2d %-9v", l.Name, l.N, c.T)
		flops := 2 * directMACs(&c.Spec)
		for _, m := range modes {
			td, tw := ns[m][d][0], ns[m][c.Name][0]
			fmt.Fprintf(&tab, " | %-5s %9.1f %9.1f %8.1f %8.1f %6.2fx", "", td/1e3, tw/1e3, flops/td, flops/tw, td/tw)
			if *benchMin {
				fmt.Fprintf(&tab, " min %6.1f %6.1f", ns[m][d][1]/1e3, ns[m][c.Name][1]/1e3)
			}
			if !variant {
				totD[m] += float64(l.N) * td
				totW[m] += float64(l.N) * tw
			}
		}
		if variant {
			tab.WriteString("  (variant)")
		}
		tab.WriteString("\n")
	}
	for _, m := range modes {
		fmt.Fprintf(&tab, "%s: these %s layers take %.2f ms/image direct, %.2f ms Winograd (%.2fx); per-layer best: %.2f ms\n",
			m, "stride-1 3x3", totD[m]/1e6, totW[m]/1e6, totD[m]/totW[m], bestTotal(layers, ws, owner, ns[m])/1e6)
	}
	fmt.Fprintf(&tab, "%d bytes of assembly; direct FLOPs = 2·OH·OW·9·IC·OC; peak %.0f GFLOP/s\n", len(asm), PeakGFLOPS)
	t.Log("\n" + tab.String())
}

// bestTotal is the multiplicity-weighted time if each layer used the faster
// of its direct and (automatic) Winograd kernels.
func bestTotal(layers []resnetLayer, ws []wcase, owner map[string]int, ns map[string][2]float64) float64 {
	tot := 0.0
	for _, c := range ws {
		li := owner[c.Name]
		if c.Name != fmt.Sprintf("w%d", li) {
			continue
		}
		tot += float64(layers[li].N) * min(ns[c.Name][0], ns[fmt.Sprintf("d%d", li)][0])
	}
	return tot
}

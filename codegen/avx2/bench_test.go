package avx2

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var (
	benchLayers   = flag.Bool("bench-layers", false, "TestBenchLayers: time the ResNet50V2 conv kernels")
	benchReps     = flag.Int("bench-reps", 31, "TestBenchLayers: timed runs per layer (median reported)")
	benchMode     = flag.String("bench-mode", "", `TestBenchLayers: "" (all warm), "coldw" (weights from DRAM: a different copy every run), "cold" (128 MiB written before every run)`)
	benchFilter   = flag.String("bench-filter", "", "TestBenchLayers: only layers whose name matches this regexp")
	benchVariants = flag.Bool("bench-variants", false, "TestBenchLayers: also time alternative tilings of every layer")
)

// PeakGFLOPS is the single-core ymm FMA peak of the measuring machine: half
// of its zmm peak (Zen 5 at ≈4.1 GHz, two FMA pipes × 8 lanes × 2 FLOP).
const PeakGFLOPS = 132.0

// resnetLayer is one distinct conv shape of ResNet50V2 and its multiplicity.
type resnetLayer struct {
	Name string
	N    int
	Spec ConvSpec
}

// ResNet50V2Layers returns the distinct conv shapes of Keras ResNet50V2 at
// 224×224, batch 1, with their multiplicities (53 conv layers in total) and
// the epilogues of the BN-folded v2 graph.
func resnet50v2Layers() []resnetLayer {
	reduce := Steps(Bias, Relu, Store0) // conv (BN folded) + ReLU
	expand := func(rs int) []Step {     // conv+bias, + shortcut, store, next pre-activation BN+ReLU
		return []Step{{Kind: Bias}, {Kind: AddResidual, ResStride: rs}, {Kind: Store0}, {Kind: Affine}, {Kind: Relu}, {Kind: Store1}}
	}
	short := Steps(Bias, Store0)
	c1 := func(hw, ic, oc int, ep []Step) ConvSpec {
		return ConvSpec{IC: ic, OC: oc, H: hw, W: hw, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: ep}
	}
	c3 := func(hw, c, s int) ConvSpec {
		return ConvSpec{IC: c, OC: c, H: hw, W: hw, KH: 3, KW: 3, SH: s, SW: s, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: reduce}
	}
	res2 := func(s ConvSpec, rhw int) ConvSpec { s.ResH, s.ResW = rhw, rhw; return s }
	return []resnetLayer{
		{"stem 7x7/2 3->64", 1, ConvSpec{IC: 3, OC: 64, H: 224, W: 224, KH: 7, KW: 7, SH: 2, SW: 2, PadT: 3, PadB: 3, PadL: 3, PadR: 3, FirstNHWC: true, Epilogue: short}},

		{"c2 1x1 64->64", 1, c1(56, 64, 64, reduce)},
		{"c2 3x3 64", 2, c3(56, 64, 1)},
		{"c2 1x1 64->256", 2, c1(56, 64, 256, expand(1))},
		{"c2 1x1 256->64", 2, c1(56, 256, 64, reduce)},
		{"c2 sc 64->256", 1, c1(56, 64, 256, short)},
		{"c2 3x3/2 64 56->28", 1, c3(56, 64, 2)},
		{"c2 1x1 64->256 @28 +res/2", 1, res2(c1(28, 64, 256, expand(2)), 56)},

		{"c3 1x1 256->128", 1, c1(28, 256, 128, reduce)},
		{"c3 3x3 128", 3, c3(28, 128, 1)},
		{"c3 1x1 128->512", 3, c1(28, 128, 512, expand(1))},
		{"c3 1x1 512->128", 3, c1(28, 512, 128, reduce)},
		{"c3 sc 256->512", 1, c1(28, 256, 512, short)},
		{"c3 3x3/2 128 28->14", 1, c3(28, 128, 2)},
		{"c3 1x1 128->512 @14 +res/2", 1, res2(c1(14, 128, 512, expand(2)), 28)},

		{"c4 1x1 512->256", 1, c1(14, 512, 256, reduce)},
		{"c4 3x3 256", 5, c3(14, 256, 1)},
		{"c4 1x1 256->1024", 5, c1(14, 256, 1024, expand(1))},
		{"c4 1x1 1024->256", 5, c1(14, 1024, 256, reduce)},
		{"c4 sc 512->1024", 1, c1(14, 512, 1024, short)},
		{"c4 3x3/2 256 14->7", 1, c3(14, 256, 2)},
		{"c4 1x1 256->1024 @7 +res/2", 1, res2(c1(7, 256, 1024, expand(2)), 14)},

		{"c5 1x1 1024->512", 1, c1(7, 1024, 512, reduce)},
		{"c5 3x3 512", 3, c3(7, 512, 1)},
		{"c5 1x1 512->2048", 3, c1(7, 512, 2048, expand(1))},
		{"c5 1x1 2048->512", 2, c1(7, 2048, 512, reduce)},
		{"c5 sc 1024->2048", 1, c1(7, 1024, 2048, short)},
	}
}

// benchTiling is an alternative tiling of -bench-variants (ICC 0 =
// automatic).
type benchTiling struct {
	NB, URW, WMem, ICC int
	PF                 bool
}

var benchTilings = []benchTiling{
	{NB: 4, URW: 3}, {NB: 4, URW: 2}, {NB: 2, URW: 7}, {NB: 2, URW: 6}, {NB: 2, URW: 5}, {NB: 1, URW: 14},
	{NB: 4, URW: 3, WMem: 4}, {NB: 3, URW: 4},
	{NB: 4, URW: 3, PF: true}, {NB: 2, URW: 6, PF: true},
	{NB: 4, URW: 3, ICC: 1}, {NB: 4, URW: 3, ICC: 1, PF: true}, {NB: 4, URW: 3, ICC: 2, PF: true}, {NB: 4, URW: 3, ICC: 4, PF: true},
	{NB: 4, URW: 3, ICC: 256}, {NB: 2, URW: 6, ICC: 256},
}

// nominalMACs counts every kernel tap, padding included (the usual FLOP
// count of a model).
func nominalMACs(s *ConvSpec) float64 {
	return float64(s.OH()) * float64(s.OW()) * float64(s.KH*s.KW) * float64(s.IC) * float64(s.OC)
}

// TestBenchLayers times the kernels of every distinct ResNet50V2 conv shape:
//
//	go test ./codegen/avx2 -run TestBenchLayers -v -bench-layers
func TestBenchLayers(t *testing.T) {
	if !*benchLayers {
		t.Skip("needs -bench-layers")
	}
	layers := resnet50v2Layers()
	var cases []kcase
	var owner []int
	filter := regexp.MustCompile(*benchFilter)
	for i, l := range layers {
		if !filter.MatchString(l.Name) {
			continue
		}
		cases = append(cases, kcase{Name: fmt.Sprintf("l%d", i), Spec: l.Spec})
		seen := map[Tiling]bool{ChooseTiling(&l.Spec): true}
		owner = append(owner, i)
		if !*benchVariants {
			continue
		}
		for _, v := range benchTilings {
			s := l.Spec
			if s.OCB()%v.NB != 0 {
				continue
			}
			s.NB, s.URW, s.WMem, s.ICC = v.NB, v.URW, v.WMem, v.ICC
			s.Prefetch = -1
			if v.PF {
				s.Prefetch = 1
			}
			if s.ICC != 0 && s.ICC < s.ICB() && s.OH()*s.OW() > 14*14 {
				continue
			}
			if seen[ChooseTiling(&s)] {
				continue
			}
			seen[ChooseTiling(&s)] = true
			cases = append(cases, kcase{Name: fmt.Sprintf("l%dv%d", i, len(cases)), Spec: s})
			owner = append(owner, i)
		}
	}
	dir := t.TempDir()
	writeModule(t, dir, cases)
	args := []string{"run", ".", "bench", strconv.Itoa(*benchReps)}
	if *benchMode != "" {
		args = append(args, *benchMode)
	}
	out, err := goCmd(dir, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("driver: %v\n%s", err, out)
	}
	ns := map[string]float64{}
	nsMin := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "BENCH" {
			v, _ := strconv.ParseFloat(f[2], 64)
			m, _ := strconv.ParseFloat(f[3], 64)
			ns[f[1]], nsMin[f[1]] = v, m
		}
	}
	nLayers := 0
	for _, l := range layers {
		if filter.MatchString(l.Name) {
			nLayers += l.N
		}
	}
	var tab strings.Builder
	fmt.Fprintf(&tab, "%-28s %3s %-6s %9s %8s %8s %7s %8s %6s %9s\n",
		"layer", "n", "tiling", "median µs", "min µs", "GFLOP/s", "%peak", "eff GF/s", "%peak", "n×median")
	var total, totalMin, flops, effFlops float64
	best := map[int]kcase{}
	for i, c := range cases {
		li := owner[i]
		l := layers[li]
		tm := ns[c.Name]
		gf := 2 * nominalMACs(&c.Spec) / tm
		mark := ""
		if c.Name != fmt.Sprintf("l%d", li) {
			mark = "  (variant)"
		} else {
			total += float64(l.N) * tm
			totalMin += float64(l.N) * nsMin[c.Name]
			flops += float64(l.N) * 2 * nominalMACs(&c.Spec)
			effFlops += float64(l.N) * 2 * float64(c.Spec.MACs())
		}
		if b, ok := best[li]; !ok || tm < ns[b.Name] {
			best[li] = c
		}
		ef := 2 * float64(c.Spec.MACs()) / tm
		fmt.Fprintf(&tab, "%-28s %3d %-6v %9.1f %8.1f %8.1f %6.1f%% %8.1f %5.1f%% %9.1f%s\n",
			l.Name, l.N, c.T, tm/1e3, nsMin[c.Name]/1e3, gf, 100*gf/PeakGFLOPS, ef, 100*ef/PeakGFLOPS, float64(l.N)*tm/1e3, mark)
	}
	fmt.Fprintf(&tab, "total: %.2f ms/image from medians (%.2f ms from minima); %d conv layers, %.2f GFLOP nominal (%.2f executed), %.1f GFLOP/s average (%.1f%% of peak; executed %.1f, %.1f%%)\n",
		total/1e6, totalMin/1e6, nLayers, flops/1e9, effFlops/1e9, flops/total, 100*flops/total/PeakGFLOPS, effFlops/total, 100*effFlops/total/PeakGFLOPS)
	if *benchVariants {
		var idx []int
		for li := range best {
			idx = append(idx, li)
		}
		sort.Ints(idx)
		var bt float64
		for _, li := range idx {
			c := best[li]
			bt += float64(layers[li].N) * ns[c.Name]
			fmt.Fprintf(&tab, "best %-28s %v %.1f µs\n", layers[li].Name, c.T, ns[c.Name]/1e3)
		}
		fmt.Fprintf(&tab, "total with best tilings: %.2f ms/image\n", bt/1e6)
	}
	t.Log("\n" + tab.String())
}

package avx2

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Epilogues used by ResNet v1/v2 (and one reordered list).
var testEpilogues = [][]Step{
	Steps(Store0),
	Steps(Bias, Store0),
	Steps(Bias, Relu, Store0),
	Steps(Bias, Relu, Store0, Affine, Relu, Store1),
	{{Kind: Bias}, {Kind: AddResidual, ResStride: 1}, {Kind: Store0}, {Kind: Affine}, {Kind: Relu}, {Kind: Store1}},
	{{Kind: Bias}, {Kind: AddResidual, ResStride: 2}, {Kind: Store0}, {Kind: Affine}, {Kind: Relu}, {Kind: Store1}},
	{{Kind: Bias}, {Kind: AddResidual, ResStride: 1}, {Kind: Relu}, {Kind: Store0}},
	{{Kind: AddResidual, ResStride: 2}, {Kind: Store0}},
	Steps(Store0, Affine, Relu, Store1),
	Steps(Affine, Store1, Relu, Bias, Store0),
}

type geom struct{ kh, kw, sh, sw, pt, pb, pl, pr int }

var testGeoms = []geom{
	{1, 1, 1, 1, 0, 0, 0, 0},
	{1, 1, 2, 2, 0, 0, 0, 0},
	{3, 3, 1, 1, 1, 1, 1, 1},
	{3, 3, 2, 2, 1, 1, 1, 1},
	{3, 3, 2, 2, 0, 1, 0, 1}, // TF "same" stride 2
	{3, 3, 1, 2, 2, 0, 0, 2}, // asymmetric
	{7, 7, 2, 2, 3, 3, 3, 3},
	{7, 7, 1, 1, 3, 2, 1, 3},
	{3, 3, 1, 1, 0, 0, 0, 0},
}

// sweepCases returns the test kernels: a deterministic pseudo-random
// selection over channels, sizes, geometries, epilogues and tilings, plus
// targeted cases.
func sweepCases() []kcase {
	rng := rand.New(rand.NewSource(42))
	sizes := [][2]int{{1, 1}, {3, 5}, {7, 7}, {9, 9}, {15, 15}, {5, 3}, {16, 17}, {11, 13}}
	chans := []int{3, 8, 12, 24, 40, 64}
	var cases []kcase
	add := func(s ConvSpec) {
		if s.Validate() != nil {
			return
		}
		cases = append(cases, kcase{Name: fmt.Sprintf("k%d", len(cases)), Spec: s})
	}
	spec := func(ic, oc int, hw [2]int, g geom, ep []Step) ConvSpec {
		s := ConvSpec{IC: ic, OC: oc, H: hw[0], W: hw[1], KH: g.kh, KW: g.kw, SH: g.sh, SW: g.sw,
			PadT: g.pt, PadB: g.pb, PadL: g.pl, PadR: g.pr, Epilogue: ep}
		for _, st := range ep {
			if st.Kind == AddResidual && st.ResStride == 2 {
				// Residual 2×OH−1 (odd, like MaxPool(1,2) of an odd map) or 2×OH.
				s.ResH, s.ResW = 2*s.OH()-rng.Intn(2), 2*s.OW()-rng.Intn(2)
			}
		}
		return s
	}
	// Every geometry × every epilogue, random channels and sizes.
	for _, g := range testGeoms {
		for _, ep := range testEpilogues {
			hw := sizes[rng.Intn(len(sizes))]
			add(spec(chans[rng.Intn(len(chans))], chans[rng.Intn(len(chans))], hw, g, ep))
		}
	}
	// Every size × geometry with a fixed epilogue.
	for _, hw := range sizes {
		for _, g := range testGeoms {
			add(spec(chans[rng.Intn(len(chans))], chans[rng.Intn(len(chans))], hw, g, testEpilogues[3]))
		}
	}
	// Every channel count as input and as output.
	for _, c := range chans {
		g := testGeoms[rng.Intn(len(testGeoms))]
		add(spec(c, chans[rng.Intn(len(chans))], sizes[rng.Intn(len(sizes))], g, testEpilogues[rng.Intn(len(testEpilogues))]))
		add(spec(chans[rng.Intn(len(chans))], c, sizes[rng.Intn(len(sizes))], g, testEpilogues[rng.Intn(len(testEpilogues))]))
	}
	// First layer (NHWC input) with 3 channels and other counts ≤ 8.
	for _, g := range testGeoms {
		for _, ic := range []int{3, 1, 4, 8} {
			s := spec(ic, chans[rng.Intn(len(chans))], sizes[rng.Intn(len(sizes))], g, testEpilogues[rng.Intn(len(testEpilogues))])
			s.FirstNHWC = true
			add(s)
		}
	}
	// Forced tilings (edge/tail code paths, memory-operand weights,
	// chunked reductions, prefetch on and off).
	type ft struct{ nb, urw, wmem, icc int }
	for _, t := range []ft{{1, 1, 0, 0}, {1, 5, 0, 1}, {2, 3, 0, 2}, {4, 3, 0, 0}, {4, 3, 4, 1}, {2, 7, 0, 0},
		{1, 14, 0, 0}, {1, 15, 0, 2}, {3, 4, 0, 1}, {2, 5, 1, 2}, {4, 2, 0, 3}, {3, 5, 0, 0}, {2, 6, 2, 0}, {4, 1, 2, 1}} {
		for _, g := range []geom{testGeoms[2], testGeoms[5], testGeoms[6], testGeoms[1]} {
			oc := []int{64, 40, 24, 8}[rng.Intn(4)]
			if (oc+7)/8%t.nb != 0 {
				oc = 8*t.nb*(1+rng.Intn(2)) - rng.Intn(3)
			}
			ic := []int{12, 24}[rng.Intn(2)]
			if t.icc != 0 {
				ic = []int{40, 64, 56, 36}[rng.Intn(4)]
			}
			s := spec(ic, oc, [2]int{15, 15}, g, testEpilogues[rng.Intn(len(testEpilogues))])
			s.NB, s.URW, s.WMem, s.ICC = t.nb, t.urw, t.wmem, t.icc
			s.Prefetch = 1 - 2*rng.Intn(2)
			add(s)
		}
	}
	// ResNet-like shapes, small channel counts.
	add(ConvSpec{IC: 3, OC: 64, H: 32, W: 32, KH: 7, KW: 7, SH: 2, SW: 2, PadT: 3, PadB: 3, PadL: 3, PadR: 3, FirstNHWC: true, Epilogue: testEpilogues[2]})
	add(ConvSpec{IC: 64, OC: 64, H: 28, W: 28, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: testEpilogues[2]})
	add(ConvSpec{IC: 64, OC: 64, H: 14, W: 14, KH: 3, KW: 3, SH: 2, SW: 2, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: testEpilogues[2]})
	add(ConvSpec{IC: 64, OC: 128, H: 7, W: 7, KH: 1, KW: 1, SH: 1, SW: 1, ResH: 14, ResW: 14, Epilogue: testEpilogues[5]})
	add(ConvSpec{IC: 24, OC: 40, H: 56, W: 56, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: testEpilogues[4]})
	// Automatic reduction chunking (group weights > 256 KiB, small output)
	// and a weight-streaming layer (automatic prefetch, 2-block chunks).
	add(ConvSpec{IC: 512, OC: 64, H: 5, W: 5, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: testEpilogues[4]})
	add(ConvSpec{IC: 2200, OC: 64, H: 3, W: 3, KH: 1, KW: 1, SH: 1, SW: 1, Epilogue: testEpilogues[3]})
	add(ConvSpec{IC: 256, OC: 256, H: 7, W: 7, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadB: 1, PadL: 1, PadR: 1, Epilogue: testEpilogues[2]})
	return cases
}

func TestKernels(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go module")
	}
	t0 := time.Now()
	cases := sweepCases()
	dir := t.TempDir()
	asm := writeModule(t, dir, cases)
	tGen := time.Since(t0)
	checkAsm(t, asm)
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(7))
	ins := make([]Args, len(cases))
	for i, c := range cases {
		a := randInputs(&c.Spec, rng)
		ins[i] = a
		if err := writeF32(filepath.Join(data, c.Name+".in"), a.In, a.Wt, a.Bias, a.Res, a.Scale, a.Shift); err != nil {
			t.Fatal(err)
		}
	}
	t1 := time.Now()
	if out, err := goCmd(dir, "build", "-o", "kt.bin", ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	tBuild := time.Since(t1)
	nVec := checkEncodings(t, dir)
	t1 = time.Now()
	cmd := exec.Command(filepath.Join(dir, "kt.bin"), "check", data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("driver: %v\n%s", err, out)
	}
	tRun := time.Since(t1)
	tilings := map[Tiling]int{}
	for i, c := range cases {
		tilings[c.T]++
		got, err := readF32(filepath.Join(data, c.Name+".out"))
		if err != nil {
			t.Fatal(err)
		}
		z := c.Spec.Sizes()
		a := ins[i]
		a.Out0 = make([]float32, z.Out0)
		a.Out1 = make([]float32, z.Out1)
		RefConv(&c.Spec, a, 0, c.Spec.OCB(), 0, c.Spec.OH())
		want := append(a.Out0, a.Out1...)
		if len(got) != len(want) {
			t.Fatalf("%s: got %d values, want %d", c.Name, len(got), len(want))
		}
		maxRef, maxDiff, at := 0.0, 0.0, -1
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
		if maxDiff > 1e-5*math.Max(1, maxRef) {
			t.Errorf("%s %+v tiling %v: max abs diff %g at %d (got %g want %g), max |ref| %g",
				c.Name, c.Spec, c.T, maxDiff, at, got[at], want[at], maxRef)
		}
	}
	t.Logf("%d vector instructions checked: all VEX-encoded", nVec)
	t.Logf("%d kernels, %d bytes of assembly; generate %v, build %v, run %v, total %v",
		len(cases), len(asm), tGen.Round(time.Millisecond), tBuild.Round(time.Millisecond), tRun.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	t.Logf("tilings: %v", tilings)
}

package winograd

import (
	_ "embed"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/build"

	"github.com/rnc-dev/rnc/codegen/avx512"
	"github.com/rnc-dev/rnc/codegen/internal/conv"
	"github.com/rnc-dev/rnc/codegen/internal/kerneltest"
	"github.com/rnc-dev/rnc/internal/gotmpl"
	"github.com/rnc-dev/rnc/runtime"
)

// wcase is one Winograd kernel of a generated test module.
type wcase struct {
	Name string
	Spec Spec
	T    Tiling // filled by writeModule
}

// dcase is one avx512 direct kernel of a generated (benchmark) module:
// the only use of package avx512 here, in tests, to time the direct kernel
// of a layer against its Winograd kernel.
type dcase struct {
	Name string
	Spec avx512.ConvSpec
	T    avx512.Tiling
}

// directSpec returns the avx512 direct convolution equivalent to s.
func directSpec(s *Spec) avx512.ConvSpec {
	c := s.conv()
	return avx512.ConvSpec{IC: c.IC, OC: c.OC, H: c.H, W: c.W, KH: c.KH, KW: c.KW, SH: c.SH, SW: c.SW,
		PadT: c.PadT, PadB: c.PadB, PadL: c.PadL, PadR: c.PadR, ResH: c.ResH, ResW: c.ResW, Epilogue: c.Epilogue}
}

// inPlaceOK reports whether the spec's epilogue allows res == out0.
func inPlaceOK(s *Spec) bool {
	for _, st := range s.Epilogue {
		switch {
		case st.Kind == conv.AddResidual:
			return st.ResStride <= 1
		case st.Kind == conv.Store && st.Out == 0:
			return false
		}
	}
	return false
}

// writeModule writes a standalone module (module wt, stdlib only) with the
// kernels of ws and ds and the driver (driverSrc and the shared driver
// library, which checks and times the direct kernels) into dir. It returns
// the assembly.
func writeModule(t testing.TB, dir string, ws []wcase, ds []dcase) []byte {
	t.Helper()
	ctx := build.NewContext()
	for i := range ws {
		if err := Generate(ctx, ws[i].Name, &ws[i].Spec); err != nil {
			t.Fatalf("%s: %v", ws[i].Name, err)
		}
		ws[i].T = ChooseTiling(&ws[i].Spec)
	}
	var dks []kerneltest.DirectKernel
	for i := range ds {
		s := &ds[i].Spec
		tl, err := avx512.Generate(ctx, ds[i].Name, s)
		if err != nil {
			t.Fatalf("%s: %v", ds[i].Name, err)
		}
		ds[i].T = tl
		dks = append(dks, kerneltest.DirectKernel{Name: ds[i].Name, Sizes: s.Sizes(), OCB: s.OCB(), NB: tl.NB, OH: s.OH()})
	}
	asm, stubs, err := Print(ctx, "main", "winograd test")
	if err != nil {
		t.Fatal(err)
	}
	var tab strings.Builder
	tab.WriteString("var wkernels = []winfo{\n")
	for _, c := range ws {
		z := c.Spec.Sizes()
		th, _ := c.Spec.Tiles()
		fmt.Fprintf(&tab, "\t{%q, %s, [10]int{%d, %d, %d, %d, %d, %d, %d, %d, %d, %d}, %d, %v},\n",
			c.Name, c.Name, z.In, z.U, z.Bias, z.Res, z.Mul, z.Scale, z.Shift, z.Out0, z.Out1, z.WS, th, inPlaceOK(&c.Spec))
	}
	tab.WriteString("}\n\n" + kerneltest.DirectTable(dks))
	kerneltest.WriteModule(t, dir, "wt", asm, stubs, tab.String(), driverSrc)
	return asm
}

// checkAsm applies the instruction checks to every TEXT block: an FMA and
// no CALL.
func checkAsm(t *testing.T, asm []byte) {
	kerneltest.CheckAsm(t, asm, `(?m)^\s+VFMADD231PS\s`, nil)
}

// wargs are the inputs of one Winograd test kernel: the direct kernel's
// operands (for conv.RefConv) plus U.
type wargs struct {
	conv.Args
	U []float32
}

// randInputs makes random inputs for s honoring the padding contract (pad
// lanes and pad channels are zero). The kernel is drawn in HWIO and packed
// both ways.
func randInputs(s *Spec, rng *rand.Rand) wargs {
	cs := s.conv()
	z := cs.Sizes()
	var a wargs
	a.In = kerneltest.Blocked(rng, 16, s.IC, s.H, s.W)
	hwio := make([]float32, 9*s.IC*s.OC)
	for i := range hwio {
		hwio[i] = kerneltest.Uniform(rng) / float32(math.Sqrt(float64(9*s.IC)))
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
	a.Wt = conv.PackOIHW(cs, oihw)
	a.U = runtime.PackWinograd(hwio, s.IC, s.OC)
	a.Bias, a.Scale, a.Shift = kerneltest.Vec(rng, z.Bias, s.OC), kerneltest.Vec(rng, z.Scale, s.OC), kerneltest.Vec(rng, z.Shift, s.OC)
	if z.Res > 0 {
		rh, rw, _ := s.resDims()
		a.Res = kerneltest.Blocked(rng, 16, s.OC, rh, rw)
	}
	if z.Mul > 0 {
		a.Mul = kerneltest.Blocked(rng, 16, s.OC, s.OH(), s.OW())
	}
	return a
}

// driverSrc is main.go of the generated test module
// (testdata/driver.go.txt; with the shared driver library:
// kerneltest.CommonSrc, kerneltest.DirectSrc).
//
//	wt check DIR   runs every Winograd kernel on DIR/NAME.in (in, u, bias,
//	               res, mul, scale, shift concatenated) and on
//	               DIR/NAME.special.in if present, split into several calls
//	               over tile-row ranges, with inputs against PROT_NONE guard
//	               pages (after, then before them), the workspace against a
//	               guard page and refilled with NaNs before every call, and
//	               sentinel guards around the outputs; with an in-place
//	               residual run (res == out0) where the epilogue allows it;
//	               writes DIR/NAME.out (out0, out1).
//	wt bench REPS [coldw] [FILTER]  times every kernel over a whole image.
//
//go:embed testdata/driver.go.txt
var driverSrc string

// TestDriverSource: the driver is a gofmt-clean Go file of package main.
func TestDriverSource(t *testing.T) {
	if err := gotmpl.Check("driver.go.txt", []byte(driverSrc)); err != nil {
		t.Error(err)
	}
	if !strings.HasPrefix(driverSrc, "package main\n") {
		t.Error("driver.go.txt: not package main")
	}
}

package runtime

import (
	"math"
	"math/rand"
	"testing"
)

type wgCase struct{ ic, oc, h, w, pt, pb, pl, pr int }

// directConv is a plain CHW convolution (3×3, stride 1) in float64 with an
// HWIO kernel.
func directConv(c wgCase, x []float32, k []float32) []float64 {
	oh, ow := c.h+c.pt+c.pb-2, c.w+c.pl+c.pr-2
	y := make([]float64, c.oc*oh*ow)
	for o := 0; o < c.oc; o++ {
		for p := 0; p < oh; p++ {
			for q := 0; q < ow; q++ {
				s := 0.0
				for r := 0; r < 3; r++ {
					ih := p - c.pt + r
					if ih < 0 || ih >= c.h {
						continue
					}
					for t := 0; t < 3; t++ {
						iw := q - c.pl + t
						if iw < 0 || iw >= c.w {
							continue
						}
						for i := 0; i < c.ic; i++ {
							s += float64(x[(i*c.h+ih)*c.w+iw]) * float64(k[((r*3+t)*c.ic+i)*c.oc+o])
						}
					}
				}
				y[(o*oh+p)*ow+q] = s
			}
		}
	}
	return y
}

// winogradConv runs WinogradConv on a CHW input and returns CHW.
func winogradConv(c wgCase, x []float32, u []float32) []float64 {
	hwc := make([]float32, len(x))
	for i := 0; i < c.ic; i++ {
		for p := 0; p < c.h*c.w; p++ {
			hwc[p*c.ic+i] = x[i*c.h*c.w+p]
		}
	}
	y := WinogradConv(hwc, c.h, c.w, c.ic, u, c.oc, [4]int{c.pt, c.pb, c.pl, c.pr})
	oh, ow := c.h+c.pt+c.pb-2, c.w+c.pl+c.pr-2
	chw := make([]float64, len(y))
	for o := 0; o < c.oc; o++ {
		for p := 0; p < oh*ow; p++ {
			chw[o*oh*ow+p] = y[p*c.oc+o]
		}
	}
	return chw
}

func TestPackWinograd(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, c := range []wgCase{
		{16, 16, 4, 4, 1, 1, 1, 1},
		{3, 5, 7, 9, 1, 1, 1, 1},
		{20, 40, 13, 6, 0, 2, 2, 0},
		{64, 32, 8, 8, 2, 2, 2, 2},
		{17, 33, 5, 11, 0, 0, 0, 0},
		{8, 24, 1, 1, 1, 1, 1, 1},
	} {
		x := make([]float32, c.ic*c.h*c.w)
		for i := range x {
			x[i] = float32(rng.Float64()*2 - 1)
		}
		k := make([]float32, 9*c.ic*c.oc)
		for i := range k {
			k[i] = float32(rng.Float64()*2 - 1)
		}
		u := PackWinograd(k, c.ic, c.oc)
		sh := WinogradShape(c.ic, c.oc)
		if len(u) != NumElements(sh) || sh[1] != 36 || sh[3] != 16 || sh[0]*16 < c.oc || sh[2] < c.ic || sh[2]%16 != 0 {
			t.Fatalf("%+v: shape %v, %d values", c, sh, len(u))
		}
		// Padding channels are zero.
		for ob := 0; ob < sh[0]; ob++ {
			for xi := 0; xi < 36; xi++ {
				for i := 0; i < sh[2]; i++ {
					for o := 0; o < 16; o++ {
						if (i >= c.ic || ob*16+o >= c.oc) && u[((ob*36+xi)*sh[2]+i)*16+o] != 0 {
							t.Fatalf("%+v: padding element (%d,%d,%d,%d) is not zero", c, ob, xi, i, o)
						}
					}
				}
			}
		}
		want := directConv(c, x, k)
		got := winogradConv(c, x, u)
		maxRef, maxDiff := 0.0, 0.0
		for i := range want {
			maxRef = math.Max(maxRef, math.Abs(want[i]))
			maxDiff = math.Max(maxDiff, math.Abs(got[i]-want[i]))
		}
		if maxDiff > 1e-5*maxRef || math.IsNaN(maxDiff) {
			t.Errorf("%+v: max |winograd - direct| = %g, max |direct| = %g", c, maxDiff, maxRef)
		}
	}
}

func TestPackWinogradPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("PackWinograd accepted a kernel of the wrong size")
		}
	}()
	PackWinograd(make([]float32, 10), 2, 2)
}

func TestWinogradSizes(t *testing.T) {
	for _, c := range []struct {
		ic, oc, h, w, th, tw, rows int
	}{
		{64, 64, 56, 56, 14, 14, 2},   // U 576 KiB: stays in L2
		{128, 128, 28, 28, 7, 7, 7},   // U 2.25 MiB: one strip per call
		{256, 256, 14, 14, 4, 4, 4},   // U 9 MiB
		{512, 512, 7, 7, 2, 2, 2},     // U 36 MiB
		{256, 256, 56, 56, 14, 14, 3}, // workspace cap (2 MiB)
		{16, 16, 1, 1, 1, 1, 1},
	} {
		th, tw := WinogradTiles(c.h, c.w, 1, 1, 1, 1)
		r := WinogradStripRows(c.ic, c.oc, c.h, c.w, 1, 1, 1, 1)
		if th != c.th || tw != c.tw || r != c.rows {
			t.Errorf("%+v: tiles %dx%d, strip rows %d", c, th, tw, r)
		}
		ws := WinogradWorkspace(c.ic, c.oc, c.h, c.w, 1, 1, 1, 1)
		s := r * tw
		if want := 36*s*((c.ic+15)/16*16) + 36*min(4, (c.oc+15)/16)*s*16; ws != want {
			t.Errorf("%+v: workspace %d, want %d", c, ws, want)
		}
		if r > 2 && 4*ws > 2<<20 {
			t.Errorf("%+v: workspace %d bytes exceeds 2 MiB", c, 4*ws)
		}
	}
}

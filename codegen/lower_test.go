package codegen

import (
	"os"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
)

// inBounds counts the (output pixel, kernel tap) pairs of a k×k conv with
// stride s and padding pad (top and left) on an h×h map whose input pixel
// lies inside the map, by enumeration.
func inBounds(h, k, s, pad, oh int) int64 {
	var n int64
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < oh; ox++ {
			for ky := 0; ky < k; ky++ {
				for kx := 0; kx < k; kx++ {
					y, x := oy*s-pad+ky, ox*s-pad+kx
					if y >= 0 && y < h && x >= 0 && x < h {
						n++
					}
				}
			}
		}
	}
	return n
}

// TestConvFlops: a conv step is credited 2 × the multiply-adds its kernel
// executes — padding taps skipped — on every target, so that bench's
// "% of peak" cannot pass 100% on a direct convolution. A 3×3 'same' conv
// on a 7×7 map executes 361 of its 441 taps per channel pair.
func TestConvFlops(t *testing.T) {
	src := `model m(input_shape = [7, 7, 5]) {
    img = Input(shape = input_shape)
    x = Conv2D(img, 6, 3, padding = "same", name = "c3")
    x = ZeroPadding2D(x, padding = 3, name = "pad7")
    x = Conv2D(x, 4, 7, strides = 2, name = "c7")
    x = GlobalAveragePooling2D(x)
    return Model(img, x)
}
`
	if got := inBounds(7, 3, 1, 1, 7); got != 361 {
		t.Fatalf("enumeration: %d taps, want 19×19 = 361", got)
	}
	want := map[string]int64{
		"c3": 2 * inBounds(7, 3, 1, 1, 7) * 5 * 6,
		"c7": 2 * inBounds(7, 7, 2, 3, 4) * 6 * 4,
	}
	for _, target := range []passes.Target{passes.AVX512, passes.AVX2, passes.Generic} {
		g, err := dsl.Load("m.rn", dsl.Options{ReadFile: func(p string) ([]byte, error) {
			if p == "m.rn" {
				return []byte(src), nil
			}
			return nil, os.ErrNotExist
		}})
		if err != nil {
			t.Fatal(err)
		}
		if err := passes.Run(g, passes.Config{Target: target}); err != nil {
			t.Fatal(err)
		}
		l, err := lower(g, string(target))
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, s := range l.plan.Steps {
			if s.Kind != runtime.OpConv {
				continue
			}
			for name, w := range want {
				if strings.Contains(s.Name, name) {
					seen++
					if s.Flops != w {
						t.Errorf("%s: step %s: %d FLOPs, want %d", target, s.Name, s.Flops, w)
					}
				}
			}
		}
		if seen != len(want) {
			t.Errorf("%s: found %d of the %d conv steps", target, seen, len(want))
		}
	}
}

// dilatedTapsByEnumeration counts the (output pixel, kernel tap) pairs of a
// dilated conv whose input pixel lies inside the map.
func dilatedTapsByEnumeration(s *runtime.Step) int64 {
	var n int64
	x := s.In[0]
	for oy := 0; oy < s.OH(); oy++ {
		for ox := 0; ox < s.OW(); ox++ {
			for ky := 0; ky < s.KH; ky++ {
				for kx := 0; kx < s.KW; kx++ {
					y, xx := oy*s.SH-s.Pad[0]+ky*s.DH, ox*s.SW-s.Pad[2]+kx*s.DW
					if y >= 0 && y < x.H && xx >= 0 && xx < x.W {
						n++
					}
				}
			}
		}
	}
	return n
}

// TestDilatedLowering: on every target, a dilated conv's step carries its
// dilation and runs the portable Go kernel (the assembly kernels take
// adjacent taps only; Winograd is not chosen), credited with the
// multiply-adds it executes.
func TestDilatedLowering(t *testing.T) {
	want := map[string][2]int{"d2_same": {2, 2}, "d23_valid": {2, 3}, "d2_s2_same": {2, 2}, "d32_s2_same": {3, 2}, "d3_s2_valid": {3, 3}}
	for _, target := range append(allTargets, passes.Generic) {
		g := loadModel(t, "dilated", nil)
		if err := passes.Run(g, passes.Config{Target: target, Check: true}); err != nil {
			t.Fatal(err)
		}
		l, err := lower(g, string(target))
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for i := range l.plan.Steps {
			s := &l.plan.Steps[i]
			if s.Kind != runtime.OpConv {
				continue
			}
			for name, d := range want {
				if !strings.Contains(s.Name, name) {
					continue
				}
				seen++
				if [2]int{s.DH, s.DW} != d {
					t.Errorf("%s: step %s: dilation %dx%d, want %dx%d", target, s.Name, s.DH, s.DW, d[0], d[1])
				}
				if _, _, _, ok := convKernel(target, s); ok || s.Winograd {
					t.Errorf("%s: step %s: a compiled kernel (winograd %v) for a dilated conv", target, s.Name, s.Winograd)
				}
				if w := 2 * dilatedTapsByEnumeration(s) * int64(s.In[0].C) * int64(s.Out[0].C); s.Flops != w {
					t.Errorf("%s: step %s: %d FLOPs, want %d", target, s.Name, s.Flops, w)
				}
				// the same step undilated has a compiled kernel where the
				// target has conv kernels (and its pads are smaller than the
				// kernel, as the kernels need): only the dilation declines it
				u := *s
				u.DH, u.DW = 0, 0
				if max(u.Pad[0], u.Pad[1]) >= u.KH || max(u.Pad[2], u.Pad[3]) >= u.KW {
					continue
				}
				if _, _, _, ok := convKernel(target, &u); ok != (target != passes.Generic) {
					t.Errorf("%s: step %s undilated: compiled kernel %v", target, s.Name, ok)
				}
			}
		}
		if seen != len(want) {
			t.Errorf("%s: found %d of the %d dilated conv steps", target, seen, len(want))
		}
	}
}

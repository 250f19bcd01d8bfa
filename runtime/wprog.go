package runtime

import (
	"fmt"
	"math"
	"runtime"
)

// WStep is one step of a weight program: the symbolic record of what the
// compiler's passes did to the weights (fold batch norms, pack kernels into
// blocked layouts), executed once at load time. Steps refer to earlier
// steps by index.
type WStep struct {
	Op     string // load, bnscale, bnshift, scaleout, scalein, affine, matvecadd, zeros, pack
	Name   string // load: the tensor's name in the weight file
	Args   []int
	Eps    float64 // bnscale
	Layout string  // pack: OIhw16i16o, OIhw8i8o, Ohwi16o, Ohwi8o, OI16o, OI8o, c16, c8, wino16, OIhw4i16o4i
	Groups int     // groupexpand: the kernel's groups
	To     int     // groupexpand: the result's groups (0 or 1: dense)
	Shape  []int   // the step's result shape
	// DType is a load's element type (zero: f32): the program computes in
	// float32, which holds s8 and u8 values exactly.
	DType DType
}

// RunWeightProgram executes prog on the tensors of a weight file. It first
// checks that the file holds exactly the tensors the program loads, with
// the right shapes, and that every value it reads is finite. It returns one
// tensor per step; when keep is not nil, only the steps with keep[i] set
// are returned (the others are nil) and every other tensor is released as
// soon as its last reader has run, so the program's peak memory stays near
// the size of its results.
func RunWeightProgram(prog []WStep, file *Weights, keep []bool) ([][]float32, error) {
	var want []TensorSpec
	for _, s := range prog {
		if s.Op == "load" {
			want = append(want, TensorSpec{Name: s.Name, Shape: s.Shape, DType: s.DType})
		}
	}
	if err := file.Check(want); err != nil {
		return nil, err
	}
	last := make([]int, len(prog)) // the last step reading each step
	for i, s := range prog {
		last[i] = i
		for _, a := range s.Args {
			if a >= 0 && a < i {
				last[a] = i
			}
		}
	}
	kept := func(i int) bool { return keep == nil || keep[i] }
	out := make([][]float32, len(prog))
	owned := make([]bool, len(prog)) // out[i] is ours to modify or drop
	var freed int
	for i, s := range prog {
		for _, a := range s.Args {
			if a < 0 || a >= i {
				return nil, fmt.Errorf("weight program step %d (%s) uses step %d", i, s.Op, a)
			}
		}
		if s.Op == "load" {
			t := file.Tensors[s.Name]
			data, err := file.Floats(s.Name)
			if err != nil {
				return nil, err
			}
			if err := checkFinite(s.Name, data); err != nil {
				return nil, fmt.Errorf("weights do not match the model: %w", err)
			}
			out[i], owned[i] = data, t.Data == nil
			continue
		}
		// An elementwise step may overwrite its first argument when it is
		// the argument's last reader and the buffer is ours.
		inPlace := len(s.Args) > 0 && owned[s.Args[0]] && last[s.Args[0]] == i && !kept(s.Args[0]) &&
			(s.Op == "scaleout" || s.Op == "scalein" || s.Op == "affine" || s.Op == "bnshift")
		r, err := runStep(s, prog, out, inPlace)
		if err != nil {
			return nil, fmt.Errorf("weight program step %d (%s): %w", i, s.Op, err)
		}
		if len(r) != NumElements(s.Shape) {
			return nil, fmt.Errorf("weight program step %d (%s) made %d values for shape %v", i, s.Op, len(r), s.Shape)
		}
		out[i], owned[i] = r, true
		for _, a := range s.Args {
			if last[a] == i && !kept(a) && out[a] != nil {
				if owned[a] && (!inPlace || a != s.Args[0]) {
					freed += len(out[a])
				}
				out[a] = nil
			}
		}
		if freed > 1<<20 { // 4 MiB of garbage: collect it before allocating more (keeps the peak RSS near the result size)
			runtime.GC()
			freed = 0
		}
	}
	for i := range out {
		if !kept(i) {
			out[i] = nil
		}
	}
	return out, nil
}

// CheckVariance reports the first channel of a batch normalization whose
// variance plus epsilon is not positive: the rule the weight program's
// bnscale step applies at load (the reference interpreter, ir/interp,
// applies it with its own code and the same message: TestBadVariance).
func CheckVariance(variance []float32, eps float64) error {
	for i, v := range variance {
		if d := float64(v) + eps; !(d > 0) {
			return fmt.Errorf("variance %v + eps %v is not positive at channel %d", v, eps, i)
		}
	}
	return nil
}

// runStep computes one step; with inPlace it may write its result over its
// first argument.
func runStep(s WStep, prog []WStep, vals [][]float32, inPlace bool) ([]float32, error) {
	result := func(n int) []float32 {
		if inPlace && len(vals[s.Args[0]]) == n {
			return vals[s.Args[0]]
		}
		return make([]float32, n)
	}
	arg := func(i int) []float32 { return vals[s.Args[i]] }
	shape := func(i int) []int { return prog[s.Args[i]].Shape }
	want := func(n int) error {
		if len(s.Args) != n {
			return fmt.Errorf("takes %d arguments, got %d", n, len(s.Args))
		}
		return nil
	}
	switch s.Op {
	case "load":
		return nil, fmt.Errorf("load handled by caller")
	case "bnscale":
		if err := want(2); err != nil {
			return nil, err
		}
		g, v := arg(0), arg(1)
		if len(g) != len(v) {
			return nil, fmt.Errorf("gamma and variance lengths %d and %d differ", len(g), len(v))
		}
		if err := CheckVariance(v, s.Eps); err != nil {
			return nil, err
		}
		r := make([]float32, len(g))
		for i := range r {
			r[i] = float32(float64(g[i]) / math.Sqrt(float64(v[i])+s.Eps))
		}
		return r, nil
	case "bnshift", "affine":
		if err := want(3); err != nil {
			return nil, err
		}
		a, b, c := arg(0), arg(1), arg(2)
		if len(a) != len(b) || len(a) != len(c) {
			return nil, fmt.Errorf("vector lengths %d, %d, %d differ", len(a), len(b), len(c))
		}
		r := result(len(a))
		for i := range r {
			if s.Op == "bnshift" { // beta - mean*scale
				r[i] = float32(float64(a[i]) - float64(b[i])*float64(c[i]))
			} else { // b*s + t
				r[i] = float32(float64(a[i])*float64(b[i]) + float64(c[i]))
			}
		}
		return r, nil
	case "scaleout", "scalein":
		if err := want(2); err != nil {
			return nil, err
		}
		w, sc := arg(0), arg(1)
		ks := shape(0)
		if len(ks) < 1 {
			return nil, fmt.Errorf("kernel has no axes")
		}
		o := ks[len(ks)-1]
		if o == 0 {
			return []float32{}, nil
		}
		r := result(len(w))
		if s.Op == "scaleout" {
			if len(sc) != o {
				return nil, fmt.Errorf("scale has %d values for %d output channels", len(sc), o)
			}
			for i := range w {
				r[i] = float32(float64(w[i]) * float64(sc[i%o]))
			}
			return r, nil
		}
		if len(ks) < 2 || len(sc) != ks[len(ks)-2] {
			return nil, fmt.Errorf("scale has %d values for kernel %v", len(sc), ks)
		}
		in := ks[len(ks)-2]
		for i := range w {
			r[i] = float32(float64(w[i]) * float64(sc[(i/o)%in]))
		}
		return r, nil
	case "matvecadd":
		if err := want(3); err != nil {
			return nil, err
		}
		w, t, b := arg(0), arg(1), arg(2)
		ks := shape(0)
		if len(ks) < 2 || ks[len(ks)-2] != len(t) || ks[len(ks)-1] != len(b) {
			return nil, fmt.Errorf("kernel %v does not map %d inputs to %d outputs", ks, len(t), len(b))
		}
		in, o := len(t), len(b)
		acc := make([]float64, o)
		for i := range acc {
			acc[i] = float64(b[i])
		}
		for i, x := range w {
			acc[i%o] += float64(x) * float64(t[(i/o)%in])
		}
		r := make([]float32, o)
		for i := range r {
			r[i] = float32(acc[i])
		}
		return r, nil
	case "zeros":
		return make([]float32, NumElements(s.Shape)), nil
	case "pack":
		if err := want(1); err != nil {
			return nil, err
		}
		return Pack(s.Layout, arg(0), shape(0))
	case "groupexpand":
		if err := want(1); err != nil {
			return nil, err
		}
		return GroupExpand(arg(0), shape(0), s.Groups, s.To)
	case "scaleby":
		if err := want(2); err != nil {
			return nil, err
		}
		v, f := arg(0), arg(1)
		if len(f) != 1 {
			return nil, fmt.Errorf("the factor has %d values, want 1", len(f))
		}
		r := result(len(v))
		for i, x := range v {
			r[i] = x * f[0] // one float32 multiply (the interpreter's float64 product, rounded, is the same)
		}
		return r, nil
	}
	return nil, fmt.Errorf("unknown weight operation %q", s.Op)
}

// GroupExpand returns the HWIO kernel [kh, kw, C/to, O] of a convolution
// in to groups (1: dense) equal to the convolution of groups groups whose
// kernel w is [kh, kw, C/groups, O] (to divides groups): output channel o
// reads its old group o/(O/groups)'s inputs only, zeros elsewhere.
func GroupExpand(w []float32, shape []int, groups, to int) ([]float32, error) {
	to = max(to, 1)
	if len(shape) != 4 || groups < 1 || shape[3]%groups != 0 || groups%to != 0 || NumElements(shape) != len(w) {
		return nil, fmt.Errorf("groupexpand: %d values of shape %v in %d groups to %d", len(w), shape, groups, to)
	}
	taps, cg, o := shape[0]*shape[1], shape[2], shape[3]
	og, per := o/groups, groups/to
	if int64(taps)*int64(cg)*int64(per)*int64(o) > math.MaxInt32 {
		return nil, fmt.Errorf("groupexpand: kernel %v in %d groups is too large", shape, groups)
	}
	r := make([]float32, taps*cg*per*o)
	for t := 0; t < taps; t++ {
		for g := 0; g < groups; g++ {
			at := g % per // g's place in its new group
			for i := 0; i < cg; i++ {
				copy(r[(t*cg*per+at*cg+i)*o+g*og:][:og], w[(t*cg+i)*o+g*og:][:og])
			}
		}
	}
	return r, nil
}

// packFamily returns the block and family of a packed layout.
func packFamily(layout string) (int, string, error) {
	switch layout {
	case "OIhw16i16o":
		return 16, "OIhw", nil
	case "OIhw8i8o":
		return 8, "OIhw", nil
	case "Ohwi16o":
		return 16, "Ohwi", nil
	case "Ohwi8o":
		return 8, "Ohwi", nil
	case "OI16o":
		return 16, "OI", nil
	case "OI8o":
		return 8, "OI", nil
	case "c16":
		return 16, "c", nil
	case "c8":
		return 8, "c", nil
	case "wino16":
		return 16, "wino", nil
	case "OIhw4i16o4i":
		return U8Block, "OIhw4", nil
	}
	return 0, "", fmt.Errorf("unknown packed layout %q", layout)
}

// Pack rearranges a kernel (HWIO [kh,kw,in,out], or [in,out] for Dense, or
// a [c] vector) into a blocked layout, zero-filling channels past the ends:
//
//	OIhwBiBo: [ceil(O/B)][ceil(I/B)][kh][kw][B i][B o]
//	OhwiBo:   [ceil(O/B)][kh][kw][I][B o]
//	OIBo:     [ceil(O/B)][I][B o]
//	cB:       [ceil(C/B)*B]
func Pack(layout string, w []float32, shape []int) ([]float32, error) {
	b, fam, err := packFamily(layout)
	if err != nil {
		return nil, err
	}
	if NumElements(shape) != len(w) {
		return nil, fmt.Errorf("pack: %d values for shape %v", len(w), shape)
	}
	up := func(n int) int { return (n + b - 1) / b }
	switch fam {
	case "wino":
		if len(shape) != 4 || shape[0] != 3 || shape[1] != 3 {
			return nil, fmt.Errorf("pack %s: want a 3x3 HWIO kernel, got shape %v", layout, shape)
		}
		return PackWinograd(w, shape[2], shape[3]), nil
	case "c":
		if len(shape) != 1 {
			return nil, fmt.Errorf("pack %s: want a vector, got shape %v", layout, shape)
		}
		r := make([]float32, up(shape[0])*b)
		copy(r, w)
		return r, nil
	case "OI":
		if len(shape) != 2 {
			return nil, fmt.Errorf("pack %s: want [in,out], got shape %v", layout, shape)
		}
		in, o := shape[0], shape[1]
		r := make([]float32, up(o)*in*b)
		for i := 0; i < in; i++ {
			for oc := 0; oc < o; oc++ {
				r[((oc/b)*in+i)*b+oc%b] = w[i*o+oc]
			}
		}
		return r, nil
	}
	if len(shape) != 4 {
		return nil, fmt.Errorf("pack %s: want an HWIO kernel, got shape %v", layout, shape)
	}
	kh, kw, in, o := shape[0], shape[1], shape[2], shape[3]
	var r []float32
	if fam == "OIhw4" { // an int8 kernel's codes, as float32 (S8Index)
		r = make([]float32, up(o)*up(in)*kh*kw*b*b)
		for h := 0; h < kh; h++ {
			for x := 0; x < kw; x++ {
				for i := 0; i < in; i++ {
					for oc, v := range w[((h*kw+x)*in+i)*o:][:o] {
						r[S8Index(kh, kw, up(in), h, x, i, oc)] = v
					}
				}
			}
		}
		return r, nil
	}
	if fam == "OIhw" {
		r = make([]float32, up(o)*up(in)*kh*kw*b*b)
	} else {
		r = make([]float32, up(o)*kh*kw*in*b)
	}
	for h := 0; h < kh; h++ {
		for x := 0; x < kw; x++ {
			for i := 0; i < in; i++ {
				for oc := 0; oc < o; oc++ {
					v := w[((h*kw+x)*in+i)*o+oc]
					var at int
					if fam == "OIhw" {
						at = ((((oc/b)*up(in)+i/b)*kh+h)*kw+x)*b*b + (i%b)*b + oc%b
					} else {
						at = (((oc/b)*kh+h)*kw+x)*in*b + i*b + oc%b
					}
					r[at] = v
				}
			}
		}
	}
	return r, nil
}

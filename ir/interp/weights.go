package interp

import (
	"fmt"
	"math"

	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/runtime"
)

// The interpreter's own evaluation of the weight program (ir/weights.go):
// every expression is computed here, in float64 from the file's float32
// tensors, and each requested weight is rounded to float32 once. Nothing
// is shared with the runtime's weight program (runtime/wprog.go), which a
// differential test compares with this (codegen TestWeightProgramMatchesInterp).

// EvalWeights returns the values of the weights ws of g's weight program,
// computed from the tensors of file (which must hold exactly the tensors
// the program loads, with their shapes and finite values).
func EvalWeights(g *ir.Graph, file *runtime.Weights, ws []*ir.Weight) ([][]float32, error) {
	vals, err := evalWeights(g, file, ws)
	if err != nil {
		return nil, err
	}
	out := make([][]float32, len(ws))
	for i, w := range ws {
		out[i] = vals[w]
	}
	return out, nil
}

// logical returns the weight whose value is w's in its logical (Keras)
// layout: a packed weight's argument, else w. The interpreter computes
// with logical weights; packing only rearranges them for the kernels.
func logical(w *ir.Weight) *ir.Weight {
	if w != nil && w.Op == ir.WPack && len(w.Args) == 1 {
		return w.Args[0]
	}
	return w
}

// evaluator computes weights on demand. A value with several readers is
// kept until its last reader has run, so that no more than the results and
// the values in flight are held at once.
type evaluator struct {
	file *runtime.Weights
	left map[*ir.Weight]int // readers still to come
	memo map[*ir.Weight][]float64
	read map[*ir.Weight]bool // file tensors read
}

// evalWeights checks file against g's file tensors and evaluates roots.
func evalWeights(g *ir.Graph, file *runtime.Weights, roots []*ir.Weight) (map[*ir.Weight][]float32, error) {
	if file == nil {
		return nil, fmt.Errorf("no weights")
	}
	var want []runtime.TensorSpec
	for _, w := range g.Weights.Files() {
		want = append(want, runtime.TensorSpec{Name: w.Name, Shape: w.Shape, DType: w.DType})
	}
	if err := file.Check(want); err != nil {
		return nil, err
	}
	e := &evaluator{file: file, left: map[*ir.Weight]int{}, memo: map[*ir.Weight][]float64{}, read: map[*ir.Weight]bool{}}
	seen := map[*ir.Weight]bool{}
	var count func(w *ir.Weight)
	count = func(w *ir.Weight) {
		if seen[w] {
			return
		}
		seen[w] = true
		for _, a := range w.Args {
			if a != nil {
				e.left[a]++
				count(a)
			}
		}
	}
	out := map[*ir.Weight][]float32{}
	isRoot := map[*ir.Weight]bool{}
	var computed []*ir.Weight
	for _, r := range roots {
		if r == nil || isRoot[r] {
			continue
		}
		isRoot[r] = true
		if r.Op == ir.WLoad { // the file's tensor itself, read-only
			v, err := e.file.Floats(r.Name)
			if err != nil {
				return nil, err
			}
			if err := checkFinite(r.Name, v); err != nil {
				return nil, err
			}
			e.read[r], out[r] = true, v
			continue
		}
		computed = append(computed, r)
		e.left[r]++
		count(r)
	}
	for _, r := range computed {
		v, err := e.get(r)
		if err != nil {
			return nil, err
		}
		f := make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
		out[r] = f
	}
	// The generated package reads every file tensor, used or not: refuse
	// the same non-finite values (tensors already in memory were checked
	// by Check).
	for _, w := range g.Weights.Files() {
		if t := file.Tensors[w.Name]; !e.read[w] && t.Data == nil {
			if _, err := e.load(w); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// get returns w's value, computing it unless a reader before this one
// did. The value must not be modified.
func (e *evaluator) get(w *ir.Weight) ([]float64, error) {
	v, ok := e.memo[w]
	if !ok {
		var err error
		if v, err = e.compute(w); err != nil {
			return nil, err
		}
		if len(v) != numElements(w.Shape) {
			return nil, fmt.Errorf("weight %s: %d values for shape %v", w, len(v), w.Shape)
		}
	}
	e.left[w]--
	if e.left[w] > 0 {
		e.memo[w] = v
	} else {
		delete(e.memo, w)
	}
	return v, nil
}

func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// load reads a file tensor, checking that its values are finite.
func (e *evaluator) load(w *ir.Weight) ([]float64, error) {
	e.read[w] = true
	data, err := e.file.Floats(w.Name)
	if err != nil {
		return nil, err
	}
	if err := checkFinite(w.Name, data); err != nil {
		return nil, err
	}
	v := make([]float64, len(data))
	for i, x := range data {
		v[i] = float64(x)
	}
	return v, nil
}

// checkFinite reports the first NaN or infinity of a file tensor.
func checkFinite(name string, data []float32) error {
	for i, x := range data {
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("weights do not match the model: tensor %q holds a non-finite value %v at flat index %d", name, x, i)
		}
	}
	return nil
}

// checkVariance reports the first channel of a batch normalization whose
// variance plus epsilon is not positive (the message is the runtime's:
// validate_test.go TestBadVariance holds the two to it).
func checkVariance(variance []float64, eps float64) error {
	for i, v := range variance {
		if d := v + eps; !(d > 0) {
			return fmt.Errorf("variance %v + eps %v is not positive at channel %d", float32(v), eps, i)
		}
	}
	return nil
}

// compute evaluates one weight from its arguments.
func (e *evaluator) compute(w *ir.Weight) ([]float64, error) {
	if w.Op == ir.WLoad {
		return e.load(w)
	}
	if w.Op != ir.WZeros && len(w.Args) != w.Op.Info().Arity {
		return nil, fmt.Errorf("weight %s: %d arguments, want %d", w, len(w.Args), w.Op.Info().Arity)
	}
	args := make([][]float64, len(w.Args))
	for i, a := range w.Args {
		if a == nil {
			return nil, fmt.Errorf("weight %s: missing argument %d", w.Name, i)
		}
		v, err := e.get(a)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	r, err := apply(w, args)
	if err != nil {
		return nil, fmt.Errorf("weight %s: %w", w, err)
	}
	return r, nil
}

// apply computes w's operation on its arguments' values, in float64.
func apply(w *ir.Weight, args [][]float64) ([]float64, error) {
	sameLen := func() (int, error) {
		n := len(args[0])
		for _, a := range args[1:] {
			if len(a) != n {
				return 0, fmt.Errorf("vector lengths %d and %d differ", n, len(a))
			}
		}
		return n, nil
	}
	switch w.Op {
	case ir.WBNScale: // gamma / sqrt(variance + eps)
		n, err := sameLen()
		if err != nil {
			return nil, err
		}
		if err := checkVariance(args[1], w.Eps); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", w.Args[1].Name, err)
		}
		r := make([]float64, n)
		for i := range r {
			r[i] = args[0][i] / math.Sqrt(args[1][i]+w.Eps)
		}
		return r, nil
	case ir.WBNShift, ir.WAffine: // beta - mean*scale; b*s + t
		n, err := sameLen()
		if err != nil {
			return nil, err
		}
		r := make([]float64, n)
		for i := range r {
			if w.Op == ir.WBNShift {
				r[i] = args[0][i] - args[1][i]*args[2][i]
			} else {
				r[i] = args[0][i]*args[1][i] + args[2][i]
			}
		}
		return r, nil
	case ir.WScaleOut, ir.WScaleIn: // w[..., o]*s[o]; w[..., i, o]*s[i]
		ks := w.Args[0].Shape
		if len(ks) < 2 {
			return nil, fmt.Errorf("kernel shape %v has fewer than 2 axes", ks)
		}
		in, o := ks[len(ks)-2], ks[len(ks)-1]
		k, s := args[0], args[1]
		if len(k) != numElements(ks) {
			return nil, fmt.Errorf("kernel has %d values for shape %v", len(k), ks)
		}
		if w.Op == ir.WScaleOut && len(s) != o || w.Op == ir.WScaleIn && len(s) != in {
			return nil, fmt.Errorf("scale of %d values for kernel %v", len(s), ks)
		}
		r := make([]float64, len(k))
		for i := range r {
			if w.Op == ir.WScaleOut {
				r[i] = k[i] * s[i%o]
			} else {
				r[i] = k[i] * s[i/o%in]
			}
		}
		return r, nil
	case ir.WMatVecAdd: // b[o] + sum of w[..., i, o]*t[i]
		ks := w.Args[0].Shape
		k, t, b := args[0], args[1], args[2]
		if len(ks) < 2 || ks[len(ks)-2] != len(t) || ks[len(ks)-1] != len(b) || len(k) != numElements(ks) {
			return nil, fmt.Errorf("kernel %v does not map %d inputs to %d outputs", ks, len(t), len(b))
		}
		in, o := len(t), len(b)
		r := append([]float64(nil), b...)
		for i, x := range k {
			r[i%o] += x * t[i/o%in]
		}
		return r, nil
	case ir.WZeros:
		return make([]float64, numElements(w.Shape)), nil
	case ir.WPack:
		return pack(w.Layout, args[0], w.Args[0].Shape)
	case ir.WGroupExpand: // [kh, kw, C/T, O]: output channel f reads its old group's inputs only
		k := w.Args[0].Shape
		taps, cg, o, g, to := k[0]*k[1], k[2], k[3], w.Groups, max(w.To, 1)
		per := g / to // old groups in a new one
		r := make([]float64, taps*cg*per*o)
		for t := 0; t < taps; t++ {
			for f := 0; f < o; f++ {
				at := f / (o / g) % per // f's old group's place in its new group
				for c := 0; c < cg; c++ {
					r[(t*cg*per+at*cg+c)*o+f] = args[0][(t*cg+c)*o+f]
				}
			}
		}
		return r, nil
	case ir.WScaleBy: // v[i]·s[0], rounded to float32 as the runtime's float32 product is
		if len(args[1]) != 1 {
			return nil, fmt.Errorf("the factor has %d values, want 1", len(args[1]))
		}
		r := make([]float64, len(args[0]))
		for i, x := range args[0] {
			r[i] = float64(float32(x * args[1][0]))
		}
		return r, nil
	}
	return nil, fmt.Errorf("unknown weight operation %s", w.Op)
}

// pack rearranges a logical weight — an HWIO kernel [kh, kw, I, O], a
// Dense kernel [I, O] or a vector [C] — into a packed layout (ir/weights.go
// PackedShape), channels past the ends zero:
//
//	OIhwBiBo [O/B][I/B][kh][kw][B i][B o]; OhwiBo [O/B][kh][kw][I][B o];
//	OIBo [O/B][I][B o]; cB [C/B·B]; wino16 [O/16][36][I/16·16][16 o],
//	the Winograd F(4×4, 3×3) weights U = G g Gᵀ of every 3×3 kernel g.
func pack(layout string, v []float64, shape []int) ([]float64, error) {
	b, fam, ok := ir.PackBlock(layout)
	if !ok {
		return nil, fmt.Errorf("unknown packed layout %q", layout)
	}
	if len(v) != numElements(shape) {
		return nil, fmt.Errorf("%d values for shape %v", len(v), shape)
	}
	ps, err := ir.PackedShape(layout, shape)
	if err != nil {
		return nil, err
	}
	r := make([]float64, numElements(ps))
	up := func(n int) int { return (n + b - 1) / b }
	switch fam {
	case "c":
		copy(r, v)
	case "OI":
		in, o := shape[0], shape[1]
		for i := 0; i < in; i++ {
			for oc := 0; oc < o; oc++ {
				r[(oc/b*in+i)*b+oc%b] = v[i*o+oc]
			}
		}
	case "OIhw", "Ohwi":
		kh, kw, in, o := shape[0], shape[1], shape[2], shape[3]
		for h := 0; h < kh; h++ {
			for x := 0; x < kw; x++ {
				for i := 0; i < in; i++ {
					for oc := 0; oc < o; oc++ {
						var at int
						if fam == "OIhw" {
							at = (((oc/b*up(in)+i/b)*kh+h)*kw+x)*b*b + i%b*b + oc%b
						} else {
							at = ((oc/b*kh+h)*kw+x)*in*b + i*b + oc%b
						}
						r[at] = v[((h*kw+x)*in+i)*o+oc]
					}
				}
			}
		}
	case "OIhw4": // [O/16][I/16][kh][kw][4 groups of i][16 o][4 i of the group]
		kh, kw, in, o := shape[0], shape[1], shape[2], shape[3]
		for h := 0; h < kh; h++ {
			for x := 0; x < kw; x++ {
				for i := 0; i < in; i++ {
					for oc := 0; oc < o; oc++ {
						at := ((((oc/b*up(in)+i/b)*kh+h)*kw+x)*4+i%b/4)*b*4 + oc%b*4 + i%4
						r[at] = v[((h*kw+x)*in+i)*o+oc]
					}
				}
			}
		}
	case "wino":
		in, o := shape[2], shape[3]
		inp := ps[2]
		var g [3][3]float64
		for i := 0; i < in; i++ {
			for oc := 0; oc < o; oc++ {
				for y := 0; y < 3; y++ {
					for x := 0; x < 3; x++ {
						g[y][x] = v[((y*3+x)*in+i)*o+oc]
					}
				}
				u := winogradU(g)
				for xi, uv := range u {
					r[((oc/b*36+xi)*inp+i)*b+oc%b] = uv
				}
			}
		}
	default:
		return nil, fmt.Errorf("packed layout %q of family %q", layout, fam)
	}
	return r, nil
}

// winogradG is G of Winograd's F(4×4, 3×3) for the interpolation points
// 0, 1, −1, 2, −2 and ∞ (Lavin & Gray 2016): the row of a finite point p
// is (1, p, p²) / Π(p − q) over the other finite points q, the row of ∞ is
// (0, 0, 1).
var winogradG = func() (g [6][3]float64) {
	points := []float64{0, 1, -1, 2, -2}
	for a, p := range points {
		d := 1.0
		for _, q := range points {
			if q != p {
				d *= p - q
			}
		}
		g[a] = [3]float64{1 / d, p / d, p * p / d}
	}
	g[5] = [3]float64{0, 0, 1}
	return g
}()

// winogradU returns U = G g Gᵀ of a 3×3 kernel g, element (a, b) at 6a + b.
func winogradU(g [3][3]float64) (u [36]float64) {
	var gg [6][3]float64 // G g
	for a := range 6 {
		for x := range 3 {
			for k := range 3 {
				gg[a][x] += winogradG[a][k] * g[k][x]
			}
		}
	}
	for a := range 6 {
		for b := range 6 {
			for k := range 3 {
				u[a*6+b] += gg[a][k] * winogradG[b][k]
			}
		}
	}
	return u
}

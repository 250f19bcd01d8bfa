package ir

import (
	"fmt"
	"sort"
	"strings"
)

// WOp is an operation of the weight program. The program is symbolic: the
// compiler records steps, runtime (or the interpreter) executes them once,
// at load time, on the tensors of the weight file.
type WOp uint8

const (
	WLoad        WOp = iota // a tensor of the weight file, named Name
	WBNScale                // gamma / sqrt(variance + eps)
	WBNShift                // beta - mean * scale
	WScaleOut               // w[..., o] * s[o]  (scale a kernel's output channels)
	WScaleIn                // w[..., i, o] * s[i] (scale a kernel's input channels)
	WAffine                 // b * s + t, elementwise
	WMatVecAdd              // b[o] + sum over all other axes of w[..., i, o] * t[i]
	WZeros                  // a tensor of zeros
	WPack                   // w (HWIO or [in,out]) rearranged into a blocked layout
	WScaleBy                // v[i] * s[0] (a vector times a one-element tensor)
	WGroupExpand            // a grouped HWIO kernel as the kernel of the same convolution in fewer, larger groups (zeros across the old groups)
	numWOps
)

// WOpInfo describes a weight operation.
type WOpInfo struct {
	Name  string
	Arity int
	Doc   string
}

var wops = [numWOps]WOpInfo{
	WLoad:        {"load", 0, "a tensor of the weight file"},
	WBNScale:     {"bnscale", 2, "bnscale(gamma, variance) eps = gamma / sqrt(variance + eps)"},
	WBNShift:     {"bnshift", 3, "bnshift(beta, mean, scale) = beta - mean * scale"},
	WScaleOut:    {"scaleout", 2, "scaleout(w, s)[..., o] = w[..., o] * s[o]"},
	WScaleIn:     {"scalein", 2, "scalein(w, s)[..., i, o] = w[..., i, o] * s[i]"},
	WAffine:      {"affine", 3, "affine(b, s, t) = b * s + t"},
	WMatVecAdd:   {"matvecadd", 3, "matvecadd(w, t, b)[o] = b[o] + sum over h, w, i of w[h, w, i, o] * t[i]"},
	WZeros:       {"zeros", 0, "zeros : shape"},
	WPack:        {"pack", 1, "pack(w) layout = w rearranged into the named blocked layout (see PackedShape)"},
	WScaleBy:     {"scaleby", 2, "scaleby(v, s)[i] = v[i] * s[0], rounded to float32 (an int8 conv's m = s_w·s_x)"},
	WGroupExpand: {"groupexpand", 1, "groupexpand(w) groups=G to=T: w [kh, kw, C/G, O] as the [kh, kw, C/T, O] kernel of T groups (T divides G; 1: dense) in which output channel o still reads only input group o/(O/G)"},
}

func (o WOp) String() string { return wops[o].Name }

// Info returns the operation's table entry.
func (o WOp) Info() *WOpInfo { return &wops[o] }

// WOpByName finds a weight operation by name.
func WOpByName(name string) (WOp, bool) {
	for i := range wops {
		if wops[i].Name == name {
			return WOp(i), true
		}
	}
	return 0, false
}

// Weight is one value of the weight program.
type Weight struct {
	// Name is the file tensor name for WLoad ("conv1_conv/kernel"), and
	// "$N" for computed weights.
	Name   string
	Op     WOp
	Args   []*Weight
	Eps    float64 // WBNScale
	Layout string  // WPack: the packed layout, e.g. "OIhw16i16o"
	Groups int     // WGroupExpand: the kernel's groups
	To     int     // WGroupExpand: the result's groups (0 or 1: dense)
	Shape  []int
	// DType is a file tensor's element type (WLoad; zero: f32): an int8
	// kernel's codes are s8, a zero point u8. The weight program computes
	// in float32, which holds every s8 and u8 value exactly.
	DType DType
}

// WeightProgram is an ordered list of weights: file tensors and the steps
// computed from them. Every step's arguments precede it.
type WeightProgram struct {
	List   []*Weight
	byName map[string]*Weight
	next   int
}

// NewWeightProgram returns an empty program.
func NewWeightProgram() *WeightProgram {
	return &WeightProgram{byName: map[string]*Weight{}}
}

// Lookup returns the weight with the given name, or nil.
func (p *WeightProgram) Lookup(name string) *Weight { return p.byName[name] }

// Load declares a file tensor (or returns the existing declaration; the
// shapes must agree).
func (p *WeightProgram) Load(name string, shape []int) (*Weight, error) {
	if w := p.byName[name]; w != nil {
		if w.Op != WLoad || !equalInts(w.Shape, shape) {
			return nil, fmt.Errorf("weight %q declared twice with shapes %v and %v", name, w.Shape, shape)
		}
		return w, nil
	}
	w := &Weight{Name: name, Op: WLoad, Shape: append([]int(nil), shape...)}
	p.add(w)
	return w, nil
}

// LoadTyped declares a file tensor of element type dt (Load's are f32).
func (p *WeightProgram) LoadTyped(name string, shape []int, dt DType) (*Weight, error) {
	if w := p.byName[name]; w != nil && w.Op == WLoad && w.DType != dt {
		return nil, fmt.Errorf("weight %q declared as %s and %s", name, w.DType, dt)
	}
	w, err := p.Load(name, shape)
	if err != nil {
		return nil, err
	}
	w.DType = dt
	return w, nil
}

// Compute appends a computed weight; its shape is inferred from the
// operation and arguments. It panics on malformed arguments: passes that
// call it have checked them (a broken invariant, not a user mistake).
func (p *WeightProgram) Compute(op WOp, args []*Weight, eps float64, layout string, shape []int) *Weight {
	w := &Weight{Op: op, Args: args, Eps: eps, Layout: layout, Shape: shape}
	if err := inferWeight(w); err != nil {
		panic(fmt.Sprintf("weight program: %v", err))
	}
	w.Name = fmt.Sprintf("$%d", p.next)
	p.next++
	p.add(w)
	return w
}

// GroupExpand appends groupexpand(k) groups=g to=to: a conv's kernel of g
// groups as the kernel of the same convolution in to groups (1: dense).
func (p *WeightProgram) GroupExpand(k *Weight, g, to int) *Weight {
	w := &Weight{Op: WGroupExpand, Args: []*Weight{k}, Groups: g, To: to}
	if err := inferWeight(w); err != nil {
		panic(fmt.Sprintf("weight program: %v", err))
	}
	w.Name = fmt.Sprintf("$%d", p.next)
	p.next++
	p.add(w)
	return w
}

func (p *WeightProgram) add(w *Weight) {
	p.List = append(p.List, w)
	p.byName[w.Name] = w
}

// Files returns the file tensors the program loads, in declaration order.
func (p *WeightProgram) Files() []*Weight {
	var fs []*Weight
	for _, w := range p.List {
		if w.Op == WLoad {
			fs = append(fs, w)
		}
	}
	return fs
}

// RemoveUnused drops computed weights that no op of g (directly or through
// other weights) uses. File tensors stay: the weight file must still hold
// them, whatever the passes did.
func (p *WeightProgram) RemoveUnused(g *Graph) {
	used := map[*Weight]bool{}
	var mark func(w *Weight)
	mark = func(w *Weight) {
		if w == nil || used[w] {
			return
		}
		used[w] = true
		for _, a := range w.Args {
			mark(a)
		}
	}
	for _, op := range g.Ops {
		for _, w := range op.Params {
			mark(w)
		}
		for _, s := range op.Attrs.Epi {
			mark(s.Scale)
			mark(s.Shift)
		}
		for _, o := range op.Outputs {
			if o.Q != nil {
				mark(o.Q.Scale)
				mark(o.Q.Zero)
			}
		}
	}
	kept := p.List[:0]
	for _, w := range p.List {
		if used[w] || w.Op == WLoad {
			kept = append(kept, w)
		} else {
			delete(p.byName, w.Name)
		}
	}
	p.List = kept
}

// RemoveUnusedFiles drops the file tensors no op of g uses (directly or
// through computed weights): after a pass that rewrites every weight to
// another file's tensors (passes.Quantize), the weight file need not hold
// the old ones. Run RemoveUnused first.
func (p *WeightProgram) RemoveUnusedFiles(g *Graph) {
	used := map[*Weight]bool{}
	for _, w := range p.List {
		if w.Op != WLoad {
			for _, a := range w.Args {
				used[a] = true
			}
		}
	}
	for _, op := range g.Ops {
		for _, w := range op.Params {
			used[w] = true
		}
		for _, s := range op.Attrs.Epi {
			used[s.Scale], used[s.Shift] = true, true
		}
		for _, o := range op.Outputs {
			if o.Q != nil {
				used[o.Q.Scale], used[o.Q.Zero] = true, true
			}
		}
	}
	kept := p.List[:0]
	for _, w := range p.List {
		if w.Op != WLoad || used[w] {
			kept = append(kept, w)
		} else {
			delete(p.byName, w.Name)
		}
	}
	p.List = kept
}

func (p *WeightProgram) clone(wmap map[*Weight]*Weight) *WeightProgram {
	c := &WeightProgram{byName: map[string]*Weight{}, next: p.next}
	for _, w := range p.List {
		n := *w
		n.Shape = append([]int(nil), w.Shape...)
		n.Args = nil
		for _, a := range w.Args {
			n.Args = append(n.Args, wmap[a])
		}
		wmap[w] = &n
		c.add(&n)
	}
	return c
}

func (p *WeightProgram) renumber() {
	p.next = 0
	p.byName = map[string]*Weight{}
	for _, w := range p.List {
		if w.Op != WLoad {
			w.Name = fmt.Sprintf("$%d", p.next)
			p.next++
		}
		p.byName[w.Name] = w
	}
}

// String prints one weight as in the text form.
func (w *Weight) String() string {
	var b strings.Builder
	if w.Op == WLoad {
		fmt.Fprintf(&b, "%s : %s", w.Name, shapeString(w.Shape))
		if w.DType != F32 {
			b.WriteString(" " + w.DType.String())
		}
		return b.String()
	}
	b.WriteString(w.Name)
	b.WriteString(" = ")
	b.WriteString(w.Op.String())
	b.WriteByte('(')
	for i, a := range w.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.Name)
	}
	b.WriteByte(')')
	switch w.Op {
	case WBNScale:
		b.WriteString(" eps=" + formatFloat(w.Eps))
	case WPack:
		b.WriteString(" layout=" + w.Layout)
	case WGroupExpand:
		fmt.Fprintf(&b, " groups=%d to=%d", w.Groups, max(w.To, 1))
	}
	b.WriteString(" : " + shapeString(w.Shape))
	return b.String()
}

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// inferWeight checks a computed weight's arguments and sets its shape.
func inferWeight(w *Weight) error {
	info := w.Op.Info()
	if w.Op != WZeros && len(w.Args) != info.Arity {
		return fmt.Errorf("%s takes %d arguments, got %d", info.Name, info.Arity, len(w.Args))
	}
	for _, a := range w.Args {
		if a == nil {
			return fmt.Errorf("%s: missing argument", info.Name)
		}
	}
	vec := func(i int) (int, error) {
		if len(w.Args[i].Shape) != 1 {
			return 0, fmt.Errorf("%s: argument %s must be a vector, has shape %v", info.Name, w.Args[i].Name, w.Args[i].Shape)
		}
		return w.Args[i].Shape[0], nil
	}
	sameVecs := func(idx ...int) (int, error) {
		n := -1
		for _, i := range idx {
			m, err := vec(i)
			if err != nil {
				return 0, err
			}
			if n >= 0 && m != n {
				return 0, fmt.Errorf("%s: vector lengths %d and %d differ", info.Name, n, m)
			}
			n = m
		}
		return n, nil
	}
	switch w.Op {
	case WLoad:
		return fmt.Errorf("load is not computed")
	case WBNScale:
		n, err := sameVecs(0, 1)
		if err != nil {
			return err
		}
		w.Shape = []int{n}
	case WBNShift, WAffine:
		n, err := sameVecs(0, 1, 2)
		if err != nil {
			return err
		}
		w.Shape = []int{n}
	case WScaleOut, WScaleIn:
		k := w.Args[0].Shape
		n, err := vec(1)
		if err != nil {
			return err
		}
		axis := len(k) - 1
		if w.Op == WScaleIn {
			axis--
		}
		if axis < 0 || k[axis] != n {
			return fmt.Errorf("%s: kernel %v does not have %d channels on axis %d", info.Name, k, n, axis)
		}
		w.Shape = append([]int(nil), k...)
	case WMatVecAdd:
		k := w.Args[0].Shape
		t, err := vec(1)
		if err != nil {
			return err
		}
		b, err := vec(2)
		if err != nil {
			return err
		}
		if len(k) < 2 || k[len(k)-2] != t || k[len(k)-1] != b {
			return fmt.Errorf("matvecadd: kernel %v does not map %d inputs to %d outputs", k, t, b)
		}
		w.Shape = []int{b}
	case WZeros:
		if len(w.Args) != 0 || len(w.Shape) == 0 {
			return fmt.Errorf("zeros takes no arguments and needs a shape")
		}
	case WPack:
		s, err := PackedShape(w.Layout, w.Args[0].Shape)
		if err != nil {
			return err
		}
		w.Shape = s
	case WGroupExpand:
		k := w.Args[0].Shape
		to := max(w.To, 1)
		if len(k) != 4 || w.Groups < 1 || k[3]%w.Groups != 0 || w.Groups%to != 0 {
			return fmt.Errorf("groupexpand: kernel %v in %d groups to %d", k, w.Groups, to)
		}
		w.Shape = []int{k[0], k[1], k[2] * (w.Groups / to), k[3]}
	case WScaleBy:
		n, err := vec(0)
		if err != nil {
			return err
		}
		if !equalInts(w.Args[1].Shape, []int{1}) {
			return fmt.Errorf("scaleby: the factor %s has shape %v, want [1]", w.Args[1].Name, w.Args[1].Shape)
		}
		w.Shape = []int{n}
	}
	return nil
}

// Packed weight layouts. Kernels are HWIO ([kh, kw, in, out]) in Keras;
// Dense kernels are [in, out].
//
//	OIhwBiBo: [ceil(O/B)][ceil(I/B)][kh][kw][B i][B o]   (blocked input)
//	OhwiBo:   [ceil(O/B)][kh][kw][I][B o]                 (NHWC input, e.g. the 3-channel stem)
//	OIBo:     [ceil(O/B)][I][B o] for Dense kernels
//	cB:       [ceil(C/B)*B] for per-channel vectors (bias, scale, shift)
//	wino16:   [ceil(O/16)][36][ceil(I/16)*16][16 o]: a 3x3 kernel as Winograd
//	          F(4x4,3x3) weights U = G g Gᵀ (runtime.PackWinograd)
//	OIhw4i16o4i: [ceil(O/16)][ceil(I/16)][kh][kw][4][16 o][4 i]: an int8
//	          kernel's codes for VPDPBUSD (runtime.S8Index)
//
// Channels past I, O and C are zero.
var packLayouts = map[string]struct {
	block int
	kind  string
}{
	"OIhw16i16o": {16, "OIhw"}, "OIhw8i8o": {8, "OIhw"},
	"Ohwi16o": {16, "Ohwi"}, "Ohwi8o": {8, "Ohwi"},
	"OI16o": {16, "OI"}, "OI8o": {8, "OI"},
	"c16": {16, "c"}, "c8": {8, "c"},
	"wino16":      {16, "wino"},
	"OIhw4i16o4i": {16, "OIhw4"},
}

// PackLayouts returns the packed layout names, sorted.
func PackLayouts() []string {
	var s []string
	for k := range packLayouts {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// PackBlock returns a packed layout's block size and family ("OIhw",
// "Ohwi", "OI", "c" or "wino").
func PackBlock(layout string) (int, string, bool) {
	p, ok := packLayouts[layout]
	return p.block, p.kind, ok
}

// PackedShape is the shape of kernel (HWIO or [in,out]) packed into layout.
func PackedShape(layout string, kernel []int) ([]int, error) {
	p, ok := packLayouts[layout]
	if !ok {
		return nil, fmt.Errorf("unknown packed layout %q", layout)
	}
	up := func(n int) int { return (n + p.block - 1) / p.block }
	switch p.kind {
	case "wino":
		if len(kernel) != 4 || kernel[0] != 3 || kernel[1] != 3 {
			return nil, fmt.Errorf("%s packs a 3x3 HWIO kernel, got shape %v", layout, kernel)
		}
		return []int{up(kernel[3]), 36, up(kernel[2]) * p.block, p.block}, nil
	case "c":
		if len(kernel) != 1 {
			return nil, fmt.Errorf("%s packs a vector, got shape %v", layout, kernel)
		}
		return []int{up(kernel[0]) * p.block}, nil
	case "OIhw4":
		if len(kernel) != 4 {
			return nil, fmt.Errorf("%s packs a 4-d HWIO kernel, got shape %v", layout, kernel)
		}
		return []int{up(kernel[3]), up(kernel[2]), kernel[0], kernel[1], 4, p.block, 4}, nil
	case "OIhw", "Ohwi":
		if len(kernel) != 4 {
			return nil, fmt.Errorf("%s packs a 4-d HWIO kernel, got shape %v", layout, kernel)
		}
		kh, kw, i, o := kernel[0], kernel[1], kernel[2], kernel[3]
		if p.kind == "OIhw" {
			return []int{up(o), up(i), kh, kw, p.block, p.block}, nil
		}
		return []int{up(o), kh, kw, i, p.block}, nil
	default:
		if len(kernel) != 2 {
			return nil, fmt.Errorf("%s packs a 2-d [in,out] kernel, got shape %v", layout, kernel)
		}
		return []int{up(kernel[1]), kernel[0], p.block}, nil
	}
}

// Fits reports whether w can stand for a weight of the given logical
// (Keras) shape: it has that shape, or it is that shape packed.
func (w *Weight) Fits(logical []int) bool {
	if equalInts(w.Shape, logical) {
		return true
	}
	if w.Op != WPack {
		return false
	}
	s, err := PackedShape(w.Layout, logical)
	return err == nil && equalInts(s, w.Shape)
}

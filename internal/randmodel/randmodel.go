// Package randmodel writes random valid models in rnc's model language, for differential tests of the compiler against its interpreter.
//
// A model is a chain of random stages on one image input: convolutions
// (kernels 1, 3, 5, 7 and non-square ones, strides 1–3, "valid" or "same",
// at times dilated — dilation_rate 2, 3 or [dh, dw] — or with an
// activation argument),
// batch norms, activations (relu, sigmoid, linear), zero padding (also
// fused into a following max pool or convolution), max and average pools
// (sizes 1–3, strides 1–3, both paddings), Rescaling, Dropout, residual
// blocks in the styles of ResNet v1 and v2 (identity, projection and
// subsampling shortcuts), gated units (x·sigmoid(g), with the (1−g)
// branch), Multiply of same-shaped tensors, and a head: the map itself, or
// global average/max pooling or Flatten, then one or two Dense layers
// (relu, sigmoid, softmax or linear), or Dense on every pixel of the map.
// Maps are 1–40 high and 1–43 wide (at times near-square),
// non-square; channel counts are drawn so that they are rarely multiples
// of 8 or 16. The same seed gives the same model everywhere.
package randmodel

import (
	"fmt"
	"strings"
)

// Model is a random model: its source (one file, no imports) and the
// batch to run it on.
type Model struct {
	Name   string
	Source string
	Batch  int
	// Ops counts the builtin calls of the source by name, and the convs
	// with a dilation_rate or an activation argument as
	// "Conv2D(dilation_rate)" and "Conv2D(activation)".
	Ops map[string]int
}

// rng is a small deterministic generator (xorshift*), so that a seed
// names the same model on every Go version.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s ^= r.s >> 12
	r.s ^= r.s << 25
	r.s ^= r.s >> 27
	return r.s * 0x2545f4914f6cdd1d
}

// intn returns a value in [0, n).
func (r *rng) intn(n int) int { return int(r.next() >> 33 % uint64(n)) }

// in returns a value in [lo, hi].
func (r *rng) in(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// chance reports true with probability 1/n.
func (r *rng) chance(n int) bool { return r.intn(n) == 0 }

func (r *rng) pick(xs ...string) string { return xs[r.intn(len(xs))] }

// tensor is a value of the model being written: its name and NHWC shape
// (h = w = 0 for a vector of c values).
type tensor struct {
	name    string
	h, w, c int
}

type gen struct {
	r *rng
	// x draws the convs' dilation and activation arguments: a stream of
	// its own, so that the models' other choices stay those they were
	// before convs had them.
	x     *rng
	b     strings.Builder
	n     int
	ops   map[string]int
	names int
}

// New returns the model of seed.
func New(seed uint64) Model {
	g := &gen{r: &rng{s: seed*0x9e3779b97f4a7c15 + 0x726e63}, x: &rng{s: seed*0xbf58476d1ce4e5b9 + 0x64696c}, ops: map[string]int{}}
	if g.x.s == 0 {
		g.x.s = 1
	}
	for i := 0; i < 4; i++ {
		g.r.next()
		g.x.next()
	}
	name := fmt.Sprintf("r%d", seed)
	h, w := g.r.in(1, 40), g.r.in(1, 40)
	if g.r.chance(3) {
		w = h + g.r.in(-3, 3) // near-square
	}
	h, w = max(h, 1), max(w, 1)
	c := g.channels()
	fmt.Fprintf(&g.b, "# random model %d (internal/randmodel)\nmodel %s(input_shape = [%d, %d, %d]) {\n", seed, name, h, w, c)
	x := g.call(tensor{"", h, w, c}, "Input", "shape = input_shape")
	stages := g.r.in(1, 6)
	for i := 0; i < stages; i++ {
		x = g.stage(x)
	}
	x = g.head(x)
	fmt.Fprintf(&g.b, "    return Model(x0, %s)\n}\n", x.name)
	return Model{Name: name, Source: g.b.String(), Batch: g.r.in(1, 3), Ops: g.ops}
}

// channels draws a channel count: mostly 1–40 not a multiple of 8, at
// times a multiple of 8 or 16.
func (g *gen) channels() int {
	if g.r.chance(6) {
		return 8 * g.r.in(1, 4)
	}
	for {
		if c := g.r.in(1, 40); c%8 != 0 {
			return c
		}
	}
}

// call writes `xN = fn(args)` and returns the new tensor with shape t.
func (g *gen) call(t tensor, fn string, args ...string) tensor {
	g.n++
	t.name = fmt.Sprintf("x%d", g.n-1)
	g.ops[fn]++
	fmt.Fprintf(&g.b, "    %s = %s(%s)\n", t.name, fn, strings.Join(args, ", "))
	return t
}

// named returns a name argument for a layer with weights (so that weight
// names are distinct and stable).
func (g *gen) named() string {
	g.names++
	return fmt.Sprintf("name = \"l%d\"", g.names)
}

// outSize is Keras's output size of a window k with stride s over n, with
// "same" or "valid" padding (0 if the window does not fit).
func outSize(n, k, s int, same bool) int {
	if same {
		return (n + s - 1) / s
	}
	if n < k {
		return 0
	}
	return (n-k)/s + 1
}

// conv writes a Conv2D of x with random geometry and returns it, or x
// unchanged when nothing fits.
func (g *gen) conv(x tensor, filters int, keep bool) tensor {
	kh := []int{1, 3, 5, 7}[g.r.intn(4)]
	kw := kh
	if g.r.chance(5) {
		kw = []int{1, 3, 5, 7}[g.r.intn(4)]
	}
	sh, sw := 1, 1
	if !keep && g.r.chance(3) {
		sh = g.r.in(1, 3)
		sw = sh
		if g.r.chance(4) {
			sw = g.r.in(1, 3)
		}
	}
	same := keep || g.r.chance(2)
	dh, dw := 1, 1
	if kh*kw > 1 && g.x.chance(5) {
		dh = g.x.in(2, 3)
		dw = dh
		if g.x.chance(3) {
			dw = g.x.in(1, 3)
		}
	}
	// a dilated kernel spans (k-1)·d+1 pixels
	oh, ow := outSize(x.h, (kh-1)*dh+1, sh, same), outSize(x.w, (kw-1)*dw+1, sw, same)
	if oh < 1 || ow < 1 {
		kh, kw, sh, sw, dh, dw, same = 1, 1, 1, 1, 1, 1, false
		oh, ow = x.h, x.w
	}
	args := []string{x.name, fmt.Sprint(filters), size(kh, kw)}
	if sh != 1 || sw != 1 {
		args = append(args, "strides = "+size(sh, sw))
	}
	if same {
		args = append(args, `padding = "same"`)
	}
	if g.r.chance(4) {
		args = append(args, "use_bias = false")
	}
	if dh != 1 || dw != 1 {
		args = append(args, "dilation_rate = "+size(dh, dw))
		g.ops["Conv2D(dilation_rate)"]++
	}
	if g.x.chance(6) {
		args = append(args, fmt.Sprintf("activation = %q", g.x.pick("relu", "sigmoid", "linear")))
		g.ops["Conv2D(activation)"]++
	}
	args = append(args, g.named())
	return g.call(tensor{"", oh, ow, filters}, "Conv2D", args...)
}

func size(a, b int) string {
	if a == b {
		return fmt.Sprint(a)
	}
	return fmt.Sprintf("[%d, %d]", a, b)
}

func (g *gen) bn(x tensor) tensor {
	eps := g.r.pick("1.001e-5", "1e-3", "0.01")
	return g.call(x, "BatchNormalization", x.name, "epsilon = "+eps, g.named())
}

func (g *gen) act(x tensor, fn string) tensor {
	return g.call(x, "Activation", x.name, fmt.Sprintf("%q", fn))
}

// stage appends one random stage to x.
func (g *gen) stage(x tensor) tensor {
	switch g.r.intn(10) {
	case 0, 1: // conv [+ BN] [+ activation]
		x = g.conv(x, g.channels(), false)
		if g.r.chance(2) {
			x = g.bn(x)
		}
		if !g.r.chance(4) {
			x = g.act(x, g.r.pick("relu", "relu", "sigmoid", "linear"))
		}
	case 2: // zero padding, then a conv or a max pool that may absorb it
		x = g.pad(x)
		if g.r.chance(2) {
			x = g.pool(x, "MaxPooling2D")
		} else {
			x = g.conv(x, g.channels(), false)
		}
	case 3:
		x = g.pool(x, g.r.pick("MaxPooling2D", "AveragePooling2D"))
	case 4, 5:
		x = g.residual(x)
	case 6:
		x = g.gated(x)
	case 7: // BN + activation (a pre-activation), or an elementwise op
		switch g.r.intn(4) {
		case 0:
			x = g.act(g.bn(x), "relu")
		case 1:
			x = g.call(x, "Rescaling", x.name, fmt.Sprintf("scale = %s", g.r.pick("0.5", "2", "-1.5", "0.007843137")), fmt.Sprintf("offset = %s", g.r.pick("0", "-1", "0.25")))
		case 2:
			x = g.call(x, "Dropout", x.name, fmt.Sprintf("rate = %s", g.r.pick("0.1", "0.5")))
		default:
			x = g.act(x, g.r.pick("relu", "sigmoid", "linear"))
		}
	case 8: // a product of two branches of the same shape
		a := g.conv(x, x.c, true)
		b := x
		if g.r.chance(2) {
			b = g.act(g.conv(x, x.c, true), "sigmoid")
		}
		x = g.call(x, "Multiply", fmt.Sprintf("[%s, %s]", a.name, b.name))
	default: // a plain sum of a conv and its input
		y := g.conv(x, x.c, true)
		if g.r.chance(2) {
			y = g.act(y, "relu")
		}
		x = g.call(x, "Add", fmt.Sprintf("[%s, %s]", x.name, y.name))
	}
	return x
}

// pad writes a ZeroPadding2D: an int, [ph, pw] or [[t, b], [l, r]].
func (g *gen) pad(x tensor) tensor {
	switch g.r.intn(3) {
	case 0:
		p := g.r.in(1, 3)
		return g.call(tensor{"", x.h + 2*p, x.w + 2*p, x.c}, "ZeroPadding2D", x.name, fmt.Sprintf("padding = %d", p))
	case 1:
		ph, pw := g.r.in(0, 2), g.r.in(0, 3)
		return g.call(tensor{"", x.h + 2*ph, x.w + 2*pw, x.c}, "ZeroPadding2D", x.name, fmt.Sprintf("padding = [%d, %d]", ph, pw))
	}
	t, b, l, r := g.r.in(0, 3), g.r.in(0, 2), g.r.in(0, 2), g.r.in(0, 3)
	return g.call(tensor{"", x.h + t + b, x.w + l + r, x.c}, "ZeroPadding2D", x.name, fmt.Sprintf("padding = [[%d, %d], [%d, %d]]", t, b, l, r))
}

// pool writes a pooling layer of kind fn, or returns x when none fits.
func (g *gen) pool(x tensor, fn string) tensor {
	p := g.r.in(1, 3)
	args := []string{x.name, fmt.Sprint(p)}
	s := p
	if g.r.chance(2) {
		s = g.r.in(1, 3)
		args = append(args, fmt.Sprintf("strides = %d", s))
	}
	same := g.r.chance(2)
	if same {
		args = append(args, `padding = "same"`)
	}
	oh, ow := outSize(x.h, p, s, same), outSize(x.w, p, s, same)
	if oh < 1 || ow < 1 {
		return x
	}
	return g.call(tensor{"", oh, ow, x.c}, fn, args...)
}

// residual writes a residual block in the style of ResNet v1 (post-
// activation) or v2 (pre-activation), with an identity, projection or
// subsampling (MaxPooling2D(1, s)) shortcut.
func (g *gen) residual(x tensor) tensor {
	v2 := g.r.chance(2)
	in := x
	if v2 {
		in = g.act(g.bn(x), "relu")
	}
	stride := 1
	if g.r.chance(3) && x.h >= 2 && x.w >= 2 {
		stride = 2
	}
	filters := x.c
	if g.r.chance(2) {
		filters = g.channels()
	}
	// The residual branch: conv(stride) BN relu conv BN.
	k := []int{1, 3}[g.r.intn(2)]
	oh, ow := (x.h+stride-1)/stride, (x.w+stride-1)/stride
	args := []string{in.name, fmt.Sprint(filters), fmt.Sprint(k), `padding = "same"`}
	if stride > 1 {
		args = append(args, "strides = 2")
	}
	y := g.call(tensor{"", oh, ow, filters}, "Conv2D", append(args, g.named())...)
	y = g.act(g.bn(y), "relu")
	y = g.call(y, "Conv2D", y.name, fmt.Sprint(filters), fmt.Sprint([]int{1, 3}[g.r.intn(2)]), `padding = "same"`, g.named())
	if !v2 {
		y = g.bn(y)
	}
	// The shortcut.
	var sc tensor
	switch {
	case filters != x.c || (stride > 1 && g.r.chance(2)):
		src := x
		if v2 {
			src = in
		}
		a := []string{src.name, fmt.Sprint(filters), "1"}
		if stride > 1 {
			a = append(a, "strides = 2")
		}
		sc = g.call(tensor{"", outSize(x.h, 1, stride, false), outSize(x.w, 1, stride, false), filters}, "Conv2D", append(a, g.named())...)
		if !v2 {
			sc = g.bn(sc)
		}
	case stride > 1:
		sc = g.call(tensor{"", outSize(x.h, 1, 2, false), outSize(x.w, 1, 2, false), x.c}, "MaxPooling2D", x.name, "1", "strides = 2")
	default:
		sc = x
	}
	if sc.h != y.h || sc.w != y.w {
		// "valid" 1×1 stride 2 gives ceil(n/2) too; never reached.
		panic(fmt.Sprintf("randmodel: shortcut %dx%d, branch %dx%d", sc.h, sc.w, y.h, y.w))
	}
	z := g.call(y, "Add", fmt.Sprintf("[%s, %s]", sc.name, y.name))
	if !v2 {
		z = g.act(z, "relu")
	}
	return z
}

// gated writes a gated unit: g = sigmoid(conv(x)); x·g, or with the
// exclusive gate (1 − g) on the shortcut: x·(1−g) + conv(x)·g.
func (g *gen) gated(x tensor) tensor {
	gate := g.act(g.conv(x, x.c, true), "sigmoid")
	if g.r.chance(2) {
		return g.call(x, "Multiply", fmt.Sprintf("[%s, %s]", x.name, gate.name))
	}
	inv := g.call(gate, "Rescaling", gate.name, "scale = -1", "offset = 1")
	f := g.conv(x, x.c, true)
	a := g.call(x, "Multiply", fmt.Sprintf("[%s, %s]", f.name, gate.name))
	b := g.call(x, "Multiply", fmt.Sprintf("[%s, %s]", x.name, inv.name))
	return g.call(x, "Add", fmt.Sprintf("[%s, %s]", b.name, a.name))
}

// head ends the model: the map itself (a feature-map output), or a pooled
// or flattened vector and one or two Dense layers.
func (g *gen) head(x tensor) tensor {
	switch g.r.intn(5) {
	case 0:
		if g.r.chance(2) {
			x = g.act(x, g.r.pick("relu", "sigmoid"))
		}
		if g.r.chance(3) { // Dense on every pixel of the map
			units := g.r.in(1, 20)
			x = g.call(tensor{"", x.h, x.w, units}, "Dense", x.name, fmt.Sprint(units), fmt.Sprintf("activation = %q", g.r.pick("relu", "linear", "sigmoid")), g.named())
		}
		return x
	case 1:
		if x.h*x.w*x.c <= 4096 {
			x = g.call(tensor{"", 0, 0, x.h * x.w * x.c}, "Flatten", x.name)
			break
		}
		fallthrough
	case 2:
		x = g.call(tensor{"", 0, 0, x.c}, "GlobalAveragePooling2D", x.name)
	default:
		x = g.call(tensor{"", 0, 0, x.c}, "GlobalMaxPooling2D", x.name)
	}
	if g.r.chance(3) {
		x = g.dense(x, g.r.pick("relu", "linear", "sigmoid"))
	}
	return g.dense(x, g.r.pick("softmax", "softmax", "linear", "sigmoid", "relu"))
}

func (g *gen) dense(x tensor, act string) tensor {
	units := g.r.in(1, 24)
	args := []string{x.name, fmt.Sprint(units), fmt.Sprintf("activation = %q", act)}
	if g.r.chance(4) {
		args = append(args, "use_bias = false")
	}
	return g.call(tensor{"", 0, 0, units}, "Dense", append(args, g.named())...)
}

package interp

import (
	"math"
	"math/rand/v2"

	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/runtime"
)

// RandomWeights makes deterministic random weights for g's file tensors
// whose outputs still depend on the input (the recipe of the reference
// harness, ../shared/ref/keras_resnet.py):
//   - conv kernels He-normal, N(0, 2/fan_in); conv and Dense biases N(0, 0.01²);
//   - BatchNormalization gamma U(0.5, 1.5), beta and moving_mean N(0, 0.1²),
//     moving_variance U(0.5, 1.5);
//   - Dense kernels N(0, 1/fan_in) × 2;
//   - the layer that closes a residual branch — a Conv2D or
//     BatchNormalization feeding any input but the first of an Add (Keras's
//     blocks write Add([shortcut, x])) — is scaled by
//     0.3·sqrt(16/max(16, blocks)), so the residual stream grows slowly.
//
// The same seed gives the same weights on every machine.
func RandomWeights(g *ir.Graph, seed uint64) *runtime.Weights {
	adds := 0
	closers := map[*ir.Op]bool{}
	for _, op := range g.Ops {
		if op.Kind != ir.Add {
			continue
		}
		adds++
		for _, in := range op.Inputs[1:] {
			if k := in.Def.Kind; k == ir.Conv2D || k == ir.BatchNorm {
				closers[in.Def] = true
			}
		}
	}
	resScale := 0.3 * math.Sqrt(16/math.Max(16, float64(adds)))
	owner := map[*ir.Weight]*ir.Op{}
	role := map[*ir.Weight]string{}
	for _, op := range g.Ops {
		for r, w := range op.Params {
			owner[w], role[w] = op, r
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x726e63)) // "rnc"
	ws := runtime.NewWeights()
	ws.Metadata["generator"] = "rnc weights init"
	for _, w := range g.Weights.Files() {
		n := numElements(w.Shape)
		data := make([]float32, n)
		op := owner[w]
		scale := 1.0
		if op != nil && closers[op] {
			scale = resScale
		}
		fill := func(f func() float64) {
			for i := range data {
				data[i] = float32(f())
			}
		}
		switch {
		case op == nil:
		case role[w] == "kernel" && op.Kind == ir.Conv2D:
			std := math.Sqrt(2/float64(w.Shape[0]*w.Shape[1]*w.Shape[2])) * scale
			fill(func() float64 { return rng.NormFloat64() * std })
		case role[w] == "kernel":
			std := math.Sqrt(1/float64(w.Shape[0])) * 2
			fill(func() float64 { return rng.NormFloat64() * std })
		case role[w] == "bias":
			fill(func() float64 { return rng.NormFloat64() * 0.01 })
		case role[w] == "gamma":
			fill(func() float64 { return (0.5 + rng.Float64()) * scale })
		case role[w] == "beta" || role[w] == "moving_mean":
			fill(func() float64 { return rng.NormFloat64() * 0.1 })
		case role[w] == "moving_variance":
			fill(func() float64 { return 0.5 + rng.Float64() })
		}
		if err := ws.Add(w.Name, w.Shape, data); err != nil {
			panic(err) // file tensor names are unique in a verified graph
		}
	}
	return ws
}

// RandomInput makes n deterministic image-like NHWC inputs in [-1, 1]
// (ResNetV2's preprocessing range) that differ globally: a per-image and
// per-channel offset, a contrast, a coarse 8×8 pattern and pixel noise —
// i.i.d. noise alone would look the same to every image after global
// average pooling.
func RandomInput(h, w, c, n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0x696e70)) // "inp"
	x := make([]float32, n*h*w*c)
	for b := 0; b < n; b++ {
		off := make([]float64, c)
		for i := range off {
			off[i] = rng.Float64()*0.8 - 0.4
		}
		contrast := 0.5 + rng.Float64()*0.5
		coarse := make([]float64, 64*c)
		for i := range coarse {
			coarse[i] = rng.Float64()*2 - 1
		}
		for y := 0; y < h; y++ {
			for xx := 0; xx < w; xx++ {
				for k := 0; k < c; k++ {
					cv := coarse[((y*8/h)*8+xx*8/w)*c+k]
					v := off[k] + contrast*(0.7*cv+0.3*(rng.Float64()*2-1))
					x[((b*h+y)*w+xx)*c+k] = float32(math.Max(-1, math.Min(1, v)))
				}
			}
		}
	}
	return x
}

package quant

import (
	"fmt"
	"math"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// Params are a quantized activation tensor's scale and zero point: a
// uint8 q stands for the real value Scale·(q − Zero) (runtime/abi/int8.go).
type Params struct {
	Scale float32
	Zero  int32 // 0..255
}

// minScale bounds a scale from below so that its float32 reciprocal is
// finite: a tensor whose range is narrower than 255·minScale is all but
// zero, and quantizes to (nearly) all zero points.
const minScale = 0x1p-100

// ParamsFor returns the parameters that cover the real range [lo, hi],
// widened to hold 0, with 0 exactly representable (it is the uint8 Zero):
// a range with lo ≥ 0 — every value after a ReLU — gets Zero 0 and Scale
// hi/255; any other gets Scale (hi − lo)/255 and Zero round(−lo/Scale), so
// the covered range [−Zero·Scale, (255 − Zero)·Scale] misses lo or hi by
// at most half a step. An empty range (hi = lo = 0) gets Scale 1.
func ParamsFor(lo, hi float64) Params {
	lo, hi = math.Min(lo, 0), math.Max(hi, 0)
	if !(hi-lo > 0) || math.IsInf(hi-lo, 0) {
		return Params{Scale: 1}
	}
	s := float32((hi - lo) / 255)
	s = max(s, minScale)
	z := 0.0
	if lo < 0 {
		z = math.Min(math.Max(math.RoundToEven(-lo/float64(s)), 0), 255)
	}
	return Params{Scale: s, Zero: int32(z)}
}

// Inv is the float32 reciprocal of the scale that QuantizeU8 multiplies by.
func (p Params) Inv() float32 { return 1 / p.Scale }

// Quantize is the uint8 of a real value (abi.QuantizeU8).
func (p Params) Quantize(x float32) uint8 { return abi.QuantizeU8(x, p.Inv(), p.Zero) }

// Dequant is the real value of a uint8 (abi.Dequant).
func (p Params) Dequant(q uint8) float32 { return abi.Dequant(q, p.Zero, p.Scale) }

// Fake rounds every value of v to the nearest value the tensor can hold, in
// place: Dequant(Quantize(x)), as an int8 kernel's output is read back by
// the next one.
func (p Params) Fake(v []float32) {
	inv := p.Inv()
	for i, x := range v {
		v[i] = abi.Dequant(abi.QuantizeU8(x, inv, p.Zero), p.Zero, p.Scale)
	}
}

// Range returns the real values of q = 0 and q = 255.
func (p Params) Range() (lo, hi float64) {
	return float64(p.Dequant(0)), float64(p.Dequant(255))
}

func (p Params) String() string { return fmt.Sprintf("scale %g zero %d", p.Scale, p.Zero) }

// QuantizeKernel quantizes a kernel whose last axis is the output channel
// (HWIO, or a Dense kernel [in, out]) per output channel, symmetrically:
// scale[oc] = max |w[…, oc]| / 127 (1 for a channel of zeros) and q =
// abi.QuantizeS8(w, scale[oc]), so that |w − scale·q| ≤ scale/2.
func QuantizeKernel(w []float32, out int) (q []int8, scale []float32, err error) {
	if out <= 0 || len(w)%out != 0 {
		return nil, nil, fmt.Errorf("a kernel of %d values has no output axis of %d channels", len(w), out)
	}
	scale = make([]float32, out)
	for i, x := range w {
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, nil, fmt.Errorf("kernel value %v at flat index %d is not finite", x, i)
		}
		scale[i%out] = max(scale[i%out], float32(math.Abs(float64(x))))
	}
	for oc, m := range scale {
		scale[oc] = m / 127
		if !(scale[oc] > 0) { // a channel of zeros (or of values so small m/127 underflows)
			scale[oc] = 1
		}
	}
	q = make([]int8, len(w))
	for i, x := range w {
		q[i] = abi.QuantizeS8(x, scale[i%out])
	}
	return q, scale, nil
}

// DequantKernel is the real kernel a quantized one stands for: scale[oc]·q.
func DequantKernel(q []int8, scale []float32) []float32 {
	out := len(scale)
	w := make([]float32, len(q))
	for i, v := range q {
		w[i] = float32(v) * scale[i%out]
	}
	return w
}

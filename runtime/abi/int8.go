package abi

import "math"

// The int8 arithmetic: what every int8 kernel (assembly or Go) and the
// interpreter's integer reference compute, operation for operation, so
// that they agree bit for bit.
//
// A quantized activation is a uint8 q with a per-tensor scale s > 0 and
// zero point z in 0..255: its real value is s·(q − z). A quantized weight
// is an int8 in −127..127 with a per-output-channel scale and zero point
// 0. A convolution accumulates Σ q_x·q_w exactly in int32 over input
// channels and taps (its input's zero point is 0: the inputs of rnc's
// convolutions follow a ReLU, so padding with q = 0 is exact), then the
// epilogue works on real values in float32:
//
//	v = f32(f32(acc)·m[oc]) + b[oc]        AccReal (m = s_x·s_w[oc], b the real bias)
//	r = f32(q_r − z_r)·s_r                 Dequant (a residual or gate operand)
//	… relu, add, mul, affine as for float32, each operation rounded …
//	q = clamp(cvt(v·inv) + z, 0, 255)      QuantizeU8 (inv = f32(1/s) of the output)
//
// with every multiply and add rounded to float32 on its own (no fused
// multiply-add: Go may fuse across an expression, so the Go code converts
// explicitly) and cvt the x86 conversion VCVTPS2DQ under the default
// rounding mode: round half to even, and math.MinInt32 (the "integer
// indefinite") for NaN and for values outside the int32 range.

// U8Block is the channel block of every int8 layout: activations are
// uint8 in nChw16c and kernels int8 in OIhw4i16o4i, the layouts of the
// AVX-512 VNNI kernels (one zmm holds 16 int32 accumulators).
const U8Block = 16

// MaxAccTerms bounds the number of products (input channels × taps) one
// int32 accumulator sums: 255·127 per product, so 66,000 of them stay
// below 2^31 (a generator refuses a larger reduction).
const MaxAccTerms = math.MaxInt32 / (255 * 127)

// AccReal turns an int32 accumulator into the real value of output
// channel oc: acc·m rounded to float32, plus the bias b, rounded.
func AccReal(acc int32, m, b float32) float32 {
	return float32(float32(acc)*m) + b
}

// Dequant is the real value of a uint8 q with zero point z and scale s,
// rounded to float32 here (the explicit conversion keeps a caller that
// adds it from fusing the product into a multiply-add after inlining).
func Dequant(q uint8, z int32, s float32) float32 {
	return float32(float32(int32(q)-z) * s)
}

// Cvt is VCVTPS2DQ's result for x: x rounded half to even, or
// math.MinInt32 when x is NaN or outside the int32 range.
func Cvt(x float32) int32 {
	if x != x || x >= 2147483648 || x < -2147483648 {
		return math.MinInt32
	}
	return int32(math.RoundToEven(float64(x)))
}

// QuantizeU8 is the uint8 of real value v for an output whose scale has
// the float32 reciprocal inv and whose zero point is z: cvt(v·inv) + z,
// clamped to 0..255. Kernels clamp cvt's int32 to −z..255−z before they
// add z, which is the same and never wraps: a NaN gives 0 (cvt's
// MinInt32), an overflow 0 or 255.
func QuantizeU8(v, inv float32, z int32) uint8 {
	q := int64(Cvt(float32(v*inv))) + int64(z)
	return uint8(min(max(q, 0), 255))
}

// QuantizeS8 is the int8 weight of real value w for a channel of scale s:
// round half to even of w/s, clamped to −127..127 (−128 is never used, so
// a weight's negation is a weight).
func QuantizeS8(w, s float32) int8 {
	q := math.RoundToEven(float64(w) / float64(s))
	return int8(min(max(q, -127), 127))
}

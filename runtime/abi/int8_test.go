package abi

import (
	"math"
	"testing"
)

// TestCvt: round half to even, and the integer indefinite for NaN and
// values outside int32, as VCVTPS2DQ gives.
func TestCvt(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	for _, c := range []struct {
		x    float32
		want int32
	}{
		{0.5, 0}, {1.5, 2}, {2.5, 2}, {-0.5, 0}, {-1.5, -2}, {0.49999997, 0}, {254.5, 254}, {255.5, 256},
		{-2147483648, math.MinInt32}, {2147483520, 2147483520}, {2147483648, math.MinInt32},
		{inf, math.MinInt32}, {-inf, math.MinInt32}, {nan, math.MinInt32}, {3e38, math.MinInt32},
	} {
		if got := Cvt(c.x); got != c.want {
			t.Errorf("Cvt(%v) = %d, want %d", c.x, got, c.want)
		}
	}
}

// TestQuantizeU8: rounding, zero point, saturation at both ends, NaN and
// overflow (no wrap: a value just below 2^31 with a zero point saturates
// at 255).
func TestQuantizeU8(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, c := range []struct {
		v, inv float32
		z      int32
		want   uint8
	}{
		{0, 10, 0, 0}, {1.25, 2, 0, 2}, {1.75, 2, 0, 4}, {-1, 2, 128, 126}, {-100, 1, 10, 0}, {300, 1, 0, 255},
		{2147483520, 1, 255, 255}, {inf, 1, 7, 0}, {float32(math.NaN()), 1, 7, 0}, {-inf, 1, 7, 0},
	} {
		if got := QuantizeU8(c.v, c.inv, c.z); got != c.want {
			t.Errorf("QuantizeU8(%v, %v, %d) = %d, want %d", c.v, c.inv, c.z, got, c.want)
		}
	}
}

// TestQuantizeS8: symmetric, −127..127, half to even.
func TestQuantizeS8(t *testing.T) {
	for _, c := range []struct {
		w, s float32
		want int8
	}{
		{0.5, 1, 0}, {1.5, 1, 2}, {-1.5, 1, -2}, {1000, 1, 127}, {-1000, 1, -127}, {0.3, 0.1, 3},
	} {
		if got := QuantizeS8(c.w, c.s); got != c.want {
			t.Errorf("QuantizeS8(%v, %v) = %d, want %d", c.w, c.s, got, c.want)
		}
	}
}

// TestAccReal: the multiply is rounded to float32 before the add (no
// fused multiply-add): acc·m = 2^23 + 3 + 2^-22 rounds to 2^23 + 3, so
// the result is 3; fused, it would be 3 + 2^-22.
func TestAccReal(t *testing.T) {
	m := float32(1.0 + 1.0/(1<<22))
	acc := int32(1<<23 + 1)
	b := float32(-(1 << 23))
	if got := AccReal(acc, m, b); got != 3 {
		t.Errorf("AccReal = %v, want 3 (product rounded, then the add)", got)
	}
	if fused := float32(math.FMA(float64(acc), float64(m), float64(b))); fused == 3 {
		t.Errorf("the case does not tell fused from unfused (fused %v)", fused)
	}
	if MaxAccTerms*255*127 > math.MaxInt32 || (MaxAccTerms+1)*255*127 <= math.MaxInt32 {
		t.Errorf("MaxAccTerms %d is not the largest safe count", MaxAccTerms)
	}
	if got := Dequant(3, 128, 0.5); got != -62.5 {
		t.Errorf("Dequant(3, 128, 0.5) = %v", got)
	}
}

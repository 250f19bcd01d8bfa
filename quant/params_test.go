package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestParamsFor: a non-negative range gets zero point 0 and scale hi/255;
// any other range holds 0 exactly (q = Zero is 0, and 0 quantizes to
// Zero) and covers lo and hi within half a step; degenerate ranges get a
// usable scale.
func TestParamsFor(t *testing.T) {
	for _, tc := range []struct{ lo, hi float64 }{
		{0, 6}, {0.5, 6}, {0, 1e-3}, {-1, 1}, {-2.34, 2.56}, {-0.1, 10}, {-10, 0.1}, {-3, -1}, {1e-40, 3e-39},
	} {
		p := ParamsFor(tc.lo, tc.hi)
		if p.Zero < 0 || p.Zero > 255 || !(p.Scale > 0) || math.IsInf(float64(p.Inv()), 0) {
			t.Errorf("[%g, %g]: %v", tc.lo, tc.hi, p)
			continue
		}
		if tc.lo >= 0 && p.Zero != 0 {
			t.Errorf("[%g, %g]: non-negative range, zero point %d, want 0", tc.lo, tc.hi, p.Zero)
		}
		if tc.lo >= 0 && tc.hi > 255*minScale && p.Scale != float32(tc.hi/255) {
			t.Errorf("[%g, %g]: scale %g, want hi/255 = %g", tc.lo, tc.hi, p.Scale, float32(tc.hi/255))
		}
		if p.Dequant(uint8(p.Zero)) != 0 || p.Quantize(0) != uint8(p.Zero) {
			t.Errorf("[%g, %g]: 0 is not exact: %v, Dequant(%d) = %g, Quantize(0) = %d", tc.lo, tc.hi, p, p.Zero, p.Dequant(uint8(p.Zero)), p.Quantize(0))
		}
		a, b := p.Range()
		half := float64(p.Scale) / 2 * (1 + 1e-5) // float32 rounding of v·inv and s·(q − z)
		if lo, hi := math.Min(tc.lo, 0), math.Max(tc.hi, 0); tc.hi > 255*minScale && (a > lo+half || b < hi-half) {
			t.Errorf("[%g, %g]: the grid covers [%g, %g], more than half a step %g short", tc.lo, tc.hi, a, b, half)
		}
		// Every value in range is within half a step of its fake-quantized
		// value.
		v := []float32{float32(tc.lo), float32(tc.hi), float32((tc.lo + tc.hi) / 2), 0}
		w := slices.Clone(v)
		p.Fake(w)
		for i := range v {
			if x := float64(v[i]); x >= a && x <= b && math.Abs(x-float64(w[i])) > half {
				t.Errorf("[%g, %g]: %g fake-quantizes to %g", tc.lo, tc.hi, v[i], w[i])
			}
		}
	}
	for _, tc := range []struct{ lo, hi float64 }{{0, 0}, {math.Inf(-1), math.Inf(1)}, {math.NaN(), 1}} {
		if p := ParamsFor(tc.lo, tc.hi); p != (Params{Scale: 1}) {
			t.Errorf("[%g, %g]: %v, want scale 1 zero 0", tc.lo, tc.hi, p)
		}
	}
}

// TestStatsRange: min/max covers an outlier that percentile clips; the
// percentile of a hand-made tensor is its quantile within the histogram's
// resolution; a non-negative tensor's lower end is its minimum.
func TestStatsRange(t *testing.T) {
	// 0, 1, ..., 9999 and one outlier at 1e6.
	s := NewStats()
	vals := make([]float32, 10000)
	for i := range vals {
		vals[i] = float32(i)
	}
	if err := s.Add(append(vals, 1e6)); err != nil {
		t.Fatal(err)
	}
	if lo, hi := s.Range(MinMax, 0); lo != 0 || hi != 1e6 {
		t.Errorf("minmax: [%g, %g], want [0, 1e6]", lo, hi)
	}
	res := s.width // 1e6 < 2^20: bins of 2^20/2^11 = 512
	if res != 512 {
		t.Errorf("bin width %g, want 512", res)
	}
	lo, hi := s.Range(Percentile, 99.9)
	// 99.9% of 10001 values: the 9991st, 9990; the bin holding it ends at
	// 10240.
	if lo != 0 || hi < 9990 || hi > 9990+res {
		t.Errorf("percentile 99.9: [%g, %g], want [0, 9990..%g]", lo, hi, 9990+res)
	}
	if pm, pp := ParamsFor(s.Range(MinMax, 0)), ParamsFor(lo, hi); pm.Zero != 0 || pp.Zero != 0 || pp.Scale > pm.Scale/90 {
		t.Errorf("minmax %v, percentile %v: want zero points 0 and a percentile step 90× finer", pm, pp)
	}
	if lo, hi := s.Range(Percentile, 100); lo != 0 || hi != 1e6 {
		t.Errorf("percentile 100: [%g, %g], want min/max", lo, hi)
	}

	// A symmetric tensor with outliers on both sides: percentile clips
	// both, min/max neither; both keep 0 exact.
	s = NewStats()
	rng := rand.New(rand.NewPCG(1, 2))
	g := make([]float32, 100000)
	for i := range g {
		g[i] = float32(rng.NormFloat64())
	}
	g[17], g[99] = -40, 55
	if err := s.Add(g); err != nil {
		t.Fatal(err)
	}
	lo, hi = s.Range(Percentile, 99.99)
	if lo < -5 || lo > -3 || hi < 3 || hi > 5 {
		t.Errorf("percentile 99.99 of N(0,1): [%g, %g], want about ±3.9", lo, hi)
	}
	if lo, hi := s.Range(MinMax, 0); lo != -40 || hi != 55 {
		t.Errorf("minmax: [%g, %g]", lo, hi)
	}
	pp, pm := ParamsFor(lo, hi), ParamsFor(-40, 55)
	// The percentile grid quantizes the bulk (all but the two outliers,
	// which it clips) with a far smaller error.
	var ep, em float64
	for i, x := range g {
		if i == 17 || i == 99 {
			continue
		}
		a, b := []float32{x}, []float32{x}
		pp.Fake(a)
		pm.Fake(b)
		ep += (float64(x) - float64(a[0])) * (float64(x) - float64(a[0]))
		em += (float64(x) - float64(b[0])) * (float64(x) - float64(b[0]))
	}
	if ep > em/50 {
		t.Errorf("bulk error: percentile %g, minmax %g: want percentile's 50× lower (its step is 12× finer)", ep, em)
	}

	// The histogram does not depend on the order the values come in:
	// growing merges bins exactly.
	a, b := NewStats(), NewStats()
	a.Add(g)
	rev := slices.Clone(g)
	slices.Reverse(rev)
	for i := 0; i < len(rev); i += 1000 {
		b.Add(rev[i : i+1000])
	}
	if a.width != b.width || !slices.Equal(a.pos, b.pos) || !slices.Equal(a.neg, b.neg) || a.Min != b.Min || a.Max != b.Max || a.Count != b.Count {
		t.Error("the histogram depends on the order of the values")
	}

	// Non-finite values are refused; an empty or all-zero tensor has the
	// range [0, 0].
	if err := NewStats().Add([]float32{1, float32(math.NaN())}); err == nil {
		t.Error("NaN accepted")
	}
	if err := NewStats().Add([]float32{float32(math.Inf(-1))}); err == nil {
		t.Error("-Inf accepted")
	}
	z := NewStats()
	z.Add(make([]float32, 100))
	for _, m := range []Method{MinMax, Percentile} {
		if lo, hi := z.Range(m, 99.99); lo != 0 || hi != 0 {
			t.Errorf("%s of zeros: [%g, %g]", m, lo, hi)
		}
		if lo, hi := NewStats().Range(m, 99.99); lo != 0 || hi != 0 {
			t.Errorf("%s of nothing: [%g, %g]", m, lo, hi)
		}
	}
}

// TestQuantizeKernel: per output channel (the last axis), symmetric,
// scale max|w|/127, |w − scale·q| ≤ scale/2, the largest magnitude of a
// channel is ±127, a zero channel has scale 1 and zeros.
func TestQuantizeKernel(t *testing.T) {
	const out = 5
	rng := rand.New(rand.NewPCG(3, 4))
	w := make([]float32, 3*3*7*out)
	for i := range w {
		switch oc := i % out; oc {
		case 0: // a channel of zeros
		case 1:
			w[i] = float32(rng.NormFloat64() * 1e-3)
		case 2:
			w[i] = float32(rng.NormFloat64() * 30)
		default:
			w[i] = float32(rng.NormFloat64())
		}
	}
	w[3*out+4] = -9 // channel 4's largest magnitude, negative
	q, scale, err := QuantizeKernel(w, out)
	if err != nil {
		t.Fatal(err)
	}
	if scale[0] != 1 {
		t.Errorf("zero channel: scale %g, want 1", scale[0])
	}
	maxAbs := make([]float32, out)
	maxQ := make([]int, out)
	for i, x := range w {
		maxAbs[i%out] = max(maxAbs[i%out], float32(math.Abs(float64(x))))
		maxQ[i%out] = max(maxQ[i%out], int(math.Abs(float64(q[i]))))
	}
	for oc := 1; oc < out; oc++ {
		if scale[oc] != maxAbs[oc]/127 {
			t.Errorf("channel %d: scale %g, want max|w|/127 = %g", oc, scale[oc], maxAbs[oc]/127)
		}
		if maxQ[oc] != 127 {
			t.Errorf("channel %d: largest |q| %d, want 127", oc, maxQ[oc])
		}
	}
	if q[3*out+4] != -127 {
		t.Errorf("channel 4's -9 quantizes to %d, want -127", q[3*out+4])
	}
	deq := DequantKernel(q, scale)
	for i, x := range w {
		s := scale[i%out]
		if q[i] < -127 {
			t.Fatalf("q[%d] = %d: -128 is never used", i, q[i])
		}
		if d := math.Abs(float64(x) - float64(deq[i])); d > float64(s)/2*(1+1e-6) {
			t.Errorf("w[%d] = %g: dequantized %g, off by %g > scale/2 = %g", i, x, deq[i], d, s/2)
		}
	}
	if _, _, err := QuantizeKernel([]float32{1, float32(math.Inf(1))}, 1); err == nil {
		t.Error("an infinite weight was quantized")
	}
	if _, _, err := QuantizeKernel([]float32{1, 2, 3}, 2); err == nil {
		t.Error("3 values quantized as 2 channels")
	}
}

package quant

import (
	"fmt"
	"math"
)

// histBits is log2 of the bins on each side of zero of a tensor's
// histogram: its resolution is between 1/2048 and 1/1024 of the largest
// magnitude seen, far finer than the 1/255 step of the uint8 it is for.
const histBits = 11

const histBins = 1 << histBits

// Stats is what calibration observes of one tensor's values: their count,
// minimum and maximum, and a histogram for percentiles. The histogram's
// bins are anchored at zero and a power of two wide; a value beyond its
// reach doubles the width, merging pairs of bins, so that the bins are
// exact whatever order the values come in and no second pass is needed.
type Stats struct {
	Count    int64
	Min, Max float64
	width    float64 // bin width; 0 until a nonzero value is seen
	// pos[j] counts the values x ≥ 0 with x/width in [j, j+1); neg[j] the
	// values x < 0 with −x/width in [j, j+1).
	pos, neg []int64
}

// NewStats returns empty statistics.
func NewStats() *Stats {
	return &Stats{Min: math.Inf(1), Max: math.Inf(-1), pos: make([]int64, histBins), neg: make([]int64, histBins)}
}

// Add records values; a NaN or an infinity is an error (at flat index i).
func (s *Stats) Add(vals []float32) error {
	for i, v := range vals {
		x := float64(v)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("non-finite value %v at flat index %d", v, i)
		}
		s.Count++
		s.Min, s.Max = math.Min(s.Min, x), math.Max(s.Max, x)
		a := math.Abs(x)
		if a > 0 && s.width == 0 {
			// a < 2^(e+1) and width 2^(e+1−histBits): a/width < histBins.
			s.width = math.Ldexp(1, math.Ilogb(a)+1-histBits)
		}
		for a >= s.width*histBins && s.width > 0 {
			s.grow()
		}
		j := 0
		if a > 0 {
			j = min(int(a/s.width), histBins-1)
		}
		if x < 0 {
			s.neg[j]++
		} else {
			s.pos[j]++
		}
	}
	return nil
}

// grow doubles the bin width: bin j of the new histogram is bins 2j and
// 2j+1 of the old, on each side.
func (s *Stats) grow() {
	for _, h := range [][]int64{s.pos, s.neg} {
		for j := 0; j < histBins/2; j++ {
			h[j] = h[2*j] + h[2*j+1]
		}
		clear(h[histBins/2:])
	}
	s.width *= 2
}

// bins walks the histogram from the most negative bin to the most positive,
// giving each bin's bounds and count; it stops when f returns true.
func (s *Stats) bins(f func(lo, hi float64, n int64) bool) {
	for j := histBins - 1; j >= 0; j-- {
		if f(-float64(j+1)*s.width, -float64(j)*s.width, s.neg[j]) {
			return
		}
	}
	for j := 0; j < histBins; j++ {
		if f(float64(j)*s.width, float64(j+1)*s.width, s.pos[j]) {
			return
		}
	}
}

// Percentile returns the range [lo, hi] from the (100 − p)th to the p-th
// percentile of the values (p in (0, 100]): hi is the top of the histogram bin where
// p percent of the values have been counted, lo the bottom of the bin
// where 100 − p percent have (at least one value), both within [Min, Max].
// With p = 100 it is [Min, Max]. With no values it is [0, 0].
func (s *Stats) Percentile(p float64) (lo, hi float64) {
	if s.Count == 0 {
		return 0, 0
	}
	below := max(1, int64(math.Ceil((1-p/100)*float64(s.Count))))
	upTo := max(1, int64(math.Ceil(p/100*float64(s.Count))))
	var cum int64
	lo, hi = s.Min, s.Max
	found := false
	s.bins(func(a, b float64, n int64) bool {
		cum += n
		if !found && cum >= below {
			lo, found = math.Max(a, s.Min), true
		}
		if cum >= upTo {
			hi = math.Min(b, s.Max)
			return true
		}
		return false
	})
	return lo, hi
}

// Range is the range a method chooses: [Min, Max] for MinMax, Percentile(p)
// for Percentile; [0, 0] with no values.
func (s *Stats) Range(m Method, p float64) (lo, hi float64) {
	if s.Count == 0 {
		return 0, 0
	}
	if m == MinMax {
		return s.Min, s.Max
	}
	return s.Percentile(p)
}

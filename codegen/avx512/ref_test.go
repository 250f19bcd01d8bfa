package avx512

import "testing"

// TestRefConvPlain checks the Go twin (and PackOIHW) against a direct
// convolution on plain CHW / HWC tensors.
func TestRefConvPlain(t *testing.T) { harness.TestRefPlain(t, sweepCases()) }

// TestChooseTiling checks the tiling invariants over the test sweep and
// the ResNet50V2 layers.
func TestChooseTiling(t *testing.T) {
	for _, s := range harness.Specs(sweepCases()) {
		tl := ChooseTiling(&s)
		if tl.NB < 1 || tl.NB > 4 || s.OCB()%tl.NB != 0 {
			t.Errorf("%+v: NB %d", s, tl.NB)
		}
		nbc := 32 - tl.NB - tl.NB*tl.URW
		if tl.URW < 1 || tl.URW > s.OW() || tl.NB*tl.URW > 28 || (!tl.Embed && nbc < 2) {
			t.Errorf("%+v: tiling %v", s, tl)
		}
		if tl.ICC < 1 || tl.ICC > s.ICB() {
			t.Errorf("%+v: ICC %d", s, tl.ICC)
		}
	}
}

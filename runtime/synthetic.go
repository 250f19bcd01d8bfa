package runtime

import "strings"

// SyntheticWeights makes deterministic pseudo-random weights for the
// tensors a program loads (values in ±0.1, batch-norm variances in
// [0.5, 1.5)): enough to run and benchmark a model without a weight file.
// A nil program, or one without plans, gets no weights (New reports what
// is wrong with it).
func SyntheticWeights(prog *Program, seed uint64) *Weights {
	ws := NewWeights()
	if prog == nil || len(prog.Plans) == 0 || prog.Plans[0] == nil {
		return ws
	}
	state := seed*0x9e3779b97f4a7c15 + 1
	next := func() float32 { // xorshift64*, in [0, 1)
		state ^= state >> 12
		state ^= state << 25
		state ^= state >> 27
		return float32((state*0x2545f4914f6cdd1d)>>40) / (1 << 24)
	}
	for _, s := range prog.Plans[0].Weights {
		if s.Op != "load" {
			continue
		}
		data := make([]float32, NumElements(s.Shape))
		for i := range data {
			if strings.HasSuffix(s.Name, "/moving_variance") {
				data[i] = 0.5 + next()
			} else {
				data[i] = (next() - 0.5) * 0.2
			}
		}
		_ = ws.Add(s.Name, s.Shape, data)
	}
	return ws
}

package runtime

import (
	"strings"

	"github.com/rnc-dev/rnc/runtime/abi"
)

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
	quantized := false
	for _, s := range prog.Plans[0].Weights {
		quantized = quantized || s.DType != abi.F32
	}
	if quantized {
		ws.Metadata["format"] = Int8Format
	}
	for _, s := range prog.Plans[0].Weights {
		if s.Op != "load" {
			continue
		}
		n := NumElements(s.Shape)
		switch s.DType {
		case abi.S8: // an int8 kernel's codes
			q := make([]int8, n)
			for i := range q {
				q[i] = int8(int(next()*255) - 127)
			}
			_ = ws.AddInt8(s.Name, s.Shape, q)
			continue
		case abi.U8: // zero points: 0 is valid for every tensor (an int8 conv's input needs it)
			_ = ws.AddUint8(s.Name, s.Shape, make([]uint8, n))
			continue
		}
		data := make([]float32, n)
		for i := range data {
			switch {
			case strings.HasSuffix(s.Name, "/moving_variance"):
				data[i] = 0.5 + next()
			case strings.HasSuffix(s.Name, "/kernel_scale"): // ±0.1 weights in int8 codes
				data[i] = (0.5 + next()) * 0.1 / 127
			case strings.HasSuffix(s.Name, "_scale") && n == 1: // a uint8 tensor's scale
				data[i] = (0.5 + next()) / 64
			default:
				data[i] = (next() - 0.5) * 0.2
			}
		}
		_ = ws.Add(s.Name, s.Shape, data)
	}
	return ws
}

package codegen

import (
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/runtime"
)

// WeightSteps lowers g's weight program (ir/weights.go's expressions) to
// the runtime steps a generated package runs at load time, and returns the
// index of every weight's step.
func WeightSteps(g *ir.Graph) ([]runtime.WStep, map[*ir.Weight]int) {
	index := map[*ir.Weight]int{}
	steps := make([]runtime.WStep, 0, len(g.Weights.List))
	for i, w := range g.Weights.List {
		s := runtime.WStep{Op: w.Op.String(), Eps: w.Eps, Layout: w.Layout, Groups: w.Groups, To: w.To, Shape: append([]int(nil), w.Shape...)}
		if w.Op == ir.WLoad {
			s.Name, s.DType = w.Name, w.DType
		}
		for _, a := range w.Args {
			s.Args = append(s.Args, index[a])
		}
		steps = append(steps, s)
		index[w] = i
	}
	return steps, index
}

package ir

import "fmt"

// AddLayer appends a Keras-level op to g: it infers the output types (nhwc
// feature maps, nc vectors) and declares the op's weights as file tensors
// named "<layer>/<role>". Optional roles (a bias) are declared when
// withOptional is set. For Input, op.Outputs must already hold the type.
func (g *Graph) AddLayer(op *Op, withOptional bool) error {
	if len(op.Names) != 1 {
		return fmt.Errorf("a layer has exactly one name, got %v", op.Names)
	}
	var dims [][]int
	if op.Kind == Input {
		if len(op.Outputs) != 1 {
			return fmt.Errorf("Input needs its type")
		}
		dims = [][]int{op.Outputs[0].Type.Dims}
		op.Outputs = nil
	} else {
		var err error
		if dims, err = InferDims(op); err != nil {
			return err
		}
	}
	for _, d := range dims {
		l := NHWC
		if len(d) == 1 {
			l = NC
		} else if len(d) != 3 {
			return fmt.Errorf("output has %d dimensions; rnc supports feature maps (H, W, C) and vectors (C)", len(d))
		}
		op.Outputs = append(op.Outputs, g.NewValue(Type{F32, d, l}, op))
	}
	shapes := ParamShapes(op)
	for _, p := range op.Kind.Info().Params {
		if p.Optional && !withOptional || p.Derived {
			continue
		}
		w, err := g.Weights.Load(op.Names[0]+"/"+p.Role, shapes[p.Role])
		if err != nil {
			return err
		}
		if op.Params == nil {
			op.Params = map[string]*Weight{}
		}
		op.Params[p.Role] = w
	}
	g.Ops = append(g.Ops, op)
	return nil
}

// PruneUnreachable removes ops that do not contribute to the outputs and
// the file tensors only they used, as Keras's Model(inputs, outputs) keeps
// only the layers between them.
func (g *Graph) PruneUnreachable() {
	g.RemoveDead()
	used := map[*Weight]bool{}
	var mark func(w *Weight)
	mark = func(w *Weight) {
		if w != nil && !used[w] {
			used[w] = true
			for _, a := range w.Args {
				mark(a)
			}
		}
	}
	for _, op := range g.Ops {
		for _, w := range op.Params {
			mark(w)
		}
		for _, st := range op.Attrs.Epi {
			mark(st.Scale)
			mark(st.Shift)
		}
	}
	p := g.Weights
	kept := p.List[:0]
	for _, w := range p.List {
		if used[w] {
			kept = append(kept, w)
		} else {
			delete(p.byName, w.Name)
		}
	}
	p.List = kept
}

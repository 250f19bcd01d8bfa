package passes

import (
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/runtime/abi"
)

// Fuse merges elementwise work into the op that produces its input, as an
// epilogue applied before the store:
//   - every Conv2D and pooling heads a group; an elementwise op (Activation relu,
//     sigmoid or linear; Affine; Add; Multiply; Dropout) whose input is the
//     current result of a group joins it as epilogue steps (relu, sigmoid,
//     affine(scale,shift), add(operand/stride), mul(operand/stride)); its
//     other inputs become operands of the group's op;
//   - when several groups' results meet in one Add, the latest group absorbs
//     it (the residual branch's last conv, not the shortcut);
//   - when a result has other readers (the raw residual sum of a ResNetV2
//     block, which the next identity shortcut reads), the group stores it
//     (an `out` step: a second output) and goes on (the next pre-activation
//     affine + ReLU), so one kernel writes both;
//   - an elementwise op that no group can take starts an Eltwise group;
//   - global pooling + Dense (+ softmax) become one Head op.
//
// Groups never merge across a layout change, never absorb a strided read of
// their own result, never absorb an op whose other operands depend on the
// group itself, and never grow an epilogue the target's compiled kernels
// cannot run (KernelEpilogue): a second product, say, stays a separate
// elementwise op rather than sending a whole conv to the portable Go code.
func Fuse(g *ir.Graph, t Target) error {
	f := &fuser{g: g, t: t, group: map[*ir.Value]*ir.Op{}, dead: map[*ir.Op]bool{}, pos: map[*ir.Op]int{}}
	for i, op := range g.Ops {
		f.pos[op] = i
		if (op.Kind == ir.Conv2D || op.Kind == ir.MaxPool || op.Kind == ir.AvgPool) && len(op.Outputs) == 1 {
			f.group[op.Out()] = op
		}
	}
	for _, op := range g.Ops {
		if fusible(op) {
			f.absorb(op)
		}
	}
	removeOps(g, f.dead)
	fuseHead(g)
	topoSort(g)
	return nil
}

type fuser struct {
	g     *ir.Graph
	t     Target
	group map[*ir.Value]*ir.Op // a group's current result → its head op
	dead  map[*ir.Op]bool
	pos   map[*ir.Op]int
}

func fusible(op *ir.Op) bool {
	switch op.Kind {
	case ir.Activation:
		return op.Attrs.Fn == ir.Relu || op.Attrs.Fn == ir.Sigmoid || op.Attrs.Fn == ir.Linear
	case ir.Affine, ir.Add, ir.Multiply, ir.Dropout, ir.Rescale:
		return true
	}
	return false
}

func sub(op *ir.Op, i int) int {
	if len(op.Attrs.Sub) == 0 {
		return 1
	}
	return op.Attrs.Sub[i]
}

// absorb merges elementwise op e into the best group that produces one of
// its inputs, or makes it the head of a new Eltwise group.
func (f *fuser) absorb(e *ir.Op) {
	uses := f.g.Uses()
	best := -1
	for i, in := range e.Inputs {
		h := f.group[in]
		if h == nil || sub(e, i) != 1 || in.Type.Layout != e.Out().Type.Layout || f.dependsOnOthers(e, i, h) || !f.fits(uses, h, e, i) {
			continue
		}
		if best < 0 || f.pos[h] > f.pos[f.group[e.Inputs[best]]] {
			best = i
		}
	}
	if best < 0 {
		f.startEltwise(e)
		return
	}
	x := e.Inputs[best]
	h := f.group[x]
	delete(f.group, x)
	if !(len(uses[x]) == 1 && !f.g.IsOutput(x)) {
		h.Attrs.Epi = append(h.Attrs.Epi, ir.Step{Kind: ir.StepOut})
	} else {
		h.Outputs = h.Outputs[:len(h.Outputs)-1] // x is no longer stored
	}
	h.Attrs.Epi = append(h.Attrs.Epi, f.steps(h, e, best)...)
	y := e.Out()
	y.Def = h
	h.Outputs = append(h.Outputs, y)
	h.Names = append(h.Names, e.Names...)
	f.group[y] = h
	f.dead[e] = true
}

// fits reports whether head h's kernel can still run its epilogue after
// absorbing e (reading its input self): always for the portable target,
// and when h runs portable code already.
func (f *fuser) fits(uses map[*ir.Value][]*ir.Op, h, e *ir.Op, self int) bool {
	if !KernelEpilogue(f.t, h.Kind, h.Attrs.Epi) {
		return true // h runs the portable kernel anyway
	}
	epi := append([]ir.Step(nil), h.Attrs.Epi...)
	if x := h.Outputs[len(h.Outputs)-1]; len(uses[x]) > 1 || f.g.IsOutput(x) {
		epi = append(epi, ir.Step{Kind: ir.StepOut})
	}
	probe := &ir.Op{Kind: e.Kind, Inputs: append([]*ir.Value(nil), e.Inputs...), Attrs: e.Attrs, Params: e.Params}
	epi = append(epi, f.steps(probe, e, self)...) // operands land on probe, not on h
	return KernelEpilogue(f.t, h.Kind, epi)
}

// KernelEpilogue reports whether target t's compiled kernels run an op of
// kind head with epilogue epi: whether the kernel family that runs such an
// op on t accepts it (abi.Caps; codegen asks the same table before it
// emits the kernel, and TestCapsAgree there proves the two agree). What
// they do not take runs the portable Go kernels, so fuse keeps it out of a
// compiled op rather than sending the whole op to Go. On a target without
// the family (the generic target has none) every kernel is portable Go:
// anything fuses.
func KernelEpilogue(t Target, head ir.Kind, epi []ir.Step) bool {
	caps := KernelCaps(t, head)
	return caps == nil || caps.Check(CapSteps(epi)) == nil
}

// KernelCaps is the epilogue capability of the kernel family that runs an
// op of kind head on target t, or nil when t has none (portable Go runs
// the op, whatever its epilogue).
func KernelCaps(t Target, head ir.Kind) *abi.Caps {
	var f abi.Family
	switch head {
	case ir.Conv2D:
		f = abi.Direct // the Winograd family accepts the same epilogues
	case ir.MaxPool, ir.AvgPool:
		f = abi.Pool
	case ir.Eltwise:
		f = abi.Eltwise
	default:
		return nil
	}
	if !t.Desc().Has(f) {
		return nil
	}
	return abi.FamilyCaps(f)
}

// CapSteps is the shape of an IR epilogue a capability checks.
func CapSteps(epi []ir.Step) []abi.Step {
	out := make([]abi.Step, len(epi))
	for i, st := range epi {
		out[i] = abi.Step{Kind: st.Kind, Sub: st.Sub}
	}
	return out
}

// steps translates e (reading its input `self` from the group) into
// epilogue steps of head h, adding e's other inputs as operands of h.
func (f *fuser) steps(h, e *ir.Op, self int) []ir.Step {
	switch e.Kind {
	case ir.Activation:
		return ir.ActivationSteps(e.Attrs.Fn)
	case ir.Affine:
		return []ir.Step{{Kind: ir.StepAffine, Sub: 1, Scale: e.Param("scale"), Shift: e.Param("shift")}}
	case ir.Rescale:
		return []ir.Step{{Kind: ir.StepScale, Sub: 1, Mul: e.Attrs.Scale, Add: e.Attrs.Offset}}
	case ir.Add, ir.Multiply:
		kind := ir.StepAdd
		if e.Kind == ir.Multiply {
			kind = ir.StepMul
		}
		var st []ir.Step
		for i, in := range e.Inputs {
			if i != self {
				st = append(st, ir.Step{Kind: kind, Arg: operand(h, in), Sub: sub(e, i)})
			}
		}
		return st
	}
	return nil // Dropout
}

// operand returns the index of v among h's epilogue operands, adding it.
func operand(h *ir.Op, v *ir.Value) int {
	for i := 1; i < len(h.Inputs); i++ {
		if h.Inputs[i] == v {
			return i
		}
	}
	h.Inputs = append(h.Inputs, v)
	return len(h.Inputs) - 1
}

// dependsOnOthers reports whether an input of e other than input self
// depends on a value group h computes (absorbing e would make a cycle).
func (f *fuser) dependsOnOthers(e *ir.Op, self int, h *ir.Op) bool {
	seen := map[*ir.Op]bool{}
	var reaches func(op *ir.Op) bool
	reaches = func(op *ir.Op) bool {
		if op == h {
			return true
		}
		// No pruning by position: a group placed before h may already have
		// absorbed an op that reads one of h's outputs.
		if seen[op] {
			return false
		}
		seen[op] = true
		for _, in := range op.Inputs {
			if reaches(in.Def) {
				return true
			}
		}
		return false
	}
	for i, in := range e.Inputs {
		if i != self && reaches(in.Def) {
			return true
		}
	}
	return false
}

// startEltwise turns e into an Eltwise op heading its own group.
func (f *fuser) startEltwise(e *ir.Op) {
	self := 0
	steps := f.steps(e, e, self)
	if e.Kind == ir.Add || e.Kind == ir.Multiply {
		// steps() appended nothing to e's inputs: they are already there.
		for i := range steps {
			steps[i].Arg = i + 1
		}
		if len(e.Attrs.Sub) > 0 && e.Attrs.Sub[0] != 1 {
			return // a strided x0 stays an Add
		}
	}
	e.Kind = ir.Eltwise
	e.Attrs = ir.Attrs{Epi: steps}
	e.Params = nil
	f.group[e.Out()] = e
}

// fuseHead turns GlobalAveragePooling2D/GlobalMaxPooling2D → Dense
// (→ Activation softmax) into one Head op, and folds an Activation into a
// linear Dense.
func fuseHead(g *ir.Graph) {
	dead := map[*ir.Op]bool{}
	uses := g.Uses()
	for _, op := range g.Ops {
		if op.Kind != ir.Activation || dead[op] {
			continue
		}
		d := op.Inputs[0].Def
		if d.Kind == ir.Dense && d.Attrs.Act == "" && soleUse(g, uses, d.Out(), op) {
			d.Attrs.Act = op.Attrs.Fn
			d.Names = append(d.Names, op.Names...)
			g.ReplaceUses(op.Out(), d.Out())
			dead[op] = true
		}
	}
	removeOps(g, dead)
	uses = g.Uses()
	for _, d := range g.Ops {
		if d.Kind != ir.Dense || len(d.Inputs[0].Type.Dims) != 1 {
			continue
		}
		p := d.Inputs[0].Def
		if (p.Kind != ir.GlobalAvgPool && p.Kind != ir.GlobalMaxPool) || !soleUse(g, uses, p.Out(), d) {
			continue
		}
		pooling := "avg"
		if p.Kind == ir.GlobalMaxPool {
			pooling = "max"
		}
		d.Kind = ir.Head
		d.Attrs.Pooling = pooling
		d.Inputs = []*ir.Value{p.Inputs[0]}
		d.Names = append(append([]string(nil), p.Names...), d.Names...)
		dead[p] = true
	}
	removeOps(g, dead)
}

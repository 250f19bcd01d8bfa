package ir

import (
	"fmt"
	"strings"
)

// Value is the result of an op: one tensor per image of the batch.
type Value struct {
	ID   int
	Type Type
	Def  *Op // the op that produces it
	// Mem is the value's place in the activation arena once memplan has
	// run (Size == 0 before). Offsets and sizes are per image: for a batch
	// of n images every offset and size is multiplied by n.
	Mem Mem
	// Q is a quantized value's scale and zero point (Type.DType u8): its
	// real values are Scale·(q − Zero). They are weights, loaded from the
	// quantized weight file, so a recalibrated file runs on the same
	// compiled package.
	Q *QParams
}

// QParams are the weights holding a quantized value's parameters: Scale
// is f32 [1], Zero u8 [1].
type QParams struct {
	Scale, Zero *Weight
}

// Mem is a byte range of the activation arena, per image.
type Mem struct {
	Offset, Size int64
}

// End is the first byte after the range.
func (m Mem) End() int64 { return m.Offset + m.Size }

// Name prints the value as it appears in the text form, e.g. "%12".
func (v *Value) Name() string { return fmt.Sprintf("%%%d", v.ID) }

// Op is one operation of the graph.
type Op struct {
	Kind Kind
	// Names are the Keras layer names the op implements: one for a layer,
	// several once ops are fused (printed joined by "+").
	Names   []string
	Inputs  []*Value
	Outputs []*Value
	Attrs   Attrs
	// Params maps a weight role of the kind ("kernel", "bias", ...) to a
	// value of the graph's weight program.
	Params map[string]*Weight
	// Pos is where the op came from in the model source ("file.rn:12:5"),
	// for messages; it is not part of the text form.
	Pos string
}

// Name is the op's display name: its Keras names joined by "+".
func (o *Op) Name() string { return strings.Join(o.Names, "+") }

// Out is the op's first (usually only) output.
func (o *Op) Out() *Value { return o.Outputs[0] }

// Param returns the weight bound to role, or nil.
func (o *Op) Param(role string) *Weight { return o.Params[role] }

// Graph is a model: ops in topological order, its outputs, and the weight
// program its ops' parameters come from.
type Graph struct {
	// Name is the Keras model name ("model" unless the source names it).
	Name    string
	Ops     []*Op
	Outputs []*Value
	Weights *WeightProgram
	nextID  int
}

// NewGraph returns an empty graph.
func NewGraph(name string) *Graph {
	return &Graph{Name: name, Weights: NewWeightProgram()}
}

// NewValue allocates a value of type t defined by op.
func (g *Graph) NewValue(t Type, def *Op) *Value {
	v := &Value{ID: g.nextID, Type: t, Def: def}
	g.nextID++
	return v
}

// Inputs returns the graph's Input ops' values, in order.
func (g *Graph) Inputs() []*Value {
	var in []*Value
	for _, op := range g.Ops {
		if op.Kind == Input {
			in = append(in, op.Out())
		}
	}
	return in
}

// Uses returns, for every value, the ops that read it (in graph order; an
// op reading a value twice is listed twice).
func (g *Graph) Uses() map[*Value][]*Op {
	uses := map[*Value][]*Op{}
	for _, op := range g.Ops {
		for _, in := range op.Inputs {
			uses[in] = append(uses[in], op)
		}
	}
	return uses
}

// IsOutput reports whether v is one of the graph's outputs.
func (g *Graph) IsOutput(v *Value) bool {
	for _, o := range g.Outputs {
		if o == v {
			return true
		}
	}
	return false
}

// OpByName returns the op that carries the Keras layer name, or nil.
func (g *Graph) OpByName(name string) *Op {
	for _, op := range g.Ops {
		for _, n := range op.Names {
			if n == name {
				return op
			}
		}
	}
	return nil
}

// ReplaceUses makes every reader of old (ops and graph outputs) read new.
func (g *Graph) ReplaceUses(old, new *Value) {
	for _, op := range g.Ops {
		for i, in := range op.Inputs {
			if in == old {
				op.Inputs[i] = new
			}
		}
	}
	for i, o := range g.Outputs {
		if o == old {
			g.Outputs[i] = new
		}
	}
}

// RemoveDead deletes ops none of whose outputs is used (Input ops stay),
// then weights no op refers to.
func (g *Graph) RemoveDead() {
	for {
		uses := g.Uses()
		kept := g.Ops[:0]
		removed := false
		for _, op := range g.Ops {
			live := op.Kind == Input
			for _, o := range op.Outputs {
				if len(uses[o]) > 0 || g.IsOutput(o) {
					live = true
				}
			}
			if live {
				kept = append(kept, op)
			} else {
				removed = true
			}
		}
		for i := len(kept); i < len(g.Ops); i++ {
			g.Ops[i] = nil
		}
		g.Ops = kept
		if !removed {
			break
		}
	}
	g.Weights.RemoveUnused(g)
}

// Clone returns a deep copy of g (values, ops and weights are new objects).
func (g *Graph) Clone() *Graph {
	c := &Graph{Name: g.Name, nextID: g.nextID}
	wmap := map[*Weight]*Weight{}
	c.Weights = g.Weights.clone(wmap)
	vmap := map[*Value]*Value{}
	for _, op := range g.Ops {
		n := &Op{Kind: op.Kind, Names: append([]string(nil), op.Names...), Pos: op.Pos, Attrs: op.Attrs.clone(wmap)}
		for _, in := range op.Inputs {
			n.Inputs = append(n.Inputs, vmap[in])
		}
		for _, o := range op.Outputs {
			v := &Value{ID: o.ID, Type: o.Type.clone(), Def: n, Mem: o.Mem}
			if o.Q != nil {
				v.Q = &QParams{Scale: wmap[o.Q.Scale], Zero: wmap[o.Q.Zero]}
			}
			vmap[o] = v
			n.Outputs = append(n.Outputs, v)
		}
		if op.Params != nil {
			n.Params = map[string]*Weight{}
			for r, w := range op.Params {
				n.Params[r] = wmap[w]
			}
		}
		c.Ops = append(c.Ops, n)
	}
	for _, o := range g.Outputs {
		c.Outputs = append(c.Outputs, vmap[o])
	}
	return c
}

func (t Type) clone() Type {
	t.Dims = append([]int(nil), t.Dims...)
	return t
}

// Renumber gives values consecutive IDs in graph order.
func (g *Graph) Renumber() {
	id := 0
	for _, op := range g.Ops {
		for _, o := range op.Outputs {
			o.ID = id
			id++
		}
	}
	g.nextID = id
	g.Weights.renumber()
}

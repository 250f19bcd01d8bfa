package ir

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// KerasOrder returns g's ops in the order Keras lists a functional model's
// layers: by depth from the output (deepest first), ties broken by the
// order in which a depth-first walk from the outputs, visiting each layer's
// inputs in order, first reaches them (tf.keras functional.py,
// _build_map_helper and _map_graph_network).
func KerasOrder(g *Graph) []*Op {
	index := map[*Op]int{} // first-reached order
	var post []*Op         // finished order: inputs before consumers
	done := map[*Op]bool{}
	var walk func(op *Op)
	walk = func(op *Op) {
		if done[op] {
			return
		}
		if _, ok := index[op]; !ok {
			index[op] = len(index)
		}
		for _, in := range op.Inputs {
			walk(in.Def)
		}
		done[op] = true
		post = append(post, op)
	}
	for _, o := range g.Outputs {
		walk(o.Def)
	}
	// Depth: the longest path to an output, computed in reverse finish order.
	depth := map[*Op]int{}
	for i := len(post) - 1; i >= 0; i-- {
		op := post[i]
		d := depth[op]
		for _, in := range op.Inputs {
			if depth[in.Def] < d+1 {
				depth[in.Def] = d + 1
			}
		}
	}
	order := append([]*Op(nil), post...)
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if depth[a] != depth[b] {
			return depth[a] > depth[b]
		}
		return index[a] < index[b]
	})
	return order
}

// ParamCounts returns the trainable and non-trainable parameter counts of
// a Keras-level op.
func ParamCounts(op *Op) (trainable, nonTrainable int) {
	t, nt := paramCounts(op)
	return int(t), int(nt)
}

// paramCounts is ParamCounts in int64, saturating at math.MaxInt64, so that
// no count overflows a 32-bit int or wraps.
func paramCounts(op *Op) (trainable, nonTrainable int64) {
	for _, p := range op.Kind.Info().Params {
		w := op.Params[p.Role]
		if w == nil {
			continue
		}
		n := int64(1)
		for _, d := range w.Shape {
			n = MulSat(n, int64(d))
		}
		if p.Trainable {
			trainable = AddSat(trainable, n)
		} else {
			nonTrainable = AddSat(nonTrainable, n)
		}
	}
	return trainable, nonTrainable
}

// Counts are the size figures of a Keras-level graph, in int64 (saturating
// at math.MaxInt64), which a 32-bit build cannot overflow: the command line
// bounds the parameters it makes up by Params.
type Counts struct {
	Params, Trainable int64
	// ConvDense counts the weights of Conv2D and Dense layers only (kernels
	// and biases): papers' parameter counts, which leave out batch norms.
	ConvDense int64
	// FLOPs per image: 2 × the multiply-adds of convolutions and Dense
	// layers, over their full kernel windows.
	FLOPs int64
}

// Count returns g's size figures.
func Count(g *Graph) Counts {
	var c Counts
	for _, op := range g.Ops {
		t, nt := paramCounts(op)
		c.Params = AddSat(c.Params, AddSat(t, nt))
		c.Trainable = AddSat(c.Trainable, t)
		switch op.Kind {
		case Conv2D:
			c.ConvDense = AddSat(c.ConvDense, AddSat(t, nt))
			o, a := op.Out().Type, op.Attrs
			c.FLOPs += 2 * int64(o.H()*o.W()*a.Filters) * int64(a.Kernel[0]*a.Kernel[1]*op.Inputs[0].Type.C())
		case Dense:
			c.ConvDense = AddSat(c.ConvDense, AddSat(t, nt))
			in := op.Inputs[0].Type
			c.FLOPs += 2 * int64(in.Elems()) * int64(op.Attrs.Units)
		}
	}
	return c
}

// MulSat is a × b for non-negative a and b, saturating at math.MaxInt64.
func MulSat(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

// AddSat is a + b for non-negative a and b, saturating at math.MaxInt64.
func AddSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// SummaryOptions adds to Keras's summary.
type SummaryOptions struct {
	// ConvDense appends a line counting the Conv2D and Dense weights only,
	// as papers count parameters (leaving out batch norms).
	ConvDense bool
}

// Summary writes Keras's model.summary() of a Keras-level graph (as the
// DSL expands it, before any pass), in the tf.keras 2.x format with the
// "Connected to" column.
func Summary(w io.Writer, g *Graph) error { return SummaryWith(w, g, SummaryOptions{}) }

// SummaryWith is Summary with options.
func SummaryWith(w io.Writer, g *Graph, opt SummaryOptions) error {
	for _, op := range g.Ops {
		if op.Kind.Info().Keras == "" || len(op.Names) != 1 {
			return fmt.Errorf("summary needs the graph as expanded, before passes: %s is a %s", op.Name(), op.Kind)
		}
	}
	const lineLength = 98
	positions := []int{32, 53, 65, 98} // int(98 * [.33, .55, .67, 1])
	var b strings.Builder
	row := func(fields ...string) {
		line := ""
		for i, f := range fields {
			if i > 0 {
				line = line[:len(line)-1] + " "
			}
			line += f
			if len(line) > positions[i] {
				line = line[:positions[i]]
			}
			line += strings.Repeat(" ", positions[i]-len(line))
		}
		b.WriteString(line + "\n")
	}
	fmt.Fprintf(&b, "Model: %q\n", g.Name)
	b.WriteString(strings.Repeat("_", lineLength) + "\n")
	row("Layer (type)", "Output Shape", "Param #", "Connected to")
	b.WriteString(strings.Repeat("=", lineLength) + "\n")
	order := KerasOrder(g)
	for i, op := range order {
		t, nt := paramCounts(op)
		shape := op.Out().Type.KerasShape()
		if op.Kind == Input {
			shape = "[" + shape + "]"
		}
		var conns []string
		for _, in := range op.Inputs {
			conns = append(conns, in.Def.Names[0]+"[0][0]")
		}
		first := ""
		if len(conns) > 0 {
			first = conns[0]
		}
		row(op.Names[0]+" ("+op.Kind.Info().Keras+")", shape, strconv.FormatInt(AddSat(t, nt), 10), first)
		for _, c := range conns[min(1, len(conns)):] {
			row("", "", "", c)
		}
		if i == len(order)-1 {
			b.WriteString(strings.Repeat("=", lineLength) + "\n")
		} else {
			b.WriteString(strings.Repeat("_", lineLength) + "\n")
		}
	}
	c := Count(g)
	fmt.Fprintf(&b, "Total params: %s\n", Commas(c.Params))
	fmt.Fprintf(&b, "Trainable params: %s\n", Commas(c.Trainable))
	fmt.Fprintf(&b, "Non-trainable params: %s\n", Commas(c.Params-c.Trainable))
	if opt.ConvDense {
		n := c.ConvDense
		fmt.Fprintf(&b, "Conv2D and Dense weights: %s (%.1fM)\n", Commas(n), math.Round(float64(n)/1e5)/10)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Commas formats n with thousands separators, as Python's "{:,}".
func Commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

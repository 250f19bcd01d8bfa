package ir

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// Parse reads a graph from its text form (see Print). It checks syntax and
// references; call Verify for types and invariants.
func Parse(text string) (*Graph, error) {
	lines := strings.Split(text, "\n")
	p := &textParser{vals: map[string]*Value{}}
	// The weights section follows the ops but ops refer to it: read it first.
	start := -1
	wstart := len(lines)
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if start < 0 {
			if !strings.HasPrefix(t, "model ") {
				return nil, fmt.Errorf("line %d: want `model \"name\"`, got %q", i+1, t)
			}
			name, err := strconv.Unquote(strings.TrimSpace(strings.TrimPrefix(t, "model ")))
			if err != nil {
				return nil, fmt.Errorf("line %d: bad model name: %v", i+1, err)
			}
			p.g = NewGraph(name)
			start = i + 1
			continue
		}
		if t == "weights" {
			wstart = i
			break
		}
	}
	if p.g == nil {
		return nil, fmt.Errorf("empty graph text")
	}
	for i := wstart + 1; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if err := p.weight(t); err != nil {
			return nil, fmt.Errorf("line %d: %v", i+1, err)
		}
	}
	returned := false
	for i := start; i < wstart; i++ {
		t := strings.TrimSpace(lines[i])
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if returned {
			return nil, fmt.Errorf("line %d: op after return", i+1)
		}
		var err error
		if strings.HasPrefix(t, "return") {
			err = p.ret(strings.TrimSpace(strings.TrimPrefix(t, "return")))
			returned = true
		} else {
			err = p.op(t)
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", i+1, err)
		}
	}
	if !returned {
		return nil, fmt.Errorf("graph has no return line")
	}
	p.g.nextID = p.maxID + 1
	return p.g, nil
}

type textParser struct {
	g     *Graph
	vals  map[string]*Value
	maxID int
}

func (p *textParser) weight(t string) error {
	ws := p.g.Weights
	colon := strings.LastIndex(t, " : ")
	if colon < 0 {
		return fmt.Errorf("weight without shape: %q", t)
	}
	shapeText, dtText, typed := strings.Cut(strings.TrimSpace(t[colon+3:]), " ")
	shape, err := parseShape(shapeText)
	if err != nil {
		return err
	}
	dt := F32
	if typed {
		if dt, err = abi.ParseDType(strings.TrimSpace(dtText)); err != nil {
			return fmt.Errorf("weight %q: %v", strings.TrimSpace(t[:colon]), err)
		}
	}
	head := t[:colon]
	eq := strings.Index(head, " = ")
	if eq < 0 {
		name := strings.TrimSpace(head)
		if name == "" || strings.HasPrefix(name, "$") {
			return fmt.Errorf("bad weight name %q", name)
		}
		if ws.byName[name] != nil {
			return fmt.Errorf("weight %q declared twice", name)
		}
		_, err := ws.LoadTyped(name, shape, dt)
		return err
	}
	if typed {
		return fmt.Errorf("computed weight %q: only file tensors have an element type", strings.TrimSpace(head))
	}
	name := head[:eq]
	if !strings.HasPrefix(name, "$") {
		return fmt.Errorf("computed weight %q must be named $N", name)
	}
	n, err := strconv.Atoi(name[1:])
	if err != nil || n < 0 {
		return fmt.Errorf("computed weight %q must be named $N", name)
	}
	if ws.byName[name] != nil {
		return fmt.Errorf("weight %q declared twice", name)
	}
	rest := head[eq+3:]
	open, close := strings.IndexByte(rest, '('), strings.IndexByte(rest, ')')
	if open < 0 || close < open {
		return fmt.Errorf("bad weight expression %q", rest)
	}
	op, ok := WOpByName(rest[:open])
	if !ok || op == WLoad {
		return fmt.Errorf("unknown weight operation %q", rest[:open])
	}
	w := &Weight{Name: name, Op: op, Shape: shape}
	if args := strings.TrimSpace(rest[open+1 : close]); args != "" {
		for _, a := range strings.Split(args, ",") {
			a = strings.TrimSpace(a)
			aw := ws.byName[a]
			if aw == nil {
				return fmt.Errorf("weight %s uses undefined weight %q", name, a)
			}
			w.Args = append(w.Args, aw)
		}
	}
	for _, f := range strings.Fields(rest[close+1:]) {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case ok && k == "eps" && op == WBNScale:
			if w.Eps, err = strconv.ParseFloat(v, 64); err != nil {
				return fmt.Errorf("bad eps %q", v)
			}
		case ok && k == "layout" && op == WPack:
			w.Layout = v
		case ok && k == "groups" && op == WGroupExpand:
			if w.Groups, err = strconv.Atoi(v); err != nil {
				return fmt.Errorf("bad groups %q", v)
			}
		case ok && k == "to" && op == WGroupExpand:
			if w.To, err = strconv.Atoi(v); err != nil {
				return fmt.Errorf("bad to %q", v)
			}
		default:
			return fmt.Errorf("unexpected %q in weight %s", f, name)
		}
	}
	want := append([]int(nil), shape...)
	if err := inferWeight(w); err != nil {
		return fmt.Errorf("weight %s: %v", name, err)
	}
	if !equalInts(w.Shape, want) {
		return fmt.Errorf("weight %s: shape %v, but %s gives %v", name, want, op, w.Shape)
	}
	ws.add(w)
	if n >= ws.next {
		ws.next = n + 1
	}
	return nil
}

func (p *textParser) value(name string) (*Value, error) {
	v := p.vals[name]
	if v == nil {
		return nil, fmt.Errorf("undefined value %s", name)
	}
	return v, nil
}

func (p *textParser) ret(s string) error {
	for _, f := range strings.Split(s, ",") {
		v, err := p.value(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		p.g.Outputs = append(p.g.Outputs, v)
	}
	if len(p.g.Outputs) == 0 {
		return fmt.Errorf("return lists no value")
	}
	return nil
}

func (p *textParser) op(t string) error {
	eq := strings.Index(t, " = ")
	if eq < 0 {
		return fmt.Errorf("want `%%id name = Kind(...)`, got %q", t)
	}
	lhs, rhs := t[:eq], t[eq+3:]
	sp := strings.LastIndexByte(lhs, ' ')
	if sp < 0 {
		return fmt.Errorf("op without a name: %q", lhs)
	}
	op := &Op{Names: strings.Split(lhs[sp+1:], "+")}
	for _, n := range op.Names {
		if n == "" {
			return fmt.Errorf("empty layer name in %q", lhs[sp+1:])
		}
	}
	var outNames []string
	for _, f := range strings.Split(lhs[:sp], ",") {
		outNames = append(outNames, strings.TrimSpace(f))
	}
	open := strings.IndexByte(rhs, '(')
	close := strings.IndexByte(rhs, ')')
	if open < 0 || close < open {
		return fmt.Errorf("want Kind(inputs), got %q", rhs)
	}
	kind, ok := KindByName(rhs[:open])
	if !ok {
		return fmt.Errorf("unknown op %q", rhs[:open])
	}
	op.Kind = kind
	if ins := strings.TrimSpace(rhs[open+1 : close]); ins != "" {
		for _, f := range strings.Split(ins, ",") {
			v, err := p.value(strings.TrimSpace(f))
			if err != nil {
				return err
			}
			op.Inputs = append(op.Inputs, v)
		}
	}
	rest := rhs[close+1:]
	colon := strings.Index(rest, " : ")
	if colon < 0 && strings.HasSuffix(rest, " :") {
		colon = len(rest) - 2
	}
	if colon < 0 {
		return fmt.Errorf("op without types")
	}
	info := kind.Info()
	seen := map[string]bool{}
	for _, f := range strings.Fields(rest[:colon]) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("want name=value, got %q", f)
		}
		if seen[k] {
			return fmt.Errorf("attribute %q given twice", k)
		}
		seen[k] = true
		if kind.HasAttr(k) {
			if err := attrCodecs[k].parse(op, v, p.vals, p.g.Weights); err != nil {
				return fmt.Errorf("%s: attribute %s: %v", info.Name, k, err)
			}
			continue
		}
		isParam := false
		for _, pi := range info.Params {
			if pi.Role == k {
				isParam = true
			}
		}
		if !isParam {
			return fmt.Errorf("%s has no attribute or weight %q", info.Name, k)
		}
		w := p.g.Weights.byName[v]
		if w == nil {
			return fmt.Errorf("undefined weight %q", v)
		}
		if op.Params == nil {
			op.Params = map[string]*Weight{}
		}
		op.Params[k] = w
	}
	var types []string
	if colon+3 <= len(rest) {
		types = splitTop(rest[colon+3:])
	}
	if len(types) != len(outNames) {
		return fmt.Errorf("%d outputs but %d types", len(outNames), len(types))
	}
	for i, ts := range types {
		name := outNames[i]
		if !strings.HasPrefix(name, "%") {
			return fmt.Errorf("bad value name %q", name)
		}
		id, err := strconv.Atoi(name[1:])
		if err != nil || id < 0 {
			return fmt.Errorf("bad value name %q", name)
		}
		if p.vals[name] != nil {
			return fmt.Errorf("value %s defined twice", name)
		}
		var q *QParams
		if i := strings.Index(ts, " q=("); i >= 0 {
			j := strings.IndexByte(ts[i:], ')')
			if j < 0 {
				return fmt.Errorf("bad quantization %q", ts[i:])
			}
			sn, zn, ok := strings.Cut(ts[i+len(" q=("):i+j], ",")
			q = &QParams{Scale: p.g.Weights.byName[strings.TrimSpace(sn)], Zero: p.g.Weights.byName[strings.TrimSpace(zn)]}
			if !ok || q.Scale == nil || q.Zero == nil {
				return fmt.Errorf("bad quantization %q: want q=(scale,zero) of declared weights", ts[i:i+j+1])
			}
			ts = ts[:i] + ts[i+j+1:]
		}
		typ, mem, err := parseType(ts)
		if err != nil {
			return err
		}
		v := &Value{ID: id, Type: typ, Def: op, Mem: mem, Q: q}
		p.vals[name] = v
		if id > p.maxID {
			p.maxID = id
		}
		op.Outputs = append(op.Outputs, v)
	}
	p.g.Ops = append(p.g.Ops, op)
	return nil
}

// splitTop splits s at commas outside brackets and parentheses.
func splitTop(s string) []string {
	var parts []string
	depth, last := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, strings.TrimSpace(s[last:i]))
				last = i + 1
			}
		}
	}
	return append(parts, strings.TrimSpace(s[last:]))
}

func parseShape(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return nil, fmt.Errorf("bad shape %q", s)
	}
	v, err := parseInts(s[1:len(s)-1], ",", -1)
	if err != nil {
		return nil, fmt.Errorf("bad shape %q: %v", s, err)
	}
	for _, d := range v {
		if d < 0 {
			return nil, fmt.Errorf("bad shape %q", s)
		}
	}
	return v, nil
}

// parseType reads "f32[N,56,56,64] nChw16c" with an optional " @arena[a:b]".
func parseType(s string) (Type, Mem, error) {
	var t Type
	var m Mem
	f := strings.Fields(s)
	if len(f) < 2 || len(f) > 3 {
		return t, m, fmt.Errorf("bad type %q", s)
	}
	name, rest, ok := strings.Cut(f[0], "[N")
	if !ok || !strings.HasSuffix(rest, "]") {
		return t, m, fmt.Errorf("bad type %q: want f32[N,...]", f[0])
	}
	dt, err := abi.ParseDType(name)
	if err != nil {
		return t, m, fmt.Errorf("bad type %q: %v", f[0], err)
	}
	t.DType = dt
	if dims := strings.TrimPrefix(rest[:len(rest)-1], ","); dims != "" {
		v, err := parseInts(dims, ",", -1)
		if err != nil {
			return t, m, fmt.Errorf("bad type %q: %v", f[0], err)
		}
		t.Dims = v
	}
	for _, d := range t.Dims {
		if d < 1 {
			return t, m, fmt.Errorf("bad type %q: dimensions must be positive", f[0])
		}
	}
	l, err := ParseLayout(f[1])
	if err != nil {
		return t, m, err
	}
	t.Layout = l
	if len(f) == 3 {
		a := f[2]
		if !strings.HasPrefix(a, "@arena[") || !strings.HasSuffix(a, "]") {
			return t, m, fmt.Errorf("bad placement %q", a)
		}
		v, err := parseInts(a[len("@arena["):len(a)-1], ":", 2)
		if err != nil || v[0] < 0 || v[1] <= v[0] {
			return t, m, fmt.Errorf("bad placement %q", a)
		}
		m = Mem{Offset: int64(v[0]), Size: int64(v[1] - v[0])}
	}
	return t, m, nil
}

func parseEpilogue(op *Op, s string, vals map[string]*Value, ws *WeightProgram) error {
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return fmt.Errorf("want [step,...], got %q", s)
	}
	for _, f := range splitTop(s[1 : len(s)-1]) {
		name, arg, hasArg := strings.Cut(f, "(")
		kind, err := abi.ParseOp(name)
		if err != nil || kind == abi.Bias { // a conv's bias is its own parameter, not a step
			return fmt.Errorf("unknown epilogue step %q", f)
		}
		st := Step{Kind: kind, Sub: 1}
		if hasArg != (kind == StepAdd || kind == StepMul || kind == StepAffine || kind == StepScale) {
			return fmt.Errorf("bad epilogue step %q", f)
		}
		if hasArg {
			if !strings.HasSuffix(arg, ")") {
				return fmt.Errorf("bad epilogue step %q", f)
			}
			arg = arg[:len(arg)-1]
		}
		switch kind {
		case StepAdd, StepMul:
			vname, sub, strided := strings.Cut(arg, "/")
			if strided {
				n, err := strconv.Atoi(sub)
				if err != nil || n < 1 {
					return fmt.Errorf("bad stride in %q", f)
				}
				st.Sub = n
			}
			v := vals[vname]
			if v == nil {
				return fmt.Errorf("undefined value %s in %q", vname, f)
			}
			st.Arg = -1
			for i := 1; i < len(op.Inputs); i++ {
				if op.Inputs[i] == v {
					st.Arg = i
					break
				}
			}
			if st.Arg < 0 {
				return fmt.Errorf("epilogue operand %s is not an input of the op", vname)
			}
		case StepScale:
			a, b, ok := strings.Cut(arg, ",")
			var err1, err2 error
			st.Mul, err1 = strconv.ParseFloat(a, 64)
			st.Add, err2 = strconv.ParseFloat(b, 64)
			if !ok || err1 != nil || err2 != nil {
				return fmt.Errorf("scale step %q needs two numbers", f)
			}
		case StepAffine:
			a, b, ok := strings.Cut(arg, ",")
			st.Scale, st.Shift = ws.byName[a], ws.byName[b]
			if !ok || st.Scale == nil || st.Shift == nil {
				return fmt.Errorf("affine step %q needs two defined weights", f)
			}
		}
		op.Attrs.Epi = append(op.Attrs.Epi, st)
	}
	return nil
}

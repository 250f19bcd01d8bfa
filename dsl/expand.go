package dsl

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"

	"github.com/rnc-dev/rnc/ir"
)

// Limits that keep any input from running away.
const (
	maxSteps     = 20_000_000 // statements, expressions and calls evaluated
	maxLayers    = 200_000
	maxString    = 4096
	maxList      = 100_000
	maxCallDepth = 200
)

// Options configure Load.
type Options struct {
	// Set overrides model parameters: name → a value in the language's
	// syntax ("[64,64,3]", "10", "false", "'avg'"); a bare word is a string.
	Set map[string]string
	// ReadFile reads a source file; os.ReadFile when nil.
	ReadFile func(path string) ([]byte, error)
	// MaxSteps bounds the evaluation work (statements, expressions and
	// calls); 0 means the default, 20 million.
	MaxSteps int
}

// Error is a user mistake in a model source, with its position and, for
// mistakes inside macros, the chain of calls that led there.
type Error struct {
	Pos   lexer.Position
	Msg   string
	Trace []string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Pos.Filename != "" || e.Pos.Line > 0 {
		fmt.Fprintf(&b, "%s:%d:%d: ", e.Pos.Filename, e.Pos.Line, e.Pos.Column)
	}
	b.WriteString(e.Msg)
	for _, t := range e.Trace {
		b.WriteString("\n\t" + t)
	}
	return b.String()
}

func posString(p lexer.Position) string {
	return fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column)
}

// Load parses the model file at path and its imports, and expands the model
// into a Keras-level graph (one op per Keras layer, weights named
// "<layer>/<param>").
func Load(path string, opt Options) (*ir.Graph, error) {
	if opt.ReadFile == nil {
		opt.ReadFile = os.ReadFile
	}
	if opt.MaxSteps <= 0 {
		opt.MaxSteps = maxSteps
	}
	e := &expander{
		opt:      opt,
		files:    map[string]bool{},
		macros:   map[string]*Macro{},
		counters: map[string]int{},
		names:    map[string]lexer.Position{},
	}
	g, err := e.run(path)
	if err != nil {
		return nil, err
	}
	return g, nil
}

// ParseFile parses one source file without expanding it.
func ParseFile(filename string, src []byte) (*File, error) {
	if err := checkNesting(filename, string(src)); err != nil {
		return nil, err
	}
	f, err := parser.ParseBytes(filename, src)
	if err != nil {
		return nil, syntaxError(err)
	}
	return f, nil
}

func syntaxError(err error) error {
	var perr participle.Error
	if errors.As(err, &perr) {
		msg := perr.Message()
		return &Error{Pos: perr.Position(), Msg: "syntax error: " + msg}
	}
	return &Error{Msg: "syntax error: " + err.Error()}
}

type frame struct {
	macro string
	call  lexer.Position
}

type expander struct {
	opt      Options
	files    map[string]bool
	macros   map[string]*Macro
	model    *Macro
	g        *ir.Graph
	counters map[string]int
	names    map[string]lexer.Position
	stack    []frame
	steps    int
}

func (e *expander) errorf(pos lexer.Position, format string, args ...any) error {
	err := &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
	for i := len(e.stack) - 1; i >= 0; i-- {
		f := e.stack[i]
		err.Trace = append(err.Trace, fmt.Sprintf("in %s called at %s", f.macro, posString(f.call)))
	}
	return err
}

func (e *expander) step(pos lexer.Position) error {
	e.steps++
	if e.steps > e.opt.MaxSteps {
		return e.errorf(pos, "expansion takes more than %d steps; is a loop too long?", e.opt.MaxSteps)
	}
	return nil
}

func (e *expander) load(path string, from lexer.Position, root bool) error {
	clean := filepath.Clean(path)
	if e.files[clean] {
		return nil
	}
	e.files[clean] = true
	src, err := e.opt.ReadFile(path)
	if err != nil {
		if root {
			return fmt.Errorf("reading model: %w", err)
		}
		return e.errorf(from, "cannot import %q: %v", path, unwrapPathError(err))
	}
	f, err := ParseFile(path, src)
	if err != nil {
		return err
	}
	for _, d := range f.Decls {
		switch {
		case d.Import != nil:
			p := d.Import.Path
			if !filepath.IsAbs(p) {
				p = filepath.Join(filepath.Dir(path), p)
			}
			if err := e.load(p, d.Import.Pos, false); err != nil {
				return err
			}
		case d.Macro != nil && d.Macro.Kind == "model":
			if !root {
				return e.errorf(d.Macro.Pos, "model %s is declared in an imported file; only the main file declares the model", d.Macro.Name)
			}
			if e.model != nil {
				return e.errorf(d.Macro.Pos, "second model declaration %s (the first, %s, is at %s)", d.Macro.Name, e.model.Name, posString(e.model.Pos))
			}
			e.model = d.Macro
		case d.Macro != nil:
			m := d.Macro
			if _, ok := builtins[m.Name]; ok {
				return e.errorf(m.Pos, "macro %s has the name of a builtin", m.Name)
			}
			if prev := e.macros[m.Name]; prev != nil {
				return e.errorf(m.Pos, "macro %s is already defined at %s", m.Name, posString(prev.Pos))
			}
			if err := checkParams(m); err != nil {
				return err
			}
			e.macros[m.Name] = m
		}
	}
	return nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func checkParams(m *Macro) error {
	seen := map[string]bool{}
	for _, p := range m.Params {
		if seen[p.Name] {
			return &Error{Pos: p.Pos, Msg: fmt.Sprintf("parameter %q of %s declared twice", p.Name, m.Name)}
		}
		seen[p.Name] = true
	}
	return nil
}

func (e *expander) run(path string) (*ir.Graph, error) {
	if err := e.load(path, lexer.Position{}, true); err != nil {
		return nil, err
	}
	if e.model == nil {
		return nil, &Error{Pos: lexer.Position{Filename: path, Line: 1, Column: 1}, Msg: "no model declaration (want `model name(params) { ... }`)"}
	}
	m := e.model
	e.g = ir.NewGraph("model")
	env := map[string]any{}
	known := map[string]bool{}
	for _, p := range m.Params {
		known[p.Name] = true
	}
	var keys []string
	for k := range e.opt.Set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !known[k] {
			var names []string
			for _, p := range m.Params {
				names = append(names, p.Name)
			}
			return nil, fmt.Errorf("--set %s: model %s has no parameter %q (it has: %s)", k, m.Name, k, strings.Join(names, ", "))
		}
		v, err := e.parseOverride(k, e.opt.Set[k])
		if err != nil {
			return nil, err
		}
		env[k] = v
	}
	for _, p := range m.Params {
		if _, ok := env[p.Name]; ok {
			continue
		}
		if p.Default == nil {
			return nil, e.errorf(p.Pos, "model parameter %q has no default; give one or pass --set %s=VALUE", p.Name, p.Name)
		}
		v, err := e.eval(p.Default, env)
		if err != nil {
			return nil, err
		}
		env[p.Name] = v
	}
	ret, returned, err := e.block(m.Body, env)
	if err != nil {
		return nil, err
	}
	if !returned {
		return nil, e.errorf(m.Pos, "model %s does not return its output", m.Name)
	}
	var inputs []*ir.Value
	switch r := ret.(type) {
	case *ir.Value:
		e.g.Outputs = []*ir.Value{r}
	case *modelValue:
		e.g.Outputs, inputs, e.g.Name = r.outputs, r.inputs, r.name
	case []any:
		for _, x := range r {
			t, ok := x.(*ir.Value)
			if !ok {
				return nil, e.errorf(m.Pos, "model %s returns a list holding %s; want tensors", m.Name, typeName(x))
			}
			e.g.Outputs = append(e.g.Outputs, t)
		}
	default:
		return nil, e.errorf(m.Pos, "model %s returns %s; want a tensor, a list of tensors or Model(inputs, outputs)", m.Name, show(ret))
	}
	if len(e.g.Outputs) == 0 {
		return nil, e.errorf(m.Pos, "model %s has no outputs", m.Name)
	}
	e.g.PruneUnreachable()
	reached := e.g.Inputs()
	if len(reached) == 0 {
		return nil, e.errorf(m.Pos, "model %s: the outputs do not depend on an Input", m.Name)
	}
	if inputs != nil {
		listed := map[*ir.Value]bool{}
		for _, in := range inputs {
			listed[in] = true
		}
		for _, in := range reached {
			if !listed[in] {
				return nil, e.errorf(m.Pos, "model %s: graph disconnected: the outputs depend on input %s, which Model's inputs do not list", m.Name, in.Def.Name())
			}
		}
	}
	if err := ir.Verify(e.g); err != nil {
		return nil, fmt.Errorf("internal error: expanded graph does not verify: %w", err)
	}
	return e.g, nil
}

func (e *expander) parseOverride(name, src string) (any, error) {
	if err := checkNesting("--set "+name, src); err != nil {
		return nil, err
	}
	x, err := exprParser.ParseString("--set "+name, src)
	if err != nil || isBareName(x) {
		return src, nil // a bare word is a string: --set pooling=avg
	}
	v, err := e.eval(x, map[string]any{})
	if err != nil {
		return nil, fmt.Errorf("--set %s=%s: %v", name, src, err)
	}
	if _, ok := v.(*ir.Value); ok {
		return nil, fmt.Errorf("--set %s=%s: a parameter cannot be a tensor", name, src)
	}
	return v, nil
}

func isBareName(x *Expr) bool {
	if len(x.Ops) > 0 || len(x.Left.Ops) > 0 || x.Left.Left.Cmp == nil {
		return false
	}
	c := x.Left.Left.Cmp
	if c.Right != nil || len(c.Left.Ops) > 0 || len(c.Left.Left.Ops) > 0 || c.Left.Left.Left.Postfix == nil {
		return false
	}
	p := c.Left.Left.Left.Postfix
	return len(p.Index) == 0 && p.Primary.Name != nil
}

// block runs statements; it reports whether a return statement ran.
func (e *expander) block(b *Block, env map[string]any) (any, bool, error) {
	for _, s := range b.Stmts {
		if err := e.step(s.Pos); err != nil {
			return nil, false, err
		}
		switch {
		case s.Assign != nil:
			v, err := e.eval(s.Assign.Value, env)
			if err != nil {
				return nil, false, err
			}
			if _, isMacro := e.macros[s.Assign.Name]; isMacro {
				return nil, false, e.errorf(s.Assign.Pos, "cannot assign to %s: it names a macro", s.Assign.Name)
			}
			env[s.Assign.Name] = v
		case s.Expr != nil:
			if _, err := e.eval(s.Expr, env); err != nil {
				return nil, false, err
			}
		case s.Return != nil:
			v, err := e.eval(s.Return.Value, env)
			return v, true, err
		case s.If != nil:
			v, ret, err := e.ifStmt(s.If, env)
			if err != nil || ret {
				return v, ret, err
			}
		case s.For != nil:
			v, ret, err := e.forStmt(s.For, env)
			if err != nil || ret {
				return v, ret, err
			}
		}
	}
	return nil, false, nil
}

func (e *expander) ifStmt(s *If, env map[string]any) (any, bool, error) {
	c, err := e.eval(s.Cond, env)
	if err != nil {
		return nil, false, err
	}
	b, ok := truthy(c)
	if !ok {
		return nil, false, e.errorf(s.Cond.Pos, "if condition must be a bool, got %s %s", typeName(c), show(c))
	}
	switch {
	case b:
		return e.block(s.Then, env)
	case s.Else == nil:
		return nil, false, nil
	case s.Else.If != nil:
		return e.ifStmt(s.Else.If, env)
	}
	return e.block(s.Else.Block, env)
}

func (e *expander) forStmt(s *For, env map[string]any) (any, bool, error) {
	from, err := e.evalInt(s.From, env, "loop start")
	if err != nil {
		return nil, false, err
	}
	to, err := e.evalInt(s.To, env, "loop end")
	if err != nil {
		return nil, false, err
	}
	for i := from; i <= to; i++ {
		if err := e.step(s.Pos); err != nil {
			return nil, false, err
		}
		env[s.Var] = i
		v, ret, err := e.block(s.Body, env)
		if err != nil || ret {
			return v, ret, err
		}
	}
	return nil, false, nil
}

func (e *expander) evalInt(x *Expr, env map[string]any, what string) (int64, error) {
	v, err := e.eval(x, env)
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, e.errorf(x.Pos, "%s must be an int, got %s %s", what, typeName(v), show(v))
	}
	return n, nil
}

// Expressions.

func (e *expander) eval(x *Expr, env map[string]any) (any, error) {
	if err := e.step(x.Pos); err != nil {
		return nil, err
	}
	v, err := e.and(x.Left, env)
	if err != nil {
		return nil, err
	}
	for _, t := range x.Ops {
		b, ok := truthy(v)
		if !ok {
			return nil, e.errorf(x.Pos, "or needs bools, got %s %s", typeName(v), show(v))
		}
		if b {
			return true, nil
		}
		if v, err = e.and(t.Right, env); err != nil {
			return nil, err
		}
		if _, ok := truthy(v); !ok {
			return nil, e.errorf(t.Right.Pos, "or needs bools, got %s %s", typeName(v), show(v))
		}
	}
	return v, nil
}

func (e *expander) and(x *AndExpr, env map[string]any) (any, error) {
	v, err := e.not(x.Left, env)
	if err != nil {
		return nil, err
	}
	for _, t := range x.Ops {
		b, ok := truthy(v)
		if !ok {
			return nil, e.errorf(x.Pos, "and needs bools, got %s %s", typeName(v), show(v))
		}
		if !b {
			return false, nil
		}
		if v, err = e.not(t.Right, env); err != nil {
			return nil, err
		}
		if _, ok := truthy(v); !ok {
			return nil, e.errorf(t.Right.Pos, "and needs bools, got %s %s", typeName(v), show(v))
		}
	}
	return v, nil
}

func (e *expander) not(x *NotExpr, env map[string]any) (any, error) {
	if x.Not != nil {
		v, err := e.not(x.Not, env)
		if err != nil {
			return nil, err
		}
		b, ok := truthy(v)
		if !ok {
			return nil, e.errorf(x.Pos, "not needs a bool, got %s %s", typeName(v), show(v))
		}
		return !b, nil
	}
	return e.cmp(x.Cmp, env)
}

func (e *expander) cmp(x *CmpExpr, env map[string]any) (any, error) {
	l, err := e.sum(x.Left, env)
	if err != nil || x.Right == nil {
		return l, err
	}
	r, err := e.sum(x.Right, env)
	if err != nil {
		return nil, err
	}
	switch x.Op {
	case "==":
		return equal(l, r), nil
	case "!=":
		return !equal(l, r), nil
	}
	if ls, ok := l.(string); ok {
		if rs, ok := r.(string); ok {
			return compare(x.Op, strings.Compare(ls, rs)), nil
		}
	}
	lf, lok := number(l)
	rf, rok := number(r)
	if !lok || !rok {
		return nil, e.errorf(x.Pos, "cannot compare %s %s %s %s", typeName(l), show(l), x.Op, show(r))
	}
	c := 0
	if lf < rf {
		c = -1
	} else if lf > rf {
		c = 1
	}
	return compare(x.Op, c), nil
}

func compare(op string, c int) bool {
	switch op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	}
	return c >= 0
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func (e *expander) sum(x *SumExpr, env map[string]any) (any, error) {
	v, err := e.term(x.Left, env)
	if err != nil {
		return nil, err
	}
	for _, t := range x.Ops {
		r, err := e.term(t.Right, env)
		if err != nil {
			return nil, err
		}
		if v, err = e.arith(t.Pos, t.Op, v, r); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (e *expander) term(x *TermExpr, env map[string]any) (any, error) {
	v, err := e.unary(x.Left, env)
	if err != nil {
		return nil, err
	}
	for _, t := range x.Ops {
		r, err := e.unary(t.Right, env)
		if err != nil {
			return nil, err
		}
		if v, err = e.arith(t.Pos, t.Op, v, r); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (e *expander) arith(pos lexer.Position, op string, l, r any) (any, error) {
	if op == "+" {
		ls, lstr := l.(string)
		rs, rstr := r.(string)
		if lstr || rstr {
			if !lstr {
				if ls, lstr = concatOperand(l); !lstr {
					return nil, e.errorf(pos, "cannot add %s %s to a string", typeName(l), show(l))
				}
			}
			if !rstr {
				if rs, rstr = concatOperand(r); !rstr {
					return nil, e.errorf(pos, "cannot add %s %s to a string", typeName(r), show(r))
				}
			}
			if len(ls)+len(rs) > maxString {
				return nil, e.errorf(pos, "string longer than %d characters", maxString)
			}
			return ls + rs, nil
		}
		if ll, ok := l.([]any); ok {
			if rl, ok := r.([]any); ok {
				if len(ll)+len(rl) > maxList {
					return nil, e.errorf(pos, "list longer than %d items", maxList)
				}
				return append(append([]any{}, ll...), rl...), nil
			}
		}
	}
	li, lint := l.(int64)
	ri, rint := r.(int64)
	if lint && rint {
		var res int64
		var ok bool
		switch op {
		case "+":
			res = li + ri
			ok = (res > li) == (ri > 0)
		case "-":
			res = li - ri
			ok = (res < li) == (ri > 0)
		case "*":
			res = li * ri
			ok = li == 0 || (res/li == ri && !(li == -1 && ri == math.MinInt64))
		case "//", "%":
			if ri == 0 {
				return nil, e.errorf(pos, "division by zero")
			}
			if li == math.MinInt64 && ri == -1 {
				return nil, e.errorf(pos, "integer overflow in %d %s %d", li, op, ri)
			}
			q, m := li/ri, li%ri
			if m != 0 && (m < 0) != (ri < 0) { // Python floors
				q--
				m += ri
			}
			if op == "//" {
				return q, nil
			}
			return m, nil
		case "/":
			if ri == 0 {
				return nil, e.errorf(pos, "division by zero")
			}
			return float64(li) / float64(ri), nil
		}
		if !ok {
			return nil, e.errorf(pos, "integer overflow in %d %s %d", li, op, ri)
		}
		return res, nil
	}
	lf, lok := number(l)
	rf, rok := number(r)
	if !lok || !rok {
		return nil, e.errorf(pos, "cannot apply %s to %s %s and %s %s", op, typeName(l), show(l), typeName(r), show(r))
	}
	switch op {
	case "+":
		return lf + rf, nil
	case "-":
		return lf - rf, nil
	case "*":
		return lf * rf, nil
	case "/":
		if rf == 0 {
			return nil, e.errorf(pos, "division by zero")
		}
		return lf / rf, nil
	case "//":
		if rf == 0 {
			return nil, e.errorf(pos, "division by zero")
		}
		return math.Floor(lf / rf), nil
	}
	return nil, e.errorf(pos, "%% needs ints, got %s and %s", typeName(l), typeName(r))
}

// concatOperand converts an int to its decimal text for string +.
func concatOperand(v any) (string, bool) {
	if i, ok := v.(int64); ok {
		return strconv.FormatInt(i, 10), true
	}
	return "", false
}

func (e *expander) unary(x *Unary, env map[string]any) (any, error) {
	if x.Neg != nil {
		v, err := e.unary(x.Neg, env)
		if err != nil {
			return nil, err
		}
		switch n := v.(type) {
		case int64:
			if n == math.MinInt64 {
				return nil, e.errorf(x.Pos, "integer overflow")
			}
			return -n, nil
		case float64:
			return -n, nil
		}
		return nil, e.errorf(x.Pos, "cannot negate %s %s", typeName(v), show(v))
	}
	return e.postfix(x.Postfix, env)
}

func (e *expander) postfix(x *Postfix, env map[string]any) (any, error) {
	v, err := e.primary(x.Primary, env)
	if err != nil {
		return nil, err
	}
	for _, ix := range x.Index {
		i, err := e.evalInt(ix, env, "index")
		if err != nil {
			return nil, err
		}
		l, ok := v.([]any)
		if !ok {
			return nil, e.errorf(ix.Pos, "cannot index %s %s", typeName(v), show(v))
		}
		j := i
		if j < 0 {
			j += int64(len(l))
		}
		if j < 0 || j >= int64(len(l)) {
			return nil, e.errorf(ix.Pos, "index %d out of range for a list of %d", i, len(l))
		}
		v = l[j]
	}
	return v, nil
}

func (e *expander) primary(x *Primary, env map[string]any) (any, error) {
	switch {
	case x.Float != nil:
		f, err := strconv.ParseFloat(*x.Float, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, e.errorf(x.Pos, "bad float literal %s", *x.Float)
		}
		return f, nil
	case x.Int != nil:
		n, err := strconv.ParseInt(*x.Int, 10, 64)
		if err != nil {
			return nil, e.errorf(x.Pos, "integer literal %s is too large", *x.Int)
		}
		return n, nil
	case x.String != nil:
		if len(*x.String) > maxString {
			return nil, e.errorf(x.Pos, "string longer than %d characters", maxString)
		}
		return *x.String, nil
	case x.True:
		return true, nil
	case x.False:
		return false, nil
	case x.None:
		return none{}, nil
	case x.List != nil:
		if len(x.List.Items) > maxList {
			return nil, e.errorf(x.Pos, "list longer than %d items", maxList)
		}
		l := make([]any, 0, len(x.List.Items))
		for _, it := range x.List.Items {
			v, err := e.eval(it, env)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case x.Call != nil:
		return e.call(x.Call, env)
	case x.Name != nil:
		v, ok := env[*x.Name]
		if !ok {
			if _, isMacro := e.macros[*x.Name]; isMacro {
				return nil, e.errorf(x.Pos, "%s is a macro; call it: %s(...)", *x.Name, *x.Name)
			}
			return nil, e.errorf(x.Pos, "undefined name %q", *x.Name)
		}
		return v, nil
	case x.Paren != nil:
		return e.eval(x.Paren, env)
	}
	return nil, e.errorf(x.Pos, "empty expression")
}

// Calls.

func (e *expander) call(c *Call, env map[string]any) (any, error) {
	if err := e.step(c.Pos); err != nil {
		return nil, err
	}
	if b, ok := builtins[c.Name]; ok {
		return e.callBuiltin(c, b, env)
	}
	m, ok := e.macros[c.Name]
	if !ok {
		return nil, e.errorf(c.Pos, "unknown macro or builtin %q", c.Name)
	}
	for _, f := range e.stack {
		if f.macro == c.Name {
			var chain []string
			for _, g := range e.stack {
				chain = append(chain, g.macro)
			}
			return nil, e.errorf(c.Pos, "recursive call of macro %s (%s → %s)", c.Name, strings.Join(chain, " → "), c.Name)
		}
	}
	if len(e.stack) >= maxCallDepth {
		return nil, e.errorf(c.Pos, "macro calls nested deeper than %d", maxCallDepth)
	}
	local := map[string]any{}
	given := map[string]bool{}
	params := map[string]*Param{}
	for _, p := range m.Params {
		params[p.Name] = p
	}
	npos := 0
	for _, a := range c.Args {
		v, err := e.eval(a.Value, env)
		if err != nil {
			return nil, err
		}
		name := a.Name
		if name == "" {
			if npos >= len(m.Params) {
				return nil, e.errorf(a.Pos, "too many arguments to %s: it takes %d", m.Name, len(m.Params))
			}
			name = m.Params[npos].Name
			npos++
		} else if params[name] == nil {
			return nil, e.errorf(a.Pos, "%s has no parameter %q", m.Name, name)
		}
		if given[name] {
			return nil, e.errorf(a.Pos, "argument %q of %s given twice", name, m.Name)
		}
		given[name] = true
		local[name] = v
	}
	for _, p := range m.Params {
		if !given[p.Name] && p.Default == nil {
			return nil, e.errorf(c.Pos, "missing argument %q in call of %s", p.Name, m.Name)
		}
	}
	e.stack = append(e.stack, frame{macro: m.Name, call: c.Pos})
	defer func() { e.stack = e.stack[:len(e.stack)-1] }()
	for _, p := range m.Params {
		if given[p.Name] {
			continue
		}
		v, err := e.eval(p.Default, local)
		if err != nil {
			return nil, err
		}
		local[p.Name] = v
	}
	v, returned, err := e.block(m.Body, local)
	if err != nil {
		return nil, err
	}
	if !returned {
		return none{}, nil
	}
	return v, nil
}

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

	"github.com/alecthomas/participle/v2/lexer"

	"github.com/rnc-dev/rnc/internal/fileio"
	"github.com/rnc-dev/rnc/ir"
)

// Budgets: limits that keep any source, however hostile, from running
// away with time, memory or the stack. Each error names its budget and
// where it ran out.
const (
	// maxSource bounds the source: any one file, and the model file with
	// all its imports together. The real models are at most 10 KB
	// (models/lib/variants.rn) and import one library, so 1 MiB leaves a
	// hundred times that for a model written out flat or generated, and
	// parsing the worst 1 MiB takes a few hundred milliseconds and under
	// 50 bytes of syntax tree per source byte (TestParseMemory).
	maxSource = 1 << 20
	// maxFiles bounds the model file and its imports (an empty file
	// costs no source, but opening it costs time). The real models have
	// two; an import chain stops sooner, at maxNesting levels.
	maxFiles = 10_000
	// maxSteps bounds the evaluation work: every statement, expression
	// node, call and loop iteration is a step, and so is every list
	// element a builtin or == walks. The largest real model,
	// resnet1001v2, takes 144,000; ten million take about a second.
	maxSteps = 10_000_000
	// maxValues bounds the elements of the lists and strings the
	// evaluation builds, all together: a list counts its items and
	// theirs, so [s, s] counts s twice and repeated doubling runs out
	// however much the lists share. The real models build at most
	// 171,000.
	maxValues = 10_000_000
	// maxLayers bounds the ops the model creates: resnet1001 has 3,676,
	// and creating and checking 20,000 takes a fraction of a second.
	maxLayers = 20_000
	// maxElements bounds every tensor a layer outputs (per image) and
	// every weight, so that no later size computation overflows: the
	// largest in the real models hold a few million (resnet50's
	// 112x112x64 activation, its 3x3x512x512 kernels).
	maxElements = 1 << 30
	// maxString and maxList bound one string or list.
	maxString = 4096
	maxList   = 100_000
	// maxCallDepth bounds nested macro calls (recursion is an error).
	maxCallDepth = 200
)

// Options configure Load.
type Options struct {
	// Set overrides model parameters: name → a value in the language's
	// syntax ("[64,64,3]", "10", "false", "'avg'"); a bare word (names
	// joined by dots too: "v2.small") is a string. A value that starts like
	// a number, list, quoted string, parenthesis or boolean but does not
	// parse is an error.
	Set map[string]string
	// ReadFile reads a source file. When nil, Load reads regular files
	// only (not a FIFO or a device), of at most 1 MiB (fileio.ReadFile).
	ReadFile func(path string) ([]byte, error)
	// MaxSteps bounds the evaluation work (statements, expression nodes,
	// calls, loop iterations, list elements walked); 0 means the default,
	// 10 million.
	MaxSteps int
}

// readSource is the default ReadFile: fileio.ReadFile, which refuses
// all but regular files before opening them and reads at most maxSource
// bytes.
func readSource(path string) ([]byte, error) {
	b, err := fileio.ReadFile(path, maxSource)
	if err != nil {
		if st, serr := os.Stat(path); serr == nil && st.Mode().IsRegular() && st.Size() > maxSource {
			return nil, sourceTooBig(path, st.Size())
		}
	}
	return b, err
}

func sourceTooBig(path string, size int64) error {
	return fmt.Errorf("source budget exceeded: %s is %d bytes, more than %d", path, size, maxSource)
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

func posString(p srcPos) string {
	l := p.position()
	return fmt.Sprintf("%s:%d:%d", l.Filename, l.Line, l.Column)
}

// Load parses the model file at path and its imports, and expands the model
// into a Keras-level graph (one op per Keras layer, weights named
// "<layer>/<param>").
func Load(path string, opt Options) (*ir.Graph, error) {
	if opt.ReadFile == nil {
		opt.ReadFile = readSource
	}
	if opt.MaxSteps <= 0 {
		opt.MaxSteps = maxSteps
	}
	e := &expander{
		opt:      opt,
		files:    map[string]bool{},
		macros:   map[string]*macro{},
		counters: map[string]int{},
		names:    map[string]srcPos{},
	}
	g, err := e.run(path)
	if err != nil {
		return nil, err
	}
	return g, nil
}

type frame struct {
	macro string
	call  srcPos
}

type expander struct {
	opt      Options
	files    map[string]bool
	source   int // bytes of source read
	macros   map[string]*macro
	model    *macro
	g        *ir.Graph
	counters map[string]int
	names    map[string]srcPos
	stack    []frame
	steps    int // the work budget spent
	values   int // the value budget spent
	depth    int // the nesting of the evaluation
}

func (e *expander) errorf(pos srcPos, format string, args ...any) error {
	err := &Error{Pos: pos.position(), Msg: fmt.Sprintf(format, args...)}
	for i := len(e.stack) - 1; i >= 0; i-- {
		f := e.stack[i]
		err.Trace = append(err.Trace, fmt.Sprintf("in %s called at %s", f.macro, posString(f.call)))
	}
	return err
}

func (e *expander) step(pos srcPos) error { return e.work(pos, 1) }

// work spends n steps of the work budget.
func (e *expander) work(pos srcPos, n int) error {
	e.steps += n
	if e.steps > e.opt.MaxSteps {
		return e.errorf(pos, "work budget exceeded: expansion takes more than %d steps; is a loop too long?", e.opt.MaxSteps)
	}
	return nil
}

// built spends the value budget on v, a list or string just built.
func (e *expander) built(pos srcPos, v any) error {
	e.values += measure(v, maxValues-e.values)
	if e.values > maxValues {
		return e.errorf(pos, "value budget exceeded: the lists and strings built hold more than %d elements in all", maxValues)
	}
	return nil
}

// measure counts the elements of v: a string's bytes, a list's items and
// theirs. It stops counting past limit, so that it takes at most limit
// steps however much a list shares.
func measure(v any, limit int) int {
	switch x := v.(type) {
	case string:
		return len(x)
	case []any:
		n := len(x)
		for _, it := range x {
			if n > limit {
				break
			}
			n += measure(it, limit-n)
		}
		return n
	}
	return 0
}

// enter counts one level of nesting (a bracket, block, else-if link or
// macro call) during the evaluation, across macro calls; leave uncounts
// it.
func (e *expander) enter(pos srcPos) error {
	e.depth++
	if e.depth > maxNesting {
		return e.errorf(pos, "nesting deeper than %d levels of brackets, blocks, else-if chains and macro calls", maxNesting)
	}
	return nil
}

func (e *expander) leave() { e.depth-- }

func (e *expander) load(path string, from srcPos, root bool, depth int) error {
	clean := filepath.Clean(path)
	if e.files[clean] {
		return nil
	}
	fail := func(err error) error {
		if root {
			return fmt.Errorf("reading model: %w", err)
		}
		return e.errorf(from, "cannot import %q: %v", path, unwrapPathError(err))
	}
	if depth > maxNesting {
		return e.errorf(from, "cannot import %q: imports nested deeper than %d levels", path, maxNesting)
	}
	if len(e.files) >= maxFiles {
		return e.errorf(from, "cannot import %q: source budget exceeded: the model and its imports are more than %d files", path, maxFiles)
	}
	e.files[clean] = true
	src, err := e.opt.ReadFile(path)
	if err != nil {
		return fail(err)
	}
	if len(src) > maxSource { // a ReadFile that does not limit
		return fail(sourceTooBig(path, int64(len(src))))
	}
	e.source += len(src)
	if e.source > maxSource {
		return e.errorf(from, "cannot import %q: source budget exceeded: the model and its imports are more than %d bytes", path, maxSource)
	}
	f, err := parseFile(path, src)
	if err != nil {
		return err
	}
	for _, d := range f.decls {
		switch {
		case d.imp != nil:
			p := d.imp.path
			if !filepath.IsAbs(p) {
				p = filepath.Join(filepath.Dir(path), p)
			}
			if err := e.load(p, d.imp.pos, false, depth+1); err != nil {
				return err
			}
		case d.mac.kind == "model":
			if !root {
				return e.errorf(d.mac.pos, "model %s is declared in an imported file; only the main file declares the model", d.mac.name)
			}
			if e.model != nil {
				return e.errorf(d.mac.pos, "second model declaration %s (the first, %s, is at %s)", d.mac.name, e.model.name, posString(e.model.pos))
			}
			e.model = d.mac
			if err := checkParams(d.mac); err != nil {
				return err
			}
			if err := checkStatements(d.mac.body); err != nil {
				return err
			}
		default:
			m := d.mac
			if _, ok := builtins[m.name]; ok {
				return e.errorf(m.pos, "macro %s has the name of a builtin", m.name)
			}
			if prev := e.macros[m.name]; prev != nil {
				return e.errorf(m.pos, "macro %s is already defined at %s", m.name, posString(prev.pos))
			}
			if err := checkParams(m); err != nil {
				return err
			}
			if err := checkStatements(m.body); err != nil {
				return err
			}
			e.macros[m.name] = m
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

func checkParams(m *macro) error {
	seen := map[string]bool{}
	for _, p := range m.params {
		if seen[p.name] {
			return &Error{Pos: p.pos.position(), Msg: fmt.Sprintf("parameter %q of %s declared twice", p.name, m.name)}
		}
		seen[p.name] = true
	}
	return nil
}

func (e *expander) run(path string) (*ir.Graph, error) {
	if err := e.load(path, srcPos{}, true, 0); err != nil {
		return nil, err
	}
	if e.model == nil {
		return nil, &Error{Pos: lexer.Position{Filename: path, Line: 1, Column: 1}, Msg: "no model declaration (want `model name(params) { ... }`)"}
	}
	m := e.model
	e.g = ir.NewGraph("model")
	env := map[string]any{}
	known := map[string]bool{}
	for _, p := range m.params {
		known[p.name] = true
	}
	var keys []string
	for k := range e.opt.Set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !known[k] {
			var names []string
			for _, p := range m.params {
				names = append(names, p.name)
			}
			return nil, fmt.Errorf("--set %s: model %s has no parameter %q (it has: %s)", k, m.name, k, strings.Join(names, ", "))
		}
		v, err := e.parseOverride(k, e.opt.Set[k])
		if err != nil {
			return nil, err
		}
		env[k] = v
	}
	for _, p := range m.params {
		if _, ok := env[p.name]; ok {
			continue
		}
		if p.def == nil {
			return nil, e.errorf(p.pos, "model parameter %q has no default; give one or pass --set %s=VALUE", p.name, p.name)
		}
		v, err := e.eval(p.def, env)
		if err != nil {
			return nil, err
		}
		env[p.name] = v
	}
	ret, returned, err := e.block(m.body, env)
	if err != nil {
		return nil, err
	}
	if !returned {
		return nil, e.errorf(m.pos, "model %s does not return its output", m.name)
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
				return nil, e.errorf(m.pos, "model %s returns a list holding %s; want tensors", m.name, typeName(x))
			}
			e.g.Outputs = append(e.g.Outputs, t)
		}
	default:
		return nil, e.errorf(m.pos, "model %s returns %s; want a tensor, a list of tensors or Model(inputs, outputs)", m.name, show(ret))
	}
	if len(e.g.Outputs) == 0 {
		return nil, e.errorf(m.pos, "model %s has no outputs", m.name)
	}
	e.g.PruneUnreachable()
	reached := e.g.Inputs()
	if len(reached) == 0 {
		return nil, e.errorf(m.pos, "model %s: the outputs do not depend on an Input", m.name)
	}
	if inputs != nil {
		listed := map[*ir.Value]bool{}
		for _, in := range inputs {
			listed[in] = true
		}
		for _, in := range reached {
			if !listed[in] {
				return nil, e.errorf(m.pos, "model %s: graph disconnected: the outputs depend on input %s, which Model's inputs do not list", m.name, in.Def.Name())
			}
		}
	}
	if err := ir.Verify(e.g); err != nil {
		return nil, fmt.Errorf("internal error: expanded graph does not verify: %w", err)
	}
	return e.g, nil
}

func (e *expander) parseOverride(name, src string) (any, error) {
	x, tooDeep, err := parseExpr("--set "+name, src)
	if tooDeep {
		return nil, err
	}
	if err != nil {
		if startsLikeValue(src) { // --set input_shape=[8,8 is a mistake, not a string
			if e, ok := err.(*Error); ok && e.Pos.Line == 1 {
				return nil, fmt.Errorf("--set %s=%s: at character %d: %s", name, src, e.Pos.Column, e.Msg)
			}
			return nil, fmt.Errorf("--set %s=%q: %v", name, src, err)
		}
		return src, nil // a bare word is a string: --set pooling=avg
	}
	v, err := e.eval(x, map[string]any{})
	if err != nil {
		if !startsLikeValue(src) {
			// Words that parse but name nothing (the environment is empty)
			// are a string: --set pooling=avg, resnet.v2, note=a/b.h5.
			return src, nil
		}
		return nil, fmt.Errorf("--set %s=%s: %v", name, src, err)
	}
	if _, ok := v.(*ir.Value); ok {
		return nil, fmt.Errorf("--set %s=%s: a parameter cannot be a tensor", name, src)
	}
	return v, nil
}

// startsLikeValue reports whether an override starts like a number, a
// list, a quoted string, a parenthesized expression or a boolean, so that
// it must parse as one rather than be taken as a bare-word string.
func startsLikeValue(src string) bool {
	s := strings.TrimLeft(src, " \t\r\n")
	if s == "" {
		return false
	}
	if c := s[0]; isDigit(c) || strings.IndexByte("[(\"'-+.", c) >= 0 {
		return true
	}
	n := 0
	for n < len(s) && isWord(s[n]) {
		n++
	}
	switch s[:n] {
	case "true", "false", "none":
		return true
	}
	return false
}

// block runs statements; it reports whether a return statement ran.
func (e *expander) block(b *block, env map[string]any) (any, bool, error) {
	if err := e.enter(b.pos); err != nil {
		return nil, false, err
	}
	defer e.leave()
	for _, s := range b.stmts {
		if err := e.step(s.start()); err != nil {
			return nil, false, err
		}
		switch s := s.(type) {
		case *assignStmt:
			v, err := e.eval(s.value, env)
			if err != nil {
				return nil, false, err
			}
			if _, isMacro := e.macros[s.name]; isMacro {
				return nil, false, e.errorf(s.pos, "cannot assign to %s: it names a macro", s.name)
			}
			env[s.name] = v
		case *returnStmt:
			v, err := e.eval(s.value, env)
			return v, true, err
		case *ifStmt:
			v, ret, err := e.ifStmt(s, env)
			if err != nil || ret {
				return v, ret, err
			}
		case *forStmt:
			v, ret, err := e.forStmt(s, env)
			if err != nil || ret {
				return v, ret, err
			}
		case expr:
			if _, err := e.eval(s, env); err != nil {
				return nil, false, err
			}
		}
	}
	return nil, false, nil
}

func (e *expander) ifStmt(s *ifStmt, env map[string]any) (any, bool, error) {
	c, err := e.eval(s.cond, env)
	if err != nil {
		return nil, false, err
	}
	b, ok := truthy(c)
	if !ok {
		return nil, false, e.errorf(s.cond.start(), "if condition must be a bool, got %s %s", typeName(c), show(c))
	}
	switch {
	case b:
		return e.block(s.then, env)
	case s.elseIf != nil:
		if err := e.enter(s.elseIf.pos); err != nil {
			return nil, false, err
		}
		defer e.leave()
		return e.ifStmt(s.elseIf, env)
	case s.elseBlock != nil:
		return e.block(s.elseBlock, env)
	}
	return nil, false, nil
}

func (e *expander) forStmt(s *forStmt, env map[string]any) (any, bool, error) {
	from, err := e.evalInt(s.from, env, "loop start")
	if err != nil {
		return nil, false, err
	}
	to, err := e.evalInt(s.to, env, "loop end")
	if err != nil {
		return nil, false, err
	}
	for i := from; i <= to; i++ {
		if err := e.step(s.pos); err != nil {
			return nil, false, err
		}
		env[s.name] = i
		v, ret, err := e.block(s.body, env)
		if err != nil || ret {
			return v, ret, err
		}
		if i == math.MaxInt64 {
			break
		}
	}
	return nil, false, nil
}

func (e *expander) evalInt(x expr, env map[string]any, what string) (int64, error) {
	v, err := e.eval(x, env)
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, e.errorf(x.start(), "%s must be an int, got %s %s", what, typeName(v), show(v))
	}
	return n, nil
}

// Expressions.

func (e *expander) eval(x expr, env map[string]any) (any, error) {
	if err := e.step(x.start()); err != nil {
		return nil, err
	}
	switch x := x.(type) {
	case *litExpr:
		switch v := x.val.(type) {
		case badLiteral:
			return nil, e.errorf(x.pos, "%s", v.msg)
		case string:
			if len(v) > maxString {
				return nil, e.errorf(x.pos, "string longer than %d characters", maxString)
			}
		}
		return x.val, nil
	case *nameExpr:
		v, ok := env[x.name]
		if !ok {
			if _, isMacro := e.macros[x.name]; isMacro {
				return nil, e.errorf(x.pos, "%s is a macro; call it: %s(...)", x.name, x.name)
			}
			return nil, e.errorf(x.pos, "undefined name %q", x.name)
		}
		return v, nil
	case *parenExpr:
		if err := e.enter(x.pos); err != nil {
			return nil, err
		}
		defer e.leave()
		return e.eval(x.x, env)
	case *listExpr:
		return e.list(x, env)
	case *callExpr:
		return e.call(x, env)
	case *postfixExpr:
		return e.postfix(x, env)
	case *unaryExpr:
		if x.op == "not" {
			return e.not(x, env)
		}
		return e.negate(x, env)
	case *cmpExpr:
		return e.cmp(x, env)
	case *chainExpr:
		switch x.rest[0].op {
		case "or", "and":
			return e.logic(x, env)
		}
		return e.arithChain(x, env)
	}
	return nil, e.errorf(x.start(), "internal error: unknown expression %T", x)
}

func (e *expander) list(x *listExpr, env map[string]any) (any, error) {
	if len(x.items) > maxList {
		return nil, e.errorf(x.pos, "list longer than %d items", maxList)
	}
	if err := e.enter(x.pos); err != nil {
		return nil, err
	}
	defer e.leave()
	l := make([]any, 0, len(x.items))
	for _, it := range x.items {
		v, err := e.eval(it, env)
		if err != nil {
			return nil, err
		}
		l = append(l, v)
	}
	return l, e.built(x.pos, l)
}

// logic evaluates a chain of `or`s or of `and`s, stopping at the first
// true (false) operand.
func (e *expander) logic(x *chainExpr, env map[string]any) (any, error) {
	op := x.rest[0].op
	stop := op == "or" // the value that decides the chain
	v, err := e.eval(x.first, env)
	if err != nil {
		return nil, err
	}
	for _, t := range x.rest {
		b, ok := truthy(v)
		if !ok {
			return nil, e.errorf(x.start(), "%s needs bools, got %s %s", op, typeName(v), show(v))
		}
		if b == stop {
			return stop, nil
		}
		if v, err = e.eval(t.x, env); err != nil {
			return nil, err
		}
		if _, ok := truthy(v); !ok {
			return nil, e.errorf(t.x.start(), "%s needs bools, got %s %s", op, typeName(v), show(v))
		}
	}
	return v, nil
}

func (e *expander) not(x *unaryExpr, env map[string]any) (any, error) {
	v, err := e.eval(x.x, env)
	if err != nil {
		return nil, err
	}
	b, ok := truthy(v)
	if !ok {
		return nil, e.errorf(x.pos, "not needs a bool, got %s %s", typeName(v), show(v))
	}
	return b != (x.n%2 == 1), nil
}

func (e *expander) negate(x *unaryExpr, env map[string]any) (any, error) {
	v, err := e.eval(x.x, env)
	if err != nil {
		return nil, err
	}
	odd := x.n%2 == 1
	switch n := v.(type) {
	case int64:
		if n == math.MinInt64 {
			return nil, e.errorf(x.pos, "integer overflow")
		}
		if odd {
			return -n, nil
		}
		return n, nil
	case float64:
		if odd {
			return -n, nil
		}
		return n, nil
	}
	return nil, e.errorf(x.pos, "cannot negate %s %s", typeName(v), show(v))
}

func (e *expander) cmp(x *cmpExpr, env map[string]any) (any, error) {
	l, err := e.eval(x.l, env)
	if err != nil {
		return nil, err
	}
	r, err := e.eval(x.r, env)
	if err != nil {
		return nil, err
	}
	switch x.op {
	case "==", "!=":
		eq, err := e.equal(x.start(), l, r)
		return eq == (x.op == "=="), err
	}
	if ls, ok := l.(string); ok {
		if rs, ok := r.(string); ok {
			return compare(x.op, strings.Compare(ls, rs)), nil
		}
	}
	lf, lok := number(l)
	rf, rok := number(r)
	if !lok || !rok {
		return nil, e.errorf(x.start(), "cannot compare %s %s %s %s", typeName(l), show(l), x.op, show(r))
	}
	c := 0
	if lf < rf {
		c = -1
	} else if lf > rf {
		c = 1
	}
	return compare(x.op, c), nil
}

// equal compares two values, spending a step of the work budget on every
// element it compares.
func (e *expander) equal(pos srcPos, a, b any) (bool, error) {
	n := 0
	eq := equal(a, b, &n, e.opt.MaxSteps-e.steps)
	return eq, e.work(pos, n)
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

func (e *expander) arithChain(x *chainExpr, env map[string]any) (any, error) {
	v, err := e.eval(x.first, env)
	if err != nil {
		return nil, err
	}
	for _, t := range x.rest {
		r, err := e.eval(t.x, env)
		if err != nil {
			return nil, err
		}
		if v, err = e.arith(t.pos, t.op, v, r); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (e *expander) arith(pos srcPos, op string, l, r any) (any, error) {
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
			s := ls + rs
			return s, e.built(pos, s)
		}
		if ll, ok := l.([]any); ok {
			if rl, ok := r.([]any); ok {
				if len(ll)+len(rl) > maxList {
					return nil, e.errorf(pos, "list longer than %d items", maxList)
				}
				l := append(append(make([]any, 0, len(ll)+len(rl)), ll...), rl...)
				return l, e.built(pos, l)
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

// postfix evaluates x's indexes and attributes, left to right.
func (e *expander) postfix(x *postfixExpr, env map[string]any) (any, error) {
	v, err := e.eval(x.x, env)
	if err != nil {
		return nil, err
	}
	for _, ix := range x.ops {
		if a, ok := ix.(*attrRef); ok {
			if v, err = e.attr(v, a); err != nil {
				return nil, err
			}
			continue
		}
		if err := e.enter(ix.start()); err != nil {
			return nil, err
		}
		i, err := e.evalInt(ix, env, "index")
		e.leave()
		if err != nil {
			return nil, err
		}
		l, ok := v.([]any)
		if !ok {
			return nil, e.errorf(ix.start(), "cannot index %s %s", typeName(v), show(v))
		}
		j := i
		if j < 0 {
			j += int64(len(l))
		}
		if j < 0 || j >= int64(len(l)) {
			return nil, e.errorf(ix.start(), "index %d out of range for a list of %d", i, len(l))
		}
		v = l[j]
	}
	return v, nil
}

// attr evaluates v.name. A tensor has one attribute, shape: Keras's
// (None, H, W, C) as the list [none, H, W, C] ([none, C] for a vector).
func (e *expander) attr(v any, a *attrRef) (any, error) {
	if err := e.step(a.pos); err != nil {
		return nil, err
	}
	t, ok := v.(*ir.Value)
	if !ok {
		return nil, e.errorf(a.pos, "%s %s has no attribute %q", typeName(v), show(v), a.name)
	}
	if a.name != "shape" {
		return nil, e.errorf(a.pos, "%s has no attribute %q (a tensor has one: shape)", show(v), a.name)
	}
	l := make([]any, 0, 1+len(t.Type.Dims))
	l = append(l, none{})
	for _, d := range t.Type.Dims {
		l = append(l, int64(d))
	}
	return l, e.built(a.pos, l)
}

// Calls.

func (e *expander) call(c *callExpr, env map[string]any) (any, error) {
	if err := e.enter(c.pos); err != nil {
		return nil, err
	}
	defer e.leave()
	if b, ok := builtins[c.name]; ok {
		return e.callBuiltin(c, b, env)
	}
	m, ok := e.macros[c.name]
	if !ok {
		return nil, e.errorf(c.pos, "unknown macro or builtin %q", c.name)
	}
	for _, f := range e.stack {
		if f.macro == c.name {
			var chain []string
			for _, g := range e.stack {
				chain = append(chain, g.macro)
			}
			return nil, e.errorf(c.pos, "recursive call of macro %s (%s → %s)", c.name, strings.Join(chain, " → "), c.name)
		}
	}
	if len(e.stack) >= maxCallDepth {
		return nil, e.errorf(c.pos, "macro calls nested deeper than %d", maxCallDepth)
	}
	local := map[string]any{}
	given := map[string]bool{}
	params := map[string]*param{}
	for _, p := range m.params {
		params[p.name] = p
	}
	npos := 0
	for _, a := range c.args {
		v, err := e.eval(a.value, env)
		if err != nil {
			return nil, err
		}
		name := a.name
		if name == "" {
			if npos >= len(m.params) {
				return nil, e.errorf(a.pos, "too many arguments to %s: it takes %d", m.name, len(m.params))
			}
			name = m.params[npos].name
			npos++
		} else if params[name] == nil {
			return nil, e.errorf(a.pos, "%s has no parameter %q", m.name, name)
		}
		if given[name] {
			return nil, e.errorf(a.pos, "argument %q of %s given twice", name, m.name)
		}
		given[name] = true
		local[name] = v
	}
	for _, p := range m.params {
		if !given[p.name] && p.def == nil {
			return nil, e.errorf(c.pos, "missing argument %q in call of %s", p.name, m.name)
		}
	}
	e.stack = append(e.stack, frame{macro: m.name, call: c.pos})
	defer func() { e.stack = e.stack[:len(e.stack)-1] }()
	for _, p := range m.params {
		if given[p.name] {
			continue
		}
		v, err := e.eval(p.def, local)
		if err != nil {
			return nil, err
		}
		local[p.name] = v
	}
	v, returned, err := e.block(m.body, local)
	if err != nil {
		return nil, err
	}
	if !returned {
		return none{}, nil
	}
	return v, nil
}

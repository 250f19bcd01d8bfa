package dsl

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/participle/v2/lexer"
)

// The hand-written lexer and parser against the grammar (participle reading
// grammar.go's structs, which `rnc grammar` prints): both must accept the
// same sources and build the same trees, positions included.

// corpus is the real models and libraries, and snippets of every
// construct, valid and not.
func corpus(t testing.TB) map[string]string {
	c := map[string]string{}
	for _, pat := range []string{"*.rn", "lib/*.rn", "variants/*.rn", "torchvision/*.rn", "torchvision/lib/*.rn"} {
		files, _ := filepath.Glob(filepath.Join("..", "models", pat))
		for _, p := range files {
			src, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			c[p] = string(src)
		}
	}
	if len(c) < 20 {
		t.Fatalf("found %d model files", len(c))
	}
	for i, s := range snippets {
		c[fmt.Sprintf("snippet%d", i)] = s
	}
	return c
}

var snippets = []string{
	"", "# only a comment", "import \"a.rn\" import 'b.rn'",
	"macro f() {}", "macro f(a, b = 1, c = [1, 2,],) { return a }",
	"model m(x = - - 1, y = not not true) { return x }",
	"model m() { x = 1; y = 2 x = y return x; }",
	"model m() { x = a or b and not c == d + e * -f[1][g(h, i = 2)] }",
	"model m() { x = 1 + 2 - 3 * 4 / 5 // 6 % 7 }",
	"model m() { x = a < b x = a <= b x = a > b x = a >= b x = a != b }",
	"model m() { if a { } else if b { x = 1 } else if c {} else { return 2 } }",
	"model m() { for i in 1 .. n + 1 { for j in -1..2 { x = i } } }",
	"model m() { x = 1.5 + 2e3 + 3.5e-2 + 4E+1 + 1..2 }",
	"model m() { x = 1.e5 }", "model m() { x = 1e }", "model m() { x = 12abc }",
	"model m() { x = \"a\\\"b\\n\\x41\\u00e9\" + 'c\\'d\"' + \"\" }",
	"model m() { x = 'unterminated }", "model m() { x = \"bad \\q escape\" }",
	"model m() { x = \"a\\\nb\" }", "model m() { x = 'é' + 'ü' # ünïcödé\n }",
	"model m() { ifx = 1 inx = 2 not_ = 3 _ = 4 }",
	"model m() { x = (((1))) y = [[[]]] z = f(g(h())) }",
	"model m() { f(1)(2) }", "model m() { x = a < b < c }", "model m() { x = }",
	"model m() { x = 1 + }", "model m() { x = [1, 2 }", "model m() { x = (1 }",
	"model m() { if x { }", "model m() { for i in 1 { } }", "model m( { }", "model { }",
	"x = 1", "import x", "model m() { x = f(a = ) }", "model m() { return }",
	"model m() { x = 1 ... }", "model m() { x = 1 } }", "model m() { if 1 {} else x }",
	"model m() { x = 3 $ 4 }", "model m() { x = ! }", "model m() {\r\n\tx = 1\r\n}",
	"model m() { x = -not y }", "model m() { x = not -y }", "model m() { x = a == not b }",
	"model m() { x = f(a, b = 1, c) }", "model m() { x = f(,) }", "model m() { x = [,] }",
	"model m() { x = 99999999999999999999 + 1e999 }", "model m() { return - }",
	"model m() { x = [1][0] y = (x)[0] z = f()[0][1] }", "model m() { x = y[] }",
	"model m() { x = a.shape y = a.shape[-1] z = f(x).b.c[0].d }", "model m() { x = a. }",
	"model m() { x = a.1 }", "model m() { x = a.if }", "model m() { x = a . b [0] . c }",
	"model m() { x = a...b }", "model m() { x = .5 }", "model m() { x = a.b(1) }",
	"model m() { x = -a.shape[0] y = not a.b == c.d }", "model m() { x = 1.5.e }",
	"model m() { else }", "model m() { for }", "model m() { x = 1 .. 2 }",
	"macro if() {}", "macro f(a b) {}", "macro f(a = ) {}", "model m() {}\nmodel n() {}",
	"model m() { x = \xff }", "model m() { x = '\xff\xfe' }", "model m() { x = 1 } \x00",
}

// fromGrammar converts participle's tree to the parser's.
func fromGrammar(f *File) *file {
	pos := func(p lexer.Position) srcPos {
		name := p.Filename
		return srcPos{file: &name, line: int32(p.Line), col: int32(p.Column)}
	}
	var convExpr func(x *Expr) expr
	var convBlock func(b *Block) *block
	chain := func(first expr, rest []tail) expr {
		if len(rest) == 0 {
			return first
		}
		return &chainExpr{first: first, rest: rest}
	}
	var primary func(x *Primary) expr
	unary := func(x *Unary) expr {
		p := primary(x.Postfix.Primary)
		if len(x.Postfix.Ops) > 0 {
			px := &postfixExpr{x: p}
			for _, o := range x.Postfix.Ops {
				if o.Attr != nil {
					px.ops = append(px.ops, &attrRef{pos: pos(o.Attr.Pos), name: o.Attr.Name})
				} else {
					px.ops = append(px.ops, convExpr(o.Index))
				}
			}
			p = px
		}
		if len(x.Negs) > 0 {
			return &unaryExpr{pos: pos(x.Pos), op: "-", n: len(x.Negs), x: p}
		}
		return p
	}
	term := func(x *TermExpr) expr {
		var rest []tail
		for _, t := range x.Ops {
			rest = append(rest, tail{pos: pos(t.Pos), op: t.Op, x: unary(t.Right)})
		}
		return chain(unary(x.Left), rest)
	}
	sum := func(x *SumExpr) expr {
		var rest []tail
		for _, t := range x.Ops {
			rest = append(rest, tail{pos: pos(t.Pos), op: t.Op, x: term(t.Right)})
		}
		return chain(term(x.Left), rest)
	}
	not := func(x *NotExpr) expr {
		c := sum(x.Cmp.Left)
		if x.Cmp.Op != "" {
			c = &cmpExpr{op: x.Cmp.Op, l: c, r: sum(x.Cmp.Right)}
		}
		if len(x.Nots) > 0 {
			return &unaryExpr{pos: pos(x.Pos), op: "not", n: len(x.Nots), x: c}
		}
		return c
	}
	and := func(x *AndExpr) expr {
		var rest []tail
		for _, t := range x.Ops {
			rest = append(rest, tail{pos: pos(t.Pos), op: t.Op, x: not(t.Right)})
		}
		return chain(not(x.Left), rest)
	}
	convExpr = func(x *Expr) expr {
		if x == nil {
			return nil
		}
		var rest []tail
		for _, t := range x.Ops {
			rest = append(rest, tail{pos: pos(t.Pos), op: t.Op, x: and(t.Right)})
		}
		return chain(and(x.Left), rest)
	}
	primary = func(x *Primary) expr {
		p := pos(x.Pos)
		switch {
		case x.Float != nil:
			return floatLiteral(p, *x.Float)
		case x.Int != nil:
			return intLiteral(p, *x.Int)
		case x.String != nil:
			return &litExpr{pos: p, val: *x.String}
		case x.True:
			return &litExpr{pos: p, val: true}
		case x.False:
			return &litExpr{pos: p, val: false}
		case x.None:
			return &litExpr{pos: p, val: none{}}
		case x.List != nil:
			l := &listExpr{pos: p}
			for _, it := range x.List.Items {
				l.items = append(l.items, convExpr(it))
			}
			return l
		case x.Call != nil:
			c := &callExpr{pos: p, name: x.Call.Name}
			for _, a := range x.Call.Args {
				c.args = append(c.args, arg{pos: pos(a.Pos), name: a.Name, value: convExpr(a.Value)})
			}
			return c
		case x.Name != nil:
			return &nameExpr{pos: p, name: *x.Name}
		}
		return &parenExpr{pos: p, x: convExpr(x.Paren)}
	}
	var ifStmtOf func(s *If) *ifStmt
	ifStmtOf = func(s *If) *ifStmt {
		r := &ifStmt{pos: pos(s.Pos), cond: convExpr(s.Cond), then: convBlock(s.Then)}
		if s.Else != nil {
			if s.Else.If != nil {
				r.elseIf = ifStmtOf(s.Else.If)
			} else {
				r.elseBlock = convBlock(s.Else.Block)
			}
		}
		return r
	}
	convBlock = func(b *Block) *block {
		r := &block{pos: pos(b.Pos)}
		for _, s := range b.Stmts {
			var st stmt
			switch {
			case s.If != nil:
				st = ifStmtOf(s.If)
			case s.For != nil:
				st = &forStmt{pos: pos(s.Pos), name: s.For.Var, from: convExpr(s.For.From), to: convExpr(s.For.To), body: convBlock(s.For.Body)}
			case s.Return != nil:
				st = &returnStmt{pos: pos(s.Pos), value: convExpr(s.Return.Value)}
			case s.Assign != nil:
				st = &assignStmt{pos: pos(s.Pos), name: s.Assign.Name, value: convExpr(s.Assign.Value)}
			default:
				st = convExpr(s.Expr)
			}
			r.stmts = append(r.stmts, st)
		}
		return r
	}
	r := &file{}
	for _, d := range f.Decls {
		if d.Import != nil {
			r.decls = append(r.decls, decl{imp: &importDecl{pos: pos(d.Import.Pos), path: d.Import.Path}})
			continue
		}
		m := &macro{pos: pos(d.Macro.Pos), kind: d.Macro.Kind, name: d.Macro.Name, body: convBlock(d.Macro.Body)}
		for _, p := range d.Macro.Params {
			m.params = append(m.params, &param{pos: pos(p.Pos), name: p.Name, def: convExpr(p.Default)})
		}
		r.decls = append(r.decls, decl{mac: m})
	}
	return r
}

// literals are the grammar's keywords and punctuation.
var literals = func() map[string]bool {
	m := map[string]bool{}
	for k := range keywords {
		m[k] = true
	}
	for _, p := range strings.Fields("== != <= >= .. // - + * / % < > = ( ) , [ ] { } ; .") {
		m[p] = true
	}
	return m
}()

// quirk reports whether participle would read src differently for a reason
// of its own: it matches a grammar literal such as "(" or "if" against any
// token with that text, a String too, so that `'if' x {}` is an if
// statement to it.
func quirk(src string) bool {
	sc := newScanner("q", src)
	for {
		t, err := sc.next()
		if err != nil || t.kind == tEOF {
			return false
		}
		if t.kind == tString && literals[t.text] {
			return true
		}
	}
}

// indexBacktrack reports whether err is the parser failing inside an
// index, x[...], where participle may read on differently: it backtracks a
// repetition that fails within its lookahead (3 tokens) and takes the
// bracket for a list starting the next statement, so that to it `x = y[]`
// and `x = y[1, 2]` are `x = y` and a list (but `x = y[1 + 1, 2]` is an
// error). The parser commits to the index, as it does for `x = y[1]`.
func indexBacktrack(src string, err error) bool {
	e, ok := err.(*Error)
	if !ok {
		return false
	}
	if strings.HasSuffix(e.Msg, `(expected "]")`) {
		return true
	}
	sc := newScanner("q", src)
	var prev token
	for {
		t, lerr := sc.next()
		if lerr != nil || t.kind == tEOF {
			return false
		}
		if t.pos.line == int32(e.Pos.Line) && t.pos.col == int32(e.Pos.Column) {
			return prev.kind == tPunct && prev.text == "["
		}
		prev = t
	}
}

// lexRules lexes src with grammar.go's rules, as participle does: the
// tokens' kinds, texts and positions, or the error.
func lexRules(src string) ([]string, error) {
	lx, err := rnLexer.LexString("f.rn", src)
	if err != nil {
		return nil, err
	}
	names := map[lexer.TokenType]string{}
	for n, t := range rnLexer.Symbols() {
		names[t] = n
	}
	var toks []string
	for {
		t, err := lx.Next()
		if err != nil {
			return toks, err
		}
		if t.EOF() {
			return append(toks, fmt.Sprintf("EOF %d:%d", t.Pos.Line, t.Pos.Column)), nil
		}
		if n := names[t.Type]; n != "Whitespace" && n != "Comment" {
			toks = append(toks, fmt.Sprintf("%s %q %d:%d", n, t.Value, t.Pos.Line, t.Pos.Column))
		}
	}
}

// lexScanner lexes src with the scanner, in lexRules's terms.
func lexScanner(src string) ([]string, error) {
	kinds := [...]string{tFloat: "Float", tInt: "Int", tString: "String", tKeyword: "Keyword", tIdent: "Ident", tPunct: "Punct"}
	sc := newScanner("f.rn", src)
	var toks []string
	for {
		t, err := sc.next()
		if err != nil {
			return toks, err
		}
		if t.kind == tEOF {
			return append(toks, fmt.Sprintf("EOF %d:%d", t.pos.line, t.pos.col)), nil
		}
		text := t.text
		if t.kind == tString {
			text = t.raw
		}
		toks = append(toks, fmt.Sprintf("%s %q %d:%d", kinds[t.kind], text, t.pos.line, t.pos.col))
	}
}

// checkAgainstGrammar fails t if the scanner or the parser disagree with
// the grammar on src.
func checkAgainstGrammar(t *testing.T, name, src string) {
	t.Helper()
	want, werr := lexRules(src)
	got, gerr := lexScanner(src)
	if gerr != nil && strings.Contains(gerr.Error(), "invalid quoted string") {
		// a String the rules match but whose escapes are wrong: both
		// parsers reject it
		if len(got) >= len(want) || !slices.Equal(got, want[:len(got)]) || !strings.HasPrefix(want[len(got)], "String ") {
			t.Fatalf("%s: lexer: got %q, %v\nthe rules give %q, %v", name, got, gerr, want, werr)
		}
		if _, perr := grammarParser().ParseString(name, src); perr == nil {
			t.Fatalf("%s: the grammar accepts a bad string: %q", name, src)
		}
		return
	}
	if (werr == nil) != (gerr == nil) || !slices.Equal(got, want) {
		t.Fatalf("%s: lexer: got %q, %v\nthe rules give %q, %v", name, got, gerr, want, werr)
	}
	if werr != nil {
		// both fail at the same token; participle reports the position
		// after the last good token, the scanner the bad token's
		return
	}
	if quirk(src) {
		return
	}
	gf, perr := grammarParser().ParseString(name, src)
	f, err := parseFile(name, []byte(src))
	if err != nil && perr == nil && indexBacktrack(src, err) {
		return
	}
	if (perr == nil) != (err == nil) {
		t.Fatalf("%s: parser: %v\nthe grammar gives %v\nsource: %q", name, err, perr, src)
	}
	if err == nil && !reflect.DeepEqual(f, fromGrammar(gf)) {
		t.Fatalf("%s: the parser's tree differs from the grammar's\nsource: %q", name, src)
	}
}

func TestParserMatchesGrammar(t *testing.T) {
	for name, src := range corpus(t) {
		checkAgainstGrammar(t, name, src)
	}
	// deep but within the nesting budget
	checkAgainstGrammar(t, "deep", "model m() { x = "+strings.Repeat("-(", 499)+"1"+strings.Repeat(")", 499)+" }")
	checkAgainstGrammar(t, "chain", "model m() { if a {}"+strings.Repeat(" else if b {}", 990)+" }")
}

// FuzzGrammar: on any source, the scanner and the parser agree with the
// grammar.
func FuzzGrammar(f *testing.F) {
	for _, src := range corpus(f) {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 1<<14 {
			return // participle is slow
		}
		checkAgainstGrammar(t, "f.rn", src)
	})
}

// allocated runs f and returns the bytes it allocated and the bytes that
// stay reachable from what it returns.
func allocated(f func() any) (total, live uint64) {
	var m0, m1, m2 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	v := f()
	runtime.ReadMemStats(&m1)
	runtime.GC()
	runtime.ReadMemStats(&m2)
	runtime.KeepAlive(v)
	if m2.HeapAlloc > m0.HeapAlloc {
		live = m2.HeapAlloc - m0.HeapAlloc
	}
	return m1.TotalAlloc - m0.TotalAlloc, live
}

// TestParseMemory: parsing takes memory linear in the source, with a small
// factor, for every shape of source. participle took up to 7000 bytes
// allocated and 500 kept per source byte, and a 1 MB string literal took
// minutes (its unquoting was quadratic).
func TestParseMemory(t *testing.T) {
	const n = maxSource / 4
	body := func(s string) string { return "model m() {\n" + s + "\n}\n" }
	fill := func(unit string) string { return strings.Repeat(unit, (n-20)/len(unit)) }
	for _, c := range []struct{ name, src string }{
		{"string", body(`x = "` + fill("a") + `"`)},
		{"escapes", body(`x = "` + fill(`\n`) + `"`)},
		{"comment", "#" + fill("a") + "\nmodel m() {}"},
		{"ints", body("x = [" + fill("1,") + "]")},
		{"empty lists", body("x = [" + fill("[],") + "]")},
		{"names", body(fill("x "))},
		{"assignments", body(fill("x=1 "))},
		{"sum", body("x = 1" + fill("+1"))},
		{"comparisons", body(fill("1<1 "))},
		{"arguments", body("f(" + fill("1,") + ")")},
		{"named arguments", body("f(" + fill("a=1,") + ")")},
		{"calls", body(fill("f()"))},
		{"parentheses", body(fill("(1)"))},
		{"indexes", body("x" + fill("[1]"))},
		{"attributes", body("x" + fill(".a"))},
		{"attributes and indexes", body("x" + fill(".a[1]"))},
		{"if", body(fill("if x{}"))},
		{"for", body(fill("for i in 1..1{}"))},
		{"minus", body("x = " + fill("-") + "1")},
		{"not", body("x = " + fill("not ") + "1")},
		{"macros", fill("macro a(){}")},
		{"parameters", "macro a(" + fill("a,") + "){}"},
		{"imports", fill("import''")},
	} {
		if len(c.src) > maxSource {
			t.Fatalf("%s: %d bytes", c.name, len(c.src))
		}
		var err error
		total, live := allocated(func() any {
			var f *file
			f, err = parseFile("m.rn", []byte(c.src))
			return f
		})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		perByte := func(b uint64) float64 { return float64(b) / float64(len(c.src)) }
		if perByte(live) > 50 || perByte(total) > 200 {
			t.Errorf("%s: parsing %d bytes allocates %.0f bytes per byte and keeps %.0f", c.name, len(c.src), perByte(total), perByte(live))
		}
	}
}

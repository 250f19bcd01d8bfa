package dsl

import (
	"fmt"
	"math"
	"strconv"
)

// The parser: recursive descent over the grammar of grammar.go (which
// `rnc grammar` prints; TestParserMatchesGrammar and FuzzGrammar check
// that both accept the same sources and build the same trees). It recurses
// only into brackets, blocks and else-if links, and counts each against
// maxNesting before it recurses, so no source can exhaust its stack;
// binary operator chains and runs of prefix operators are loops. It works
// in time and memory linear in the source.

type parser struct {
	sc       *scanner
	tok, nxt token // the current token and the one after it
	depth    int
	tooDeep  bool // the error is the nesting limit
}

// syntaxErr carries a syntax error out of the recursive descent.
type syntaxErr struct{ err error }

func newParser(filename, src string) (p *parser, err error) {
	p = &parser{sc: newScanner(filename, src)}
	defer p.recover(&err)
	p.tok = p.lex()
	p.nxt = p.lex()
	return p, nil
}

func (p *parser) lex() token {
	t, err := p.sc.next()
	if err != nil {
		panic(syntaxErr{err})
	}
	return t
}

func (p *parser) recover(err *error) {
	if r := recover(); r != nil {
		se, ok := r.(syntaxErr)
		if !ok {
			panic(r)
		}
		*err = se.err
	}
}

func (p *parser) advance() token {
	t := p.tok
	p.tok = p.nxt
	if p.tok.kind != tEOF {
		p.nxt = p.lex()
	}
	return t
}

func (p *parser) fail(t token, format string, args ...any) {
	panic(syntaxErr{&Error{Pos: t.pos.position(), Msg: "syntax error: " + fmt.Sprintf(format, args...)}})
}

// unexpected reports the current token, and what the grammar wanted.
func (p *parser) unexpected(want string) {
	p.fail(p.tok, "unexpected %s (expected %s)", p.tok.describe(), want)
}

func (p *parser) is(kind tokKind, text string) bool {
	return p.tok.kind == kind && p.tok.text == text
}

func (p *parser) punct(text string) bool   { return p.is(tPunct, text) }
func (p *parser) keyword(text string) bool { return p.is(tKeyword, text) }

func (p *parser) expect(text string) token {
	if !p.punct(text) {
		p.unexpected(strconv.Quote(text))
	}
	return p.advance()
}

func (p *parser) ident(what string) token {
	if p.tok.kind != tIdent {
		p.unexpected(what)
	}
	return p.advance()
}

// enter counts one level of nesting at the current token (an opening
// bracket, or the `if` of an `else if`); leave uncounts it.
func (p *parser) enter() {
	p.depth++
	if p.depth > maxNesting {
		p.tooDeep = true
		p.fail(p.tok, "%s", nestingMessage)
	}
}

func (p *parser) leave() { p.depth-- }

// parseFile parses one source file.
func parseFile(filename string, src []byte) (f *file, err error) {
	p, err := newParser(filename, string(src))
	if err != nil {
		return nil, err
	}
	defer p.recover(&err)
	f = &file{}
	for p.tok.kind != tEOF {
		switch {
		case p.keyword("import"):
			pos := p.advance().pos
			if p.tok.kind != tString {
				p.unexpected("a string")
			}
			f.decls = append(f.decls, decl{imp: &importDecl{pos: pos, path: p.advance().text}})
		case p.keyword("macro") || p.keyword("model"):
			f.decls = append(f.decls, decl{mac: p.macro()})
		default:
			p.unexpected(`"import", "macro" or "model"`)
		}
	}
	return f, nil
}

// parseExpr parses src as one expression (a --set value).
func parseExpr(filename, src string) (x expr, tooDeep bool, err error) {
	p, err := newParser(filename, src)
	if err != nil {
		return nil, false, err
	}
	defer func() { tooDeep = p.tooDeep }()
	defer p.recover(&err)
	x = p.expr()
	if p.tok.kind != tEOF {
		p.unexpected("end of input")
	}
	return x, false, nil
}

func (p *parser) macro() *macro {
	t := p.advance()
	m := &macro{pos: t.pos, kind: t.text}
	m.name = p.ident("a name").text
	if !p.punct("(") {
		p.unexpected(`"("`)
	}
	p.list(")", func() {
		t := p.ident(`a parameter name or ")"`)
		pr := &param{pos: t.pos, name: t.text}
		if p.punct("=") {
			p.advance()
			pr.def = p.expr()
		}
		m.params = append(m.params, pr)
	})
	m.body = p.block()
	return m
}

func (p *parser) block() *block {
	b := &block{pos: p.tok.pos}
	if !p.punct("{") {
		p.unexpected(`"{"`)
	}
	p.enter()
	p.advance()
	for !p.punct("}") {
		b.stmts = append(b.stmts, p.stmt())
	}
	p.advance()
	p.leave()
	return b
}

// semicolon skips an optional `;`.
func (p *parser) semicolon() {
	if p.punct(";") {
		p.advance()
	}
}

func (p *parser) stmt() stmt {
	pos := p.tok.pos
	switch {
	case p.keyword("if"):
		return p.ifStmt()
	case p.keyword("for"):
		p.advance()
		s := &forStmt{pos: pos, name: p.ident("a loop variable").text}
		if !p.keyword("in") {
			p.unexpected(`"in"`)
		}
		p.advance()
		s.from = p.expr()
		p.expect("..")
		s.to = p.expr()
		s.body = p.block()
		return s
	case p.keyword("return"):
		p.advance()
		s := &returnStmt{pos: pos, value: p.expr()}
		p.semicolon()
		return s
	case p.tok.kind == tIdent && p.nxt.kind == tPunct && p.nxt.text == "=":
		name := p.advance().text
		p.advance()
		s := &assignStmt{pos: pos, name: name, value: p.expr()}
		p.semicolon()
		return s
	case !p.startsExpr():
		p.unexpected(`a statement or "}"`)
	}
	x := p.expr()
	p.semicolon()
	return x
}

// startsExpr reports whether the current token can begin an expression.
func (p *parser) startsExpr() bool {
	switch p.tok.kind {
	case tFloat, tInt, tString, tIdent:
		return true
	case tKeyword:
		switch p.tok.text {
		case "not", "true", "false", "none":
			return true
		}
	case tPunct:
		switch p.tok.text {
		case "-", "[", "(":
			return true
		}
	}
	return false
}

func (p *parser) ifStmt() *ifStmt {
	s := &ifStmt{pos: p.advance().pos}
	s.cond = p.expr()
	s.then = p.block()
	if p.keyword("else") {
		p.advance()
		if p.keyword("if") {
			p.enter() // each link of a chain nests in the previous
			s.elseIf = p.ifStmt()
			p.leave()
		} else {
			if !p.punct("{") {
				p.unexpected(`"if" or "{"`)
			}
			s.elseBlock = p.block()
		}
	}
	return s
}

// Expressions: one function per precedence level, loops for the chains.

// The levels of the operator chains, loosest first.
const (
	levelOr = iota
	levelAnd
	levelSum
	levelTerm
)

func (p *parser) expr() expr { return p.chain(levelOr) }

// chain parses a left-associative chain of the operators of a level.
func (p *parser) chain(level int) expr {
	x := p.operand(level)
	if !p.isOp(level) {
		return x
	}
	c := &chainExpr{first: x}
	for p.isOp(level) {
		t := p.advance()
		c.rest = append(c.rest, tail{pos: t.pos, op: t.text, x: p.operand(level)})
	}
	return c
}

func (p *parser) operand(level int) expr {
	switch level {
	case levelOr:
		return p.chain(levelAnd)
	case levelAnd:
		return p.not()
	case levelSum:
		return p.chain(levelTerm)
	}
	return p.unary()
}

func (p *parser) isOp(level int) bool {
	switch level {
	case levelOr:
		return p.keyword("or")
	case levelAnd:
		return p.keyword("and")
	case levelSum:
		return p.punct("+") || p.punct("-")
	}
	return p.punct("*") || p.punct("//") || p.punct("/") || p.punct("%")
}

func (p *parser) not() expr { return p.prefix("not", p.keyword, p.cmp) }

func (p *parser) cmp() expr {
	l := p.chain(levelSum)
	if p.tok.kind == tPunct {
		switch op := p.tok.text; op {
		case "==", "!=", "<=", ">=", "<", ">":
			p.advance()
			return &cmpExpr{op: op, l: l, r: p.chain(levelSum)}
		}
	}
	return l
}

func (p *parser) unary() expr { return p.prefix("-", p.punct, p.postfix) }

// prefix parses a run of the prefix operator op (told by is) before an
// operand: a loop, so that a million of them cost no stack.
func (p *parser) prefix(op string, is func(string) bool, operand func() expr) expr {
	pos, n := p.tok.pos, 0
	for is(op) {
		p.advance()
		n++
	}
	x := operand()
	if n == 0 {
		return x
	}
	return &unaryExpr{pos: pos, op: op, n: n, x: x}
}

func (p *parser) postfix() expr {
	x := p.primary()
	if !p.punct("[") && !p.punct(".") {
		return x
	}
	px := &postfixExpr{x: x}
	for {
		switch {
		case p.punct("["):
			p.enter()
			p.advance()
			px.ops = append(px.ops, p.expr())
			p.expect("]")
			p.leave()
		case p.punct("."):
			p.advance()
			t := p.ident("an attribute name")
			px.ops = append(px.ops, &attrRef{pos: t.pos, name: t.text})
		default:
			return px
		}
	}
}

func (p *parser) primary() expr {
	t := p.tok
	switch t.kind {
	case tFloat:
		p.advance()
		return floatLiteral(t.pos, t.text)
	case tInt:
		p.advance()
		return intLiteral(t.pos, t.text)
	case tString:
		p.advance()
		return &litExpr{pos: t.pos, val: t.text}
	case tKeyword:
		var v any
		switch t.text {
		case "true":
			v = true
		case "false":
			v = false
		case "none":
			v = none{}
		default:
			p.unexpected("an expression")
		}
		p.advance()
		return &litExpr{pos: t.pos, val: v}
	case tIdent:
		if p.nxt.kind == tPunct && p.nxt.text == "(" {
			return p.call()
		}
		p.advance()
		return &nameExpr{pos: t.pos, name: t.text}
	}
	switch {
	case p.punct("["):
		l := &listExpr{pos: t.pos}
		p.list("]", func() { l.items = append(l.items, p.expr()) })
		return l
	case p.punct("("):
		p.enter()
		p.advance()
		x := &parenExpr{pos: t.pos, x: p.expr()}
		p.expect(")")
		p.leave()
		return x
	}
	p.unexpected("an expression")
	return nil
}

func (p *parser) call() expr {
	t := p.advance()
	c := &callExpr{pos: t.pos, name: t.text}
	p.list(")", func() {
		a := arg{pos: p.tok.pos}
		if p.tok.kind == tIdent && p.nxt.kind == tPunct && p.nxt.text == "=" {
			a.name = p.advance().text
			p.advance()
		}
		a.value = p.expr()
		c.args = append(c.args, a)
	})
	return c
}

// list parses the comma-separated items of a bracketed list (the opening
// bracket is the current token; a trailing comma is allowed) up to close,
// one nesting level deeper.
func (p *parser) list(close string, item func()) {
	p.enter()
	p.advance()
	for !p.punct(close) {
		item()
		if !p.punct(",") {
			break
		}
		p.advance()
	}
	if !p.punct(close) {
		p.unexpected(`"," or "` + close + `"`)
	}
	p.advance()
	p.leave()
}

func floatLiteral(pos srcPos, text string) *litExpr {
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) {
		return &litExpr{pos: pos, val: badLiteral{text, "bad float literal " + clip(text, 40)}}
	}
	return &litExpr{pos: pos, val: f}
}

func intLiteral(pos srcPos, text string) *litExpr {
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return &litExpr{pos: pos, val: badLiteral{text, "integer literal " + clip(text, 40) + " is too large"}}
	}
	return &litExpr{pos: pos, val: n}
}

package dsl

import "github.com/alecthomas/participle/v2/lexer"

// The syntax tree the parser (parse.go) builds and the expander evaluates.
// It is compact on purpose: a source file's tree takes a few dozen bytes
// per source byte at most (see TestParseMemory), where the participle
// structs of grammar.go, one node per precedence level for every operand,
// took several hundred.

// srcPos is a position in a source file: line and column as participle
// counts them (1-based; columns in runes), and the file's name, shared by
// every node of the file.
type srcPos struct {
	file      *string
	line, col int32
}

func (p srcPos) position() lexer.Position {
	var name string
	if p.file != nil {
		name = *p.file
	}
	return lexer.Position{Filename: name, Line: int(p.line), Column: int(p.col)}
}

// file is one parsed source file: its imports and macros in source order.
type file struct {
	decls []decl
}

// decl is an import or a macro (or the model).
type decl struct {
	imp *importDecl
	mac *macro
}

type importDecl struct {
	pos  srcPos
	path string
}

// macro is a `macro` or the `model` declaration.
type macro struct {
	pos    srcPos
	kind   string // "macro" or "model"
	name   string
	params []*param
	body   *block
}

type param struct {
	pos  srcPos
	name string
	def  expr // nil: no default
}

type block struct {
	pos   srcPos
	stmts []stmt
}

// stmt is one of *assignStmt, *returnStmt, *ifStmt, *forStmt, or an
// expr (an expression statement starts where its expression does).
type stmt interface{ start() srcPos }

type assignStmt struct {
	pos   srcPos
	name  string
	value expr
}

type returnStmt struct {
	pos   srcPos
	value expr
}

// ifStmt is if / else if / else: elseIf is the next link of a chain,
// elseBlock a final else.
type ifStmt struct {
	pos       srcPos
	cond      expr
	then      *block
	elseIf    *ifStmt
	elseBlock *block
}

// forStmt is `for v in a .. b { ... }`, a and b inclusive.
type forStmt struct {
	pos      srcPos
	name     string
	from, to expr
	body     *block
}

func (s *assignStmt) start() srcPos { return s.pos }
func (s *returnStmt) start() srcPos { return s.pos }
func (s *ifStmt) start() srcPos     { return s.pos }
func (s *forStmt) start() srcPos    { return s.pos }

// expr is an expression; start is the position of its first token.
type expr interface{ start() srcPos }

// litExpr is a literal: int64, float64, string, bool, none{}, or a
// badLiteral, reported when evaluated.
type litExpr struct {
	pos srcPos
	val any
}

// badLiteral is a number literal out of range.
type badLiteral struct{ text, msg string } // the source text and the error

type nameExpr struct {
	pos  srcPos
	name string
}

// parenExpr is a parenthesized expression.
type parenExpr struct {
	pos srcPos
	x   expr
}

type listExpr struct {
	pos   srcPos
	items []expr
}

// callExpr calls a macro or a builtin.
type callExpr struct {
	pos  srcPos
	name string
	args []arg
}

// arg is a positional (name "") or named argument.
type arg struct {
	pos   srcPos
	name  string
	value expr
}

// postfixExpr is x followed by indexes and attributes, x[i].shape[j]...:
// each of ops is an index expression or an *attrRef. A run of them is a
// list, not a nesting, so that a long one costs neither stack.
type postfixExpr struct {
	x   expr
	ops []expr
}

// attrRef is the `.name` of a postfix expression, at the name.
type attrRef struct {
	pos  srcPos
	name string
}

// unaryExpr is n prefix operators (all "-" or all "not") before x. A run
// of them is a count, not a nesting, so that a million of them cost
// neither the parser's nor the evaluator's stack.
type unaryExpr struct {
	pos srcPos
	op  string
	n   int
	x   expr
}

// cmpExpr is l op r for a comparison op.
type cmpExpr struct {
	op   string
	l, r expr
}

// chainExpr is a left-associative chain of operators of one precedence
// level: or, and, + and -, or *, //, / and %.
type chainExpr struct {
	first expr
	rest  []tail
}

// tail is one operator of a chain and its right operand.
type tail struct {
	pos srcPos // of the operator
	op  string
	x   expr
}

func (x *litExpr) start() srcPos     { return x.pos }
func (x *nameExpr) start() srcPos    { return x.pos }
func (x *parenExpr) start() srcPos   { return x.pos }
func (x *listExpr) start() srcPos    { return x.pos }
func (x *callExpr) start() srcPos    { return x.pos }
func (x *postfixExpr) start() srcPos { return x.x.start() }
func (x *attrRef) start() srcPos     { return x.pos }
func (x *unaryExpr) start() srcPos   { return x.pos }
func (x *cmpExpr) start() srcPos     { return x.l.start() }
func (x *chainExpr) start() srcPos   { return x.first.start() }

package dsl

import (
	"fmt"
	"strings"
)

// Expression statements. An expression's value is only worth computing for
// its effect, so the only expression statements are calls that may have
// one: a layer builtin (it creates a layer, registers its name and advances
// Keras's automatic names, as Keras does), error(...) (it stops the
// expansion), and a macro (whether a macro has an effect depends on its
// arguments and branches: it may create layers, or be a check that calls
// error and returns nothing; a discarded result costs nothing). Anything
// else — `stride == 2` written for `stride = 2`, `x + 1`, a bare name, a
// list, a call of a pure helper such as len — is a mistake, reported when
// the file is loaded, in every branch, whether it runs or not.

// checkStatements reports the first expression statement of b (and of
// the blocks inside it) whose value would be unused to no effect.
func checkStatements(b *block) error {
	for _, s := range b.stmts {
		var err error
		switch s := s.(type) {
		case *assignStmt, *returnStmt:
		case *ifStmt:
			for ; s != nil && err == nil; s = s.elseIf {
				if err = checkStatements(s.then); err == nil && s.elseBlock != nil {
					err = checkStatements(s.elseBlock)
				}
			}
		case *forStmt:
			err = checkStatements(s.body)
		case expr:
			err = checkExprStmt(s)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

const unusedHint = `did you mean to assign it, "name = ...", or to return it?`

func checkExprStmt(x expr) error {
	inner := x
	for {
		p, ok := inner.(*parenExpr)
		if !ok {
			break
		}
		inner = p.x
	}
	if c, ok := inner.(*callExpr); ok {
		b, isBuiltin := builtins[c.name]
		if !isBuiltin || !b.pure {
			return nil
		}
		return &Error{Pos: x.start().position(), Msg: fmt.Sprintf("the value of this call of %s is unused (%s)", c.name, unusedHint)}
	}
	hint := unusedHint
	if c, ok := inner.(*cmpExpr); ok && c.op == "==" {
		if n, ok := c.l.(*nameExpr); ok {
			hint = fmt.Sprintf("did you mean %q?", n.name+" = "+exprText(c.r))
		}
	}
	return &Error{Pos: x.start().position(), Msg: fmt.Sprintf("the value of this expression is unused (%s)", hint)}
}

// maxExprText bounds exprText's result.
const maxExprText = 60

// exprText writes x back as source text, shortened to about maxExprText
// bytes: for messages.
func exprText(x expr) string {
	var b strings.Builder
	writeExpr(&b, x)
	return clip(b.String(), maxExprText)
}

func writeExpr(b *strings.Builder, x expr) {
	if b.Len() > maxExprText {
		return
	}
	switch x := x.(type) {
	case *litExpr:
		if bad, ok := x.val.(badLiteral); ok {
			b.WriteString(bad.text)
			return
		}
		writeValue(b, x.val)
	case *nameExpr:
		b.WriteString(x.name)
	case *parenExpr:
		b.WriteByte('(')
		writeExpr(b, x.x)
		b.WriteByte(')')
	case *listExpr:
		b.WriteByte('[')
		for i, it := range x.items {
			if i > 0 {
				b.WriteString(", ")
			}
			writeExpr(b, it)
			if b.Len() > maxExprText {
				return
			}
		}
		b.WriteByte(']')
	case *callExpr:
		b.WriteString(x.name + "(")
		for i, a := range x.args {
			if i > 0 {
				b.WriteString(", ")
			}
			if a.name != "" {
				b.WriteString(a.name + " = ")
			}
			writeExpr(b, a.value)
			if b.Len() > maxExprText {
				return
			}
		}
		b.WriteByte(')')
	case *postfixExpr:
		writeExpr(b, x.x)
		for _, op := range x.ops {
			if b.Len() > maxExprText {
				return
			}
			if a, ok := op.(*attrRef); ok {
				b.WriteString("." + a.name)
				continue
			}
			b.WriteByte('[')
			writeExpr(b, op)
			b.WriteByte(']')
		}
	case *unaryExpr:
		op := x.op
		if op == "not" {
			op = "not "
		}
		b.WriteString(strings.Repeat(op, min(x.n, maxExprText)))
		writeExpr(b, x.x)
	case *cmpExpr:
		writeExpr(b, x.l)
		b.WriteString(" " + x.op + " ")
		writeExpr(b, x.r)
	case *chainExpr:
		writeExpr(b, x.first)
		for _, t := range x.rest {
			if b.Len() > maxExprText {
				return
			}
			b.WriteString(" " + t.op + " ")
			writeExpr(b, t.x)
		}
	}
}

package dsl

import (
	"sync"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// The grammar of the language, as participle structs: `rnc grammar`
// prints it (Grammar), and it is the specification the hand-written lexer
// and parser (lex.go, parse.go) implement: TestParserMatchesGrammar and
// FuzzGrammar parse sources with both and compare the trees. Loading does
// not use participle, whose parser costs tens of microseconds and
// kilobytes per token (a 1 MB list literal took 25 s and 5 GB).

// File is one .rn source file.
type File struct {
	Pos   lexer.Position
	Decls []*Decl `parser:"@@*"`
}

// Decl is a top-level declaration.
type Decl struct {
	Pos    lexer.Position
	Import *Import `parser:"@@"`
	Macro  *Macro  `parser:"| @@"`
}

// Import names another .rn file, relative to the importing file.
type Import struct {
	Pos  lexer.Position
	Path string `parser:"\"import\" @String"`
}

// Macro is a `macro` or the `model` declaration: a name, parameters with
// optional defaults, and a body.
type Macro struct {
	Pos    lexer.Position
	Kind   string   `parser:"@(\"macro\" | \"model\")"`
	Name   string   `parser:"@Ident"`
	Params []*Param `parser:"\"(\" ( @@ ( \",\" @@ )* \",\"? )? \")\""`
	Body   *Block   `parser:"@@"`
}

// Param is a macro parameter.
type Param struct {
	Pos     lexer.Position
	Name    string `parser:"@Ident"`
	Default *Expr  `parser:"( \"=\" @@ )?"`
}

// Block is a braced statement list.
type Block struct {
	Pos   lexer.Position
	Stmts []*Stmt `parser:"\"{\" @@* \"}\""`
}

// Stmt is one statement.
type Stmt struct {
	Pos    lexer.Position
	If     *If     `parser:"@@"`
	For    *For    `parser:"| @@"`
	Return *Return `parser:"| @@"`
	Assign *Assign `parser:"| @@"`
	Expr   *Expr   `parser:"| @@ \";\"?"`
}

// If is if / else if / else.
type If struct {
	Pos  lexer.Position
	Cond *Expr  `parser:"\"if\" @@"`
	Then *Block `parser:"@@"`
	Else *Else  `parser:"( \"else\" @@ )?"`
}

// Else is the else branch: another if, or a block.
type Else struct {
	Pos   lexer.Position
	If    *If    `parser:"@@"`
	Block *Block `parser:"| @@"`
}

// For is `for v in a .. b { ... }`, with a and b inclusive.
type For struct {
	Pos  lexer.Position
	Var  string `parser:"\"for\" @Ident \"in\""`
	From *Expr  `parser:"@@ \"..\""`
	To   *Expr  `parser:"@@"`
	Body *Block `parser:"@@"`
}

// Return ends a macro with a value.
type Return struct {
	Pos   lexer.Position
	Value *Expr `parser:"\"return\" @@ \";\"?"`
}

// Assign binds a local variable.
type Assign struct {
	Pos   lexer.Position
	Name  string `parser:"@Ident \"=\""`
	Value *Expr  `parser:"@@ \";\"?"`
}

// Expr is an expression: `or` of `and`s.
type Expr struct {
	Pos  lexer.Position
	Left *AndExpr  `parser:"@@"`
	Ops  []*OrTail `parser:"@@*"`
}

// OrTail is one `or` operand.
type OrTail struct {
	Pos   lexer.Position
	Op    string   `parser:"@\"or\""`
	Right *AndExpr `parser:"@@"`
}

// AndExpr is an `and` of negations.
type AndExpr struct {
	Pos  lexer.Position
	Left *NotExpr   `parser:"@@"`
	Ops  []*AndTail `parser:"@@*"`
}

// AndTail is one `and` operand.
type AndTail struct {
	Pos   lexer.Position
	Op    string   `parser:"@\"and\""`
	Right *NotExpr `parser:"@@"`
}

// NotExpr is a comparison after any number of `not`s. The `not`s are a
// repetition, not a recursion, so that a long run of them cannot exhaust
// the parser's or the evaluator's stack.
type NotExpr struct {
	Pos  lexer.Position
	Nots []string `parser:"@\"not\"*"`
	Cmp  *CmpExpr `parser:"@@"`
}

// CmpExpr is a sum, optionally compared with another.
type CmpExpr struct {
	Pos   lexer.Position
	Left  *SumExpr `parser:"@@"`
	Op    string   `parser:"( @(\"==\" | \"!=\" | \"<=\" | \">=\" | \"<\" | \">\")"`
	Right *SumExpr `parser:"@@ )?"`
}

// SumExpr is a chain of + and -.
type SumExpr struct {
	Pos  lexer.Position
	Left *TermExpr  `parser:"@@"`
	Ops  []*SumTail `parser:"@@*"`
}

// SumTail is one + or - operand.
type SumTail struct {
	Pos   lexer.Position
	Op    string    `parser:"@(\"+\" | \"-\")"`
	Right *TermExpr `parser:"@@"`
}

// TermExpr is a chain of *, /, // and %.
type TermExpr struct {
	Pos  lexer.Position
	Left *Unary      `parser:"@@"`
	Ops  []*TermTail `parser:"@@*"`
}

// TermTail is one *, /, // or % operand.
type TermTail struct {
	Pos   lexer.Position
	Op    string `parser:"@(\"*\" | \"//\" | \"/\" | \"%\")"`
	Right *Unary `parser:"@@"`
}

// Unary is a postfix expression after any number of minus signs (a
// repetition, like the `not`s of NotExpr).
type Unary struct {
	Pos     lexer.Position
	Negs    []string `parser:"@\"-\"*"`
	Postfix *Postfix `parser:"@@"`
}

// Postfix is a primary followed by indexes and attributes: x.shape[-1].
type Postfix struct {
	Pos     lexer.Position
	Primary *Primary  `parser:"@@"`
	Ops     []*PostOp `parser:"@@*"`
}

// PostOp is an index [i] or an attribute .name.
type PostOp struct {
	Pos   lexer.Position
	Index *Expr `parser:"\"[\" @@ \"]\""`
	Attr  *Attr `parser:"| \".\" @@"`
}

// Attr is an attribute's name (a tensor has one: shape).
type Attr struct {
	Pos  lexer.Position
	Name string `parser:"@Ident"`
}

// Primary is a literal, a call, a name or a parenthesized expression.
type Primary struct {
	Pos    lexer.Position
	Float  *string `parser:"@Float"`
	Int    *string `parser:"| @Int"`
	String *string `parser:"| @String"`
	True   bool    `parser:"| @\"true\""`
	False  bool    `parser:"| @\"false\""`
	None   bool    `parser:"| @\"none\""`
	List   *List   `parser:"| @@"`
	Call   *Call   `parser:"| @@"`
	Name   *string `parser:"| @Ident"`
	Paren  *Expr   `parser:"| \"(\" @@ \")\""`
}

// List is a list literal.
type List struct {
	Pos   lexer.Position
	Items []*Expr `parser:"\"[\" ( @@ ( \",\" @@ )* \",\"? )? \"]\""`
}

// Call is a macro or builtin call.
type Call struct {
	Pos  lexer.Position
	Name string `parser:"@Ident \"(\""`
	Args []*Arg `parser:"( @@ ( \",\" @@ )* \",\"? )? \")\""`
}

// Arg is a positional or named argument.
type Arg struct {
	Pos   lexer.Position
	Name  string `parser:"( @Ident \"=\" )?"`
	Value *Expr  `parser:"@@"`
}

var rnLexer = lexer.MustSimple([]lexer.SimpleRule{
	{Name: "Comment", Pattern: `#[^\n]*`},
	{Name: "Whitespace", Pattern: `[ \t\r\n]+`},
	{Name: "Float", Pattern: `\d+\.\d+([eE][-+]?\d+)?|\d+[eE][-+]?\d+`},
	{Name: "Int", Pattern: `\d+`},
	{Name: "String", Pattern: `"(\\.|[^"\\\n])*"|'(\\.|[^'\\\n])*'`},
	{Name: "Keyword", Pattern: `\b(macro|model|import|if|else|for|in|return|and|or|not|true|false|none)\b`},
	{Name: "Ident", Pattern: `[A-Za-z_][A-Za-z0-9_]*`},
	{Name: "Punct", Pattern: `==|!=|<=|>=|\.\.|//|[-+*/%<>=(),\[\]{};.]`},
})

// grammarParser is the grammar as participle reads it: Grammar prints
// it, and the tests check that the parser of parse.go agrees with it.
// Built on first use: loading a model does not need it.
var grammarParser = sync.OnceValue(func() *participle.Parser[File] {
	return participle.MustBuild[File](
		participle.Lexer(rnLexer),
		participle.Elide("Comment", "Whitespace"),
		participle.Map(unquoteToken, "String"),
		participle.UseLookahead(3),
	)
})

// unquoteToken replaces a String token's text with the string it denotes.
// participle.Unquote does the same but builds its result by repeated
// string concatenation, quadratic in the literal's length (a 1 MB literal
// took minutes); this is linear.
func unquoteToken(t lexer.Token) (lexer.Token, error) {
	s, err := unquote(t.Value)
	if err != nil {
		return t, participle.Errorf(t.Pos, "invalid quoted string %s: %v", clip(t.Value, 40), err)
	}
	t.Value = s
	return t, nil
}

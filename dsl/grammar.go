package dsl

import (
	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// The AST. Every node records its position for messages.

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

// NotExpr is an optional `not` before a comparison.
type NotExpr struct {
	Pos lexer.Position
	Not *NotExpr `parser:"\"not\" @@"`
	Cmp *CmpExpr `parser:"| @@"`
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

// Unary is an optional minus before a postfix expression.
type Unary struct {
	Pos     lexer.Position
	Neg     *Unary   `parser:"\"-\" @@"`
	Postfix *Postfix `parser:"| @@"`
}

// Postfix is a primary followed by indexing.
type Postfix struct {
	Pos     lexer.Position
	Primary *Primary `parser:"@@"`
	Index   []*Expr  `parser:"( \"[\" @@ \"]\" )*"`
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
	{Name: "Punct", Pattern: `==|!=|<=|>=|\.\.|//|[-+*/%<>=(),\[\]{};]`},
})

var parser = participle.MustBuild[File](
	participle.Lexer(rnLexer),
	participle.Elide("Comment", "Whitespace"),
	participle.Unquote("String"),
	participle.UseLookahead(3),
)

var exprParser = participle.MustBuild[Expr](
	participle.Lexer(rnLexer),
	participle.Elide("Comment", "Whitespace"),
	participle.Unquote("String"),
	participle.UseLookahead(3),
)

// Grammar returns the language's EBNF.
func Grammar() string { return parser.String() }

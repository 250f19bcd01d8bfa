package dsl

import (
	"fmt"
	"strings"
)

// maxNesting bounds how deeply brackets, blocks and else-if chains nest.
// participle parses by recursive descent, so a source nested a hundred
// thousand levels deep would exhaust the goroutine stack (a fatal error,
// not a recoverable panic); checkNesting rejects it first.
const maxNesting = 1000

// checkNesting scans src's tokens and reports, at the offending token, a
// nesting deeper than maxNesting: open ( [ { count one level each, and so
// does every `else if` of a chain still open (the grammar nests each one
// in the previous). A source the lexer rejects passes; the parser reports
// it.
func checkNesting(filename, src string) error {
	lx, err := rnLexer.Lex(filename, strings.NewReader(src))
	if err != nil {
		return nil
	}
	syms := rnLexer.Symbols()
	punct, keyword := syms["Punct"], syms["Keyword"]
	space, comment := syms["Whitespace"], syms["Comment"]
	depth, chained := 0, 0
	chains := []int{0} // open else-if links per bracket level
	afterBlock, afterElse := false, false
	for {
		tok, err := lx.Next()
		if err != nil || tok.EOF() {
			return nil
		}
		if tok.Type == space || tok.Type == comment {
			continue
		}
		if tok.Type != punct && tok.Type != keyword {
			if afterBlock {
				chained -= chains[depth]
				chains[depth] = 0
			}
			afterBlock, afterElse = false, false
			continue
		}
		isElse := tok.Type == keyword && tok.Value == "else"
		if afterBlock && !isElse {
			// a chain ends with the first token after its block that is
			// not `else`
			chained -= chains[depth]
			chains[depth] = 0
		}
		afterBlock = false
		switch {
		case tok.Type == keyword && tok.Value == "if" && afterElse:
			chains[depth]++
			chained++
		case tok.Type == punct && (tok.Value == "(" || tok.Value == "[" || tok.Value == "{"):
			depth++
			chains = append(chains, 0)
		case tok.Type == punct && (tok.Value == ")" || tok.Value == "]" || tok.Value == "}"):
			if depth > 0 {
				chained -= chains[depth]
				chains = chains[:depth]
				depth--
			}
			afterBlock = tok.Value == "}"
		}
		afterElse = isElse
		if depth+chained > maxNesting {
			return &Error{Pos: tok.Pos, Msg: fmt.Sprintf("syntax error: nesting deeper than %d levels of brackets, blocks and else-if chains", maxNesting)}
		}
	}
}

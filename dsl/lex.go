package dsl

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The lexer. It reads the tokens rnLexer's rules (grammar.go) define —
// TestParserMatchesGrammar and FuzzGrammar check that it splits every input
// the same way — in one pass, without regular expressions, one token at a
// time: participle's regexp lexer and parser took tens of microseconds and
// kilobytes of garbage per token.

type tokKind uint8

const (
	tEOF tokKind = iota
	tFloat
	tInt
	tString
	tKeyword
	tIdent
	tPunct
)

type token struct {
	kind tokKind
	text string // the source text; for a String, its value
	raw  string // the source text of a String, quotes included
	pos  srcPos
}

// describe names a token for a message.
func (t token) describe() string {
	if t.kind == tEOF {
		return "end of file"
	}
	s := t.text
	if t.kind == tString {
		s = t.raw
	}
	return fmt.Sprintf("token %q", clip(s, 40))
}

var keywords = map[string]bool{
	"macro": true, "model": true, "import": true, "if": true, "else": true, "for": true, "in": true,
	"return": true, "and": true, "or": true, "not": true, "true": true, "false": true, "none": true,
}

type scanner struct {
	src       string
	off       int
	file      *string
	line, col int32
}

func newScanner(filename, src string) *scanner {
	return &scanner{src: src, file: &filename, line: 1, col: 1}
}

// advance moves past n bytes, updating the line and column as
// participle's lexer.Position.Advance does.
func (s *scanner) advance(n int) {
	span := s.src[s.off : s.off+n]
	s.off += n
	if i := strings.LastIndexByte(span, '\n'); i >= 0 {
		s.line += int32(strings.Count(span, "\n"))
		s.col = int32(utf8.RuneCountInString(span[i:]))
	} else {
		s.col += int32(utf8.RuneCountInString(span))
	}
}

func (s *scanner) pos() srcPos { return srcPos{file: s.file, line: s.line, col: s.col} }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isWord(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c)
}

// next returns the next token, skipping whitespace and comments.
func (s *scanner) next() (token, error) {
	for s.off < len(s.src) {
		switch c := s.src[s.off]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			n := s.off
			for n < len(s.src) && (s.src[n] == ' ' || s.src[n] == '\t' || s.src[n] == '\r' || s.src[n] == '\n') {
				n++
			}
			s.advance(n - s.off)
		case c == '#':
			n := strings.IndexByte(s.src[s.off:], '\n')
			if n < 0 {
				n = len(s.src) - s.off
			}
			s.advance(n)
		default:
			return s.token()
		}
	}
	return token{kind: tEOF, pos: s.pos()}, nil
}

func (s *scanner) token() (token, error) {
	rest := s.src[s.off:]
	pos := s.pos()
	digits := func(i int) int {
		for i < len(rest) && isDigit(rest[i]) {
			i++
		}
		return i
	}
	// exponent returns the end of [eE][-+]?\d+ at i, or i.
	exponent := func(i int) int {
		if i < len(rest) && (rest[i] == 'e' || rest[i] == 'E') {
			j := i + 1
			if j < len(rest) && (rest[j] == '-' || rest[j] == '+') {
				j++
			}
			if j < len(rest) && isDigit(rest[j]) {
				return digits(j)
			}
		}
		return i
	}
	var kind tokKind
	var n int
	switch c := rest[0]; {
	case isDigit(c):
		kind, n = tInt, digits(0)
		if n+1 < len(rest) && rest[n] == '.' && isDigit(rest[n+1]) {
			kind, n = tFloat, exponent(digits(n+1))
		} else if e := exponent(n); e > n {
			kind, n = tFloat, e
		}
	case c == '"' || c == '\'':
		n = 1
		for n < len(rest) && rest[n] != c && rest[n] != '\n' {
			if rest[n] == '\\' {
				if n+1 >= len(rest) || rest[n+1] == '\n' {
					break
				}
				n++
			}
			n++
		}
		if n >= len(rest) || rest[n] != c {
			return token{}, s.invalid()
		}
		n++
		raw := rest[:n]
		v, err := unquote(raw)
		if err != nil {
			return token{}, &Error{Pos: pos.position(), Msg: fmt.Sprintf("syntax error: invalid quoted string %s: %v", clip(raw, 40), err)}
		}
		s.advance(n)
		return token{kind: tString, text: v, raw: raw, pos: pos}, nil
	case isWord(c):
		n = 1
		for n < len(rest) && isWord(rest[n]) {
			n++
		}
		kind = tIdent
		if keywords[rest[:n]] {
			kind = tKeyword
		}
	default:
		kind = tPunct
		if len(rest) >= 2 {
			switch rest[:2] {
			case "==", "!=", "<=", ">=", "..", "//":
				n = 2
			}
		}
		if n == 0 && strings.IndexByte("-+*/%<>=(),[]{};.", c) >= 0 {
			n = 1
		}
		if n == 0 {
			return token{}, s.invalid()
		}
	}
	s.advance(n)
	return token{kind: kind, text: rest[:n], pos: pos}, nil
}

// invalid is participle's lexer error: the next 16 characters.
func (s *scanner) invalid() error {
	var sample []rune
	for _, r := range s.src[s.off:] {
		if len(sample) > 16 {
			break
		}
		sample = append(sample, r)
	}
	if len(sample) > 16 {
		sample = append(sample[:16], []rune("...")...)
	}
	return &Error{Pos: s.pos().position(), Msg: fmt.Sprintf("syntax error: lexer: invalid input text %q", string(sample))}
}

// unquote decodes a literal the String rule matched: "..." or '...' with
// Go's escapes, the other quote allowed unescaped.
func unquote(lit string) (string, error) {
	if len(lit) < 2 || lit[0] != lit[len(lit)-1] || (lit[0] != '"' && lit[0] != '\'') {
		return "", strconv.ErrSyntax
	}
	quote, s := lit[0], lit[1:len(lit)-1]
	if !strings.ContainsRune(s, '\\') && utf8.ValidString(s) {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for s != "" {
		r, multibyte, tail, err := strconv.UnquoteChar(s, quote)
		if err != nil {
			return "", err
		}
		if r < utf8.RuneSelf || multibyte {
			b.WriteRune(r)
		} else {
			b.WriteByte(byte(r)) // \xNN and octal escapes are bytes
		}
		s = tail
	}
	return b.String(), nil
}

// clip shortens s for a message, to at most n bytes and an ellipsis.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// Grammar returns the language's EBNF.
func Grammar() string { return grammarParser().String() }

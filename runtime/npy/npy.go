// Package npy reads and writes float32 tensors as NumPy .npy and raw little-endian .f32 files.
package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rnc-dev/rnc/internal/fileio"
)

// magic starts every .npy file.
const magic = "\x93NUMPY"

// maxHeader bounds the .npy header length. NumPy itself refuses headers over
// 10000 bytes by default; this limit only guards against hostile input.
const maxHeader = 1 << 20

// maxDepth bounds the nesting of the header's Python literal.
const maxDepth = 16

// Read reads a tensor file, choosing the format by content: a file starting
// with "\x93NUMPY" is parsed as .npy (see Parse); anything else is raw
// little-endian float32 values, whose length must be a multiple of 4, with
// shape [len] — unless its name ends in .npy, which must be a .npy file.
//
// The file must be a regular file: devices (/dev/zero), named pipes and
// directories are refused before they are read. The file is streamed, not
// read whole, and nothing is allocated that its size cannot back: a .npy
// header's shape is checked against the bytes that follow it before the
// values are allocated, so the values of a file of S bytes take at most S
// bytes of memory.
func Read(path string) (data []float32, shape []int, err error) {
	f, st, err := fileio.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %w", err)
	}
	defer f.Close()
	// A file named .npy must be one: raw float32 is only for other names
	// (.f32), so a broken or mislabeled .npy is not read as raw values.
	raw := !strings.EqualFold(filepath.Ext(path), ".npy")
	data, shape, err = decode(f, st.Size(), raw)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %s: %w", path, err)
	}
	return data, shape, nil
}

// Parse decodes the bytes of a .npy file (format version 1.0, 2.0 or 3.0)
// holding a C-order array of dtype '<f4', or '<f8' (converted to float32).
// The data must fill the rest of the file exactly.
func Parse(b []byte) ([]float32, []int, error) {
	data, shape, err := decode(bytes.NewReader(b), int64(len(b)), false)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %w", err)
	}
	return data, shape, nil
}

// Write writes data with the given shape to path. A ".npy" extension (any
// case) selects a version 1.0 .npy file with dtype '<f4', laid out as NumPy
// writes it; any other extension selects raw little-endian float32, which
// records no shape. The shape must match len(data); a nil shape means
// [len(data)] (a non-nil empty shape is a scalar).
func Write(path string, data []float32, shape []int) error {
	if shape == nil {
		shape = []int{len(data)}
	}
	var b []byte
	var err error
	if strings.EqualFold(filepath.Ext(path), ".npy") {
		b, err = encode(data, shape)
	} else if err = checkShape(shape, len(data)); err == nil {
		b = appendF32(make([]byte, 0, 4*len(data)), data)
	}
	if err != nil {
		return fmt.Errorf("npy: writing %s: %w", path, err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	return nil
}

// chunk is how many bytes decode converts at a time.
const chunk = 64 << 10

// decode reads a .npy file (or, when raw is set, a raw float32 file if the
// magic is absent) of size bytes from r. Every length is checked against
// size before anything is allocated; r holding fewer or more bytes than size
// (a file changing while it is read) is an error.
func decode(r io.Reader, size int64, raw bool) ([]float32, []int, error) {
	br := bufio.NewReaderSize(r, chunk)
	head, _ := br.Peek(len(magic))
	if string(head) != magic {
		if !raw {
			return nil, nil, errors.New(`not a .npy file: missing the "\x93NUMPY" magic`)
		}
		if size%4 != 0 {
			return nil, nil, fmt.Errorf("raw float32 file is %d bytes, not a multiple of 4 (and not a .npy file)", size)
		}
		if size/4 > math.MaxInt {
			return nil, nil, fmt.Errorf("raw float32 file is %d bytes, too large", size)
		}
		data, err := readValues(br, int(size/4), 4, size)
		if err != nil {
			return nil, nil, err
		}
		return data, []int{len(data)}, nil
	}
	if size < int64(len(magic))+2 {
		return nil, nil, fmt.Errorf("truncated header: file is %d bytes", size)
	}
	var pre [12]byte
	if err := readFull(br, pre[:len(magic)+2], size); err != nil {
		return nil, nil, err
	}
	major, minor := pre[6], pre[7]
	var hlen, start int64
	switch {
	case major == 1 && minor == 0:
		start = 10
		if size < start {
			return nil, nil, fmt.Errorf("truncated header: file is %d bytes", size)
		}
		if err := readFull(br, pre[8:start], size); err != nil {
			return nil, nil, err
		}
		hlen = int64(binary.LittleEndian.Uint16(pre[8:]))
	case (major == 2 || major == 3) && minor == 0:
		start = 12
		if size < start {
			return nil, nil, fmt.Errorf("truncated header: file is %d bytes", size)
		}
		if err := readFull(br, pre[8:start], size); err != nil {
			return nil, nil, err
		}
		n := binary.LittleEndian.Uint32(pre[8:])
		if n > maxHeader {
			return nil, nil, fmt.Errorf("header length %d exceeds the %d-byte limit", n, maxHeader)
		}
		hlen = int64(n)
	default:
		return nil, nil, fmt.Errorf("format version %d.%d is not supported, want 1.0, 2.0 or 3.0", major, minor)
	}
	if hlen > size-start {
		return nil, nil, fmt.Errorf("truncated header: header length %d, but only %d bytes follow", hlen, size-start)
	}
	h := make([]byte, hlen) // at most maxHeader bytes, and within the file
	if err := readFull(br, h, size); err != nil {
		return nil, nil, err
	}
	descr, fortran, shape, err := parseHeader(string(h))
	if err != nil {
		return nil, nil, err
	}
	var esize int // bytes per element
	switch descr {
	case "<f4":
		esize = 4
	case "<f8":
		esize = 8
	default:
		return nil, nil, fmt.Errorf("dtype %s is not supported, want '<f4' or '<f8'", pyRepr(descr))
	}
	if fortran {
		return nil, nil, errors.New("fortran_order True is not supported, want False (C order)")
	}
	n, err := numElements(shape)
	if err != nil {
		return nil, nil, err
	}
	if n > math.MaxInt/esize {
		return nil, nil, fmt.Errorf("shape %v: byte size overflows", shape)
	}
	have := size - start - hlen
	if want := int64(n * esize); have != want {
		if have < want {
			return nil, nil, fmt.Errorf("truncated data: shape %v of %s needs %d bytes, the file has %d", shape, pyRepr(descr), want, have)
		}
		return nil, nil, fmt.Errorf("%d unexpected bytes after the %d data bytes of shape %v", have-want, want, shape)
	}
	data, err := readValues(br, n, esize, size)
	if err != nil {
		return nil, nil, err
	}
	return data, shape, nil
}

// readValues reads n little-endian values of esize bytes (4: float32, 8:
// float64) from the rest of r, which must end right after them.
func readValues(r *bufio.Reader, n, esize int, size int64) ([]float32, error) {
	data := make([]float32, n)
	buf := make([]byte, min(n*esize, chunk))
	for i := 0; i < n; {
		m := min(n-i, len(buf)/esize)
		b := buf[:m*esize]
		if err := readFull(r, b, size); err != nil {
			return nil, err
		}
		if esize == 4 {
			for j := range m {
				data[i+j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
			}
		} else {
			for j := range m {
				data[i+j] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*j:])))
			}
		}
		i += m
	}
	if _, err := r.ReadByte(); err != io.EOF {
		if err != nil {
			return nil, fmt.Errorf("reading: %w", err)
		}
		return nil, fmt.Errorf("the file grew past its size of %d bytes while it was read", size)
	}
	return data, nil
}

// readFull fills b from r; running out of bytes means the file shrank
// below its size while it was read.
func readFull(r io.Reader, b []byte, size int64) error {
	if _, err := io.ReadFull(r, b); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("the file shrank below its size of %d bytes while it was read", size)
		}
		return fmt.Errorf("reading: %w", err)
	}
	return nil
}

// parseHeader parses the header's Python dict literal, which must hold
// exactly the keys 'descr' (a string), 'fortran_order' (a bool) and 'shape'
// (a tuple of non-negative ints).
func parseHeader(h string) (descr string, fortran bool, shape []int, err error) {
	p := &pyParser{s: h}
	p.skipSpace()
	v, err := p.value(0)
	if err == nil {
		p.skipSpace()
		if p.i < len(p.s) {
			err = p.errorf("unexpected %q after the dictionary", p.s[p.i])
		}
	}
	if err != nil {
		return "", false, nil, fmt.Errorf("cannot parse header %q: %w", trunc(h), err)
	}
	d, ok := v.(pyDict)
	if !ok {
		return "", false, nil, fmt.Errorf("header is %s, want a dictionary", pyKind(v))
	}
	_, hasDescr := d.vals["descr"]
	_, hasFortran := d.vals["fortran_order"]
	_, hasShape := d.vals["shape"]
	if len(d.keys) != 3 || !hasDescr || !hasFortran || !hasShape {
		return "", false, nil, fmt.Errorf("header has keys %s, want exactly 'descr', 'fortran_order', 'shape'", pyKeys(d.keys))
	}
	descr, ok = d.vals["descr"].(string)
	if !ok {
		return "", false, nil, fmt.Errorf("descr is %s (a structured dtype?), want a dtype string such as '<f4'", pyKind(d.vals["descr"]))
	}
	fortran, ok = d.vals["fortran_order"].(bool)
	if !ok {
		return "", false, nil, fmt.Errorf("fortran_order is %s, want True or False", pyKind(d.vals["fortran_order"]))
	}
	t, ok := d.vals["shape"].(pyTuple)
	if !ok {
		return "", false, nil, fmt.Errorf("shape is %s, want a tuple of ints", pyKind(d.vals["shape"]))
	}
	shape = make([]int, len(t))
	for i, e := range t {
		dim, ok := e.(int)
		if !ok || dim < 0 {
			return "", false, nil, fmt.Errorf("shape[%d] is %s, want a non-negative int", i, pyDesc(e))
		}
		shape[i] = dim
	}
	return descr, fortran, shape, nil
}

func trunc(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// Python literal values: string, int, bool, nil (None), pyTuple, pyList,
// pyDict.
type (
	pyTuple []any
	pyList  []any
	pyDict  struct {
		keys []string
		vals map[string]any
	}
)

func pyKind(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case string:
		return "a string"
	case int:
		return "an int"
	case bool:
		return "a bool"
	case pyTuple:
		return "a tuple"
	case pyList:
		return "a list"
	case pyDict:
		return "a dictionary"
	}
	return fmt.Sprintf("%T", v)
}

// pyDesc is pyKind with the value of ints.
func pyDesc(v any) string {
	if i, ok := v.(int); ok {
		return strconv.Itoa(i)
	}
	return pyKind(v)
}

func pyRepr(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

func pyKeys(keys []string) string {
	if len(keys) == 0 {
		return "{}"
	}
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = pyRepr(k)
	}
	return strings.Join(q, ", ")
}

// pyParser parses the subset of Python literal syntax NumPy writes in .npy
// headers: dicts with string keys, tuples, lists, strings, ints (with an
// optional Python 2 'L' suffix), True, False and None.
type pyParser struct {
	s string
	i int
}

func (p *pyParser) errorf(format string, args ...any) error {
	return fmt.Errorf("at offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *pyParser) skipSpace() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n\f\v", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested more than %d levels deep", maxDepth)
	}
	if p.i >= len(p.s) {
		return nil, p.errorf("unexpected end of header")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.dict(depth)
	case c == '(':
		items, trailing, err := p.seq(depth, ')')
		if err != nil {
			return nil, err
		}
		if len(items) == 1 && !trailing {
			return items[0], nil // (x) is x, not a tuple
		}
		return pyTuple(items), nil
	case c == '[':
		items, _, err := p.seq(depth, ']')
		return pyList(items), err
	case c == '\'' || c == '"':
		return p.str()
	case c == '-' || c == '+' || (c >= '0' && c <= '9'):
		return p.integer()
	}
	for _, w := range []struct {
		word string
		val  any
	}{{"True", true}, {"False", false}, {"None", nil}} {
		if strings.HasPrefix(p.s[p.i:], w.word) {
			p.i += len(w.word)
			return w.val, nil
		}
	}
	return nil, p.errorf("unexpected %q", p.s[p.i])
}

func (p *pyParser) dict(depth int) (any, error) {
	p.i++ // '{'
	d := pyDict{vals: map[string]any{}}
	for {
		p.skipSpace()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return d, nil
		}
		if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
			return nil, p.errorf("want a string key or '}'")
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if _, dup := d.vals[key]; dup {
			return nil, p.errorf("duplicate key %s", pyRepr(key))
		}
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, p.errorf("want ':' after key %s", pyRepr(key))
		}
		p.i++
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		d.keys = append(d.keys, key)
		d.vals[key] = v
		p.skipSpace()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return d, nil
		}
		return nil, p.errorf("want ',' or '}' in dictionary")
	}
}

// seq parses a comma-separated sequence up to close, reporting whether it
// ended with a trailing comma.
func (p *pyParser) seq(depth int, close byte) (items []any, trailing bool, err error) {
	p.i++ // opening bracket
	items = []any{}
	for {
		p.skipSpace()
		if p.i < len(p.s) && p.s[p.i] == close {
			p.i++
			return items, len(items) > 0, nil
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, false, err
		}
		items = append(items, v)
		p.skipSpace()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.s) && p.s[p.i] == close {
			p.i++
			return items, false, nil
		}
		return nil, false, p.errorf("want ',' or %q", close)
	}
}

func (p *pyParser) str() (string, error) {
	q := p.s[p.i]
	start := p.i
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), nil
		case c == '\n':
			return "", p.errorf("newline in string")
		case c == '\\' && p.i+1 < len(p.s):
			switch e := p.s[p.i+1]; e {
			case '\\', '\'', '"':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default: // Python keeps unknown escapes verbatim
				b.WriteByte('\\')
				b.WriteByte(e)
			}
			p.i += 2
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	p.i = start
	return "", p.errorf("unterminated string")
}

func (p *pyParser) integer() (int, error) {
	start := p.i
	if p.s[p.i] == '-' || p.s[p.i] == '+' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if p.i == digits {
		return 0, p.errorf("want digits after the sign")
	}
	lit := p.s[start:p.i]
	if p.i < len(p.s) && (p.s[p.i] == 'L' || p.s[p.i] == 'l') { // Python 2 long
		p.i++
	}
	if p.i < len(p.s) && (p.s[p.i] == '.' || p.s[p.i] == 'e' || p.s[p.i] == 'E' || p.s[p.i] == 'x' || p.s[p.i] == '_') {
		return 0, p.errorf("only decimal integers are supported")
	}
	v, err := strconv.ParseInt(lit, 10, 0)
	if err != nil {
		p.i = start
		return 0, p.errorf("integer %s out of range", lit)
	}
	return int(v), nil
}

// numElements multiplies out shape, failing on overflow.
func numElements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("shape %v: element count overflows", shape)
		}
		n *= d
	}
	return n, nil
}

func checkShape(shape []int, n int) error {
	want, err := numElements(shape)
	if err != nil {
		return err
	}
	if want != n {
		return fmt.Errorf("shape %v holds %d values, got %d", shape, want, n)
	}
	return nil
}

// growthDigits is NumPy's GROWTH_AXIS_MAX_DIGITS: spare header room so the
// first dimension can grow in place.
const growthDigits = 21

// encode returns data as a version 1.0 .npy file with dtype '<f4', byte for
// byte as numpy.save writes it.
func encode(data []float32, shape []int) ([]byte, error) {
	if err := checkShape(shape, len(data)); err != nil {
		return nil, err
	}
	var h strings.Builder
	h.WriteString("{'descr': '<f4', 'fortran_order': False, 'shape': (")
	for i, d := range shape {
		if i > 0 {
			h.WriteString(", ")
		}
		h.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		h.WriteByte(',')
	}
	h.WriteString("), }")
	if len(shape) > 0 {
		h.WriteString(strings.Repeat(" ", max(0, growthDigits-len(strconv.Itoa(shape[0])))))
	}
	const align = 64
	hlen := h.Len() + 1 // with the final newline
	pad := align - (len(magic)+2+2+hlen)%align
	if hlen+pad > math.MaxUint16 {
		return nil, fmt.Errorf("shape %v needs a %d-byte header, over the version 1.0 limit", shape, hlen+pad)
	}
	b := make([]byte, 0, len(magic)+4+hlen+pad+4*len(data))
	b = append(b, magic...)
	b = append(b, 1, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(hlen+pad))
	b = append(b, h.String()...)
	b = append(b, strings.Repeat(" ", pad)...)
	b = append(b, '\n')
	return appendF32(b, data), nil
}

func appendF32(b []byte, data []float32) []byte {
	for _, v := range data {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

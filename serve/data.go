package serve

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// parseData reads a tensor's JSON data, a flat array of len(dst) numbers
// or arrays nested as shape, into dst (len(dst) is shape's product). raw is
// valid JSON (the request decoded); it is read in place, without
// allocating per element beyond the number's text.
func parseData(raw []byte, shape []int64, dst []float32) error {
	p := dataParser{b: raw, dst: dst}
	p.skip()
	if p.i >= len(p.b) || p.b[p.i] != '[' {
		return errors.New("not a JSON array")
	}
	dims := []int64{int64(len(dst))}
	j := p.i + 1
	for j < len(p.b) && isSpace(p.b[j]) {
		j++
	}
	if j < len(p.b) && p.b[j] == '[' {
		dims = shape
	}
	if err := p.array(dims, 0); err != nil {
		return err
	}
	p.skip()
	if p.i != len(p.b) {
		return fmt.Errorf("unexpected %q after the array", p.b[p.i])
	}
	return nil
}

type dataParser struct {
	b   []byte
	i   int
	dst []float32
	k   int     // the next element of dst
	pos []int64 // the index path of the current array, for messages
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *dataParser) skip() {
	for p.i < len(p.b) && isSpace(p.b[p.i]) {
		p.i++
	}
}

// where names the array at the current path.
func (p *dataParser) where() string {
	if len(p.pos) == 0 {
		return "the data array"
	}
	s := "data"
	for _, i := range p.pos {
		s += "[" + strconv.FormatInt(i, 10) + "]"
	}
	return s
}

func (p *dataParser) shapeErr(dims []int64, d int, got string) error {
	if len(dims) == 1 && len(p.pos) == 0 {
		return fmt.Errorf("flat data has %s numbers: the shape needs %d", got, dims[0])
	}
	return fmt.Errorf("%s has %s entries: dimension %d of the shape %v is %d", p.where(), got, d, dims, dims[d])
}

// array reads the array at p.i, of dims[d] entries, each an array of
// dims[d+1:] or, at the last dimension, a number. Recursion depth is
// len(dims) (the shape's 4 dimensions at most).
func (p *dataParser) array(dims []int64, d int) error {
	p.i++ // '['
	var count int64
	for {
		p.skip()
		if p.i >= len(p.b) {
			return errors.New("unterminated array")
		}
		if p.b[p.i] == ']' && count == 0 {
			p.i++
			break
		}
		if count == dims[d] {
			return p.shapeErr(dims, d, "more than "+strconv.FormatInt(dims[d], 10))
		}
		if d+1 < len(dims) {
			if p.b[p.i] != '[' {
				return fmt.Errorf("%s[%d] is not an array: the data is nested as the shape %v, with numbers only in the innermost arrays", p.where(), count, dims)
			}
			p.pos = append(p.pos, count)
			if err := p.array(dims, d+1); err != nil {
				return err
			}
			p.pos = p.pos[:len(p.pos)-1]
		} else if err := p.number(); err != nil {
			return err
		}
		count++
		p.skip()
		if p.i >= len(p.b) {
			return errors.New("unterminated array")
		}
		if p.b[p.i] == ',' {
			p.i++
			continue
		}
		if p.b[p.i] != ']' {
			return fmt.Errorf("unexpected %q in %s", p.b[p.i], p.where())
		}
		p.i++
		break
	}
	if count != dims[d] {
		return p.shapeErr(dims, d, strconv.FormatInt(count, 10))
	}
	return nil
}

// number reads one number into dst.
func (p *dataParser) number() error {
	j := p.i
	for j < len(p.b) {
		c := p.b[j]
		if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			j++
			continue
		}
		break
	}
	if j == p.i {
		return fmt.Errorf("element %d (in %s) is not a number", p.k, p.where())
	}
	if p.k >= len(p.dst) { // the shape checks prevent it
		return fmt.Errorf("more than %d numbers", len(p.dst))
	}
	v, err := strconv.ParseFloat(string(p.b[p.i:j]), 32)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("element %d (in %s): %q is not a number", p.k, p.where(), p.b[p.i:j])
	}
	if math.IsInf(v, 0) {
		return fmt.Errorf("element %d (in %s): %s is beyond float32's range (JSON has no infinity or NaN; they are refused)", p.k, p.where(), p.b[p.i:j])
	}
	p.dst[p.k] = float32(v)
	p.k++
	p.i = j
	return nil
}

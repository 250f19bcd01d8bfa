package hdf5

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// Object header message types.
const (
	msgNil          = 0x00
	msgDataspace    = 0x01
	msgLinkInfo     = 0x02
	msgDatatype     = 0x03
	msgFillOld      = 0x04
	msgFill         = 0x05
	msgLink         = 0x06
	msgExternal     = 0x07
	msgLayout       = 0x08
	msgGroupInfo    = 0x0A
	msgFilters      = 0x0B
	msgAttribute    = 0x0C
	msgContinuation = 0x10
	msgSymbolTable  = 0x11
	msgAttrInfo     = 0x15
)

type message struct {
	typ   uint16
	flags uint8
	data  []byte
	off   int64 // file offset of data
}

type objectHeader struct {
	addr    uint64
	off     int64
	version int
	msgs    []message
	kind    Kind
}

// msgCost is what one parsed message costs the budget (its Go size).
const msgCost = 48

// addMsg records a parsed message (nil messages are padding: dropped).
func (f *File) addMsg(h *objectHeader, m message) error {
	if m.typ == msgNil {
		return nil
	}
	if err := f.spend(msgCost, m.off, "object header messages"); err != nil {
		return err
	}
	h.msgs = append(h.msgs, m)
	if len(h.msgs) > maxHeaderMessages {
		return corrupt(h.off, "too many object header messages")
	}
	return nil
}

// setKind decides once whether the object is a group, dataset or datatype.
func (h *objectHeader) setKind() {
	switch {
	case h.find(msgLayout) != nil:
		h.kind = KindDataset
	case h.find(msgSymbolTable) != nil || h.find(msgLinkInfo) != nil || h.find(msgLink) != nil ||
		h.find(msgGroupInfo) != nil || h.find(msgDatatype) == nil:
		h.kind = KindGroup
	default:
		h.kind = KindDatatype
	}
}

func (h *objectHeader) find(typ uint16) *message {
	for i := range h.msgs {
		if h.msgs[i].typ == typ {
			return &h.msgs[i]
		}
	}
	return nil
}

const (
	maxHeaderBlocks   = 1 << 12
	maxHeaderMessages = 1 << 20
)

// header parses (and caches) the object header at addr.
func (f *File) header(addr uint64) (*objectHeader, error) {
	if h, ok := f.headers[addr]; ok {
		if h == nil {
			return nil, corrupt(f.fileOff(addr), "object header refers to itself")
		}
		return h, nil
	}
	f.headers[addr] = nil // in progress
	h, err := f.parseHeader(addr)
	if err != nil {
		delete(f.headers, addr)
		return nil, err
	}
	h.setKind()
	f.headers[addr] = h
	return h, nil
}

func (f *File) parseHeader(addr uint64) (*objectHeader, error) {
	c, err := f.at(addr, -1, "object header")
	if err != nil {
		return nil, err
	}
	h := &objectHeader{addr: addr, off: c.base}
	if len(c.b) >= 4 && string(c.b[:4]) == "OHDR" {
		h.version = 2
		return h, f.parseHeaderV2(h, c)
	}
	ver := c.u8()
	if c.err != nil {
		return nil, c.err
	}
	if ver != 1 {
		return nil, unsupported(c.base, "object header version %d", ver)
	}
	h.version = 1
	c.u8()
	c.u16() // number of messages
	c.u32() // reference count
	size := c.u32()
	c.skip(4) // alignment padding
	if c.err != nil {
		return nil, c.err
	}
	type block struct {
		addr uint64
		n    uint64
	}
	queue := []block{{addr + 16, uint64(size)}}
	seen := map[uint64]bool{}
	for len(queue) > 0 {
		blk := queue[0]
		queue = queue[1:]
		if seen[blk.addr] {
			return nil, corrupt(f.fileOff(blk.addr), "object header continuation cycle")
		}
		seen[blk.addr] = true
		if len(seen) > maxHeaderBlocks {
			return nil, corrupt(h.off, "too many object header continuation blocks")
		}
		if blk.n > uint64(len(f.data)) {
			return nil, corrupt(f.fileOff(blk.addr), "object header block of %d bytes is larger than the file", blk.n)
		}
		bc, err := f.at(blk.addr, int64(blk.n), "object header block")
		if err != nil {
			return nil, err
		}
		if err := f.spend(blk.n+16, bc.base, "object header"); err != nil {
			return nil, err
		}
		for bc.left() >= 8 {
			typ := bc.u16()
			n := bc.u16()
			flags := bc.u8()
			bc.skip(3)
			at := bc.off()
			data := bc.bytes(int(n))
			if bc.err != nil {
				return nil, bc.err
			}
			m := message{typ: typ, flags: flags, data: data, off: at}
			if typ == msgContinuation {
				a, l, err := f.continuation(m)
				if err != nil {
					return nil, err
				}
				queue = append(queue, block{a, l})
				continue
			}
			if err := f.addMsg(h, m); err != nil {
				return nil, err
			}
		}
	}
	return h, nil
}

func (f *File) continuation(m message) (uint64, uint64, error) {
	mc := &cursor{f: f, b: m.data, base: m.off}
	a := mc.addr()
	l := mc.length()
	if mc.err != nil {
		return 0, 0, mc.err
	}
	return a, l, nil
}

func (f *File) parseHeaderV2(h *objectHeader, c *cursor) error {
	c.sig("OHDR")
	ver := c.u8()
	if c.err == nil && ver != 2 {
		return unsupported(c.base, "object header version %d", ver)
	}
	flags := c.u8()
	if flags&0x20 != 0 {
		c.skip(16) // times
	}
	if flags&0x10 != 0 {
		c.skip(4) // attribute phase change values
	}
	size := c.uvar(1 << (flags & 3))
	if c.err != nil {
		return c.err
	}
	if size > uint64(c.left()) || uint64(c.left())-size < 4 {
		return corrupt(c.off(), "object header chunk of %d bytes (and its checksum) runs past the end of the file", size)
	}
	if err := f.spend(size+16, c.base, "object header"); err != nil {
		return err
	}
	start := c.p
	chunk := &cursor{f: f, b: c.b[:start+int(size)+4], base: c.base, p: start}
	chunk.p = start + int(size)
	chunk.checksum("object header")
	if chunk.err != nil {
		return chunk.err
	}
	chunk = &cursor{f: f, b: c.b[start : start+int(size)], base: c.base + int64(start)}
	withOrder := flags&0x04 != 0
	seen := map[uint64]bool{}
	for {
		conts, err := f.v2Messages(h, chunk, withOrder)
		if err != nil {
			return err
		}
		if len(conts) == 0 {
			return nil
		}
		// Continuation blocks are processed depth-first; each is OCHK.
		next := conts
		for len(next) > 0 {
			a, l := next[0][0], next[0][1]
			next = next[1:]
			if seen[a] {
				return corrupt(f.fileOff(a), "object header continuation cycle")
			}
			seen[a] = true
			if len(seen) > maxHeaderBlocks {
				return corrupt(h.off, "too many object header continuation blocks")
			}
			if l < 8 || l > uint64(len(f.data)) {
				return corrupt(f.fileOff(a), "object header continuation block of %d bytes", l)
			}
			bc, err := f.at(a, int64(l), "object header continuation block")
			if err != nil {
				return err
			}
			if err := f.spend(l, bc.base, "object header continuation block"); err != nil {
				return err
			}
			bc.sig("OCHK")
			bc.p = int(l) - 4
			bc.checksum("object header continuation")
			if bc.err != nil {
				return bc.err
			}
			inner := &cursor{f: f, b: bc.b[4 : l-4], base: bc.base + 4}
			more, err := f.v2Messages(h, inner, withOrder)
			if err != nil {
				return err
			}
			next = append(next, more...)
		}
		return nil
	}
}

func (f *File) v2Messages(h *objectHeader, c *cursor, withOrder bool) ([][2]uint64, error) {
	hdr := 4
	if withOrder {
		hdr = 6
	}
	var conts [][2]uint64
	for c.left() >= hdr {
		typ := c.u8()
		n := c.u16()
		flags := c.u8()
		if withOrder {
			c.u16()
		}
		at := c.off()
		data := c.bytes(int(n))
		if c.err != nil {
			return nil, c.err
		}
		m := message{typ: uint16(typ), flags: flags, data: data, off: at}
		if m.typ == msgContinuation {
			a, l, err := f.continuation(m)
			if err != nil {
				return nil, err
			}
			conts = append(conts, [2]uint64{a, l})
			continue
		}
		if err := f.addMsg(h, m); err != nil {
			return nil, err
		}
	}
	return conts, nil
}

// checkShared rejects shared messages (stored elsewhere, e.g. SOHM).
func checkShared(m *message, what string) error {
	if m.flags&0x02 != 0 {
		return unsupported(m.off, "shared %s message", what)
	}
	return nil
}

// ---------------------------------------------------------------------------
// datatypes

const (
	classFixed  = 0
	classFloat  = 1
	classString = 3
	classVlen   = 9
)

type dtype struct {
	class     int
	size      int
	bigEndian bool
	signed    bool
	strPad    int // 0 null-terminated, 1 null-padded, 2 space-padded
	vlenStr   bool
	base      *dtype
	off       int64
}

func (d *dtype) String() string {
	switch d.class {
	case classFloat:
		return fmt.Sprintf("float%d", d.size*8)
	case classFixed:
		if d.signed {
			return fmt.Sprintf("int%d", d.size*8)
		}
		return fmt.Sprintf("uint%d", d.size*8)
	case classString:
		return fmt.Sprintf("string%d", d.size)
	case classVlen:
		if d.vlenStr {
			return "vlen string"
		}
		return "vlen sequence"
	}
	return fmt.Sprintf("class %d", d.class)
}

func parseDatatype(c *cursor, depth int) (*dtype, error) {
	if depth > 8 {
		return nil, corrupt(c.off(), "datatype nested too deeply")
	}
	at := c.off()
	cv := c.u8()
	bits := c.uvar(3)
	size := c.u32()
	if c.err != nil {
		return nil, c.err
	}
	d := &dtype{class: int(cv & 0x0F), size: int(size), off: at}
	ver := cv >> 4
	if ver < 1 || ver > 4 {
		return nil, unsupported(at, "datatype message version %d", ver)
	}
	if size == 0 || size > 1<<16 {
		return nil, corrupt(at, "datatype size %d", size)
	}
	switch d.class {
	case classFixed:
		d.bigEndian = bits&1 != 0
		d.signed = bits&8 != 0
		boff := c.u16()
		prec := c.u16()
		if c.err != nil {
			return nil, c.err
		}
		if boff != 0 || int(prec) != 8*d.size || (d.size != 1 && d.size != 2 && d.size != 4 && d.size != 8) {
			return nil, unsupported(at, "integer type of %d bytes with bit offset %d precision %d", d.size, boff, prec)
		}
	case classFloat:
		d.bigEndian = bits&1 != 0
		if bits&0x40 != 0 {
			return nil, unsupported(at, "VAX-order float")
		}
		boff := c.u16()
		prec := c.u16()
		eloc := c.u8()
		esize := c.u8()
		mloc := c.u8()
		msize := c.u8()
		bias := c.u32()
		if c.err != nil {
			return nil, c.err
		}
		ok := false
		switch d.size {
		case 2:
			ok = prec == 16 && eloc == 10 && esize == 5 && mloc == 0 && msize == 10 && bias == 15
		case 4:
			ok = prec == 32 && eloc == 23 && esize == 8 && mloc == 0 && msize == 23 && bias == 127
		case 8:
			ok = prec == 64 && eloc == 52 && esize == 11 && mloc == 0 && msize == 52 && bias == 1023
		}
		if !ok || boff != 0 {
			return nil, unsupported(at, "floating-point type of %d bytes (precision %d, exponent %d@%d, mantissa %d@%d, bias %d)",
				d.size, prec, esize, eloc, msize, mloc, bias)
		}
	case classString:
		d.strPad = int(bits & 0x0F)
	case classVlen:
		d.vlenStr = bits&0x0F == 1
		d.strPad = int(bits>>4) & 0x0F
		base, err := parseDatatype(c, depth+1)
		if err != nil {
			return nil, err
		}
		d.base = base
		if !d.vlenStr {
			return nil, unsupported(at, "variable-length sequence datatype")
		}
	default:
		names := map[int]string{2: "time", 4: "bitfield", 5: "opaque", 6: "compound", 7: "reference", 8: "enum", 10: "array", 11: "complex"}
		n := names[d.class]
		if n == "" {
			n = fmt.Sprintf("class %d", d.class)
		}
		return nil, unsupported(at, "%s datatype", n)
	}
	return d, nil
}

// ---------------------------------------------------------------------------
// dataspaces

type dataspace struct {
	dims    []uint64
	maxDims []uint64 // nil when absent; undefAddr entries mean unlimited
	null    bool
}

func (s *dataspace) count() (uint64, bool) {
	if s.null {
		return 0, true
	}
	n := uint64(1)
	for _, d := range s.dims {
		if d != 0 && n > math.MaxUint64/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// intDims reports whether the product of the non-zero dimensions fits an
// int, so that a shape as []int is exact even for an empty dataset.
func (s *dataspace) intDims() bool {
	p := uint64(1)
	for _, v := range s.dims {
		if v == 0 {
			continue
		}
		if p > math.MaxInt64/v {
			return false
		}
		p *= v
	}
	return true
}

func parseDataspace(c *cursor) (*dataspace, error) {
	at := c.off()
	ver := c.u8()
	rank := int(c.u8())
	flags := c.u8()
	s := &dataspace{}
	switch ver {
	case 1:
		c.skip(5)
	case 2:
		switch c.u8() {
		case 0: // scalar
		case 1: // simple
		case 2:
			s.null = true
		default:
			return nil, corrupt(at, "dataspace type")
		}
	default:
		if c.err == nil {
			return nil, unsupported(at, "dataspace message version %d", ver)
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	if rank > 32 {
		return nil, corrupt(at, "dataspace rank %d", rank)
	}
	for i := 0; i < rank; i++ {
		s.dims = append(s.dims, c.length())
	}
	if flags&1 != 0 {
		for i := 0; i < rank; i++ {
			s.maxDims = append(s.maxDims, c.length())
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	for _, d := range s.dims {
		if d == undefAddr {
			return nil, corrupt(at, "dataspace dimension is undefined")
		}
	}
	return s, nil
}

// ---------------------------------------------------------------------------
// attributes

// Attribute is one attribute of an object, with its raw value.
type Attribute struct {
	// Name is the attribute's name.
	Name string
	// Shape is the attribute's dataspace shape; empty for a scalar.
	Shape []int
	f     *File
	dt    *dtype
	n     uint64
	data  []byte
	off   int64
}

// Len returns the number of elements.
func (a *Attribute) Len() int { return int(a.n) }

// Type names the element type, e.g. "float64", "int32", "string10",
// "vlen string".
func (a *Attribute) Type() string { return a.dt.String() }

// IsString reports whether the attribute holds (fixed- or variable-length)
// strings.
func (a *Attribute) IsString() bool {
	return a.dt.class == classString || (a.dt.class == classVlen && a.dt.vlenStr)
}

func (f *File) parseAttribute(data []byte, off int64) (*Attribute, error) {
	if err := f.spend(uint64(len(data))+attrCost, off, "attribute"); err != nil {
		return nil, err
	}
	c := &cursor{f: f, b: data, base: off}
	ver := c.u8()
	flags := c.u8()
	nameLen := int(c.u16())
	dtLen := int(c.u16())
	dsLen := int(c.u16())
	if c.err != nil {
		return nil, c.err
	}
	pad := func(n int) int { return n }
	switch ver {
	case 1:
		pad = func(n int) int { return (n + 7) &^ 7 }
	case 2:
	case 3:
		c.u8() // name character set
	default:
		return nil, unsupported(off, "attribute message version %d", ver)
	}
	if flags&0x03 != 0 {
		return nil, unsupported(off, "attribute with shared datatype or dataspace")
	}
	nameAt := c.off()
	name := c.bytes(pad(nameLen))
	if c.err != nil {
		return nil, c.err
	}
	if nameLen == 0 || nameLen > len(name) {
		return nil, corrupt(nameAt, "attribute name length %d", nameLen)
	}
	nm := string(name[:nameLen])
	if i := strings.IndexByte(nm, 0); i >= 0 {
		nm = nm[:i]
	}
	dtAt := c.off()
	dtb := c.bytes(pad(dtLen))
	dsAt := c.off()
	dsb := c.bytes(pad(dsLen))
	if c.err != nil {
		return nil, c.err
	}
	dt, err := parseDatatype(&cursor{f: f, b: dtb, base: dtAt}, 0)
	if err != nil {
		return nil, fmt.Errorf("attribute %q: %w", nm, err)
	}
	ds, err := parseDataspace(&cursor{f: f, b: dsb, base: dsAt})
	if err != nil {
		return nil, fmt.Errorf("attribute %q: %w", nm, err)
	}
	n, ok := ds.count()
	elem := uint64(dt.size)
	if dt.class == classVlen {
		elem = uint64(4 + f.sizeOff + 4)
	}
	if !ok || !ds.intDims() || (n != 0 && elem > math.MaxUint64/n) || n*elem > uint64(c.left()) {
		return nil, corrupt(c.off(), "attribute %q: value of %d elements does not fit its message", nm, n)
	}
	a := &Attribute{Name: nm, f: f, dt: dt, n: n, off: c.off()}
	a.data = c.bytes(int(n * elem))
	for _, d := range ds.dims {
		a.Shape = append(a.Shape, int(d))
	}
	return a, nil
}

// attrCost is what one parsed attribute costs the budget besides its bytes.
const attrCost = 128

// charge checks a value of n bytes as returned against MaxDataBytes and
// charges it to the budget.
func (a *Attribute) charge(n uint64) error {
	if n > uint64(a.f.lim.MaxDataBytes) {
		return fmt.Errorf("hdf5: attribute %q: %w", a.Name, &Error{Kind: ErrLimit, Offset: a.off,
			What: fmt.Sprintf("value of %d bytes exceeds MaxDataBytes (%d)", n, a.f.lim.MaxDataBytes)})
	}
	if err := a.f.spend(n, a.off, fmt.Sprintf("attribute %q", a.Name)); err != nil {
		return err
	}
	return nil
}

// Strings returns the values of a string attribute (fixed-length strings
// lose their padding; variable-length strings are read from the global heap).
func (a *Attribute) Strings() ([]string, error) {
	if !a.IsString() {
		return nil, fmt.Errorf("hdf5: attribute %q holds %s, not strings", a.Name, a.dt)
	}
	if err := a.charge(16 * a.n); err != nil { // the string headers
		return nil, err
	}
	out := make([]string, 0, a.n)
	switch {
	case a.dt.class == classString:
		sz := a.dt.size
		if err := a.charge(uint64(len(a.data))); err != nil {
			return nil, err
		}
		for i := 0; i < int(a.n); i++ {
			out = append(out, trimString(a.data[i*sz:(i+1)*sz], a.dt.strPad))
		}
	case a.dt.class == classVlen && a.dt.vlenStr:
		esz := 4 + a.f.sizeOff + 4
		for i := 0; i < int(a.n); i++ {
			c := &cursor{f: a.f, b: a.data[i*esz : (i+1)*esz], base: a.off + int64(i*esz)}
			n := c.u32()
			coll := c.addr()
			idx := c.u32()
			if c.err != nil {
				return nil, c.err
			}
			if n == 0 {
				out = append(out, "")
				continue
			}
			b, err := a.f.globalObject(coll, idx)
			if err != nil {
				return nil, fmt.Errorf("hdf5: attribute %q element %d: %w", a.Name, i, err)
			}
			if uint64(n) > uint64(len(b)) {
				return nil, fmt.Errorf("hdf5: attribute %q element %d: %w", a.Name, i,
					corrupt(a.off, "string of %d bytes in a heap object of %d", n, len(b)))
			}
			if err := a.charge(uint64(n)); err != nil {
				return nil, err
			}
			out = append(out, trimString(b[:n], a.dt.strPad))
		}
	default:
		return nil, fmt.Errorf("hdf5: attribute %q holds %s, not strings", a.Name, a.dt)
	}
	return out, nil
}

func trimString(b []byte, pad int) string {
	if pad == 2 {
		return strings.TrimRight(string(b), " ")
	}
	if i := indexZero(b); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func indexZero(b []byte) int { return bytes.IndexByte(b, 0) }

// Float64s returns the values of a numeric attribute as float64.
func (a *Attribute) Float64s() ([]float64, error) {
	if a.dt.class != classFloat && a.dt.class != classFixed {
		return nil, fmt.Errorf("hdf5: attribute %q holds %s, not numbers", a.Name, a.dt)
	}
	if err := a.charge(8 * a.n); err != nil {
		return nil, err
	}
	out := make([]float64, a.n)
	if err := convert(a.dt, a.data, func(i int, v float64) { out[i] = v }); err != nil {
		return nil, fmt.Errorf("hdf5: attribute %q: %w", a.Name, err)
	}
	return out, nil
}

// Int64s returns the values of an integer attribute.
func (a *Attribute) Int64s() ([]int64, error) {
	if a.dt.class != classFixed {
		return nil, fmt.Errorf("hdf5: attribute %q holds %s, not integers", a.Name, a.dt)
	}
	if err := a.charge(8 * a.n); err != nil {
		return nil, err
	}
	out := make([]int64, a.n)
	sz := a.dt.size
	for i := range out {
		v := readUint(a.data[i*sz:(i+1)*sz], a.dt.bigEndian)
		if a.dt.signed && sz < 8 {
			shift := 64 - 8*uint(sz)
			out[i] = int64(v<<shift) >> shift
		} else {
			out[i] = int64(v)
		}
	}
	return out, nil
}

func readUint(b []byte, big bool) uint64 {
	var v uint64
	if big {
		for _, x := range b {
			v = v<<8 | uint64(x)
		}
		return v
	}
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// convert decodes numeric elements, calling set for each.
func convert(dt *dtype, data []byte, set func(i int, v float64)) error {
	sz := dt.size
	n := len(data) / sz
	switch dt.class {
	case classFloat:
		for i := 0; i < n; i++ {
			u := readUint(data[i*sz:(i+1)*sz], dt.bigEndian)
			switch sz {
			case 2:
				set(i, float64(halfToFloat32(uint16(u))))
			case 4:
				set(i, float64(math.Float32frombits(uint32(u))))
			case 8:
				set(i, math.Float64frombits(u))
			}
		}
	case classFixed:
		for i := 0; i < n; i++ {
			u := readUint(data[i*sz:(i+1)*sz], dt.bigEndian)
			if dt.signed {
				shift := 64 - 8*uint(sz)
				set(i, float64(int64(u<<shift)>>shift))
			} else {
				set(i, float64(u))
			}
		}
	default:
		return fmt.Errorf("%s is not a numeric type", dt)
	}
	return nil
}

func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1F
	man := uint32(h) & 0x3FF
	switch {
	case exp == 0 && man == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		e := uint32(127 - 15 + 1)
		for man&0x400 == 0 {
			man <<= 1
			e--
		}
		man &= 0x3FF
		return math.Float32frombits(sign | e<<23 | man<<13)
	case exp == 0x1F:
		return math.Float32frombits(sign | 0xFF<<23 | man<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
}

// ---------------------------------------------------------------------------
// global heap

func (f *File) globalObject(coll uint64, idx uint32) ([]byte, error) {
	objs, ok := f.gheaps[coll]
	if !ok {
		var err error
		objs, err = f.parseGlobalHeap(coll)
		if err != nil {
			return nil, err
		}
		f.gheaps[coll] = objs
	}
	b, ok := objs[uint16(idx)]
	if !ok || idx > 0xFFFF {
		return nil, corrupt(f.fileOff(coll), "global heap object %d not found", idx)
	}
	return b, nil
}

func (f *File) parseGlobalHeap(addr uint64) (map[uint16][]byte, error) {
	c, err := f.at(addr, -1, "global heap collection")
	if err != nil {
		return nil, err
	}
	c.sig("GCOL")
	ver := c.u8()
	c.skip(3)
	size := c.length()
	if c.err != nil {
		return nil, c.err
	}
	if ver != 1 {
		return nil, unsupported(c.base, "global heap version %d", ver)
	}
	if size > uint64(len(c.b)) || size < uint64(8+f.sizeLen) {
		return nil, corrupt(c.base, "global heap collection size %d", size)
	}
	if err := f.spend(size, c.base, "global heap collection"); err != nil {
		return nil, err
	}
	c.b = c.b[:size]
	objs := map[uint16][]byte{}
	for c.left() >= 8+f.sizeLen {
		idx := c.u16()
		c.u16() // reference count
		c.skip(4)
		n := c.length()
		if c.err != nil {
			return nil, c.err
		}
		if idx == 0 {
			break
		}
		if n > uint64(c.left()) {
			return nil, corrupt(c.off(), "global heap object of %d bytes", n)
		}
		objs[idx] = c.bytes(int(n))
		c.skip(int((8 - n%8) % 8))
		if c.err != nil {
			// The last object's padding may be missing.
			c.err = nil
			break
		}
	}
	return objs, nil
}

var _ = binary.LittleEndian

package hdf5

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Dataset is a dataset object.
type Dataset struct {
	*Object
	*datasetInfo
}

// datasetInfo is what a dataset's header says, parsed and checked once per
// object.
type datasetInfo struct {
	dt      *dtype
	space   *dataspace
	layout  layout
	filters []filter
	fill    []byte // one element, or nil for zeros
	n       uint64 // elements
	total   uint64 // bytes as stored (n × element size)
}

type layout struct {
	class   int // 0 compact, 1 contiguous, 2 chunked
	version int
	off     int64
	// compact
	compact []byte
	// contiguous
	addr uint64
	size uint64
	// chunked
	chunkDims []uint64 // without the element-size dimension
	flags     uint8
	index     int // 0: v1 B-tree (layout v3); 1..5 as in layout v4
	// single chunk filtered
	singleSize uint64
	singleMask uint32
}

type filter struct {
	id     uint16
	name   string
	flags  uint16
	values []uint32
}

const (
	idxBtree1   = 0
	idxSingle   = 1
	idxImplicit = 2
	idxFixed    = 3
	idxExtArray = 4
	idxBtree2   = 5
)

func (f *File) dataset(o *Object) (*Dataset, error) {
	if info, ok := f.datasets[o.addr]; ok {
		return &Dataset{o, info}, nil
	}
	info, err := f.parseDataset(o.hdr)
	if err != nil {
		return nil, err
	}
	f.datasets[o.addr] = info
	return &Dataset{o, info}, nil
}

func (f *File) parseDataset(h *objectHeader) (*datasetInfo, error) {
	d := &datasetInfo{}
	for _, want := range []uint16{msgDatatype, msgDataspace, msgLayout} {
		if h.find(want) == nil {
			return nil, corrupt(h.off, "dataset without message type %d", want)
		}
	}
	for i := range h.msgs {
		m := &h.msgs[i]
		c := &cursor{f: f, b: m.data, base: m.off}
		var err error
		switch m.typ {
		case msgDatatype:
			if m.flags&0x02 != 0 {
				err = unsupported(m.off, "committed (shared) datatype")
			} else {
				d.dt, err = parseDatatype(c, 0)
			}
		case msgDataspace:
			if err = checkShared(m, "dataspace"); err == nil {
				d.space, err = parseDataspace(c)
			}
		case msgLayout:
			d.layout, err = parseLayout(c)
		case msgFilters:
			if err = checkShared(m, "filter pipeline"); err == nil {
				d.filters, err = parseFilters(c)
			}
		case msgExternal:
			err = unsupported(m.off, "external data storage")
		}
		if err != nil {
			return nil, err
		}
	}
	for i := range h.msgs {
		m := &h.msgs[i]
		if m.typ == msgFill || m.typ == msgFillOld {
			fill, err := parseFill(m)
			if err != nil {
				return nil, err
			}
			if len(fill) == d.dt.size {
				d.fill = fill
			}
			if m.typ == msgFill {
				break
			}
		}
	}
	if d.layout.class == 2 && len(d.layout.chunkDims) != len(d.space.dims) {
		return nil, corrupt(d.layout.off, "chunk rank %d differs from dataspace rank %d", len(d.layout.chunkDims), len(d.space.dims))
	}
	if err := f.checkStorage(h, d); err != nil {
		return nil, err
	}
	return d, nil
}

// checkStorage checks what the header alone tells about a dataset's size
// against the file: the element count, contiguous data lying in the file,
// compact data holding the dataset, and storage never written (read as the
// fill value) within MaxFillBytes. Chunk indexes are checked when read.
func (f *File) checkStorage(h *objectHeader, d *datasetInfo) error {
	n, ok := d.space.count()
	ok = ok && d.space.intDims()
	es := uint64(d.dt.size)
	if !ok || (n != 0 && es > math.MaxUint64/n) {
		return corrupt(h.off, "dataset dimensions %v overflow", d.space.dims)
	}
	d.n, d.total = n, n*es
	l := &d.layout
	switch l.class {
	case 0:
		if uint64(len(l.compact)) < d.total {
			return corrupt(l.off, "compact data of %d bytes for %d expected", len(l.compact), d.total)
		}
	case 1:
		if l.addr == undefAddr {
			return f.checkFill(d.total, d.total, l.off)
		}
		if l.size != undefAddr && l.size < d.total {
			return corrupt(l.off, "contiguous storage of %d bytes for a dataset of %d bytes", l.size, d.total)
		}
		o := f.base + l.addr
		if o < l.addr || o > uint64(len(f.data)) || d.total > uint64(len(f.data))-o {
			return corrupt(l.off, "%d bytes of data at address %#x run past the end of the %d-byte file", d.total, l.addr, len(f.data))
		}
	}
	return nil
}

// checkFill checks the fill bytes of a dataset of total bytes against
// MaxFillBytes.
func (f *File) checkFill(fill, total uint64, at int64) error {
	if fill <= uint64(f.lim.MaxFillBytes) {
		return nil
	}
	what := fmt.Sprintf("no storage written for the dataset: its %d bytes", total)
	if fill != total {
		what = fmt.Sprintf("no storage written for %d of the dataset's %d bytes: they", fill, total)
	}
	return &Error{Kind: ErrLimit, Offset: at, What: what + fmt.Sprintf(
		" would read as the fill value, more than MaxFillBytes (%d); Keras writes every weight, so the file is corrupt or crafted", f.lim.MaxFillBytes)}
}

func parseLayout(c *cursor) (layout, error) {
	l := layout{off: c.off()}
	ver := int(c.u8())
	class := int(c.u8())
	l.version, l.class = ver, class
	if c.err != nil {
		return l, c.err
	}
	if ver < 3 || ver > 4 {
		return l, unsupported(l.off, "data layout message version %d", ver)
	}
	switch class {
	case 0:
		n := c.u16()
		l.compact = c.bytes(int(n))
	case 1:
		l.addr = c.addr()
		l.size = c.length()
	case 2:
		if ver == 3 {
			rank := int(c.u8())
			l.addr = c.addr()
			if c.err == nil && (rank < 2 || rank > 33) {
				return l, corrupt(l.off, "chunk dimensionality %d", rank)
			}
			for i := 0; i < rank; i++ {
				v := uint64(c.u32())
				if i < rank-1 {
					l.chunkDims = append(l.chunkDims, v)
				}
			}
			l.index = idxBtree1
			break
		}
		l.flags = c.u8()
		rank := int(c.u8())
		enc := int(c.u8())
		if c.err == nil && (rank < 2 || rank > 33 || enc < 1 || enc > 8) {
			return l, corrupt(l.off, "chunk dimensionality %d / encoded size %d", rank, enc)
		}
		for i := 0; i < rank; i++ {
			v := c.uvar(enc)
			if i < rank-1 {
				l.chunkDims = append(l.chunkDims, v)
			}
		}
		l.index = int(c.u8())
		switch l.index {
		case idxSingle:
			if l.flags&0x02 != 0 {
				l.singleSize = c.length()
				l.singleMask = c.u32()
			}
		case idxImplicit:
		case idxFixed:
			c.u8()
		case idxExtArray:
			c.skip(5)
		case idxBtree2:
			c.skip(6)
		default:
			if c.err == nil {
				return l, unsupported(l.off, "chunk index type %d", l.index)
			}
		}
		l.addr = c.addr()
	case 3:
		return l, unsupported(l.off, "virtual dataset layout")
	default:
		return l, corrupt(l.off, "layout class %d", class)
	}
	if c.err != nil {
		return l, c.err
	}
	for _, d := range l.chunkDims {
		if d == 0 || d > 1<<32 {
			return l, corrupt(l.off, "chunk dimension %d", d)
		}
	}
	return l, nil
}

func parseFilters(c *cursor) ([]filter, error) {
	at := c.off()
	ver := c.u8()
	n := int(c.u8())
	if ver == 1 {
		c.skip(6)
	} else if ver != 2 && c.err == nil {
		return nil, unsupported(at, "filter pipeline message version %d", ver)
	}
	if c.err == nil && n > 32 {
		return nil, corrupt(at, "%d filters", n)
	}
	var out []filter
	for i := 0; i < n; i++ {
		var fl filter
		fl.id = c.u16()
		nameLen := 0
		if ver == 1 || fl.id >= 256 {
			nameLen = int(c.u16())
		}
		fl.flags = c.u16()
		nv := int(c.u16())
		if nameLen > 0 {
			fl.name = string(bytesTrimZero(c.bytes(nameLen)))
		}
		if c.err == nil && nv > c.left()/4 {
			return nil, corrupt(c.off(), "filter with %d client values", nv)
		}
		for j := 0; j < nv; j++ {
			fl.values = append(fl.values, c.u32())
		}
		if ver == 1 && nv%2 == 1 {
			c.skip(4)
		}
		if c.err != nil {
			return nil, c.err
		}
		out = append(out, fl)
	}
	return out, c.err
}

func bytesTrimZero(b []byte) []byte {
	if i := indexZero(b); i >= 0 {
		return b[:i]
	}
	return b
}

func parseFill(m *message) ([]byte, error) {
	c := &cursor{b: m.data, base: m.off}
	if m.typ == msgFillOld {
		n := c.u32()
		b := c.bytes(int(n))
		return b, c.err
	}
	ver := c.u8()
	switch ver {
	case 1, 2:
		c.u8() // allocation time
		c.u8() // fill write time
		defined := c.u8()
		if ver == 2 && defined == 0 {
			return nil, c.err
		}
		n := c.u32()
		if c.err == nil && n == 0 {
			return nil, nil
		}
		b := c.bytes(int(n))
		return b, c.err
	case 3:
		flags := c.u8()
		if flags&0x20 == 0 {
			return nil, c.err
		}
		n := c.u32()
		b := c.bytes(int(n))
		return b, c.err
	}
	if c.err != nil {
		return nil, c.err
	}
	return nil, unsupported(m.off, "fill value message version %d", ver)
}

// Shape returns the dataset's dimensions (empty for a scalar).
func (d *Dataset) Shape() []int {
	out := make([]int, len(d.space.dims))
	for i, v := range d.space.dims {
		out[i] = int(v)
	}
	return out
}

// Type names the element type, e.g. "float32".
func (d *Dataset) Type() string { return d.dt.String() }

// Layout names the storage layout: "compact", "contiguous" or
// "chunked/<index>" with index one of btree1, single, implicit, fixed-array,
// extensible-array, btree2.
func (d *Dataset) Layout() string {
	switch d.layout.class {
	case 0:
		return "compact"
	case 1:
		return "contiguous"
	}
	return "chunked/" + [...]string{"btree1", "single", "implicit", "fixed-array", "extensible-array", "btree2"}[d.layout.index]
}

// Float32 reads the whole dataset as float32 (float64 and float16 values are
// converted, as are integers).
func (d *Dataset) Float32() ([]float32, error) {
	raw, err := d.raw(4)
	if err != nil {
		return nil, err
	}
	out := make([]float32, d.n)
	if d.dt.class == classFloat && d.dt.size == 4 && !d.dt.bigEndian {
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	}
	if err := convert(d.dt, raw, func(i int, v float64) { out[i] = float32(v) }); err != nil {
		return nil, fmt.Errorf("hdf5: dataset %s: %w", d.path, err)
	}
	return out, nil
}

// Float64 reads the whole dataset as float64.
func (d *Dataset) Float64() ([]float64, error) {
	raw, err := d.raw(8)
	if err != nil {
		return nil, err
	}
	out := make([]float64, d.n)
	if err := convert(d.dt, raw, func(i int, v float64) { out[i] = v }); err != nil {
		return nil, fmt.Errorf("hdf5: dataset %s: %w", d.path, err)
	}
	return out, nil
}

// raw returns the dataset's bytes in C order, after checking the result of
// outSize bytes per element against the limits and charging it. The bytes
// may be the file's own: they must not be modified.
func (d *Dataset) raw(outSize uint64) ([]byte, error) {
	b, err := d.readRaw(outSize)
	if err != nil {
		return nil, fmt.Errorf("hdf5: dataset %s: %w", d.path, err)
	}
	return b, nil
}

func (d *Dataset) readRaw(outSize uint64) ([]byte, error) {
	if d.dt.class == classVlen {
		return nil, unsupported(d.dt.off, "variable-length dataset")
	}
	if d.dt.class != classFloat && d.dt.class != classFixed {
		return nil, fmt.Errorf("%s is not a numeric type", d.dt)
	}
	limit := uint64(d.f.lim.MaxDataBytes)
	if d.n > limit/outSize || d.total > limit {
		return nil, &Error{Kind: ErrLimit, Offset: d.hdr.off, What: fmt.Sprintf(
			"dataset of %d elements (%d bytes stored, %d bytes as read) exceeds MaxDataBytes (%d)", d.n, d.total, satMul(d.n, outSize), limit)}
	}
	raw, err := d.stored()
	if err != nil {
		return nil, err
	}
	// The raw bytes are the file's or paid for: now the values.
	if err := d.f.spend(d.n*outSize, d.hdr.off, "dataset values"); err != nil {
		return nil, err
	}
	return raw, nil
}

// stored returns the dataset's bytes as stored, in C order.
func (d *Dataset) stored() ([]byte, error) {
	l := &d.layout
	switch l.class {
	case 0:
		return l.compact[:d.total], nil
	case 1:
		if l.addr == undefAddr {
			return d.filled()
		}
		c, err := d.f.at(l.addr, int64(d.total), "contiguous data")
		if err != nil {
			return nil, err
		}
		return c.b, nil
	}
	return d.chunked()
}

// filled returns the dataset's bytes, all set to the fill value.
func (d *Dataset) filled() ([]byte, error) {
	if err := d.f.spend(d.total, d.hdr.off, "dataset fill"); err != nil {
		return nil, err
	}
	out := make([]byte, d.total)
	if d.fill != nil && !allZero(d.fill) {
		for i := 0; i+len(d.fill) <= len(out); i += len(d.fill) {
			copy(out[i:], d.fill)
		}
	}
	return out, nil
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// chunked storage

type chunkRef struct {
	addr   uint64
	size   uint64
	mask   uint32
	scaled []uint64 // chunk-grid coordinates
	off    int64
}

type chunkGeom struct {
	rank       int
	dims       []uint64 // dataset dims
	maxDims    []uint64 // max dims (unlimited -> undefAddr)
	cdims      []uint64
	grid       []uint64 // chunks per dim over current dims
	maxGrid    []uint64 // chunks per dim over max dims (unlimited -> grid)
	chunkBytes uint64
	nchunks    uint64 // over the current grid
}

func (d *Dataset) geometry() (*chunkGeom, error) {
	l := &d.layout
	g := &chunkGeom{rank: len(l.chunkDims), dims: d.space.dims, cdims: l.chunkDims}
	g.chunkBytes = uint64(d.dt.size)
	g.nchunks = 1
	for i, cd := range l.chunkDims {
		if g.chunkBytes > math.MaxUint64/cd {
			return nil, corrupt(l.off, "chunk size overflows")
		}
		g.chunkBytes *= cd
		n := (g.dims[i] + cd - 1) / cd
		g.grid = append(g.grid, n)
		if n != 0 && g.nchunks > math.MaxUint64/n {
			return nil, corrupt(l.off, "chunk count overflows")
		}
		g.nchunks *= n
		md := g.dims[i]
		if d.space.maxDims != nil {
			md = d.space.maxDims[i]
		}
		g.maxDims = append(g.maxDims, md)
		mg := n
		if md != undefAddr && md >= g.dims[i] && md > 0 {
			mg = (md-1)/cd + 1
		}
		g.maxGrid = append(g.maxGrid, mg)
	}
	if g.chunkBytes > uint64(d.f.lim.MaxDataBytes) {
		return nil, &Error{Kind: ErrLimit, Offset: l.off, What: fmt.Sprintf("chunk of %d bytes exceeds MaxDataBytes (%d)", g.chunkBytes, d.f.lim.MaxDataBytes)}
	}
	return g, nil
}

// unflatten converts a linear index over grid into coordinates.
func unflatten(idx uint64, grid []uint64) []uint64 {
	out := make([]uint64, len(grid))
	for i := len(grid) - 1; i >= 0; i-- {
		if grid[i] == 0 {
			return nil
		}
		out[i] = idx % grid[i]
		idx /= grid[i]
	}
	return out
}

func (d *Dataset) chunked() ([]byte, error) {
	g, err := d.geometry()
	if err != nil {
		return nil, err
	}
	if d.total == 0 {
		return nil, nil
	}
	if d.layout.addr == undefAddr {
		if err := d.f.checkFill(d.total, d.total, d.layout.off); err != nil {
			return nil, err
		}
		return d.filled()
	}
	chunks, err := d.chunkIndex(g)
	if err != nil {
		return nil, err
	}
	// Keep the chunks inside the current extent, each grid position once,
	// and count the bytes they cover: the rest reads as the fill value.
	done := map[uint64]bool{}
	inside := chunks[:0]
	covered := uint64(0)
	for _, ch := range chunks {
		in := len(ch.scaled) == g.rank
		lin := uint64(0)
		vol := uint64(d.dt.size)
		for i, s := range ch.scaled {
			if s >= g.grid[i] {
				in = false
				break
			}
			lin = lin*g.grid[i] + s
			vol *= min(g.cdims[i], g.dims[i]-s*g.cdims[i])
		}
		if !in {
			continue // beyond the current extent
		}
		if done[lin] {
			return nil, corrupt(ch.off, "chunk %v listed twice", ch.scaled)
		}
		done[lin] = true
		if err := d.checkChunk(ch, g); err != nil {
			return nil, err
		}
		inside = append(inside, ch)
		covered += vol
	}
	if err := d.f.checkFill(d.total-covered, d.total, d.layout.off); err != nil {
		return nil, err
	}
	out, err := d.filled()
	if err != nil {
		return nil, err
	}
	for _, ch := range inside {
		data, err := d.readChunk(ch, g)
		if err != nil {
			return nil, err
		}
		copyChunk(out, data, g, ch.scaled, d.dt.size)
	}
	return out, nil
}

func copyChunk(out, chunk []byte, g *chunkGeom, scaled []uint64, es int) {
	rank := g.rank
	start := make([]uint64, rank)
	for i := range start {
		start[i] = scaled[i] * g.cdims[i]
	}
	last := rank - 1
	rowLen := g.cdims[last]
	if start[last]+rowLen > g.dims[last] {
		rowLen = g.dims[last] - start[last]
	}
	idx := make([]uint64, rank) // position within the chunk (last dim unused)
	for {
		// Source offset within the chunk and destination in the dataset.
		var src, dst uint64
		ok := true
		for i := 0; i < rank; i++ {
			src = src*g.cdims[i] + idx[i]
			p := start[i] + idx[i]
			if p >= g.dims[i] {
				ok = false
			}
			dst = dst*g.dims[i] + p
		}
		if ok {
			copy(out[dst*uint64(es):(dst+rowLen)*uint64(es)], chunk[src*uint64(es):(src+rowLen)*uint64(es)])
		}
		// Advance the odometer over all but the last dimension.
		i := last - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < g.cdims[i] && start[i]+idx[i] < g.dims[i] {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return
		}
	}
}

// checkChunk checks, before anything is allocated, that a chunk's stored
// bytes lie in the file and, if it is deflated, that they can inflate to a
// chunk.
func (d *Dataset) checkChunk(ch chunkRef, g *chunkGeom) error {
	size := ch.size
	if len(d.filters) == 0 {
		size = g.chunkBytes
	}
	c, err := d.f.at(ch.addr, int64(min(size, 1<<62)), "chunk")
	if err != nil {
		return err
	}
	for i, fl := range d.filters {
		if fl.id == 1 && !(i < 32 && ch.mask&(1<<uint(i)) != 0) && g.chunkBytes > maxInflateRatio*size+1024 {
			return corrupt(c.base, "deflate chunk of %d bytes cannot inflate to the %d bytes of a chunk", size, g.chunkBytes)
		}
	}
	return nil
}

func (d *Dataset) readChunk(ch chunkRef, g *chunkGeom) ([]byte, error) {
	size := ch.size
	if len(d.filters) == 0 {
		size = g.chunkBytes
	}
	c, err := d.f.at(ch.addr, int64(min(size, 1<<62)), "chunk")
	if err != nil {
		return nil, err
	}
	data := c.b
	for i := len(d.filters) - 1; i >= 0; i-- {
		if i < 32 && ch.mask&(1<<uint(i)) != 0 {
			continue
		}
		fl := d.filters[i]
		switch fl.id {
		case 1:
			if err := d.f.spend(g.chunkBytes, c.base, "inflated chunk"); err != nil {
				return nil, err
			}
			data, err = d.f.inflate(data, g.chunkBytes, c.base)
		case 2:
			es := d.dt.size
			if len(fl.values) > 0 && fl.values[0] > 0 {
				es = int(fl.values[0])
			}
			if err := d.f.spend(uint64(len(data)), c.base, "unshuffled chunk"); err != nil {
				return nil, err
			}
			data = unshuffle(data, es)
		case 3:
			data, err = fletcher32(data, c.base)
		default:
			name := fl.name
			if name == "" {
				name = map[uint16]string{4: "szip", 5: "nbit", 6: "scaleoffset", 32000: "lzf", 32001: "blosc", 32004: "lz4", 32008: "bitshuffle", 32015: "zstd"}[fl.id]
			}
			return nil, unsupported(d.layout.off, "filter %d (%s)", fl.id, name)
		}
		if err != nil {
			return nil, err
		}
	}
	if uint64(len(data)) < g.chunkBytes {
		return nil, corrupt(c.base, "chunk holds %d bytes, want %d", len(data), g.chunkBytes)
	}
	return data, nil
}

// maxInflateRatio bounds what deflate can make of its input: at most 258
// bytes per 2 bits (1032:1), plus the stream's framing.
const maxInflateRatio = 1032

func (f *File) inflate(in []byte, want uint64, at int64) ([]byte, error) {
	if want > maxInflateRatio*uint64(len(in))+1024 {
		return nil, corrupt(at, "deflate chunk of %d bytes cannot inflate to the %d bytes of a chunk", len(in), want)
	}
	// One decompressor per file, reset for each chunk (a new one costs
	// tens of KiB).
	var err error
	if f.inflater == nil {
		f.inflater, err = zlib.NewReader(bytes.NewReader(in))
	} else {
		err = f.inflater.(zlib.Resetter).Reset(bytes.NewReader(in), nil)
	}
	if err != nil {
		f.inflater = nil
		return nil, corrupt(at, "deflate chunk: %v", err)
	}
	zr := f.inflater
	out := make([]byte, want)
	if _, err := io.ReadFull(zr, out); err != nil {
		return nil, corrupt(at, "deflate chunk inflates to less than %d bytes: %v", want, err)
	}
	var one [1]byte
	switch _, err := io.ReadFull(zr, one[:]); err {
	case io.EOF:
		return out, nil
	case nil:
		return nil, corrupt(at, "deflate chunk inflates beyond %d bytes", want)
	default:
		return nil, corrupt(at, "deflate chunk: %v", err)
	}
}

func unshuffle(in []byte, es int) []byte {
	if es <= 1 || len(in) < es {
		return in
	}
	n := len(in) / es
	out := make([]byte, len(in))
	for j := 0; j < es; j++ {
		for i := 0; i < n; i++ {
			out[i*es+j] = in[j*n+i]
		}
	}
	copy(out[n*es:], in[n*es:])
	return out
}

func fletcher32(in []byte, at int64) ([]byte, error) {
	if len(in) < 4 {
		return nil, corrupt(at, "fletcher32 chunk of %d bytes", len(in))
	}
	data := in[:len(in)-4]
	stored := binary.LittleEndian.Uint32(in[len(in)-4:])
	var s1, s2 uint32
	words := len(data) / 2
	p := 0
	for words > 0 {
		t := min(words, 360)
		words -= t
		for ; t > 0; t-- {
			s1 += uint32(data[p])<<8 | uint32(data[p+1])
			p += 2
			s2 += s1
		}
		s1 = (s1 & 0xffff) + (s1 >> 16)
		s2 = (s2 & 0xffff) + (s2 >> 16)
	}
	if len(data)%2 == 1 {
		s1 += uint32(data[p]) << 8
		s2 += s1
		s1 = (s1 & 0xffff) + (s1 >> 16)
		s2 = (s2 & 0xffff) + (s2 >> 16)
	}
	s1 = (s1 & 0xffff) + (s1 >> 16)
	s2 = (s2 & 0xffff) + (s2 >> 16)
	sum := s2<<16 | s1
	rev := sum>>24 | (sum>>8)&0xff00 | (sum<<8)&0xff0000 | sum<<24
	if stored != sum && stored != rev {
		return nil, corrupt(at, "fletcher32 checksum mismatch")
	}
	return data, nil
}

// addChunk appends a chunk found in an index, charging the budget.
func (d *Dataset) addChunk(out *[]chunkRef, ch chunkRef) error {
	if err := d.f.spend(64+8*uint64(len(ch.scaled)), ch.off, "chunk index"); err != nil {
		return err
	}
	*out = append(*out, ch)
	return nil
}

// chunkIndex lists the allocated chunks.
func (d *Dataset) chunkIndex(g *chunkGeom) ([]chunkRef, error) {
	l := &d.layout
	switch l.index {
	case idxBtree1:
		return d.btree1Chunks(g)
	case idxSingle:
		size := l.singleSize
		if l.flags&0x02 == 0 {
			size = g.chunkBytes
		}
		return []chunkRef{{addr: l.addr, size: size, mask: l.singleMask, scaled: make([]uint64, g.rank), off: l.off}}, nil
	case idxImplicit:
		n := uint64(1)
		for _, m := range g.maxGrid {
			if m != 0 && n > math.MaxUint64/m {
				return nil, corrupt(l.off, "implicit chunk index overflows")
			}
			n *= m
		}
		// The chunks of an implicit index are stored one after the other.
		o := d.f.base + l.addr
		if o < l.addr || o > uint64(len(d.f.data)) || (g.chunkBytes != 0 && n > (uint64(len(d.f.data))-o)/g.chunkBytes) {
			return nil, corrupt(l.off, "implicit chunk index of %d chunks of %d bytes at address %#x runs past the end of the %d-byte file", n, g.chunkBytes, l.addr, len(d.f.data))
		}
		var out []chunkRef
		for i := uint64(0); i < n; i++ {
			sc := unflatten(i, g.maxGrid)
			if err := d.addChunk(&out, chunkRef{addr: l.addr + i*g.chunkBytes, size: g.chunkBytes, scaled: sc, off: l.off}); err != nil {
				return nil, err
			}
		}
		return out, nil
	case idxFixed:
		return d.fixedArrayChunks(g)
	case idxExtArray:
		return d.extArrayChunks(g)
	case idxBtree2:
		return d.btree2Chunks(g)
	}
	return nil, unsupported(l.off, "chunk index type %d", l.index)
}

func (d *Dataset) btree1Chunks(g *chunkGeom) ([]chunkRef, error) {
	f := d.f
	var out []chunkRef
	seen := map[uint64]bool{}
	var walk func(addr uint64, depth int) error
	walk = func(addr uint64, depth int) error {
		if depth > 64 {
			return corrupt(f.fileOff(addr), "chunk B-tree too deep")
		}
		if seen[addr] {
			return corrupt(f.fileOff(addr), "chunk B-tree node visited twice")
		}
		seen[addr] = true
		c, err := f.at(addr, -1, "chunk B-tree node")
		if err != nil {
			return err
		}
		c.sig("TREE")
		typ := c.u8()
		level := c.u8()
		used := int(c.u16())
		c.addr()
		c.addr()
		if c.err != nil {
			return c.err
		}
		if typ != 1 {
			return corrupt(c.base, "chunk B-tree node of type %d", typ)
		}
		if err := f.spend(24+uint64(used)*uint64(16+8*g.rank), c.base, "chunk B-tree node"); err != nil {
			return err
		}
		for i := 0; i < used; i++ {
			at := c.off()
			size := c.u32()
			mask := c.u32()
			sc := make([]uint64, g.rank)
			for j := 0; j <= g.rank; j++ {
				v := c.u64()
				if j < g.rank {
					if v%g.cdims[j] != 0 {
						if c.err == nil {
							return corrupt(at, "chunk offset %d not a multiple of the chunk size %d", v, g.cdims[j])
						}
					}
					sc[j] = v / g.cdims[j]
				}
			}
			child := c.addr()
			if c.err != nil {
				return c.err
			}
			if level > 0 {
				if err := walk(child, depth+1); err != nil {
					return err
				}
				continue
			}
			if err := d.addChunk(&out, chunkRef{addr: child, size: uint64(size), mask: mask, scaled: sc, off: at}); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(d.layout.addr, 0)
}

// element decodes one fixed/extensible array element.
func (d *Dataset) arrayElement(c *cursor, filtered bool, esize int, g *chunkGeom, idx uint64, grid []uint64, swap int) (chunkRef, bool) {
	at := c.off()
	ch := chunkRef{off: at}
	ch.addr = c.addr()
	if filtered {
		n := esize - d.f.sizeOff - 4
		ch.size = c.uvar(n)
		ch.mask = c.u32()
	} else {
		ch.size = g.chunkBytes
	}
	if c.err != nil || ch.addr == undefAddr {
		return ch, false
	}
	sc := unflatten(idx, grid)
	if sc == nil {
		return ch, false
	}
	if swap > 0 { // un-swizzle: position 0 holds the unlimited dimension
		u := sc[0]
		copy(sc[0:swap], sc[1:swap+1])
		sc[swap] = u
	}
	ch.scaled = sc
	return ch, true
}

func (d *Dataset) fixedArrayChunks(g *chunkGeom) ([]chunkRef, error) {
	f := d.f
	c, err := f.at(d.layout.addr, -1, "fixed array header")
	if err != nil {
		return nil, err
	}
	c.sig("FAHD")
	ver := c.u8()
	client := c.u8()
	esize := int(c.u8())
	pageBits := int(c.u8())
	n := c.length()
	dblk := c.addr()
	c.checksum("fixed array header")
	if c.err != nil {
		return nil, c.err
	}
	if ver != 0 || client > 1 || pageBits > 32 {
		return nil, corrupt(c.base, "fixed array header (version %d, client %d, page bits %d)", ver, client, pageBits)
	}
	filtered := client == 1
	if (filtered && (esize <= f.sizeOff+4 || esize > f.sizeOff+4+8)) || (!filtered && esize != f.sizeOff) {
		return nil, corrupt(c.base, "fixed array element size %d", esize)
	}
	if n > uint64(len(f.data)) {
		return nil, corrupt(c.base, "fixed array of %d elements", n)
	}
	if dblk == undefAddr || n == 0 {
		return nil, nil
	}
	bc, err := f.at(dblk, -1, "fixed array data block")
	if err != nil {
		return nil, err
	}
	bc.sig("FADB")
	bver := bc.u8()
	bclient := bc.u8()
	hdr := bc.addr()
	if bc.err != nil {
		return nil, bc.err
	}
	if bver != 0 || bclient != client || hdr != d.layout.addr {
		return nil, corrupt(bc.base, "fixed array data block header")
	}
	var out []chunkRef
	pageN := uint64(1) << uint(pageBits)
	if n <= pageN {
		if n > uint64(bc.left()/esize) {
			return nil, corrupt(bc.base, "fixed array data block runs past the end of the file")
		}
		for i := uint64(0); i < n; i++ {
			if ch, ok := d.arrayElement(bc, filtered, esize, g, i, g.maxGrid, 0); ok {
				if err := d.addChunk(&out, ch); err != nil {
					return nil, err
				}
			}
		}
		bc.checksum("fixed array data block")
		return out, bc.err
	}
	npages := (n + pageN - 1) / pageN
	bitmap := bc.bytes(int((npages + 7) / 8))
	bc.checksum("fixed array data block")
	if bc.err != nil {
		return nil, bc.err
	}
	pos := uint64(bc.p)
	for p := uint64(0); p < npages; p++ {
		cnt := pageN
		if p == npages-1 {
			cnt = n - p*pageN
		}
		plen := cnt*uint64(esize) + 4
		if bitmap[p/8]&(0x80>>(p%8)) == 0 {
			pos += plen
			continue
		}
		if pos+plen > uint64(len(bc.b)) {
			return nil, corrupt(bc.base, "fixed array page runs past the end of the file")
		}
		pc := &cursor{f: f, b: bc.b[pos : pos+plen], base: bc.base + int64(pos)}
		for i := uint64(0); i < cnt; i++ {
			if ch, ok := d.arrayElement(pc, filtered, esize, g, p*pageN+i, g.maxGrid, 0); ok {
				if err := d.addChunk(&out, ch); err != nil {
					return nil, err
				}
			}
		}
		pc.checksum("fixed array page")
		if pc.err != nil {
			return nil, pc.err
		}
		pos += plen
	}
	return out, nil
}

func (d *Dataset) extArrayChunks(g *chunkGeom) ([]chunkRef, error) {
	f := d.f
	c, err := f.at(d.layout.addr, -1, "extensible array header")
	if err != nil {
		return nil, err
	}
	c.sig("EAHD")
	ver := c.u8()
	client := c.u8()
	esize := int(c.u8())
	maxBits := int(c.u8())
	idxElmts := uint64(c.u8())
	dblkMin := uint64(c.u8())
	sblkMinPtrs := uint64(c.u8())
	pageBits := int(c.u8())
	for i := 0; i < 4; i++ {
		c.length()
	}
	c.length() // max index set
	nelmts := c.length()
	iblk := c.addr()
	c.checksum("extensible array header")
	if c.err != nil {
		return nil, c.err
	}
	if ver != 0 || client > 1 || maxBits == 0 || maxBits > 64 || !isPow2(dblkMin) || !isPow2(sblkMinPtrs) ||
		pageBits > 32 || log2(dblkMin) > maxBits {
		return nil, corrupt(c.base, "extensible array header parameters")
	}
	filtered := client == 1
	if (filtered && (esize <= f.sizeOff+4 || esize > f.sizeOff+4+8)) || (!filtered && esize != f.sizeOff) {
		return nil, corrupt(c.base, "extensible array element size %d", esize)
	}
	if nelmts > uint64(len(f.data)) {
		return nil, corrupt(c.base, "extensible array of %d elements", nelmts)
	}
	if iblk == undefAddr {
		return nil, nil
	}
	// Swizzle: the unlimited dimension goes first in the linear index.
	grid := append([]uint64(nil), g.maxGrid...)
	unlim := -1
	for i, m := range g.maxDims {
		if m == undefAddr {
			unlim = i
			break
		}
	}
	swap := 0
	if unlim > 0 {
		u := grid[unlim]
		copy(grid[1:unlim+1], grid[0:unlim])
		grid[0] = u
		swap = unlim
	}
	if unlim >= 0 {
		grid[0] = math.MaxUint64 / 2 // unbounded along the unlimited dimension
	}
	arrOff := (maxBits + 7) / 8
	nsblks := 1 + maxBits - log2(dblkMin)
	type sinfo struct{ ndblks, dblkN, start uint64 }
	sblks := make([]sinfo, nsblks)
	start := uint64(0)
	for u := 0; u < nsblks; u++ {
		sblks[u].ndblks = uint64(1) << uint(u/2)
		sblks[u].dblkN = dblkMin << uint((u+1)/2)
		sblks[u].start = start
		start += sblks[u].ndblks * sblks[u].dblkN
		if start > 1<<62 {
			nsblks = u + 1
			break
		}
	}
	var out []chunkRef
	add := func(pc *cursor, idx uint64) {
		if idx >= nelmts {
			pc.skip(esize)
			return
		}
		if ch, ok := d.arrayElement(pc, filtered, esize, g, idx, grid, swap); ok && pc.err == nil {
			pc.err = d.addChunk(&out, ch)
		}
	}
	seen := map[uint64]bool{}
	dataBlock := func(addr, first, count uint64) error {
		if addr == undefAddr || first >= nelmts {
			return nil
		}
		if seen[addr] {
			return corrupt(f.fileOff(addr), "extensible array block used twice")
		}
		seen[addr] = true
		bc, err := f.at(addr, -1, "extensible array data block")
		if err != nil {
			return err
		}
		bc.sig("EADB")
		bver := bc.u8()
		bclient := bc.u8()
		hdr := bc.addr()
		boff := bc.uvar(arrOff)
		if bc.err != nil {
			return bc.err
		}
		// The block offset field is not checked: for data blocks addressed
		// by the index block, HDF5 records start_idx + (index of the data
		// block among the index block's addresses) * size, not the offset.
		_ = boff
		if bver != 0 || bclient != client || hdr != d.layout.addr {
			return corrupt(bc.base, "extensible array data block header (version %d, client %d, header %#x)", bver, bclient, hdr)
		}
		pageN := uint64(1) << uint(pageBits)
		if count <= pageN {
			if count > uint64(bc.left()/esize) {
				return corrupt(bc.base, "extensible array data block runs past the end of the file")
			}
			for i := uint64(0); i < count; i++ {
				add(bc, first+i)
			}
			bc.checksum("extensible array data block")
			return bc.err
		}
		bc.checksum("extensible array data block")
		if bc.err != nil {
			return bc.err
		}
		pos := uint64(bc.p)
		npages := count / pageN
		for p := uint64(0); p < npages; p++ {
			plen := pageN*uint64(esize) + 4
			if pos+plen > uint64(len(bc.b)) {
				return corrupt(bc.base, "extensible array page runs past the end of the file")
			}
			if first+p*pageN < nelmts {
				pc := &cursor{f: f, b: bc.b[pos : pos+plen], base: bc.base + int64(pos)}
				for i := uint64(0); i < pageN; i++ {
					add(pc, first+p*pageN+i)
				}
				pc.checksum("extensible array page")
				if pc.err != nil {
					return pc.err
				}
			}
			pos += plen
		}
		return nil
	}
	ic, err := f.at(iblk, -1, "extensible array index block")
	if err != nil {
		return nil, err
	}
	ic.sig("EAIB")
	iver := ic.u8()
	iclient := ic.u8()
	hdr := ic.addr()
	if ic.err != nil {
		return nil, ic.err
	}
	if iver != 0 || iclient != client || hdr != d.layout.addr {
		return nil, corrupt(ic.base, "extensible array index block header")
	}
	if idxElmts > uint64(ic.left()/esize) {
		return nil, corrupt(ic.base, "extensible array index block runs past the end of the file")
	}
	for i := uint64(0); i < idxElmts; i++ {
		add(ic, i)
	}
	ndblkAddrs := 2 * (sblkMinPtrs - 1)
	iblkSblks := 2 * log2(sblkMinPtrs)
	nsblkAddrs := 0
	if nsblks > iblkSblks {
		nsblkAddrs = nsblks - iblkSblks
	}
	if ndblkAddrs+uint64(nsblkAddrs) > uint64(ic.left()/f.sizeOff) {
		return nil, corrupt(ic.base, "extensible array index block runs past the end of the file")
	}
	dblkAddrs := make([]uint64, ndblkAddrs)
	for i := range dblkAddrs {
		dblkAddrs[i] = ic.addr()
	}
	sblkAddrs := make([]uint64, nsblkAddrs)
	for i := range sblkAddrs {
		sblkAddrs[i] = ic.addr()
	}
	ic.checksum("extensible array index block")
	if ic.err != nil {
		return nil, ic.err
	}
	// Data blocks addressed directly by the index block: super blocks
	// 0 .. iblkSblks-1.
	k := 0
	for u := 0; u < iblkSblks && u < nsblks; u++ {
		for j := uint64(0); j < sblks[u].ndblks; j++ {
			if k >= len(dblkAddrs) {
				break
			}
			first := idxElmts + sblks[u].start + j*sblks[u].dblkN
			if err := dataBlock(dblkAddrs[k], first, sblks[u].dblkN); err != nil {
				return nil, err
			}
			k++
		}
	}
	for i, sa := range sblkAddrs {
		u := iblkSblks + i
		if sa == undefAddr || idxElmts+sblks[u].start >= nelmts {
			continue
		}
		sc, err := f.at(sa, -1, "extensible array super block")
		if err != nil {
			return nil, err
		}
		sc.sig("EASB")
		sver := sc.u8()
		sclient := sc.u8()
		shdr := sc.addr()
		soff := sc.uvar(arrOff)
		if sc.err != nil {
			return nil, sc.err
		}
		_ = soff
		if sver != 0 || sclient != client || shdr != d.layout.addr {
			return nil, corrupt(sc.base, "extensible array super block header")
		}
		if sblks[u].dblkN > uint64(1)<<uint(pageBits) {
			// Page bitmaps for paged data blocks.
			pages := sblks[u].dblkN >> uint(pageBits)
			sc.skip(int((sblks[u].ndblks*pages + 7) / 8))
		}
		if sblks[u].ndblks > uint64(sc.left()/f.sizeOff) {
			return nil, corrupt(sc.base, "extensible array super block runs past the end of the file")
		}
		addrs := make([]uint64, sblks[u].ndblks)
		for j := range addrs {
			addrs[j] = sc.addr()
		}
		sc.checksum("extensible array super block")
		if sc.err != nil {
			return nil, sc.err
		}
		for j, a := range addrs {
			first := idxElmts + sblks[u].start + uint64(j)*sblks[u].dblkN
			if err := dataBlock(a, first, sblks[u].dblkN); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (d *Dataset) btree2Chunks(g *chunkGeom) ([]chunkRef, error) {
	filtered := len(d.filters) > 0
	want := uint8(10)
	if filtered {
		want = 11
	}
	t, err := d.f.openBtree2(d.layout.addr, want)
	if err != nil {
		return nil, err
	}
	fixed := d.f.sizeOff + 8*g.rank
	if filtered {
		fixed += 4
	}
	if t.recSize < fixed || (filtered && t.recSize > fixed+8) || (!filtered && t.recSize != fixed) {
		return nil, corrupt(d.f.fileOff(t.addr), "chunk B-tree record size %d", t.recSize)
	}
	var out []chunkRef
	err = t.each(func(rec []byte, off int64) error {
		c := &cursor{f: d.f, b: rec, base: off}
		ch := chunkRef{off: off}
		ch.addr = c.addr()
		if filtered {
			ch.size = c.uvar(t.recSize - fixed)
			ch.mask = c.u32()
		} else {
			ch.size = g.chunkBytes
		}
		ch.scaled = make([]uint64, g.rank)
		for i := range ch.scaled {
			ch.scaled[i] = c.u64()
		}
		if c.err != nil {
			return c.err
		}
		if ch.addr != undefAddr {
			return d.addChunk(&out, ch)
		}
		return nil
	})
	return out, err
}

// DataAddress returns the address of the dataset's raw data (contiguous
// layout) or of its chunk index (chunked layout), or 0 for compact storage
// and unallocated data. h5py allocates raw data in write order, so this
// orders datasets by creation.
func (d *Dataset) DataAddress() uint64 {
	if d.layout.class == 0 || d.layout.addr == undefAddr {
		return 0
	}
	return d.layout.addr
}

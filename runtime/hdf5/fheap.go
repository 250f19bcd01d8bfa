package hdf5

import "github.com/rnc-dev/rnc/runtime/internal/lookup3"

// ---------------------------------------------------------------------------
// version 2 B-trees

type btree2 struct {
	f        *File
	addr     uint64
	typ      uint8
	nodeSize uint32
	recSize  int
	depth    int
	root     uint64
	rootNrec int
	nrecSize int   // bytes of the "number of records" field in pointers
	cumSize  []int // bytes of the "total records" field, per depth
	maxNrec  []uint64
}

func (f *File) openBtree2(addr uint64, wantType uint8) (*btree2, error) {
	c, err := f.at(addr, -1, "v2 B-tree header")
	if err != nil {
		return nil, err
	}
	c.sig("BTHD")
	ver := c.u8()
	typ := c.u8()
	t := &btree2{f: f, addr: addr, typ: typ}
	t.nodeSize = c.u32()
	t.recSize = int(c.u16())
	t.depth = int(c.u16())
	c.u8() // split percent
	c.u8() // merge percent
	t.root = c.addr()
	t.rootNrec = int(c.u16())
	c.length() // total records
	c.checksum("v2 B-tree header")
	if c.err != nil {
		return nil, c.err
	}
	if ver != 0 {
		return nil, unsupported(c.base, "v2 B-tree version %d", ver)
	}
	if typ != wantType {
		return nil, corrupt(c.base, "v2 B-tree of type %d where type %d was expected", typ, wantType)
	}
	if t.recSize == 0 || t.nodeSize < 16 || uint64(t.nodeSize) > uint64(len(f.data))+1<<16 || t.depth > 32 {
		return nil, corrupt(c.base, "v2 B-tree header (node size %d, record size %d, depth %d)", t.nodeSize, t.recSize, t.depth)
	}
	const prefix = 10 // signature, version, type, checksum
	if int(t.nodeSize) < prefix+t.recSize {
		return nil, corrupt(c.base, "v2 B-tree node size %d too small for records of %d bytes", t.nodeSize, t.recSize)
	}
	t.maxNrec = make([]uint64, t.depth+1)
	t.cumSize = make([]int, t.depth+1)
	cum := make([]uint64, t.depth+1)
	t.maxNrec[0] = uint64((int(t.nodeSize) - prefix) / t.recSize)
	cum[0] = t.maxNrec[0]
	t.nrecSize = limitEncSize(t.maxNrec[0])
	for d := 1; d <= t.depth; d++ {
		ptr := f.sizeOff + t.nrecSize
		if d > 1 {
			ptr += t.cumSize[d-1]
		}
		room := int(t.nodeSize) - (prefix + ptr)
		if room <= 0 {
			return nil, corrupt(c.base, "v2 B-tree node size %d too small", t.nodeSize)
		}
		t.maxNrec[d] = uint64(room / (t.recSize + ptr))
		cum[d] = (t.maxNrec[d]+1)*cum[d-1] + t.maxNrec[d]
		if cum[d] < cum[d-1] || cum[d] > 1<<56 { // overflow
			cum[d] = 1 << 56
		}
		t.cumSize[d] = limitEncSize(cum[d])
	}
	return t, nil
}

// each calls fn for every record, in key order.
func (t *btree2) each(fn func(rec []byte, off int64) error) error {
	if t.root == undefAddr || t.rootNrec == 0 {
		return nil
	}
	seen := map[uint64]bool{}
	return t.node(t.root, t.rootNrec, t.depth, seen, fn)
}

func (t *btree2) node(addr uint64, nrec, depth int, seen map[uint64]bool, fn func([]byte, int64) error) error {
	if seen[addr] {
		return corrupt(t.f.fileOff(addr), "v2 B-tree node visited twice")
	}
	seen[addr] = true
	if uint64(nrec) > t.maxNrec[depth] {
		return corrupt(t.f.fileOff(addr), "v2 B-tree node with %d records (at most %d fit)", nrec, t.maxNrec[depth])
	}
	c, err := t.f.at(addr, -1, "v2 B-tree node")
	if err != nil {
		return err
	}
	if err := t.f.spend(uint64(t.nodeSize), c.base, "v2 B-tree node"); err != nil {
		return err
	}
	sig := "BTLF"
	if depth > 0 {
		sig = "BTIN"
	}
	c.sig(sig)
	ver := c.u8()
	typ := c.u8()
	if c.err != nil {
		return c.err
	}
	if ver != 0 || typ != t.typ {
		return corrupt(c.base, "v2 B-tree node version %d type %d", ver, typ)
	}
	recs := c.p
	c.skip(nrec * t.recSize)
	type child struct {
		addr uint64
		n    int
	}
	var kids []child
	if depth > 0 {
		for i := 0; i <= nrec; i++ {
			a := c.addr()
			n := c.uvar(t.nrecSize)
			if depth > 1 {
				c.uvar(t.cumSize[depth-1])
			}
			kids = append(kids, child{a, int(n)})
			if n > t.maxNrec[depth-1] {
				return corrupt(c.off(), "v2 B-tree child with %d records", n)
			}
		}
	}
	c.checksum("v2 B-tree node")
	if c.err != nil {
		return c.err
	}
	for i := 0; i <= nrec; i++ {
		if depth > 0 {
			if err := t.node(kids[i].addr, kids[i].n, depth-1, seen, fn); err != nil {
				return err
			}
		}
		if i < nrec {
			o := recs + i*t.recSize
			if err := fn(c.b[o:o+t.recSize], c.base+int64(o)); err != nil {
				return err
			}
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// fractal heaps

type fractalHeap struct {
	f            *File
	addr         uint64
	off          int64
	idLen        int
	flags        uint8
	maxManSize   uint32
	hugeBtree    uint64
	width        int
	startSize    uint64
	maxDirect    uint64
	maxHeapBits  int
	root         uint64
	curRootRows  int
	offSize      int // bytes of heap offsets
	lenSize      int // bytes of managed object lengths in heap IDs
	maxDirRows   int
	hugeIDDirect bool

	indirects map[uint64][]uint64 // parsed indirect blocks
	directs   map[uint64]bool     // direct blocks whose checksum was verified
	hugeObjs  map[uint64][2]uint64
}

func (f *File) fractalHeap(addr uint64) (*fractalHeap, error) {
	if h, ok := f.fheaps[addr]; ok {
		return h, nil
	}
	c, err := f.at(addr, -1, "fractal heap header")
	if err != nil {
		return nil, err
	}
	if err := f.spend(256, c.base, "fractal heap header"); err != nil {
		return nil, err
	}
	h := &fractalHeap{f: f, addr: addr, off: c.base}
	c.sig("FRHP")
	ver := c.u8()
	h.idLen = int(c.u16())
	filterLen := c.u16()
	h.flags = c.u8()
	h.maxManSize = c.u32()
	c.length() // next huge object ID
	h.hugeBtree = c.addr()
	c.length() // free space in managed blocks
	c.addr()   // free-space manager
	c.length() // managed space
	c.length() // allocated managed space
	c.length() // direct block allocation iterator offset
	c.length() // managed objects
	c.length() // huge objects size
	c.length() // huge objects count
	c.length() // tiny objects size
	c.length() // tiny objects count
	h.width = int(c.u16())
	h.startSize = c.length()
	h.maxDirect = c.length()
	h.maxHeapBits = int(c.u16())
	c.u16() // starting rows in root indirect block
	h.root = c.addr()
	h.curRootRows = int(c.u16())
	if c.err != nil {
		return nil, c.err
	}
	if ver != 0 {
		return nil, unsupported(h.off, "fractal heap version %d", ver)
	}
	if filterLen != 0 {
		return nil, unsupported(h.off, "filtered fractal heap")
	}
	c.checksum("fractal heap header")
	if c.err != nil {
		return nil, c.err
	}
	if h.idLen < 2 || h.width == 0 || !isPow2(uint64(h.width)) || !isPow2(h.startSize) || !isPow2(h.maxDirect) ||
		h.maxDirect < h.startSize || h.maxHeapBits == 0 || h.maxHeapBits > 64 || h.curRootRows > 64 ||
		h.maxDirect > 1<<32 || h.maxManSize == 0 {
		return nil, corrupt(h.off, "fractal heap parameters (ID length %d, width %d, block sizes %d..%d, %d bits, %d rows)",
			h.idLen, h.width, h.startSize, h.maxDirect, h.maxHeapBits, h.curRootRows)
	}
	h.offSize = (h.maxHeapBits + 7) / 8
	h.lenSize = min((log2(h.maxDirect)+7)/8, limitEncSize(uint64(h.maxManSize)))
	h.maxDirRows = log2(h.maxDirect) - log2(h.startSize) + 2
	h.hugeIDDirect = h.idLen-1 >= f.sizeOff+f.sizeLen
	h.indirects = map[uint64][]uint64{}
	h.directs = map[uint64]bool{}
	f.fheaps[addr] = h
	return h, nil
}

func (h *fractalHeap) rowSize(r int) uint64 {
	if r == 0 {
		return h.startSize
	}
	return h.startSize << uint(r-1)
}

func (h *fractalHeap) rowOffset(r int) uint64 {
	if r == 0 {
		return 0
	}
	return h.startSize * uint64(h.width) << uint(r-1)
}

// get returns the object a heap ID refers to.
func (h *fractalHeap) get(id []byte, at int64) ([]byte, error) {
	if len(id) < h.idLen || h.idLen < 1 {
		return nil, corrupt(at, "heap ID of %d bytes (want %d)", len(id), h.idLen)
	}
	id = id[:h.idLen]
	if id[0]>>6 != 0 {
		return nil, unsupported(at, "heap ID version %d", id[0]>>6)
	}
	c := &cursor{f: h.f, b: id[1:], base: at + 1}
	switch (id[0] >> 4) & 3 {
	case 0: // managed
		off := c.uvar(h.offSize)
		n := c.uvar(h.lenSize)
		if c.err != nil {
			return nil, c.err
		}
		return h.managed(off, n, at)
	case 1: // huge
		if h.hugeIDDirect {
			a := c.addr()
			n := c.length()
			if c.err != nil {
				return nil, c.err
			}
			hc, err := h.f.at(a, int64(min(n, 1<<62)), "huge heap object")
			if err != nil {
				return nil, err
			}
			return hc.b, nil
		}
		key := c.uvar(min(h.idLen-1, 8))
		if c.err != nil {
			return nil, c.err
		}
		return h.huge(key, at)
	case 2: // tiny
		if h.idLen-1 > 16 {
			n := (int(id[0]&0x0F)<<8 | int(c.u8())) + 1
			b := c.bytes(n)
			return b, c.err
		}
		n := int(id[0]&0x0F) + 1
		b := c.bytes(n)
		return b, c.err
	}
	return nil, corrupt(at, "heap ID type %d", (id[0]>>4)&3)
}

func (h *fractalHeap) huge(key uint64, at int64) ([]byte, error) {
	if h.hugeBtree == undefAddr {
		return nil, corrupt(at, "huge heap object without a huge-object index")
	}
	if h.hugeObjs == nil {
		t, err := h.f.openBtree2(h.hugeBtree, 1)
		if err != nil {
			return nil, err
		}
		objs := map[uint64][2]uint64{}
		err = t.each(func(rec []byte, off int64) error {
			c := &cursor{f: h.f, b: rec, base: off}
			a := c.addr()
			n := c.length()
			id := c.length()
			if c.err != nil {
				return c.err
			}
			objs[id] = [2]uint64{a, n}
			return h.f.spend(64, off, "huge object index")
		})
		if err != nil {
			return nil, err
		}
		h.hugeObjs = objs
	}
	obj, ok := h.hugeObjs[key]
	if !ok {
		return nil, corrupt(at, "huge heap object %d not in its index", key)
	}
	hc, err := h.f.at(obj[0], int64(min(obj[1], 1<<62)), "huge heap object")
	if err != nil {
		return nil, err
	}
	return hc.b, nil
}

func (h *fractalHeap) managed(off, n uint64, at int64) ([]byte, error) {
	if n == 0 || off > 1<<62 || n > h.maxDirect {
		return nil, corrupt(at, "heap object at heap offset %d length %d", off, n)
	}
	if h.root == undefAddr {
		return nil, corrupt(at, "heap object in an empty heap")
	}
	if h.curRootRows == 0 {
		return h.direct(h.root, 0, h.startSize, off, n)
	}
	blockAddr, blockOff, rows := h.root, uint64(0), h.curRootRows
	for depth := 0; depth < 64; depth++ {
		ib, err := h.indirect(blockAddr, blockOff, rows)
		if err != nil {
			return nil, err
		}
		rel := off - blockOff
		if off < blockOff {
			return nil, corrupt(at, "heap offset %d before its block", off)
		}
		r := -1
		for i := 0; i < rows; i++ {
			if rel < h.rowOffset(i)+uint64(h.width)*h.rowSize(i) {
				r = i
				break
			}
		}
		if r < 0 {
			return nil, corrupt(at, "heap offset %d beyond its indirect block", off)
		}
		if rel < h.rowOffset(r) || h.rowSize(r) == 0 || (rel-h.rowOffset(r))/h.rowSize(r) >= uint64(h.width) {
			return nil, corrupt(at, "heap offset %d outside the rows of its indirect block", off)
		}
		col := int((rel - h.rowOffset(r)) / h.rowSize(r))
		child := ib[r*h.width+col]
		childOff := blockOff + h.rowOffset(r) + uint64(col)*h.rowSize(r)
		if child == undefAddr {
			return nil, corrupt(at, "heap offset %d in an unallocated block", off)
		}
		if r < h.maxDirRows {
			return h.direct(child, childOff, h.rowSize(r), off, n)
		}
		blockAddr, blockOff = child, childOff
		rows = log2(h.rowSize(r)) - log2(h.startSize*uint64(h.width)) + 1
		if rows <= 0 || rows > 64 {
			return nil, corrupt(at, "fractal heap indirect block rows")
		}
	}
	return nil, corrupt(at, "fractal heap nested too deeply")
}

func (h *fractalHeap) indirect(addr, blockOff uint64, rows int) ([]uint64, error) {
	if ib, ok := h.indirects[addr]; ok {
		if len(ib) != rows*h.width {
			return nil, corrupt(h.f.fileOff(addr), "fractal heap indirect block used with different sizes")
		}
		return ib, nil
	}
	ib, err := h.parseIndirect(addr, blockOff, rows)
	if err != nil {
		return nil, err
	}
	h.indirects[addr] = ib
	return ib, nil
}

// blockHeader reads the signature, version, heap address and block offset
// that start every indirect and direct block, and checks them against the
// heap and the offset the caller expects.
func (h *fractalHeap) blockHeader(c *cursor, sig, what string, blockOff uint64) error {
	c.sig(sig)
	ver := c.u8()
	hdr := c.addr()
	bo := c.uvar(h.offSize)
	if c.err != nil {
		return c.err
	}
	if ver != 0 || hdr != h.addr || bo != blockOff {
		return corrupt(c.base, "%s header (version %d, heap %#x, offset %d)", what, ver, hdr, bo)
	}
	return nil
}

func (h *fractalHeap) parseIndirect(addr, blockOff uint64, rows int) ([]uint64, error) {
	c, err := h.f.at(addr, -1, "fractal heap indirect block")
	if err != nil {
		return nil, err
	}
	if err := h.blockHeader(c, "FHIB", "fractal heap indirect block", blockOff); err != nil {
		return nil, err
	}
	n := rows * h.width
	if n > c.left()/h.f.sizeOff {
		return nil, corrupt(c.base, "fractal heap indirect block runs past the end of the file")
	}
	if err := h.f.spend(uint64(n)*8, c.base, "fractal heap indirect block"); err != nil {
		return nil, err
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = c.addr()
	}
	c.checksum("fractal heap indirect block")
	if c.err != nil {
		return nil, c.err
	}
	return out, nil
}

func (h *fractalHeap) direct(addr, blockOff, size, off, n uint64) ([]byte, error) {
	c, err := h.f.at(addr, int64(size), "fractal heap direct block")
	if err != nil {
		return nil, err
	}
	if err := h.blockHeader(c, "FHDB", "fractal heap direct block", blockOff); err != nil {
		return nil, err
	}
	if h.flags&0x02 != 0 && !h.directs[addr] {
		if err := h.f.spend(size, c.base, "fractal heap direct block"); err != nil {
			return nil, err
		}
		at := c.p
		sum := c.u32()
		if c.err != nil {
			return nil, c.err
		}
		img := append([]byte(nil), c.b...)
		copy(img[at:at+4], []byte{0, 0, 0, 0})
		if lookup3.Sum(img) != sum {
			return nil, corrupt(c.base, "fractal heap direct block checksum mismatch")
		}
		h.directs[addr] = true
	}
	rel := off - blockOff
	if off < blockOff || rel < uint64(c.p) || rel > size || n > size-rel {
		return nil, corrupt(c.base, "heap object at offset %d (+%d) outside its direct block", off, n)
	}
	return c.b[rel : rel+n], nil
}

// Package hdf5 reads the subset of HDF5 that Keras weight files use, in pure Go.
//
// The whole file is held in memory (Open takes a []byte). Supported: the
// structures that h5py (HDF5 1.8 to 1.14) writes with its default settings
// and with libver="latest":
//
//   - superblock versions 0, 1, 2 and 3 (the signature may sit at offset 0,
//     512, 1024, ...); offsets and lengths of 2, 4 or 8 bytes;
//   - object headers version 1 and 2 with continuation blocks (v2 checksums
//     verified);
//   - old-style groups (symbol table message, v1 B-tree, local heap, symbol
//     table nodes) and new-style groups (link messages in the header, and
//     dense storage: link info message, fractal heap, v2 B-tree name index);
//     hard and soft links;
//   - attributes in the object header and in dense storage (attribute info
//     message, fractal heap including huge and tiny objects, v2 B-tree);
//   - datasets with compact, contiguous and chunked layout (data layout
//     message version 3 and 4); chunk indexes: v1 B-tree, single chunk,
//     implicit, fixed array (paged too), extensible array (with super and
//     data blocks), v2 B-tree (filtered and unfiltered records); filters
//     deflate, shuffle and fletcher32; storage never written (a contiguous
//     dataset without an address, missing chunks) reads as the fill value,
//     up to Limits.MaxFillBytes per dataset;
//   - datatypes: IEEE float (16, 32, 64 bit, either byte order), integers,
//     fixed-length strings and variable-length strings (global heap).
//
// Anything else (external storage, virtual datasets, shared object header
// messages, committed datatypes in messages, szip/nbit/scaleoffset and
// third-party filters, compound/array/enum/reference types, external links,
// filtered fractal heaps, ...) is reported as an error wrapping
// ErrUnsupported that names the feature and the file offset. Malformed input
// yields an error wrapping ErrCorrupt: every offset and length read from the
// file is bounds-checked, traversals of B-trees, heaps and header
// continuations remember what they visited, and recursion is depth-limited,
// so corrupt or cyclic structures never panic or hang.
//
// A small file must not make the reader allocate or work in proportion to
// what it declares rather than to what it holds. Before any value is
// allocated, a dataset's declared size is checked against its storage in
// the file (contiguous data must lie in the file, chunks too, a deflated
// chunk must be able to inflate to a chunk) and its size as returned
// against Limits.MaxDataBytes; and everything the reader parses or
// materialises is charged to a budget proportional to the file's size
// (Limits), which catches what no single check sees: many objects sharing
// one data region, one continuation block or one heap object, soft links
// through soft links. Exceeding a limit is an error wrapping ErrLimit.
//
// A File caches what it has parsed and is not safe for concurrent use.
package hdf5

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/rnc-dev/rnc/runtime/internal/lookup3"
)

var (
	// ErrUnsupported is wrapped by errors for valid HDF5 outside the subset.
	ErrUnsupported = errors.New("hdf5: unsupported HDF5 feature")
	// ErrCorrupt is wrapped by errors for malformed or truncated files.
	ErrCorrupt = errors.New("hdf5: corrupt or truncated file")
	// ErrNotFound is wrapped when a named object or attribute is absent.
	ErrNotFound = errors.New("hdf5: not found")
	// ErrLimit is wrapped when a file asks for more than its Limits allow.
	ErrLimit = errors.New("hdf5: over a reader limit")
)

// Limits bound what a file can make the reader allocate and do. A file
// holds the bytes it holds: a dataset's stored data must lie in the file,
// and structures are parsed from the file's bytes; but a small file can
// still declare huge values (a never-written dataset reads as its fill
// value, compressed chunks inflate, several objects may point at the same
// bytes). The limits turn each of those into an error naming the object.
type Limits struct {
	// MaxDataBytes bounds one dataset or attribute value as returned
	// (after conversion: Float64 of a float32 dataset counts 8 bytes per
	// element).
	MaxDataBytes int64
	// MaxFillBytes bounds the part of one dataset that has no storage
	// written (a contiguous dataset never written, chunks never written)
	// and so reads as the fill value. Keras writes every weight, so only a
	// corrupt or crafted file has more than a few such bytes.
	MaxFillBytes int64
	// BudgetPerByte and BudgetBase bound the total for one File of the
	// metadata parsed (object headers, B-tree nodes, heaps, chunk
	// indexes) and of the values materialised (datasets, attributes,
	// decompressed chunks): at most BudgetPerByte × the file's size +
	// BudgetBase bytes. Reading a file's metadata and data once costs
	// about 1-2× its size (4× its uncompressed size for compressed
	// chunks), so a valid file stays far below the budget unless it
	// compresses more than ~16:1.
	BudgetPerByte int64
	BudgetBase    int64
}

// DefaultLimits are the limits of Open.
func DefaultLimits() Limits {
	return Limits{MaxDataBytes: 4 << 30, MaxFillBytes: 1 << 20, BudgetPerByte: 64, BudgetBase: 16 << 20}
}

// Error describes a problem at a file offset.
type Error struct {
	Kind   error // ErrUnsupported, ErrCorrupt or ErrLimit
	What   string
	Offset int64
}

func (e *Error) Error() string {
	switch e.Kind {
	case ErrUnsupported:
		return fmt.Sprintf("hdf5: unsupported HDF5 feature %s at offset %d", e.What, e.Offset)
	case ErrLimit:
		return fmt.Sprintf("hdf5: over a reader limit: %s (at offset %d)", e.What, e.Offset)
	}
	return fmt.Sprintf("hdf5: corrupt file: %s at offset %d", e.What, e.Offset)
}

// Unwrap makes errors.Is(err, ErrUnsupported/ErrCorrupt/ErrLimit) work.
func (e *Error) Unwrap() error { return e.Kind }

func unsupported(off int64, format string, args ...any) error {
	return &Error{Kind: ErrUnsupported, What: fmt.Sprintf(format, args...), Offset: off}
}

func corrupt(off int64, format string, args ...any) error {
	return &Error{Kind: ErrCorrupt, What: fmt.Sprintf(format, args...), Offset: off}
}

const undefAddr = ^uint64(0)

var signature = []byte("\x89HDF\r\n\x1a\n")

// File is an open HDF5 file.
type File struct {
	data    []byte
	base    uint64 // base address: file offset that addresses are relative to
	sizeOff int    // size of offsets (addresses) in bytes
	sizeLen int    // size of lengths in bytes
	// SuperblockVersion is the version of the file's superblock (0-3).
	SuperblockVersion int
	rootAddr          uint64

	headers  map[uint64]*objectHeader
	links    map[uint64][]link
	attrs    map[uint64][]*Attribute
	datasets map[uint64]*datasetInfo
	gheaps   map[uint64]map[uint16][]byte
	fheaps   map[uint64]*fractalHeap

	lim    Limits
	budget uint64 // BudgetPerByte × len(data) + BudgetBase
	spent  uint64

	inflater io.ReadCloser // a zlib reader, reset for each chunk
}

// spend charges n bytes of work or memory to the file's budget (see
// Limits); at is the file offset of the structure being read.
func (f *File) spend(n uint64, at int64, what string) error {
	if n > f.budget-f.spent {
		return &Error{Kind: ErrLimit, Offset: at, What: fmt.Sprintf(
			"%s: %d more bytes would exceed the reader's budget for this %d-byte file (%d bytes: %d × its size + %d; %d spent)",
			what, n, len(f.data), f.budget, f.lim.BudgetPerByte, f.lim.BudgetBase, f.spent)}
	}
	f.spent += n
	return nil
}

// Spent reports the bytes charged to the file's budget so far (see Limits).
func (f *File) Spent() uint64 { return f.spent }

// FindSignature returns the offset of the HDF5 signature (0, 512, 1024,
// 2048, ...) or -1.
func FindSignature(data []byte) int64 {
	for off := int64(0); off+int64(len(signature)) <= int64(len(data)); {
		if bytes.Equal(data[off:off+int64(len(signature))], signature) {
			return off
		}
		if off == 0 {
			off = 512
		} else {
			off *= 2
		}
	}
	return -1
}

// Open parses the superblock of an HDF5 file held in memory, with
// DefaultLimits. The slice is retained and must not be modified afterwards.
func Open(data []byte) (*File, error) { return OpenLimits(data, DefaultLimits()) }

// OpenLimits is Open with the given limits.
func OpenLimits(data []byte, lim Limits) (*File, error) {
	sb := FindSignature(data)
	if sb < 0 {
		return nil, corrupt(0, "no HDF5 signature (looked at offsets 0, 512, 1024, ...)")
	}
	f := &File{
		data:     data,
		headers:  map[uint64]*objectHeader{},
		links:    map[uint64][]link{},
		attrs:    map[uint64][]*Attribute{},
		datasets: map[uint64]*datasetInfo{},
		gheaps:   map[uint64]map[uint16][]byte{},
		fheaps:   map[uint64]*fractalHeap{},
		lim:      lim,
	}
	f.budget = satMul(uint64(max(lim.BudgetPerByte, 0)), uint64(len(data)))
	f.budget = satAdd(f.budget, uint64(max(lim.BudgetBase, 0)))
	c := &cursor{f: f, b: data[sb:], base: sb}
	c.skip(8)
	ver := int(c.u8())
	f.SuperblockVersion = ver
	if c.err != nil {
		return nil, c.err
	}
	switch ver {
	case 0, 1:
		c.u8() // free-space version
		c.u8() // root group symbol table entry version
		c.u8()
		c.u8() // shared header message format version
		f.sizeOff = int(c.u8())
		f.sizeLen = int(c.u8())
		c.u8()
		c.u16() // group leaf node K
		c.u16() // group internal node K
		c.u32() // file consistency flags
		if ver == 1 {
			c.u16() // indexed storage internal node K
			c.u16()
		}
		if err := f.checkSizes(c); err != nil {
			return nil, err
		}
		f.base = c.addr()
		c.addr() // free-space info
		c.addr() // end of file
		c.addr() // driver information block
		// Root group symbol table entry.
		c.length() // link name offset
		f.rootAddr = c.addr()
	case 2, 3:
		f.sizeOff = int(c.u8())
		f.sizeLen = int(c.u8())
		c.u8() // flags
		if err := f.checkSizes(c); err != nil {
			return nil, err
		}
		f.base = c.addr()
		c.addr() // superblock extension
		c.addr() // end of file
		f.rootAddr = c.addr()
		if c.err == nil {
			end := c.p
			sum := c.u32()
			if c.err == nil && lookup3.Sum(c.b[:end]) != sum {
				return nil, corrupt(sb, "superblock checksum mismatch")
			}
		}
	default:
		return nil, unsupported(sb+8, "superblock version %d", ver)
	}
	if c.err != nil {
		return nil, c.err
	}
	if f.base == undefAddr || f.base > uint64(len(data)) {
		return nil, corrupt(sb, "base address %#x outside the file", f.base)
	}
	if f.rootAddr == undefAddr {
		return nil, corrupt(sb, "undefined root group address")
	}
	if _, err := f.header(f.rootAddr); err != nil {
		return nil, fmt.Errorf("hdf5: reading root group: %w", err)
	}
	return f, nil
}

func (f *File) checkSizes(c *cursor) error {
	if c.err != nil {
		return c.err
	}
	ok := func(n int) bool { return n == 2 || n == 4 || n == 8 }
	if !ok(f.sizeOff) || !ok(f.sizeLen) {
		return unsupported(c.off(), "size of offsets %d / size of lengths %d", f.sizeOff, f.sizeLen)
	}
	return nil
}

// fileOff converts an address to a file offset (for messages only).
func (f *File) fileOff(addr uint64) int64 {
	if addr == undefAddr {
		return -1
	}
	o := f.base + addr
	if o < addr || o > 1<<62 {
		return -1
	}
	return int64(o)
}

// at returns a cursor over the n bytes at addr; n < 0 means "to end of file".
func (f *File) at(addr uint64, n int64, what string) (*cursor, error) {
	if addr == undefAddr {
		return nil, corrupt(-1, "%s at undefined address", what)
	}
	o := f.base + addr
	if o < addr || o >= uint64(len(f.data)) {
		return nil, corrupt(int64(f.base), "%s address %#x is outside the file (size %d)", what, addr, len(f.data))
	}
	end := uint64(len(f.data))
	if n >= 0 {
		if uint64(n) > end-o {
			return nil, corrupt(int64(o), "%s of %d bytes runs past the end of the file", what, n)
		}
		end = o + uint64(n)
	}
	return &cursor{f: f, b: f.data[o:end], base: int64(o)}, nil
}

// cursor reads little-endian fields with bounds checks. The first error is
// sticky: later reads return zero values.
type cursor struct {
	f    *File
	b    []byte
	base int64
	p    int
	err  error
}

func (c *cursor) off() int64 { return c.base + int64(c.p) }

func (c *cursor) need(n int) bool {
	if c.err != nil {
		return false
	}
	if n < 0 || n > len(c.b)-c.p {
		c.err = corrupt(c.off(), "structure of %d bytes runs past its end (%d left)", n, len(c.b)-c.p)
		return false
	}
	return true
}

func (c *cursor) left() int { return len(c.b) - c.p }

func (c *cursor) skip(n int) {
	if c.need(n) {
		c.p += n
	}
}

func (c *cursor) bytes(n int) []byte {
	if !c.need(n) {
		return nil
	}
	b := c.b[c.p : c.p+n]
	c.p += n
	return b
}

func (c *cursor) u8() uint8 {
	if !c.need(1) {
		return 0
	}
	v := c.b[c.p]
	c.p++
	return v
}

func (c *cursor) u16() uint16 {
	if !c.need(2) {
		return 0
	}
	v := binary.LittleEndian.Uint16(c.b[c.p:])
	c.p += 2
	return v
}

func (c *cursor) u32() uint32 {
	if !c.need(4) {
		return 0
	}
	v := binary.LittleEndian.Uint32(c.b[c.p:])
	c.p += 4
	return v
}

func (c *cursor) u64() uint64 { return c.uvar(8) }

// uvar reads an n-byte little-endian unsigned integer (0 <= n <= 8).
func (c *cursor) uvar(n int) uint64 {
	if n > 8 {
		if c.err == nil {
			c.err = unsupported(c.off(), "%d-byte integer field", n)
		}
		return 0
	}
	if !c.need(n) {
		return 0
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(c.b[c.p+i])
	}
	c.p += n
	return v
}

// addr reads an address; the all-ones value becomes undefAddr.
func (c *cursor) addr() uint64 {
	n := c.f.sizeOff
	v := c.uvar(n)
	if c.err == nil && n < 8 && v == (uint64(1)<<(8*uint(n)))-1 {
		return undefAddr
	}
	return v
}

func (c *cursor) length() uint64 {
	n := c.f.sizeLen
	v := c.uvar(n)
	if c.err == nil && n < 8 && v == (uint64(1)<<(8*uint(n)))-1 {
		return undefAddr
	}
	return v
}

// signature checks a 4-byte signature.
func (c *cursor) sig(want string) bool {
	at := c.off()
	b := c.bytes(4)
	if c.err != nil {
		return false
	}
	if string(b) != want {
		c.err = corrupt(at, "expected signature %q, found %q", want, b)
		return false
	}
	return true
}

// checksum verifies that the 4 bytes at the cursor hold the lookup3 checksum
// of everything from the start of the cursor's buffer.
func (c *cursor) checksum(what string) {
	if c.err != nil {
		return
	}
	end := c.p
	at := c.off()
	sum := c.u32()
	if c.err == nil && lookup3.Sum(c.b[:end]) != sum {
		c.err = corrupt(at, "%s checksum mismatch", what)
	}
}

// log2 of a power of two (or floor log2 otherwise).
func log2(v uint64) int {
	n := 0
	for v > 1 {
		v >>= 1
		n++
	}
	return n
}

// limitEncSize is the number of bytes HDF5 uses to encode values up to v.
func limitEncSize(v uint64) int { return log2(v)/8 + 1 }

func isPow2(v uint64) bool { return v != 0 && v&(v-1) == 0 }

// satMul and satAdd saturate at the largest uint64.
func satMul(a, b uint64) uint64 {
	if a != 0 && b > math.MaxUint64/a {
		return math.MaxUint64
	}
	return a * b
}

func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return math.MaxUint64
	}
	return a + b
}

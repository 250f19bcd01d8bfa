// Package h5build writes small HDF5 files for tests: the structures h5py writes with libver="v108"/"latest" (superblock 2, object header 2, link messages), assembled by hand so that a test can also write the hostile variants a crafted file may hold.
package h5build

import (
	"encoding/binary"
	"math"

	"github.com/rnc-dev/rnc/runtime/internal/lookup3"
)

// Undef is HDF5's undefined address.
const Undef = ^uint64(0)

// File is an HDF5 file being written: 8-byte offsets and lengths, base
// address 0. Objects are appended in any order; Bytes writes the superblock.
type File struct {
	buf []byte
}

const superblockSize = 48

// New starts a file with room for the superblock.
func New() *File { return &File{buf: make([]byte, superblockSize)} }

// End is the address the next appended structure gets.
func (f *File) End() uint64 { return uint64(len(f.buf)) }

// Append writes raw bytes (data, a heap, ...) and returns their address.
func (f *File) Append(b []byte) uint64 {
	a := f.End()
	f.buf = append(f.buf, b...)
	return a
}

// Patch overwrites bytes at an address.
func (f *File) Patch(addr uint64, b []byte) { copy(f.buf[addr:], b) }

// Msg is one object header message.
type Msg struct {
	Type  uint8
	Flags uint8
	Data  []byte
}

func u16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func messages(msgs []Msg) []byte {
	var b []byte
	for _, m := range msgs {
		b = append(b, m.Type)
		b = append(b, u16(uint16(len(m.Data)))...)
		b = append(b, m.Flags)
		b = append(b, m.Data...)
	}
	return b
}

// Header appends a version 2 object header holding msgs and returns its
// address.
func (f *File) Header(msgs ...Msg) uint64 {
	body := messages(msgs)
	h := cat([]byte("OHDR"), []byte{2, 0x02}, u32(uint32(len(body))), body)
	h = append(h, u32(lookup3.Sum(h))...)
	return f.Append(h)
}

// ContinuationBlock appends an OCHK block holding msgs and returns its
// address and length (for a Continuation message).
func (f *File) ContinuationBlock(msgs ...Msg) (uint64, uint64) {
	b := cat([]byte("OCHK"), messages(msgs))
	b = append(b, u32(lookup3.Sum(b))...)
	return f.Append(b), uint64(len(b))
}

// Bytes returns the file with root as the root group's object header.
func (f *File) Bytes(root uint64) []byte {
	sb := cat([]byte("\x89HDF\r\n\x1a\n"), []byte{2, 8, 8, 0}, u64(0), u64(Undef), u64(f.End()), u64(root))
	sb = append(sb, u32(lookup3.Sum(sb))...)
	out := append([]byte(nil), f.buf...)
	copy(out, sb)
	return out
}

// Link is a hard link message.
func Link(name string, addr uint64) Msg {
	return Msg{Type: 0x06, Data: cat([]byte{1, 0, byte(len(name))}, []byte(name), u64(addr))}
}

// SoftLink is a soft link message.
func SoftLink(name, target string) Msg {
	return Msg{Type: 0x06, Data: cat([]byte{1, 0x08, 1, byte(len(name))}, []byte(name), u16(uint16(len(target))), []byte(target))}
}

// Continuation points to a continuation block.
func Continuation(addr, length uint64) Msg {
	return Msg{Type: 0x10, Data: cat(u64(addr), u64(length))}
}

// Float32Type is the datatype message of little-endian IEEE float32.
func Float32Type() Msg { return Msg{Type: 0x03, Data: float32Type()} }

func float32Type() []byte {
	return cat([]byte{0x11, 0x20, 0x1F, 0x00}, u32(4), u16(0), u16(32), []byte{23, 8, 0, 23}, u32(127))
}

func stringType(size int) []byte { return cat([]byte{0x13, 0x01, 0, 0}, u32(uint32(size))) }

func vlenStringType() []byte {
	return cat([]byte{0x19, 0x01, 0, 0}, u32(16), []byte{0x10, 0, 0, 0}, u32(1), u16(0), u16(8))
}

// Dataspace is a simple dataspace message (a scalar one without dims).
func Dataspace(dims ...uint64) Msg { return Msg{Type: 0x01, Data: dataspace(dims)} }

func dataspace(dims []uint64) []byte {
	typ := byte(1)
	if len(dims) == 0 {
		typ = 0
	}
	b := []byte{2, byte(len(dims)), 0, typ}
	for _, d := range dims {
		b = append(b, u64(d)...)
	}
	return b
}

// Contiguous is a data layout message for contiguous storage at addr (Undef:
// never written).
func Contiguous(addr, size uint64) Msg {
	return Msg{Type: 0x08, Data: cat([]byte{3, 1}, u64(addr), u64(size))}
}

// Compact is a data layout message holding the data itself.
func Compact(data []byte) Msg {
	return Msg{Type: 0x08, Data: cat([]byte{3, 0}, u16(uint16(len(data))), data)}
}

// ChunkedBtree1 is a version 3 chunked layout message indexed by the v1
// B-tree at addr; chunk holds the chunk's dimensions (without the element
// size).
func ChunkedBtree1(addr uint64, chunk []uint32, elemSize uint32) Msg {
	b := cat([]byte{3, 2, byte(len(chunk) + 1)}, u64(addr))
	for _, c := range chunk {
		b = append(b, u32(c)...)
	}
	return Msg{Type: 0x08, Data: append(b, u32(elemSize)...)}
}

// ChunkedImplicit is a version 4 chunked layout message with the implicit
// index: chunk i of the grid is stored at addr + i*chunk bytes.
func ChunkedImplicit(addr uint64, chunk []uint64, elemSize uint64) Msg {
	b := []byte{4, 2, 0, byte(len(chunk) + 1), 8}
	for _, c := range append(chunk, elemSize) {
		b = append(b, u64(c)...)
	}
	b = append(b, 2)
	return Msg{Type: 0x08, Data: append(b, u64(addr)...)}
}

// ChunkedSingle is a version 4 chunked layout message whose one chunk is
// stored at addr (filteredSize bytes if filtered, else > 0 ignored).
func ChunkedSingle(addr uint64, chunk []uint64, elemSize uint64, filteredSize uint64) Msg {
	flags := byte(0)
	if filteredSize > 0 {
		flags = 0x02
	}
	b := []byte{4, 2, flags, byte(len(chunk) + 1), 8}
	for _, c := range append(chunk, elemSize) {
		b = append(b, u64(c)...)
	}
	b = append(b, 1)
	if filteredSize > 0 {
		b = append(b, u64(filteredSize)...)
		b = append(b, u32(0)...)
	}
	return Msg{Type: 0x08, Data: append(b, u64(addr)...)}
}

// Chunk is one entry of a v1 chunk B-tree leaf.
type Chunk struct {
	Addr   uint64
	Size   uint32   // stored bytes
	Offset []uint64 // element offsets of the chunk in the dataset
}

// ChunkBtree1 appends a v1 B-tree leaf (type 1) listing chunks of a
// dataset of the given rank and returns its address.
func (f *File) ChunkBtree1(rank int, chunks []Chunk) uint64 {
	b := cat([]byte("TREE"), []byte{1, 0}, u16(uint16(len(chunks))), u64(Undef), u64(Undef))
	for _, c := range chunks {
		b = append(b, u32(c.Size)...)
		b = append(b, u32(0)...)
		for i := 0; i <= rank; i++ {
			v := uint64(0)
			if i < len(c.Offset) {
				v = c.Offset[i]
			}
			b = append(b, u64(v)...)
		}
		b = append(b, u64(c.Addr)...)
	}
	for i := 0; i <= rank+1; i++ { // final key
		b = append(b, u64(0)...)
	}
	return f.Append(b)
}

// Deflate is a filter pipeline message with the deflate filter.
func Deflate() Msg {
	return Msg{Type: 0x0B, Data: cat([]byte{2, 1}, u16(1), u16(0), u16(1), u32(6))}
}

// Fill is a fill value message (version 3) defining the fill value v.
func Fill(v []byte) Msg {
	return Msg{Type: 0x05, Data: cat([]byte{3, 0x20}, u32(uint32(len(v))), v)}
}

// AttrStrings is an attribute message holding fixed-length strings, as
// Keras writes layer_names and weight_names.
func AttrStrings(name string, vals []string) Msg {
	size := 1
	for _, v := range vals {
		size = max(size, len(v))
	}
	data := make([]byte, size*len(vals))
	for i, v := range vals {
		copy(data[i*size:], v)
	}
	return attr(name, stringType(size), []uint64{uint64(len(vals))}, data)
}

// AttrFloat32 is an attribute message holding float32 values.
func AttrFloat32(name string, dims []uint64, vals []float32) Msg {
	var data []byte
	for _, v := range vals {
		data = append(data, u32(math.Float32bits(v))...)
	}
	return attr(name, float32Type(), dims, data)
}

// VlenRef is a variable-length string element: its length and the global
// heap object holding it.
type VlenRef struct {
	Len        uint32
	Collection uint64
	Index      uint32
}

// AttrVlenStrings is an attribute message of variable-length strings.
func AttrVlenStrings(name string, refs []VlenRef) Msg {
	var data []byte
	for _, r := range refs {
		data = append(data, cat(u32(r.Len), u64(r.Collection), u32(r.Index))...)
	}
	return attr(name, vlenStringType(), []uint64{uint64(len(refs))}, data)
}

func attr(name string, dt []byte, dims []uint64, data []byte) Msg {
	ds := dataspace(dims)
	nm := append([]byte(name), 0)
	b := cat([]byte{3, 0}, u16(uint16(len(nm))), u16(uint16(len(dt))), u16(uint16(len(ds))), []byte{0}, nm, dt, ds, data)
	return Msg{Type: 0x0C, Data: b}
}

// GlobalHeap appends a global heap collection holding objs (indexes 1, 2,
// ...) and returns its address.
func (f *File) GlobalHeap(objs ...[]byte) uint64 {
	var body []byte
	for i, o := range objs {
		body = append(body, cat(u16(uint16(i+1)), u16(1), u32(0), u64(uint64(len(o))), o)...)
		for len(body)%8 != 0 {
			body = append(body, 0)
		}
	}
	body = append(body, make([]byte, 16)...) // free space: object 0
	size := uint64(16 + len(body))
	return f.Append(cat([]byte("GCOL"), []byte{1, 0, 0, 0}, u64(size), body))
}

// Dataset appends the object header of a float32 dataset with the given
// dims and layout (plus extra messages) and returns its address.
func (f *File) Dataset(dims []uint64, layout Msg, extra ...Msg) uint64 {
	return f.Header(append([]Msg{Float32Type(), Dataspace(dims...), layout}, extra...)...)
}

// Float32Data appends values as little-endian float32 and returns the
// address and size in bytes.
func (f *File) Float32Data(vals []float32) (uint64, uint64) {
	var b []byte
	for _, v := range vals {
		b = append(b, u32(math.Float32bits(v))...)
	}
	return f.Append(b), uint64(len(b))
}

// Keras2 appends a Keras 2 weights layout: root attribute layer_names and,
// per layer, a group with attribute weight_names whose members are the
// given dataset addresses (weight name -> dataset header). It returns the
// root's address. Weight names holding "/" go through an intermediate
// group, as h5py creates it.
func (f *File) Keras2(layers []Keras2Layer) uint64 {
	var names []string
	var links []Msg
	for _, l := range layers {
		names = append(names, l.Name)
		var wnames []string
		var members []Msg
		sub := map[string][]Msg{}
		var subOrder []string
		for _, w := range l.Weights {
			wnames = append(wnames, w.Name)
			dir, base := "", w.Name
			for i := len(w.Name) - 1; i >= 0; i-- {
				if w.Name[i] == '/' {
					dir, base = w.Name[:i], w.Name[i+1:]
					break
				}
			}
			if dir == "" {
				members = append(members, Link(base, w.Addr))
				continue
			}
			if _, ok := sub[dir]; !ok {
				subOrder = append(subOrder, dir)
			}
			sub[dir] = append(sub[dir], Link(base, w.Addr))
		}
		for _, dir := range subOrder {
			members = append(members, Link(dir, f.Header(sub[dir]...)))
		}
		attrs := []Msg{AttrStrings("weight_names", wnames)}
		if len(wnames) == 0 {
			attrs = []Msg{AttrFloat32("weight_names", []uint64{0}, nil)}
		}
		links = append(links, Link(l.Name, f.Header(append(attrs, members...)...)))
	}
	return f.Header(append([]Msg{AttrStrings("layer_names", names)}, links...)...)
}

// Keras2Layer is one layer of a Keras 2 file.
type Keras2Layer struct {
	Name    string
	Weights []Keras2Weight
}

// Keras2Weight is one weight of a Keras 2 layer: its name in weight_names
// ("dense/kernel:0") and its dataset's object header.
type Keras2Weight struct {
	Name string
	Addr uint64
}

package hdf5

import (
	"fmt"
	"sort"
	"strings"
)

type link struct {
	name string
	addr uint64 // hard links
	soft string // soft links
	hard bool
	off  int64
}

// Kind is the kind of an object.
type Kind int

// Object kinds.
const (
	KindGroup Kind = iota
	KindDataset
	KindDatatype
)

func (k Kind) String() string {
	switch k {
	case KindGroup:
		return "group"
	case KindDataset:
		return "dataset"
	}
	return "datatype"
}

// Object is a group, dataset or committed datatype.
type Object struct {
	f    *File
	addr uint64
	path string
	hdr  *objectHeader
}

// Group is a group object.
type Group struct{ *Object }

// Root returns the root group.
func (f *File) Root() *Group {
	h, err := f.header(f.rootAddr)
	if err != nil { // Open already parsed it
		h = &objectHeader{addr: f.rootAddr}
	}
	return &Group{&Object{f: f, addr: f.rootAddr, path: "/", hdr: h}}
}

// Path is the path by which the object was reached, e.g. "/a/b".
func (o *Object) Path() string { return o.path }

// Address is the object's header address (its identity in the file).
func (o *Object) Address() uint64 { return o.addr }

// Kind tells whether the object is a group, dataset or datatype.
func (o *Object) Kind() Kind { return o.hdr.kind }

// AsGroup returns the object as a group, or an error if it is not one.
func (o *Object) AsGroup() (*Group, error) {
	if k := o.Kind(); k != KindGroup {
		return nil, fmt.Errorf("hdf5: %s is a %s, not a group", o.path, k)
	}
	return &Group{o}, nil
}

// AsDataset returns the object as a dataset, or an error if it is not one.
func (o *Object) AsDataset() (*Dataset, error) {
	if k := o.Kind(); k != KindDataset {
		return nil, fmt.Errorf("hdf5: %s is a %s, not a dataset", o.path, k)
	}
	d, err := o.f.dataset(o)
	if err != nil {
		return nil, fmt.Errorf("hdf5: dataset %s: %w", o.path, err)
	}
	return d, nil
}

// ---------------------------------------------------------------------------
// attributes

// Attrs returns all attributes of the object: those in the object header in
// header (creation) order, then densely stored ones sorted by name. The
// attributes are parsed once per object; the slice is the caller's.
func (o *Object) Attrs() ([]*Attribute, error) {
	if as, ok := o.f.attrs[o.addr]; ok {
		return append([]*Attribute(nil), as...), nil
	}
	as, err := o.parseAttrs()
	if err != nil {
		return nil, err
	}
	o.f.attrs[o.addr] = as
	return append([]*Attribute(nil), as...), nil
}

func (o *Object) parseAttrs() ([]*Attribute, error) {
	var out []*Attribute
	for i := range o.hdr.msgs {
		m := &o.hdr.msgs[i]
		switch m.typ {
		case msgAttribute:
			if err := checkShared(m, "attribute"); err != nil {
				return nil, fmt.Errorf("hdf5: %s: %w", o.path, err)
			}
			a, err := o.f.parseAttribute(m.data, m.off)
			if err != nil {
				return nil, fmt.Errorf("hdf5: %s: %w", o.path, err)
			}
			out = append(out, a)
		case msgAttrInfo:
			dense, err := o.f.denseAttrs(m)
			if err != nil {
				return nil, fmt.Errorf("hdf5: %s: dense attributes: %w", o.path, err)
			}
			out = append(out, dense...)
		}
	}
	return out, nil
}

// AttrNames lists the attribute names.
func (o *Object) AttrNames() ([]string, error) {
	as, err := o.Attrs()
	if err != nil {
		return nil, err
	}
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = a.Name
	}
	return names, nil
}

// Attr returns the named attribute; the error wraps ErrNotFound if absent.
func (o *Object) Attr(name string) (*Attribute, error) {
	as, err := o.Attrs()
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		if a.Name == name {
			return a, nil
		}
	}
	return nil, fmt.Errorf("%w: attribute %q of %s", ErrNotFound, name, o.path)
}

func (f *File) denseAttrs(m *message) ([]*Attribute, error) {
	c := &cursor{f: f, b: m.data, base: m.off}
	ver := c.u8()
	flags := c.u8()
	if flags&1 != 0 {
		c.u16() // maximum creation index
	}
	heapAddr := c.addr()
	nameBtree := c.addr()
	if c.err != nil {
		return nil, c.err
	}
	if ver != 0 {
		return nil, unsupported(m.off, "attribute info message version %d", ver)
	}
	if heapAddr == undefAddr || nameBtree == undefAddr {
		return nil, nil
	}
	heap, err := f.fractalHeap(heapAddr)
	if err != nil {
		return nil, err
	}
	t, err := f.openBtree2(nameBtree, 8)
	if err != nil {
		return nil, err
	}
	var out []*Attribute
	err = t.each(func(rec []byte, off int64) error {
		if len(rec) < 9 {
			return corrupt(off, "attribute name record of %d bytes", len(rec))
		}
		if rec[8]&0x02 != 0 {
			return unsupported(off, "shared attribute message")
		}
		obj, err := heap.get(rec[:8], off)
		if err != nil {
			return err
		}
		a, err := f.parseAttribute(obj, off)
		if err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// ---------------------------------------------------------------------------
// links

func (f *File) groupLinks(o *Object) ([]link, error) {
	if ls, ok := f.links[o.addr]; ok {
		return ls, nil
	}
	var out []link
	h := o.hdr
	for i := range h.msgs {
		m := &h.msgs[i]
		switch m.typ {
		case msgSymbolTable:
			ls, err := f.symbolTable(m)
			if err != nil {
				return nil, err
			}
			out = append(out, ls...)
		case msgLink:
			l, err := f.parseLink(m.data, m.off)
			if err != nil {
				return nil, err
			}
			out = append(out, l)
		case msgLinkInfo:
			ls, err := f.denseLinks(m)
			if err != nil {
				return nil, err
			}
			out = append(out, ls...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	for i := 1; i < len(out); i++ {
		if out[i].name == out[i-1].name {
			return nil, corrupt(out[i].off, "duplicate link name %q", out[i].name)
		}
	}
	f.links[o.addr] = out
	return out, nil
}

// linkCost is what one parsed link costs the budget besides its name.
const linkCost = 64

func (f *File) parseLink(data []byte, off int64) (link, error) {
	if err := f.spend(uint64(len(data))+linkCost, off, "link"); err != nil {
		return link{}, err
	}
	c := &cursor{f: f, b: data, base: off}
	ver := c.u8()
	flags := c.u8()
	if c.err != nil {
		return link{}, c.err
	}
	if ver != 1 {
		return link{}, unsupported(off, "link message version %d", ver)
	}
	typ := uint8(0)
	if flags&0x08 != 0 {
		typ = c.u8()
	}
	if flags&0x04 != 0 {
		c.u64() // creation order
	}
	if flags&0x10 != 0 {
		c.u8() // character set
	}
	n := c.uvar(1 << (flags & 3))
	if c.err == nil && (n == 0 || n > uint64(c.left())) {
		return link{}, corrupt(off, "link name length %d", n)
	}
	name := string(c.bytes(int(n)))
	l := link{name: name, off: off}
	switch typ {
	case 0:
		l.hard = true
		l.addr = c.addr()
	case 1:
		k := c.u16()
		l.soft = string(c.bytes(int(k)))
	case 64:
		return link{}, unsupported(off, "external link %q", name)
	default:
		return link{}, unsupported(off, "link type %d (%q)", typ, name)
	}
	if c.err != nil {
		return link{}, c.err
	}
	if strings.ContainsRune(name, '/') || name == "." {
		return link{}, corrupt(off, "link name %q", name)
	}
	return l, nil
}

func (f *File) denseLinks(m *message) ([]link, error) {
	c := &cursor{f: f, b: m.data, base: m.off}
	ver := c.u8()
	flags := c.u8()
	if flags&1 != 0 {
		c.u64() // maximum creation index
	}
	heapAddr := c.addr()
	nameBtree := c.addr()
	if c.err != nil {
		return nil, c.err
	}
	if ver != 0 {
		return nil, unsupported(m.off, "link info message version %d", ver)
	}
	if heapAddr == undefAddr || nameBtree == undefAddr {
		return nil, nil // compact storage: links are messages
	}
	heap, err := f.fractalHeap(heapAddr)
	if err != nil {
		return nil, err
	}
	t, err := f.openBtree2(nameBtree, 5)
	if err != nil {
		return nil, err
	}
	var out []link
	err = t.each(func(rec []byte, off int64) error {
		if len(rec) < 5 {
			return corrupt(off, "link name record of %d bytes", len(rec))
		}
		obj, err := heap.get(rec[4:], off+4)
		if err != nil {
			return err
		}
		l, err := f.parseLink(obj, off)
		if err != nil {
			return err
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

func (f *File) symbolTable(m *message) ([]link, error) {
	c := &cursor{f: f, b: m.data, base: m.off}
	btree := c.addr()
	heapAddr := c.addr()
	if c.err != nil {
		return nil, c.err
	}
	// Local heap.
	hc, err := f.at(heapAddr, -1, "local heap")
	if err != nil {
		return nil, err
	}
	hc.sig("HEAP")
	ver := hc.u8()
	hc.skip(3)
	size := hc.length()
	hc.length() // free list offset
	dataAddr := hc.addr()
	if hc.err != nil {
		return nil, hc.err
	}
	if ver != 0 {
		return nil, unsupported(hc.base, "local heap version %d", ver)
	}
	heap, err := f.at(dataAddr, int64(min(size, 1<<62)), "local heap data")
	if err != nil {
		return nil, err
	}
	if err := f.spend(uint64(len(heap.b)), heap.base, "local heap"); err != nil {
		return nil, err
	}
	// Names are substrings of one copy of the heap: entries naming the same
	// bytes many times cost nothing more.
	heapStr := string(heap.b)
	name := func(off uint64) (string, error) {
		if off >= uint64(len(heapStr)) {
			return "", corrupt(heap.base, "name offset %d outside the local heap (%d bytes)", off, len(heapStr))
		}
		b := heapStr[off:]
		i := strings.IndexByte(b, 0)
		if i < 0 {
			return "", corrupt(heap.base+int64(off), "unterminated name in local heap")
		}
		return b[:i], nil
	}
	var out []link
	seen := map[uint64]bool{}
	var walk func(addr uint64, depth int) error
	walk = func(addr uint64, depth int) error {
		if depth > 64 {
			return corrupt(f.fileOff(addr), "group B-tree too deep")
		}
		if seen[addr] {
			return corrupt(f.fileOff(addr), "group B-tree node visited twice")
		}
		seen[addr] = true
		nc, err := f.at(addr, -1, "group B-tree node")
		if err != nil {
			return err
		}
		nc.sig("TREE")
		typ := nc.u8()
		level := nc.u8()
		used := int(nc.u16())
		nc.addr() // left sibling
		nc.addr() // right sibling
		if nc.err != nil {
			return nc.err
		}
		if typ != 0 {
			return corrupt(nc.base, "group B-tree node of type %d", typ)
		}
		if err := f.spend(uint64(24+used*2*f.sizeOff), nc.base, "group B-tree node"); err != nil {
			return err
		}
		var kids []uint64
		for i := 0; i < used; i++ {
			nc.length() // key
			kids = append(kids, nc.addr())
			if nc.err != nil {
				return nc.err
			}
		}
		for _, k := range kids {
			if level > 0 {
				if err := walk(k, depth+1); err != nil {
					return err
				}
				continue
			}
			if seen[k] {
				return corrupt(f.fileOff(k), "symbol table node visited twice")
			}
			seen[k] = true
			sc, err := f.at(k, -1, "symbol table node")
			if err != nil {
				return err
			}
			sc.sig("SNOD")
			sver := sc.u8()
			sc.u8()
			n := int(sc.u16())
			if sc.err != nil {
				return sc.err
			}
			if sver != 1 {
				return unsupported(sc.base, "symbol table node version %d", sver)
			}
			if err := f.spend(uint64(8+n*(f.sizeLen+f.sizeOff+24)+n*linkCost), sc.base, "symbol table node"); err != nil {
				return err
			}
			for j := 0; j < n; j++ {
				at := sc.off()
				nameOff := sc.length()
				obj := sc.addr()
				cache := sc.u32()
				sc.u32()
				scratch := sc.bytes(16)
				if sc.err != nil {
					return sc.err
				}
				nm, err := name(nameOff)
				if err != nil {
					return err
				}
				if nm == "" || strings.ContainsRune(nm, '/') {
					return corrupt(at, "link name %q", nm)
				}
				l := link{name: nm, addr: obj, hard: true, off: at}
				if cache == 2 {
					s, err := name(uint64(scratch[0]) | uint64(scratch[1])<<8 | uint64(scratch[2])<<16 | uint64(scratch[3])<<24)
					if err != nil {
						return err
					}
					l = link{name: nm, soft: s, off: at}
				}
				out = append(out, l)
			}
		}
		return nil
	}
	if btree == undefAddr {
		return nil, nil
	}
	return out, walk(btree, 0)
}

// ---------------------------------------------------------------------------
// navigation

// Names lists the names of the group's members, sorted bytewise (h5py's
// default iteration order).
func (g *Group) Names() ([]string, error) {
	ls, err := g.f.groupLinks(g.Object)
	if err != nil {
		return nil, fmt.Errorf("hdf5: group %s: %w", g.path, err)
	}
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.name
	}
	return names, nil
}

// Has reports whether path names an existing object.
func (g *Group) Has(path string) bool {
	_, err := g.Lookup(path)
	return err == nil
}

// Lookup resolves a path ("a/b/c", or "/a/b" from the root) relative to g,
// following soft links.
func (g *Group) Lookup(path string) (*Object, error) {
	hops := 0
	return g.lookup(path, &hops)
}

// maxLinkHops bounds the soft links followed by one Lookup, in total (a
// soft link's target may itself go through soft links).
const maxLinkHops = 32

func (g *Group) lookup(path string, hops *int) (*Object, error) {
	cur := g.Object
	if strings.HasPrefix(path, "/") {
		cur = g.f.Root().Object
	}
	for _, part := range strings.Split(path, "/") {
		if part == "" || part == "." {
			continue
		}
		if k := cur.Kind(); k != KindGroup {
			return nil, fmt.Errorf("hdf5: %s is a %s, not a group (looking up %q)", cur.path, k, path)
		}
		ls, err := g.f.groupLinks(cur)
		if err != nil {
			return nil, fmt.Errorf("hdf5: group %s: %w", cur.path, err)
		}
		i := sort.Search(len(ls), func(i int) bool { return ls[i].name >= part })
		if i == len(ls) || ls[i].name != part {
			return nil, fmt.Errorf("%w: %q in group %s", ErrNotFound, part, cur.path)
		}
		l := ls[i]
		child := joinPath(cur.path, part)
		if !l.hard {
			if *hops >= maxLinkHops {
				return nil, fmt.Errorf("hdf5: more than %d soft links followed resolving %q", maxLinkHops, path)
			}
			*hops++
			o, err := (&Group{cur}).lookup(l.soft, hops)
			if err != nil {
				return nil, fmt.Errorf("hdf5: soft link %s -> %s: %w", child, l.soft, err)
			}
			cur = &Object{f: o.f, addr: o.addr, path: child, hdr: o.hdr}
			continue
		}
		h, err := g.f.header(l.addr)
		if err != nil {
			return nil, fmt.Errorf("hdf5: %s: %w", child, err)
		}
		cur = &Object{f: g.f, addr: l.addr, path: child, hdr: h}
	}
	return cur, nil
}

func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// Group returns the group at path (relative to g).
func (g *Group) Group(path string) (*Group, error) {
	o, err := g.Lookup(path)
	if err != nil {
		return nil, err
	}
	return o.AsGroup()
}

// Dataset returns the dataset at path (relative to g).
func (g *Group) Dataset(path string) (*Dataset, error) {
	o, err := g.Lookup(path)
	if err != nil {
		return nil, err
	}
	return o.AsDataset()
}

// Walk visits g and every object below it, depth first with members in name
// order. Objects reachable by several paths (hard links) are visited once;
// soft links are not followed. If fn returns an error, Walk stops with it.
func (g *Group) Walk(fn func(o *Object) error) error {
	seen := map[uint64]bool{}
	var walk func(o *Object, depth int) error
	walk = func(o *Object, depth int) error {
		if seen[o.addr] {
			return nil
		}
		seen[o.addr] = true
		if depth > 256 {
			return corrupt(o.hdr.off, "groups nested too deeply")
		}
		if err := fn(o); err != nil {
			return err
		}
		if o.Kind() != KindGroup {
			return nil
		}
		ls, err := g.f.groupLinks(o)
		if err != nil {
			return fmt.Errorf("hdf5: group %s: %w", o.path, err)
		}
		for _, l := range ls {
			if !l.hard {
				continue
			}
			child := joinPath(o.path, l.name)
			h, err := g.f.header(l.addr)
			if err != nil {
				return fmt.Errorf("hdf5: %s: %w", child, err)
			}
			if err := walk(&Object{f: g.f, addr: l.addr, path: child, hdr: h}, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(g.Object, 0)
}

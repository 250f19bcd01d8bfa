package runtime

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/rnc-dev/rnc/internal/fileio"
	"github.com/rnc-dev/rnc/runtime/abi"
	"github.com/rnc-dev/rnc/runtime/pytorch"
)

// maxSafetensorsHeader bounds the JSON header length read from a file; a
// larger value means a corrupt or hostile file.
const maxSafetensorsHeader = 100 << 20

// metadataKey is the reserved header key holding string metadata.
const metadataKey = "__metadata__"

// ParseSafetensors decodes a safetensors file held in memory. F32 tensors
// are supported, F16 and BF16 ones converted to float32 (Tensor.DType
// F32), and the I8 and U8 tensors of a quantized weight file
// (docs/int8.md; Tensor.DType says which). The tensors are listed in Order by their position
// in the data section (file order) and their values are copied out, so data
// may be dropped or reused afterwards. The header's "__metadata__" object, if
// any, goes into Metadata.
//
// Every inconsistency (truncation, malformed or duplicate JSON entries,
// unsupported dtypes, bad shapes or offsets, overlapping tensors) is
// reported as an error naming the tensor; non-finite values are accepted
// (Weights.Check rejects them).
func ParseSafetensors(data []byte) (*Weights, error) {
	ws, err := parseSafetensors(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return ws, nil
}

// ReadSafetensorsFile reads the safetensors file at path (a regular file)
// with all its tensors' data.
func ReadSafetensorsFile(path string) (*Weights, error) {
	ws, err := OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	if err := ws.loadAll(); err != nil {
		return nil, fmt.Errorf("reading weights %s: safetensors: %w", path, err)
	}
	return ws, nil // the deferred Close closes the file; the data is loaded
}

// stEntry is one tensor of a safetensors header.
type stEntry struct {
	name       string
	dtype      abi.DType
	shape      []int
	n          int // number of elements
	begin, end int // byte offsets in the data section
	// half is "F16" or "BF16" for a float32 tensor stored in 16 bits
	// (as timm and Hugging Face publish), converted when read.
	half string
}

// elemSize is the size of one stored element.
func (e stEntry) elemSize() int {
	if e.half != "" {
		return 2
	}
	return e.dtype.Size()
}

// halfToFloat32 converts n 16-bit values of type half ("F16", "BF16").
func halfToFloat32(half string, raw []byte, n int) []float32 {
	vals := make([]float32, n)
	for i := range vals {
		h := binary.LittleEndian.Uint16(raw[2*i:])
		if half == "F16" {
			vals[i] = pytorch.Float16ToFloat32(h)
		} else {
			vals[i] = pytorch.BFloat16ToFloat32(h)
		}
	}
	return vals
}

// stDTypes are the safetensors element types rnc reads and writes, with
// their element types.
var stDTypes = []struct {
	name  string
	dtype abi.DType
}{{"F32", abi.F32}, {"I8", abi.S8}, {"U8", abi.U8}}

// stDTypeName is d's safetensors name, "" if rnc does not store d.
func stDTypeName(d abi.DType) string {
	for _, t := range stDTypes {
		if t.dtype == d {
			return t.name
		}
	}
	return ""
}

func parseSafetensors(data []byte) (*Weights, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("file is %d bytes, shorter than the 8-byte header length", len(data))
	}
	hlen, err := headerLength(data[:8], int64(len(data)))
	if err != nil {
		return nil, err
	}
	ws, entries, err := parseHeader(data[8:8+hlen], len(data)-8-hlen)
	if err != nil {
		return nil, err
	}
	section := data[8+hlen:]
	for _, e := range entries {
		raw := section[e.begin:e.end]
		t := ws.Tensors[e.name]
		switch e.dtype {
		case abi.S8:
			t.I8 = bytesAsInt8(raw)
		case abi.U8:
			t.U8 = append([]uint8{}, raw...)
		default:
			if e.half != "" {
				t.Data = halfToFloat32(e.half, raw, e.n)
				break
			}
			vals := make([]float32, e.n)
			for i := range vals {
				vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
			t.Data = vals
		}
	}
	return ws, nil
}

// headerLength reads the 8-byte header length of a file of size bytes.
func headerLength(b []byte, size int64) (int, error) {
	hlen := binary.LittleEndian.Uint64(b)
	if hlen > maxSafetensorsHeader {
		return 0, fmt.Errorf("header length %d exceeds the %d MiB limit", hlen, maxSafetensorsHeader>>20)
	}
	if hlen > uint64(size-8) {
		return 0, fmt.Errorf("header length %d is larger than the %d bytes after the length field", hlen, size-8)
	}
	return int(hlen), nil
}

// parseHeader validates a JSON header against a data section of
// sectionLen bytes and returns the tensors (shapes, no data) in file order.
func parseHeader(header []byte, sectionLen int) (*Weights, []stEntry, error) {
	if !utf8.Valid(header) {
		return nil, nil, errors.New("header is not valid UTF-8")
	}
	members, err := jsonObject(header, "tensor name")
	if err != nil {
		return nil, nil, fmt.Errorf("header is not a valid JSON object: %w", err)
	}

	ws := NewWeights()
	entries := make([]stEntry, 0, len(members))
	for _, m := range members {
		if m.key == metadataKey {
			md, err := parseMetadata(m.val)
			if err != nil {
				return nil, nil, err
			}
			ws.Metadata = md
			continue
		}
		if strings.HasSuffix(m.key, ".num_batches_tracked") && !strings.Contains(m.key, "/") {
			continue // a PyTorch batch norm's counter (int64), which rnc drops
		}
		e, err := parseEntry(m.key, m.val, sectionLen)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", m.key, err)
		}
		entries = append(entries, e)
	}

	// File order; the stable sort keeps header order among empty tensors
	// sharing an offset.
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].begin != entries[j].begin {
			return entries[i].begin < entries[j].begin
		}
		return entries[i].end < entries[j].end
	})
	last := -1 // index of the non-empty tensor reaching furthest so far
	for i, e := range entries {
		if e.begin == e.end {
			continue
		}
		if last >= 0 && e.begin < entries[last].end {
			p := entries[last]
			return nil, nil, fmt.Errorf("tensors %q (bytes [%d, %d)) and %q (bytes [%d, %d)) overlap",
				p.name, p.begin, p.end, e.name, e.begin, e.end)
		}
		last = i
	}
	for _, e := range entries {
		ws.Tensors[e.name] = &Tensor{Name: e.name, Shape: e.shape, DType: e.dtype}
		ws.Order = append(ws.Order, e.name)
	}
	return ws, entries, nil
}

// OpenSafetensors reads a safetensors file's header and returns its tensors
// without their data, which is read from the file when asked for
// (Weights.Data). Only regular files are read. Close the result to close the
// file.
func OpenSafetensors(path string) (*Weights, error) {
	f, st, err := fileio.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading weights: %w", err)
	}
	ws, err := openSafetensors(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading weights %s: safetensors: %w", path, err)
	}
	return ws, nil
}

// openSafetensors reads the header of the safetensors file f of size bytes:
// the 8-byte length and the header, nothing more.
func openSafetensors(f readerAtCloser, size int64) (*Weights, error) {
	if size < 8 {
		return nil, fmt.Errorf("file is %d bytes, shorter than the 8-byte header length", size)
	}
	var b [8]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return nil, err
	}
	hlen, err := headerLength(b[:], size)
	if err != nil {
		return nil, err
	}
	header := make([]byte, hlen)
	if _, err := f.ReadAt(header, 8); err != nil {
		return nil, fmt.Errorf("reading the %d-byte header: %w", hlen, err)
	}
	ws, entries, err := parseHeader(header, int(size-8-int64(hlen)))
	if err != nil {
		return nil, err
	}
	src := &fileSource{f: f, start: 8 + int64(hlen), at: map[string]stEntry{}}
	for _, e := range entries {
		src.at[e.name] = e
	}
	ws.src = src
	return ws, nil
}

// readerAtCloser is what a safetensors file is read through (an *os.File).
type readerAtCloser interface {
	io.ReaderAt
	io.Closer
}

// fileSource reads tensor data from an open safetensors file.
type fileSource struct {
	f     readerAtCloser
	start int64
	at    map[string]stEntry
}

func (s *fileSource) read(name string) ([]float32, error) {
	e, ok := s.at[name]
	if !ok {
		return nil, fmt.Errorf("no tensor %q in the file", name)
	}
	if e.dtype != abi.F32 {
		return nil, fmt.Errorf("tensor %q holds %s values, not float32", name, e.dtype.GoType())
	}
	if e.half != "" {
		raw := make([]byte, 2*e.n)
		if _, err := s.f.ReadAt(raw, s.start+int64(e.begin)); err != nil {
			if err == io.EOF {
				err = errors.New("the file ends before them (was it truncated after it was opened?)")
			}
			return nil, fmt.Errorf("tensor %q: reading data bytes [%d, %d): %w", name, e.begin, e.end, err)
		}
		return halfToFloat32(e.half, raw, e.n), nil
	}
	vals := make([]float32, e.n)
	if e.n == 0 {
		return vals, nil
	}
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&vals[0])), 4*e.n)
	if _, err := s.f.ReadAt(raw, s.start+int64(e.begin)); err != nil {
		if err == io.EOF {
			err = errors.New("the file ends before them (was it truncated after it was opened?)")
		}
		return nil, fmt.Errorf("tensor %q: reading data bytes [%d, %d): %w", name, e.begin, e.end, err)
	}
	if !littleEndian {
		for i := range vals {
			vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	}
	return vals, nil
}

// readBytes reads the data of a tensor of one-byte elements.
func (s *fileSource) readBytes(name string) ([]byte, error) {
	e, ok := s.at[name]
	if !ok {
		return nil, fmt.Errorf("no tensor %q in the file", name)
	}
	if e.dtype.Size() != 1 {
		return nil, fmt.Errorf("tensor %q holds %s values, not bytes", name, e.dtype.GoType())
	}
	raw := make([]byte, e.n)
	if e.n == 0 {
		return raw, nil
	}
	if _, err := s.f.ReadAt(raw, s.start+int64(e.begin)); err != nil {
		if err == io.EOF {
			err = errors.New("the file ends before them (was it truncated after it was opened?)")
		}
		return nil, fmt.Errorf("tensor %q: reading data bytes [%d, %d): %w", name, e.begin, e.end, err)
	}
	return raw, nil
}

func (s *fileSource) close() error { return s.f.Close() }

// littleEndian reports whether this machine stores floats as the file does.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// maxRank bounds the rank of a tensor (HDF5's own limit; Keras weights have
// rank 1 to 4).
const maxRank = 32

// parseEntry validates one tensor's header entry against a data section of
// sectionLen bytes. Values are decoded by what they should be (a string, a
// short array of integers), so that a huge value of the wrong kind costs no
// more than its bytes.
func parseEntry(name string, raw json.RawMessage, sectionLen int) (stEntry, error) {
	e := stEntry{name: name}
	fields, err := jsonObject(raw, "key")
	if err != nil {
		return e, fmt.Errorf("entry is not a valid JSON object: %w", err)
	}
	vals := map[string]json.RawMessage{}
	for _, f := range fields {
		switch f.key {
		case "dtype", "shape", "data_offsets":
			vals[f.key] = f.val
		}
		// Other keys are ignored, as other readers do.
	}
	for _, k := range []string{"dtype", "shape", "data_offsets"} {
		if _, ok := vals[k]; !ok {
			return e, fmt.Errorf("missing %q", k)
		}
	}

	dtype, ok, err := jsonString(vals["dtype"])
	if err != nil {
		return e, fmt.Errorf("dtype: %w", err)
	}
	if !ok {
		return e, fmt.Errorf("dtype is %s, want the string \"F32\" (or \"I8\", \"U8\")", rawKind(vals["dtype"]))
	}
	known := false
	for _, t := range stDTypes {
		if dtype == t.name {
			e.dtype, known = t.dtype, true
		}
	}
	if dtype == "F16" || dtype == "BF16" {
		e.dtype, e.half, known = abi.F32, dtype, true
	}
	if !known {
		return e, fmt.Errorf("dtype %s is not supported, want F32 (or I8, U8 in a quantized file, or F16, BF16, read as float32)", dtype)
	}

	dims, n, err := jsonArray(vals["shape"], maxRank)
	if err != nil {
		return e, fmt.Errorf("shape: %w", err)
	}
	if dims == nil {
		return e, fmt.Errorf("shape is %s, want an array of non-negative integers", rawKind(vals["shape"]))
	}
	if n > maxRank {
		return e, fmt.Errorf("shape has more than %d dimensions", maxRank)
	}
	e.shape = make([]int, len(dims))
	e.n = 1
	for i, d := range dims {
		v, err := jsonInt(d)
		if err != nil {
			return e, fmt.Errorf("shape[%d]: %w", i, err)
		}
		e.shape[i] = v
		if v != 0 && e.n > math.MaxInt/v {
			return e, fmt.Errorf("shape %v: element count overflows", rawStrings(dims))
		}
		e.n *= v
	}
	if e.n > math.MaxInt/4 {
		return e, fmt.Errorf("shape %v: byte size overflows", e.shape)
	}

	offs, n, err := jsonArray(vals["data_offsets"], 2)
	if err != nil {
		return e, fmt.Errorf("data_offsets: %w", err)
	}
	if offs == nil || n != 2 {
		desc := rawKind(vals["data_offsets"])
		if offs != nil {
			desc = fmt.Sprintf("an array of %d elements", n)
			if n > 2 {
				desc = "an array of more than 2 elements"
			}
		}
		return e, fmt.Errorf("data_offsets is %s, want an array [begin, end] of two non-negative integers", desc)
	}
	if e.begin, err = jsonInt(offs[0]); err != nil {
		return e, fmt.Errorf("data_offsets begin: %w", err)
	}
	if e.end, err = jsonInt(offs[1]); err != nil {
		return e, fmt.Errorf("data_offsets end: %w", err)
	}
	if e.begin > e.end {
		return e, fmt.Errorf("data_offsets [%d, %d]: begin is after end", e.begin, e.end)
	}
	if e.end > sectionLen {
		return e, fmt.Errorf("data_offsets [%d, %d]: end is beyond the data section (%d bytes)", e.begin, e.end, sectionLen)
	}
	if size, esz := e.end-e.begin, e.elemSize(); size != esz*e.n {
		return e, fmt.Errorf("data_offsets [%d, %d] span %d bytes, want %d (%d bytes × %d elements of shape %v)",
			e.begin, e.end, size, esz*e.n, esz, e.n, e.shape)
	}
	return e, nil
}

// rawStrings returns raw values as strings, for messages.
func rawStrings(raw []json.RawMessage) []string {
	out := make([]string, len(raw))
	for i, r := range raw {
		out[i] = string(bytes.TrimSpace(r))
	}
	return out
}

// rawKind names the JSON type of a raw value by its first byte.
func rawKind(raw json.RawMessage) string {
	b := bytes.TrimLeft(raw, " \t\r\n")
	if len(b) == 0 {
		return "empty"
	}
	switch b[0] {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '[':
		return "an array"
	case '{':
		return "an object"
	}
	return "a number"
}

// jsonString decodes a raw value that should be a string; ok is false if it
// is of another kind.
func jsonString(raw json.RawMessage) (s string, ok bool, err error) {
	if rawKind(raw) != "a string" {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, jsonErr(err)
	}
	return s, true, nil
}

// jsonArray decodes a raw value that should be an array of at most max
// elements, returning them and the array's length, counted up to max+1 (a
// longer array is not decoded further). It returns nil if the value is not
// an array.
func jsonArray(raw json.RawMessage, max int) ([]json.RawMessage, int, error) {
	if rawKind(raw) != "an array" {
		return nil, 0, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '['
		return nil, 0, jsonErr(err)
	}
	vals := []json.RawMessage{}
	for dec.More() {
		if len(vals) == max {
			return vals, max + 1, nil
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, 0, jsonErr(err)
		}
		vals = append(vals, v)
	}
	return vals, len(vals), nil
}

// parseMetadata decodes the "__metadata__" value: an object of strings, or
// null (no metadata).
func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	md := map[string]string{}
	if string(bytes.TrimSpace(raw)) == "null" {
		return md, nil
	}
	members, err := jsonObject(raw, "metadata key")
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid JSON object of strings: %w", metadataKey, err)
	}
	for _, m := range members {
		s, ok, err := jsonString(m.val)
		if err != nil {
			return nil, fmt.Errorf("metadata %q: %w", m.key, err)
		}
		if !ok {
			return nil, fmt.Errorf("metadata %q is %s, want a string", m.key, rawKind(m.val))
		}
		md[m.key] = s
	}
	return md, nil
}

// jsonMember is one key/value pair of a JSON object, in document order.
type jsonMember struct {
	key string
	val json.RawMessage
}

// jsonObject splits the JSON object in b into its members, in order. Unlike
// decoding into a map it rejects duplicate keys ("duplicate <what> %q"). Only
// white space may follow the object.
func jsonObject(b []byte, what string) ([]jsonMember, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonErr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("found %s, want an object", jsonKind(tokValue(tok)))
	}
	var members []jsonMember
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("object key is %s, want a string", jsonKind(tokValue(tok)))
		}
		if seen[key] {
			return nil, fmt.Errorf("duplicate %s %q", what, key)
		}
		seen[key] = true
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, fmt.Errorf("value of %q: %w", key, jsonErr(err))
		}
		members = append(members, jsonMember{key, val})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, jsonErr(err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, fmt.Errorf("after the object: %w", jsonErr(err))
		}
		return nil, fmt.Errorf("unexpected %s after the object", jsonKind(tokValue(tok)))
	}
	return members, nil
}

// jsonErr makes a premature end of input readable.
func jsonErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("unexpected end of JSON input")
	}
	return err
}

// tokValue maps an opening delimiter token to a value of the same kind, for
// jsonKind.
func tokValue(tok json.Token) any {
	switch tok {
	case json.Delim('['):
		return []any{}
	case json.Delim('{'):
		return map[string]any{}
	}
	return tok
}

// jsonInt converts a raw JSON value to a non-negative int.
func jsonInt(raw json.RawMessage) (int, error) {
	if k := rawKind(raw); k != "a number" {
		return 0, fmt.Errorf("got %s, want a non-negative integer", k)
	}
	num := string(bytes.TrimSpace(raw))
	i, err := strconv.ParseInt(num, 10, 0)
	if err != nil || i < 0 {
		return 0, fmt.Errorf("got %s, want a non-negative integer", num)
	}
	return int(i), nil
}

// jsonKind names the JSON type of a value decoded with UseNumber.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case json.Delim:
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("%T", v)
}

// WriteSafetensors writes ws in safetensors format. The output is a
// function of ws alone: tensors in ws.Order with contiguous data offsets from
// 0, compact JSON with keys in a fixed order ("__metadata__" first, with
// sorted keys, when there is metadata; then the tensors with "dtype",
// "shape", "data_offsets"), and the header padded with spaces to a multiple
// of 8 bytes. It fails, writing nothing, if ws is inconsistent: a name in
// Order missing from Tensors or listed twice, a tensor not in Order, a data
// length that does not match the shape, or a name or metadata string that is
// not valid UTF-8.
func WriteSafetensors(w io.Writer, ws *Weights) error {
	header, err := safetensorsHeader(ws)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return writeSafetensors(w, ws, header)
}

func writeSafetensors(w io.Writer, ws *Weights, header []byte) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	var lenField [8]byte
	binary.LittleEndian.PutUint64(lenField[:], uint64(len(header)))
	bw.Write(lenField[:])
	bw.Write(header)
	buf := make([]byte, 0, 1<<16)
	for _, name := range ws.Order {
		t := ws.Tensors[name]
		switch t.DType {
		case abi.S8:
			for _, v := range t.I8 {
				bw.WriteByte(byte(v))
			}
		case abi.U8:
			bw.Write(t.U8)
		default:
			for _, v := range t.Data {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
				if len(buf) == cap(buf) {
					bw.Write(buf)
					buf = buf[:0]
				}
			}
			bw.Write(buf)
			buf = buf[:0]
		}
	}
	if err := bw.Flush(); err != nil { // bufio keeps the first write error
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// WriteSafetensorsFile writes ws to path (see WriteSafetensors). An
// inconsistent ws is reported before path is touched. The file is written
// next to path under a temporary name and renamed over it when complete, so
// a failed write leaves an existing file as it was; path must be a regular
// file or not exist (a device or a named pipe is refused, never removed).
func WriteSafetensorsFile(path string, ws *Weights) (err error) {
	header, err := safetensorsHeader(ws)
	if err != nil {
		return fmt.Errorf("writing weights %s: safetensors: %w", path, err)
	}
	target := path
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		target = resolved // write through a symbolic link, not over it
	}
	mode := os.FileMode(0o644)
	if st, err := os.Stat(target); err == nil {
		if !st.Mode().IsRegular() {
			return fmt.Errorf("writing weights: %s exists and is not a regular file", path)
		}
		mode = st.Mode().Perm()
	}
	f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing weights: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := writeSafetensors(f, ws, header); err != nil {
		return fmt.Errorf("writing weights %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("writing weights %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing weights %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), target); err != nil {
		return fmt.Errorf("writing weights %s: %w", path, err)
	}
	return nil
}

// safetensorsHeader validates ws and builds the padded JSON header.
func safetensorsHeader(ws *Weights) ([]byte, error) {
	if ws != nil {
		if err := ws.loadAll(); err != nil {
			return nil, err
		}
	}
	if ws == nil {
		return nil, errors.New("nil Weights")
	}
	var b bytes.Buffer
	b.WriteByte('{')
	if len(ws.Metadata) > 0 {
		keys := make([]string, 0, len(ws.Metadata))
		for k := range ws.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(`"` + metadataKey + `":{`)
		for i, k := range keys {
			v := ws.Metadata[k]
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, fmt.Errorf("metadata %q: key or value is not valid UTF-8", k)
			}
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, v)
		}
		b.WriteByte('}')
	}
	listed := make(map[string]bool, len(ws.Order))
	off := 0
	for _, name := range ws.Order {
		if listed[name] {
			return nil, fmt.Errorf("tensor %q is listed twice in Order", name)
		}
		listed[name] = true
		if name == metadataKey {
			return nil, fmt.Errorf("tensor name %q is reserved", name)
		}
		if !utf8.ValidString(name) {
			return nil, fmt.Errorf("tensor %q: name is not valid UTF-8", name)
		}
		t := ws.Tensors[name]
		if t == nil {
			return nil, fmt.Errorf("tensor %q is in Order but not in Tensors", name)
		}
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return nil, fmt.Errorf("tensor %q: negative dimension in shape %v", name, t.Shape)
			}
			if d != 0 && n > math.MaxInt/d {
				return nil, fmt.Errorf("tensor %q: shape %v: element count overflows", name, t.Shape)
			}
			n *= d
		}
		dtype := stDTypeName(t.DType)
		if dtype == "" {
			return nil, fmt.Errorf("tensor %q: element type %s cannot be stored (F32, I8 and U8 can)", name, t.DType)
		}
		for _, d := range stDTypes {
			k := map[abi.DType]int{abi.F32: len(t.Data), abi.S8: len(t.I8), abi.U8: len(t.U8)}[d.dtype]
			switch {
			case d.dtype == t.DType && k != n:
				return nil, fmt.Errorf("tensor %q: shape %v holds %d values, got %d", name, t.Shape, n, k)
			case d.dtype != t.DType && k > 0:
				return nil, fmt.Errorf("tensor %q of type %s also holds %d %s values", name, dtype, k, d.dtype.GoType())
			}
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		writeJSONString(&b, name)
		b.WriteString(`:{"dtype":"` + dtype + `","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		b.WriteString(`],"data_offsets":[`)
		b.WriteString(strconv.Itoa(off))
		b.WriteByte(',')
		off += t.DType.Size() * n
		b.WriteString(strconv.Itoa(off))
		b.WriteString("]}")
	}
	if len(ws.Tensors) != len(listed) {
		var missing []string
		for name := range ws.Tensors {
			if !listed[name] {
				missing = append(missing, name)
			}
		}
		sort.Strings(missing)
		return nil, fmt.Errorf("tensor %q is in Tensors but not in Order", missing[0])
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	if b.Len() > maxSafetensorsHeader {
		return nil, fmt.Errorf("header is %d bytes, over the %d MiB limit", b.Len(), maxSafetensorsHeader>>20)
	}
	return b.Bytes(), nil
}

// writeJSONString writes s (valid UTF-8) as a JSON string without HTML
// escaping.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)           // cannot fail for a string
	b.Truncate(b.Len() - 1) // drop Encode's newline
}

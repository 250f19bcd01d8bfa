package grpcv2

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rnc-dev/rnc/serve/grpcv2/inference"
)

// MaxObjects bounds the objects a ModelInferRequest's encoding may make
// the decoder allocate: submessages (map entries too), elements of
// repeated string and bytes fields, and packed varints. Each costs a byte
// or two on the wire and up to a hundred decoded (an empty
// InferInputTensor is 2 bytes, its struct about 100), so a body of
// MaxBodyBytes made of them would decode to fifty times its size; counted
// first, they are refused before anything is decoded. A request of the
// protocol's usual form holds a dozen; tensor data in fp32_contents or
// raw_input_contents counts one object at most. Everything else decodes to
// at most 4 times its encoding.
const MaxObjects = 1 << 14

// codec is gRPC's protobuf codec, with ModelInferRequest's encoding
// checked against MaxObjects before it is decoded.
type codec struct{ base encoding.CodecV2 }

func newCodec() codec {
	return codec{encoding.GetCodecV2("proto")}
}

func (c codec) Name() string { return c.base.Name() }

func (c codec) Marshal(v any) (mem.BufferSlice, error) { return c.base.Marshal(v) }

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	req, ok := v.(*inference.ModelInferRequest)
	if !ok {
		return c.base.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	n := MaxObjects
	if err := countObjects(b, req.ProtoReflect().Descriptor(), &n); err != nil {
		return fmt.Errorf("grpcv2: ModelInferRequest: %w", err)
	}
	return proto.Unmarshal(b, req) // copies what it keeps of b
}

var errTooMany = fmt.Errorf("its encoding holds more than %d submessages, map entries, repeated strings and packed varints (grpcv2.MaxObjects)", MaxObjects)

// countObjects subtracts from *left the objects decoding b as md would
// allocate, and fails when they are more than *left. Malformed wire data
// is left for proto.Unmarshal to refuse.
func countObjects(b []byte, md protoreflect.MessageDescriptor, left *int) error {
	take := func(k int) error {
		if *left -= k; *left < 0 {
			return errTooMany
		}
		return nil
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil
		}
		val := b[:n]
		b = b[n:]
		fd := md.Fields().ByNumber(num)
		if fd == nil { // an unknown field: kept as its bytes
			continue
		}
		k := fd.Kind()
		switch {
		case typ != protowire.BytesType: // a scalar: at most 8 bytes from 2 (tag and value)
		case k == protoreflect.MessageKind: // a submessage, an element of a list or map
			v, _ := protowire.ConsumeBytes(val)
			if err := take(1); err != nil {
				return err
			}
			if err := countObjects(v, fd.Message(), left); err != nil {
				return err
			}
		case k == protoreflect.StringKind || k == protoreflect.BytesKind:
			if fd.IsList() { // a new string or slice of at least 16 bytes from 1
				if err := take(1); err != nil {
					return err
				}
			}
		case fd.IsList() && varint(k): // packed varints: up to 8 bytes each from 1
			v, _ := protowire.ConsumeBytes(val)
			n := 0
			for _, c := range v {
				if c < 0x80 {
					n++
				}
			}
			if err := take(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// varint reports whether k's elements are varints wider than a byte
// when decoded (bool's are one byte).
func varint(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Uint32Kind, protoreflect.Uint64Kind,
		protoreflect.Sint32Kind, protoreflect.Sint64Kind, protoreflect.EnumKind:
		return true
	}
	return false
}

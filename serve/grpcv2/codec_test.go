package grpcv2

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/rnc-dev/rnc/serve/grpcv2/inference"
)

// Requests whose encodings hold more than MaxObjects small objects are
// refused before they are decoded; one just below reaches ModelInfer and
// its InvalidArgument.
func TestManyObjectsRefused(t *testing.T) {
	f := &fake{}
	cfg := testCfg
	cfg.MaxBatch = 1 << 14 // messages of up to 850 KB: the count refuses, not the size
	c := dial(t, newServer(t, f, cfg))
	many := MaxObjects + 1
	empty := func(n int) []*inference.ModelInferRequest_InferInputTensor {
		v := make([]*inference.ModelInferRequest_InferInputTensor, n)
		for i := range v {
			v[i] = &inference.ModelInferRequest_InferInputTensor{}
		}
		return v
	}
	params := map[string]*inference.InferParameter{}
	for i := range many {
		params[fmt.Sprint(i)] = &inference.InferParameter{}
	}
	cases := map[string]func(r *inference.ModelInferRequest){
		"inputs":             func(r *inference.ModelInferRequest) { r.Inputs = append(r.Inputs, empty(many)...) },
		"parameters":         func(r *inference.ModelInferRequest) { r.Parameters = params },
		"input parameters":   func(r *inference.ModelInferRequest) { r.Inputs[0].Parameters = params },
		"raw_input_contents": func(r *inference.ModelInferRequest) { r.RawInputContents = make([][]byte, many) },
		"shape":              func(r *inference.ModelInferRequest) { r.Inputs[0].Shape = make([]int64, many) },
		"int64_contents": func(r *inference.ModelInferRequest) {
			r.Inputs[0].Contents.Int64Contents = make([]int64, many)
		},
		"bytes_contents": func(r *inference.ModelInferRequest) {
			r.Inputs[0].Contents.BytesContents = make([][]byte, many)
		},
	}
	for name, mod := range cases {
		req := contentsRequest(1)
		mod(req)
		_, err := c.ModelInfer(context.Background(), req)
		checkCode(t, name, err, codes.Internal, "grpcv2.MaxObjects")
	}
	req := contentsRequest(1)
	req.Inputs = append(req.Inputs, empty(MaxObjects/2)...)
	_, err := c.ModelInfer(context.Background(), req)
	checkCode(t, "fewer than MaxObjects", err, codes.InvalidArgument, fmt.Sprintf("%d inputs", MaxObjects/2+1))
	if len(f.calls) != 0 {
		t.Errorf("Infer called %d times", len(f.calls))
	}
}

// A million empty inputs, 2 MB: decoded, they would take about fifty
// times that; the codec refuses them allocating little beyond the bytes.
func TestManyObjectsNoAllocation(t *testing.T) {
	var b []byte
	for range 1 << 20 {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, nil)
	}
	alloc := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	var err error
	refused := alloc(func() {
		err = newCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &inference.ModelInferRequest{})
	})
	if err == nil {
		t.Fatal("a million empty inputs: no error")
	}
	decoded := alloc(func() { proto.Unmarshal(b, &inference.ModelInferRequest{}) })
	t.Logf("%d bytes: refused allocating %d bytes; decoded, %d", len(b), refused, decoded)
	if refused > uint64(2*len(b)) || decoded < 20*uint64(len(b)) {
		t.Errorf("%d bytes: refusing them allocated %d bytes, decoding them %d", len(b), refused, decoded)
	}
}

// Tensor data and scalars count for nothing, packed or not; packed
// varints count one each.
func TestCountObjects(t *testing.T) {
	md := (&inference.InferTensorContents{}).ProtoReflect().Descriptor()
	n := 3 * MaxObjects
	var unpacked, packedFloats, packedBools, packedInts []byte
	var floats, bools, ints []byte
	for i := range n {
		unpacked = protowire.AppendTag(unpacked, 6, protowire.Fixed32Type)
		unpacked = protowire.AppendFixed32(unpacked, uint32(i))
		unpacked = protowire.AppendTag(unpacked, 3, protowire.VarintType)
		unpacked = protowire.AppendVarint(unpacked, 1)
		floats = protowire.AppendFixed32(floats, uint32(i))
		bools = protowire.AppendVarint(bools, 1)
		ints = protowire.AppendVarint(ints, uint64(i)) // 1 to 3 bytes each
	}
	packedFloats = protowire.AppendBytes(protowire.AppendTag(nil, 6, protowire.BytesType), floats)
	packedBools = protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), bools)
	packedInts = protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType), ints)
	for name, b := range map[string][]byte{"unpacked": unpacked, "packed floats": packedFloats, "packed bools": packedBools} {
		left := MaxObjects
		if err := countObjects(b, md, &left); err != nil || left != MaxObjects {
			t.Errorf("%s: %v, %d left", name, err, left)
		}
	}
	left := 4 * MaxObjects
	if err := countObjects(packedInts, md, &left); err != nil || left != MaxObjects {
		t.Errorf("packed varints: %v, %d left, want %d", err, left, MaxObjects)
	}
	left = MaxObjects
	if err := countObjects(packedInts, md, &left); err == nil {
		t.Errorf("%d packed varints: no error", n)
	}
}

// Another service registered on the same server decodes with gRPC's
// codec as usual.
func TestSharedServer(t *testing.T) {
	s := newServer(t, &fake{}, testCfg)
	g := s.GRPCServer()
	grpc_health_v1.RegisterHealthServer(g, health.NewServer())
	conn := serveOn(t, g)
	r, err := grpc_health_v1.NewHealthClient(conn).Check(context.Background(), &grpc_health_v1.HealthCheckRequest{})
	if err != nil || r.Status != grpc_health_v1.HealthCheckResponse_SERVING {
		t.Errorf("health Check: %v, %v", r, err)
	}
	if _, err := inference.NewGRPCInferenceServiceClient(conn).ModelInfer(context.Background(), rawRequest(1)); err != nil {
		t.Errorf("ModelInfer: %v", err)
	}
}

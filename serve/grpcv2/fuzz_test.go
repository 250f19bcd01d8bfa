package grpcv2

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rnc-dev/rnc/serve/grpcv2/inference"
)

// Whatever bytes arrive, decoding them as the server does and running
// ModelInfer neither panics nor answers anything but OK or a status of
// the client's making; an OK answer has n·Classes outputs for its n.
func FuzzModelInfer(f *testing.F) {
	for _, r := range []*inference.ModelInferRequest{contentsRequest(1), rawRequest(3), contentsRequest(2)} {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	s, err := NewServer(&fake{}, testCfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req inference.ModelInferRequest
		if newCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &req) != nil {
			return
		}
		r, err := s.ModelInfer(context.Background(), &req)
		if err != nil {
			if c := status.Code(err); c != codes.InvalidArgument && c != codes.NotFound {
				t.Fatalf("status %v: %v", c, err)
			}
			return
		}
		n := req.Inputs[0].Shape[0]
		if o := r.Outputs[0]; len(o.Shape) != 2 || o.Shape[0] != n || len(r.RawOutputContents) == 1 && int64(len(r.RawOutputContents[0])) != 4*n*int64(testCfg.Classes) {
			t.Fatalf("response %v for %d images", r, n)
		}
	})
}

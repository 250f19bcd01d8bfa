package grpcv2

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"github.com/rnc-dev/rnc/serve"
	"github.com/rnc-dev/rnc/serve/grpcv2/inference"
)

// testCfg: 2×2×3 images (12 floats), 4 classes, at most 3 per request.
var testCfg = serve.Config{Name: "toy", Version: "7", InputH: 2, InputW: 2, InputC: 3, Classes: 4, MaxBatch: 3}

const perImage = 12

// fake is an Inferer whose output k of image i is 2·(element k of image
// i): a batch split wrongly shows in the outputs. err, when set, is
// returned instead; block waits for the context to end.
type fake struct {
	err   error
	block bool
	mu    sync.Mutex
	calls []int // n of each call
}

func (f *fake) Infer(ctx context.Context, dst, src []float32, n int) error {
	f.mu.Lock()
	f.calls = append(f.calls, n)
	f.mu.Unlock()
	if f.block {
		<-ctx.Done()
		return fmt.Errorf("fake: waiting: %w", ctx.Err())
	}
	if f.err != nil {
		return f.err
	}
	if len(src) != n*perImage || len(dst) != n*testCfg.Classes {
		return fmt.Errorf("fake: %d inputs, %d outputs for %d images", len(src), len(dst), n)
	}
	for i := range n {
		for k := range testCfg.Classes {
			dst[i*testCfg.Classes+k] = 2 * src[i*perImage+k]
		}
	}
	return nil
}

// dial serves s on an in-memory listener and returns a client of it.
func dial(t *testing.T, s *Server) inference.GRPCInferenceServiceClient {
	t.Helper()
	return inference.NewGRPCInferenceServiceClient(serveOn(t, s.GRPCServer()))
}

// serveOn serves g on an in-memory listener and returns a connection to it.
func serveOn(t *testing.T, g *grpc.Server) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(math.MaxInt32)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func newServer(t *testing.T, inf serve.Inferer, cfg serve.Config) *Server {
	t.Helper()
	s, err := NewServer(inf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// images returns n images whose element k of image i is i·100+k+0.5.
func images(n int) []float32 {
	src := make([]float32, n*perImage)
	for i := range src {
		src[i] = float32(i/perImage*100+i%perImage) + 0.5
	}
	return src
}

// want is what fake answers for images(n).
func want(n int) []float32 {
	src, dst := images(n), make([]float32, n*testCfg.Classes)
	for i := range n {
		for k := range testCfg.Classes {
			dst[i*testCfg.Classes+k] = 2 * src[i*perImage+k]
		}
	}
	return dst
}

func rawBytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func fromRaw(t *testing.T, b []byte) []float32 {
	t.Helper()
	if len(b)%4 != 0 {
		t.Fatalf("raw output of %d bytes", len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// contentsRequest asks for n images of images(n) in fp32_contents.
func contentsRequest(n int) *inference.ModelInferRequest {
	return &inference.ModelInferRequest{ModelName: "toy", Id: "req-1", Inputs: []*inference.ModelInferRequest_InferInputTensor{{
		Name: "input", Datatype: "FP32", Shape: []int64{int64(n), 2, 2, 3},
		Contents: &inference.InferTensorContents{Fp32Contents: images(n)},
	}}}
}

// rawRequest asks for n images of images(n) in raw_input_contents.
func rawRequest(n int) *inference.ModelInferRequest {
	return &inference.ModelInferRequest{ModelName: "toy", ModelVersion: "7", Inputs: []*inference.ModelInferRequest_InferInputTensor{{
		Name: "input", Datatype: "FP32", Shape: []int64{int64(n), 2, 2, 3},
	}}, RawInputContents: [][]byte{rawBytes(images(n))}}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestHealthAndMetadata(t *testing.T) {
	ctx := context.Background()
	c := dial(t, newServer(t, &fake{}, testCfg))
	if r, err := c.ServerLive(ctx, &inference.ServerLiveRequest{}); err != nil || !r.Live {
		t.Errorf("ServerLive: %v, %v", r, err)
	}
	if r, err := c.ServerReady(ctx, &inference.ServerReadyRequest{}); err != nil || !r.Ready {
		t.Errorf("ServerReady: %v, %v", r, err)
	}
	if r, err := c.ServerMetadata(ctx, &inference.ServerMetadataRequest{}); err != nil || r.Name != serve.ServerName || r.Version != serve.ServerVersion || len(r.Extensions) != 0 {
		t.Errorf("ServerMetadata: %v, %v", r, err)
	}
	for _, v := range []string{"", "7"} {
		if r, err := c.ModelReady(ctx, &inference.ModelReadyRequest{Name: "toy", Version: v}); err != nil || !r.Ready {
			t.Errorf("ModelReady version %q: %v, %v", v, r, err)
		}
	}
	for _, req := range []*inference.ModelReadyRequest{{Name: "other"}, {Name: "toy", Version: "8"}, {Name: ""}} {
		_, err := c.ModelReady(ctx, req)
		checkCode(t, fmt.Sprintf("ModelReady %v", req), err, codes.NotFound, "")
		_, err = c.ModelMetadata(ctx, &inference.ModelMetadataRequest{Name: req.Name, Version: req.Version})
		checkCode(t, fmt.Sprintf("ModelMetadata %v", req), err, codes.NotFound, "")
	}
	m, err := c.ModelMetadata(ctx, &inference.ModelMetadataRequest{Name: "toy"})
	wantMeta := &inference.ModelMetadataResponse{Name: "toy", Versions: []string{"7"}, Platform: "rnc",
		Inputs:  []*inference.ModelMetadataResponse_TensorMetadata{{Name: "input", Datatype: "FP32", Shape: []int64{-1, 2, 2, 3}}},
		Outputs: []*inference.ModelMetadataResponse_TensorMetadata{{Name: "output", Datatype: "FP32", Shape: []int64{-1, 4}}}}
	if err != nil || !proto.Equal(m, wantMeta) {
		t.Errorf("ModelMetadata: %v, %v; want %v", m, err, wantMeta)
	}

	// NCHW, no version: the input is [-1, C, H, W] and there are no versions.
	cfg := testCfg
	cfg.NCHW, cfg.Version, cfg.InputH = true, "", 5
	c = dial(t, newServer(t, &fake{}, cfg))
	m, err = c.ModelMetadata(ctx, &inference.ModelMetadataRequest{Name: "toy"})
	if err != nil || fmt.Sprint(m.Inputs[0].Shape) != "[-1 3 5 2]" || len(m.Versions) != 0 {
		t.Errorf("NCHW ModelMetadata: %v, %v", m, err)
	}
	_, err = c.ModelReady(ctx, &inference.ModelReadyRequest{Name: "toy", Version: "1"})
	checkCode(t, "ModelReady with a version, none configured", err, codes.NotFound, `no version "1"`)
}

// checkCode checks err has status code and its message contains msg.
func checkCode(t *testing.T, what string, err error, code codes.Code, msg string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code || !strings.Contains(st.Message(), msg) {
		t.Errorf("%s: error %v, want code %v with %q", what, err, code, msg)
	}
}

// A batch of 3 in fp32_contents and in raw_input_contents: each image's
// outputs come back in its place, in raw_output_contents.
func TestInferBatch(t *testing.T) {
	f := &fake{}
	c := dial(t, newServer(t, f, testCfg))
	for name, req := range map[string]*inference.ModelInferRequest{"contents": contentsRequest(3), "raw": rawRequest(3)} {
		r, err := c.ModelInfer(context.Background(), req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.ModelName != "toy" || r.ModelVersion != "7" || r.Id != req.Id || len(r.Outputs) != 1 || len(r.RawOutputContents) != 1 {
			t.Fatalf("%s: response %v", name, r)
		}
		o := r.Outputs[0]
		if o.Name != "output" || o.Datatype != "FP32" || fmt.Sprint(o.Shape) != "[3 4]" || o.Contents != nil {
			t.Errorf("%s: output %v", name, o)
		}
		if got := fromRaw(t, r.RawOutputContents[0]); !equal(got, want(3)) {
			t.Errorf("%s: outputs %v, want %v", name, got, want(3))
		}
	}
	if fmt.Sprint(f.calls) != "[3 3]" {
		t.Errorf("Infer calls with n = %v, want [3 3]", f.calls)
	}
}

// binary_data = false on the requested output returns it in contents;
// true, or an output named without parameters, in raw_output_contents.
func TestInferOutputContents(t *testing.T) {
	c := dial(t, newServer(t, &fake{}, testCfg))
	for _, asContents := range []bool{false, true} {
		req := rawRequest(2)
		req.Outputs = []*inference.ModelInferRequest_InferRequestedOutputTensor{{Name: "output", Parameters: map[string]*inference.InferParameter{
			"binary_data": {ParameterChoice: &inference.InferParameter_BoolParam{BoolParam: !asContents}}}}}
		r, err := c.ModelInfer(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var got []float32
		if asContents {
			if len(r.RawOutputContents) != 0 {
				t.Errorf("contents asked: raw_output_contents %v", r.RawOutputContents)
			}
			got = r.Outputs[0].GetContents().GetFp32Contents()
		} else {
			if r.Outputs[0].Contents != nil || len(r.RawOutputContents) != 1 {
				t.Fatalf("raw asked: %v", r)
			}
			got = fromRaw(t, r.RawOutputContents[0])
		}
		if !equal(got, want(2)) {
			t.Errorf("contents %v: outputs %v, want %v", asContents, got, want(2))
		}
	}
	req := rawRequest(1)
	req.Outputs = []*inference.ModelInferRequest_InferRequestedOutputTensor{{Name: "output"}}
	if r, err := c.ModelInfer(context.Background(), req); err != nil || len(r.RawOutputContents) != 1 {
		t.Errorf("output named without parameters: %v, %v", r, err)
	}
}

// Every malformed request is InvalidArgument (or NotFound) naming what is
// wrong, and never reaches the Inferer.
func TestInferErrors(t *testing.T) {
	f := &fake{}
	c := dial(t, newServer(t, f, testCfg))
	type mod func(r *inference.ModelInferRequest)
	in := func(r *inference.ModelInferRequest) *inference.ModelInferRequest_InferInputTensor { return r.Inputs[0] }
	cases := []struct {
		name string
		raw  bool // start from rawRequest, else contentsRequest
		mod  mod
		code codes.Code
		msg  string
	}{
		{"unknown model", false, func(r *inference.ModelInferRequest) { r.ModelName = "other" }, codes.NotFound, `unknown model "other"`},
		{"unknown version", false, func(r *inference.ModelInferRequest) { r.ModelVersion = "8" }, codes.NotFound, `no version "8"`},
		{"no inputs", false, func(r *inference.ModelInferRequest) { r.Inputs = nil }, codes.InvalidArgument, "0 inputs"},
		{"two inputs", false, func(r *inference.ModelInferRequest) { r.Inputs = append(r.Inputs, r.Inputs[0]) }, codes.InvalidArgument, "2 inputs"},
		{"input name", false, func(r *inference.ModelInferRequest) { in(r).Name = "x" }, codes.InvalidArgument, `unknown input "x"`},
		{"datatype", false, func(r *inference.ModelInferRequest) { in(r).Datatype = "FP64" }, codes.InvalidArgument, `datatype "FP64": want FP32`},
		{"BYTES", false, func(r *inference.ModelInferRequest) { in(r).Datatype = "BYTES" }, codes.InvalidArgument, "BYTES"},
		{"3 dims", false, func(r *inference.ModelInferRequest) { in(r).Shape = []int64{2, 2, 3} }, codes.InvalidArgument, "3 dimensions"},
		{"zero batch", false, func(r *inference.ModelInferRequest) { in(r).Shape[0] = 0 }, codes.InvalidArgument, "shape[0] = 0"},
		{"negative dim", false, func(r *inference.ModelInferRequest) { in(r).Shape[2] = -1 }, codes.InvalidArgument, "shape[2] = -1"},
		{"batch over MaxBatch", false, func(r *inference.ModelInferRequest) { in(r).Shape[0] = 4 }, codes.InvalidArgument, "4 images: at most 3"},
		{"wrong image shape", false, func(r *inference.ModelInferRequest) { in(r).Shape = []int64{3, 3, 2, 2} }, codes.InvalidArgument, "want [n, H, W, C] = [n, 2, 2, 3]"},
		{"too few elements", false, func(r *inference.ModelInferRequest) { in(r).Contents.Fp32Contents = images(3)[:35] }, codes.InvalidArgument, "35 elements: shape [3 2 2 3] holds 36"},
		{"too many elements", false, func(r *inference.ModelInferRequest) { in(r).Shape[0] = 2 }, codes.InvalidArgument, "36 elements: shape [2 2 2 3] holds 24"},
		{"NaN", false, func(r *inference.ModelInferRequest) { in(r).Contents.Fp32Contents[13] = float32(math.NaN()) }, codes.InvalidArgument, "element 13 (image 1, offset 1) is NaN"},
		{"infinity", true, func(r *inference.ModelInferRequest) {
			binary.LittleEndian.PutUint32(r.RawInputContents[0][4*30:], math.Float32bits(float32(math.Inf(-1))))
		}, codes.InvalidArgument, "element 30 (image 2, offset 6) is -Inf"},
		{"other contents field", false, func(r *inference.ModelInferRequest) { in(r).Contents.Fp64Contents = []float64{1} }, codes.InvalidArgument, "contents.fp64_contents"},
		{"only another contents field", false, func(r *inference.ModelInferRequest) {
			in(r).Contents = &inference.InferTensorContents{IntContents: []int32{1}}
		}, codes.InvalidArgument, "contents.int_contents"},
		{"no data", false, func(r *inference.ModelInferRequest) { in(r).Contents = nil }, codes.InvalidArgument, "no data"},
		{"empty contents", false, func(r *inference.ModelInferRequest) { in(r).Contents = &inference.InferTensorContents{} }, codes.InvalidArgument, "no data"},
		{"both", true, func(r *inference.ModelInferRequest) {
			in(r).Contents = &inference.InferTensorContents{Fp32Contents: images(3)}
		}, codes.InvalidArgument, "both in contents and in raw_input_contents"},
		{"two raw entries", true, func(r *inference.ModelInferRequest) {
			r.RawInputContents = append(r.RawInputContents, r.RawInputContents[0])
		}, codes.InvalidArgument, "2 entries"},
		{"raw short", true, func(r *inference.ModelInferRequest) { r.RawInputContents[0] = r.RawInputContents[0][:143] }, codes.InvalidArgument, "143 bytes: shape [3 2 2 3] holds 36 FP32 elements, 144 bytes"},
		{"raw long", true, func(r *inference.ModelInferRequest) { in(r).Shape[0] = 1 }, codes.InvalidArgument, "144 bytes: shape [1 2 2 3] holds 12 FP32 elements, 48 bytes"},
		{"shared memory", false, func(r *inference.ModelInferRequest) {
			in(r).Parameters = map[string]*inference.InferParameter{"shared_memory_region": {ParameterChoice: &inference.InferParameter_StringParam{StringParam: "r"}}}
		}, codes.InvalidArgument, "shared memory"},
		{"output name", false, func(r *inference.ModelInferRequest) {
			r.Outputs = []*inference.ModelInferRequest_InferRequestedOutputTensor{{Name: "logits"}}
		}, codes.InvalidArgument, `unknown output "logits"`},
		{"binary_data not a bool", false, func(r *inference.ModelInferRequest) {
			r.Outputs = []*inference.ModelInferRequest_InferRequestedOutputTensor{{Name: "output", Parameters: map[string]*inference.InferParameter{
				"binary_data": {ParameterChoice: &inference.InferParameter_StringParam{StringParam: "false"}}}}}
		}, codes.InvalidArgument, "binary_data must be a bool_param"},
	}
	for _, tc := range cases {
		req := contentsRequest(3)
		if tc.raw {
			req = rawRequest(3)
		}
		tc.mod(req)
		_, err := c.ModelInfer(context.Background(), req)
		checkCode(t, tc.name, err, tc.code, tc.msg)
	}
	if len(f.calls) != 0 {
		t.Errorf("Infer called %d times for malformed requests", len(f.calls))
	}
}

// A declared shape of 2^40 images, or of 2^40-element images, is refused
// before anything of its size is allocated.
func TestInferHugeShapeNoAllocation(t *testing.T) {
	c := dial(t, newServer(t, &fake{}, testCfg))
	s := newServer(t, &fake{}, testCfg) // called directly: no server goroutines allocate meanwhile
	huge := []*inference.ModelInferRequest{rawRequest(1), contentsRequest(1), rawRequest(1)}
	huge[0].Inputs[0].Shape = []int64{1 << 40, 2, 2, 3}
	huge[1].Inputs[0].Shape = []int64{1, 1 << 40, 1 << 40, 3}
	huge[2].Inputs[0].Shape = []int64{math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64}
	for i, req := range huge {
		_, err := c.ModelInfer(context.Background(), req)
		checkCode(t, fmt.Sprintf("huge shape %d", i), err, codes.InvalidArgument, "")
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err = s.ModelInfer(context.Background(), req)
		runtime.ReadMemStats(&after)
		checkCode(t, fmt.Sprintf("huge shape %d, direct", i), err, codes.InvalidArgument, "")
		if d := after.TotalAlloc - before.TotalAlloc; d > 64<<10 {
			t.Errorf("huge shape %d: refusing it allocated %d bytes", i, d)
		}
	}
}

// A message above the Config's MaxBodyBytes is refused by the gRPC
// server (ResourceExhausted) before it reaches ModelInfer.
func TestMaxRecvMsgSize(t *testing.T) {
	cfg := testCfg
	cfg.MaxBodyBytes = 120
	f := &fake{}
	c := dial(t, newServer(t, f, cfg))
	small, big := rawRequest(1), rawRequest(3)
	if n, m := proto.Size(small), proto.Size(big); n > 120 || m <= 120 {
		t.Fatalf("requests of %d and %d bytes", n, m)
	}
	if _, err := c.ModelInfer(context.Background(), small); err != nil {
		t.Fatalf("a small request: %v", err)
	}
	_, err := c.ModelInfer(context.Background(), big)
	checkCode(t, "a request over MaxBodyBytes", err, codes.ResourceExhausted, "larger than max")
	if len(f.calls) != 1 {
		t.Errorf("Infer called %d times, want 1", len(f.calls))
	}
}

// The Inferer's errors map to their status codes.
func TestInferErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code codes.Code
		msg  string
	}{
		{serve.ErrOverloaded, codes.ResourceExhausted, "queue is full"},
		{fmt.Errorf("batcher: %w", serve.ErrOverloaded), codes.ResourceExhausted, "queue is full"},
		{serve.ErrClosed, codes.Unavailable, "shutting down"},
		{errors.New("predict: bad plan"), codes.Internal, `model "toy": infer: predict: bad plan`},
		{fmt.Errorf("queued: %w", context.DeadlineExceeded), codes.DeadlineExceeded, ""},
		{fmt.Errorf("queued: %w", context.Canceled), codes.Canceled, ""},
	} {
		_, err := dial(t, newServer(t, &fake{err: tc.err}, testCfg)).ModelInfer(context.Background(), rawRequest(1))
		checkCode(t, tc.err.Error(), err, tc.code, tc.msg)
	}
}

// A request's deadline and cancellation reach the Inferer, and its error
// maps to DeadlineExceeded and Canceled: over gRPC, and on the server's
// side (the client reports both by itself).
func TestInferContext(t *testing.T) {
	s := newServer(t, &fake{block: true}, testCfg)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := dial(t, s).ModelInfer(ctx, rawRequest(1))
	checkCode(t, "over gRPC, deadline", err, codes.DeadlineExceeded, "")

	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err = s.ModelInfer(ctx, rawRequest(1))
	checkCode(t, "deadline", err, codes.DeadlineExceeded, "fake: waiting")
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = s.ModelInfer(ctx, rawRequest(1))
	checkCode(t, "canceled", err, codes.Canceled, "fake: waiting")

	// An Inferer that returns its own error after the context ended: the
	// context's status.
	s = newServer(t, &fake{err: errors.New("gave up")}, testCfg)
	_, err = s.ModelInfer(ctx, rawRequest(1))
	checkCode(t, "canceled, other error", err, codes.Canceled, "")
}

// A server without an Inferer is live but not ready, and ModelInfer is
// Unavailable until SetInferer.
func TestNotReady(t *testing.T) {
	s := newServer(t, nil, testCfg)
	c := dial(t, s)
	ctx := context.Background()
	if r, err := c.ServerLive(ctx, &inference.ServerLiveRequest{}); err != nil || !r.Live {
		t.Errorf("ServerLive: %v, %v", r, err)
	}
	if r, err := c.ServerReady(ctx, &inference.ServerReadyRequest{}); err != nil || r.Ready {
		t.Errorf("ServerReady: %v, %v", r, err)
	}
	if r, err := c.ModelReady(ctx, &inference.ModelReadyRequest{Name: "toy"}); err != nil || r.Ready {
		t.Errorf("ModelReady: %v, %v", r, err)
	}
	if _, err := c.ModelMetadata(ctx, &inference.ModelMetadataRequest{Name: "toy"}); err != nil {
		t.Errorf("ModelMetadata: %v", err)
	}
	_, err := c.ModelInfer(ctx, rawRequest(1))
	checkCode(t, "ModelInfer", err, codes.Unavailable, `model "toy" is not ready`)
	s.SetInferer(&fake{})
	if r, err := c.ModelReady(ctx, &inference.ModelReadyRequest{Name: "toy"}); err != nil || !r.Ready {
		t.Errorf("ModelReady after SetInferer: %v, %v", r, err)
	}
	if _, err := c.ModelInfer(ctx, rawRequest(1)); err != nil {
		t.Errorf("ModelInfer after SetInferer: %v", err)
	}
}

func TestNewServerConfig(t *testing.T) {
	for _, cfg := range []serve.Config{{}, {Name: "a/b", InputH: 1, InputW: 1, InputC: 1, Classes: 1}, {Name: "x", InputH: 1, InputW: 1, InputC: 1}} {
		if _, err := NewServer(&fake{}, cfg); err == nil || !strings.HasPrefix(err.Error(), "grpcv2: serve: config:") {
			t.Errorf("NewServer(%+v): %v", cfg, err)
		}
	}
	big := serve.Config{Name: "x", InputH: 1, InputW: 1, InputC: 1, Classes: 1 << 29, MaxBatch: 2}
	if _, err := NewServer(&fake{}, big); err == nil || !strings.Contains(err.Error(), "larger than a gRPC message") {
		t.Errorf("NewServer(%+v): %v", big, err)
	}
	s := newServer(t, &fake{}, serve.Config{Name: "x", InputH: 1, InputW: 1, InputC: 1, Classes: 1})
	if s.cfg.MaxBatch != serve.DefaultMaxBatch || s.cfg.MaxBodyBytes != serve.DefaultMaxBodyBytes {
		t.Errorf("defaults: %+v", s.cfg)
	}
}

// Concurrent calls, each with its own images, each get their own outputs
// (run under -race).
func TestConcurrent(t *testing.T) {
	c := dial(t, newServer(t, &fake{}, testCfg))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 10 {
				n := 1 + (g+i)%3
				req := rawRequest(n)
				src := images(n)
				for k := range src {
					src[k] += float32(g*1000 + i)
				}
				req.RawInputContents[0] = rawBytes(src)
				if g%2 == 1 {
					req.RawInputContents = nil
					req.Inputs[0].Contents = &inference.InferTensorContents{Fp32Contents: src}
				}
				r, err := c.ModelInfer(context.Background(), req)
				if err != nil {
					errs <- err
					return
				}
				got := fromRaw(t, r.RawOutputContents[0])
				for j := range n {
					for k := range testCfg.Classes {
						if w := 2 * src[j*perImage+k]; got[j*testCfg.Classes+k] != w {
							errs <- fmt.Errorf("goroutine %d call %d: output %d,%d = %v, want %v", g, i, j, k, got[j*testCfg.Classes+k], w)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Package grpcv2 serves one compiled model over the Open Inference Protocol v2's gRPC API (inference.GRPCInferenceService): health, metadata and inference with FP32 tensors, through a serve.Inferer.
//
// It mirrors package serve's REST decisions; where gRPC differs:
//   - Status codes: a malformed request (names, datatype, shape, sizes,
//     non-finite elements) is InvalidArgument; an unknown model or version
//     NotFound; inference while not ready Unavailable; serve.ErrOverloaded
//     ResourceExhausted; a context that ended DeadlineExceeded or Canceled;
//     any other failure of the Inferer Internal.
//   - An input's elements come either in its contents.fp32_contents or in
//     raw_input_contents (one entry, n·H·W·C little-endian float32s),
//     exactly one of the two; the element or byte count must equal the
//     shape's. A NaN or infinite element is refused (InvalidArgument naming
//     it): REST cannot carry one, and an image holding one is a client bug.
//   - The output is returned in raw_output_contents (little-endian float32s,
//     what Triton's clients read by default), or in the output's
//     contents.fp32_contents when the request's output "output" has the
//     parameter binary_data = false (the REST binary extension's name for
//     the same choice). Non-finite outputs are returned as they are: the
//     protobuf encoding carries them, unlike JSON.
//   - ModelReady and ServerReady answer ready = false (status OK) while no
//     Inferer is set; ModelReady and ModelMetadata for an unknown model or
//     version are NotFound. A Config without a Version accepts only an
//     empty model_version.
//   - Parameters the server does not read are ignored, as REST ignores
//     fields it does not define; Triton's shared-memory parameters are
//     refused, since no shared memory is served.
//   - BYTES inputs hold encoded JPEG or PNG images, shape [n], in
//     contents.bytes_contents or raw_input_contents (4-byte length-prefixed
//     elements), made the model's input by serve.Config.DecodeImage as REST
//     makes them; a message is at most what MaxBatch FP32 images take (plus
//     64 KiB), so a request of large encoded images may have to carry fewer.
//
// Memory: the gRPC server refuses a message larger than the Config's
// MaxBodyBytes (ServerOptions; ResourceExhausted), and a ModelInferRequest
// whose encoding holds more than MaxObjects submessages, map entries,
// repeated strings and packed varints before it is decoded (gRPC reports
// what its codec refuses as Internal; the message names MaxObjects), so a
// request decodes to at most about 4 times its size. The declared batch is
// checked against MaxBatch and the data's size against the declared shape
// before anything is allocated for them; then a request allocates one
// float32 copy of raw input data and its n·Classes outputs (twice, raw).
//
// Use:
//
//	s, err := grpcv2.NewServer(serve.Direct(model), cfg)
//	g := s.GRPCServer() // or grpc.NewServer(s.ServerOptions()...) and s.Register(g)
//	err = g.Serve(listener)
package grpcv2

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/rnc-dev/rnc/serve"
	"github.com/rnc-dev/rnc/serve/grpcv2/inference"
)

// maxMsg is the largest message gRPC sends or receives.
const maxMsg = math.MaxInt32

// Platform is the platform ModelMetadata reports, as REST does.
const Platform = "rnc"

// Server implements inference.GRPCInferenceServiceServer for one model.
// It is safe for concurrent use.
type Server struct {
	inference.UnimplementedGRPCInferenceServiceServer

	cfg   serve.Config
	inf   atomic.Pointer[serve.Inferer]
	calls chan struct{} // a token per call in flight (tap)
}

// DefaultMaxInFlightBytes bounds the messages of the calls in flight, as
// serve.DefaultMaxInFlightBytes bounds REST's bodies: a call reserves the
// largest message the server receives (maxRecv) before its message is
// read, and a call beyond the budget is refused with ResourceExhausted.
const DefaultMaxInFlightBytes = serve.DefaultMaxInFlightBytes

// maxRecv is the largest message s receives: the Config's MaxBodyBytes,
// or less, what a request of MaxBatch images in FP32 needs (4 bytes an
// element in raw_input_contents or packed fp32_contents) plus 64 KiB for
// its names, shape and parameters.
func (s *Server) maxRecv() int64 {
	img := int64(s.cfg.InputH) * int64(s.cfg.InputW) * int64(s.cfg.InputC)
	return min(s.cfg.MaxBodyBytes, maxMsg, 4*img*int64(s.cfg.MaxBatch)+64<<10)
}

// NewServer serves the model cfg describes through inf. A nil inf serves
// the model as not ready until SetInferer. The Config's zero MaxBatch and
// MaxBodyBytes take package serve's defaults; a Config that does not
// validate is an error.
func NewServer(inf serve.Inferer, cfg serve.Config) (*Server, error) {
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = serve.DefaultMaxBatch
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = serve.DefaultMaxBodyBytes
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("grpcv2: %w", err)
	}
	if b := 4 * int64(cfg.MaxBatch) * int64(cfg.Classes); b > maxMsg {
		return nil, fmt.Errorf("grpcv2: config: MaxBatch %d × Classes %d: the output of a full batch, %d bytes, is larger than a gRPC message (%d bytes)", cfg.MaxBatch, cfg.Classes, b, maxMsg)
	}
	s := &Server{cfg: cfg}
	s.calls = make(chan struct{}, max(1, DefaultMaxInFlightBytes/s.maxRecv()))
	s.SetInferer(inf)
	return s, nil
}

// SetInferer sets the Inferer requests run on; nil makes the model not
// ready (Unavailable for ModelInfer).
func (s *Server) SetInferer(inf serve.Inferer) {
	if inf == nil {
		s.inf.Store(nil)
		return
	}
	s.inf.Store(&inf)
}

func (s *Server) inferer() serve.Inferer {
	if p := s.inf.Load(); p != nil {
		return *p
	}
	return nil
}

// Register registers s on r (a *grpc.Server). The server should be made
// with ServerOptions, so that it refuses messages above the body limit.
func (s *Server) Register(r grpc.ServiceRegistrar) {
	inference.RegisterGRPCInferenceServiceServer(r, s)
}

// ServerOptions are the options a *grpc.Server serving s needs: a
// received message is at most the Config's MaxBodyBytes (less when a
// request of MaxBatch images needs less); a ModelInferRequest whose
// encoding holds more than MaxObjects objects is refused before it is
// decoded (by a codec that is gRPC's protobuf codec for every other
// message, so other services can share the server); and at most
// DefaultMaxInFlightBytes / that message size calls of the service are
// in flight at once — one more is refused with ResourceExhausted before
// its message is read — so that any number of clients holds bounded
// memory.
func (s *Server) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(int(s.maxRecv())), grpc.ForceServerCodecV2(newCodec()),
		grpc.InTapHandle(s.tap), grpc.StatsHandler(callEnd{s.calls})}
}

// callToken marks a call's context as holding one of s.calls' tokens.
type callToken struct{}

// tap takes a token for a call of the service, or refuses the call.
func (s *Server) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if !strings.HasPrefix(info.FullMethodName, "/inference.GRPCInferenceService/") {
		return ctx, nil
	}
	select {
	case s.calls <- struct{}{}:
		return context.WithValue(ctx, callToken{}, new(atomic.Bool)), nil
	default:
		return nil, status.Errorf(codes.ResourceExhausted, "overloaded: %d calls are in flight, the server's limit; try again later", cap(s.calls))
	}
}

// callEnd is the stats handler that returns a call's token when it ends,
// however it ends.
type callEnd struct{ calls chan struct{} }

func (callEnd) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (c callEnd) HandleRPC(ctx context.Context, st stats.RPCStats) {
	if _, ok := st.(*stats.End); !ok {
		return
	}
	if t, ok := ctx.Value(callToken{}).(*atomic.Bool); ok && t.CompareAndSwap(false, true) {
		<-c.calls
	}
}

func (callEnd) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (callEnd) HandleConn(context.Context, stats.ConnStats) {}

// GRPCServer makes a *grpc.Server with ServerOptions and opts and
// registers s on it.
func (s *Server) GRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	g := grpc.NewServer(append(s.ServerOptions(), opts...)...)
	s.Register(g)
	return g
}

// ServerLive answers live: a server that answers is live.
func (s *Server) ServerLive(context.Context, *inference.ServerLiveRequest) (*inference.ServerLiveResponse, error) {
	return &inference.ServerLiveResponse{Live: true}, nil
}

// ServerReady answers whether the model is ready.
func (s *Server) ServerReady(context.Context, *inference.ServerReadyRequest) (*inference.ServerReadyResponse, error) {
	return &inference.ServerReadyResponse{Ready: s.inferer() != nil}, nil
}

// ServerMetadata answers serve.ServerName and serve.ServerVersion, with no
// extensions.
func (s *Server) ServerMetadata(context.Context, *inference.ServerMetadataRequest) (*inference.ServerMetadataResponse, error) {
	return &inference.ServerMetadataResponse{Name: serve.ServerName, Version: serve.ServerVersion, Extensions: []string{}}, nil
}

// model checks a request's model name and version.
func (s *Server) model(name, version string) error {
	if name != s.cfg.Name {
		return status.Errorf(codes.NotFound, "unknown model %q (this server serves %q)", name, s.cfg.Name)
	}
	if version != "" && version != s.cfg.Version {
		return status.Errorf(codes.NotFound, "model %q has no version %q", name, version)
	}
	return nil
}

// ModelReady answers whether the named model is ready.
func (s *Server) ModelReady(_ context.Context, req *inference.ModelReadyRequest) (*inference.ModelReadyResponse, error) {
	if err := s.model(req.GetName(), req.GetVersion()); err != nil {
		return nil, err
	}
	return &inference.ModelReadyResponse{Ready: s.inferer() != nil}, nil
}

// imageShape is one image's shape in the served layout.
func (s *Server) imageShape() []int64 {
	c := s.cfg
	if c.NCHW {
		return []int64{int64(c.InputC), int64(c.InputH), int64(c.InputW)}
	}
	return []int64{int64(c.InputH), int64(c.InputW), int64(c.InputC)}
}

// ModelMetadata describes the model's input, [-1, H, W, C] (or
// [-1, C, H, W]), and output, [-1, Classes], both FP32.
func (s *Server) ModelMetadata(_ context.Context, req *inference.ModelMetadataRequest) (*inference.ModelMetadataResponse, error) {
	if err := s.model(req.GetName(), req.GetVersion()); err != nil {
		return nil, err
	}
	versions := []string{}
	if s.cfg.Version != "" {
		versions = append(versions, s.cfg.Version)
	}
	return &inference.ModelMetadataResponse{
		Name:     s.cfg.Name,
		Versions: versions,
		Platform: Platform,
		Inputs:   []*inference.ModelMetadataResponse_TensorMetadata{{Name: serve.InputName, Datatype: "FP32", Shape: append([]int64{-1}, s.imageShape()...)}},
		Outputs:  []*inference.ModelMetadataResponse_TensorMetadata{{Name: serve.OutputName, Datatype: "FP32", Shape: []int64{-1, int64(s.cfg.Classes)}}},
	}, nil
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// ModelInfer runs the request's images through the Inferer.
func (s *Server) ModelInfer(ctx context.Context, req *inference.ModelInferRequest) (*inference.ModelInferResponse, error) {
	if err := s.model(req.GetModelName(), req.GetModelVersion()); err != nil {
		return nil, err
	}
	inf := s.inferer()
	if inf == nil {
		return nil, status.Errorf(codes.Unavailable, "model %q is not ready", s.cfg.Name)
	}
	contents, err := s.outputs(req.GetOutputs())
	if err != nil {
		return nil, err
	}
	n, src, err := s.input(req)
	if err != nil {
		return nil, err
	}
	dst := make([]float32, n*s.cfg.Classes)
	if err := inf.Infer(ctx, dst, src, n); err != nil {
		return nil, s.inferError(ctx, err)
	}
	out := &inference.ModelInferResponse_InferOutputTensor{Name: serve.OutputName, Datatype: "FP32", Shape: []int64{int64(n), int64(s.cfg.Classes)}}
	resp := &inference.ModelInferResponse{
		ModelName:    s.cfg.Name,
		ModelVersion: s.cfg.Version,
		Id:           req.GetId(),
		Outputs:      []*inference.ModelInferResponse_InferOutputTensor{out},
	}
	if contents {
		out.Contents = &inference.InferTensorContents{Fp32Contents: dst}
	} else {
		raw := make([]byte, 4*len(dst))
		for i, v := range dst {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		resp.RawOutputContents = [][]byte{raw}
	}
	return resp, nil
}

// inferError maps an Inferer's error to its status.
func (s *Server) inferError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, serve.ErrOverloaded):
		return status.Errorf(codes.ResourceExhausted, "model %q: %v", s.cfg.Name, err)
	case errors.Is(err, serve.ErrClosed):
		return status.Errorf(codes.Unavailable, "model %q: %v", s.cfg.Name, err)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Errorf(codes.DeadlineExceeded, "model %q: %v", s.cfg.Name, err)
	case errors.Is(err, context.Canceled):
		return status.Errorf(codes.Canceled, "model %q: %v", s.cfg.Name, err)
	}
	if cerr := ctx.Err(); cerr != nil {
		return status.FromContextError(cerr).Err()
	}
	return status.Errorf(codes.Internal, "model %q: infer: %v", s.cfg.Name, err)
}

// outputs checks the requested outputs and reports whether the output is
// asked for in contents rather than raw_output_contents.
func (s *Server) outputs(outs []*inference.ModelInferRequest_InferRequestedOutputTensor) (contents bool, err error) {
	for i, o := range outs {
		if o.GetName() != serve.OutputName {
			return false, invalid("requested output %d: unknown output %q (the model's one output is %q)", i, o.GetName(), serve.OutputName)
		}
		p, ok := o.GetParameters()["binary_data"]
		if !ok {
			continue
		}
		b, isBool := p.GetParameterChoice().(*inference.InferParameter_BoolParam)
		if !isBool {
			return false, invalid("requested output %q: parameter binary_data must be a bool_param", o.GetName())
		}
		contents = !b.BoolParam
	}
	return contents, nil
}

// input checks the request's one input and returns its batch size and
// elements. Everything is checked against the declared shape before the
// elements are allocated.
func (s *Server) input(req *inference.ModelInferRequest) (int, []float32, error) {
	ins := req.GetInputs()
	if len(ins) != 1 {
		return 0, nil, invalid("request has %d inputs: the model has one, %q", len(ins), serve.InputName)
	}
	in := ins[0]
	if in.GetName() != serve.InputName {
		return 0, nil, invalid("unknown input %q (the model's one input is %q)", in.GetName(), serve.InputName)
	}
	switch dt := in.GetDatatype(); dt {
	case "FP32":
	case "BYTES":
		return s.images(req, in)
	default:
		return 0, nil, invalid("input %q: datatype %q: want FP32", in.GetName(), dt)
	}
	for k := range in.GetParameters() {
		if strings.HasPrefix(k, "shared_memory") {
			return 0, nil, invalid("input %q: parameter %q: shared memory is not served", in.GetName(), k)
		}
	}
	count, err := s.checkShape(in.GetName(), in.GetShape())
	if err != nil {
		return 0, nil, err
	}
	n := int(in.GetShape()[0])
	raw := req.GetRawInputContents()
	c := in.GetContents()
	if err := onlyContents(in.GetName(), "FP32", "fp32_contents", c); err != nil {
		return 0, nil, err
	}
	var src []float32
	switch {
	case len(raw) > 0 && len(c.GetFp32Contents()) > 0:
		return 0, nil, invalid("input %q: data both in contents and in raw_input_contents: send one", in.GetName())
	case len(raw) > 0:
		if len(raw) != 1 {
			return 0, nil, invalid("raw_input_contents has %d entries: want 1, one per input", len(raw))
		}
		if int64(len(raw[0])) != 4*count {
			return 0, nil, invalid("input %q: raw_input_contents has %d bytes: shape %v holds %d FP32 elements, %d bytes", in.GetName(), len(raw[0]), in.GetShape(), count, 4*count)
		}
		src = make([]float32, count)
		for i := range src {
			src[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[0][4*i:]))
		}
	case c != nil && len(c.GetFp32Contents()) > 0:
		if int64(len(c.GetFp32Contents())) != count {
			return 0, nil, invalid("input %q: contents.fp32_contents has %d elements: shape %v holds %d", in.GetName(), len(c.GetFp32Contents()), in.GetShape(), count)
		}
		src = c.GetFp32Contents() // the request's own copy: used in place
	default:
		return 0, nil, invalid("input %q: no data: send contents.fp32_contents or raw_input_contents", in.GetName())
	}
	per := int(count) / n
	for i, v := range src {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return 0, nil, invalid("input %q: element %d (image %d, offset %d) is %v: elements must be finite", in.GetName(), i, i/per, i%per, v)
		}
	}
	return n, src, nil
}

// images reads a BYTES input of n encoded JPEG or PNG images, shape [n],
// from contents.bytes_contents (one element each) or raw_input_contents
// (the protocol's BYTES layout: a 4-byte little-endian length, then the
// bytes, per element), and makes each one the model's input with
// serve.Config.DecodeImage, as REST does.
func (s *Server) images(req *inference.ModelInferRequest, in *inference.ModelInferRequest_InferInputTensor) (int, []float32, error) {
	name := in.GetName()
	if s.cfg.Preprocess == nil {
		return 0, nil, invalid("input %q: datatype BYTES: model %q takes no encoded images (it declares no preprocessing convention, or the server was started without one): send FP32", name, s.cfg.Name)
	}
	shape := in.GetShape()
	if len(shape) != 1 || shape[0] < 1 || shape[0] > int64(s.cfg.MaxBatch) {
		return 0, nil, invalid("input %q: datatype BYTES: shape %v: want [n], one encoded image per element, n from 1 to %d", name, shape, s.cfg.MaxBatch)
	}
	n := int(shape[0])
	c := in.GetContents()
	if err := onlyContents(name, "BYTES", "bytes_contents", c); err != nil {
		return 0, nil, err
	}
	raw := req.GetRawInputContents()
	elems := c.GetBytesContents()
	switch {
	case len(raw) > 0 && len(elems) > 0:
		return 0, nil, invalid("input %q: data both in contents and in raw_input_contents: send one", name)
	case len(raw) > 0:
		if len(raw) != 1 {
			return 0, nil, invalid("raw_input_contents has %d entries: want 1, one per input", len(raw))
		}
		var err error
		if elems, err = serve.SplitBytes(raw[0], n); err != nil {
			return 0, nil, invalid("input %q: raw_input_contents %v", name, err)
		}
	}
	if len(elems) != n {
		return 0, nil, invalid("input %q: shape [%d], but the data holds %d elements", name, n, len(elems))
	}
	per := s.cfg.InputH * s.cfg.InputW * s.cfg.InputC
	src := make([]float32, n*per)
	for k, b := range elems {
		if err := s.cfg.DecodeImage(src[k*per:(k+1)*per], b); err != nil {
			return 0, nil, invalid("input %q: element %d: %v", name, k, err)
		}
	}
	return n, src, nil
}

// onlyContents refuses contents in another field than want, the field of
// datatype dt.
func onlyContents(name, dt, want string, c *inference.InferTensorContents) error {
	if c == nil {
		return nil
	}
	for _, f := range []struct {
		field string
		n     int
	}{
		{"bool_contents", len(c.GetBoolContents())},
		{"int_contents", len(c.GetIntContents())},
		{"int64_contents", len(c.GetInt64Contents())},
		{"uint_contents", len(c.GetUintContents())},
		{"uint64_contents", len(c.GetUint64Contents())},
		{"fp32_contents", len(c.GetFp32Contents())},
		{"fp64_contents", len(c.GetFp64Contents())},
		{"bytes_contents", len(c.GetBytesContents())},
	} {
		if f.n > 0 && f.field != want {
			return invalid("input %q: datatype %s but its data is in contents.%s: use %s", name, dt, f.field, want)
		}
	}
	return nil
}

// checkShape checks a declared shape against the model's and the batch
// limit and returns its element count.
func (s *Server) checkShape(name string, shape []int64) (int64, error) {
	want := s.imageShape()
	order := "[n, H, W, C]"
	if s.cfg.NCHW {
		order = "[n, C, H, W]"
	}
	if len(shape) != 1+len(want) {
		return 0, invalid("input %q: shape %v has %d dimensions: want 4, %s = [n, %d, %d, %d]", name, shape, len(shape), order, want[0], want[1], want[2])
	}
	for i, d := range shape {
		if d < 1 {
			return 0, invalid("input %q: shape[%d] = %d: dimensions must be at least 1", name, i, d)
		}
	}
	if shape[0] > int64(s.cfg.MaxBatch) {
		return 0, invalid("input %q: %d images: at most %d per request", name, shape[0], s.cfg.MaxBatch)
	}
	for i, d := range want {
		if shape[1+i] != d {
			return 0, invalid("input %q: shape %v: want %s = [n, %d, %d, %d]", name, shape, order, want[0], want[1], want[2])
		}
	}
	return shape[0] * want[0] * want[1] * want[2], nil
}

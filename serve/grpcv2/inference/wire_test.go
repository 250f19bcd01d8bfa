package inference

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// protocol is the Open Inference Protocol's gRPC definition as its
// specification writes it (KServe's grpc_predict_v2.proto; InferParameter
// has Triton's double_param and uint64_param too): every field of every
// message, as name=number kind. A client of the protocol decodes what the
// server encodes only if these match.
var protocol = map[string]string{
	"ServerLiveRequest":                            "",
	"ServerLiveResponse":                           "live=1 bool",
	"ServerReadyRequest":                           "",
	"ServerReadyResponse":                          "ready=1 bool",
	"ModelReadyRequest":                            "name=1 string, version=2 string",
	"ModelReadyResponse":                           "ready=1 bool",
	"ServerMetadataRequest":                        "",
	"ServerMetadataResponse":                       "name=1 string, version=2 string, extensions=3 repeated string",
	"ModelMetadataRequest":                         "name=1 string, version=2 string",
	"ModelMetadataResponse":                        "name=1 string, versions=2 repeated string, platform=3 string, inputs=4 repeated ModelMetadataResponse.TensorMetadata, outputs=5 repeated ModelMetadataResponse.TensorMetadata",
	"ModelMetadataResponse.TensorMetadata":         "name=1 string, datatype=2 string, shape=3 repeated int64",
	"ModelInferRequest":                            "model_name=1 string, model_version=2 string, id=3 string, parameters=4 map<string, InferParameter>, inputs=5 repeated ModelInferRequest.InferInputTensor, outputs=6 repeated ModelInferRequest.InferRequestedOutputTensor, raw_input_contents=7 repeated bytes",
	"ModelInferRequest.InferInputTensor":           "name=1 string, datatype=2 string, shape=3 repeated int64, parameters=4 map<string, InferParameter>, contents=5 InferTensorContents",
	"ModelInferRequest.InferRequestedOutputTensor": "name=1 string, parameters=2 map<string, InferParameter>",
	"ModelInferResponse":                           "model_name=1 string, model_version=2 string, id=3 string, parameters=4 map<string, InferParameter>, outputs=5 repeated ModelInferResponse.InferOutputTensor, raw_output_contents=6 repeated bytes",
	"ModelInferResponse.InferOutputTensor":         "name=1 string, datatype=2 string, shape=3 repeated int64, parameters=4 map<string, InferParameter>, contents=5 InferTensorContents",
	"InferParameter":                               "bool_param=1 bool, int64_param=2 int64, string_param=3 string, double_param=4 double, uint64_param=5 uint64",
	"InferTensorContents":                          "bool_contents=1 repeated bool, int_contents=2 repeated int32, int64_contents=3 repeated int64, uint_contents=4 repeated uint32, uint64_contents=5 repeated uint64, fp32_contents=6 repeated float, fp64_contents=7 repeated double, bytes_contents=8 repeated bytes",
}

// methods are the service's RPCs, /inference.GRPCInferenceService/NAME,
// with their request and response messages.
var methods = "ServerLive(ServerLiveRequest) ServerLiveResponse, ServerReady(ServerReadyRequest) ServerReadyResponse, " +
	"ModelReady(ModelReadyRequest) ModelReadyResponse, ServerMetadata(ServerMetadataRequest) ServerMetadataResponse, " +
	"ModelMetadata(ModelMetadataRequest) ModelMetadataResponse, ModelInfer(ModelInferRequest) ModelInferResponse"

func kind(f protoreflect.FieldDescriptor) string {
	name := func(f protoreflect.FieldDescriptor) string {
		if f.Kind() == protoreflect.MessageKind {
			return strings.TrimPrefix(string(f.Message().FullName()), "inference.")
		}
		return f.Kind().String()
	}
	switch {
	case f.IsMap():
		return fmt.Sprintf("map<%s, %s>", name(f.MapKey()), name(f.MapValue()))
	case f.IsList():
		return "repeated " + name(f)
	}
	return name(f)
}

func TestWireMatchesProtocol(t *testing.T) {
	fd := File_serve_grpcv2_inference_grpc_service_proto
	if fd.Package() != "inference" {
		t.Errorf("package %q, want inference", fd.Package())
	}
	seen := map[string]bool{}
	var walk func(ms protoreflect.MessageDescriptors)
	walk = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			m := ms.Get(i)
			if m.IsMapEntry() {
				continue
			}
			name := strings.TrimPrefix(string(m.FullName()), "inference.")
			seen[name] = true
			var fields []string
			for j := range m.Fields().Len() {
				f := m.Fields().Get(j)
				fields = append(fields, fmt.Sprintf("%s=%d %s", f.Name(), f.Number(), kind(f)))
			}
			want, ok := protocol[name]
			if got := strings.Join(fields, ", "); !ok || got != want {
				t.Errorf("message %s:\n got  %s\n want %s (declared by the protocol: %v)", name, got, want, ok)
			}
			walk(m.Messages())
		}
	}
	walk(fd.Messages())
	for name := range protocol {
		if !seen[name] {
			t.Errorf("message %s is missing", name)
		}
	}
	if fd.Services().Len() != 1 {
		t.Fatalf("%d services", fd.Services().Len())
	}
	s := fd.Services().Get(0)
	var got []string
	for i := range s.Methods().Len() {
		m := s.Methods().Get(i)
		if m.IsStreamingClient() || m.IsStreamingServer() {
			t.Errorf("%s streams", m.Name())
		}
		got = append(got, fmt.Sprintf("%s(%s) %s", m.Name(), strings.TrimPrefix(string(m.Input().FullName()), "inference."), strings.TrimPrefix(string(m.Output().FullName()), "inference.")))
	}
	if s.FullName() != "inference.GRPCInferenceService" || strings.Join(got, ", ") != methods {
		t.Errorf("service %s: %s, want inference.GRPCInferenceService: %s", s.FullName(), strings.Join(got, ", "), methods)
	}
	if GRPCInferenceService_ModelInfer_FullMethodName != "/inference.GRPCInferenceService/ModelInfer" {
		t.Errorf("ModelInfer's method name %s", GRPCInferenceService_ModelInfer_FullMethodName)
	}
}

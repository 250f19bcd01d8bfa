package grpcv2

import (
	"context"
	"math"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rnc-dev/rnc/examples/classify/resnet50v2"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/serve"
	"github.com/rnc-dev/rnc/serve/grpcv2/inference"
)

// The compiled ResNet50V2's *runtime.Model (synthetic weights), served
// through serve.Direct on a loopback TCP listener: a Go client's batch of 2 in
// raw_input_contents, and each image alone in fp32_contents, get exactly
// the outputs of Predict on the same images.
func TestServeResNet50V2(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: serving ResNet50V2 makes its 25M synthetic weights and runs 4 images")
	}
	m, err := resnet50v2.New(runtime.SyntheticWeights(resnet50v2.Program(), 1))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg, err := serve.FromProgram(resnet50v2.Program(), "resnet50v2")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, serve.Direct(m.Runtime()), cfg)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := s.GRPCServer()
	go g.Serve(lis)
	defer g.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(math.MaxInt32)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := inference.NewGRPCInferenceServiceClient(conn)

	const n, per = 2, resnet50v2.InputHeight * resnet50v2.InputWidth * resnet50v2.InputChannels
	src := make([]float32, n*per)
	for i := range src {
		src[i] = float32(math.Sin(float64(i)*0.37)) * 0.9
	}
	want := make([]float32, n*resnet50v2.Classes)
	if err := m.Predict(want, src); err != nil {
		t.Fatal(err)
	}
	shape := []int64{n, resnet50v2.InputHeight, resnet50v2.InputWidth, resnet50v2.InputChannels}
	r, err := c.ModelInfer(context.Background(), &inference.ModelInferRequest{ModelName: "resnet50v2",
		Inputs:           []*inference.ModelInferRequest_InferInputTensor{{Name: serve.InputName, Datatype: "FP32", Shape: shape}},
		RawInputContents: [][]byte{rawBytes(src)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := fromRaw(t, r.RawOutputContents[0]); !equal(got, want) {
		t.Errorf("batch of %d: outputs differ from Predict's", n)
	}
	shape[0] = 1
	for i := range n {
		r, err := c.ModelInfer(context.Background(), &inference.ModelInferRequest{ModelName: "resnet50v2",
			Inputs: []*inference.ModelInferRequest_InferInputTensor{{Name: serve.InputName, Datatype: "FP32", Shape: shape,
				Contents: &inference.InferTensorContents{Fp32Contents: src[i*per : (i+1)*per]}}}})
		if err != nil {
			t.Fatal(err)
		}
		// One image alone may take other kernels' paths than in a batch:
		// compare with Predict on it alone.
		one := make([]float32, resnet50v2.Classes)
		if err := m.Predict(one, src[i*per:(i+1)*per]); err != nil {
			t.Fatal(err)
		}
		if got := fromRaw(t, r.RawOutputContents[0]); !equal(got, one) {
			t.Errorf("image %d alone: outputs differ from Predict's", i)
		}
	}
}

package grpcv2_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rnc-dev/rnc/serve"
	"github.com/rnc-dev/rnc/serve/grpcv2"
	"github.com/rnc-dev/rnc/serve/grpcv2/inference"
)

// sum is a model of 1×2×2 images whose one output is the sum of the image.
type sum struct{}

func (sum) Predict(dst, src []float32) error {
	for i := range dst {
		dst[i] = 0
		for _, v := range src[4*i : 4*i+4] {
			dst[i] += v
		}
	}
	return nil
}

// A server on a loopback port, and a client asking for two images in
// fp32_contents and their outputs in contents.
func Example() {
	s, err := grpcv2.NewServer(serve.Direct(sum{}), serve.Config{Name: "sum", InputH: 1, InputW: 2, InputC: 2, Classes: 1})
	if err != nil {
		log.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	g := s.GRPCServer()
	go g.Serve(lis)
	defer g.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	c := inference.NewGRPCInferenceServiceClient(conn)
	r, err := c.ModelInfer(context.Background(), &inference.ModelInferRequest{
		ModelName: "sum",
		Inputs: []*inference.ModelInferRequest_InferInputTensor{{
			Name: serve.InputName, Datatype: "FP32", Shape: []int64{2, 1, 2, 2},
			Contents: &inference.InferTensorContents{Fp32Contents: []float32{1, 2, 3, 4, 0.5, 0.25, 0, 0}},
		}},
		Outputs: []*inference.ModelInferRequest_InferRequestedOutputTensor{{
			Name:       serve.OutputName,
			Parameters: map[string]*inference.InferParameter{"binary_data": {ParameterChoice: &inference.InferParameter_BoolParam{BoolParam: false}}},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	o := r.Outputs[0]
	fmt.Println(o.Name, o.Datatype, o.Shape, o.Contents.Fp32Contents)
	// Output: output FP32 [2 1] [10 0.75]
}

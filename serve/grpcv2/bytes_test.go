package grpcv2

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/rnc-dev/rnc/serve/grpcv2/inference"
)

// pixels is a test Preprocess: the R, G, B values of a 2×2 image, /255.
func pixels(dst []float32, img image.Image) error {
	b := img.Bounds()
	o := 0
	for y := 0; y < 2; y++ {
		for x := 0; x < 2; x++ {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			dst[o], dst[o+1], dst[o+2] = float32(r>>8)/255, float32(g>>8)/255, float32(bl>>8)/255
			o += 3
		}
	}
	return nil
}

// pngOf encodes a w×h image whose pixels depend on seed.
func pngOf(t *testing.T, w, h int, seed uint8) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.RGBA{seed + uint8(10*x), seed + uint8(20*y), seed * 3, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestInferBytes: BYTES inputs of PNG images, in bytes_contents and in
// raw_input_contents (length-prefixed elements), are made the model's input
// by the Config's Preprocess, as REST makes them; malformed ones, a model
// without preprocessing and an image over MaxImagePixels (its header read,
// nothing decoded) are InvalidArgument.
func TestInferBytes(t *testing.T) {
	cfg := testCfg
	cfg.Preprocess = pixels
	c := dial(t, newServer(t, &fake{}, cfg))
	imgs := [][]byte{pngOf(t, 2, 2, 1), pngOf(t, 2, 2, 7)}
	var wantOut []float32
	for _, b := range imgs {
		m, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, perImage)
		pixels(x, m)
		for k := range testCfg.Classes {
			wantOut = append(wantOut, 2*x[k])
		}
	}
	var raw []byte
	for _, b := range imgs {
		raw = binary.LittleEndian.AppendUint32(raw, uint32(len(b)))
		raw = append(raw, b...)
	}
	bytesIn := func(n int64) []*inference.ModelInferRequest_InferInputTensor {
		return []*inference.ModelInferRequest_InferInputTensor{{Name: "input", Datatype: "BYTES", Shape: []int64{n}}}
	}
	contents := &inference.ModelInferRequest{ModelName: "toy", Inputs: bytesIn(2)}
	contents.Inputs[0].Contents = &inference.InferTensorContents{BytesContents: imgs}
	for what, req := range map[string]*inference.ModelInferRequest{
		"bytes_contents":     contents,
		"raw_input_contents": {ModelName: "toy", Inputs: bytesIn(2), RawInputContents: [][]byte{raw}},
	} {
		r, err := c.ModelInfer(context.Background(), req)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := fromRaw(t, r.GetRawOutputContents()[0]); !equal(got, wantOut) {
			t.Errorf("%s: outputs %v, want %v", what, got, wantOut)
		}
	}

	huge := pngOf(t, 2, 2, 1)
	binary.BigEndian.PutUint32(huge[16:], 1<<20) // IHDR width and height: 2^40 pixels
	binary.BigEndian.PutUint32(huge[20:], 1<<20)
	binary.BigEndian.PutUint32(huge[29:], crc32.ChecksumIEEE(huge[12:29])) // IHDR's CRC
	for _, tc := range []struct {
		what string
		req  *inference.ModelInferRequest
		msg  string
	}{
		{"not an image", &inference.ModelInferRequest{ModelName: "toy", Inputs: bytesIn(1), RawInputContents: [][]byte{append(binary.LittleEndian.AppendUint32(nil, 5), "hello"...)}}, "element 0: 5 bytes that are not a JPEG or PNG image"},
		{"too long an element", &inference.ModelInferRequest{ModelName: "toy", Inputs: bytesIn(1), RawInputContents: [][]byte{binary.LittleEndian.AppendUint32(nil, 9)}}, "element 0 has length 9, but only 0 bytes follow"},
		{"more elements than the shape", &inference.ModelInferRequest{ModelName: "toy", Inputs: bytesIn(1), RawInputContents: [][]byte{raw}}, "holds more than the shape's 1 elements"},
		{"fewer elements", &inference.ModelInferRequest{ModelName: "toy", Inputs: bytesIn(3), RawInputContents: [][]byte{raw}}, "shape [3], but the data holds 2 elements"},
		{"a shape of images", &inference.ModelInferRequest{ModelName: "toy", Inputs: []*inference.ModelInferRequest_InferInputTensor{{Name: "input", Datatype: "BYTES", Shape: []int64{1, 2, 2, 3}}}}, "want [n], one encoded image per element"},
		{"too many images", &inference.ModelInferRequest{ModelName: "toy", Inputs: bytesIn(4)}, "want [n], one encoded image per element, n from 1 to 3"},
		{"huge image", &inference.ModelInferRequest{ModelName: "toy", Inputs: bytesIn(1), RawInputContents: [][]byte{append(binary.LittleEndian.AppendUint32(nil, uint32(len(huge))), huge...)}}, "a 1048576×1048576 png image: at most 16777216 pixels"},
	} {
		_, err := c.ModelInfer(context.Background(), tc.req)
		checkCode(t, tc.what, err, codes.InvalidArgument, tc.msg)
	}
	_, err := dial(t, newServer(t, &fake{}, testCfg)).ModelInfer(context.Background(), contents)
	checkCode(t, "a model without preprocessing", err, codes.InvalidArgument, "takes no encoded images")
}

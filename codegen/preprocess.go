package codegen

import (
	"bytes"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/rnc-dev/rnc/ir"
)

// prepDocs says what each of the IR's input conventions does, in the
// generated doc comments. The IR's mode names are the runtime's
// (TestPrepModes).
var prepDocs = map[string]string{
	"":             "none; Preprocess returns an error",
	ir.PrepRaw:     "the R, G, B values 0..255 as they are",
	ir.PrepTF:      "x/127.5 − 1 per R, G, B, in −1..1\n// (Keras's preprocess_input mode \"tf\")",
	ir.PrepCaffe:   "B, G, R minus ImageNet's mean pixel [103.939, 116.779,\n// 123.68] (Keras's preprocess_input mode \"caffe\")",
	ir.PrepTorch:   "(x/255 − [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]\n// per R, G, B (Keras's preprocess_input mode \"torch\")",
	ir.PrepMeanStd: "(x/255 − mean) / std per R, G, B",
}

// preprocessAPI writes the generated model.go's Preprocessing, Preprocess
// and PreprocessInto for the Input's declared convention p.
func preprocessAPI(b *bytes.Buffer, p ir.Preprocessing, src string) error {
	if err := p.Check(); err != nil {
		return fmt.Errorf("input preprocessing: %w", err)
	}
	doc, ok := prepDocs[p.Mode]
	if !ok {
		return fmt.Errorf("input preprocessing %q: codegen does not know it", p.Mode)
	}
	lit := fmt.Sprintf("runtime.Preprocessing{Mode: %q}", p.Mode)
	if p.Mode == ir.PrepMeanStd {
		floats := func(v [3]float64) string {
			s := make([]string, 3)
			for i, f := range v {
				s[i] = strconv.FormatFloat(f, 'g', -1, 64)
			}
			return strings.Join(s, ", ")
		}
		lit = fmt.Sprintf("runtime.Preprocessing{Mode: %q, Mean: [3]float64{%s}, Std: [3]float64{%s}}", p.Mode, floats(p.Mean), floats(p.Std))
		doc += fmt.Sprintf(",\n// mean [%s],\n// std [%s]", floats(p.Mean), floats(p.Std))
	}
	fmt.Fprintf(b, `
// Preprocessing is the input convention %s declares (its
// Input's preprocessing), %q:
// %s.
const Preprocessing = %q

var preprocessing = %s

// Preprocess makes img the model's input: one
// InputHeight×InputWidth×InputChannels NHWC float32 image, what Keras's
//
//	x = img_to_array(load_img(path, target_size=(InputHeight, InputWidth)))
//	x = preprocess_input(x)
//
// gives for the model's convention (Preprocessing). The image is resized as
// load_img resizes by default, with PIL's NEAREST: no smoothing, each
// output pixel a copy of the source pixel PIL picks (the same pixel, not
// an approximation), so that the model sees what it saw in Keras; its
// R, G, B values are those PIL's convert("RGB") gives (alpha dropped, not
// composited; gray and palettes expanded). A JPEG decoded by image/jpeg
// gives PIL's values up to the decoders' IDCT differences, at most 3 of 255
// levels (runtime.PreprocessImage has the details). It returns an error
// for a model that declares no convention or whose input is not 3
// channels, and for a nil or empty image.
func Preprocess(img image.Image) ([]float32, error) {
	x := make([]float32, InputHeight*InputWidth*InputChannels)
	if err := PreprocessInto(x, img); err != nil {
		return nil, err
	}
	return x, nil
}

// PreprocessInto is Preprocess into dst[:InputHeight*InputWidth*InputChannels]
// (a batch: one call per image, on consecutive slices of one buffer). It
// allocates nothing for the standard library's image types, and writes
// nothing when it returns an error (dst too short, among others).
func PreprocessInto(dst []float32, img image.Image) error {
	return runtime.PreprocessImage(dst, img, InputHeight, InputWidth, InputChannels, preprocessing)
}
`, path.Base(src), p.Mode, doc, p.Mode, lit)
	return nil
}

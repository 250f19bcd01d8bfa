package codegen

import (
	"fmt"
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

// prepAPI is what varies in the generated model.go's Preprocessing,
// Preprocess and PreprocessInto (templates/model.go.txt).
type prepAPI struct {
	Mode    string // the Input's convention, ir.Prep*
	Doc     string // what it does, for the doc comment
	Literal string // the runtime.Preprocessing literal
	Resize  int    // torchvision's Resize before the center crop; 0: Keras's NEAREST resize
	Nearest bool   // Resize is 0
}

// preprocessAPI returns the generated model.go's Preprocessing, Preprocess
// and PreprocessInto for the Input's declared convention p.
func preprocessAPI(p ir.Preprocessing) (prepAPI, error) {
	if err := p.Check(); err != nil {
		return prepAPI{}, fmt.Errorf("input preprocessing: %w", err)
	}
	doc, ok := prepDocs[p.Mode]
	if !ok {
		return prepAPI{}, fmt.Errorf("input preprocessing %q: codegen does not know it", p.Mode)
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
	if p.NCHW {
		lit = strings.TrimSuffix(lit, "}") + ", NCHW: true}"
		doc += ";\n// written channels first (C, H, W), as the model's NCHW input"
	}
	if p.Resize > 0 {
		lit = strings.TrimSuffix(lit, "}") + fmt.Sprintf(", Resize: %d}", p.Resize)
		doc += fmt.Sprintf(";\n// after torchvision's Resize(%d) and CenterCrop to the input's size", p.Resize)
	}
	return prepAPI{p.Mode, doc, lit, p.Resize, p.Resize == 0}, nil
}

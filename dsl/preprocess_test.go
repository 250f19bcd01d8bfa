package dsl

import (
	"testing"

	"github.com/rnc-dev/rnc/ir"
)

// inputModel is a model whose Input call takes args.
func inputModel(shape, args string) string {
	return "model m() {\n    x = Input(shape = " + shape + args + ")\n    return GlobalAveragePooling2D(x)\n}\n"
}

// TestPreprocessing: Input's preprocessing, mean and std reach the Input
// op's attributes.
func TestPreprocessing(t *testing.T) {
	cases := []struct {
		args string
		want ir.Preprocessing
	}{
		{"", ir.Preprocessing{}},
		{`, preprocessing = none`, ir.Preprocessing{}},
		{`, preprocessing = "raw"`, ir.Preprocessing{Mode: ir.PrepRaw}},
		{`, preprocessing = "tf"`, ir.Preprocessing{Mode: ir.PrepTF}},
		{`, preprocessing = "caffe"`, ir.Preprocessing{Mode: ir.PrepCaffe}},
		{`, preprocessing = "torch"`, ir.Preprocessing{Mode: ir.PrepTorch}},
		{`, preprocessing = "torch", resize = 256, layout = "nchw"`, ir.Preprocessing{Mode: ir.PrepTorch, Resize: 256, NCHW: true}},
		{`, preprocessing = "tf", resize = none`, ir.Preprocessing{Mode: ir.PrepTF}},
		{`, name = "img", preprocessing = "meanstd", mean = [0.5, 1, 0.25], std = [1 / 4, 0.5, 0.125]`,
			ir.Preprocessing{Mode: ir.PrepMeanStd, Mean: [3]float64{0.5, 1, 0.25}, Std: [3]float64{0.25, 0.5, 0.125}}},
	}
	for _, c := range cases {
		src := inputModel("[8, 8, 3]", c.args)
		g, err := Load("m.rn", Options{ReadFile: memFS(map[string]string{"m.rn": src})})
		if err != nil {
			t.Fatalf("%s: %v", c.args, err)
		}
		if got := g.Inputs()[0].Def.Attrs.Prep; got != c.want {
			t.Errorf("%s: Prep = %+v, want %+v", c.args, got, c.want)
		}
	}
}

// TestPreprocessingErrors: every wrong declaration is named, at the
// argument at fault.
func TestPreprocessingErrors(t *testing.T) {
	cases := []struct{ shape, args, want string }{
		{"[8, 8, 3]", `, preprocessing = "TF"`,
			`m.rn:2:34: Input: preprocessing must be one of "raw", "tf", "caffe", "torch", "meanstd", got string "TF"`},
		{"[8, 8, 3]", `, preprocessing = 1`,
			`m.rn:2:34: Input: preprocessing must be one of "raw", "tf", "caffe", "torch", "meanstd", got int 1`},
		{"[8, 8, 3]", `, resize = 256`,
			`m.rn:2:34: Input: resize goes with a preprocessing mode (preprocessing = "torch", ...)`},
		{"[8, 8, 3]", `, preprocessing = "torch", resize = 0`,
			`m.rn:2:59: Input: resize must be 1 to 65536, got 0`},
		{"[8, 8, 3]", `, preprocessing = "torch", resize = 2.5`,
			`m.rn:2:59: Input: resize must be an int: the shorter side's length before the center crop, got float 2.5`},
		{"[8, 8, 3]", `, mean = [0, 0, 0]`,
			`m.rn:2:34: Input: mean goes with preprocessing = "meanstd"`},
		{"[8, 8, 3]", `, preprocessing = "caffe", std = [1, 1, 1]`,
			`m.rn:2:59: Input: std goes with preprocessing = "meanstd", not "caffe"`},
		{"[8, 8, 3]", `, preprocessing = "meanstd", mean = [0.5, 0.5, 0.5]`,
			`m.rn:2:34: Input: preprocessing = "meanstd" needs mean and std: three numbers each, for R, G and B, on the 0..1 scale`},
		{"[8, 8, 3]", `, preprocessing = "meanstd", mean = [0.5, 0.5], std = [1, 1, 1]`,
			`m.rn:2:61: Input: mean must be a list of three numbers (R, G, B), got list [0.5, 0.5]`},
		{"[8, 8, 3]", `, preprocessing = "meanstd", mean = [0.5, 0.5, "a"], std = [1, 1, 1]`,
			`m.rn:2:61: Input: mean must be a list of three numbers (R, G, B), got list [0.5, 0.5, "a"]`},
		{"[8, 8, 3]", `, preprocessing = "meanstd", mean = [0.5, 0.5, 0.5], std = [1, 0, 1]`,
			`m.rn:2:85: Input: preprocessing meanstd: std[1] = 0 is not a positive finite float32`},
		{"[8, 8, 3]", `, preprocessing = "meanstd", mean = [0.5, 0.5, 0.5], std = [1, 1, -2]`,
			`m.rn:2:85: Input: preprocessing meanstd: std[2] = -2 is not a positive finite float32`},
		{"[8, 8, 3]", `, preprocessing = "meanstd", mean = [1e308 * 10, 0, 0], std = [1, 1, 1]`,
			`m.rn:2:61: Input: preprocessing meanstd: mean[0] = +Inf is not a finite float32`},
		{"[8, 8, 3]", `, preprocessing = "meanstd", mean = [0.5, 0.5, 0.5], std = [1, 1e-50, 1]`,
			`m.rn:2:85: Input: preprocessing meanstd: std[1] = 1e-50 is not a positive finite float32`},
		{"[8, 8, 3]", `, preprocessing = "meanstd", mean = [1e308 * 10, 0, 0], std = [1, 0, 1]`,
			`m.rn:2:61: Input: preprocessing meanstd: mean[0] = +Inf is not a finite float32`},
		{"[8, 8, 3]", `, preprocessing = "meanstd", mean = [127, 127, 127], std = [50, 50, 50]`,
			`m.rn:2:61: Input: preprocessing meanstd: mean and std are on the 0..1 scale of x/255 (torchvision's), got mean [127 127 127] std [50 50 50]: divide 0..255-scale constants by 255`},
		{"[12]", `, preprocessing = "tf"`,
			`m.rn:2:29: Input: preprocessing = "tf" needs an image input, shape [height, width, channels]`},
	}
	for _, c := range cases {
		src := inputModel(c.shape, c.args)
		_, err := Load("m.rn", Options{ReadFile: memFS(map[string]string{"m.rn": src})})
		if err == nil {
			t.Errorf("%s: no error, want %q", c.args, c.want)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("%s: error\n got: %s\nwant: %s", c.args, err, c.want)
		}
	}
}

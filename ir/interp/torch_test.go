package interp

import (
	"math"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/runtime"
)

// torchModel expands src (the body of a model m(), its input x a 7x6x8
// map) from the model language.
func torchModel(t *testing.T, body string) (*ir.Graph, error) {
	t.Helper()
	src := "model m() {\n    x = Input(shape = [7, 6, 8])\n" + body + "}\n"
	return dsl.Load("m.rn", dsl.Options{ReadFile: func(string) ([]byte, error) { return []byte(src), nil }})
}

// TestTorchBuiltins: the PyTorch builtins compute PyTorch's layers.
// MaxPool2d pads with −∞: on a map of negative values its border windows
// give the largest real cell, where ZeroPadding2D + MaxPooling2D (Keras)
// gives 0. Conv2d's symmetric padding equals ZeroPadding2D + Conv2D, with
// groups and without bias; BatchNorm2d is BatchNormalization with eps
// 1e-5; AdaptiveAvgPool2d(1) and Linear are global average pooling and
// Dense. Arguments PyTorch refuses are errors.
func TestTorchBuiltins(t *testing.T) {
	run := func(g *ir.Graph, w *runtime.Weights, x []float32) []float32 {
		t.Helper()
		out, err := Eval(g, w, x, 1)
		if err != nil {
			t.Fatal(err)
		}
		return out[0]
	}
	neg := make([]float32, 7*6*8)
	for i := range neg {
		neg[i] = -1 - float32(i%13)
	}
	torch, err := torchModel(t, "    return MaxPool2d(x, 3, stride = 2, padding = 1)\n")
	if err != nil {
		t.Fatal(err)
	}
	keras, err := torchModel(t, "    y = ZeroPadding2D(x, padding = 1)\n    return MaxPooling2D(y, 3, strides = 2)\n")
	if err != nil {
		t.Fatal(err)
	}
	pt, kz := run(torch, RandomWeights(torch, 1), neg), run(keras, RandomWeights(keras, 1), neg)
	if len(pt) != 4*3*8 || len(kz) != len(pt) {
		t.Fatalf("outputs of %d and %d values, want %d", len(pt), len(kz), 4*3*8)
	}
	border := 0
	for i, v := range pt {
		switch {
		case !(v < 0):
			t.Fatalf("value %d: MaxPool2d %v, want the largest real cell (< 0)", i, v)
		case kz[i] == 0: // a window over the zero padding
			border++
		case kz[i] != v:
			t.Fatalf("value %d: MaxPool2d %v, zero padding %v: an inner window differs", i, v, kz[i])
		}
	}
	if border == 0 {
		t.Fatal("no window reached the padding")
	}

	conv, err := torchModel(t, "    y = Conv2d(x, 12, 3, stride = 2, padding = [1, 2], groups = 4, bias = false, name = \"c\")\n"+
		"    y = BatchNorm2d(y, name = \"bn\")\n    y = AdaptiveAvgPool2d(y, 1)\n    return Linear(y, 5, name = \"fc\")\n")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := torchModel(t, "    y = ZeroPadding2D(x, padding = [[1, 1], [2, 2]])\n    y = Conv2D(y, 12, 3, strides = 2, groups = 4, use_bias = false, name = \"c\")\n"+
		"    y = BatchNormalization(y, epsilon = 1e-5, name = \"bn\")\n    y = GlobalAveragePooling2D(y)\n    return Dense(y, 5, name = \"fc\")\n")
	if err != nil {
		t.Fatal(err)
	}
	w := RandomWeights(conv, 3)
	x := RandomInput(7, 6, 8, 1, 4)
	a, b := run(conv, w, x), run(ref, w, x)
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6 {
			t.Fatalf("output %d: PyTorch builtins %v, Keras builtins %v", i, a[i], b[i])
		}
	}

	for _, c := range []struct{ body, want string }{
		{"    return MaxPool2d(x, 3, padding = 2)\n", "padding must be between 0 and half the kernel"},
		{"    return AdaptiveAvgPool2d(x, 2)\n", "only output_size 1"},
		{"    return Conv2d(x, 6, 3, groups = 4)\n", "groups = 4 must divide the input channels (8) and the filters (6)"},
		{"    return Conv2d(x, 8, 3, padding = -1)\n", "padding must not be negative"},
	} {
		if _, err := torchModel(t, c.body); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.body, err, c.want)
		}
	}
}

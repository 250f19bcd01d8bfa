package codegen

import (
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/internal/gotmpl"
	"github.com/rnc-dev/rnc/ir"
)

// TestTemplates instantiates every template of a generated file
// (templates/*.go.txt) with representative values: each gives a Go file
// that parses and that gofmt leaves as it is (before Generate formats it),
// with the values where they belong.
func TestTemplates(t *testing.T) {
	meanstd, err := preprocessAPI(ir.Preprocessing{Mode: ir.PrepMeanStd, Mean: [3]float64{0.5, 0.25, 0.125}, Std: [3]float64{1, 0.75, 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	none, err := preprocessAPI(ir.Preprocessing{})
	if err != nil {
		t.Fatal(err)
	}
	model := modelFile{Header: Header, Package: "resnet50v2", Source: "resnet50v2.rn", Targets: "avx512, avx2, generic",
		OutShape: "a vector of Classes values", InputHeight: 224, InputWidth: 225, InputChannels: 3, Classes: 1000,
		OutputHeight: 1, OutputWidth: 1, OutputChannels: 1000, Prep: meanstd}
	copied := model
	copied.Runtime, copied.Prep = "example.com/m/resnet50v2/runtime", none
	for _, c := range []struct {
		name string
		tm   *gotmpl.Template
		data any
		want []string // substrings of the instantiated file
	}{
		{"model.go", modelTemplate, model, []string{
			Header + "\n\n// Package resnet50v2 runs resnet50v2.rn, compiled by rnc for avx512, avx2, generic.\n//\n//\tm, err := resnet50v2.Load(",
			"\tInputWidth     = 225\n", "\tOutputChannels = 1000\n", "one of the compiled targets (avx512, avx2, generic)",
			"const Preprocessing = \"meanstd\"\n", "\n// mean [0.5, 0.25, 0.125],\n// std [1, 0.75, 0.5].\n",
			"var preprocessing = runtime.Preprocessing{Mode: \"meanstd\", Mean: [3]float64{0.5, 0.25, 0.125}, Std: [3]float64{1, 0.75, 0.5}}\n"}},
		{"model.go (runtime copy)", modelTemplate, copied, []string{
			"//\n// It runs on a copy of rnc's runtime,\n// example.com/m/resnet50v2/runtime, which needs the module\n",
			"const Preprocessing = \"\"\n", "var preprocessing = runtime.Preprocessing{Mode: \"\"}\n"}},
		{"model_test.go", testTemplate, pkgFile{Header, "resnet50v2"},
			[]string{Header + "\n\npackage resnet50v2\n", "}{{2 * Classes, 0}, {"}},
		{"peak.go", peakTemplate, pkgFile{Header, "peak"},
			[]string{Header + "\n\n// Package peak measures the FMA and int8 (VNNI) peaks of this machine.\npackage peak\n"}},
	} {
		src, err := gotmpl.Execute(c.tm, c.data)
		if err != nil {
			t.Fatal(err)
		}
		if err := gotmpl.Check(c.name, src); err != nil {
			t.Error(err)
		}
		for _, w := range c.want {
			if !strings.Contains(string(src), w) {
				t.Errorf("%s: no %q in\n%s", c.name, w, src)
			}
		}
	}
}

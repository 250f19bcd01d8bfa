package codegen

import (
	_ "embed"

	"github.com/rnc-dev/rnc/internal/gotmpl"
)

// The generated package's Go files that are not mostly data are
// text/templates (internal/gotmpl) in templates/*.go.txt, each executed on
// a struct of what varies (TestTemplates).

// modelTemplate is the generated package's API, model.go
// (templates/model.go.txt, on modelFile): its shapes and targets, Load,
// New, Predict and the preprocessing of its input convention.
var modelTemplate = gotmpl.Parse("model.go.txt", modelTemplateText)

//go:embed templates/model.go.txt
var modelTemplateText string

// modelFile is what varies in model.go.
type modelFile struct {
	Header, Package string
	Source          string // the model file's base name, or "a model"
	Targets         string // the compiled targets, "avx512, avx2, generic"
	Runtime         string // the import path of the runtime's copy, "" for rnc's runtime
	OutShape        string // what one output is, for the doc comment
	InputLayout     string // "NHWC", or "NCHW" for an Input declared layout = "nchw"
	InputHeight, InputWidth, InputChannels,
	Classes, OutputHeight, OutputWidth, OutputChannels int
	Prep prepAPI
}

// testTemplate is the generated package's test file, model_test.go
// (templates/model_test.go.txt, on pkgFile): API checks on
// synthetic weights, allocation and determinism checks, an optional
// comparison with reference outputs (RNC_REFERENCE=dir holding
// weights.h5 or weights.safetensors, input.f32 and expected.f32), and
// benchmarks. Preparing a model (its weight program) is what these tests
// spend most time on for a large model: they make the synthetic weights
// once and as few models as they can.
var testTemplate = gotmpl.Parse("model_test.go.txt", testTemplateText)

//go:embed templates/model_test.go.txt
var testTemplateText string

// pkgFile is what varies in model_test.go and peak.go.
type pkgFile struct {
	Header  string // the first line, Header
	Package string // the package name
}

// peakTemplate is peak.go of the package PeakPackage generates
// (templates/peak.go.txt, on pkgFile): GFLOPS, which times its kernels.
var peakTemplate = gotmpl.Parse("peak.go.txt", peakTemplateText)

//go:embed templates/peak.go.txt
var peakTemplateText string

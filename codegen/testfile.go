package codegen

import (
	_ "embed"

	"github.com/rnc-dev/rnc/internal/gotmpl"
)

// testTemplate is the generated package's test file, model_test.go
// (templates/model_test.go.txt, a text/template on testFile): API checks on
// synthetic weights, allocation and determinism checks, an optional
// comparison with reference outputs (RNC_REFERENCE=dir holding
// weights.h5 or weights.safetensors, input.f32 and expected.f32), and
// benchmarks. Preparing a model (its weight program) is what these tests
// spend most time on for a large model: they make the synthetic weights
// once and as few models as they can.
var testTemplate = gotmpl.Parse("model_test.go.txt", testTemplateText)

//go:embed templates/model_test.go.txt
var testTemplateText string

// testFile is what varies in model_test.go.
type testFile struct {
	Header  string // the first line, Header
	Package string // the package name
}

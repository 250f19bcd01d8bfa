package codegen

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
)

// prepModel is a small model whose Input takes args.
func prepModel(t *testing.T, shape, args string) *ir.Graph {
	t.Helper()
	src := fmt.Sprintf("model m() {\n    x = Input(shape = %s%s)\n    y = Conv2D(x, 4, 1)\n    return GlobalAveragePooling2D(y)\n}\n", shape, args)
	g, err := dsl.Load("m.rn", dsl.Options{ReadFile: func(string) ([]byte, error) { return []byte(src), nil }})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestPreprocessAPI: the generated model.go has Preprocess and
// PreprocessInto, the Preprocessing constant and the runtime convention of
// the model's Input (the mean and std of meanstd to the last bit), for
// every mode, for a model without a convention and for a one-channel
// model; a graph with a broken convention is refused.
func TestPreprocessAPI(t *testing.T) {
	cases := []struct {
		shape, args, mode string
		mean, std         [3]float64
		extra             string // the literal's fields after Mode (torchvision's resize)
	}{
		{"[8, 8, 3]", "", "", [3]float64{}, [3]float64{}, ""},
		{"[8, 8, 3]", `, preprocessing = "raw"`, "raw", [3]float64{}, [3]float64{}, ""},
		{"[8, 8, 3]", `, preprocessing = "tf"`, "tf", [3]float64{}, [3]float64{}, ""},
		{"[8, 8, 3]", `, preprocessing = "caffe"`, "caffe", [3]float64{}, [3]float64{}, ""},
		{"[8, 8, 3]", `, preprocessing = "torch"`, "torch", [3]float64{}, [3]float64{}, ""},
		{"[8, 8, 3]", `, preprocessing = "meanstd", mean = [125.3 / 255, 0.1, 1e-7], std = [0.3, 1 / 3, 0.7]`, "meanstd",
			[3]float64{125.3 / float64(255), 0.1, 1e-7}, [3]float64{0.3, 1 / float64(3), 0.7}, ""},
		{"[8, 8, 1]", `, preprocessing = "tf"`, "tf", [3]float64{}, [3]float64{}, ""},
		{"[8, 8, 3]", `, preprocessing = "torch", resize = 10, layout = "nchw"`, "torch", [3]float64{}, [3]float64{}, ", NCHW: true, Resize: 10"},
	}
	for _, c := range cases {
		g := prepModel(t, c.shape, c.args)
		res, err := Generate(g, Options{Package: "p", Pipeline: passes.Config{Check: true}, Source: "models/m.rn"})
		if err != nil {
			t.Fatalf("%s: %v", c.args, err)
		}
		src := string(res.Files["model.go"])
		f, err := parser.ParseFile(token.NewFileSet(), "model.go", src, 0)
		if err != nil {
			t.Fatalf("%s: %v", c.args, err)
		}
		decls := map[string]bool{}
		var lit string
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				decls[d.Name.Name] = true
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if v, ok := s.(*ast.ValueSpec); ok {
						decls[v.Names[0].Name] = true
						if v.Names[0].Name == "preprocessing" {
							lit = src[v.Values[0].Pos()-1 : v.Values[0].End()-1]
						}
					}
				}
			}
		}
		for _, n := range []string{"Preprocess", "PreprocessInto", "Preprocessing", "preprocessing"} {
			if !decls[n] {
				t.Errorf("%s: model.go declares no %s", c.args, n)
			}
		}
		if want := fmt.Sprintf("const Preprocessing = %q\n", c.mode); !strings.Contains(src, want) {
			t.Errorf("%s: model.go lacks %q", c.args, want)
		}
		want := fmt.Sprintf("runtime.Preprocessing{Mode: %q%s}", c.mode, c.extra)
		if c.extra != "" && !strings.Contains(src, "Compose([Resize(10), CenterCrop((InputHeight, InputWidth))") {
			t.Errorf("%s: Preprocess's doc does not say it is torchvision's transform", c.args)
		}
		if c.mode == "meanstd" {
			want = fmt.Sprintf("runtime.Preprocessing{Mode: %q, Mean: [3]float64{%s}, Std: [3]float64{%s}}", c.mode, floatList(c.mean), floatList(c.std))
			// The literals read back as the float64 values themselves.
			nums := regexp.MustCompile(`\{([^{}]*)\}`).FindAllStringSubmatch(lit, -1)
			vals := append(c.mean[:], c.std[:]...)
			var got []float64
			for _, m := range nums {
				for _, f := range strings.Split(m[1], ",") {
					v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
					if err != nil {
						t.Fatalf("%s: %s: %v", c.args, lit, err)
					}
					got = append(got, v)
				}
			}
			if !slices.Equal(got, vals) {
				t.Errorf("%s: %s reads back as %v, want %v", c.args, lit, got, vals)
			}
		}
		if lit != want {
			t.Errorf("%s: preprocessing = %s, want %s", c.args, lit, want)
		}
	}
	g := prepModel(t, "[8, 8, 3]", `, preprocessing = "tf"`)
	g.Inputs()[0].Def.Attrs.Prep = ir.Preprocessing{Mode: "meanstd", Std: [3]float64{1, 0, 1}}
	if _, err := Generate(g, Options{Package: "p"}); err == nil || !strings.Contains(err.Error(), "input preprocessing: preprocessing meanstd: std[1] = 0") {
		t.Errorf("broken convention: error %v", err)
	}
}

func floatList(v [3]float64) string {
	s := make([]string, 3)
	for i, f := range v {
		s[i] = strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strings.Join(s, ", ")
}

// TestPrepModes: the IR's convention names are the runtime's, which the
// generated literal passes through, and every one has a doc.
func TestPrepModes(t *testing.T) {
	if !slices.Equal(ir.PrepModes, []string{runtime.PrepRaw, runtime.PrepTF, runtime.PrepCaffe, runtime.PrepTorch, runtime.PrepMeanStd}) {
		t.Errorf("ir.PrepModes %q differ from the runtime's", ir.PrepModes)
	}
	for _, m := range append(ir.PrepModes, "") {
		if prepDocs[m] == "" {
			t.Errorf("mode %q has no doc", m)
		}
	}
}

package passes

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rnc-dev/rnc/ir"
)

var update = flag.Bool("update", false, "rewrite the golden dumps in testdata/dumps")

// TestOrder: the pipeline satisfies every ordering constraint, each pass
// has its own file and test file, and every pass is named in a constraint.
func TestOrder(t *testing.T) {
	named := map[string]bool{}
	all := map[string]bool{}
	for _, prec := range []Precision{F32, Int8} {
		index := map[string]int{}
		for i, p := range passes(Config{Target: AVX512, Precision: prec}) {
			index[p.Name], all[p.Name] = i, true
			for _, f := range []string{p.Name + ".go", p.Name + "_test.go"} {
				if _, err := os.Stat(f); err != nil {
					t.Errorf("pass %s: %v", p.Name, err)
				}
			}
		}
		for _, c := range Constraints {
			b, okb := index[c.Before]
			a, oka := index[c.After]
			if !okb || !oka {
				continue // a pass of the other precision's pipeline
			}
			if b >= a {
				t.Errorf("%s: %s must run before %s: %s", prec, c.Before, c.After, c.Why)
			}
			named[c.Before], named[c.After] = true, true
		}
	}
	for _, c := range Constraints {
		if !all[c.Before] || !all[c.After] {
			t.Errorf("constraint %s < %s names an unknown pass", c.Before, c.After)
		}
	}
	for name := range all {
		if !named[name] {
			t.Errorf("pass %s is in no ordering constraint", name)
		}
	}
}

// TestPanicNamesPass: a panic inside a pass is re-raised naming the pass
// and the model.
func TestPanicNamesPass(t *testing.T) {
	defer func() {
		r := recover()
		if s := fmt.Sprint(r); !strings.Contains(s, "panic during boom while compiling m.rn: broken invariant") {
			t.Errorf("panic %q", s)
		}
	}()
	g := loadSmall(t, "tinyv2")
	_ = runPass(g, Pass{Name: "boom", Run: func(*ir.Graph) error { panic("broken invariant") }}, Config{Model: "m.rn"})
	t.Error("no panic")
}

// TestDisable: a disabled pass does not run; an unknown one is an error.
func TestDisable(t *testing.T) {
	g := loadSmall(t, "tinyv2")
	if err := Run(g, Config{Target: AVX512, Disable: []string{"fuse", "memplan"}, Check: true}); err != nil {
		t.Fatal(err)
	}
	for _, op := range g.Ops {
		if len(op.Attrs.Epi) > 0 || op.Kind == ir.Head || op.Out().Mem.Size > 0 {
			t.Fatalf("fuse or memplan ran: %s", ir.FormatOp(op))
		}
	}
	err := Run(loadSmall(t, "tinyv2"), Config{Disable: []string{"fusion"}})
	if err == nil || !strings.Contains(err.Error(), "--disable fusion: no such pass") {
		t.Errorf("error %v", err)
	}
}

// TestLowered: after the whole pipeline ResNet50V2 has no batch norm, pad,
// subsampling pool or reorder left, and nothing between the first conv and
// the head reads or writes nhwc.
func TestLowered(t *testing.T) {
	for _, target := range []Target{AVX512, AVX2} {
		g := loadSmall(t, "resnet50v2")
		if err := Run(g, Config{Target: target, Check: true}); err != nil {
			t.Fatal(err)
		}
		for _, op := range g.Ops {
			switch {
			case op.Kind == ir.BatchNorm || op.Kind == ir.ZeroPad || op.Kind == ir.Reorder || op.Kind == ir.Affine:
				t.Errorf("%s: %s left standing", target, ir.FormatOp(op))
			case op.Kind == ir.MaxPool && op.Attrs.Kernel == [2]int{1, 1}:
				t.Errorf("%s: %s left standing", target, ir.FormatOp(op))
			case op.Kind != ir.Input && op.Kind != ir.Head && op.Out().Type.Layout != target.Layout():
				t.Errorf("%s: %s is not %s", target, ir.FormatOp(op), target.Layout())
			}
		}
	}
}

// TestDumps compares conv2_block1 and conv3_block4 of ResNet50 (original
// blocks) and ResNet50V2 (pre-activation) after every pass with the golden
// dumps in testdata/dumps (go test ./passes -update rewrites them).
func TestDumps(t *testing.T) {
	for _, m := range []string{"resnet50", "resnet50v2"} {
		for _, block := range []string{"conv2_block1", "conv3_block4"} {
			g, err := loadFull(m)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			filter := func(op *ir.Op) bool {
				for _, n := range op.Names {
					if strings.HasPrefix(n, block+"_") {
						return true
					}
				}
				return false
			}
			fmt.Fprintf(&b, "# %s %s after each pass (target avx512, input 224x224); go test ./passes -update rewrites this file\n", m, block)
			cfg := Config{Target: AVX512, Check: true, After: func(i int, pass string, g *ir.Graph) error {
				fmt.Fprintf(&b, "\n== %d %s\n", i, pass)
				for _, op := range g.Ops {
					if filter(op) {
						b.WriteString(ir.FormatOp(op) + "\n")
					}
				}
				return nil
			}}
			if err := Run(g, cfg); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("..", "testdata", "dumps", m+"_"+block+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./passes -update)", err)
			}
			if d := cmp.Diff(string(want), b.String()); d != "" {
				t.Errorf("%s differs (-golden +now); if intended, go test ./passes -update:\n%s", path, d)
			}
		}
	}
}

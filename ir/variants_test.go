package ir_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
)

// namedVariants are the networks of He et al., "Identity Mappings in Deep
// Residual Networks" (models/lib/variants.rn, docs/variants.md).
var namedVariants = []string{"resnet110", "resnet110v2", "resnet164", "resnet164v2", "resnet1001", "resnet1001v2", "resnet200v2"}

// variantFiles lists every variant model: the named networks and
// models/variants/*.rn, as names under models/.
func variantFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "models", "variants", "*.rn"))
	if err != nil || len(files) < 12 {
		t.Fatalf("models/variants holds %d models (%v)", len(files), err)
	}
	names := append([]string(nil), namedVariants...)
	for _, f := range files {
		names = append(names, "variants/"+strings.TrimSuffix(filepath.Base(f), ".rn"))
	}
	return names
}

// TestVariantsRoundTrip: every variant model expands at its default size,
// verifies, and its IR text round-trips (Print(Parse(Print(g))) ==
// Print(g)); so does its clone.
func TestVariantsRoundTrip(t *testing.T) {
	for _, m := range variantFiles(t) {
		checkRoundTrip(t, m)
	}
}

// paperParams counts parameters as the paper does: the weights of the
// convolutions and the classifier, not BatchNormalization's.
func paperParams(g *ir.Graph) int { return int(ir.Count(g).ConvDense) }

// millions formats n as the paper does: millions, one decimal.
func millions(n int) string { return fmt.Sprintf("%.1fM", math.Round(float64(n)/1e5)/10) }

// TestVariantParams checks the parameter counts of the paper's networks:
// `rnc summary`'s three totals (Keras's: BatchNormalization's four vectors
// included) exactly, and, rounded to the precision the paper prints, its
// figures (ResNet-110 1.7M, ResNet-164 1.7M, ResNet-1001 10.2M; Table 4 and
// Section 5), which count the convolutions' and the classifier's weights
// only. Keras's total rounds to the paper's figure for ResNet-110 and
// ResNet-164, not for ResNet-1001, whose 333 units hold 0.30M BN
// parameters (10.5M): see docs/variants.md.
func TestVariantParams(t *testing.T) {
	want := map[string]struct {
		total, trainable, nonTrainable string
		paper                          string
	}{
		"resnet110":    {"1,739,002", "1,730,714", "8,288", "1.7M"},
		"resnet110v2":  {"1,738,618", "1,730,522", "8,096", "1.7M"},
		"resnet164":    {"1,729,274", "1,704,154", "25,120", "1.7M"},
		"resnet164v2":  {"1,727,482", "1,703,258", "24,224", "1.7M"},
		"resnet1001":   {"10,478,714", "10,328,602", "150,112", "10.2M"},
		"resnet1001v2": {"10,476,922", "10,327,706", "149,216", "10.2M"},
		"resnet200v2":  {"64,894,440", "64,726,120", "168,320", ""}, // the paper gives no count
	}
	for _, m := range namedVariants {
		w, ok := want[m]
		if !ok {
			t.Fatalf("no expected totals for %s", m)
		}
		g := loadModel(t, m)
		var b strings.Builder
		if err := ir.Summary(&b, g); err != nil {
			t.Fatal(err)
		}
		lines := trimLines(b.String())
		got := lines[len(lines)-3:]
		exp := []string{"Total params: " + w.total, "Trainable params: " + w.trainable, "Non-trainable params: " + w.nonTrainable}
		if d := cmp.Diff(exp, got); d != "" {
			t.Errorf("%s summary totals (-want +got):\n%s", m, d)
		}
		if w.paper == "" {
			continue
		}
		if p := paperParams(g); millions(p) != w.paper {
			t.Errorf("%s: %d conv and classifier weights = %s, the paper gives %s", m, p, millions(p), w.paper)
		}
		total := int(ir.Count(g).Params)
		if strings.HasPrefix(m, "resnet1001") {
			continue // Keras's total (BN included) is 10.5M
		}
		if millions(total) != w.paper {
			t.Errorf("%s: summary total %d = %s, the paper gives %s", m, total, millions(total), w.paper)
		}
	}
}

// TestVariantDepth: the named CIFAR networks have the paper's depth
// (weighted layers on the main path: conv1, the units' convs, the
// classifier; projection shortcuts and gates not counted) and ResNet-1001
// over 3000 layers.
func TestVariantDepth(t *testing.T) {
	for m, depth := range map[string]int{"resnet110": 110, "resnet110v2": 110, "resnet164": 164, "resnet164v2": 164, "resnet1001": 1001, "resnet1001v2": 1001} {
		g := loadModel(t, m)
		n := 0
		for _, op := range g.Ops {
			if (op.Kind == ir.Conv2D && !strings.HasSuffix(op.Name(), "_0_conv")) || op.Kind == ir.Dense {
				n++
			}
		}
		if n != depth {
			t.Errorf("%s: %d weighted layers, want %d", m, n, depth)
		}
		if strings.HasPrefix(m, "resnet1001") && len(g.Ops) < 3000 {
			t.Errorf("%s: %d layers", m, len(g.Ops))
		}
	}
}

// TestVariantBadArgument: the variants library rejects an ordering or a
// shortcut it does not define with the error builtin, naming the value
// and the call that passed it.
func TestVariantBadArgument(t *testing.T) {
	lib := filepath.Join("..", "models", "lib", "variants.rn")
	bad := filepath.Join("..", "models", "bad.rn")
	for _, tc := range []struct{ args, want string }{
		{`order = "f", shortcut = "identity"`, "order must be one of a, b, c, d, e, got f"},
		{`order = "a", shortcut = "gating"`, "shortcut must be one of identity, scale, scale_both, gate, gate_shortcut, conv, dropout, got gating"},
	} {
		src := "import \"lib/variants.rn\"\nmodel bad(input_shape = [32, 32, 3]) {\n    x = Input(shape = input_shape)\n" +
			"    x = cifar_resnet(x, 1, bottleneck = false, " + tc.args + ", classes = 10, classifier_activation = \"softmax\")\n" +
			"    return Model(x, x)\n}\n"
		read := func(path string) ([]byte, error) {
			if path == bad {
				return []byte(src), nil
			}
			return os.ReadFile(path)
		}
		_, err := dsl.Load(bad, dsl.Options{ReadFile: read})
		if err == nil {
			t.Fatalf("%s: no error", tc.args)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, lib+":") || !strings.Contains(msg, ": "+tc.want+"\n") || !strings.HasSuffix(msg, "called at "+bad+":4:9") {
			t.Errorf("%s: error\n%s\nwant %s:LINE:COL: %s ... called at %s:4:9", tc.args, msg, lib, tc.want, bad)
		}
	}
}

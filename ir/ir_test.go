package ir_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
)

func loadModel(t testing.TB, name string) *ir.Graph {
	t.Helper()
	g, err := dsl.Load(filepath.Join("..", "models", name+".rn"), dsl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

var allModels = []string{"resnet50v2", "resnet101v2", "resnet152v2", "resnet50", "resnet101", "resnet152", "tinyv2", "tinyv1", "stemv2"}

// TestRoundTrip: Print(Parse(Print(g))) == Print(g), and Verify, on every
// model.
func TestRoundTrip(t *testing.T) {
	for _, m := range allModels {
		checkRoundTrip(t, m)
	}
}

// checkRoundTrip expands model m and checks that it verifies, that its IR
// text round-trips (Print(Parse(Print(g))) == Print(g), the parsed graph
// verifying too) and that its clone prints the same.
func checkRoundTrip(t *testing.T, m string) {
	t.Helper()
	g := loadModel(t, m)
	if err := ir.Verify(g); err != nil {
		t.Fatalf("%s: %v", m, err)
	}
	text := g.String()
	h, err := ir.Parse(text)
	if err != nil {
		t.Fatalf("%s: parse: %v", m, err)
	}
	if err := ir.Verify(h); err != nil {
		t.Fatalf("%s: parsed graph: %v", m, err)
	}
	if d := cmp.Diff(text, h.String()); d != "" {
		t.Errorf("%s: round trip differs (-printed +reprinted):\n%s", m, d)
	}
	if d := cmp.Diff(text, g.Clone().String()); d != "" {
		t.Errorf("%s: clone differs:\n%s", m, d)
	}
}

func trimLines(s string) []string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return lines
}

// TestSummaryResNet50V2 compares `rnc summary` with Keras's own
// model.summary() of ResNet50V2, line for line (trailing spaces ignored).
func TestSummaryResNet50V2(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "testdata", "keras_resnet50v2_summary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := ir.Summary(&b, loadModel(t, "resnet50v2")); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(trimLines(string(want)), trimLines(b.String())); d != "" {
		t.Errorf("summary differs from Keras's (-keras +rnc):\n%s", d)
	}
}

// TestSummaryTotals checks the three totals of every model against Keras's
// (tf.keras.applications) and the reference harness's parameter counts.
func TestSummaryTotals(t *testing.T) {
	want := map[string][3]string{
		"resnet50v2":  {"25,613,800", "25,568,360", "45,440"},
		"resnet101v2": {"44,675,560", "44,577,896", "97,664"},
		"resnet152v2": {"60,380,648", "60,236,904", "143,744"},
		"resnet50":    {"25,636,712", "25,583,592", "53,120"},
		"resnet101":   {"44,707,176", "44,601,832", "105,344"},
		"resnet152":   {"60,419,944", "60,268,520", "151,424"},
		"tinyv2":      {"15,402", "14,794", "608"},
		"tinyv1":      {"17,802", "17,002", "800"},
		"stemv2":      {"60,234", "59,018", "1,216"},
	}
	for m, w := range want {
		var b strings.Builder
		if err := ir.Summary(&b, loadModel(t, m)); err != nil {
			t.Fatal(err)
		}
		lines := trimLines(b.String())
		got := lines[len(lines)-3:]
		exp := []string{"Total params: " + w[0], "Trainable params: " + w[1], "Non-trainable params: " + w[2]}
		if d := cmp.Diff(exp, got); d != "" {
			t.Errorf("%s totals (-want +got):\n%s", m, d)
		}
	}
}

// TestGoldenParamCounts: the golden models' weight files hold exactly the
// tensors (names and shapes) the expanded models declare.
func TestGoldenParamCounts(t *testing.T) {
	for _, m := range []string{"tinyv2", "tinyv1", "stemv2"} {
		g := loadModel(t, m)
		n := 0
		for _, w := range g.Weights.Files() {
			k := 1
			for _, d := range w.Shape {
				k *= d
			}
			n += k
		}
		total := map[string]int{"tinyv2": 15402, "tinyv1": 17802, "stemv2": 60234}[m]
		if n != total {
			t.Errorf("%s: %d weights, want %d", m, n, total)
		}
	}
}

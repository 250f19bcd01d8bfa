package passes

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
)

// passCase is one row of a pass's table: IR text before, IR text after.
type passCase struct {
	name, before, after string
}

// dedent removes the common leading tabs of a raw string literal.
func dedent(s string) string {
	lines := strings.Split(strings.TrimRight(strings.TrimLeft(s, "\n"), "\n\t "), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimLeft(l, "\t")
	}
	return strings.Join(lines, "\n") + "\n"
}

// runPassTable applies pass to each case's before-graph and compares the
// printed result with the after-text; it also checks Verify, and that the
// interpreter gives the same outputs before and after on random weights.
func runPassTable(t *testing.T, pass func(*ir.Graph) error, cases []passCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := ir.Parse(dedent(c.before))
			if err != nil {
				t.Fatal(err)
			}
			if err := ir.Verify(g); err != nil {
				t.Fatalf("before: %v", err)
			}
			orig := g.Clone()
			if err := pass(g); err != nil {
				t.Fatal(err)
			}
			if err := ir.Verify(g); err != nil {
				t.Fatalf("after: %v\n%s", err, g)
			}
			if d := cmp.Diff(dedent(c.after), g.String()); d != "" {
				t.Errorf("after (-want +got):\n%s", d)
			}
			w := interp.RandomWeights(orig, 3)
			in := orig.Inputs()[0].Type
			x := interp.RandomInput(in.H(), in.W(), in.C(), 2, 4)
			run := func(g *ir.Graph) []float32 {
				y, err := interp.Eval(g, w, x, 2)
				if err != nil {
					t.Fatal(err)
				}
				var all []float32
				for _, v := range y {
					all = append(all, v...)
				}
				return all
			}
			if d := maxAbsDiff(run(orig), run(g)); !(d <= 1e-5) {
				t.Errorf("outputs differ by %g", d)
			}
		})
	}
}

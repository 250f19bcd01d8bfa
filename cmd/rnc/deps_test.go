package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoTextTemplate: rnc does not link text/template (or html/template).
// Their reflective method calls make the linker keep every exported method
// of every type — with avo's instruction builders, 6.7 MB more binary —
// so rnc's templates go through internal/gotmpl, which reads fields only.
func TestNoTextTemplate(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps listed %d packages", len(deps))
	}
	for _, d := range deps {
		if d == "text/template" || d == "html/template" {
			t.Errorf("rnc depends on %s", d)
		}
	}
}

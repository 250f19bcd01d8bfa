package main

import (
	"strings"
	"testing"

	rncsrc "github.com/rnc-dev/rnc"
	"github.com/rnc-dev/rnc/internal/gotmpl"
)

// TestRunnerSource: the runner program (templates/runner_main.go.txt) is a
// gofmt-clean Go file, as written and with its imports rewritten for a
// runtime copy (rnc outside its source tree).
func TestRunnerSource(t *testing.T) {
	if err := gotmpl.Check("runner_main.go.txt", []byte(runnerMain)); err != nil {
		t.Fatal(err)
	}
	copied, err := rncsrc.RewriteImports("main.go", []byte(runnerMain), "rncrun/model/runtime")
	if err != nil {
		t.Fatal(err)
	}
	if err := gotmpl.Check("main.go (runtime copy)", copied); err != nil {
		t.Error(err)
	}
	if !strings.Contains(string(copied), "\"rncrun/model/runtime/npy\"") || strings.Contains(string(copied), "github.com/rnc-dev/rnc") {
		t.Errorf("imports not rewritten:\n%s", copied)
	}
}

package kerneltest

import (
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/internal/gotmpl"
)

// TestDriverSources: every file of the driver library is a Go file of
// package main that parses and is gofmt-clean.
func TestDriverSources(t *testing.T) {
	for name, src := range map[string]string{"common.go.txt": CommonSrc, "direct.go.txt": DirectSrc, "direct_main.go.txt": DirectMainSrc, "u8.go.txt": U8Src, "u8_main.go.txt": U8MainSrc} {
		if err := gotmpl.Check(name, []byte(src)); err != nil {
			t.Error(err)
		}
		if !strings.HasPrefix(src, "package main\n") {
			t.Errorf("%s: not package main", name)
		}
	}
}

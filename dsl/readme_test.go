package dsl

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestReadmeExample: the README's complete model file is
// models/example.rn, byte for byte, and it loads: the macro projects the
// shortcut where x.shape says the channels change.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "models", "example.rn")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)`models/example.rn`[^`]*```\n(.*?)```\n").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no ``` block after `models/example.rn`")
	}
	if !bytes.Equal(m[1], src) {
		t.Errorf("README.md's example differs from %s:\n%s", path, m[1])
	}
	g, err := Load(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := "input_1 stem_conv stage1_1_conv stage1_2_conv stage1_add stage1_out " +
		"stage2_proj stage2_1_conv stage2_2_conv stage2_add stage2_out " +
		"stage3_proj stage3_1_conv stage3_2_conv stage3_add stage3_out avg_pool predictions"
	if got := names(g); got != want {
		t.Errorf("layers\n got %s\nwant %s", got, want)
	}
	if got := g.Outputs[0].Type.String(); got != "f32[N,10] nc" {
		t.Errorf("output %s", got)
	}
}

package fileio

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(p, 5); err != nil || string(b) != "hello" {
		t.Fatalf("ReadFile: %q, %v", b, err)
	}
	if _, err := ReadFile(p, 4); err == nil || !strings.Contains(err.Error(), "more than the limit of 4") {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := ReadFile(dir, 1<<20); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), 1); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
	// A symbolic link to a regular file is followed.
	l := filepath.Join(dir, "link")
	if err := os.Symlink(p, l); err == nil {
		if b, err := ReadFile(l, 5); err != nil || string(b) != "hello" {
			t.Errorf("through a link: %q, %v", b, err)
		}
	}
}

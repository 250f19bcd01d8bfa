package fileio

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestSpecialFiles(t *testing.T) {
	if _, err := ReadFile("/dev/zero", 1<<30); err == nil || !strings.Contains(err.Error(), "/dev/zero is a character device") {
		t.Errorf("/dev/zero: %v", err)
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	// No writer: opening it for reading would block forever.
	if _, _, err := Open(fifo); err == nil || !strings.Contains(err.Error(), "is a named pipe") {
		t.Errorf("FIFO: %v", err)
	}
}

package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestWeightsSpecialFiles: only regular files are read. /dev/zero would be
// read forever, a FIFO without a writer would block the open, a directory
// reads as an error deep inside a parser.
func TestWeightsSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/dev/zero": "/dev/zero is a character device, not a regular file",
		fifo:        fifo + " is a named pipe, not a regular file",
		dir:         dir + " is a directory, not a regular file",
	} {
		for name, fn := range map[string]func() error{
			"LoadWeightsFile":     func() error { _, err := LoadWeightsFile(path); return err },
			"ListWeightsFile":     func() error { _, err := ListWeightsFile(path); return err },
			"OpenSafetensors":     func() error { _, err := OpenSafetensors(path); return err },
			"ReadSafetensorsFile": func() error { _, err := ReadSafetensorsFile(path); return err },
			"Load":                func() error { _, err := Load(tinyProgram(), path); return err },
		} {
			if err := fn(); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s(%s): %v, want %q", name, path, err, want)
			}
		}
	}
}

// TestWriteSafetensorsFileTargets: the writer replaces a regular file
// whole (through a symbolic link), and refuses a device or a named pipe
// without touching it (it used to remove the path when a write failed,
// /dev/full included).
func TestWriteSafetensorsFileTargets(t *testing.T) {
	dir := t.TempDir()
	ws := sampleWeights(t)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/dev/full", "/dev/null", fifo, dir} {
		err := WriteSafetensorsFile(p, ws)
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: %v", p, err)
		}
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	real := filepath.Join(dir, "real.safetensors")
	if err := os.WriteFile(real, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.safetensors")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteSafetensorsFile(link, ws); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", st, err)
	}
	got, err := ReadSafetensorsFile(real)
	if err != nil || sameWeights(ws, got) != "" {
		t.Errorf("through the link: %v", err)
	}
	if st, _ := os.Stat(real); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the old file's 0600", st.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestReadSafetensorsFileCloses: reading a safetensors file whole leaves
// no descriptor open (its Close was skipped, leaving the file to the
// garbage collector's finalizer).
func TestReadSafetensorsFileCloses(t *testing.T) {
	path := filepath.Join("..", "testdata", "golden", "tinyv2.safetensors")
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	before := fds()
	for i := 0; i < 20; i++ {
		if _, err := ReadSafetensorsFile(path); err != nil {
			t.Fatal(err)
		}
	}
	if after := fds(); after > before+2 {
		t.Errorf("%d descriptors open after 20 reads, %d before", after, before)
	}
}

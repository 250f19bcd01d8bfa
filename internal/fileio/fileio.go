// Package fileio opens the files a user names (models, weights, inputs) safely: regular files only, with a size limit, so that /dev/zero, a FIFO or a directory is an error rather than a hang or an exhausted memory.
package fileio

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Open opens path for reading if it is a regular file (after following
// symbolic links). Devices, named pipes, sockets and directories are
// refused before they are opened, so that opening a FIFO cannot block.
func Open(path string) (*os.File, fs.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := regular(path, st); err != nil {
		return nil, nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	// The path may have been replaced between Stat and Open.
	st, err = f.Stat()
	if err == nil {
		err = regular(path, st)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

func regular(path string, st fs.FileInfo) error {
	if st.Mode().IsRegular() {
		return nil
	}
	kind := "not a regular file"
	switch m := st.Mode(); {
	case m.IsDir():
		kind = "a directory"
	case m&fs.ModeNamedPipe != 0:
		kind = "a named pipe"
	case m&fs.ModeCharDevice != 0:
		kind = "a character device"
	case m&fs.ModeDevice != 0:
		kind = "a device"
	case m&fs.ModeSocket != 0:
		kind = "a socket"
	}
	return fmt.Errorf("%s is %s, not a regular file", path, kind)
}

// ReadFile reads a regular file of at most limit bytes.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, st, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the limit of %d", path, st.Size(), limit)
	}
	return ReadOpen(f, path, st.Size())
}

// ReadOpen reads the open file f (path names it in errors), whose size
// was size when it was opened, into one buffer of that size: no more is
// allocated, and a file that changed size meanwhile is an error.
func ReadOpen(f *os.File, path string, size int64) ([]byte, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return nil, fmt.Errorf("reading %s: it shrank while it was read", path)
		}
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var one [1]byte
	if n, _ := f.Read(one[:]); n > 0 {
		return nil, fmt.Errorf("reading %s: it grew while it was read", path)
	}
	return b, nil
}

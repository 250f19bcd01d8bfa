package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	rncsrc "github.com/rnc-dev/rnc"
	"github.com/rnc-dev/rnc/codegen"
	"github.com/rnc-dev/rnc/internal/fileio"
)

// generatedNames are the names of every file rnc compile writes into its
// output directory (codegen.Generate's files; a test keeps the two in
// step). A file of one of these names that starts with codegen.Header and
// that the current compile does not produce — kernels_amd64.s after a
// compile for --target generic, say — is left over from an earlier compile
// and is removed, since it would no longer build with the new files.
var generatedNames = []string{"model.go", "program.go", "kernels_amd64.go", "kernels_amd64.s", "bind_amd64.go", "model_test.go"}

// dumpHeader is the first line of every --dump-after file: a comment of the
// IR's text form, by which rnc recognises the dumps it may overwrite.
const dumpHeader = "# IR dumped by rnc compile --dump-after. DO NOT EDIT."

// runtimeDir is the subdirectory of a generated package that holds its copy
// of rnc's runtime (rnc.RuntimeCopy).
const runtimeDir = "runtime"

// outFile is a file a command writes into a directory it does not own.
type outFile struct {
	path string
	data []byte
	// header is the first line an existing file at path must have to be
	// replaced: rnc replaces only what it wrote itself.
	header string
	// base, when set, is the directory the user named, of which path's
	// directory is a subdirectory that rnc creates (the copied runtime's):
	// the directories between them must not be symbolic links or files.
	base string
}

// ownedBy reports whether path is a regular file (not a symbolic link)
// whose first line is header. A missing file is (false, nil).
func ownedBy(path, header string) (bool, error) {
	head, err := readHead(path, len(header)+1)
	return bytes.Equal(head, []byte(header+"\n")) || bytes.Equal(head, []byte(header)), err
}

// startsWith reports whether path is a regular file (not a symbolic link)
// that starts with prefix. A missing file is (false, nil).
func startsWith(path, prefix string) (bool, error) {
	head, err := readHead(path, len(prefix))
	return err == nil && bytes.Equal(head, []byte(prefix)), err
}

// readHead returns the first n bytes of path (fewer if it is shorter) if it
// is a regular file and not a symbolic link, and nothing otherwise.
func readHead(path string, n int) ([]byte, error) {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil
	}
	f, _, err := fileio.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, n)
	k, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return head[:k], nil
}

// checkDirs reports why files cannot be written under base: a directory
// between base and dir (a subdirectory of base) that is a symbolic link
// (which could lead out of base) or not a directory. Missing directories
// are fine: writeOwned creates them.
func checkDirs(base, dir string) error {
	rel, err := filepath.Rel(base, dir)
	if err != nil || rel == "." {
		return err
	}
	d := base
	for _, elem := range strings.Split(rel, string(filepath.Separator)) {
		d = filepath.Join(d, elem)
		st, err := os.Lstat(d)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case err != nil:
			return err
		case st.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%s is a symbolic link: rnc writes only into directories it can create, and follows no links", d)
		case !st.IsDir():
			return fmt.Errorf("%s exists and is not a directory", d)
		}
	}
	return nil
}

// checkReplace reports why path must not be written: it is a symbolic link
// (which could lead out of the directory), not a regular file, read-only,
// or a file rnc did not write (its first line is not header).
func checkReplace(path, header string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // a directory on the way is missing, or checked by writeOwned
	}
	if err != nil {
		return err
	}
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: rnc replaces only files it wrote, and follows no links", path)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s exists and is not a regular file", path)
	case st.Mode().Perm()&0o200 == 0:
		return fmt.Errorf("%s is read-only: not replacing it", path)
	}
	ours, err := ownedBy(path, header)
	if err != nil {
		return err
	}
	if !ours {
		return fmt.Errorf("%s exists and was not written by rnc (its first line is not %q): not replacing it", path, header)
	}
	return nil
}

// writeOwned writes files and then removes the files in stale, all or
// nothing as far as it can check: every existing file it would replace must
// be one rnc wrote (checkReplace), every directory must be one, and every
// file is first written beside its destination and renamed over it only
// once all are written. If anything would be refused, nothing is written
// and the error names every refused file.
func writeOwned(files []outFile, stale []string) error {
	var errs []error
	dirs := map[string]bool{}
	sub := map[string]string{} // subdirectory of a base → the base
	for _, f := range files {
		if err := checkReplace(f.path, f.header); err != nil {
			errs = append(errs, err)
		}
		dirs[filepath.Dir(f.path)] = true
		if f.base != "" && filepath.Dir(f.path) != f.base {
			sub[filepath.Dir(f.path)] = f.base
		}
	}
	var dirList []string
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList)
	seen := map[string]bool{}
	for _, d := range dirList {
		if base, ok := sub[d]; ok {
			if err := checkDirs(base, d); err != nil && !seen[err.Error()] {
				seen[err.Error()] = true
				errs = append(errs, err)
			}
		}
	}
	for _, d := range dirList {
		if _, ok := sub[d]; ok {
			continue // checked above
		}
		if st, err := os.Stat(d); err == nil && !st.IsDir() {
			errs = append(errs, fmt.Errorf("%s is not a directory", d))
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("nothing written: %w", errors.Join(errs...))
	}
	for _, d := range dirList {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	tmps := make([]string, 0, len(files))
	cleanup := func() {
		for _, t := range tmps {
			os.Remove(t)
		}
	}
	for _, f := range files {
		t, err := os.CreateTemp(filepath.Dir(f.path), "."+filepath.Base(f.path)+".tmp*")
		if err != nil {
			cleanup()
			return fmt.Errorf("nothing written: %w", err)
		}
		tmps = append(tmps, t.Name())
		_, err = t.Write(f.data)
		if cerr := t.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(t.Name(), 0o644)
		}
		if err != nil {
			cleanup()
			return fmt.Errorf("nothing written: writing %s: %w", f.path, err)
		}
	}
	for i, f := range files {
		if err := os.Rename(tmps[i], f.path); err != nil {
			for _, t := range tmps[i:] {
				os.Remove(t)
			}
			return fmt.Errorf("replacing %s: %w", f.path, err)
		}
	}
	for _, p := range stale {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the stale generated file %s: %w", p, err)
		}
	}
	return nil
}

// packageFiles lists a generated package's files for writeOwned — with
// its copy of rnc's runtime rt (rnc.RuntimeCopy, nil for none) in
// dir/runtime — and the files of an earlier compile in dir that this one
// does not produce (stale: generatedNames that carry codegen.Header, and
// .go files under dir/runtime that carry it and rncsrc.CopyLine; other files
// are left alone).
func packageFiles(dir string, res *codegen.Result, rt map[string][]byte) ([]outFile, []string, error) {
	var files []outFile
	for _, name := range res.FileNames() {
		files = append(files, outFile{path: filepath.Join(dir, name), data: res.Files[name], header: codegen.Header})
	}
	rtNames := make([]string, 0, len(rt))
	for name := range rt {
		rtNames = append(rtNames, name)
	}
	sort.Strings(rtNames)
	rtRoot := filepath.Join(dir, runtimeDir)
	for _, name := range rtNames {
		files = append(files, outFile{path: filepath.Join(rtRoot, filepath.FromSlash(name)), data: rt[name], header: codegen.Header, base: dir})
	}
	var stale []string
	for _, name := range generatedNames {
		if _, ok := res.Files[name]; ok {
			continue
		}
		p := filepath.Join(dir, name)
		ours, err := ownedBy(p, codegen.Header)
		if err != nil {
			return nil, nil, err
		}
		if ours {
			stale = append(stale, p)
		}
	}
	// WalkDir follows no symbolic link, not even a link at rtRoot.
	err := filepath.WalkDir(rtRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == rtRoot && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		rel, err := filepath.Rel(rtRoot, p)
		if err != nil {
			return err
		}
		if _, ok := rt[filepath.ToSlash(rel)]; ok {
			return nil
		}
		ours, err := startsWith(p, codegen.Header+"\n"+rncsrc.CopyLine)
		if ours {
			stale = append(stale, p)
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return files, stale, nil
}

// removeEmptyDirs removes the directories, up to and including root, that
// removing the stale files left empty (a copy of rnc's runtime that a
// compile with --runtime import no longer uses).
func removeEmptyDirs(root string, stale []string) {
	dirs := map[string]bool{}
	for _, p := range stale {
		for d := filepath.Dir(p); strings.HasPrefix(d, root+string(filepath.Separator)) || d == root; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	var list []string
	for d := range dirs {
		list = append(list, d)
	}
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	for _, d := range list {
		os.Remove(d) // fails, as it should, if the directory is not empty
	}
}

// Package rnc holds the source of rnc's runtime, embedded so that rnc compile can copy it into a generated package built outside the rnc module.
package rnc

import (
	"bytes"
	"embed"
	"fmt"
	"go/format"
	"go/parser"
	"go/token"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Module is rnc's module path.
const Module = "github.com/rnc-dev/rnc"

// The runtime's packages, tests included (RuntimeCopy leaves them out):
// every package the generated code and runtime/npy need.
//
//go:embed runtime/*.go runtime/abi/*.go runtime/hdf5/*.go runtime/npy/*.go runtime/pytorch/*.go runtime/internal/lookup3/*.go internal/fileio/*.go serve/*.go serve/grpcv2/*.go serve/grpcv2/inference/*.go
var source embed.FS

// GoSum is rnc's go.sum: the checksums of the copy's dependencies (Deps),
// for a module that builds on a copy without consulting the checksum
// database.
//
//go:embed go.sum
var GoSum []byte

// GoMod is rnc's go.mod: the version of every module rnc requires, for a
// module that builds copies of the runtime and of serve (with its gRPC
// transport) on exactly the versions rnc is tested with, whose checksums
// GoSum holds.
//
//go:embed go.mod
var GoMod []byte

// Deps are the modules a copy of the runtime imports: golang.org/x/sys
// (CPU features) and github.com/nlpodyssey/gopickle (runtime/pytorch's
// unpickler).
var Deps = []string{"golang.org/x/sys", "github.com/nlpodyssey/gopickle"}

// ServeDeps are the modules a copy of package serve and its gRPC
// transport (ServeCopy) imports besides Deps: Prometheus's client
// library, gRPC and protobuf. Building it needs the modules those require
// too; GoSum holds their checksums.
var ServeDeps = []string{"github.com/prometheus/client_golang", "google.golang.org/grpc", "google.golang.org/protobuf"}

// isDep reports whether imp is a package of one of deps.
func isDep(imp string, deps []string) bool {
	for _, d := range deps {
		if imp == d || strings.HasPrefix(imp, d+"/") {
			return true
		}
	}
	return false
}

// copied is a copied package: its directory in rnc, and in the copy
// (relative to the copy of the runtime package).
type copied struct{ from, to string }

// serveCopies are the packages ServeCopy copies beside the runtime's:
// serve, its gRPC transport and the transport's generated protocol code.
var serveCopies = []copied{
	{"serve", ServeCopyDir},
	{"serve/grpcv2", ServeCopyDir + "/grpcv2"},
	{"serve/grpcv2/inference", ServeCopyDir + "/grpcv2/inference"},
}

// copies maps each copied package's directory in rnc to its directory in
// the copy, relative to the copy of the runtime package.
var copies = []copied{
	{"runtime", "."},
	{"runtime/abi", "abi"},
	{"runtime/hdf5", "hdf5"},
	{"runtime/npy", "npy"},
	{"runtime/pytorch", "pytorch"},
	{"runtime/internal/lookup3", "internal/lookup3"},
	{"internal/fileio", "internal/fileio"},
}

// CopyLine starts the second line of every file RuntimeCopy writes, after
// the header; it names the rnc file the copy comes from.
const CopyLine = "// Copied by rnc compile from " + Module + "/"

// CopiedImport returns the import path in a copy of the runtime at
// runtimePath (the copy of package runtime) of rnc's package imp, and
// whether imp is one of the packages copied.
func CopiedImport(imp, runtimePath string) (string, bool) {
	return copiedImport(imp, runtimePath, copies)
}

// copiedImport is CopiedImport over the copied packages pkgs.
func copiedImport(imp, runtimePath string, pkgs []copied) (string, bool) {
	for _, c := range pkgs {
		if imp == Module+"/"+c.from {
			if c.to == "." {
				return runtimePath, true
			}
			return runtimePath + "/" + c.to, true
		}
	}
	return "", false
}

// RuntimeCopy returns the Go files of a copy of rnc's runtime whose
// package runtime has the import path runtimePath: runtime, runtime/abi, runtime/hdf5,
// runtime/npy, runtime/pytorch, runtime/internal/lookup3 and internal/fileio (as
// internal/fileio under the copy), without their tests. The keys are
// slash-separated paths relative to the copy's directory ("model.go",
// "hdf5/hdf5.go"). Each file starts with the line header, then a line
// (CopyLine) naming the file it was copied from; its imports of rnc's
// packages are rewritten to the copies. It is an error if a file imports
// anything but the standard library, the modules in Deps and the copied
// packages: the copy must build in any module.
func RuntimeCopy(runtimePath, header string) (map[string][]byte, error) {
	return copyPackages(copies, runtimePath, header, Deps, copies)
}

// copyPackages returns the Go files, tests left out, of the packages pkgs
// as RuntimeCopy describes them; their imports may name the standard
// library, deps and the packages of imports (rewritten to their copies).
func copyPackages(pkgs []copied, runtimePath, header string, deps []string, imports []copied) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, c := range pkgs {
		ents, err := source.ReadDir(c.from)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			name := e.Name()
			if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			from := c.from + "/" + name
			src, err := source.ReadFile(from)
			if err != nil {
				return nil, err
			}
			var b bytes.Buffer
			fmt.Fprintf(&b, "%s\n%s%s.\n\n", header, CopyLine, from)
			b.Write(src)
			out, err := rewriteImports(from, b.Bytes(), runtimePath, deps, imports)
			if err != nil {
				return nil, err
			}
			files[path.Join(c.to, name)] = out
		}
	}
	return files, nil
}

// ServeCopyDir is the directory of the copy of package serve, relative
// to the copy of the runtime; ServeImport gives its import path.
const ServeCopyDir = "serve"

// ServeImport is the import path of the copy of package serve beside a
// copy of the runtime at runtimePath.
func ServeImport(runtimePath string) string { return runtimePath + "/" + ServeCopyDir }

// ServeCopy returns the Go files of a copy of rnc's package serve (the
// Open Inference Protocol server a generated cmd/serve runs) for a copy
// of the runtime at runtimePath, keyed as RuntimeCopy's ("serve/serve.go"),
// with the same header and copy line; its imports of the runtime are
// rewritten to the copy's. It may import the standard library, Deps and
// ServeDeps.
func ServeCopy(runtimePath, header string) (map[string][]byte, error) {
	return copyPackages(serveCopies, runtimePath, header, append(slices.Clone(Deps), ServeDeps...), append(slices.Clone(copies), serveCopies...))
}

// RewriteImports rewrites the imports of rnc's runtime packages in the Go
// source src (named name in errors) to their copies in a copy of the
// runtime at runtimePath (CopiedImport) and gofmts the result. Only import
// paths change. An import of another rnc package, or of a module other
// than those in Deps, is an error naming it.
func RewriteImports(name string, src []byte, runtimePath string) ([]byte, error) {
	return rewriteImports(name, src, runtimePath, Deps, copies)
}

// rewriteImports is RewriteImports for a file that may import deps and
// the copied packages imports.
func rewriteImports(name string, src []byte, runtimePath string, deps []string, imports []copied) ([]byte, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly|parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("rewriting the imports of %s: %w", name, err)
	}
	type edit struct {
		start, end int
		text       string
	}
	var edits []edit // in source order, as the parser lists f.Imports
	for _, s := range f.Imports {
		imp, err := strconv.Unquote(s.Path.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: import %s: %w", name, s.Path.Value, err)
		}
		first, _, _ := strings.Cut(imp, "/")
		switch {
		case imp == Module || strings.HasPrefix(imp, Module+"/"):
			to, ok := copiedImport(imp, runtimePath, imports)
			if !ok {
				return nil, fmt.Errorf("%s imports %s, which is not part of the copy of rnc's runtime", name, imp)
			}
			edits = append(edits, edit{fset.Position(s.Path.Pos()).Offset, fset.Position(s.Path.End()).Offset, strconv.Quote(to)})
		case !strings.Contains(first, "."), isDep(imp, deps):
			// The standard library, and the copy's dependencies.
		default:
			return nil, fmt.Errorf("%s imports %s: a copy of rnc's runtime may import only the standard library and %s", name, imp, strings.Join(deps, ", "))
		}
	}
	var b bytes.Buffer
	last := 0
	for _, e := range edits {
		b.Write(src[last:e.start])
		b.WriteString(e.text)
		last = e.end
	}
	b.Write(src[last:])
	res, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s with its imports rewritten does not parse: %w", name, err)
	}
	return res, nil
}

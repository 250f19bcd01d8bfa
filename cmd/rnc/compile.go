package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	rncsrc "github.com/rnc-dev/rnc"
	"github.com/rnc-dev/rnc/codegen"
	"github.com/rnc-dev/rnc/internal/fileio"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/passes"
)

var compileCmd = &command{
	name:  "compile",
	short: "compile a model into a Go package",
	args:  "MODEL.rn -o DIR [--pkg NAME] [--target auto|avx512|avx2|generic] [--precision f32|int8] [--runtime auto|copy|import] [--server] [--set name=value]... [--dump-after PASS|all --dump-dir DIR]",
	summary: `Compile a model into a Go package in DIR: the plan of every target compiled in, amd64
assembly kernels generated with avo, and a portable Go fallback. The package picks the best
target the CPU supports at load time. --target auto compiles avx512, avx2 and generic.

The package runs on rnc's runtime. Outside the rnc module it carries a copy of it: DIR/runtime
(with runtime/hdf5, runtime/npy, runtime/pytorch, runtime/internal/...), imported by the path
of DIR in the module of the nearest go.mod above it (run go mod init first), which then needs
golang.org/x/sys and github.com/nlpodyssey/gopickle (go mod tidy). --runtime copy copies inside
rnc too; --runtime import imports github.com/rnc-dev/rnc/runtime (as auto does inside rnc), for
a module that requires rnc.

--server also writes DIR/cmd/serve/main.go: a program serving the model over the Open Inference
Protocol (KServe v2 REST) with rnc's package serve (go build ./DIR/cmd/serve; -help lists its
flags; docs/serving.md). With a copy of the runtime, package serve is copied too, to
DIR/runtime/serve, and the module then also needs github.com/prometheus/client_golang (go mod
tidy). A compile without --server removes a cmd/serve/main.go and a copied serve it wrote.

compile writes only files it generated: an existing file in DIR is replaced only if its first
line is rnc's "` + codegen.Header + `" (a symbolic link, a read-only file or any
other file is refused, and then nothing is written); so are the copied runtime's files, and a
symbolic link among its directories. Generated files of an earlier compile that this one does
not produce (kernels_amd64.s after --target generic, say) are removed if they carry that line,
and .go files under DIR/runtime if they carry it and the line naming the rnc file they were
copied from; other files in DIR are left alone. --dump-after files are named
NN-TARGET-PASS.ir and start with the line "` + dumpHeader + `";
an existing file of such a name is replaced only if it starts with that line too; dumps of earlier compiles are kept.`,
	flags: func(fs *flag.FlagSet) func([]string) error {
		pf := addPipelineFlags(fs, "auto")
		out := fs.String("o", "", "output directory (required)")
		pkg := fs.String("pkg", "", "package name (default: the output directory's base name)")
		dumpAfter := fs.String("dump-after", "", "write the IR after this pass (or all) of each target's pipeline to --dump-dir, as NN-TARGET-PASS.ir")
		dumpDir := fs.String("dump-dir", "", "directory for --dump-after files (default: the output directory)")
		server := fs.Bool("server", false, "also write DIR/cmd/serve/main.go, an Open Inference Protocol server of the model")
		rtMode := fs.String("runtime", "auto", "auto, copy or import: copy rnc's runtime into DIR/runtime (auto: outside the rnc module), or import github.com/rnc-dev/rnc/runtime")
		return func(args []string) error {
			path, err := oneArg(args, "model file")
			if err != nil {
				return err
			}
			if *out == "" {
				return fmt.Errorf("compile: -o DIR is required")
			}
			name := *pkg
			if name == "" {
				name = strings.ReplaceAll(filepath.Base(filepath.Clean(*out)), "-", "_")
			}
			targets, err := pf.targets()
			if err != nil {
				return err
			}
			g, cfg, err := pf.load(path)
			if err != nil {
				return err
			}
			opt := codegen.Options{Package: name, Targets: targets, Pipeline: cfg, Source: path}
			var d *dumper
			if *dumpAfter != "" {
				dir := *dumpDir
				if dir == "" {
					dir = *out
				}
				if d, err = newDumper(dir, *dumpAfter, path); err != nil {
					return err
				}
				opt.After = d.after
			}
			if opt.Runtime, err = copiedRuntime(*out, *rtMode); err != nil {
				return fmt.Errorf("compile: %w", err)
			}
			res, err := codegen.Generate(g, opt)
			if err != nil {
				return err
			}
			var rt map[string][]byte
			if opt.Runtime != "" {
				if rt, err = rncsrc.RuntimeCopy(opt.Runtime, codegen.Header); err != nil {
					return fmt.Errorf("compile: copying rnc's runtime: %w", err)
				}
			}
			var serverMain []byte
			if *server {
				var sv map[string][]byte
				if serverMain, sv, err = serverFiles(*out, name, path, opt.Runtime); err != nil {
					return fmt.Errorf("compile --server: %w", err)
				}
				for k, v := range sv {
					rt[k] = v
				}
			}
			files, stale, err := packageFiles(*out, res, rt)
			if err != nil {
				return err
			}
			mainPath := filepath.Join(*out, serveMainDir, "main.go")
			if serverMain != nil {
				files = append(files, outFile{path: mainPath, data: serverMain, header: codegen.Header, base: *out})
			} else if ours, err := ownedBy(mainPath, codegen.Header); err != nil {
				return err
			} else if ours {
				stale = append(stale, mainPath)
			}
			if d != nil {
				files = append(files, d.files...)
			}
			if err := writeOwned(files, stale); err != nil {
				return fmt.Errorf("compile: %w", err)
			}
			removeEmptyDirs(filepath.Join(*out, runtimeDir), stale)
			removeEmptyDirs(filepath.Join(*out, "cmd"), stale)
			fmt.Fprintf(stdout, "wrote package %s to %s: %d files, %d assembly kernels, targets %s\n",
				name, *out, len(res.Files), res.Kernels, strings.Join(res.Targets, ", "))
			if rt != nil {
				fmt.Fprintf(stdout, "wrote a copy of rnc's runtime to %s: %d files, imported as %s; it needs golang.org/x/sys and github.com/nlpodyssey/gopickle: run go mod tidy in the module\n",
					filepath.Join(*out, runtimeDir), len(rt), opt.Runtime)
			}
			if serverMain != nil {
				fmt.Fprintf(stdout, "wrote the server's main package to %s\n", filepath.Dir(mainPath))
				if rt != nil {
					fmt.Fprintf(stdout, "package serve and its gRPC transport are copied to %s; the module needs github.com/prometheus/client_golang, google.golang.org/grpc and google.golang.org/protobuf too: run go mod tidy\n", filepath.Join(*out, runtimeDir, rncsrc.ServeCopyDir))
				}
			}
			for _, p := range stale {
				fmt.Fprintf(stdout, "removed %s, left over from an earlier compile\n", p)
			}
			if d != nil {
				fmt.Fprintf(stdout, "wrote %d IR dumps to %s\n", len(d.files), d.dir)
			}
			return nil
		}
	},
}

func compileTargets(s string) ([]passes.Target, error) {
	return compileTargetsFor(s, passes.F32)
}

// compileTargetsFor are the plans to compile for --target s at a precision:
// auto is every target (float32: abi.Targets; int8: abi.Int8Targets).
func compileTargetsFor(s string, prec passes.Precision) ([]passes.Target, error) {
	if s == "auto" {
		if prec == passes.Int8 {
			return []passes.Target{passes.VNNI, passes.Generic}, nil
		}
		return passes.Targets(), nil
	}
	t, err := parseTarget(s, prec)
	if err != nil {
		return nil, fmt.Errorf("--target: %w (or auto)", err)
	}
	return []passes.Target{t}, nil
}

// targets are the plans the flags ask to compile.
func (p *pipelineFlags) targets() ([]passes.Target, error) {
	prec, err := p.prec()
	if err != nil {
		return nil, err
	}
	return compileTargetsFor(*p.target, prec)
}

// dumper collects the graph after the named pass (or every pass) of each
// target's pipeline, as DIR/NN-TARGET-PASS.ir (NN: the pass's place in the
// pipeline), to be written with the package.
type dumper struct {
	dir, which, model string
	files             []outFile
}

func newDumper(dir, which, model string) (*dumper, error) {
	known := which == "all"
	for _, n := range passes.Names() {
		known = known || n == which
	}
	if !known {
		return nil, fmt.Errorf("--dump-after %s: no such pass (passes: %s, or all)", which, strings.Join(passes.Names(), ", "))
	}
	return &dumper{dir: dir, which: which, model: model}, nil
}

func (d *dumper) after(t passes.Target, i int, pass string, g *ir.Graph) error {
	if d.which != "all" && d.which != pass {
		return nil
	}
	text := fmt.Sprintf("%s\n# %s, target %s, after pass %d (%s)\n%s", dumpHeader, d.model, t, i, pass, g.String())
	d.files = append(d.files, outFile{
		path:   filepath.Join(d.dir, fmt.Sprintf("%02d-%s-%s.ir", i, t, pass)),
		data:   []byte(text),
		header: dumpHeader,
	})
	return nil
}

// copiedRuntime returns the import path of the copy of rnc's runtime that a
// package compiled into dir imports (dir's import path + "/runtime"), or ""
// when the package imports rnc's own runtime: with --runtime import, and
// with auto inside the rnc module. dir's import path is its path relative
// to the nearest go.mod at or above it, after that file's module path.
func copiedRuntime(dir, mode string) (string, error) {
	switch mode {
	case "import":
		return "", nil
	case "auto", "copy":
	default:
		return "", fmt.Errorf("--runtime %s: want auto, copy or import", mode)
	}
	imp, modDir, modPath, err := dirImport(dir, "the generated package carries a copy of rnc's runtime, imported by its path in your module; run go mod init MODULE-PATH in your project first (or use --runtime import in a module that requires github.com/rnc-dev/rnc)")
	if err != nil {
		return "", err
	}
	if mode == "auto" && modPath == rncsrc.Module {
		return "", nil
	}
	rt := imp + "/" + runtimeDir
	if err := module.CheckImportPath(rt); err != nil {
		return "", fmt.Errorf("the copy of rnc's runtime in %s would have the import path %q (module %s of %s), which Go does not accept: %v", dir, rt, modPath, filepath.Join(modDir, "go.mod"), err)
	}
	return rt, nil
}

// dirImport returns dir's import path in the module of the nearest go.mod
// at or above it, that go.mod's directory and module path; a dir in no
// module is an error that says why it needs one (needs).
func dirImport(dir, needs string) (imp, modDir, modPath string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", "", err
	}
	if modDir, modPath, err = findModule(abs); err != nil {
		return "", "", "", err
	}
	if modDir == "" {
		return "", "", "", fmt.Errorf("%s is in no Go module (no go.mod in it or a directory above it): %s", dir, needs)
	}
	rel, err := filepath.Rel(modDir, abs)
	if err != nil {
		return "", "", "", err
	}
	imp = modPath
	if rel != "." {
		imp += "/" + filepath.ToSlash(rel)
	}
	return imp, modDir, modPath, nil
}

// findModule returns the directory of the nearest go.mod at or above dir
// (an absolute path) and its module path; modDir is "" if there is none.
func findModule(dir string) (modDir, modPath string, err error) {
	for d := dir; ; {
		p := filepath.Join(d, "go.mod")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			data, err := fileio.ReadFile(p, 64<<20)
			if err != nil {
				return "", "", err
			}
			if modPath = modfile.ModulePath(data); modPath == "" {
				return "", "", fmt.Errorf("%s has no module line", p)
			}
			return d, modPath, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", "", nil
		}
		d = parent
	}
}

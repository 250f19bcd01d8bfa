package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/rnc-dev/rnc/codegen"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/passes"
)

var compileCmd = &command{
	name:  "compile",
	short: "compile a model into a Go package",
	args:  "MODEL.rn -o DIR [--pkg NAME] [--target auto|avx512|avx2|generic] [--set name=value]... [--dump-after PASS|all --dump-dir DIR]",
	summary: `Compile a model into a Go package in DIR: the plan of every target compiled in, amd64
assembly kernels generated with avo, and a portable Go fallback. The package picks the best
target the CPU supports at load time. --target auto compiles avx512, avx2 and generic.

compile writes only files it generated: an existing file in DIR is replaced only if its first
line is rnc's "` + codegen.Header + `" (a symbolic link, a read-only file or any
other file is refused, and then nothing is written). Generated files of an earlier compile
that this one does not produce (kernels_amd64.s after --target generic, say) are removed if
they carry that line; other files in DIR are left alone. --dump-after files are named
NN-TARGET-PASS.ir and start with the line "` + dumpHeader + `";
an existing file of such a name is replaced only if it starts with that line too; dumps of earlier compiles are kept.`,
	flags: func(fs *flag.FlagSet) func([]string) error {
		pf := addPipelineFlags(fs)
		*pf.target = "auto"
		fs.Lookup("target").DefValue = "auto"
		out := fs.String("o", "", "output directory (required)")
		pkg := fs.String("pkg", "", "package name (default: the output directory's base name)")
		dumpAfter := fs.String("dump-after", "", "write the IR after this pass (or all) of each target's pipeline to --dump-dir, as NN-TARGET-PASS.ir")
		dumpDir := fs.String("dump-dir", "", "directory for --dump-after files (default: the output directory)")
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
			targets, err := compileTargets(*pf.target)
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
			res, err := codegen.Generate(g, opt)
			if err != nil {
				return err
			}
			files, stale, err := packageFiles(*out, res)
			if err != nil {
				return err
			}
			if d != nil {
				files = append(files, d.files...)
			}
			if err := writeOwned(files, stale); err != nil {
				return fmt.Errorf("compile: %w", err)
			}
			fmt.Fprintf(stdout, "wrote package %s to %s: %d files, %d assembly kernels, targets %s\n",
				name, *out, len(res.Files), res.Kernels, strings.Join(res.Targets, ", "))
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
	if s == "auto" {
		return []passes.Target{passes.AVX512, passes.AVX2, passes.Generic}, nil
	}
	t, err := passes.ParseTarget(s)
	if err != nil {
		return nil, fmt.Errorf("--target: %w (or auto)", err)
	}
	return []passes.Target{t}, nil
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

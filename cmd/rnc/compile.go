package main

import (
	"flag"
	"fmt"
	"os"
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
target the CPU supports at load time. --target auto compiles avx512, avx2 and generic.`,
	flags: func(fs *flag.FlagSet) func([]string) error {
		pf := addPipelineFlags(fs)
		*pf.target = "auto"
		fs.Lookup("target").DefValue = "auto"
		out := fs.String("o", "", "output directory (required)")
		pkg := fs.String("pkg", "", "package name (default: the output directory's base name)")
		dumpAfter := fs.String("dump-after", "", "write the IR after this pass (or all) of each target's pipeline to --dump-dir")
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
			if *dumpAfter != "" {
				dir := *dumpDir
				if dir == "" {
					dir = *out
				}
				cfg.After = dumper(dir, *dumpAfter)
			}
			res, err := codegen.Generate(g, codegen.Options{Package: name, Targets: targets, Pipeline: cfg, Source: path})
			if err != nil {
				return err
			}
			if err := os.MkdirAll(*out, 0o755); err != nil {
				return err
			}
			for _, f := range res.FileNames() {
				if err := os.WriteFile(filepath.Join(*out, f), res.Files[f], 0o644); err != nil {
					return err
				}
			}
			fmt.Fprintf(stdout, "wrote package %s to %s: %d files, %d assembly kernels, targets %s\n",
				name, *out, len(res.Files), res.Kernels, strings.Join(res.Targets, ", "))
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

func targetStrings(ts []passes.Target) []string {
	var s []string
	for _, t := range ts {
		s = append(s, string(t))
	}
	return s
}

// dumper writes the graph after the named pass (or every pass) to
// DIR/NN-target-pass.ir, numbered in pipeline order.
func dumper(dir, which string) func(int, string, *ir.Graph) error {
	known := which == "all"
	for _, n := range passes.Names() {
		known = known || n == which
	}
	return func(i int, pass string, g *ir.Graph) error {
		if !known {
			return fmt.Errorf("--dump-after %s: no such pass (passes: %s, or all)", which, strings.Join(passes.Names(), ", "))
		}
		if which != "all" && which != pass {
			return nil
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		target := "avx512"
		for _, op := range g.Ops {
			for _, o := range op.Outputs {
				if o.Type.Layout == ir.NCHW8c {
					target = "block8"
				}
			}
		}
		if i <= 3 { // before layout the graph is the same for every target
			target = "all"
		}
		return os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d-%s-%s.ir", i, target, pass)), []byte(g.String()), 0o644)
	}
}

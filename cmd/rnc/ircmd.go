package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/passes"
)

// Bounds of --width (a narrower column could not hold the continuation
// indent and a word) and of --winograd-limit.
const (
	minWidth, maxWidth = 20, 1000
	maxWinogradMiB     = 1 << 20
)

// pipelineFlags are the flags shared by the commands that run passes.
type pipelineFlags struct {
	set      setFlag
	target   *string
	disable  *string
	check    *bool
	winograd *float64
}

func addPipelineFlags(fs *flag.FlagSet) *pipelineFlags {
	p := &pipelineFlags{set: setFlag{}}
	fs.Var(p.set, "set", "override a model parameter, e.g. --set input_shape=[64,64,3] (repeatable)")
	p.target = fs.String("target", "avx512", "lowering target: avx512 (NCHW16c), avx2 or generic (NCHW8c)")
	p.disable = fs.String("disable", "", "comma-separated passes to skip, to bisect a problem ("+strings.Join(passes.Names(), ", ")+")")
	p.check = fs.Bool("check", false, "run ir.Verify after every pass")
	p.winograd = fs.Float64("winograd-limit", float64(passes.DefaultWinogradLimit)/(1<<20),
		"largest Winograd weights of one layer, MiB (Winograd weights are 4x the kernel; 64 lets ResNet50V2's 14x14 layers use it too: faster, 42 MB more; 0: no Winograd)")
	return p
}

func (p *pipelineFlags) config(model string) (passes.Config, error) {
	var t passes.Target
	if *p.target != "auto" { // auto: commands that compile set the target per plan
		var err error
		if t, err = passes.ParseTarget(*p.target); err != nil {
			return passes.Config{}, err
		}
	}
	w := *p.winograd
	if !(w >= 0 && w <= maxWinogradMiB) { // NaN fails too
		return passes.Config{}, fmt.Errorf("--winograd-limit %v: want a number of MiB from 0 (no Winograd) to %d", w, maxWinogradMiB)
	}
	cfg := passes.Config{Target: t, Check: *p.check, Model: model, WinogradLimit: int(w * (1 << 20))}
	if *p.disable != "" {
		cfg.Disable = strings.Split(*p.disable, ",")
	}
	if cfg.WinogradLimit == 0 { // passes reads 0 as its default limit
		cfg.Disable = append(cfg.Disable, "winograd")
	}
	return cfg, nil
}

// load expands a model with the --set overrides and returns it with the
// pipeline configuration of the flags.
func (p *pipelineFlags) load(path string) (*ir.Graph, passes.Config, error) {
	g, err := loadModel(path, p.set)
	if err != nil {
		return nil, passes.Config{}, err
	}
	cfg, err := p.config(path)
	if err != nil {
		return nil, passes.Config{}, err
	}
	return g, cfg, nil
}

// lower loads a model and runs the pipeline up to and including pass stop
// ("all" for every pass, "none" for the graph as expanded).
func (p *pipelineFlags) lower(path, stop string) (*ir.Graph, error) {
	g, cfg, err := p.load(path)
	if err != nil {
		return nil, err
	}
	if stop != "all" {
		cfg.Stop = stop
	}
	if err := passes.Run(g, cfg); err != nil {
		return nil, err
	}
	return g, nil
}

// blockFilter keeps the ops of one residual block: those with a layer name
// equal to block or starting with block + "_" (fused names included).
func blockFilter(block string) func(*ir.Op) bool {
	if block == "" {
		return nil
	}
	return func(op *ir.Op) bool {
		for _, n := range op.Names {
			if n == block || strings.HasPrefix(n, block+"_") {
				return true
			}
		}
		return false
	}
}

var irCmd = &command{
	short: "print the IR after a pass, or two models' blocks side by side",
	name:  "ir",
	args:  "MODEL.rn [--after PASS|all|none] [--block NAME] [--format text|dot] [--diff OTHER.rn] | --diff A.rn B.rn ...",
	summary: `Print a model's IR after a pass of the pipeline (one line per op). --block keeps one
residual block; --diff prints the same block of a second model beside it (e.g. resnet50.rn
against resnet50v2.rn, to compare original and pre-activation blocks).`,
	flags: func(fs *flag.FlagSet) func([]string) error {
		pf := addPipelineFlags(fs)
		after := fs.String("after", "none", "print the graph after this pass ("+strings.Join(passes.Names(), ", ")+"), all, or none (as expanded)")
		block := fs.String("block", "", "keep only the ops of this residual block (layer-name prefix), e.g. conv2_block1")
		format := fs.String("format", "text", "text or dot (Graphviz)")
		diff := &orderedFlag{}
		fs.Var(diff, "diff", "a second model to print beside the first (text format); the model named first is on the left")
		width := fs.Int("width", 100, "column width for --diff")
		return func(args []string) error {
			path, err := oneArg(args, "model file")
			if err != nil {
				return err
			}
			if err := checkInt("width", *width, minWidth, maxWidth); err != nil {
				return fmt.Errorf("ir: %w", err)
			}
			g, err := pf.lower(path, *after)
			if err != nil {
				return err
			}
			filter := blockFilter(*block)
			if diff.value != "" {
				h, err := pf.lower(diff.value, *after)
				if err != nil {
					return err
				}
				if diff.after == 0 { // rnc ir --diff A.rn B.rn
					return sideBySide(stdout, diff.value, h, path, g, filter, *width)
				}
				return sideBySide(stdout, path, g, diff.value, h, filter, *width)
			}
			switch *format {
			case "text":
				return ir.PrintWith(stdout, g, ir.PrintOptions{Filter: filter})
			case "dot":
				return ir.WriteDOT(stdout, g, filter)
			}
			return fmt.Errorf("unknown format %q (want text or dot)", *format)
		}
	},
}

// sideBySide prints the selected ops of two graphs in two columns, each op
// wrapped to the column width.
func sideBySide(w io.Writer, an string, a *ir.Graph, bn string, b *ir.Graph, filter func(*ir.Op) bool, width int) error {
	col := func(g *ir.Graph) []string {
		var lines []string
		for _, op := range g.Ops {
			if filter != nil && !filter(op) {
				continue
			}
			s := ir.FormatOp(op)
			for len(s) > width {
				cut := strings.LastIndex(s[:width], " ")
				if cut <= 4 { // no space after the continuation indent: cut the word
					cut = width
				}
				lines = append(lines, s[:cut])
				s = "    " + strings.TrimLeft(s[cut:], " ")
			}
			lines = append(lines, s)
		}
		return lines
	}
	l, r := col(a), col(b)
	fmt.Fprintf(w, "%-*s | %s\n%s-+-%s\n", width, an, bn, strings.Repeat("-", width), strings.Repeat("-", width))
	for i := 0; i < max(len(l), len(r)); i++ {
		var x, y string
		if i < len(l) {
			x = l[i]
		}
		if i < len(r) {
			y = r[i]
		}
		fmt.Fprintf(w, "%-*s | %s\n", width, x, y)
	}
	return nil
}

package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/passes"
)

// Bounds of --width (the narrowest is ir.MinDiffWidth) and of
// --winograd-limit.
const (
	maxWidth       = 1000
	maxWinogradMiB = 1 << 20
)

// pipelineFlags are the flags shared by the commands that run passes.
type pipelineFlags struct {
	set       setFlag
	target    *string
	disable   *string
	check     *bool
	winograd  *float64
	precision *string
}

// addPipelineFlags defines the pipeline flags on fs, --target defaulting
// to target: "auto" for the commands that compile a package (every target;
// the best the CPU supports runs), a target for ir, which prints one.
func addPipelineFlags(fs *flag.FlagSet, target string) *pipelineFlags {
	p := &pipelineFlags{set: setFlag{}}
	fs.Var(p.set, "set", "override a model parameter, e.g. --set input_shape=[64,64,3] (repeatable)")
	usage := "lowering target: avx512 (NCHW16c), avx2 or generic (NCHW8c)"
	if target == "auto" {
		usage = "lowering target: auto (every target; the best the CPU supports runs), avx512 (NCHW16c), avx2 or generic (NCHW8c)"
	}
	p.target = fs.String("target", target, usage)
	p.disable = fs.String("disable", "", "comma-separated passes to skip, to bisect a problem ("+strings.Join(passes.Names(), ", ")+")")
	p.check = fs.Bool("check", false, "run ir.Verify after every pass")
	p.precision = fs.String("precision", "f32", "f32, or int8: int8 convolutions (AVX-512 VNNI, else portable Go) reading the weights rnc quantize writes (docs/int8.md); its targets are avx512vnni and generic")
	p.winograd = fs.Float64("winograd-limit", float64(passes.DefaultWinogradLimit)/(1<<20),
		"largest Winograd weights of one layer, MiB (Winograd weights are 4x the kernel; 64 lets ResNet50V2's 14x14 layers use it too: faster, 42 MB more; 0: no Winograd)")
	return p
}

func (p *pipelineFlags) config(model string) (passes.Config, error) {
	prec, err := p.prec()
	if err != nil {
		return passes.Config{}, err
	}
	var t passes.Target
	// auto: commands that compile set the target per plan; an int8 model's
	// pipeline is avx512's (rnc ir's default) for every plan.
	if *p.target != "auto" && !(prec == passes.Int8 && passes.Target(*p.target) == passes.AVX512) {
		if t, err = parseTarget(*p.target, prec); err != nil {
			return passes.Config{}, err
		}
	}
	if prec == passes.Int8 {
		t = passes.AVX512 // the int8 pipeline: every plan lowers its graph (codegen.Generate)
	}
	w := *p.winograd
	if !(w >= 0 && w <= maxWinogradMiB) { // NaN fails too
		return passes.Config{}, fmt.Errorf("--winograd-limit %v: want a number of MiB from 0 (no Winograd) to %d", w, maxWinogradMiB)
	}
	// passes reads a limit of 0 as its default; 1 byte is below any
	// layer's Winograd weights (4 bytes an element), so the pass runs (and
	// is dumped) and turns no layer into Winograd.
	cfg := passes.Config{Target: t, Check: *p.check, Model: model, WinogradLimit: max(1, int(w*(1<<20))), Precision: prec}
	if *p.disable != "" {
		cfg.Disable = strings.Split(*p.disable, ",")
	}
	return cfg, nil
}

// prec is the --precision flag's value.
func (p *pipelineFlags) prec() (passes.Precision, error) {
	prec, err := passes.ParsePrecision(*p.precision)
	if err != nil {
		return "", fmt.Errorf("--precision: %w", err)
	}
	return prec, nil
}

// parseTarget checks a --target name for a precision: the float32 targets,
// or for int8 avx512vnni and generic.
func parseTarget(s string, prec passes.Precision) (passes.Target, error) {
	if prec == passes.Int8 {
		if t := passes.Target(s); t == passes.VNNI || t == passes.Generic {
			return t, nil
		}
		return "", fmt.Errorf("--target %s: an int8 model is compiled for %s and generic", s, passes.VNNI)
	}
	if passes.Target(s) == passes.VNNI {
		return "", fmt.Errorf("--target %s is the int8 target: add --precision int8", s)
	}
	return passes.ParseTarget(s)
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

var irCmd = &command{
	short: "print the IR after a pass, or diff one block of two models",
	name:  "ir",
	args:  "MODEL.rn [--after PASS|all|none] [--block NAME] [--format text|dot] [--diff OTHER.rn [--width N]] | --diff A.rn B.rn ...",
	summary: `Print a model's IR after a pass of the pipeline (one line per op). --block keeps one
residual block. --diff compares the block (or the whole model) with the same one of a second
model, e.g. resnet50.rn against resnet50v2.rn, original against pre-activation blocks: the ops
are aligned by the part they play (same kind, and the same layer name less the block prefix,
"_1_conv", "_preact_bn", where there is one) and marked | same, ~ changed (the line after the
pair names what differs), - only in the first model, + only in the second. In the diff, a
weight named after the op's layer shows as its role (kernel,bias). --format dot draws the two
blocks as two clusters, paired ops side by side and joined by dashed edges.`,
	flags: func(fs *flag.FlagSet) func([]string) error {
		pf := addPipelineFlags(fs, "avx512")
		after := fs.String("after", "none", "print the graph after this pass ("+strings.Join(passes.Names(), ", ")+"), all, or none (as expanded)")
		block := fs.String("block", "", "keep only the ops of this residual block (layer-name prefix), e.g. conv2_block1")
		format := fs.String("format", "text", "text or dot (Graphviz)")
		diff := &orderedFlag{}
		fs.Var(diff, "diff", "a second model to compare with the first; the model named first is on the left")
		width := fs.Int("width", 120, "line width of the text --diff (two columns of (N-3)/2)")
		return func(args []string) error {
			if len(args) == 0 && diff.value != "" {
				return fmt.Errorf("ir --diff %s: --diff compares two models: rnc ir A.rn --diff B.rn, or rnc ir --diff A.rn B.rn", diff.value)
			}
			path, err := oneArg(args, "model file")
			if err != nil {
				return err
			}
			if err := checkInt("width", *width, ir.MinDiffWidth, maxWidth); err != nil {
				return fmt.Errorf("ir: %w", err)
			}
			if *format != "text" && *format != "dot" {
				return fmt.Errorf("ir: unknown --format %q (want text or dot)", *format)
			}
			an, bn := path, diff.value
			if diff.value != "" && diff.after == 0 { // rnc ir --diff A.rn B.rn
				an, bn = bn, an
			}
			a, err := pf.lower(an, *after)
			if err != nil {
				return err
			}
			filter := ir.BlockFilter(*block)
			if err := checkBlock(an, a, *block); err != nil {
				return err
			}
			if diff.value == "" {
				if *format == "dot" {
					return ir.WriteDOT(stdout, a, filter)
				}
				return ir.PrintWith(stdout, a, ir.PrintOptions{Filter: filter})
			}
			b, err := pf.lower(bn, *after)
			if err != nil {
				return err
			}
			if err := checkBlock(bn, b, *block); err != nil {
				return err
			}
			d, err := ir.AlignOps(a, b, *block)
			if err != nil {
				return fmt.Errorf("ir --diff %s %s: %w", an, bn, err)
			}
			if *format == "dot" {
				return ir.WriteDiffDOT(stdout, d, an, bn)
			}
			return d.WriteText(stdout, an, bn, *width)
		}
	},
}

// checkBlock reports a --block that selects no op of g (loaded from
// path), listing the blocks g has.
func checkBlock(path string, g *ir.Graph, block string) error {
	if block == "" {
		return nil
	}
	keep := ir.BlockFilter(block)
	for _, op := range g.Ops {
		if keep(op) {
			return nil
		}
	}
	blocks, others := blockNames(g)
	const show = 30
	list := func(s []string) string {
		if len(s) > show {
			return strings.Join(s[:show], ", ") + fmt.Sprintf(", ... (%d in all)", len(s))
		}
		return strings.Join(s, ", ")
	}
	msg := "its blocks: " + list(blocks) + " (other layer-name prefixes: " + list(others) + ")"
	if len(blocks) == 0 {
		msg = "its layer-name prefixes: " + list(others)
	}
	return fmt.Errorf("--block %s: %s has no layer named %s or %s_...; %s", block, path, block, block, msg)
}

// blockNames lists, in graph order, the residual blocks of g (the prefix
// of a layer name up to its "_blockN" part: "conv2_block1" of
// "conv2_block1_1_conv") and the first words of the names of the other
// layers ("conv1" of "conv1_conv", "pool1", "post", "predictions").
func blockNames(g *ir.Graph) (blocks, others []string) {
	seen := map[string]bool{}
	for _, op := range g.Ops {
		for _, n := range op.Names {
			b, ok := blockOf(n)
			if seen[b] {
				continue
			}
			seen[b] = true
			if ok {
				blocks = append(blocks, b)
			} else {
				others = append(others, b)
			}
		}
	}
	return blocks, others
}

// blockOf returns the block of a layer name, and false with the name's
// first word if it is in no block.
func blockOf(name string) (string, bool) {
	for i := 0; i < len(name); {
		j := strings.IndexByte(name[i:], '_')
		if j < 0 {
			break
		}
		i += j + 1
		if word, ok := strings.CutPrefix(name[i:], "block"); ok {
			k := 0
			for k < len(word) && word[k] >= '0' && word[k] <= '9' {
				k++
			}
			if k > 0 && (k == len(word) || word[k] == '_') {
				return name[:i+len("block")+k], true
			}
		}
	}
	first, _, _ := strings.Cut(name, "_")
	return first, false
}

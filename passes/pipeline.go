// Package passes holds rnc's optimizing passes over the IR and the ordered pipeline that runs them.
//
// A pass is a func(*ir.Graph) error in its own file. The pipeline is one
// ordered list (Passes); the ordering constraints between passes are data
// (Constraints), checked by a test. ir.Verify runs after every pass in tests
// and under --check; a panic inside a pass is re-raised naming the pass and
// the model; optional passes can be disabled to bisect a numeric mismatch.
package passes

import (
	"fmt"
	"strings"

	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/runtime/abi"
)

// Target names what the lowered graph is for; everything about it —
// channel block, layout, kernel families — is its description in package
// abi (Desc), not a switch on the name.
type Target string

// The targets of abi.Targets, by name.
const (
	AVX512  Target = "avx512"     // zmm kernels, NCHW16c
	AVX2    Target = "avx2"       // ymm kernels, NCHW8c
	Generic Target = "generic"    // portable Go kernels, NCHW8c
	VNNI    Target = "avx512vnni" // int8 models: VNNI int8 convs, zmm float32 kernels, nChw16c (abi.Int8Targets)
)

// Desc is the target's description. An unknown name (one ParseTarget
// refuses) panics: a Target comes from ParseTarget or the constants.
func (t Target) Desc() *abi.Target {
	d, err := abi.Lookup(string(t))
	if err != nil {
		panic("passes: " + err.Error())
	}
	return d
}

// Block is the channel block of the target's blocked layout.
func (t Target) Block() int { return t.Desc().Block }

// Layout is the target's blocked activation layout.
func (t Target) Layout() ir.Layout {
	l, err := ir.ParseLayout(t.Desc().Layout())
	if err != nil {
		panic(fmt.Sprintf("passes: target %s: %v", t, err))
	}
	return l
}

// Targets lists every target of abi.Targets, fastest first.
func Targets() []Target {
	var out []Target
	for _, d := range abi.Targets {
		out = append(out, Target(d.Name))
	}
	return out
}

// AsmTargets lists the targets whose kernels are assembly.
func AsmTargets() []Target {
	var out []Target
	for _, t := range Targets() {
		if !t.Desc().Portable() {
			out = append(out, t)
		}
	}
	return out
}

// ParseTarget checks a target name.
func ParseTarget(s string) (Target, error) {
	if _, err := abi.Lookup(s); err != nil {
		return "", err
	}
	return Target(s), nil
}

// Pass is one step of the pipeline.
type Pass struct {
	Name string
	Doc  string
	// Run rewrites the graph in place.
	Run func(g *ir.Graph) error
}

// Config configures a pipeline run.
type Config struct {
	Target Target
	// Disable names passes to skip.
	Disable []string
	// Check runs ir.Verify after every pass.
	Check bool
	// Model names the model in panic messages.
	Model string
	// After, when set, is called after each pass that ran (i counts from 1
	// in pipeline order) — for dumps.
	After func(i int, pass string, g *ir.Graph) error
	// Stop, when set, ends the pipeline after the named pass.
	Stop string
	// WinogradLimit bounds one layer's Winograd weights in bytes (0: the
	// default, DefaultWinogradLimit).
	WinogradLimit int
	// Precision int8 runs the quantize pass after fuse (its convolutions
	// are direct: no winograd); "" is f32.
	Precision Precision
}

// Passes returns the pipeline for a target, in order, with the default
// options.
func Passes(t Target) []Pass { return passes(Config{Target: t}) }

func passes(cfg Config) []Pass {
	if cfg.Precision == Int8 {
		var ps []Pass
		for _, p := range float32Passes(cfg) {
			switch p.Name {
			case "winograd":
				continue // int8 convs are direct
			case "memplan":
				ps = append(ps, Pass{"quantize", "turn the convolutions PlanInt8 allows into int8 convs on u8 values, reading the quantized weight file (rnc quantize), with Quantize and Dequantize where float32 ops meet u8 values", Quantize})
			}
			ps = append(ps, p)
		}
		return ps
	}
	return float32Passes(cfg)
}

func float32Passes(cfg Config) []Pass {
	t := cfg.Target
	return []Pass{
		{"bnfold", "fold BatchNormalization into the preceding Conv2D/Dense (or the following 1x1 Conv2D); make the rest per-channel Affine ops", BNFold},
		{"padfuse", "fold ZeroPadding2D into the following Conv2D's padding, or into a MaxPooling2D as zero padding", PadFuse},
		{"subsample", "turn MaxPooling2D(1, strides s) into a strided read of its consumers", Subsample},
		{"layout", "choose each value's layout (" + t.Layout().String() + " on this target), pack weights to match, insert reorders where layouts change", func(g *ir.Graph) error { return Layout(g, t) }},
		{"winograd", "use Winograd F(4x4,3x3) for stride-1 3x3 convs on maps of at least 8x8 (AVX-512)", func(g *ir.Graph) error { return Winograd(g, t, cfg.WinogradLimit) }},
		{"fuse", "fuse conv + bias + activation + residual add + next pre-activation into one op, and pooling + Dense + softmax into a Head", func(g *ir.Graph) error { return Fuse(g, t) }},
		{"memplan", "place every value in one activation arena by liveness, in place where safe", MemPlan},
	}
}

// Names lists the pipeline's pass names in order.
func Names() []string {
	var n []string
	for _, p := range Passes(AVX512) {
		n = append(n, p.Name)
	}
	return n
}

// Constraints are the ordering rules between passes: Before must run
// before After.
var Constraints = []struct{ Before, After, Why string }{
	{"bnfold", "layout", "layout packs the folded kernels"},
	{"bnfold", "fuse", "fuse turns Affine ops (unfolded batch norms) into epilogue steps"},
	{"padfuse", "layout", "padding is folded on Keras-level ops"},
	{"subsample", "fuse", "fuse absorbs strided reads into conv epilogues"},
	{"layout", "fuse", "fuse must not merge ops across a layout change"},
	{"layout", "winograd", "winograd re-packs the kernels layout packed, for blocked maps"},
	{"winograd", "memplan", "the plan is made for the final ops"},
	{"fuse", "memplan", "memplan places the final ops' values"},
	{"layout", "memplan", "buffer sizes depend on layouts"},
	{"fuse", "quantize", "quantize decides on the final ops and their epilogues"},
	{"quantize", "memplan", "u8 values take a quarter of the bytes"},
}

// Run runs the pipeline on g.
func Run(g *ir.Graph, cfg Config) error {
	if cfg.Target == "" {
		cfg.Target = AVX512
	}
	all := passes(cfg)
	skip := map[string]bool{}
	for _, d := range cfg.Disable {
		found := false
		for _, p := range all {
			found = found || p.Name == d
		}
		if !found {
			return fmt.Errorf("--disable %s: no such pass (passes: %s)", d, strings.Join(Names(), ", "))
		}
		skip[d] = true
	}
	if cfg.Stop != "" && cfg.Stop != "none" {
		found := false
		for _, p := range all {
			found = found || p.Name == cfg.Stop
		}
		if !found {
			return fmt.Errorf("no pass named %q (passes: %s)", cfg.Stop, strings.Join(Names(), ", "))
		}
	}
	if cfg.Stop == "none" {
		return nil
	}
	for i, p := range all {
		if !skip[p.Name] {
			if err := runPass(g, p, cfg); err != nil {
				return err
			}
			if cfg.Check {
				if err := ir.Verify(g); err != nil {
					return fmt.Errorf("after pass %s: %w", p.Name, err)
				}
			}
			if cfg.After != nil {
				if err := cfg.After(i+1, p.Name, g); err != nil {
					return err
				}
			}
		}
		if p.Name == cfg.Stop {
			break
		}
	}
	return nil
}

func runPass(g *ir.Graph, p Pass, cfg Config) (err error) {
	defer func() {
		if r := recover(); r != nil {
			panic(fmt.Sprintf("panic during %s while compiling %s: %v", p.Name, cfg.Model, r))
		}
	}()
	if err := p.Run(g); err != nil {
		return fmt.Errorf("pass %s: %w", p.Name, err)
	}
	return nil
}

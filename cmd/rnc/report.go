package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/rnc-dev/rnc/codegen"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/passes"
)

var reportCmd = &command{
	name:  "report",
	short: "write a comparison report (rnc report variants: docs/variants.md)",
	args:  "variants [--no-latency] [--runs N] [-o FILE]",
	summary: `Write a report comparing models. "variants" compares the residual-unit variants of He et al.,
"Identity Mappings in Deep Residual Networks" (models/lib/variants.rn): for every activation
ordering, shortcut type and named network, its parameters, FLOPs per image, the steps of its
compiled avx512 plan (and how many of them run the portable Go kernel), the assembly kernels
emitted, and its latency (batch 1, 1 thread, median, built and timed as rnc bench does), next to
the paper's CIFAR-10 test error. The result is docs/variants.md: rnc report variants -o
docs/variants.md (run from the rnc source tree).`,
	flags: func(fs *flag.FlagSet) func([]string) error {
		noLatency := fs.Bool("no-latency", false, "do not build and time the models (the latency column is left empty)")
		runs := fs.Int("runs", 20, "timed runs per model (the latency is their median)")
		out := fs.String("o", "", "write the report to this file (default: standard output)")
		return func(args []string) error {
			name, err := oneArg(args, "report name (variants)")
			if err != nil {
				return err
			}
			if name != "variants" {
				return fmt.Errorf("unknown report %q (reports: variants)", name)
			}
			if err := checkInt("runs", *runs, 1, maxRuns); err != nil {
				return fmt.Errorf("report: %w", err)
			}
			root, err := rncRoot()
			if err != nil {
				return err
			}
			opt := reportOptions{latency: !*noLatency, runs: *runs}
			if *out != "" {
				opt.progress = os.Stderr
			}
			doc, err := variantsReport(root, opt)
			if err != nil {
				return err
			}
			if *out == "" {
				_, err = stdout.Write(doc)
				return err
			}
			return os.WriteFile(*out, doc, 0o644)
		}
	},
}

type reportOptions struct {
	latency  bool
	runs     int
	progress *os.File // progress messages, or nil
}

// variantRow is one row of a report table: a variant, its model file
// (relative to the rnc tree) and the paper's CIFAR-10 test error for it.
type variantRow struct {
	variant, model, paper string
}

type variantTable struct {
	title, intro string
	rows         []variantRow
}

// The paper's numbers: He, Zhang, Ren, Sun, "Identity Mappings in Deep
// Residual Networks", ECCV 2016, arXiv:1603.05027v3. CIFAR-10 test error
// (%), median of 5 runs; "fail" is the paper's word for a test error above
// 20%.
var variantTables = []variantTable{
	{
		title: "Activation orderings (Fig. 4, Table 2): basic units, ResNet-110",
		intro: "Error: Table 2, ResNet-110 column.",
		rows: []variantRow{
			{"(a) original: conv-BN-ReLU-conv-BN, add, ReLU", "models/resnet110.rn", "6.61"},
			{"(b) BN after addition", "models/variants/resnet110_bn_after_add.rn", "8.17"},
			{"(c) ReLU before addition", "models/variants/resnet110_relu_before_add.rn", "7.84"},
			{"(d) ReLU-only pre-activation", "models/variants/resnet110_relu_preact.rn", "6.71"},
			{"(e) full pre-activation", "models/resnet110v2.rn", "6.37"},
		},
	},
	{
		title: "Activation orderings (Fig. 4, Table 2): bottleneck units, ResNet-164",
		intro: "Error: Table 2, ResNet-164 column.",
		rows: []variantRow{
			{"(a) original", "models/resnet164.rn", "5.93"},
			{"(b) BN after addition", "models/variants/resnet164_bn_after_add.rn", "6.50"},
			{"(c) ReLU before addition", "models/variants/resnet164_relu_before_add.rn", "6.14"},
			{"(d) ReLU-only pre-activation", "models/variants/resnet164_relu_preact.rn", "5.91"},
			{"(e) full pre-activation", "models/resnet164v2.rn", "5.46"},
		},
	},
	{
		title: "Shortcut types (Fig. 2, Table 1) on ResNet-110's original unit",
		intro: "Error: Table 1 (ResNet-110, the shortcut type applied to all units). The gates' rows differ only by the\n" +
			"initial gate bias b_g, a training choice: at inference the network is the same. Table 1's\n" +
			"\"0 on the shortcut\" row (a plain net, \"fail\") has no model here.",
		rows: []variantRow{
			{"identity (original)", "models/resnet110.rn", "6.61"},
			{"constant scaling: 0.5 on the shortcut, 1 on F", "models/variants/resnet110_scale_shortcut.rn", "fail"},
			{"constant scaling: 0.5 on both (frozen gating)", "models/variants/resnet110_scale_both.rn", "12.35"},
			{"exclusive gating: F·g + x·(1−g)", "models/variants/resnet110_exclusive_gating.rn", "fail (b_g = 0 to −5); 8.70 (b_g = −6); 9.81 (b_g = −7)"},
			{"shortcut-only gating: F + x·(1−g)", "models/variants/resnet110_shortcut_gating.rn", "12.86 (b_g = 0); 6.91 (b_g = −6)"},
			{"1×1 conv shortcut on every unit", "models/variants/resnet110_conv_shortcut.rn", "12.22"},
			{"dropout shortcut (0.5)", "models/variants/resnet110_dropout_shortcut.rn", "fail"},
		},
	},
	{
		title: "The paper's networks (Tables 3, 4 and 5)",
		intro: "Error: Table 3 (original vs pre-activation units, CIFAR-10). ResNet-1001's 4.92 is also in Table 4,\n" +
			"next to 4.62 (mean 4.69 ± 0.20) trained with mini-batch 64; Table 4 gives the parameter counts\n" +
			"(1.7M, 1.7M, 10.2M). ResNet-200 is an ImageNet network (224×224, 1000 classes).",
		rows: []variantRow{
			{"ResNet-110, original", "models/resnet110.rn", "6.61"},
			{"ResNet-110, pre-activation", "models/resnet110v2.rn", "6.37"},
			{"ResNet-164, original", "models/resnet164.rn", "5.93"},
			{"ResNet-164, pre-activation", "models/resnet164v2.rn", "5.46"},
			{"ResNet-1001, original", "models/resnet1001.rn", "7.61"},
			{"ResNet-1001, pre-activation", "models/resnet1001v2.rn", "4.92"},
			{"ResNet-200, pre-activation (ImageNet)", "models/resnet200v2.rn", "no CIFAR-10 entry (ImageNet, Table 5: 20.7 top-1, 5.3 top-5, 320×320 crop; original unit 21.8, 6.0)"},
		},
	},
}

// variantStats are a model's columns.
type variantStats struct {
	params, paperParams int64
	flops               int64
	steps, goSteps      int
	kernels             int
	err                 error
	latency             time.Duration
	target              string
}

// latencyCol is the index of the latency column in the tables.
const latencyCol = 8

func variantsReport(root string, opt reportOptions) ([]byte, error) {
	stats := map[string]*variantStats{}
	targets, err := compileTargets("auto")
	if err != nil {
		return nil, err
	}
	var order []string
	for _, t := range variantTables {
		for _, r := range t.rows {
			if _, ok := stats[r.model]; !ok {
				stats[r.model] = nil
				order = append(order, r.model)
			}
		}
	}
	for _, m := range order {
		if opt.progress != nil {
			fmt.Fprintf(opt.progress, "report: %s\n", m)
		}
		s, err := modelStats(root, m, targets, opt)
		if err != nil {
			return nil, err
		}
		stats[m] = s
	}

	var b bytes.Buffer
	b.WriteString(strings.Replace(variantsHeader, "PIPELINE", strings.Join(passes.Names(), ", "), 1))
	if opt.latency {
		var target string
		for _, m := range order {
			if s := stats[m]; s.err == nil && target == "" {
				target = s.target
			}
		}
		fmt.Fprintf(&b, "Latency: measured by `rnc report variants -o docs/variants.md` on %s, %s, target %s, batch 1, 1 thread, median of %d runs after 2 warm-up runs (synthetic weights)%s.\n",
			time.Now().UTC().Format("2006-01-02"), reportCPU(), target, opt.runs, reportRevision(root))
	} else {
		b.WriteString("Latency: not measured (`rnc report variants --no-latency`).\n")
	}
	var failed []string
	for _, t := range variantTables {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", t.title, t.intro)
		b.WriteString("| variant | model | params | conv+FC weights | GFLOP | plan steps | Go steps | kernels | ms | CIFAR-10 error % (paper) |\n")
		b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
		for _, r := range t.rows {
			s := stats[r.model]
			cells := []string{r.variant, "`" + r.model + "`", ir.Commas(s.params), fmt.Sprintf("%s (%.1fM)", ir.Commas(s.paperParams), math.Round(float64(s.paperParams)/1e5)/10),
				fmt.Sprintf("%.3f", float64(s.flops)/1e9)}
			if s.err != nil {
				cells = append(cells, "does not compile¹", "", "", "")
				msg := fmt.Sprintf("¹ `%s`: %v", r.model, s.err)
				if len(failed) == 0 || failed[len(failed)-1] != msg {
					failed = append(failed, msg)
				}
			} else {
				ms := ""
				if opt.latency {
					ms = fmt.Sprintf("%.2f", float64(s.latency)/1e6)
				}
				cells = append(cells, strconv.Itoa(s.steps), strconv.Itoa(s.goSteps), strconv.Itoa(s.kernels), ms)
			}
			cells = append(cells, r.paper)
			b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
		}
	}
	if len(failed) > 0 {
		b.WriteString("\n")
		seen := map[string]bool{}
		for _, f := range failed {
			if !seen[f] {
				seen[f] = true
				b.WriteString(f + "\n")
			}
		}
	}
	b.WriteString(variantsFooter)
	return b.Bytes(), nil
}

// modelStats loads, counts, compiles and (with opt.latency) times one
// model.
func modelStats(root, model string, targets []passes.Target, opt reportOptions) (*variantStats, error) {
	g, err := loadModel(filepath.Join(root, model), nil)
	if err != nil {
		return nil, err
	}
	c := ir.Count(g)
	s := &variantStats{params: c.Params, paperParams: c.ConvDense, flops: c.FLOPs}
	cfg := passes.Config{Model: model}
	res, err := reportGenerate(g, targets, cfg, model)
	if err != nil {
		s.err = err
		return s, nil
	}
	s.kernels = res.Kernels
	plan := -1
	for i, t := range res.Targets {
		if t == string(passes.AVX512) {
			plan = i
		}
	}
	if plan < 0 {
		return nil, fmt.Errorf("%s: no avx512 plan", model)
	}
	for _, op := range res.Graphs[passes.AVX512].Ops {
		if op.Kind != ir.Input {
			s.steps++
		}
	}
	bound := map[string]bool{}
	prefix := fmt.Sprintf("program.Plans[%d].Steps[", plan)
	sc := bufio.NewScanner(bytes.NewReader(res.Files["bind_amd64.go"]))
	for sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), prefix); ok {
			if i, _, ok := strings.Cut(rest, "]"); ok {
				bound[i] = true
			}
		}
	}
	s.goSteps = s.steps - len(bound)
	if !opt.latency {
		return s, nil
	}
	r, err := buildRunner(g, targets, cfg, model, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", model, err)
	}
	defer r.Close()
	out, err := r.run(nil, "-threads", "1", "-batch", "1", "-runs", strconv.Itoa(opt.runs))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", model, err)
	}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(l, "\t")
		switch {
		case len(f) == 2 && f[0] == "target":
			s.target = f[1]
		case len(f) == 2 && f[0] == "total":
			ns, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: runner output %q", model, l)
			}
			s.latency = time.Duration(ns)
		}
	}
	if s.latency == 0 {
		return nil, fmt.Errorf("%s: no timing in the runner's output:\n%s", model, out)
	}
	return s, nil
}

// reportGenerate is codegen.Generate with a panic in a pass reported as an
// error (a model the compiler cannot handle is a row of the report, not
// the end of it).
func reportGenerate(g *ir.Graph, targets []passes.Target, cfg passes.Config, source string) (res *codegen.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return codegen.Generate(g, codegen.Options{Package: "model", Targets: targets, Pipeline: cfg, Source: source})
}

// reportCPU is the CPU's model name and the number of CPUs.
func reportCPU() string {
	name := goruntime.GOARCH
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				name = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s (%d CPUs)", name, goruntime.NumCPU())
}

// reportRevision describes the rnc tree's git revision, when it is a checkout.
func reportRevision(root string) string {
	cmd := exec.Command("git", "rev-parse", "--short", "HEAD")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	rev := ", rnc commit " + strings.TrimSpace(string(out))
	cmd = exec.Command("git", "status", "--porcelain", "--untracked-files=no")
	cmd.Dir = root
	if st, err := cmd.Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		rev += " with uncommitted changes"
	}
	return rev
}

// maskLatency blanks what differs between runs of the report: the latency
// line and the latency column.
func maskLatency(doc string) string {
	lines := strings.Split(doc, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "Latency: ") {
			lines[i] = "Latency: …"
		}
		if c := strings.Split(l, " | "); strings.HasPrefix(l, "| ") && len(c) > latencyCol && !strings.HasPrefix(l, "| ---") && !strings.HasPrefix(l, "| variant |") {
			c[latencyCol] = "…"
			lines[i] = strings.Join(c, " | ")
		}
	}
	return strings.Join(lines, "\n")
}

const variantsHeader = `# The variants of "Identity Mappings in Deep Residual Networks", compiled

<!-- Generated by ` + "`rnc report variants -o docs/variants.md`" + ` (cmd/rnc/report.go): edit that, not this.
     go test ./cmd/rnc checks that every column but the latency is what the command prints today. -->

He, Zhang, Ren and Sun, "Identity Mappings in Deep Residual Networks" (ECCV 2016,
[arXiv:1603.05027](https://arxiv.org/abs/1603.05027)), study where the shortcut and the
activations of a residual unit go. Its alternatives are macros in ` + "`models/lib/variants.rn`" + `
(` + "`residual_unit`, `residual_stage`, `cifar_resnet`" + `) and models in ` + "`models/`" + ` and ` + "`models/variants/`" + `;
` + "`rnc summary`" + `, ` + "`rnc compile`" + ` and ` + "`rnc bench`" + ` take them like any other model.
` + "`go test ./codegen`" + ` compiles each of them (with 2 units per stage and 16×16 inputs) and checks
every target the CPU runs against the interpreter; ` + "`go test ./ir`" + ` checks their parameter counts.

## Conventions

The paper leaves these open; ` + "`models/lib/variants.rn`" + ` says the same at its top.

- **CIFAR networks.** conv1 is a 3×3 conv with 16 filters; then three stages of n units at
  32×32, 16×16 and 8×8, 16/32/64 wide (basic units: two 3×3 convs) or with bottleneck widths
  16/32/64 and ×4 expansion (outputs 64/128/256); then global average pooling and a 10-way
  softmax classifier. Depth 6n+2 (basic) or 9n+2 (bottleneck): ResNet-110 is basic n = 18,
  ResNet-164 bottleneck n = 18, ResNet-1001 bottleneck n = 111.
- **Downsampling** is in the first unit of stages 2 and 3 (stride 2): on the first 3×3 conv of a
  basic unit, on the 3×3 conv of a bottleneck unit. Every 3×3 conv pads one pixel on every side
  (the paper's Torch code), not TensorFlow's asymmetric 'same'.
- **Where dimensions change** (stride 2, or 16 → 64 channels into the first bottleneck stage) the
  shortcut is a projection, a 1×1 conv with the unit's stride (the original ResNet paper's option
  B), not the original CIFAR ResNet's parameter-free zero-padding shortcut (option A; rnc has no
  channel-padding layer). The projection is followed by BN in units whose convs are followed by
  BN (orderings a–d); in full pre-activation units (e) it reads the pre-activation shared by both
  paths and has no BN (Keras's block2, the paper's code).
- **Pre-activation networks** (d, e) share the first unit's pre-activation (ReLU, or BN-ReLU)
  between both paths — the paper's "first activation right after conv1 and before splitting into
  two paths" — and do so in every projection unit; they end with an extra activation after the
  last addition (ReLU, or BN-ReLU). Their conv1 is followed by BN in (d) (every conv of (d) is)
  and by nothing in (e).
- **Gates** are g(x) = sigmoid(1×1 conv(x)) with as many channels as the unit's output, the conv's
  stride the unit's stride, and a bias (the paper's b_g); 1 − g is ` + "`Rescaling(g, -1, 1)`" + `.
  Constant scaling is ` + "`Rescaling(h, 0.5)`" + `; the dropout shortcut is ` + "`Dropout(h, 0.5)`" + `,
  the identity at inference (as in Keras).
- **Biases**: no conv has one (each is next to a BN), except the gates' 1×1 convs; the classifier
  has one. BN's epsilon is 1.001e-5, as in ` + "`models/lib/resnet.rn`" + `.
- **ResNet-200** (ImageNet) is written as tf.keras.applications writes ResNet152V2
  (` + "`stack2`" + `: 7×7 stem and max pool, the conv shortcut in a stage's first block, the stride in its
  last one), with bottleneck stages [3, 24, 36, 3].
- **Parameters.** ` + "`rnc summary`" + ` counts as Keras does: BN's gamma, beta, moving mean and moving
  variance are in its total. The paper counts the weights of the convolutions and the classifier
  only: that count (column "conv+FC weights") rounds to its 1.7M (ResNet-110, ResNet-164) and
  10.2M (ResNet-1001). ` + "`rnc summary`" + `'s total also rounds to 1.7M for ResNet-110 and ResNet-164,
  but is 10.5M for ResNet-1001 (its 333 units hold 0.30M BN parameters).

## Columns

- **params**: ` + "`rnc summary`" + `'s "Total params" (BN included).
- **conv+FC weights**: the weights of the Conv2D and Dense layers (kernels and biases), the paper's
  count, and in millions as the paper prints it.
- **GFLOP**: 2 × the multiply-adds of the Conv2D and Dense layers for one image at the model's
  input size (32×32; ResNet-200 224×224). BN, activations, additions and products are not counted.
- **plan steps**: the steps of the compiled avx512 plan, that is the ops of the avx512 graph after
  the whole pipeline (PIPELINE), less the Input.
- **Go steps**: those of them that no assembly kernel runs (the portable Go kernel does): layout
  reorders, and ops whose epilogue the kernels do not implement (a second addition or product, a
  strided product, a sigmoid or product after pooling). A convolution there runs the portable Go
  kernel, many times slower than an assembly one: it shows in the latency.
- **kernels**: the distinct assembly kernels emitted for all targets, as ` + "`rnc compile`" + ` reports.
- **ms**: latency of one image on one thread, built and timed as ` + "`rnc bench`" + ` does (the runner's
  -runs mode: the median of the runs, after two warm-up runs).
- **CIFAR-10 error**: the paper's test error in %, median of 5 runs (arXiv:1603.05027v3); "fail"
  is the paper's word for an error above 20%.

`

const variantsFooter = `
## Sources

The errors are transcribed from He, Zhang, Ren, Sun, "Identity Mappings in Deep Residual
Networks", ECCV 2016, arXiv:1603.05027v3: Table 1 (shortcut types, ResNet-110), Table 2
(activation orderings, ResNet-110 and ResNet-164), Table 3 (original vs pre-activation units,
ResNet-110, ResNet-164, ResNet-1001), Table 4 (parameter counts; ResNet-1001's 4.62) and Table 5
(ImageNet, ResNet-200). Every row's measured columns come from the model file it names, compiled
by this tree's compiler; regenerate with ` + "`rnc report variants -o docs/variants.md`" + `.
`

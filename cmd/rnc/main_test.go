package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	_ "image/jpeg"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rnc-dev/rnc/codegen"
	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/abi"
	"github.com/rnc-dev/rnc/runtime/npy"
)

func rnc(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(args, &out, &errb)
	return out.String() + errb.String(), err
}

const root = "../.."

func path(p string) string { return filepath.Join(root, p) }

// TestHelp: `rnc help` lists every command and `rnc help CMD` documents
// every flag of it.
func TestHelp(t *testing.T) {
	out, err := rnc(t, "help")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commands {
		if !strings.Contains(out, c.name) {
			t.Errorf("help does not list %q", c.name)
		}
		hout, err := rnc(t, append([]string{"help"}, strings.Fields(c.name)...)...)
		if err != nil {
			t.Fatal(err)
		}
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		c.flags(fs)
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(hout, "-"+f.Name) || f.Usage == "" {
				t.Errorf("help %s does not document -%s", c.name, f.Name)
			}
		})
	}
}

// TestHelpGroups: `rnc help weights` lists the weights subcommands with
// their descriptions (it used to say "unknown command"), `rnc weights`
// alone says it needs one, and a command that takes no arguments refuses
// them instead of ignoring them.
func TestHelpGroups(t *testing.T) {
	out, err := rnc(t, "help", "weights")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commands {
		if got, want := strings.Contains(out, c.name+"  "), strings.HasPrefix(c.name, "weights "); got != want ||
			want && !strings.Contains(out, c.short) {
			t.Errorf("help weights lists %q: %v, want %v:\n%s", c.name, got, want, out)
		}
	}
	if out, err := rnc(t, "help", "weights", "ls"); err != nil || !strings.HasPrefix(out, "usage: rnc weights ls WEIGHTS\n") {
		t.Errorf("help weights ls: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args      []string
		want, out string
	}{
		{[]string{"weights"}, "weights needs a subcommand", "weights import"},
		{[]string{"weights", "frob"}, `unknown command "weights frob"`, "weights ls"},
		{[]string{"help", "frob"}, `unknown command "frob"`, ""},
		{[]string{"help", "weights", "frob"}, `unknown command "weights frob"`, ""},
		{[]string{"peak", "x"}, `peak takes no arguments, got ["x"]`, ""},
		{[]string{"grammar", "x", "y"}, `grammar takes no arguments, got ["x" "y"]`, ""},
		{[]string{"demo", "models/resnet50.rn"}, `demo takes no arguments`, ""},
	} {
		out, err := rnc(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(out, c.out) {
			t.Errorf("rnc %v: error %v, want %q; output:\n%s", c.args, err, c.want, out)
		}
	}
}

// TestREADMECommands: the command block of README.md's "Commands" section
// lists the commands `rnc help` lists, in the same order, and every flag it
// shows is one of its command's.
func TestREADMECommands(t *testing.T) {
	b, err := os.ReadFile(path("README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok1 := strings.Cut(string(b), "\n## Commands\n")
	_, block, ok2 := strings.Cut(sec, "```\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok1 || !ok2 || !ok3 {
		t.Fatal("README.md has no code block in a section \"## Commands\"")
	}
	flagRE := regexp.MustCompile(`(?:^|[\s\[])--?([a-z][a-z0-9-]*)`)
	var got, want []string
	for _, l := range strings.Split(strings.TrimSpace(block), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "rnc" {
			t.Errorf("README command line %q does not start with rnc COMMAND", l)
			continue
		}
		name := f[1]
		if len(group(name)) > 0 && len(f) > 2 {
			name += " " + f[2]
		}
		got = append(got, name)
		c := find(name)
		if c == nil {
			t.Errorf("README lists rnc %s, which is no command", name)
			continue
		}
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		c.flags(fs)
		for _, m := range flagRE.FindAllStringSubmatch(l, -1) {
			if fs.Lookup(m[1]) == nil {
				t.Errorf("README shows rnc %s -%s, which has no such flag", name, m[1])
			}
		}
	}
	for _, c := range commands {
		want = append(want, c.name)
	}
	if !slices.Equal(got, want) {
		t.Errorf("README commands\n%q\nrnc help\n%q", got, want)
	}
}

// TestSetMalformed: a --set value that starts like a list, number or
// boolean but does not parse is an error naming the flag and the problem
// (it used to become a string and fail later as "shape must be a list
// ..., got string"); bare words are still strings.
func TestSetMalformed(t *testing.T) {
	m := path("models/tinyv2.rn")
	for _, c := range []struct{ set, want string }{
		{"input_shape=[8,8", `--set input_shape=[8,8: at character 5: syntax error: unexpected end of file (expected "," or "]")`},
		{"classes=1x", `--set classes=1x: at character 2: syntax error: unexpected token "x"`},
		{"include_top=false,", `--set include_top=false,: at character 6: syntax error`},
	} {
		_, err := rnc(t, "summary", m, "--set", c.set)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--set %s: error %v, want %q", c.set, err, c.want)
		}
	}
	for _, set := range []string{"classifier_activation=softmax", "pooling=avg", "classes=7", "input_shape=[64,64,3]"} {
		if _, err := rnc(t, "summary", m, "--set", set); err != nil {
			t.Errorf("--set %s: %v", set, err)
		}
	}
}

// TestHelpBuiltins: `rnc help builtins` prints every builtin with its
// parameters, defaults and meaning, and `rnc grammar` ends with the same
// list after the EBNF.
func TestHelpBuiltins(t *testing.T) {
	out, err := rnc(t, "help", "builtins")
	if err != nil {
		t.Fatal(err)
	}
	if out != dsl.BuiltinHelp() || strings.Count(out, "\n") != len(dsl.BuiltinNames()) {
		t.Errorf("help builtins:\n%s", out)
	}
	for _, want := range []string{
		`Conv2D(x, filters, kernel_size, strides = 1, padding = "valid", use_bias = true, activation = none, dilation_rate = 1, groups = 1, name = none)  2-D convolution, Keras's Conv2D`,
		"\nlen(value)  the length of a list or a string\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("help builtins lacks %q:\n%s", want, out)
		}
	}
	g, err := rnc(t, "grammar")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(g, dsl.Grammar()) || !strings.HasSuffix(g, "\nbuiltins:\n"+out) || !strings.Contains(g, `PostOp = ("[" Expr "]") | ("." Attr) .`) {
		t.Errorf("grammar:\n%s", g)
	}
	if u, _ := rnc(t, "help"); !strings.Contains(u, "`rnc help builtins`") {
		t.Errorf("help does not point to help builtins:\n%s", u)
	}
}

func TestSummary(t *testing.T) {
	out, err := rnc(t, "summary", path("models/tinyv2.rn"), "--set", "classes=7")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "predictions (Dense)             (None, 7)            455         avg_pool[0][0]") {
		t.Errorf("summary:\n%s", out)
	}
	// --weights: the Conv2D and Dense weights only (15,402 minus the 4 × 304
	// batch-norm values of tinyv2).
	out, err = rnc(t, "summary", path("models/tinyv2.rn"), "--weights")
	if err != nil || !strings.HasSuffix(out, "Non-trainable params: 608\nConv2D and Dense weights: 14,186 (0.0M)\n") {
		t.Errorf("summary --weights: %v\n%s", err, out)
	}
}

// TestRunInterp: `rnc run --interp` reproduces the golden outputs and
// writes them.
func TestRunInterp(t *testing.T) {
	dir := t.TempDir()
	outPath := filepath.Join(dir, "y.npy")
	out, err := rnc(t, "run", path("models/tinyv2.rn"), "--weights", path("testdata/golden/tinyv2.safetensors"),
		"--input", path("testdata/golden/tinyv2_input_b2_seed2.npy"), "--out", outPath, "--interp")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "image 0: 8 (0.3872)") || !strings.Contains(out, "image 1: 8 (0.3305)") {
		t.Errorf("top-5:\n%s", out)
	}
	got, shape, err := npy.Read(outPath)
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := npy.Read(path("testdata/golden/tinyv2_expected_b2.npy"))
	if len(shape) != 2 || shape[0] != 2 || shape[1] != 10 {
		t.Fatalf("output shape %v", shape)
	}
	for i := range want {
		if d := got[i] - want[i]; d > 1e-5 || d < -1e-5 {
			t.Fatalf("output %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// TestRunLowered: the interpreter on the fully lowered graph (folded,
// fused, blocked layouts, one arena) reproduces the golden outputs.
func TestRunLowered(t *testing.T) {
	for _, m := range []string{"tinyv2", "tinyv1", "stemv2"} {
		for _, target := range []string{"avx512", "avx2"} {
			outPath := filepath.Join(t.TempDir(), "y.f32")
			_, err := rnc(t, "run", path("models/"+m+".rn"), "--weights", path("testdata/golden/"+m+".safetensors"),
				"--input", path("testdata/golden/"+m+"_input_b2_seed2.f32"), "--out", outPath, "--interp", "--after", "all", "--target", target, "--check")
			if err != nil {
				t.Fatal(err)
			}
			got, _, _ := npy.Read(outPath)
			want, _, _ := npy.Read(path("testdata/golden/" + m + "_expected_b2.f32"))
			for i := range want {
				if d := got[i] - want[i]; d > 1e-5 || d < -1e-5 {
					t.Fatalf("%s %s: output %d: %v, want %v", m, target, i, got[i], want[i])
				}
			}
		}
	}
}

// TestRunErrors: wrong weights and inputs are clear errors.
func TestRunErrors(t *testing.T) {
	in := path("testdata/golden/tinyv2_input_b2_seed2.f32")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", path("models/tinyv2.rn"), "--weights", path("testdata/golden/tinyv1.safetensors"), "--input", in, "--interp"},
			`missing tensor "conv2_block1_preact_bn/gamma" (want shape [16])`},
		{[]string{"run", path("models/stemv2.rn"), "--weights", path("testdata/golden/stemv2.safetensors"), "--input", in, "--interp"},
			"input has 6144 values, not a positive multiple of one image (None, 64, 64, 3) = 12288 values"},
		{[]string{"run", path("models/tinyv2.rn"), "--weights", path("testdata/golden/tinyv2.safetensors"), "--input", path("testdata/golden/stemv2_input_b2_seed2.npy"), "--interp"},
			"input has shape [2 64 64 3]: 2 images of [64 64 3], and the model takes [32 32 3] (a model parameter may set it: --set input_shape=[64,64,3])"},
		{[]string{"run", path("models/tinyv2.rn"), "--input", in, "--interp"}, "--weights and --input are required"},
		{[]string{"run", path("models/tinyv2.rn"), "--weights", path("testdata/golden/tinyv2.safetensors"), "--input", in, "--after", "fuse"}, "--after needs --interp"},
		{[]string{"summary", path("models/nope.rn")}, "no such file or directory"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	}
	for _, c := range cases {
		_, err := rnc(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args[:2], err, c.want)
		}
	}
}

// TestWeightsInit: deterministic random weights that fit the model; ls
// lists them.
func TestWeightsInit(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors")
	for _, p := range []string{a, b} {
		if _, err := rnc(t, "weights", "init", path("models/tinyv1.rn"), "--seed", "7", "-o", p); err != nil {
			t.Fatal(err)
		}
	}
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) || len(ab) < 17802*4 {
		t.Fatalf("weights init is not deterministic or too small (%d bytes)", len(ab))
	}
	out, err := rnc(t, "weights", "ls", a)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "conv1_conv/kernel") || !strings.Contains(out, "17802 parameters") {
		t.Errorf("ls:\n%s", out)
	}
	out, err = rnc(t, "run", path("models/tinyv1.rn"), "--weights", a, "--input", path("testdata/golden/tinyv1_input_b2_seed2.f32"), "--interp")
	if err != nil || !strings.Contains(out, "image 1:") {
		t.Fatalf("run with random weights: %v\n%s", err, out)
	}
}

// TestDocListings: every `$ rnc ...` listing in docs/*.md is the current
// output of its command (run from the repository root).
func TestDocListings(t *testing.T) {
	docs, _ := filepath.Glob(path("docs/*.md"))
	if len(docs) == 0 {
		t.Fatal("no docs")
	}
	wd, _ := os.Getwd()
	if err := os.Chdir(root); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	for _, d := range docs {
		b, err := os.ReadFile(filepath.Join(wd, d))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			cmd, ok := strings.CutPrefix(lines[i], "    $ rnc ")
			if !ok {
				continue
			}
			var want []string
			for i++; i < len(lines) && strings.HasPrefix(lines[i], "    "); i++ {
				want = append(want, strings.TrimPrefix(lines[i], "    "))
			}
			got, err := rnc(t, strings.Fields(cmd)...)
			if err != nil {
				t.Fatalf("%s: rnc %s: %v", d, cmd, err)
			}
			if g, w := strings.TrimRight(got, "\n"), strings.Join(want, "\n"); g != w {
				t.Errorf("%s: the listing of `rnc %s` is stale:\n%s", d, cmd, cmp.Diff(w, g))
			}
		}
	}
}

// TestWeightsImport: a Keras 2 .h5 file converts to safetensors (checked
// against the model), and a file that does not fit the model is an error
// naming the tensors.
func TestWeightsImport(t *testing.T) {
	h5 := path("runtime/testdata/h5/keras2_tinyv2.h5")
	out := filepath.Join(t.TempDir(), "w.safetensors")
	if _, err := rnc(t, "weights", "import", h5, "--model", path("models/tinyv2.rn"), "-o", out); err != nil {
		t.Fatal(err)
	}
	got, err := rnc(t, "weights", "ls", out)
	if err != nil || !strings.Contains(got, "15402 parameters") {
		t.Fatalf("ls: %v\n%s", err, got)
	}
	// ls reads the .h5 itself, with the same names and count.
	gotH5, err := rnc(t, "weights", "ls", h5)
	if err != nil || !strings.Contains(gotH5, "15402 parameters") || !strings.Contains(gotH5, "conv1_conv/kernel") {
		t.Fatalf("ls .h5: %v\n%s", err, gotH5)
	}
	_, err = rnc(t, "weights", "import", h5, "--model", path("models/tinyv1.rn"), "-o", out)
	if err == nil || !strings.Contains(err.Error(), `missing tensor "conv1_bn/gamma"`) {
		t.Errorf("error %v", err)
	}
	// A _notop file (no classifier) fits the model built without its top,
	// and only that one.
	notop := path("runtime/testdata/h5/keras2_tinyv2_notop.h5")
	if _, err := rnc(t, "weights", "import", notop, "--model", path("models/tinyv2.rn"), "--set", "include_top=false", "-o", out); err != nil {
		t.Fatal(err)
	}
	if got, err := rnc(t, "weights", "ls", out); err != nil || !strings.Contains(got, "14752 parameters") || strings.Contains(got, "predictions") {
		t.Fatalf("ls notop: %v\n%s", err, got)
	}
	_, err = rnc(t, "weights", "import", notop, "--model", path("models/tinyv2.rn"), "-o", out)
	if err == nil || !strings.Contains(err.Error(), `missing tensor "predictions/`) {
		t.Errorf("notop file against the model with its top: error %v", err)
	}
}

// TestIRDiffOrder: `rnc ir A --diff B` and `rnc ir --diff A B` both put
// A in the left column.
func TestIRDiffOrder(t *testing.T) {
	a, b := path("models/tinyv1.rn"), path("models/tinyv2.rn")
	want := a + " | " + b
	for _, args := range [][]string{
		{"ir", a, "--diff", b, "--width", "100"},
		{"ir", "--diff", a, b, "--width", "100"},
		{"ir", "--width", "100", "--diff", a, "--after", "bnfold", b},
	} {
		out, err := rnc(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		head, _, _ := strings.Cut(out, "\n")
		if got := strings.Join(strings.Fields(head), " "); got != want {
			t.Errorf("%v: header %q, want %q", args, got, want)
		}
	}
}

// TestIRBlockMissing: a --block the model does not have is an error
// naming it and listing the model's blocks (it used to print an empty
// graph and succeed), with --diff too, for either model.
func TestIRBlockMissing(t *testing.T) {
	v1, v2, tiny := path("models/resnet50.rn"), path("models/resnet50v2.rn"), path("models/tinyv2.rn")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ir", v2, "--block", "conv9_block1"}, "--block conv9_block1: " + v2 + " has no layer named conv9_block1 or conv9_block1_...; its blocks: conv2_block1, conv2_block2, conv2_block3, conv3_block1,"},
		{[]string{"ir", v2, "--block", "conv9_block1", "--format", "dot"}, "--block conv9_block1: " + v2 + " has no layer"},
		{[]string{"ir", v2, "--block", "conv9_block1", "--after", "all"}, "conv5_block3 (other layer-name prefixes: input, conv1, pool1, max, post, avg, predictions)"},
		{[]string{"ir", v1, "--diff", tiny, "--block", "conv4_block1"}, "--block conv4_block1: " + tiny + " has no layer named conv4_block1 or conv4_block1_...; its blocks: conv2_block1, conv2_block2, conv3_block1, conv3_block2 ("},
		{[]string{"ir", "--diff", tiny, v1, "--block", "conv4_block1"}, "--block conv4_block1: " + tiny + " has no layer"},
		{[]string{"ir", v1, "--diff", v2, "--format", "svg"}, `unknown --format "svg" (want text or dot)`},
	} {
		out, err := rnc(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || out != "" {
			t.Errorf("%v: error %v, want %q; output %q", c.args, err, c.want, out)
		}
	}
	// A block that exists, and a prefix of several layers.
	for _, block := range []string{"conv2_block1", "conv1", "pool1"} {
		if out, err := rnc(t, "ir", v2, "--block", block); err != nil || !strings.Contains(out, " "+block+"_") {
			t.Errorf("--block %s: %v\n%s", block, err, out)
		}
	}
}

// TestIRDiffDOT: --format dot --diff draws both blocks as two clusters
// (it used to print the text form), the paired ops on one rank joined by
// a dashed edge, the added, removed and changed ones colored.
func TestIRDiffDOT(t *testing.T) {
	v1, v2 := path("models/resnet50.rn"), path("models/resnet50v2.rn")
	out, err := rnc(t, "ir", v1, "--block", "conv2_block1", "--diff", v2, "--format", "dot")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"digraph \"diff\" {\n",
		"  subgraph cluster_a {\n    label=\"" + v1 + "\";\n",
		"  subgraph cluster_b {\n    label=\"" + v2 + "\";\n",
		// removed (red), added (green), changed (yellow, with what differs), same
		`    aop8 [label="conv2_block1_0_bn\nBatchNormalization\n%8 f32[N,56,56,256] nhwc", style=filled, fillcolor="#f4cccc"];`,
		`    bop5 [label="conv2_block1_preact_bn\nBatchNormalization\n%5 f32[N,56,56,64] nhwc", style=filled, fillcolor="#d9ead3"];`,
		`    aop9 [label="conv2_block1_1_conv\nConv2D\n%9 f32[N,56,56,64] nhwc\ndiffers: inputs, bias", style=filled, fillcolor="#fff2cc"];`,
		`    bop9 [label="conv2_block1_1_bn\nBatchNormalization\n%9 f32[N,56,56,64] nhwc"];`,
		"    bop5 -> bop6 [label=\"%5\"];\n",
		"    av6 [shape=ellipse, label=\"%6 pool1_pool\"];\n",
		// pairs: the sums (_add and _out), the 1x1 convs
		"  { rank=same; aop17; bop16; }\n  aop17 -> bop16 [style=dashed, color=gray, dir=none, constraint=false];\n",
		"  { rank=same; aop9; bop8; }\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the DOT diff lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "rank=same"); n != 9 {
		t.Errorf("%d pairs, want 9", n)
	}
	if strings.Contains(out, "aop5 ") || strings.Contains(out, "bop17 ") {
		t.Errorf("an op outside the block is drawn:\n%s", out)
	}
}

// TestIRDiffWidth: the default diff of conv2_block1 fits 120 columns, and
// --width N fits N, after any pass.
func TestIRDiffWidth(t *testing.T) {
	v1, v2 := path("models/resnet50.rn"), path("models/resnet50v2.rn")
	for _, after := range []string{"none", "bnfold", "all"} {
		for _, width := range []string{"", "60", "200"} {
			args := []string{"ir", v1, "--block", "conv2_block1", "--diff", v2, "--after", after}
			max := 120
			if width != "" {
				args = append(args, "--width", width)
				max, _ = strconv.Atoi(width)
			}
			out, err := rnc(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(out, "\n") {
				if len(l) > max {
					t.Errorf("--after %s --width %s: line of %d characters: %q", after, width, len(l), l)
				}
			}
			if !strings.Contains(out, "changed (~)") {
				t.Errorf("--after %s --width %s: no count line:\n%s", after, width, out)
			}
		}
	}
}

// TestCommittedGenerated: the generated package the example imports is
// what rnc compile writes today, byte for byte.
func TestCommittedGenerated(t *testing.T) {
	dir := t.TempDir()
	if _, err := rnc(t, "compile", path("models/resnet50v2.rn"), "-o", dir, "--pkg", "resnet50v2", "--runtime", "import"); err != nil {
		t.Fatal(err)
	}
	committed := path("examples/classify/resnet50v2")
	want, _ := filepath.Glob(filepath.Join(dir, "*"))
	got, _ := filepath.Glob(filepath.Join(committed, "*"))
	if len(got) != len(want) {
		t.Fatalf("%s has %d files, rnc compile writes %d: regenerate with rnc compile models/resnet50v2.rn -o examples/classify/resnet50v2", committed, len(got), len(want))
	}
	for _, f := range want {
		a, _ := os.ReadFile(f)
		b, err := os.ReadFile(filepath.Join(committed, filepath.Base(f)))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s/%s is stale: regenerate with rnc compile models/resnet50v2.rn -o examples/classify/resnet50v2", committed, filepath.Base(f))
		}
	}
}

// TestRunCompiled: rnc run without --interp compiles the model into a
// temporary package, builds it, and reproduces the golden outputs.
func TestRunCompiled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package")
	}
	outPath := filepath.Join(t.TempDir(), "y.npy")
	out, err := rnc(t, "run", path("models/stemv2.rn"), "--weights", path("testdata/golden/stemv2.safetensors"),
		"--input", path("testdata/golden/stemv2_input_b2_seed2.npy"), "--out", outPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "target avx512") && !strings.HasPrefix(out, "target avx2") && !strings.HasPrefix(out, "target generic") {
		t.Errorf("output:\n%s", out)
	}
	got, _, _ := npy.Read(outPath)
	want, _, _ := npy.Read(path("testdata/golden/stemv2_expected_b2.npy"))
	for i := range want {
		if d := got[i] - want[i]; d > 1e-5 || d < -1e-5 {
			t.Fatalf("output %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// TestBench: rnc bench prints the total and one row per layer.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package")
	}
	out, err := rnc(t, "bench", path("models/tinyv1.rn"), "--runs", "3", "--threads", "2", "--batch", "2")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"batch 2, 2 thread(s), median of 3 runs", "images/s", "conv1_pad+conv1_conv+conv1_bn+conv1_relu", "avg_pool+predictions"} {
		if !strings.Contains(out, s) {
			t.Errorf("bench output lacks %q:\n%s", s, out)
		}
	}
}

// TestCompileDumps: --dump-after all writes the graph after every pass of
// every target, named by target and numbered in pipeline order, and each
// file parses; avx2's and generic's dumps are distinct files.
func TestCompileDumps(t *testing.T) {
	dir := t.TempDir()
	dumps := filepath.Join(dir, "dumps")
	if _, err := rnc(t, "compile", path("models/tinyv2.rn"), "-o", filepath.Join(dir, "pkg"), "--runtime", "import", "--target", "avx512", "--dump-after", "all", "--dump-dir", dumps); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, p := range passes.Names() {
		for _, target := range []string{"avx512", "generic"} {
			want = append(want, fmt.Sprintf("%02d-%s-%s.ir", i+1, target, p))
		}
	}
	sort.Strings(want)
	if got := dirNames(t, dumps); !slices.Equal(got, want) {
		t.Errorf("dumps %s\nwant %s", got, want)
	}
	b, _ := os.ReadFile(filepath.Join(dumps, "07-avx512-memplan.ir"))
	if !strings.HasPrefix(string(b), dumpHeader+"\n") {
		t.Errorf("dump does not start with %q", dumpHeader)
	}
	if _, err := ir.Parse(string(b)); err != nil || !strings.Contains(string(b), "@arena[") {
		t.Errorf("memplan dump does not parse or has no arena: %v", err)
	}
	if _, err := rnc(t, "compile", path("models/tinyv2.rn"), "-o", filepath.Join(dir, "pkg"), "--dump-after", "fusion"); err == nil {
		t.Error("unknown --dump-after pass accepted")
	}

	// avx2 and generic share a layout (NCHW8c) but not a dump: the layout
	// pass's dumps show each target's own graph.
	dumps2 := filepath.Join(dir, "dumps2")
	if _, err := rnc(t, "compile", path("models/tinyv2.rn"), "-o", filepath.Join(dir, "pkg2"), "--runtime", "import", "--target", "avx2", "--dump-after", "layout", "--dump-dir", dumps2); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dumps2); !slices.Equal(got, []string{"04-avx2-layout.ir", "04-generic-layout.ir"}) {
		t.Errorf("avx2 dumps: %s", got)
	}
	for _, target := range []string{"avx2", "generic"} {
		b, _ := os.ReadFile(filepath.Join(dumps2, "04-"+target+"-layout.ir"))
		if !strings.Contains(string(b), "target "+target+", after pass 4 (layout)") {
			t.Errorf("04-%s-layout.ir is not %s's:\n%.200s", target, target, b)
		}
	}
	// A file of a dump's name that rnc did not write is not overwritten, and
	// then nothing is written.
	mine := filepath.Join(dumps2, "04-avx2-layout.ir")
	os.WriteFile(mine, []byte("my notes\n"), 0o644)
	pkg3 := filepath.Join(dir, "pkg3")
	_, err := rnc(t, "compile", path("models/tinyv2.rn"), "-o", pkg3, "--runtime", "import", "--target", "avx2", "--dump-after", "layout", "--dump-dir", dumps2)
	if err == nil || !strings.Contains(err.Error(), mine+" exists and was not written by rnc") {
		t.Errorf("overwriting a user's file as a dump: %v", err)
	}
	if b, _ := os.ReadFile(mine); string(b) != "my notes\n" {
		t.Errorf("the user's file was overwritten")
	}
	if _, err := os.Stat(pkg3); err == nil {
		t.Errorf("the package was written although a dump was refused")
	}
}

// dirNames lists a directory's file names, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestCompileOwnFiles: compile replaces only files it generated. A user's
// model.go (next to their main_test.go), a read-only file and a symbolic
// link named like a generated file are refused with an error naming the
// file, and then nothing is written; generated files an earlier compile
// left and this one does not produce are removed, other files kept.
func TestCompileOwnFiles(t *testing.T) {
	model := path("models/tinyv1.rn")
	dir := t.TempDir()
	userModel := []byte("package pkg\n\n// Mine.\nfunc Mine() {}\n")
	userTest := []byte("package pkg\n\nimport \"testing\"\n\nfunc TestMine(t *testing.T) { Mine() }\n")
	os.WriteFile(filepath.Join(dir, "model.go"), userModel, 0o644)
	os.WriteFile(filepath.Join(dir, "main_test.go"), userTest, 0o644)
	_, err := rnc(t, "compile", model, "-o", dir, "--runtime", "import", "--pkg", "pkg")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "model.go")+" exists and was not written by rnc") {
		t.Fatalf("compile over a user's model.go: %v", err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"main_test.go", "model.go"}) {
		t.Errorf("files after a refused compile: %v", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "model.go")); !bytes.Equal(b, userModel) {
		t.Errorf("the user's model.go was changed")
	}

	// Without the user's model.go: the package is written next to the
	// user's test, which is kept; compiling again replaces rnc's own files.
	os.Remove(filepath.Join(dir, "model.go"))
	for range 2 {
		if _, err := rnc(t, "compile", model, "-o", dir, "--runtime", "import", "--pkg", "pkg"); err != nil {
			t.Fatal(err)
		}
	}
	want := append([]string{"main_test.go"}, generatedNames...)
	sort.Strings(want)
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Errorf("files %v, want %v (generatedNames must list every file compile writes)", got, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "main_test.go")); !bytes.Equal(b, userTest) {
		t.Errorf("the user's main_test.go was changed")
	}

	// A read-only generated file is refused, and nothing changes.
	before := map[string][]byte{}
	for _, n := range generatedNames {
		before[n], _ = os.ReadFile(filepath.Join(dir, n))
	}
	ro := filepath.Join(dir, "program.go")
	os.Chmod(ro, 0o444)
	_, err = rnc(t, "compile", model, "-o", dir, "--runtime", "import", "--pkg", "pkg", "--set", "classes=7")
	if err == nil || !strings.Contains(err.Error(), ro+" is read-only") {
		t.Errorf("compile over a read-only file: %v", err)
	}
	for _, n := range generatedNames {
		if b, _ := os.ReadFile(filepath.Join(dir, n)); !bytes.Equal(b, before[n]) {
			t.Errorf("%s changed although the compile was refused", n)
		}
	}
	os.Chmod(ro, 0o644)

	// A symbolic link named like a generated file, pointing outside the
	// directory, is neither followed nor replaced — even to a file with
	// rnc's header.
	outside := filepath.Join(t.TempDir(), "precious.s")
	precious := []byte(codegen.Header + "\n// not to be touched\n")
	os.WriteFile(outside, precious, 0o644)
	link := filepath.Join(dir, "kernels_amd64.s")
	os.Remove(link)
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	_, err = rnc(t, "compile", model, "-o", dir, "--runtime", "import", "--pkg", "pkg")
	if err == nil || !strings.Contains(err.Error(), link+" is a symbolic link") {
		t.Errorf("compile over a symlink: %v", err)
	}
	if b, _ := os.ReadFile(outside); !bytes.Equal(b, precious) {
		t.Errorf("the symlink's target was written")
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced")
	}
	// --target generic has no assembly: the earlier compile's kernel files
	// are removed, but not the link (not rnc's) nor a user's file of a
	// generated name.
	os.WriteFile(filepath.Join(dir, "bind_amd64.go"), []byte("package pkg\n"), 0o644)
	out, err := rnc(t, "compile", model, "-o", dir, "--runtime", "import", "--pkg", "pkg", "--target", "generic")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "removed "+filepath.Join(dir, "kernels_amd64.go")+", left over from an earlier compile") {
		t.Errorf("output:\n%s", out)
	}
	want = []string{"bind_amd64.go", "kernels_amd64.s", "main_test.go", "model.go", "model_test.go", "program.go"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Errorf("files after a generic compile %v, want %v", got, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "bind_amd64.go")); string(b) != "package pkg\n" {
		t.Errorf("a user's bind_amd64.go was removed or changed")
	}
}

// TestNumericFlags: every numeric flag out of range is a clear error naming
// the flag and the range, before anything is compiled, built or run (bench
// --batch -1 used to panic in the runner).
func TestNumericFlags(t *testing.T) {
	m := path("models/tinyv1.rn")
	w, in := path("testdata/golden/tinyv1.safetensors"), path("testdata/golden/tinyv1_input_b2_seed2.f32")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", m, "--batch", "-1"}, "--batch -1: want an integer from 1 to 65536"},
		{[]string{"bench", m, "--batch", "0"}, "--batch 0: want an integer from 1 to 65536"},
		{[]string{"bench", m, "--batch", "1000000000"}, "--batch 1000000000: want an integer from 1 to 65536"},
		{[]string{"bench", m, "--runs", "-3"}, "--runs -3: want an integer from 1 to 10000"},
		{[]string{"bench", m, "--runs", "0"}, "--runs 0: want an integer from 1 to 10000"},
		{[]string{"bench", m, "--threads", "0"}, "--threads 0: want an integer from 1 to 1024"},
		{[]string{"bench", m, "--threads", "-2", "--runs", "-1"}, "--threads -2: want an integer from 1 to 1024\n--runs -1"},
		{[]string{"bench", m, "--threads", "100000"}, "--threads 100000: want an integer from 1 to 1024"},
		{[]string{"run", m, "--weights", w, "--input", in, "--threads", "-1"}, "--threads -1: want an integer from 0 to 1024"},
		{[]string{"report", "variants", "--runs", "-1"}, "--runs -1: want an integer from 1 to 10000"},
		{[]string{"report", "variants", "--runs", "1000000"}, "--runs 1000000: want an integer from 1 to 10000"},
		{[]string{"ir", m, "--diff", m, "--width", "0"}, "--width 0: want an integer from 40 to 1000"},
		{[]string{"ir", m, "--diff", m, "--width", "-5"}, "--width -5: want an integer from 40 to 1000"},
		{[]string{"ir", m, "--diff", m, "--width", "1000000000000"}, "--width 1000000000000: want an integer from 40 to 1000"},
		{[]string{"ir", m, "--winograd-limit", "-1"}, "--winograd-limit -1: want a number of MiB from 0 (no Winograd) to 1048576"},
		{[]string{"ir", m, "--winograd-limit", "NaN"}, "--winograd-limit NaN: want a number of MiB"},
		{[]string{"compile", m, "-o", t.TempDir(), "--winograd-limit", "1e300"}, "--winograd-limit 1e+300: want a number of MiB"},
		{[]string{"bench", m, "--batch", "x"}, `invalid value "x" for flag -batch`},
	} {
		_, err := rnc(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
	// --winograd-limit 0 means no Winograd layer (passes would read a 0
	// limit as its default).
	for limit, want := range map[string]bool{"0": false, "64": true} {
		out, err := rnc(t, "ir", path("models/stemv2.rn"), "--after", "winograd", "--winograd-limit", limit)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(out, "wino"); got != want {
			t.Errorf("--winograd-limit %s: Winograd layers %v, want %v", limit, got, want)
		}
	}
	// The winograd pass still runs, converting nothing: --dump-after
	// winograd writes its dump (it wrote none when the limit disabled the
	// pass).
	dir := t.TempDir()
	if out, err := rnc(t, "compile", path("models/stemv2.rn"), "-o", filepath.Join(dir, "p"), "--runtime", "import", "--target", "avx512",
		"--dump-after", "winograd", "--dump-dir", dir, "--winograd-limit", "0"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	dump, err := os.ReadFile(filepath.Join(dir, "05-avx512-winograd.ir"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(dump), "wino16") {
		t.Errorf("--winograd-limit 0: Winograd weights after the winograd pass:\n%s", dump)
	}
}

// TestResourceLimits: rnc refuses, before allocating, to load a model with
// a 2 × 10^12-weight layer or to make up the weights of one with 10^9
// parameters, or to read /dev/zero as an input; bench refuses a batch whose
// activations would not fit.
func TestResourceLimits(t *testing.T) {
	m := path("models/tinyv1.rn")
	out := filepath.Join(t.TempDir(), "w.safetensors")
	// ResNet50V2 with 10^9 classes: a 2048 × 10^9 classifier, over the
	// model language's shape budget.
	huge := []string{path("models/resnet50v2.rn"), "--set", "classes=1000000000"}
	_, err := rnc(t, append([]string{"weights", "init", "-o", out}, huge...)...)
	if err == nil || !strings.Contains(err.Error(), "Dense predictions: shape budget exceeded: the kernel [2048 1000000000] holds more than 1073741824 elements") {
		t.Errorf("weights init of a huge model: %v", err)
	}
	// With 500,000 classes every tensor is within the shape budget, but
	// the model has 10^9 parameters.
	big := []string{path("models/resnet50v2.rn"), "--set", "classes=500000"}
	_, err = rnc(t, append([]string{"weights", "init", "-o", out}, big...)...)
	if err == nil || !strings.Contains(err.Error(), "the model has 1048064800 parameters, more than the limit of 268435456") {
		t.Errorf("weights init of a big model: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("weights init wrote %s", out)
	}
	_, err = rnc(t, append([]string{"bench"}, big...)...)
	if err == nil || !strings.Contains(err.Error(), "synthetic weights: the model has 1048064800 parameters") {
		t.Errorf("bench of a big model: %v", err)
	}
	_, err = rnc(t, "bench", m, "--set", "input_shape=[1024,1024,3]", "--target", "generic", "--batch", "4096")
	if err == nil || !strings.Contains(err.Error(), "--batch 4096: a batch of 4096 images needs") {
		t.Errorf("bench with a huge batch: %v", err)
	}
	w := path("testdata/golden/tinyv1.safetensors")
	for _, interp := range []bool{true, false} {
		args := []string{"run", m, "--weights", w, "--input", "/dev/zero"}
		if interp {
			args = append(args, "--interp")
		}
		_, err := rnc(t, args...)
		if err == nil || !strings.Contains(err.Error(), "/dev/zero is a character device, not a regular file") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestBenchOutput: a malformed line from the runner is an error naming it,
// not a zero silently printed as a time.
func TestBenchOutput(t *testing.T) {
	saved := stdout
	defer func() { stdout = saved }()
	var buf bytes.Buffer
	stdout = &buf
	good := "target\tavx512\nthreads\t1\nbatch\t1\ntotal\t2000000\npeak\tavx512\t100.0\nstep\t0\tconv1\t4000000\t1000000\t0\n"
	if err := printBench("m.rn", good, 3); err != nil || !strings.Contains(buf.String(), "conv1") {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	// An int8 layer's share is of the VNNI peak: 4 GOP/ms = 4000 GOP/s of 400.
	buf.Reset()
	int8 := strings.Replace(good, "peak\tavx512\t100.0\n", "peak\tavx512vnni\t100.0\nint8peak\tavx512vnni\t400.0\n", 1)
	int8 = strings.Replace(int8, "\t1000000\t0\n", "\t10000\t1\n", 1)
	if err := printBench("m.rn", int8, 3); err != nil || !strings.Contains(buf.String(), "400.0 i8   100%") {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	for _, c := range []struct{ out, want string }{
		{strings.Replace(good, "total\t2000000", "total\t2ms", 1), `the runner printed "total\t2ms": strconv.ParseInt: parsing "2ms": invalid syntax`},
		{strings.Replace(good, "\t1000000\t", "\tx\t", 1), `the runner printed "step\t0\tconv1\t4000000\tx\t0"`},
		{strings.Replace(good, "peak\tavx512\t100.0", "peak\t100.0", 1), `the runner printed "peak\t100.0": want 3 tab-separated fields`},
		{strings.Replace(good, "threads\t1", "threads", 1), `the runner printed "threads": want 2 tab-separated fields`},
	} {
		if err := printBench("m.rn", c.out, 3); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

// TestOutsideTree: an installed rnc, run outside the rnc source tree,
// builds rnc peak's and rnc run's programs on the copy of the runtime it
// embeds (it used to need the tree or RNC_ROOT).
func TestOutsideTree(t *testing.T) {
	t.Setenv("RNC_ROOT", "")
	dir := t.TempDir()
	for _, f := range []string{"models/tinyv2.rn", "models/lib/resnet.rn"} {
		data, err := os.ReadFile(path(f))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, strings.TrimPrefix(f, "models/"))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	abs := func(p string) string {
		a, err := filepath.Abs(path(p))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	w, x, exp := abs("testdata/golden/tinyv2.safetensors"), abs("testdata/golden/tinyv2_input_b2_seed2.f32"), abs("testdata/golden/tinyv2_expected_b2.npy")
	t.Chdir(dir)
	if runtime.Supported("avx2") {
		out, err := rnc(t, "peak")
		if err != nil || !strings.Contains(out, "GFLOP/s per thread") {
			t.Errorf("rnc peak: %q, %v", out, err)
		}
		if runtime.Supported("avx512") && abi.HasFeature("avx512vnni") && !strings.Contains(out, "avx512vnni int8: ") {
			t.Errorf("rnc peak on a CPU with AVX-512 VNNI prints no int8 peak: %q", out)
		}
	}
	outPath := filepath.Join(dir, "y.npy")
	if _, err := rnc(t, "run", "tinyv2.rn", "--weights", w, "--input", x, "--out", outPath); err != nil {
		t.Fatal(err)
	}
	got, _, err := npy.Read(outPath)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := npy.Read(exp)
	if err != nil || len(got) != len(want) {
		t.Fatalf("%d outputs, want %d (%v)", len(got), len(want), err)
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5 {
			t.Fatalf("output %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestRunBadVariance: rnc run refuses a negative batch-norm variance with
// the same message whether the generated package or the interpreter (on
// the graph as expanded, or lowered) runs the model.
func TestRunBadVariance(t *testing.T) {
	src, err := runtime.ReadSafetensorsFile(path("testdata/golden/tinyv2.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	ws := runtime.NewWeights()
	for _, name := range src.Order {
		data, err := src.Data(name)
		if err != nil {
			t.Fatal(err)
		}
		data = slices.Clone(data)
		if name == "post_bn/moving_variance" {
			data[5] = -2
		}
		ws.Add(name, src.Tensors[name].Shape, data)
	}
	w := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := runtime.WriteSafetensorsFile(w, ws); err != nil {
		t.Fatal(err)
	}
	const want = "variance -2 + eps 1.001e-05 is not positive at channel 5"
	base := []string{"run", path("models/tinyv2.rn"), "--weights", w, "--input", path("testdata/golden/tinyv2_input_b2_seed2.npy")}
	runs := [][]string{{"--interp"}, {"--interp", "--after", "all"}}
	if !testing.Short() {
		runs = append(runs, []string{"--target", "generic"}) // builds a package
	}
	for _, extra := range runs {
		_, err := rnc(t, append(slices.Clone(base), extra...)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("run %v: error %v, want %q", extra, err, want)
		}
		t.Logf("run %v: %v", extra, err)
	}
}

// TestRunPicture: rnc run --input takes a PNG or JPEG picture and makes it
// the model's input as the generated Preprocess does (tinyv2 declares
// "tf"): the compiled package and the interpreter give what they give on
// the preprocessed tensor; a model without a convention is refused.
func TestRunPicture(t *testing.T) {
	m, w := path("models/tinyv2.rn"), path("testdata/golden/tinyv2.safetensors")
	pic := path("testdata/preprocess/cat.jpg")
	f, err := os.Open(pic)
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := image.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 32*32*3)
	if err := runtime.PreprocessImage(x, img, 32, 32, 3, runtime.Preprocessing{Mode: runtime.PrepTF}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	xt := filepath.Join(dir, "x.npy")
	if err := npy.Write(xt, x, []int{1, 32, 32, 3}); err != nil {
		t.Fatal(err)
	}
	outs := map[string][]float32{}
	for _, c := range []struct{ name, input, mode string }{
		{"tensor interp", xt, "--interp"}, {"picture interp", pic, "--interp"}, {"picture compiled", pic, ""},
	} {
		o := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".npy")
		args := []string{"run", m, "--weights", w, "--input", c.input, "--out", o}
		if c.mode != "" {
			args = append(args, c.mode)
		}
		if _, err := rnc(t, args...); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if outs[c.name], _, err = npy.Read(o); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"picture interp", "picture compiled"} {
		for i, v := range outs["tensor interp"] {
			if d := math.Abs(float64(outs[name][i] - v)); d > 1e-5 {
				t.Fatalf("%s: output %d = %v, want %v", name, i, outs[name][i], v)
			}
		}
	}
	_, err = rnc(t, "run", path("models/dilated.rn"), "--weights", w, "--input", pic, "--interp")
	if err == nil || !strings.Contains(err.Error(), "cat.jpg: the model declares no input preprocessing") {
		t.Errorf("a model without a convention: %v", err)
	}
}

// TestRunTargetAuto: rnc run, bench and compile default to --target auto
// (every target compiled, the best this CPU supports run; run's default
// was avx512, which failed on AVX2-only CPUs), in the flag's value as well
// as in its help; ir prints one target, avx512 by default.
func TestRunTargetAuto(t *testing.T) {
	for _, c := range []*command{runCmd, benchCmd, compileCmd} {
		fs := newFlagSet(c, io.Discard)
		c.flags(fs)
		f := fs.Lookup("target")
		if f.DefValue != "auto" || f.Value.String() != "auto" {
			t.Errorf("%s --target defaults to %q, holds %q; want auto", c.name, f.DefValue, f.Value)
		}
	}
	fs := newFlagSet(irCmd, io.Discard)
	irCmd.flags(fs)
	if f := fs.Lookup("target"); f.DefValue != "avx512" || f.Value.String() != "avx512" {
		t.Errorf("ir --target defaults to %q, holds %q; want avx512", f.DefValue, f.Value)
	}
}

// TestInterruptCleanup: what rnc registers to undo on an interrupt (the
// runner's temporary directory) is undone once, and not after it is
// unregistered.
func TestInterruptCleanup(t *testing.T) {
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	atInterrupt(func() { os.RemoveAll(a) })
	unregister := atInterrupt(func() { os.RemoveAll(b) })
	unregister()
	runCleanups()
	if _, err := os.Stat(a); !os.IsNotExist(err) {
		t.Errorf("%s not removed: %v", a, err)
	}
	if _, err := os.Stat(b); err != nil {
		t.Errorf("%s removed after unregistering: %v", b, err)
	}
}

// TestIRDiffOneFile: rnc ir --diff with one model says how to name two.
func TestIRDiffOneFile(t *testing.T) {
	_, err := rnc(t, "ir", "--diff", path("models/resnet50.rn"))
	if err == nil || !strings.Contains(err.Error(), "--diff compares two models: rnc ir A.rn --diff B.rn, or rnc ir --diff A.rn B.rn") {
		t.Errorf("error %v", err)
	}
}

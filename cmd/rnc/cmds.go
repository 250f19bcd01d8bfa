package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/abi"
	"github.com/rnc-dev/rnc/runtime/npy"
)

func oneArg(args []string, what string) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("want one %s, got %d arguments %q", what, len(args), args)
	}
	return args[0], nil
}

var summaryCmd = &command{
	short:   "print Keras's model.summary()",
	name:    "summary",
	args:    "MODEL.rn [--set name=value]...",
	summary: "Print Keras's model.summary() of a model: layers by depth, output shapes, parameter counts, connections.",
	flags: func(fs *flag.FlagSet) func([]string) error {
		set := setFlag{}
		fs.Var(set, "set", "override a model parameter, e.g. --set input_shape=[64,64,3] (repeatable)")
		convDense := fs.Bool("weights", false, "add a line counting Conv2D and Dense weights only, as papers count parameters")
		return func(args []string) error {
			path, err := oneArg(args, "model file")
			if err != nil {
				return err
			}
			g, err := loadModel(path, set)
			if err != nil {
				return err
			}
			return ir.SummaryWith(stdout, g, ir.SummaryOptions{ConvDense: *convDense})
		}
	},
}

var grammarCmd = &command{
	short:   "print the model language's grammar",
	name:    "grammar",
	summary: "Print the model language's grammar (EBNF) and its builtins (`rnc help builtins`).",
	flags: func(fs *flag.FlagSet) func([]string) error {
		return func(args []string) error {
			fmt.Fprintln(stdout, dsl.Grammar())
			fmt.Fprintf(stdout, "\nAn expression statement (Stmt's Expr) must be a call: any other value would be unused.\n")
			fmt.Fprintf(stdout, "\nbuiltins:\n%s", dsl.BuiltinHelp())
			return nil
		}
	},
}

var weightsInitCmd = &command{
	short: "write deterministic random weights for a model",
	name:  "weights init",
	args:  "MODEL.rn --seed N -o W.safetensors [--set name=value]...",
	summary: `Write deterministic random weights for a model (He-normal convs, residual branches scaled
down, batch-norm statistics near identity), named as Keras names them.`,
	flags: func(fs *flag.FlagSet) func([]string) error {
		set := setFlag{}
		fs.Var(set, "set", "override a model parameter (repeatable)")
		seed := fs.Uint64("seed", 1, "random seed")
		outPath := fs.String("o", "", "output safetensors file (required)")
		return func(args []string) error {
			path, err := oneArg(args, "model file")
			if err != nil {
				return err
			}
			if *outPath == "" {
				return fmt.Errorf("weights init: -o W.safetensors is required")
			}
			g, err := loadModel(path, set)
			if err != nil {
				return err
			}
			if err := checkParams(g); err != nil {
				return fmt.Errorf("weights init %s: %w", path, err)
			}
			ws := interp.RandomWeights(g, *seed)
			ws.Metadata["model"] = filepath.Base(path)
			ws.Metadata["seed"] = fmt.Sprint(*seed)
			if err := runtime.WriteSafetensorsFile(*outPath, ws); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %d tensors (%d parameters) to %s\n", len(ws.Order), countParams(ws), *outPath)
			return nil
		}
	},
}

func countParams(ws *runtime.Weights) int {
	n := 0
	for _, t := range ws.Tensors {
		n += runtime.NumElements(t.Shape)
	}
	return n
}

var weightsImportCmd = &command{
	name:  "weights import",
	short: "convert a Keras .h5 or PyTorch .pth weight file to safetensors",
	args:  "FILE.h5|FILE.pth -o W.safetensors [--model MODEL.rn [--set name=value]...]",
	summary: `Read a Keras weight file (Keras 2 / tf.keras .h5 as keras.applications publishes them, or a
Keras 3 .weights.h5) or a PyTorch state_dict checkpoint (torch.save's zip format; float16 and
bfloat16 converted) in pure Go and write its tensors as float32 safetensors with rnc's names
(<layer>/<param>; README "Weights"). With --model, the tensors are first checked against the model.`,
	flags: func(fs *flag.FlagSet) func([]string) error {
		set := setFlag{}
		fs.Var(set, "set", "override a parameter of the --model (repeatable)")
		outPath := fs.String("o", "", "output safetensors file (required)")
		model := fs.String("model", "", "check the tensors against this model")
		return func(args []string) error {
			path, err := oneArg(args, "weight file")
			if err != nil {
				return err
			}
			if *outPath == "" {
				return fmt.Errorf("weights import: -o W.safetensors is required")
			}
			ws, err := runtime.LoadWeightsFile(path)
			if err != nil {
				return err
			}
			if *model != "" {
				g, err := loadModel(*model, set)
				if err != nil {
					return err
				}
				var want []runtime.TensorSpec
				for _, w := range g.Weights.Files() {
					want = append(want, runtime.TensorSpec{Name: w.Name, Shape: w.Shape})
				}
				if err := ws.Check(want); err != nil {
					return fmt.Errorf("%s does not fit %s: %w", path, *model, err)
				}
			}
			if err := runtime.WriteSafetensorsFile(*outPath, ws); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %d tensors (%d parameters) to %s\n", len(ws.Order), countParams(ws), *outPath)
			return nil
		}
	},
}

var weightsLsCmd = &command{
	short:   "list the tensors of a weight file",
	name:    "weights ls",
	args:    "WEIGHTS",
	summary: "List the tensors of a weight file (safetensors, Keras .h5 or PyTorch .pth, under rnc's names): names, shapes, element counts (and the element type of a quantized file's integer tensors), and the file's metadata, from its headers (no tensor data is read).",
	flags: func(fs *flag.FlagSet) func([]string) error {
		return func(args []string) error {
			path, err := oneArg(args, "weight file")
			if err != nil {
				return err
			}
			ws, err := runtime.ListWeightsFile(path) // headers only: no tensor data is read
			if err != nil {
				return err
			}
			w := bufio.NewWriter(stdout)
			defer w.Flush()
			var keys []string
			for k := range ws.Metadata {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "# %s: %s\n", k, ws.Metadata[k])
			}
			for _, name := range ws.Order {
				t := ws.Tensors[name]
				typ := ""
				if t.DType != abi.F32 { // a quantized file's integers (docs/int8.md)
					typ = " " + t.DType.String()
				}
				fmt.Fprintf(w, "%-50s %-20s %d%s\n", name, fmt.Sprint(t.Shape), runtime.NumElements(t.Shape), typ)
			}
			fmt.Fprintf(w, "%d tensors, %d parameters\n", len(ws.Order), countParams(ws))
			return nil
		}
	},
}

var runCmd = &command{
	short: "run a model on images and print the top-5 classes",
	name:  "run",
	args:  "MODEL.rn --weights W --input X.npy|X.f32|IMAGE.png|IMAGE.jpg [--out Y.f32|Y.npy] [--interp [--after PASS|all|none]] [--set name=value]...",
	summary: `Run a model on a batch of NHWC float32 images (batch = input size / (H*W*C)), or on one
PNG, JPEG or GIF picture made the model's input as the generated Preprocess does (the
convention its Input declares), and print the top-5 classes of each image. Without --interp the
model is compiled into a temporary package, built and run (the best --target this CPU supports
unless one is given); --interp runs the reference interpreter instead, on the graph as expanded
or, with --after, as lowered by the passes up to that one.`,
	flags: func(fs *flag.FlagSet) func([]string) error {
		pf := addPipelineFlags(fs, "auto")
		after := fs.String("after", "none", "with --interp: run the graph after this pass, all, or none (as expanded)")
		weights := fs.String("weights", "", "weight file (safetensors, Keras .h5 or PyTorch .pth; required)")
		input := fs.String("input", "", "input images, .npy or raw little-endian .f32, or one PNG, JPEG or GIF picture (required)")
		outPath := fs.String("out", "", "write the outputs here (.npy or .f32)")
		useInterp := fs.Bool("interp", false, "run the reference interpreter instead of compiling")
		threads := fs.Int("threads", 0, "threads of the compiled model (default GOMAXPROCS)")
		return func(args []string) error {
			path, err := oneArg(args, "model file")
			if err != nil {
				return err
			}
			if *weights == "" || *input == "" {
				return fmt.Errorf("run: --weights and --input are required")
			}
			if err := checkInt("threads", *threads, 0, maxThreads); err != nil {
				return fmt.Errorf("run: %w", err)
			}
			if !*useInterp {
				if *after != "none" {
					return fmt.Errorf("run: --after needs --interp (compiled code always runs the whole pipeline)")
				}
				return runCompiled(path, pf, *weights, *input, *outPath, *threads)
			}
			g, err := pf.lower(path, *after)
			if err != nil {
				return err
			}
			x, shape, _, err := readModelInput(*input, g)
			if err != nil {
				return err
			}
			ws, err := runtime.LoadWeightsFile(*weights)
			if err != nil {
				return err
			}
			n, err := batchOf(g, len(x), shape)
			if err != nil {
				return err
			}
			it, err := interp.New(g, ws)
			if err != nil {
				return fmt.Errorf("weights %s: %w", *weights, err)
			}
			if in := g.Inputs()[0]; in.Def.Attrs.Prep.NCHW {
				x = nchwToNHWC(x, n, in.Type.H(), in.Type.W(), in.Type.C()) // the interpreter's values are logical (NHWC)
			}
			if err := checkBatch(n, ir.MulSat(int64(n), it.ImageBytes())); err != nil {
				return fmt.Errorf("run --interp: %w", err)
			}
			outs, err := it.Run(x, n)
			if err != nil {
				return err
			}
			y := outs[0]
			printTop5(y, n)
			if *outPath != "" {
				per := len(y) / n
				return npy.Write(*outPath, y, []int{n, per})
			}
			return nil
		}
	},
}

// nchwToNHWC transposes n images from channels first to channels last
// (runtime.NCHWToNHWC, what Predict does for an NCHW model).
func nchwToNHWC(x []float32, n, h, w, c int) []float32 {
	out := make([]float32, len(x))
	per := h * w * c
	for i := 0; i < n; i++ {
		runtime.NCHWToNHWC(out[i*per:(i+1)*per], x[i*per:(i+1)*per], h, w, c)
	}
	return out
}

// batchOf checks an input against the model's input shape (channels first
// for a model whose Input declares layout = "nchw") and returns the number
// of images it holds.
func batchOf(g *ir.Graph, size int, shape []int) (int, error) {
	ins := g.Inputs()
	if len(ins) != 1 {
		return 0, fmt.Errorf("model has %d inputs; rnc runs models with one", len(ins))
	}
	t := ins[0].Type
	dims := t.Dims
	if ins[0].Def.Attrs.Prep.NCHW { // the images arrive channels first
		dims = []int{t.C(), t.H(), t.W()}
	}
	per := 1
	for _, d := range dims {
		per *= d
	}
	if size == 0 || size%per != 0 {
		return 0, fmt.Errorf("input has %d values, not a positive multiple of one image %s = %d values", size, t.KerasShape(), per)
	}
	n := size / per
	if len(shape) > 1 {
		if ins[0].Def.Attrs.Prep.NCHW && len(shape) == 4 && fmt.Sprint(shape[1:]) == fmt.Sprint(t.Dims) {
			return 0, fmt.Errorf("input has shape %v: %d channels-last (NHWC) images, and the model takes them channels first (NCHW: %v, its Input's layout = \"nchw\"; transpose them, or compile the model with layout = \"nhwc\" where it has that parameter)", shape, shape[0], dims)
		}
		if len(shape) == len(dims)+1 && fmt.Sprint(shape[1:]) != fmt.Sprint(dims) {
			return 0, fmt.Errorf("input has shape %v: %d images of %v, and the model takes %v (a model parameter may set it: --set input_shape=%v)",
				shape, shape[0], shape[1:], dims, strings.ReplaceAll(fmt.Sprint(shape[1:]), " ", ","))
		}
		want := append([]int{n}, dims...)
		if fmt.Sprint(shape) != fmt.Sprint(want) {
			return 0, fmt.Errorf("input has shape %v, want %v", shape, want)
		}
	}
	return n, nil
}

func printTop5(y []float32, n int) {
	per := len(y) / n
	for i := 0; i < n; i++ {
		row := y[i*per : (i+1)*per]
		idx := make([]int, per)
		for j := range idx {
			idx[j] = j
		}
		sort.SliceStable(idx, func(a, b int) bool { return row[idx[a]] > row[idx[b]] })
		var parts []string
		for _, j := range idx[:min(5, per)] {
			parts = append(parts, fmt.Sprintf("%d (%.4f)", j, row[j]))
		}
		fmt.Fprintf(stdout, "image %d: %s\n", i, strings.Join(parts, ", "))
	}
}

var demoCmd = &command{
	short: "the built-in default: compile ResNet50V2 and classify the example image",
	name:  "demo",
	summary: `Run the whole path on a built-in default, from the rnc source tree: compile
models/resnet50v2.rn into examples/classify/resnet50v2, write random weights, and run
examples/classify on the image shipped in examples/classify/testdata. Random weights give
arbitrary classes; pass --weights with real Keras weights (.h5 or safetensors) to get real ones.`,
	flags: func(fs *flag.FlagSet) func([]string) error {
		weights := fs.String("weights", "", "weight file (default: random weights, arbitrary classes)")
		return func(args []string) error {
			root, err := rncRoot()
			if err != nil {
				return err
			}
			rel := func(p string) string { return filepath.Join(root, p) }
			step := func(args ...string) error {
				fmt.Fprintf(stdout, "$ rnc %s\n", strings.Join(args, " "))
				return run(args, stdout, stdout)
			}
			if err := step("compile", rel("models/resnet50v2.rn"), "-o", rel("examples/classify/resnet50v2")); err != nil {
				return err
			}
			w := *weights
			if w == "" {
				dir, err := os.MkdirTemp("", "rnc-demo-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				w = filepath.Join(dir, "resnet50v2.safetensors")
				if err := step("weights", "init", rel("models/resnet50v2.rn"), "--seed", "1", "-o", w); err != nil {
					return err
				}
				fmt.Fprintln(stdout, "# random weights: the classes below are arbitrary")
			}
			img := rel("examples/classify/testdata/house.png")
			fmt.Fprintf(stdout, "$ go run ./examples/classify -weights %s %s\n", w, img)
			cmd := exec.Command("go", "run", "./examples/classify", "-weights", w, img)
			cmd.Dir, cmd.Stdout, cmd.Stderr = root, stdout, stdout
			return cmd.Run()
		}
	},
}

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rnc-dev/rnc/codegen"
	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime/npy"
)

// benchTargets returns the targets to compile for --target s, and the
// environment that makes the runner use s (none for auto: the best the CPU
// supports).
func benchTargets(s string, prec passes.Precision) ([]passes.Target, []string, error) {
	ts, err := compileTargetsFor(s, prec)
	if err != nil {
		return nil, nil, err
	}
	var env []string
	if s != "auto" {
		env = append(env, "RNC_TARGET="+s)
	}
	return ts, env, nil
}

// runnerInput is the file the runner reads rnc run's input from: a
// tensor file itself (the runner reads it as readInput does), or, for a
// picture, dir/in.f32 holding x, the picture as preprocessed.
func runnerInput(input string, x []float32, picture bool, dir string) (string, error) {
	if !picture {
		return filepath.Abs(input)
	}
	p := filepath.Join(dir, "in.f32")
	return p, npy.Write(p, x, nil)
}

// runCompiled is `rnc run` without --interp: compile, build, run.
func runCompiled(path string, pf *pipelineFlags, weights, input, outPath string, threads int) error {
	g, cfg, err := pf.load(path)
	if err != nil {
		return err
	}
	ts, env, err := benchTargets(*pf.target, cfg.Precision)
	if err != nil {
		return err
	}
	x, shape, picture, err := readModelInput(input, g)
	if err != nil {
		return err
	}
	n, err := batchOf(g, len(x), shape)
	if err != nil {
		return err
	}
	if !picture {
		x = nil // the runner reads the tensor file itself
	}
	absWeights, err := filepath.Abs(weights)
	if err != nil {
		return err
	}
	r, err := buildRunner(g, ts, cfg, path, func(res *codegen.Result) error {
		return checkBatch(n, compiledBatchBytes(n, g, res))
	})
	if err != nil {
		return err
	}
	defer r.Close()
	absInput, err := runnerInput(input, x, picture, r.dir)
	if err != nil {
		return err
	}
	tmp := filepath.Join(r.dir, "out.f32")
	out, err := r.run(env, "-weights", absWeights, "-input", absInput, "-out", tmp, "-threads", strconv.Itoa(threads))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s", strings.SplitN(out, "\n", 2)[0]+"\n")
	y, _, err := npy.Read(tmp)
	if err != nil {
		return err
	}
	printTop5(y, n)
	if outPath != "" {
		return npy.Write(outPath, y, []int{n, len(y) / n})
	}
	return nil
}

var benchCmd = &command{
	name:  "bench",
	short: "time a compiled model, layer by layer",
	args:  "MODEL.rn [--threads N] [--batch N] [--runs N] [--target auto|avx512|avx2|generic] [--weights W]",
	summary: `Compile a model, build it and time it: total latency and images/s (medians over --runs
runs after two warm-up runs), and a table of every layer (Keras names): time, GFLOP/s and share
of the total. Synthetic weights are used unless --weights is given.`,
	flags: func(fs *flag.FlagSet) func([]string) error {
		pf := addPipelineFlags(fs, "auto")
		threads := fs.Int("threads", 1, "threads per layer")
		batch := fs.Int("batch", 1, "images per Predict call")
		runs := fs.Int("runs", 20, "timed runs")
		weights := fs.String("weights", "", "weight file (default: synthetic weights)")
		return func(args []string) error {
			path, err := oneArg(args, "model file")
			if err != nil {
				return err
			}
			if err := errors.Join(checkInt("threads", *threads, 1, maxThreads), checkInt("batch", *batch, 1, maxBatch), checkInt("runs", *runs, 1, maxRuns)); err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			g, cfg, err := pf.load(path)
			if err != nil {
				return err
			}
			ts, env, err := benchTargets(*pf.target, cfg.Precision)
			if err != nil {
				return err
			}
			a := []string{"-threads", strconv.Itoa(*threads), "-batch", strconv.Itoa(*batch), "-runs", strconv.Itoa(*runs)}
			if *weights != "" {
				w, err := filepath.Abs(*weights)
				if err != nil {
					return err
				}
				a = append(a, "-weights", w)
			} else if err := checkParams(g); err != nil {
				return fmt.Errorf("bench: synthetic weights: %w", err)
			}
			r, err := buildRunner(g, ts, cfg, path, func(res *codegen.Result) error {
				if err := checkBatch(*batch, compiledBatchBytes(*batch, g, res)); err != nil {
					return fmt.Errorf("bench: --batch %d: %w", *batch, err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			defer r.Close()
			out, err := r.run(env, a...)
			if err != nil {
				return err
			}
			return printBench(path, out, *runs)
		}
	},
}

type benchStep struct {
	kind  int
	name  string
	flops int64
	ns    int64
	int8  bool // an int8 conv: its operations are VNNI multiply-adds
}

// benchFields is how many tab-separated fields each kind of line of the
// runner's profile has.
var benchFields = map[string]int{"target": 2, "threads": 2, "batch": 2, "total": 2, "peak": 3, "int8peak": 3, "step": 6}

// printBench prints the runner's profile (its -runs output) as a table.
func printBench(model, out string, runs int) error {
	var target string
	var threads, batch int
	var total int64
	var peak, peak8 float64
	var steps []benchStep
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Split(line, "\t")
		want, ok := benchFields[f[0]]
		if !ok {
			continue
		}
		if len(f) != want {
			return fmt.Errorf("bench: the runner printed %q: want %d tab-separated fields", line, want)
		}
		var errs []error
		num := func(s string) int64 {
			v, err := strconv.ParseInt(s, 10, 64)
			errs = append(errs, err)
			return v
		}
		switch f[0] {
		case "target":
			target = f[1]
		case "threads":
			threads = int(num(f[1]))
		case "batch":
			batch = int(num(f[1]))
		case "total":
			total = num(f[1])
		case "peak":
			var err error
			peak, err = strconv.ParseFloat(f[2], 64)
			errs = append(errs, err)
		case "int8peak":
			var err error
			peak8, err = strconv.ParseFloat(f[2], 64)
			errs = append(errs, err)
		case "step":
			s := benchStep{kind: int(num(f[1])), name: f[2], flops: num(f[3]), ns: num(f[4]), int8: num(f[5]) == 1}
			steps = append(steps, s)
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("bench: the runner printed %q: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("bench: reading the runner's output: %w", err)
	}
	if total == 0 {
		return fmt.Errorf("bench: no timings in the runner's output:\n%s", out)
	}
	var flops int64
	for _, s := range steps {
		flops += s.flops
	}
	ms := func(ns int64) string { return fmt.Sprintf("%.3f", float64(ns)/1e6) }
	fmt.Fprintf(stdout, "%s: target %s, batch %d, %d thread(s), median of %d runs\n", model, target, batch, threads, runs)
	pctOf := func(gflops, peak float64) string {
		if peak <= 0 || gflops <= 0 {
			return ""
		}
		return fmt.Sprintf("%.0f%%", 100*gflops/(peak*float64(threads)))
	}
	pct := func(gflops float64) string { return pctOf(gflops, peak) }
	all := float64(flops) / float64(total)
	fmt.Fprintf(stdout, "total %s ms, %.1f images/s, %.3g GFLOP per image, %.1f GFLOP/s", ms(total), float64(batch)/time.Duration(total).Seconds(), float64(flops)/float64(batch)/1e9, all)
	if peak > 0 && peak8 == 0 {
		fmt.Fprintf(stdout, " = %s of the measured peak (%.1f GFLOP/s per thread)", pct(all), peak)
	}
	fmt.Fprintf(stdout, "\nFLOPs: 2 per multiply-add of a direct convolution, padding taps excluded; a Winograd layer\n")
	fmt.Fprintf(stdout, "(\"wino\" in rnc ir) executes fewer and may show above 100%% of the peak.\n")
	if peak8 > 0 {
		fmt.Fprintf(stdout, "int8 layers (marked i8): GOP/s and %%peak of the VNNI peak measured in the same run (%.1f GOP/s per thread);\n", peak8)
		fmt.Fprintf(stdout, "float32 layers: of the FMA peak (%.1f GFLOP/s per thread).\n", peak)
	}
	fmt.Fprintf(stdout, "\n%-4s %-70s %8s %8s %6s %6s\n", "#", "layer (Keras names)", "ms", "GFLOP/s", "%peak", "share")
	for i, s := range steps {
		gf, p := "", ""
		if s.flops > 0 && s.ns > 0 {
			g := float64(s.flops) / float64(s.ns)
			gf, p = fmt.Sprintf("%.1f", g), pct(g)
			if s.int8 {
				gf, p = fmt.Sprintf("%.1f i8", g), pctOf(g, peak8)
			}
		}
		name := s.name
		if len(name) > 70 {
			name = name[:67] + "..."
		}
		fmt.Fprintf(stdout, "%-4d %-70s %8s %8s %6s %5.1f%%\n", i, name, ms(s.ns), gf, p, 100*float64(s.ns)/float64(total))
	}
	return nil
}

// peakModel is the model rnc peak builds its runner for.
const peakModel = `model peak(input_shape = [4, 4, 3]) {
    x = Input(shape = input_shape)
    y = Conv2D(x, 16, 1, name = "conv")
    return Model(x, y)
}
`

var peakCmd = &command{
	name:    "peak",
	short:   "measure this machine's FMA and int8 peaks",
	summary: "Measure the single-thread FMA peak (GFLOP/s) of every vector target this CPU runs, with an avo kernel of 12 independent FMA chains, and, with AVX-512 VNNI, the int8 peak (GOP/s) with 12 VPDPBUSD chains.",
	flags: func(fs *flag.FlagSet) func([]string) error {
		return func(args []string) error {
			// Any model will do: the runner carries the peak kernels.
			g, err := dsl.Load("peak.rn", dsl.Options{ReadFile: func(string) ([]byte, error) { return []byte(peakModel), nil }})
			if err != nil {
				return err
			}
			r, err := buildRunner(g, []passes.Target{passes.AVX512}, passes.Config{}, "peak", nil)
			if err != nil {
				return err
			}
			defer r.Close()
			out, err := r.run(nil, "-peak")
			if err != nil {
				return err
			}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Split(l, "\t")
				switch {
				case len(f) == 3 && f[0] == "peak":
					fmt.Fprintf(stdout, "%s: %s GFLOP/s per thread\n", f[1], f[2])
				case len(f) == 3 && f[0] == "int8peak":
					fmt.Fprintf(stdout, "%s int8: %s GOP/s per thread (u8×s8 multiply-adds, 2 operations each)\n", f[1], f[2])
				}
			}
			return nil
		}
	},
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/quant"
	"github.com/rnc-dev/rnc/runtime"
)

var quantizeCmd = &command{
	name:  "quantize",
	short: "calibrate a model for int8 and write its quantized weights",
	args:  "MODEL.rn --weights W --calibrate X.npy|X.f32 -o Q.safetensors [--method minmax|percentile] [--percentile P] [--set name=value]...",
	summary: `Calibrate a model for int8 inference (docs/int8.md): run it in float32 with the reference
interpreter on the calibration images (NHWC float32, .npy or .f32), after the passes of
rnc compile --precision int8 up to fuse (batch norms folded, epilogues fused, nChw16c layouts:
the ops an int8 package runs), observing every op's
outputs; choose each quantized tensor's uint8 scale and zero point (--method minmax covers every
value seen; percentile clips the top 100 − P percent, P = --percentile, and as many at the
bottom of a tensor with negative values); quantize every conv kernel per output channel to int8
(the 3-channel stem conv and the classifier stay float32); then run the fake-quantized model on
the same images and print, per op output, the range seen, the range quantized, scale, zero point
and SQNR, then the output's SQNR and top-1 agreement with float32. Q.safetensors holds the int8
kernels (I8), their scales, the folded biases and the other float32 weights, and every quantized
tensor's scale and zero point (U8), under the names docs/int8.md lists. -o must not name the
model, the weights or the calibration file, its directory must exist, and an existing file there
is replaced only if it is an int8 weight file (an earlier quantize's), whole, once everything has
been computed.`,
	flags: func(fs *flag.FlagSet) func([]string) error {
		set := setFlag{}
		fs.Var(set, "set", "override a model parameter, e.g. --set input_shape=[64,64,3] (repeatable)")
		weights := fs.String("weights", "", "float32 weight file (safetensors or Keras .h5, Keras names; required)")
		calibrate := fs.String("calibrate", "", "calibration images, .npy or raw little-endian .f32, NHWC float32 (required)")
		outPath := fs.String("o", "", "output safetensors file (required)")
		method := fs.String("method", string(quant.DefaultMethod), "calibration method: minmax or percentile")
		pct := fs.Float64("percentile", quant.DefaultPercentile, "with --method percentile: P in (50, 100]: each tensor's range runs from the (100 − P)th to the P-th percentile of its values (a non-negative tensor's from 0)")
		return func(args []string) error {
			path, err := oneArg(args, "model file")
			if err != nil {
				return err
			}
			if *weights == "" || *calibrate == "" || *outPath == "" {
				return fmt.Errorf("quantize: --weights, --calibrate and -o are required")
			}
			m, err := quant.ParseMethod(*method)
			if err != nil {
				return fmt.Errorf("quantize: --method: %w", err)
			}
			pctSet := false
			fs.Visit(func(f *flag.Flag) { pctSet = pctSet || f.Name == "percentile" })
			if pctSet && m != quant.Percentile {
				return fmt.Errorf("quantize: --percentile applies to --method percentile, not %s", m)
			}
			if !(*pct > 50 && *pct <= 100) {
				return fmt.Errorf("quantize: --percentile %v: want a number in (50, 100]", *pct)
			}
			if err := checkOutput(*outPath, map[string]string{"model": path, "weights": *weights, "calibration": *calibrate}); err != nil {
				return fmt.Errorf("quantize: -o %w", err)
			}
			g, err := loadModel(path, set)
			if err != nil {
				return err
			}
			if err := passes.Run(g, quant.Pipeline(path)); err != nil {
				return err
			}
			x, shape, err := readInput(*calibrate)
			if err != nil {
				return err
			}
			n, err := batchOf(g, len(x), shape)
			if err != nil {
				return fmt.Errorf("calibration images %s: %w", *calibrate, err)
			}
			if in := g.Inputs()[0]; in.Def.Attrs.Prep.NCHW {
				x = nchwToNHWC(x, n, in.Type.H(), in.Type.W(), in.Type.C()) // the interpreter's values are logical (NHWC)
			}
			if err := finiteImages(x, n, g.Inputs()[0].Type.Dims); err != nil {
				return fmt.Errorf("calibration images %s: %w", *calibrate, err)
			}
			ws, err := runtime.LoadWeightsFile(*weights)
			if err != nil {
				return err
			}
			defer ws.Close()
			res, err := quant.Calibrate(g, ws, x, n, quant.Options{Method: m, Percentile: *pct, MemoryBytes: maxBatchBytes})
			if err != nil {
				return fmt.Errorf("weights %s, calibration images %s: %w", *weights, *calibrate, err)
			}
			if err := res.WriteTable(stdout); err != nil {
				return err
			}
			q, err := res.Weights()
			if err != nil {
				return err
			}
			q.Metadata["model"] = filepath.Base(path)
			if len(set) > 0 {
				q.Metadata["set"] = set.String() // the parameters it was calibrated with
			}
			if err := runtime.WriteSafetensorsFile(*outPath, q); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %d tensors to %s\n", len(q.Order), *outPath)
			return nil
		}
	},
}

// checkOutput reports why a command must not write its output file out:
// it is one of the inputs (by name or as the same file), or it exists and
// is not a safetensors file (rnc replaces weight files it could have
// written, never anything else).
func checkOutput(out string, inputs map[string]string) error {
	if dst, err := os.Stat(filepath.Dir(out)); err != nil || !dst.IsDir() {
		return fmt.Errorf("%s: its directory %s does not exist (or is not a directory)", out, filepath.Dir(out))
	}
	ost, err := os.Stat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for what, in := range inputs {
		if ist, err := os.Stat(in); err == nil && os.SameFile(ost, ist) {
			return fmt.Errorf("%s is the %s file %s: not overwriting it", out, what, in)
		}
	}
	if !ost.Mode().IsRegular() {
		return fmt.Errorf("%s exists and is not a regular file", out)
	}
	ws, err := runtime.OpenSafetensors(out) // its header only
	if err != nil {
		return fmt.Errorf("%s exists and is not a safetensors file: not replacing it", out)
	}
	defer ws.Close()
	if f := ws.Metadata["format"]; f != runtime.Int8Format {
		return fmt.Errorf("%s exists and is not an int8 weight file (rnc quantize's): not replacing it (remove it first)", out)
	}
	return nil
}

// finiteImages reports the first non-finite value of n images of dims
// (H, W, C) by image and position.
func finiteImages(x []float32, n int, dims []int) error {
	per := len(x) / max(n, 1)
	for i, v := range x {
		if v-v == 0 {
			continue
		}
		at := fmt.Sprint(i % per)
		if len(dims) == 3 {
			p := i % per
			at = fmt.Sprintf("(%d, %d, %d)", p/(dims[1]*dims[2]), p/dims[2]%dims[1], p%dims[2])
		}
		return fmt.Errorf("image %d holds %v at %s (h, w, c): calibration needs finite values", i/per, v, at)
	}
	return nil
}

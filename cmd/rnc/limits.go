package main

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif" // rnc run --input picture.gif
	_ "image/jpeg"
	_ "image/png"
	"io"
	"os"

	"github.com/rnc-dev/rnc/codegen"
	"github.com/rnc-dev/rnc/internal/fileio"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/npy"
)

// Limits on what the commands allocate or start at a user's request, far
// above any ResNet's needs, so that a typo or a hostile value is an error
// rather than an exhausted machine.
const (
	// maxThreads bounds --threads.
	maxThreads = 1024
	// maxBatch bounds --batch (checkBatch bounds its memory too).
	maxBatch = 1 << 16
	// maxRuns bounds --runs (every run's per-layer times are kept).
	maxRuns = 10000
	// maxParams bounds the parameters rnc makes up itself (weights init,
	// bench's synthetic weights): 1 GiB of float32, over 4× ResNet152's 60
	// million.
	maxParams = 1 << 28
	// maxBatchBytes bounds the memory of one batch (bench --batch, the
	// images of run --input: checkBatch) and the size of an input file.
	maxBatchBytes = 8 << 30
)

// checkInt reports a numeric flag's value outside [lo, hi].
func checkInt(flag string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("--%s %d: want an integer from %d to %d", flag, v, lo, hi)
	}
	return nil
}

// checkParams refuses to make up the weights of a model with more than
// maxParams parameters.
func checkParams(g *ir.Graph) error {
	if n := ir.Count(g).Params; n > maxParams {
		return fmt.Errorf("the model has %d parameters, more than the limit of %d (%d GiB of float32) for weights rnc makes up", n, maxParams, maxParams*4>>30)
	}
	return nil
}

// checkBatch refuses a batch of n images that needs more than
// maxBatchBytes (need bytes: batchBytes, or n × the interpreter's
// ImageBytes).
func checkBatch(n int, need int64) error {
	if need > maxBatchBytes {
		return fmt.Errorf("a batch of %d images needs %d bytes of inputs, outputs and activations, more than the limit of %d (%d GiB)", n, need, int64(maxBatchBytes), maxBatchBytes>>30)
	}
	return nil
}

// runtimeArenaCap is the runtime's bound on the activation arena of one
// Predict call (maxArenaBytes in runtime/model.go; TestRuntimeArenaCap
// keeps the two equal): Predict runs a larger batch in chunks of as many
// images as fit, at least one.
const runtimeArenaCap = 1 << 30

// batchBytes is the memory a batch of n images takes in a generated
// package: n × io bytes the caller holds (inputs and outputs) plus the
// arena of the chunk Predict runs at once, arena bytes per image:
// n·io + min(n·arena, max(arena, the cap rounded down to whole images)).
// It saturates instead of overflowing.
func batchBytes(n int, io, arena int64) int64 {
	chunk := int64(n)
	if arena > 0 {
		chunk = min(chunk, max(1, runtimeArenaCap/arena))
	}
	return ir.AddSat(ir.MulSat(int64(n), io), ir.MulSat(chunk, arena))
}

// compiledBatchBytes is batchBytes for the generated package's largest
// plan.
func compiledBatchBytes(n int, g *ir.Graph, res *codegen.Result) int64 {
	var arena int64
	for _, h := range res.Graphs {
		a, _, _ := ir.ArenaStats(h)
		arena = max(arena, a)
	}
	io := g.Inputs()[0].Type.Bytes() + g.Outputs[0].Type.Bytes()
	return batchBytes(n, io, arena)
}

// readModelInput reads rnc run's --input for model g: a tensor file
// (readInput), or a PNG, JPEG or GIF picture (told by content; picture
// is then true), made one image of the model's input as the generated
// Preprocess makes it, in the convention g's Input declares.
func readModelInput(path string, g *ir.Graph) (x []float32, shape []int, picture bool, err error) {
	f, _, err := fileio.Open(path)
	if err != nil {
		return nil, nil, false, err
	}
	defer f.Close()
	head := make([]byte, 16)
	n, _ := io.ReadFull(f, head)
	if !isPicture(head[:n]) {
		x, shape, err = readInput(path)
		return x, shape, false, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, false, err
	}
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return nil, nil, false, fmt.Errorf("%s: %w", path, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPicturePixels {
		return nil, nil, false, fmt.Errorf("%s: a %dx%d picture, more than %d pixels", path, cfg.Width, cfg.Height, maxPicturePixels)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, false, err
	}
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, nil, false, fmt.Errorf("%s: %w", path, err)
	}
	ins := g.Inputs()
	if len(ins) != 1 || len(ins[0].Type.Dims) != 3 {
		return nil, nil, false, fmt.Errorf("%s: a picture needs a model with one image input", path)
	}
	t := ins[0].Type
	p := ins[0].Def.Attrs.Prep
	x = make([]float32, t.H()*t.W()*t.C())
	if err := runtime.PreprocessImage(x, img, t.H(), t.W(), t.C(), runtimePrep(p)); err != nil {
		return nil, nil, false, fmt.Errorf("%s: %w", path, err)
	}
	if p.NCHW {
		return x, []int{1, t.C(), t.H(), t.W()}, true, nil
	}
	return x, []int{1, t.H(), t.W(), t.C()}, true, nil
}

// maxPicturePixels bounds a picture rnc run decodes (64 megapixels).
const maxPicturePixels = 1 << 26

// isPicture reports whether a file starting with head is a PNG, JPEG or
// GIF picture.
func isPicture(head []byte) bool {
	for _, sig := range []string{"\x89PNG\r\n\x1a\n", "\xff\xd8\xff", "GIF87a", "GIF89a"} {
		if bytes.HasPrefix(head, []byte(sig)) {
			return true
		}
	}
	return false
}

// readInput reads an input tensor file of at most maxBatchBytes.
func readInput(path string) ([]float32, []int, error) {
	if st, err := os.Stat(path); err == nil && st.Size() > maxBatchBytes {
		return nil, nil, fmt.Errorf("input %s is %d bytes, more than the limit of %d (%d GiB)", path, st.Size(), int64(maxBatchBytes), maxBatchBytes>>30)
	}
	return npy.Read(path)
}

// runtimePrep is the runtime's form of an Input's declared convention
// (the generated package's is codegen's preprocessAPI literal).
func runtimePrep(p ir.Preprocessing) runtime.Preprocessing {
	return runtime.Preprocessing{Mode: p.Mode, Mean: p.Mean, Std: p.Std, NCHW: p.NCHW, Resize: p.Resize}
}

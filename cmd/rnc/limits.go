package main

import (
	"fmt"
	"math"
	"os"

	"github.com/rnc-dev/rnc/codegen"
	"github.com/rnc-dev/rnc/ir"
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
	// maxBatchBytes bounds the activation memory of one batch (bench
	// --batch, the images of run --input) and the size of an input file.
	maxBatchBytes = 8 << 30
)

// checkInt reports a numeric flag's value outside [lo, hi].
func checkInt(flag string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("--%s %d: want an integer from %d to %d", flag, v, lo, hi)
	}
	return nil
}

// fileParams counts the values of g's weight file (saturating instead of
// overflowing).
func fileParams(g *ir.Graph) int64 {
	var total int64
	for _, w := range g.Weights.Files() {
		n := int64(1)
		for _, d := range w.Shape {
			if d != 0 && n > math.MaxInt64/int64(d) {
				return math.MaxInt64
			}
			n *= int64(d)
		}
		if total > math.MaxInt64-n {
			return math.MaxInt64
		}
		total += n
	}
	return total
}

// checkParams refuses to make up the weights of a model with more than
// maxParams parameters.
func checkParams(g *ir.Graph) error {
	if n := fileParams(g); n > maxParams {
		return fmt.Errorf("the model has %d parameters, more than the limit of %d (%d GiB of float32) for weights rnc makes up", n, maxParams, maxParams*4>>30)
	}
	return nil
}

// checkBatch refuses a batch of n images that needs more than maxBatchBytes
// at perImage bytes each.
func checkBatch(n int, perImage int64) error {
	if perImage > 0 && int64(n) > maxBatchBytes/perImage {
		return fmt.Errorf("a batch of %d images needs %d bytes of activations (%d per image), more than the limit of %d (%d GiB)", n, int64(n)*perImage, perImage, int64(maxBatchBytes), maxBatchBytes>>30)
	}
	return nil
}

// compiledImageBytes is the activation memory per image of the generated
// package's largest plan: its arena, plus the caller's input and output.
func compiledImageBytes(g *ir.Graph, res *codegen.Result) int64 {
	var m int64
	for _, h := range res.Graphs {
		arena, _, _ := ir.ArenaStats(h)
		m = max(m, arena)
	}
	in := g.Inputs()[0].Type.Bytes()
	out := g.Outputs[0].Type.Bytes()
	return m + in + out
}

// readInput reads an input tensor file of at most maxBatchBytes.
func readInput(path string) ([]float32, []int, error) {
	if st, err := os.Stat(path); err == nil && st.Size() > maxBatchBytes {
		return nil, nil, fmt.Errorf("input %s is %d bytes, more than the limit of %d (%d GiB)", path, st.Size(), int64(maxBatchBytes), maxBatchBytes>>30)
	}
	return npy.Read(path)
}

package quant

import (
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
)

// Int8 describes the int8 run of the calibrated graph for the
// interpreter's integer reference (interp.RunInt8): every quantized
// tensor's scale and zero point, and every int8 layer's kernel, scales and
// bias — what an int8 package loads from the file Weights writes.
func (r *Result) Int8() *interp.Int8 {
	q := &interp.Int8{Tensors: map[*ir.Value]interp.QParams{}, Convs: map[*ir.Op]interp.Int8Conv{}}
	for _, l := range r.Layers {
		for _, t := range l.Outputs {
			if t.Quantized {
				q.Tensors[t.Value] = interp.QParams{Scale: t.Params.Scale, Zero: t.Params.Zero}
			}
		}
		if l.Int8 && l.Op.Kind == ir.Conv2D {
			q.Convs[l.Op] = interp.Int8Conv{Kernel: l.KernelQ, Scale: l.KernelScale, Bias: l.Bias}
		}
	}
	return q
}

// RunInt8 runs the integer reference of the calibrated graph on n images
// (see interp.RunInt8, observe as there) and returns the graph's outputs.
func (r *Result) RunInt8(images []float32, n int, observe interp.Observer) ([][]float32, error) {
	if err := r.checkImages(images, n); err != nil {
		return nil, err
	}
	return r.it.RunInt8(images, n, r.Int8(), observe)
}

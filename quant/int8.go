package quant

import (
	"fmt"

	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
)

// Int8Graph is the calibrated graph in its int8 form (passes.Quantize: the
// graph rnc compile --precision int8 lowers, before memplan) with the
// quantized weight file it reads (Weights).
func (r *Result) Int8Graph() (*ir.Graph, *runtime.Weights, error) {
	g := r.Graph.Clone()
	if err := passes.Quantize(g); err != nil {
		return nil, nil, err
	}
	if err := ir.Verify(g); err != nil {
		return nil, nil, fmt.Errorf("quantize: the int8 graph: %w", err)
	}
	ws, err := r.Weights()
	if err != nil {
		return nil, nil, err
	}
	return g, ws, nil
}

// RunInt8 runs the integer reference — the interpreter on Int8Graph — on
// n images and returns the graph's outputs; observe (nil: none) sees every
// op of the int8 graph (a u8 value as its codes).
func (r *Result) RunInt8(images []float32, n int, observe interp.Observer) ([][]float32, error) {
	if err := r.checkImages(images, n); err != nil {
		return nil, err
	}
	g, ws, err := r.Int8Graph()
	if err != nil {
		return nil, err
	}
	it, err := interp.New(g, ws)
	if err != nil {
		return nil, fmt.Errorf("quantize: the int8 graph: %w", err)
	}
	return it.RunObserved(images, n, observe)
}

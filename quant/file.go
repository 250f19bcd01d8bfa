package quant

import (
	"fmt"
	"strings"

	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
)

// Format is the value of the quantized file's "format" metadata.
const Format = runtime.Int8Format

// FormatVersion is the value of its "format_version": it changes when a
// name or a layout of the file does.
const FormatVersion = "1"

// The names of a layer's tensors in the quantized file (docs/int8.md): L is
// the layer's name (LayerName), i an output or epilogue step index. The
// quantize pass (passes.Quantize) reads the file by the same functions.
var (
	KernelQName     = passes.KernelQName     // s8, the kernel's shape
	KernelScaleName = passes.KernelScaleName // f32 [out]
	OutScaleName    = passes.OutScaleName    // f32 [1]
	OutZeroName     = passes.OutZeroName     // u8 [1]
)

func KernelName(l string) string { return l + "/kernel" } // f32, a float32 layer's kernel
func BiasName(l string) string   { return l + "/bias" }   // f32 [out], real units

// Weights returns the quantized weight file: for every layer in graph
// order its kernel (int8 with per-channel scales, or float32 for a float32
// layer) and bias after batch-norm folding, its other float32 weights, and
// the scale and zero point of each of its quantized outputs; the metadata
// says how the file was made (docs/int8.md).
func (r *Result) Weights() (*runtime.Weights, error) {
	ws := runtime.NewWeights()
	var err error
	add := func(name string, shape []int, data []float32) {
		if err == nil {
			err = ws.Add(name, shape, data)
		}
	}
	var floats []string
	for _, l := range r.Layers {
		if !l.Int8 {
			floats = append(floats, l.Name)
		}
		if l.Kernel != nil {
			out := []int{len(l.Bias)}
			if l.Int8 {
				if err == nil {
					err = ws.AddInt8(KernelQName(l.Name), l.KernelShape, l.KernelQ)
				}
				add(KernelScaleName(l.Name), out, l.KernelScale)
			} else {
				add(KernelName(l.Name), l.KernelShape, l.Kernel)
			}
			add(BiasName(l.Name), out, l.Bias)
		}
		for _, name := range l.Order {
			add(name, l.Shapes[name], l.Floats[name])
		}
		for _, t := range l.Outputs {
			if !t.Quantized {
				continue
			}
			add(OutScaleName(l.Name, t.Index), []int{1}, []float32{t.Params.Scale})
			if err == nil {
				err = ws.AddUint8(OutZeroName(l.Name, t.Index), []int{1}, []uint8{uint8(t.Params.Zero)})
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	md := ws.Metadata
	md["format"] = Format
	md["format_version"] = FormatVersion
	md["method"] = string(r.Options.Method)
	if r.Options.Method == Percentile {
		md["percentile"] = fmt.Sprint(r.Options.Percentile)
	}
	md["calibration_images"] = fmt.Sprint(r.Images)
	md["float32_layers"] = strings.Join(floats, ",")
	md["output_sqnr_db"] = fmt.Sprintf("%.2f", r.OutputSQNR)
	if r.Classifies() {
		md["top1_agreement"] = fmt.Sprintf("%d/%d", r.Agree, r.Measured)
	}
	return ws, nil
}

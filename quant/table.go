package quant

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// WriteTable prints one row per output of every layer, in graph order
// (docs/int8.md, "The table"): the layer, its op, its precision (int8, or
// float32 and why), the output index, the range seen (min, max), the
// range quantized (lo, hi: the uint8 grid's ends), scale, zero point and
// the SQNR of the output on the images measured; then the model's output
// SQNR and top-1 agreement on them.
func (r *Result) WriteTable(w io.Writer) error {
	width := len("layer")
	for _, l := range r.Layers {
		width = max(width, len(l.Name))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s  %-13s %-7s %3s %10s %10s %10s %10s %11s %4s %8s\n",
		width, "layer", "op", "prec", "out", "min", "max", "lo", "hi", "scale", "zp", "SQNR dB")
	var why []string
	for _, l := range r.Layers {
		prec := "int8"
		if !l.Int8 {
			prec = "float32"
			why = append(why, fmt.Sprintf("  %s: %s", l.Name, l.Why))
		}
		for _, t := range l.Outputs {
			lo, hi, scale, zp := "-", "-", "-", "-"
			if t.Quantized {
				a, z := t.Params.Range()
				lo, hi = num(a), num(z)
				scale, zp = fmt.Sprintf("%.5g", t.Params.Scale), fmt.Sprint(t.Params.Zero)
			}
			fmt.Fprintf(&b, "%-*s  %-13s %-7s %3d %10s %10s %10s %10s %11s %4s %8s\n",
				width, l.Name, l.Op.Kind, prec, t.Index, num(t.Stats.Min), num(t.Stats.Max), lo, hi, scale, zp, db(t.SQNR()))
		}
	}
	if len(why) > 0 {
		fmt.Fprintf(&b, "float32 layers:\n%s\n", strings.Join(why, "\n"))
	}
	method := string(r.Options.Method)
	if r.Options.Method == Percentile {
		method += fmt.Sprintf(" %g%%", r.Options.Percentile)
	}
	fmt.Fprintf(&b, "calibrated on %d images (%s); on %d images: output SQNR %s dB", r.Images, method, r.Measured, db(r.OutputSQNR))
	if r.Classifies() {
		fmt.Fprintf(&b, ", top-1 agreement with float32 %d/%d (%.1f%%)", r.Agree, r.Measured, 100*float64(r.Agree)/float64(max(r.Measured, 1)))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

func num(x float64) string {
	if math.IsInf(x, 0) { // a tensor with no values
		return "-"
	}
	return fmt.Sprintf("%.4g", x)
}

func db(x float64) string {
	if math.IsInf(x, 1) {
		return "inf"
	}
	return fmt.Sprintf("%.1f", x)
}

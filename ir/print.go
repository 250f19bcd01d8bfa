package ir

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The text form, one line per op, stable and diffable:
//
//	model "model"
//	  %0 input_1 = Input() preprocess=tf : f32[N,64,64,3] nhwc
//	  %2 conv1_conv = Conv2D(%1) filters=64 k=7x7 s=2x2 pad=0,0,0,0 kernel=conv1_conv/kernel bias=conv1_conv/bias : f32[N,32,32,64] nhwc
//	  %7, %8 a_conv+a_out = Conv2D(%6, %3) ... epi=[add(%3),out,affine($1,$2),relu] : f32[...] nChw16c @arena[0:1024], f32[...] nChw16c @arena[1024:2048]
//	  return %180
//	weights
//	  conv1_conv/kernel : [7,7,3,64]
//	  $0 = bnscale(conv1_bn/gamma, conv1_bn/moving_variance) eps=1.001e-05 : [64]
//
// Print(Parse(Print(g))) == Print(g) for every graph.

// attrCodec prints and parses one attribute. print returns ok=false when
// the attribute has its default value and is omitted.
type attrCodec struct {
	print func(op *Op) (string, bool)
	parse func(op *Op, s string, vals map[string]*Value, ws *WeightProgram) error
}

var attrCodecs = map[string]attrCodec{
	"filters": intAttr(func(a *Attrs) *int { return &a.Filters }),
	"units":   intAttr(func(a *Attrs) *int { return &a.Units }),
	"k":       pairAttr(func(a *Attrs) *[2]int { return &a.Kernel }),
	"pool":    pairAttr(func(a *Attrs) *[2]int { return &a.Kernel }),
	"s":       pairAttr(func(a *Attrs) *[2]int { return &a.Strides }),
	"dil": {
		print: func(op *Op) (string, bool) { d := op.Attrs.Dil(); return joinInts(d[:], "x"), op.Attrs.Dilated() },
		parse: pairAttr(func(a *Attrs) *[2]int { return &a.Dilation }).parse,
	},
	"groups": {
		print: func(op *Op) (string, bool) { return strconv.Itoa(op.Attrs.G()), op.Attrs.G() > 1 },
		parse: func(op *Op, s string, _ map[string]*Value, _ *WeightProgram) error {
			g, err := strconv.Atoi(s)
			if err == nil && g < 1 {
				err = fmt.Errorf("groups must be positive, got %d", g)
			}
			op.Attrs.Groups = g
			return err
		},
	},
	"pad": {
		print: func(op *Op) (string, bool) { return joinInts(op.Attrs.Pad[:], ","), true },
		parse: func(op *Op, s string, _ map[string]*Value, _ *WeightProgram) error {
			v, err := parseInts(s, ",", 4)
			if err == nil {
				copy(op.Attrs.Pad[:], v)
			}
			return err
		},
	},
	"value": {
		print: func(op *Op) (string, bool) { return formatFloat(op.Attrs.PadValue), op.Attrs.PadValue != 0 },
		parse: func(op *Op, s string, _ map[string]*Value, _ *WeightProgram) error {
			f, err := strconv.ParseFloat(s, 64)
			op.Attrs.PadValue = f
			return err
		},
	},
	"padzero": {
		print: func(op *Op) (string, bool) { return "true", op.Attrs.PadZero },
		parse: func(op *Op, s string, _ map[string]*Value, _ *WeightProgram) error {
			b, err := strconv.ParseBool(s)
			op.Attrs.PadZero = b
			return err
		},
	},
	"eps":     floatAttr(func(a *Attrs) *float64 { return &a.Eps }),
	"rate":    floatAttr(func(a *Attrs) *float64 { return &a.Rate }),
	"scale":   floatAttr(func(a *Attrs) *float64 { return &a.Scale }),
	"offset":  floatAttr(func(a *Attrs) *float64 { return &a.Offset }),
	"fn":      stringAttr(func(a *Attrs) *string { return &a.Fn }, false),
	"act":     stringAttr(func(a *Attrs) *string { return &a.Act }, true),
	"pooling": stringAttr(func(a *Attrs) *string { return &a.Pooling }, false),
	"sub": {
		print: func(op *Op) (string, bool) {
			for _, s := range op.Attrs.Sub {
				if s != 1 {
					return joinInts(op.Attrs.Sub, ","), true
				}
			}
			return "", false
		},
		parse: func(op *Op, s string, _ map[string]*Value, _ *WeightProgram) error {
			v, err := parseInts(s, ",", -1)
			op.Attrs.Sub = v
			return err
		},
	},
	"preprocess": {
		print: func(op *Op) (string, bool) { return op.Attrs.Prep.Mode, op.Attrs.Prep.Mode != "" },
		parse: func(op *Op, s string, _ map[string]*Value, _ *WeightProgram) error {
			if !ValidPrepMode(s) {
				return fmt.Errorf("unknown preprocessing %q (want one of %q)", s, PrepModes)
			}
			op.Attrs.Prep.Mode = s
			return nil
		},
	},
	"layout": {
		print: func(op *Op) (string, bool) { return "nchw", op.Attrs.Prep.NCHW },
		parse: func(op *Op, s string, _ map[string]*Value, _ *WeightProgram) error {
			if s != "nchw" {
				return fmt.Errorf("input layout %q: only nchw is written (nhwc is the default)", s)
			}
			op.Attrs.Prep.NCHW = true
			return nil
		},
	},
	"resize": {
		print: func(op *Op) (string, bool) {
			return strconv.Itoa(op.Attrs.Prep.Resize), op.Attrs.Prep.Resize != 0
		},
		parse: func(op *Op, s string, _ map[string]*Value, _ *WeightProgram) error {
			v, err := strconv.Atoi(s)
			if err != nil || v < 1 || v > MaxResize {
				return fmt.Errorf("resize %q: want an integer 1 to %d", s, MaxResize)
			}
			op.Attrs.Prep.Resize = v
			return nil
		},
	},
	"mean": prepAttr(func(p *Preprocessing) *[3]float64 { return &p.Mean }),
	"std":  prepAttr(func(p *Preprocessing) *[3]float64 { return &p.Std }),
	"epi": {
		print: func(op *Op) (string, bool) {
			if len(op.Attrs.Epi) == 0 {
				return "", false
			}
			parts := make([]string, len(op.Attrs.Epi))
			for i, st := range op.Attrs.Epi {
				parts[i] = st.format(op)
			}
			return "[" + strings.Join(parts, ",") + "]", true
		},
		parse: parseEpilogue,
	},
}

func intAttr(f func(*Attrs) *int) attrCodec {
	return attrCodec{
		print: func(op *Op) (string, bool) { return strconv.Itoa(*f(&op.Attrs)), true },
		parse: func(op *Op, s string, _ map[string]*Value, _ *WeightProgram) error {
			n, err := strconv.Atoi(s)
			*f(&op.Attrs) = n
			return err
		},
	}
}

func pairAttr(f func(*Attrs) *[2]int) attrCodec {
	return attrCodec{
		print: func(op *Op) (string, bool) { p := f(&op.Attrs); return joinInts(p[:], "x"), true },
		parse: func(op *Op, s string, _ map[string]*Value, _ *WeightProgram) error {
			v, err := parseInts(s, "x", 2)
			if err == nil {
				copy(f(&op.Attrs)[:], v)
			}
			return err
		},
	}
}

func floatAttr(f func(*Attrs) *float64) attrCodec {
	return attrCodec{
		print: func(op *Op) (string, bool) { return formatFloat(*f(&op.Attrs)), true },
		parse: func(op *Op, s string, _ map[string]*Value, _ *WeightProgram) error {
			x, err := strconv.ParseFloat(s, 64)
			*f(&op.Attrs) = x
			return err
		},
	}
}

func stringAttr(f func(*Attrs) *string, omitEmpty bool) attrCodec {
	return attrCodec{
		print: func(op *Op) (string, bool) {
			s := *f(&op.Attrs)
			return s, !(omitEmpty && s == "")
		},
		parse: func(op *Op, s string, _ map[string]*Value, _ *WeightProgram) error {
			*f(&op.Attrs) = s
			return nil
		},
	}
}

// prepAttr prints and parses Input's mean or std: three numbers separated
// by commas, printed with preprocess=meanstd (or when set at all).
func prepAttr(f func(*Preprocessing) *[3]float64) attrCodec {
	return attrCodec{
		print: func(op *Op) (string, bool) {
			v := f(&op.Attrs.Prep)
			s := make([]string, len(v))
			for i, x := range v {
				s[i] = formatFloat(x)
			}
			return strings.Join(s, ","), op.Attrs.Prep.Mode == PrepMeanStd || *v != [3]float64{}
		},
		parse: func(op *Op, s string, _ map[string]*Value, _ *WeightProgram) error {
			parts := strings.Split(s, ",")
			if len(parts) != 3 {
				return fmt.Errorf("want 3 numbers separated by \",\", got %q", s)
			}
			v := f(&op.Attrs.Prep)
			for i, p := range parts {
				x, err := strconv.ParseFloat(p, 64)
				if err != nil {
					return fmt.Errorf("bad number %q", p)
				}
				v[i] = x
			}
			return nil
		},
	}
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func joinInts(v []int, sep string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, sep)
}

func parseInts(s, sep string, n int) ([]int, error) {
	parts := strings.Split(s, sep)
	if n >= 0 && len(parts) != n {
		return nil, fmt.Errorf("want %d integers separated by %q, got %q", n, sep, s)
	}
	v := make([]int, len(parts))
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("bad integer %q", p)
		}
		v[i] = x
	}
	return v, nil
}

func (st Step) format(op *Op) string {
	switch st.Kind {
	case StepAdd, StepMul:
		arg := fmt.Sprintf("#%d", st.Arg)
		if st.Arg >= 0 && st.Arg < len(op.Inputs) {
			arg = op.Inputs[st.Arg].Name()
		}
		if st.Sub > 1 {
			arg += "/" + strconv.Itoa(st.Sub)
		}
		return st.Kind.String() + "(" + arg + ")"
	case StepAffine:
		return "affine(" + weightName(st.Scale) + "," + weightName(st.Shift) + ")"
	case StepScale:
		return "scale(" + formatFloat(st.Mul) + "," + formatFloat(st.Add) + ")"
	}
	return st.Kind.String()
}

func weightName(w *Weight) string {
	if w == nil {
		return "?"
	}
	return w.Name
}

// Printer options.
type PrintOptions struct {
	// Filter, when set, selects the ops printed; the graph's return line
	// and weights section are then omitted.
	Filter func(*Op) bool
	// NoWeights omits the weights section.
	NoWeights bool
}

// Print writes g's text form.
func Print(w io.Writer, g *Graph) error { return PrintWith(w, g, PrintOptions{}) }

// String returns g's text form.
func (g *Graph) String() string {
	var b strings.Builder
	_ = Print(&b, g)
	return b.String()
}

// PrintWith writes g's text form with options.
func PrintWith(w io.Writer, g *Graph, opt PrintOptions) error {
	var b strings.Builder
	fmt.Fprintf(&b, "model %s\n", strconv.Quote(g.Name))
	if arena, peak, sum := ArenaStats(g); arena > 0 {
		fmt.Fprintf(&b, "  # arena %d bytes per image (peak of live buffers %d, sum of all values %d)\n", arena, peak, sum)
	}
	for _, op := range g.Ops {
		if opt.Filter != nil && !opt.Filter(op) {
			continue
		}
		b.WriteString("  ")
		b.WriteString(FormatOp(op))
		b.WriteByte('\n')
	}
	if opt.Filter == nil {
		b.WriteString("  return")
		for i, o := range g.Outputs {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(" " + o.Name())
		}
		b.WriteByte('\n')
		if !opt.NoWeights {
			b.WriteString("weights\n")
			for _, wt := range g.Weights.List {
				b.WriteString("  " + wt.String() + "\n")
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeOpHead writes the start of an op's line: its outputs, name, kind,
// inputs and attributes ("%3 c = Conv2D(%2) filters=4 k=3x3 ...").
func writeOpHead(b *strings.Builder, op *Op) {
	for i, o := range op.Outputs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(o.Name())
	}
	b.WriteString(" " + op.Name() + " = " + op.Kind.String() + "(")
	for i, in := range op.Inputs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(in.Name())
	}
	b.WriteString(")")
	for _, a := range op.Kind.Info().Attrs {
		if s, ok := attrCodecs[a].print(op); ok {
			b.WriteString(" " + a + "=" + s)
		}
	}
}

// FormatOp prints one op as a line of the text form (without indentation).
func FormatOp(op *Op) string {
	var b strings.Builder
	writeOpHead(&b, op)
	info := op.Kind.Info()
	for _, p := range info.Params {
		if w := op.Params[p.Role]; w != nil {
			b.WriteString(" " + p.Role + "=" + w.Name)
		}
	}
	b.WriteString(" :")
	for i, o := range op.Outputs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(" " + o.Type.String())
		if o.Q != nil {
			fmt.Fprintf(&b, " q=(%s,%s)", o.Q.Scale.Name, o.Q.Zero.Name)
		}
		if o.Mem.Size > 0 {
			fmt.Fprintf(&b, " @arena[%d:%d]", o.Mem.Offset, o.Mem.End())
		}
	}
	return b.String()
}

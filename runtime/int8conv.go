package runtime

import (
	"fmt"
	"math"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// ConvU8 is an int8 direct convolution of one image: the integer
// reference every int8 convolution kernel equals bit for bit, and the
// portable int8 kernel. It computes the arithmetic of package abi
// (int8.go) operation for operation:
//
//	acc = Σ in[ic, ih, iw]·wt[oc, ic, kh, kw]   exactly, in int32, over ic < IC and the taps inside the image
//	v   = abi.AccReal(acc, M[oc], B[oc])
//	then each step of Epi, in order:
//	  Relu    v = 0 if v < 0 (NaN and −0 stay: VMAXPS with v as the second source)
//	  Add     v = v + abi.Dequant(Res[oc, oh·Sub, ow·Sub], Q.Res.Z, Q.Res.S)
//	  Mul     v = v · abi.Dequant(Mul[oc, oh, ow], Q.Mul.Z, Q.Mul.S)
//	  Affine  v = v·Scale[oc], rounded, + Shift[oc]
//	  Scale   v = v·e.Mul, rounded, + e.Add
//	  Out     Out[k] = abi.QuantizeU8(v, Q.Out[k].Inv, Q.Out[k].Z), k the next output
//	and the value after the last step goes to the last output, quantized so,
//
// every operation rounded to float32 on its own. Activations are uint8
// in nChw16c (U8Block): the input's zero point is 0 (a conv's input
// follows a ReLU, so padding taps add q = 0 exactly), and its pad lanes
// (channels past IC) may hold anything: they are not read here and meet
// zero weights in the kernels. Weights are int8 in OIhw4i16o4i
// (PackConvS8: channel padding zero). Every lane of every output block
// is written: pad channels compute with M, B, Scale and Shift of the pad
// channels (zero when the caller pads them so) and the weights there.
type ConvU8 struct {
	IC, OC, H, W   int
	KH, KW, SH, SW int
	Pad            [4]int // top, bottom, left, right
	ResH, ResW     int    // the Add operand's size (0: OH·Sub × OW·Sub)
	// Epi: Relu, Add (Sub 1 or 2), Mul (Sub 1), Affine, Scale (Mul, Add
	// are its constants) and at most one Out; Arg, Scale and Shift (the
	// plan's indices) are not read: the operands are ConvU8Args's.
	Epi []Epi
}

// U8Quant is the per-tensor quantization of a uint8 operand: real value
// S·(q − Z).
type U8Quant struct {
	S float32
	Z int32
}

// U8Out is the quantization of an output: q = abi.QuantizeU8(v, Inv, Z),
// Inv the float32 reciprocal of the output's scale.
type U8Out struct {
	Inv float32
	Z   int32
}

// ConvU8Quant holds the per-tensor parameters of a ConvU8: its operands'
// and outputs' quantization. Zero points are 0..255.
type ConvU8Quant struct {
	Res, Mul U8Quant
	Out      [2]U8Out
}

// ConvU8QWords is the size of the kernels' parameter block in 32-bit
// words (ConvU8Quant.Words).
const ConvU8QWords = 12

// Offsets of the parameter block, in 32-bit words: the Add and Mul
// operands' zero point and scale (the scale's float32 bits), then for
// each output its reciprocal scale's bits, zero point, −zero point and
// 255 − zero point (the bounds of the clamp before the zero point is
// added).
const (
	QResZ, QResS = 0, 1
	QMulZ, QMulS = 2, 3
	QOut         = 4 // output k at QOut + 4k: Inv, Z, −Z, 255 − Z
)

// Words is the parameter block the int8 conv kernels read (their q
// argument), laid out as the Q* offsets say. It refuses a zero point
// outside 0..255.
func (q *ConvU8Quant) Words() ([ConvU8QWords]int32, error) {
	var w [ConvU8QWords]int32
	zs := []struct {
		name string
		z    int32
	}{{"residual", q.Res.Z}, {"gate", q.Mul.Z}, {"output 0", q.Out[0].Z}, {"output 1", q.Out[1].Z}}
	for _, z := range zs {
		if z.z < 0 || z.z > 255 {
			return w, fmt.Errorf("int8 conv: %s zero point %d, want 0..255", z.name, z.z)
		}
	}
	w[QResZ], w[QResS] = q.Res.Z, f32bits(q.Res.S)
	w[QMulZ], w[QMulS] = q.Mul.Z, f32bits(q.Mul.S)
	for k, o := range q.Out {
		w[QOut+4*k] = f32bits(o.Inv)
		w[QOut+4*k+1] = o.Z
		w[QOut+4*k+2] = -o.Z
		w[QOut+4*k+3] = 255 - o.Z
	}
	return w, nil
}

// ConvU8Args are the buffers of one image (sizes: ConvU8.Sizes).
type ConvU8Args struct {
	In           []uint8   // nChw16c input
	Wt           []int8    // OIhw4i16o4i weights (PackConvS8)
	M, B         []float32 // AccReal's per-channel factor and bias
	Scale, Shift []float32 // Affine's per-channel operands (with an Affine step)
	Res, Mul     []uint8   // the Add and Mul operands, nChw16c (with those steps)
	Q            ConvU8Quant
	Out          [][]uint8 // the outputs in store order, nChw16c, OH×OW
}

// ConvU8Sizes are the element counts of a ConvU8's buffers (0: unused).
type ConvU8Sizes struct {
	In, Wt, Chan, Affine, Res, Mul, Out int
	Outs                                int // number of outputs
}

// OH is the output height.
func (c *ConvU8) OH() int { return (c.H+c.Pad[0]+c.Pad[1]-c.KH)/c.SH + 1 }

// OW is the output width.
func (c *ConvU8) OW() int { return (c.W+c.Pad[2]+c.Pad[3]-c.KW)/c.SW + 1 }

// ICB is the number of 16-channel input blocks.
func (c *ConvU8) ICB() int { return (c.IC + U8Block - 1) / U8Block }

// OCB is the number of 16-channel output blocks.
func (c *ConvU8) OCB() int { return (c.OC + U8Block - 1) / U8Block }

// resDims are the Add operand's size and read stride.
func (c *ConvU8) resDims() (rh, rw, sub int) {
	sub = 1
	for _, e := range c.Epi {
		if e.Op == EpiAdd {
			sub = max(e.Sub, 1)
		}
	}
	rh, rw = c.ResH, c.ResW
	if rh == 0 {
		rh = c.OH() * sub
	}
	if rw == 0 {
		rw = c.OW() * sub
	}
	return rh, rw, sub
}

// maxConvU8Dim bounds every size and channel count, so that no product
// of the checks below overflows.
const maxConvU8Dim = 1 << 20

// Check reports what makes c invalid: sizes, strides, padding, an
// epilogue step it does not take, or a reduction of more than
// abi.MaxAccTerms products (an int32 accumulator could overflow).
func (c *ConvU8) Check() error {
	for _, d := range []struct {
		name string
		v    int
	}{{"IC", c.IC}, {"OC", c.OC}, {"H", c.H}, {"W", c.W}, {"KH", c.KH}, {"KW", c.KW}} {
		if d.v <= 0 || d.v > maxConvU8Dim {
			return fmt.Errorf("int8 conv: %s = %d, want 1..%d", d.name, d.v, maxConvU8Dim)
		}
	}
	switch {
	case c.SH < 1 || c.SH > 2 || c.SW < 1 || c.SW > 2:
		return fmt.Errorf("int8 conv: strides %d,%d, want 1 or 2", c.SH, c.SW)
	case c.Pad[0] < 0 || c.Pad[1] < 0 || c.Pad[2] < 0 || c.Pad[3] < 0 ||
		c.Pad[0] >= c.KH || c.Pad[1] >= c.KH || c.Pad[2] >= c.KW || c.Pad[3] >= c.KW:
		return fmt.Errorf("int8 conv: padding %v for a %d×%d kernel (want 0 ≤ pad < kernel)", c.Pad, c.KH, c.KW)
	case c.OH() <= 0 || c.OW() <= 0:
		return fmt.Errorf("int8 conv: empty output (%d×%d input, %d×%d kernel)", c.H, c.W, c.KH, c.KW)
	case int64(c.IC)*int64(c.KH)*int64(c.KW) > abi.MaxAccTerms:
		return fmt.Errorf("int8 conv: a reduction of %d×%d×%d products, more than abi.MaxAccTerms = %d: an int32 accumulator could overflow",
			c.IC, c.KH, c.KW, abi.MaxAccTerms)
	case int64(c.OCB())*int64(c.ICB())*int64(c.KH*c.KW)*U8Block*U8Block > maxPackedS8 ||
		int64(c.ICB())*U8Block*int64(c.H)*int64(c.W) > maxPackedS8:
		return fmt.Errorf("int8 conv: %d×%d×%d -> %d, %d×%d kernel: too large", c.H, c.W, c.IC, c.OC, c.KH, c.KW)
	}
	if err := abi.ConvU8Caps.Check(CapSteps(c.Epi)); err != nil {
		return fmt.Errorf("int8 conv: epilogue: %w", err)
	}
	hasAdd := false
	for _, e := range c.Epi {
		hasAdd = hasAdd || e.Op == EpiAdd
	}
	if hasAdd {
		rh, rw, sub := c.resDims()
		if (c.OH()-1)*sub >= rh || (c.OW()-1)*sub >= rw {
			return fmt.Errorf("int8 conv: a %d×%d residual read at stride %d for a %d×%d output", rh, rw, sub, c.OH(), c.OW())
		}
		if int64(rh)*int64(rw) > maxPackedS8 {
			return fmt.Errorf("int8 conv: a %d×%d residual: too large", rh, rw)
		}
	}
	return nil
}

// Sizes are the element counts of c's buffers for one image.
func (c *ConvU8) Sizes() ConvU8Sizes {
	ocp := c.OCB() * U8Block
	out := ocp * c.OH() * c.OW()
	z := ConvU8Sizes{
		In:   c.ICB() * U8Block * c.H * c.W,
		Wt:   ocp * c.ICB() * U8Block * c.KH * c.KW,
		Chan: ocp, Out: out, Outs: 1,
	}
	for _, e := range c.Epi {
		switch e.Op {
		case EpiAffine:
			z.Affine = ocp
		case EpiAdd:
			rh, rw, _ := c.resDims()
			z.Res = ocp * rh * rw
		case EpiMul:
			z.Mul = out
		case EpiOut:
			z.Outs++
		}
	}
	return z
}

// Run computes output rows [oh0, oh1) of output-channel blocks
// [ocb0, ocb1) of one image into a.Out. It returns an error, and writes
// nothing, when c is invalid, a range is out of bounds or a buffer is
// shorter than Sizes says.
func (c *ConvU8) Run(a *ConvU8Args, ocb0, ocb1, oh0, oh1 int) error {
	if err := c.Check(); err != nil {
		return err
	}
	if ocb0 < 0 || ocb0 > ocb1 || ocb1 > c.OCB() || oh0 < 0 || oh0 > oh1 || oh1 > c.OH() {
		return fmt.Errorf("int8 conv: blocks [%d, %d) rows [%d, %d) outside %d blocks × %d rows", ocb0, ocb1, oh0, oh1, c.OCB(), c.OH())
	}
	z := c.Sizes()
	for _, b := range []struct {
		name      string
		have, min int
	}{
		{"input", len(a.In), z.In}, {"weights", len(a.Wt), z.Wt}, {"m", len(a.M), z.Chan}, {"b", len(a.B), z.Chan},
		{"scale", len(a.Scale), z.Affine}, {"shift", len(a.Shift), z.Affine}, {"residual", len(a.Res), z.Res}, {"gate", len(a.Mul), z.Mul},
	} {
		if b.have < b.min {
			return fmt.Errorf("int8 conv: %s has %d elements, want %d", b.name, b.have, b.min)
		}
	}
	if len(a.Out) != z.Outs {
		return fmt.Errorf("int8 conv: %d outputs, want %d", len(a.Out), z.Outs)
	}
	for k, o := range a.Out {
		if len(o) < z.Out {
			return fmt.Errorf("int8 conv: output %d has %d elements, want %d", k, len(o), z.Out)
		}
	}
	if _, err := a.Q.Words(); err != nil {
		return err
	}
	if ocb0 == ocb1 || oh0 == oh1 {
		return nil
	}
	c.run(a, ocb0, ocb1, oh0, oh1)
	return nil
}

// run is Run on checked arguments.
func (c *ConvU8) run(a *ConvU8Args, ocb0, ocb1, oh0, oh1 int) {
	const B = U8Block
	oh, ow, icb := c.OH(), c.OW(), c.ICB()
	rh, rw, _ := c.resDims()
	outAt := func(ocb, y, x, o int) int { return ((ocb*oh+y)*ow+x)*B + o }
	var acc [B]int32
	for ocb := ocb0; ocb < ocb1; ocb++ {
		for y := oh0; y < oh1; y++ {
			for x := 0; x < ow; x++ {
				acc = [B]int32{}
				for kh := 0; kh < c.KH; kh++ {
					ih := y*c.SH - c.Pad[0] + kh
					if ih < 0 || ih >= c.H {
						continue
					}
					for kw := 0; kw < c.KW; kw++ {
						iw := x*c.SW - c.Pad[2] + kw
						if iw < 0 || iw >= c.W {
							continue
						}
						for ic := 0; ic < c.IC; ic++ {
							q := int32(a.In[((ic/B*c.H+ih)*c.W+iw)*B+ic%B])
							for o := range acc {
								acc[o] += q * int32(a.Wt[S8Index(c.KH, c.KW, icb, kh, kw, ic, ocb*B+o)])
							}
						}
					}
				}
				for o := range acc {
					ch := ocb*B + o
					v := abi.AccReal(acc[o], a.M[ch], a.B[ch])
					out := 0
					for _, e := range c.Epi {
						switch e.Op {
						case EpiRelu:
							if v < 0 {
								v = 0
							}
						case EpiAdd:
							sub := max(e.Sub, 1)
							r := a.Res[((ocb*rh+y*sub)*rw+x*sub)*B+o]
							v += float32(abi.Dequant(r, a.Q.Res.Z, a.Q.Res.S))
						case EpiMul:
							v = float32(v * float32(abi.Dequant(a.Mul[outAt(ocb, y, x, o)], a.Q.Mul.Z, a.Q.Mul.S)))
						case EpiAffine:
							v = float32(v*a.Scale[ch]) + a.Shift[ch]
						case EpiScale:
							v = float32(v*e.Mul) + e.Add
						case EpiOut:
							a.Out[out][outAt(ocb, y, x, o)] = abi.QuantizeU8(v, a.Q.Out[out].Inv, a.Q.Out[out].Z)
							out++
						}
					}
					a.Out[out][outAt(ocb, y, x, o)] = abi.QuantizeU8(v, a.Q.Out[out].Inv, a.Q.Out[out].Z)
				}
			}
		}
	}
}

func f32bits(f float32) int32 { return int32(math.Float32bits(f)) }

package runtime

import (
	"fmt"
	"math"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// U8Block is the channel block of the int8 path: activations are uint8 in
// nChw16c (ConvU8) and weights int8 in OIhw4i16o4i (PackConvS8), the
// layouts of the AVX-512 VNNI kernels (codegen/vnni).
const U8Block = abi.U8Block

// maxPackedS8 bounds the bytes PackConvS8 writes (channel padding can
// multiply a tiny kernel's size by 256): 1 GiB, a thousand times
// ResNet's largest layer.
const maxPackedS8 = 1 << 30

// S8Index is the position of weight (kh, kw, ic, oc) in the OIhw4i16o4i
// layout of a kernel of kh×kw taps and icb 16-channel input blocks: for
// each 16-channel output block, input block, kernel row and column, and
// group of 4 input channels, one 64-byte vector whose 4-byte lane o
// holds the weights of output channel 16·ocb + o for the 4 input
// channels of the group, in order:
//
//	((((ocb·ICB + icb)·KH + kh)·KW + kw)·4 + g)·64 + o·4 + k
//
// with ic = 16·icb + 4·g + k and oc = 16·ocb + o. VPDPBUSD multiplies the
// vector by 4 input bytes (one group of a pixel's nChw16c block, broadcast
// to the 16 lanes) and adds the 4 products of lane o to output channel o.
func S8Index(KH, KW, ICB, kh, kw, ic, oc int) int {
	ocb, o := oc/U8Block, oc%U8Block
	icb, i := ic/U8Block, ic%U8Block
	return ((((ocb*ICB+icb)*KH+kh)*KW+kw)*4+i/4)*64 + o*4 + i%4
}

// PackConvS8 quantizes a convolution kernel and packs it for the int8
// direct convolution (ConvU8, codegen/vnni): hwio is the real float32
// kernel in HWIO order (kh, kw, ic, oc: Keras's), scale the per-output-
// channel weight scales; weight w of channel oc becomes
// abi.QuantizeS8(w, scale[oc]) at S8Index. Channel padding (input
// channels past ic, output channels past oc, up to multiples of 16) is
// zero. It refuses sizes that do not match, a NaN or infinite weight, and
// a scale that is not a positive finite number.
func PackConvS8(hwio []float32, kh, kw, ic, oc int, scale []float32) ([]int8, error) {
	n := 1
	for _, d := range []struct {
		name string
		v    int
	}{{"kh", kh}, {"kw", kw}, {"ic", ic}, {"oc", oc}} {
		if d.v <= 0 {
			return nil, fmt.Errorf("PackConvS8: %s = %d, want > 0", d.name, d.v)
		}
		if n > math.MaxInt32/d.v {
			return nil, fmt.Errorf("PackConvS8: kernel %d×%d×%d×%d too large", kh, kw, ic, oc)
		}
		n *= d.v
	}
	if len(hwio) != n {
		return nil, fmt.Errorf("PackConvS8: %d weights for a %d×%d×%d×%d kernel (want %d)", len(hwio), kh, kw, ic, oc, n)
	}
	if len(scale) != oc {
		return nil, fmt.Errorf("PackConvS8: %d scales for %d output channels", len(scale), oc)
	}
	for c, s := range scale {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return nil, fmt.Errorf("PackConvS8: scale of output channel %d is %g, want a positive finite number", c, s)
		}
	}
	icb, ocb := (ic+U8Block-1)/U8Block, (oc+U8Block-1)/U8Block
	size := int64(ocb) * int64(icb) * int64(kh*kw) * U8Block * U8Block
	if size > maxPackedS8 {
		return nil, fmt.Errorf("PackConvS8: a %d×%d×%d×%d kernel packs to %d bytes (limit %d)", kh, kw, ic, oc, size, maxPackedS8)
	}
	out := make([]int8, size)
	for h := 0; h < kh; h++ {
		for w := 0; w < kw; w++ {
			for i := 0; i < ic; i++ {
				row := hwio[((h*kw+w)*ic+i)*oc:][:oc]
				for o, v := range row {
					if v != v || math.IsInf(float64(v), 0) {
						return nil, fmt.Errorf("PackConvS8: weight (kh %d, kw %d, ic %d, oc %d) is %g", h, w, i, o, v)
					}
					out[S8Index(kh, kw, icb, h, w, i, o)] = abi.QuantizeS8(v, scale[o])
				}
			}
		}
	}
	return out, nil
}

package passes

import (
	"testing"

	"github.com/rnc-dev/rnc/ir"
)

func TestLayout(t *testing.T) {
	runPassTable(t, func(g *ir.Graph) error { return Layout(g, AVX512) }, []passCase{
		// the 3-channel stem reads nhwc (Ohwi16o), blocked convs get OIhw16i16o, vectors are padded to 16; no reorder
		{"layout net", `
			model "t"
			  %0 in = Input() : f32[N,8,8,3] nhwc
			  %1 stem = Conv2D(%0) filters=20 k=3x3 s=2x2 pad=1,1,1,1 kernel=stem/kernel bias=stem/bias : f32[N,4,4,20] nhwc
			  %2 bn = Affine(%1) scale=bn/scale shift=bn/shift : f32[N,4,4,20] nhwc
			  %3 c = Conv2D(%2) filters=10 k=1x1 s=1x1 pad=0,0,0,0 kernel=c/kernel : f32[N,4,4,10] nhwc
			  %4 gap = GlobalAveragePooling2D(%3) : f32[N,10] nc
			  %5 d = Dense(%4) units=5 act=softmax kernel=d/kernel bias=d/bias : f32[N,5] nc
			  return %5
			weights
			  stem/kernel : [3,3,3,20]
			  stem/bias : [20]
			  bn/scale : [20]
			  bn/shift : [20]
			  c/kernel : [1,1,20,10]
			  d/kernel : [10,5]
			  d/bias : [5]
			`, `
			model "t"
			  %0 in = Input() : f32[N,8,8,3] nhwc
			  %1 stem = Conv2D(%0) filters=20 k=3x3 s=2x2 pad=1,1,1,1 kernel=$0 bias=$1 : f32[N,4,4,20] nChw16c
			  %2 bn = Affine(%1) scale=$2 shift=$3 : f32[N,4,4,20] nChw16c
			  %3 c = Conv2D(%2) filters=10 k=1x1 s=1x1 pad=0,0,0,0 kernel=$4 : f32[N,4,4,10] nChw16c
			  %4 gap = GlobalAveragePooling2D(%3) : f32[N,10] nc
			  %5 d = Dense(%4) units=5 act=softmax kernel=$5 bias=$6 : f32[N,5] nc
			  return %5
			weights
			  stem/kernel : [3,3,3,20]
			  stem/bias : [20]
			  bn/scale : [20]
			  bn/shift : [20]
			  c/kernel : [1,1,20,10]
			  d/kernel : [10,5]
			  d/bias : [5]
			  $0 = pack(stem/kernel) layout=Ohwi16o : [2,3,3,3,16]
			  $1 = pack(stem/bias) layout=c16 : [32]
			  $2 = pack(bn/scale) layout=c16 : [32]
			  $3 = pack(bn/shift) layout=c16 : [32]
			  $4 = pack(c/kernel) layout=OIhw16i16o : [1,2,1,1,16,16]
			  $5 = pack(d/kernel) layout=OI16o : [1,10,16]
			  $6 = pack(d/bias) layout=c16 : [16]
			`},
		// a 24-channel nhwc input is reordered once for its two readers; Flatten and outputs get nhwc back
		{"layout reorders", `
			model "t"
			  %0 in = Input() : f32[N,4,4,24] nhwc
			  %1 c = Conv2D(%0) filters=8 k=1x1 s=1x1 pad=0,0,0,0 kernel=c/kernel : f32[N,4,4,8] nhwc
			  %2 r = Activation(%0) fn=relu : f32[N,4,4,24] nhwc
			  %3 f = Flatten(%1) : f32[N,128] nc
			  return %2, %3
			weights
			  c/kernel : [1,1,24,8]
			`, `
			model "t"
			  %0 in = Input() : f32[N,4,4,24] nhwc
			  %4 in_to_nChw16c = Reorder(%0) : f32[N,4,4,24] nChw16c
			  %1 c = Conv2D(%4) filters=8 k=1x1 s=1x1 pad=0,0,0,0 kernel=$0 : f32[N,4,4,8] nChw16c
			  %2 r = Activation(%4) fn=relu : f32[N,4,4,24] nChw16c
			  %5 c_to_nhwc = Reorder(%1) : f32[N,4,4,8] nhwc
			  %3 f = Flatten(%5) : f32[N,128] nc
			  %6 r_to_nhwc = Reorder(%2) : f32[N,4,4,24] nhwc
			  return %6, %3
			weights
			  c/kernel : [1,1,24,8]
			  $0 = pack(c/kernel) layout=OIhw16i16o : [1,2,1,1,16,16]
			`},
	})
}

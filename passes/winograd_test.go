package passes

import (
	"testing"

	"github.com/rnc-dev/rnc/ir"
)

func TestWinograd(t *testing.T) {
	runPassTable(t, func(g *ir.Graph) error { return Winograd(g, AVX512, 0) }, []passCase{
		// a stride-1 3x3 conv with an output of at least 8x8 gets Winograd weights; a 8x7 output and a strided conv keep the direct kernel
		{"winograd fit", `
			model "t"
			  %0 in = Input() : f32[N,10,9,20] nhwc
			  %1 in_to_nChw16c = Reorder(%0) : f32[N,10,9,20] nChw16c
			  %2 a = Conv2D(%1) filters=24 k=3x3 s=1x1 pad=1,1,1,1 kernel=$0 bias=$1 : f32[N,10,9,24] nChw16c
			  %3 b = Conv2D(%2) filters=16 k=3x3 s=1x1 pad=0,0,0,0 kernel=$2 : f32[N,8,7,16] nChw16c
			  %4 c = Conv2D(%2) filters=16 k=3x3 s=2x2 pad=1,1,1,1 kernel=$3 : f32[N,5,5,16] nChw16c
			  %5 gap = GlobalAveragePooling2D(%3) : f32[N,16] nc
			  %6 gap2 = GlobalAveragePooling2D(%4) : f32[N,16] nc
			  %7 sum = Add(%5, %6) : f32[N,16] nc
			  return %7
			weights
			  a/kernel : [3,3,20,24]
			  a/bias : [24]
			  b/kernel : [3,3,24,16]
			  c/kernel : [3,3,24,16]
			  $0 = pack(a/kernel) layout=OIhw16i16o : [2,2,3,3,16,16]
			  $1 = pack(a/bias) layout=c16 : [32]
			  $2 = pack(b/kernel) layout=OIhw16i16o : [1,2,3,3,16,16]
			  $3 = pack(c/kernel) layout=OIhw16i16o : [1,2,3,3,16,16]
			`, `
			model "t"
			  %0 in = Input() : f32[N,10,9,20] nhwc
			  %1 in_to_nChw16c = Reorder(%0) : f32[N,10,9,20] nChw16c
			  %2 a = Conv2D(%1) filters=24 k=3x3 s=1x1 pad=1,1,1,1 kernel=$4 bias=$1 : f32[N,10,9,24] nChw16c
			  %3 b = Conv2D(%2) filters=16 k=3x3 s=1x1 pad=0,0,0,0 kernel=$2 : f32[N,8,7,16] nChw16c
			  %4 c = Conv2D(%2) filters=16 k=3x3 s=2x2 pad=1,1,1,1 kernel=$3 : f32[N,5,5,16] nChw16c
			  %5 gap = GlobalAveragePooling2D(%3) : f32[N,16] nc
			  %6 gap2 = GlobalAveragePooling2D(%4) : f32[N,16] nc
			  %7 sum = Add(%5, %6) : f32[N,16] nc
			  return %7
			weights
			  a/kernel : [3,3,20,24]
			  a/bias : [24]
			  b/kernel : [3,3,24,16]
			  c/kernel : [3,3,24,16]
			  $1 = pack(a/bias) layout=c16 : [32]
			  $2 = pack(b/kernel) layout=OIhw16i16o : [1,2,3,3,16,16]
			  $3 = pack(c/kernel) layout=OIhw16i16o : [1,2,3,3,16,16]
			  $4 = pack(a/kernel) layout=wino16 : [2,36,32,16]
			`},
		// a dilated 3x3 conv keeps the direct weights: Winograd's tiles take adjacent taps
		{"winograd dilated", `
			model "t"
			  %0 in = Input() : f32[N,12,12,16] nhwc
			  %1 in_to_nChw16c = Reorder(%0) : f32[N,12,12,16] nChw16c
			  %2 a = Conv2D(%1) filters=16 k=3x3 s=1x1 dil=2x2 pad=2,2,2,2 kernel=$0 : f32[N,12,12,16] nChw16c
			  %3 b = Conv2D(%1) filters=16 k=3x3 s=1x1 dil=1x2 pad=1,1,2,2 kernel=$1 : f32[N,12,12,16] nChw16c
			  %4 sum = Add(%2, %3) : f32[N,12,12,16] nChw16c
			  %5 gap = GlobalAveragePooling2D(%4) : f32[N,16] nc
			  return %5
			weights
			  a/kernel : [3,3,16,16]
			  b/kernel : [3,3,16,16]
			  $0 = pack(a/kernel) layout=OIhw16i16o : [1,1,3,3,16,16]
			  $1 = pack(b/kernel) layout=OIhw16i16o : [1,1,3,3,16,16]
			`, `
			model "t"
			  %0 in = Input() : f32[N,12,12,16] nhwc
			  %1 in_to_nChw16c = Reorder(%0) : f32[N,12,12,16] nChw16c
			  %2 a = Conv2D(%1) filters=16 k=3x3 s=1x1 dil=2x2 pad=2,2,2,2 kernel=$0 : f32[N,12,12,16] nChw16c
			  %3 b = Conv2D(%1) filters=16 k=3x3 s=1x1 dil=1x2 pad=1,1,2,2 kernel=$1 : f32[N,12,12,16] nChw16c
			  %4 sum = Add(%2, %3) : f32[N,12,12,16] nChw16c
			  %5 gap = GlobalAveragePooling2D(%4) : f32[N,16] nc
			  return %5
			weights
			  a/kernel : [3,3,16,16]
			  b/kernel : [3,3,16,16]
			  $0 = pack(a/kernel) layout=OIhw16i16o : [1,1,3,3,16,16]
			  $1 = pack(b/kernel) layout=OIhw16i16o : [1,1,3,3,16,16]
			`},
	})
}

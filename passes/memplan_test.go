package passes

import (
	"testing"
)

func TestMemPlan(t *testing.T) {
	runPassTable(t, MemPlan, []passCase{
		// dead buffers are reused; the relu and the residual sum are written in place
		{"memplan chain", `
			model "t"
			  %9 in = Input() : f32[N,4,4,16] nhwc
			  %0 in_to_nChw16c = Reorder(%9) : f32[N,4,4,16] nChw16c
			  %1 a = Conv2D(%0) filters=16 k=1x1 s=1x1 pad=0,0,0,0 kernel=$0 : f32[N,4,4,16] nChw16c
			  %2 r = Eltwise(%1) epi=[relu] : f32[N,4,4,16] nChw16c
			  %3, %4 b = Conv2D(%2, %0) filters=16 k=3x3 s=1x1 pad=1,1,1,1 epi=[add(%0),out,relu] kernel=$1 : f32[N,4,4,16] nChw16c, f32[N,4,4,16] nChw16c
			  %5 c = Conv2D(%4, %3) filters=16 k=1x1 s=2x2 pad=0,0,0,0 epi=[add(%3/2)] kernel=$2 : f32[N,2,2,16] nChw16c
			  return %5
			weights
			  a/kernel : [1,1,16,16]
			  b/kernel : [3,3,16,16]
			  c/kernel : [1,1,16,16]
			  $0 = pack(a/kernel) layout=OIhw16i16o : [1,1,1,1,16,16]
			  $1 = pack(b/kernel) layout=OIhw16i16o : [1,1,3,3,16,16]
			  $2 = pack(c/kernel) layout=OIhw16i16o : [1,1,1,1,16,16]
			`, `
			model "t"
			  # arena 3072 bytes per image (peak of live buffers 3072, sum of all values 6400)
			  %9 in = Input() : f32[N,4,4,16] nhwc @arena[0:1024]
			  %0 in_to_nChw16c = Reorder(%9) : f32[N,4,4,16] nChw16c @arena[1024:2048]
			  %1 a = Conv2D(%0) filters=16 k=1x1 s=1x1 pad=0,0,0,0 kernel=$0 : f32[N,4,4,16] nChw16c @arena[0:1024]
			  %2 r = Eltwise(%1) epi=[relu] : f32[N,4,4,16] nChw16c @arena[0:1024]
			  %3, %4 b = Conv2D(%2, %0) filters=16 k=3x3 s=1x1 pad=1,1,1,1 epi=[add(%0),out,relu] kernel=$1 : f32[N,4,4,16] nChw16c @arena[1024:2048], f32[N,4,4,16] nChw16c @arena[2048:3072]
			  %5 c = Conv2D(%4, %3) filters=16 k=1x1 s=2x2 pad=0,0,0,0 epi=[add(%3/2)] kernel=$2 : f32[N,2,2,16] nChw16c @arena[0:256]
			  return %5
			weights
			  a/kernel : [1,1,16,16]
			  b/kernel : [3,3,16,16]
			  c/kernel : [1,1,16,16]
			  $0 = pack(a/kernel) layout=OIhw16i16o : [1,1,1,1,16,16]
			  $1 = pack(b/kernel) layout=OIhw16i16o : [1,1,3,3,16,16]
			  $2 = pack(c/kernel) layout=OIhw16i16o : [1,1,1,1,16,16]
			`},
		// an output stored before a step that still reads an operand must not take the operand's place; the last output may
		{"memplan outalias", `
			model "t"
			  %9 in = Input() : f32[N,4,4,16] nhwc
			  %0 in_to_nChw16c = Reorder(%9) : f32[N,4,4,16] nChw16c
			  %1 a = Conv2D(%0) filters=16 k=1x1 s=1x1 pad=0,0,0,0 kernel=$0 : f32[N,4,4,16] nChw16c
			  %2, %3 b+s+m = Conv2D(%0, %1) filters=16 k=1x1 s=1x1 pad=0,0,0,0 epi=[sigmoid,out,mul(%1)] kernel=$1 : f32[N,4,4,16] nChw16c, f32[N,4,4,16] nChw16c
			  %4 y = Eltwise(%3, %2) epi=[add(%2)] : f32[N,4,4,16] nChw16c
			  %5 y_to_nhwc = Reorder(%4) : f32[N,4,4,16] nhwc
			  return %5
			weights
			  a/kernel : [1,1,16,16]
			  b/kernel : [1,1,16,16]
			  $0 = pack(a/kernel) layout=OIhw16i16o : [1,1,1,1,16,16]
			  $1 = pack(b/kernel) layout=OIhw16i16o : [1,1,1,1,16,16]
			`, `
			model "t"
			  # arena 3072 bytes per image (peak of live buffers 3072, sum of all values 7168)
			  %9 in = Input() : f32[N,4,4,16] nhwc @arena[0:1024]
			  %0 in_to_nChw16c = Reorder(%9) : f32[N,4,4,16] nChw16c @arena[1024:2048]
			  %1 a = Conv2D(%0) filters=16 k=1x1 s=1x1 pad=0,0,0,0 kernel=$0 : f32[N,4,4,16] nChw16c @arena[0:1024]
			  %2, %3 b+s+m = Conv2D(%0, %1) filters=16 k=1x1 s=1x1 pad=0,0,0,0 epi=[sigmoid,out,mul(%1)] kernel=$1 : f32[N,4,4,16] nChw16c @arena[2048:3072], f32[N,4,4,16] nChw16c @arena[0:1024]
			  %4 y = Eltwise(%3, %2) epi=[add(%2)] : f32[N,4,4,16] nChw16c @arena[0:1024]
			  %5 y_to_nhwc = Reorder(%4) : f32[N,4,4,16] nhwc @arena[1024:2048]
			  return %5
			weights
			  a/kernel : [1,1,16,16]
			  b/kernel : [1,1,16,16]
			  $0 = pack(a/kernel) layout=OIhw16i16o : [1,1,1,1,16,16]
			  $1 = pack(b/kernel) layout=OIhw16i16o : [1,1,1,1,16,16]
			`},
	})
}

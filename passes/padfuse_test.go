package passes

import (
	"testing"
)

func TestPadFuse(t *testing.T) {
	runPassTable(t, PadFuse, []passCase{
		// an asymmetric pad folds into the conv
		{"padfuse asym", `
			model "t"
			  %0 in = Input() : f32[N,6,6,3] nhwc
			  %1 p = ZeroPadding2D(%0) pad=1,2,0,3 : f32[N,9,9,3] nhwc
			  %2 c = Conv2D(%1) filters=4 k=3x3 s=2x2 pad=0,0,0,0 kernel=c/kernel : f32[N,4,4,4] nhwc
			  return %2
			weights
			  c/kernel : [3,3,3,4]
			`, `
			model "t"
			  %0 in = Input() : f32[N,6,6,3] nhwc
			  %2 p+c = Conv2D(%0) filters=4 k=3x3 s=2x2 pad=1,2,0,3 kernel=c/kernel : f32[N,4,4,4] nhwc
			  return %2
			weights
			  c/kernel : [3,3,3,4]
			`},
		// a pad folds into a dilated conv's padding as into any conv's
		{"padfuse dilated", `
			model "t"
			  %0 in = Input() : f32[N,6,7,3] nhwc
			  %1 p = ZeroPadding2D(%0) pad=2,1,0,3 : f32[N,9,10,3] nhwc
			  %2 c = Conv2D(%1) filters=4 k=3x2 s=1x2 dil=3x4 pad=1,0,0,1 kernel=c/kernel : f32[N,4,4,4] nhwc
			  return %2
			weights
			  c/kernel : [3,2,3,4]
			`, `
			model "t"
			  %0 in = Input() : f32[N,6,7,3] nhwc
			  %2 p+c = Conv2D(%0) filters=4 k=3x2 s=1x2 dil=3x4 pad=3,1,0,4 kernel=c/kernel : f32[N,4,4,4] nhwc
			  return %2
			weights
			  c/kernel : [3,2,3,4]
			`},
		// a pad with a non-zero value must not fold
		{"padfuse value", `
			model "t"
			  %0 in = Input() : f32[N,6,6,3] nhwc
			  %1 p = ZeroPadding2D(%0) pad=1,1,1,1 value=1 : f32[N,8,8,3] nhwc
			  %2 c = Conv2D(%1) filters=4 k=3x3 s=1x1 pad=0,0,0,0 kernel=c/kernel : f32[N,6,6,4] nhwc
			  return %2
			weights
			  c/kernel : [3,3,3,4]
			`, `
			model "t"
			  %0 in = Input() : f32[N,6,6,3] nhwc
			  %1 p = ZeroPadding2D(%0) pad=1,1,1,1 value=1 : f32[N,8,8,3] nhwc
			  %2 c = Conv2D(%1) filters=4 k=3x3 s=1x1 pad=0,0,0,0 kernel=c/kernel : f32[N,6,6,4] nhwc
			  return %2
			weights
			  c/kernel : [3,3,3,4]
			`},
		// a pad before a max pool keeps zero-padding semantics (padzero)
		{"padfuse pool", `
			model "t"
			  %0 in = Input() : f32[N,6,6,3] nhwc
			  %1 p = ZeroPadding2D(%0) pad=1,1,1,1 : f32[N,8,8,3] nhwc
			  %2 mp = MaxPooling2D(%1) pool=3x3 s=2x2 pad=0,0,0,0 : f32[N,3,3,3] nhwc
			  return %2
			weights
			`, `
			model "t"
			  %0 in = Input() : f32[N,6,6,3] nhwc
			  %2 p+mp = MaxPooling2D(%0) pool=3x3 s=2x2 pad=1,1,1,1 padzero=true : f32[N,3,3,3] nhwc
			  return %2
			weights
			`},
		// a pad also read by an average pool stays for it; the conv reads around it
		{"padfuse shared", `
			model "t"
			  %0 in = Input() : f32[N,6,6,3] nhwc
			  %1 p = ZeroPadding2D(%0) pad=1,1,1,1 : f32[N,8,8,3] nhwc
			  %2 c = Conv2D(%1) filters=3 k=3x3 s=1x1 pad=0,0,0,0 kernel=c/kernel : f32[N,6,6,3] nhwc
			  %3 ap = AveragePooling2D(%1) pool=3x3 s=1x1 pad=0,0,0,0 : f32[N,6,6,3] nhwc
			  %4 sum = Add(%2, %3) : f32[N,6,6,3] nhwc
			  return %4
			weights
			  c/kernel : [3,3,3,3]
			`, `
			model "t"
			  %0 in = Input() : f32[N,6,6,3] nhwc
			  %1 p = ZeroPadding2D(%0) pad=1,1,1,1 : f32[N,8,8,3] nhwc
			  %2 c = Conv2D(%0) filters=3 k=3x3 s=1x1 pad=1,1,1,1 kernel=c/kernel : f32[N,6,6,3] nhwc
			  %3 ap = AveragePooling2D(%1) pool=3x3 s=1x1 pad=0,0,0,0 : f32[N,6,6,3] nhwc
			  %4 sum = Add(%2, %3) : f32[N,6,6,3] nhwc
			  return %4
			weights
			  c/kernel : [3,3,3,3]
			`},
	})
}

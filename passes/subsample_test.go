package passes

import (
	"testing"
)

func TestSubsample(t *testing.T) {
	runPassTable(t, Subsample, []passCase{
		// MaxPooling2D(1, strides 2) before an Add becomes the Add's strided read
		{"subsample add", `
			model "t"
			  %0 in = Input() : f32[N,7,7,4] nhwc
			  %1 c = Conv2D(%0) filters=4 k=3x3 s=2x2 pad=1,1,1,1 kernel=c/kernel : f32[N,4,4,4] nhwc
			  %2 max_pooling2d = MaxPooling2D(%0) pool=1x1 s=2x2 pad=0,0,0,0 : f32[N,4,4,4] nhwc
			  %3 out = Add(%2, %1) : f32[N,4,4,4] nhwc
			  return %3
			weights
			  c/kernel : [3,3,4,4]
			`, `
			model "t"
			  %0 in = Input() : f32[N,7,7,4] nhwc
			  %1 c = Conv2D(%0) filters=4 k=3x3 s=2x2 pad=1,1,1,1 kernel=c/kernel : f32[N,4,4,4] nhwc
			  %3 max_pooling2d+out = Add(%0, %1) sub=2,1 : f32[N,4,4,4] nhwc
			  return %3
			weights
			  c/kernel : [3,3,4,4]
			`},
		// a 1x1 conv absorbs the stride; a 3x3 conv keeps the pool
		{"subsample conv", `
			model "t"
			  %0 in = Input() : f32[N,7,7,4] nhwc
			  %1 mp = MaxPooling2D(%0) pool=1x1 s=2x2 pad=0,0,0,0 : f32[N,4,4,4] nhwc
			  %2 a = Conv2D(%1) filters=4 k=1x1 s=2x2 pad=0,0,0,0 kernel=a/kernel : f32[N,2,2,4] nhwc
			  %3 b = Conv2D(%1) filters=4 k=3x3 s=1x1 pad=1,1,1,1 kernel=b/kernel : f32[N,4,4,4] nhwc
			  return %2, %3
			weights
			  a/kernel : [1,1,4,4]
			  b/kernel : [3,3,4,4]
			`, `
			model "t"
			  %0 in = Input() : f32[N,7,7,4] nhwc
			  %1 mp = MaxPooling2D(%0) pool=1x1 s=2x2 pad=0,0,0,0 : f32[N,4,4,4] nhwc
			  %2 a = Conv2D(%0) filters=4 k=1x1 s=4x4 pad=0,0,0,0 kernel=a/kernel : f32[N,2,2,4] nhwc
			  %3 b = Conv2D(%1) filters=4 k=3x3 s=1x1 pad=1,1,1,1 kernel=b/kernel : f32[N,4,4,4] nhwc
			  return %2, %3
			weights
			  a/kernel : [1,1,4,4]
			  b/kernel : [3,3,4,4]
			`},
	})
}

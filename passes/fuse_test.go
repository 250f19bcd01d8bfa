package passes

import (
	"testing"

	"github.com/rnc-dev/rnc/ir"
)

func TestFuse(t *testing.T) {
	runPassTable(t, func(g *ir.Graph) error { return Fuse(g, AVX512) }, []passCase{
		// the V2 block tail: conv + add + (raw sum stored) + next affine + relu in one op with two outputs
		{"fuse v2", `
			model "t"
			  %0 in = Input() : f32[N,4,4,8] nhwc
			  %1 c1 = Conv2D(%0) filters=8 k=3x3 s=1x1 pad=1,1,1,1 kernel=c1/kernel bias=c1/bias : f32[N,4,4,8] nhwc
			  %2 r1 = Activation(%1) fn=relu : f32[N,4,4,8] nhwc
			  %3 c3 = Conv2D(%2) filters=8 k=1x1 s=1x1 pad=0,0,0,0 kernel=c3/kernel bias=c3/bias : f32[N,4,4,8] nhwc
			  %4 out = Add(%0, %3) : f32[N,4,4,8] nhwc
			  %5 next_preact_bn = Affine(%4) scale=bn/scale shift=bn/shift : f32[N,4,4,8] nhwc
			  %6 next_preact_relu = Activation(%5) fn=relu : f32[N,4,4,8] nhwc
			  %7 next_1_conv = Conv2D(%6) filters=8 k=1x1 s=1x1 pad=0,0,0,0 kernel=n/kernel : f32[N,4,4,8] nhwc
			  %8 next_out = Add(%4, %7) : f32[N,4,4,8] nhwc
			  return %8
			weights
			  c1/kernel : [3,3,8,8]
			  c1/bias : [8]
			  c3/kernel : [1,1,8,8]
			  c3/bias : [8]
			  bn/scale : [8]
			  bn/shift : [8]
			  n/kernel : [1,1,8,8]
			`, `
			model "t"
			  %0 in = Input() : f32[N,4,4,8] nhwc
			  %2 c1+r1 = Conv2D(%0) filters=8 k=3x3 s=1x1 pad=1,1,1,1 epi=[relu] kernel=c1/kernel bias=c1/bias : f32[N,4,4,8] nhwc
			  %4, %6 c3+out+next_preact_bn+next_preact_relu = Conv2D(%2, %0) filters=8 k=1x1 s=1x1 pad=0,0,0,0 epi=[add(%0),out,affine(bn/scale,bn/shift),relu] kernel=c3/kernel bias=c3/bias : f32[N,4,4,8] nhwc, f32[N,4,4,8] nhwc
			  %8 next_1_conv+next_out = Conv2D(%6, %4) filters=8 k=1x1 s=1x1 pad=0,0,0,0 epi=[add(%4)] kernel=n/kernel : f32[N,4,4,8] nhwc
			  return %8
			weights
			  c1/kernel : [3,3,8,8]
			  c1/bias : [8]
			  c3/kernel : [1,1,8,8]
			  c3/bias : [8]
			  bn/scale : [8]
			  bn/shift : [8]
			  n/kernel : [1,1,8,8]
			`},
		// the V1 block tail: the residual conv (not the shortcut) takes add + relu; pooling + Dense + softmax become a Head
		{"fuse v1", `
			model "t"
			  %0 in = Input() : f32[N,7,7,8] nhwc
			  %1 sc = Conv2D(%0) filters=8 k=1x1 s=2x2 pad=0,0,0,0 kernel=sc/kernel bias=sc/bias : f32[N,4,4,8] nhwc
			  %2 c1 = Conv2D(%0) filters=8 k=1x1 s=2x2 pad=0,0,0,0 kernel=c1/kernel bias=c1/bias : f32[N,4,4,8] nhwc
			  %3 r = Activation(%2) fn=relu : f32[N,4,4,8] nhwc
			  %4 c3 = Conv2D(%3) filters=8 k=3x3 s=1x1 pad=1,1,1,1 kernel=c3/kernel bias=c3/bias : f32[N,4,4,8] nhwc
			  %5 add = Add(%1, %4) : f32[N,4,4,8] nhwc
			  %6 out = Activation(%5) fn=relu : f32[N,4,4,8] nhwc
			  %7 gap = GlobalAveragePooling2D(%6) : f32[N,8] nc
			  %8 d = Dense(%7) units=3 kernel=d/kernel bias=d/bias : f32[N,3] nc
			  %9 sm = Activation(%8) fn=softmax : f32[N,3] nc
			  return %9
			weights
			  sc/kernel : [1,1,8,8]
			  sc/bias : [8]
			  c1/kernel : [1,1,8,8]
			  c1/bias : [8]
			  c3/kernel : [3,3,8,8]
			  c3/bias : [8]
			  d/kernel : [8,3]
			  d/bias : [3]
			`, `
			model "t"
			  %0 in = Input() : f32[N,7,7,8] nhwc
			  %1 sc = Conv2D(%0) filters=8 k=1x1 s=2x2 pad=0,0,0,0 kernel=sc/kernel bias=sc/bias : f32[N,4,4,8] nhwc
			  %3 c1+r = Conv2D(%0) filters=8 k=1x1 s=2x2 pad=0,0,0,0 epi=[relu] kernel=c1/kernel bias=c1/bias : f32[N,4,4,8] nhwc
			  %6 c3+add+out = Conv2D(%3, %1) filters=8 k=3x3 s=1x1 pad=1,1,1,1 epi=[add(%1),relu] kernel=c3/kernel bias=c3/bias : f32[N,4,4,8] nhwc
			  %8 gap+d+sm = Head(%6) pooling=avg units=3 act=softmax kernel=d/kernel bias=d/bias : f32[N,3] nc
			  return %8
			weights
			  sc/kernel : [1,1,8,8]
			  sc/bias : [8]
			  c1/kernel : [1,1,8,8]
			  c1/bias : [8]
			  c3/kernel : [3,3,8,8]
			  c3/bias : [8]
			  d/kernel : [8,3]
			  d/bias : [3]
			`},
		// a strided shortcut read joins the conv; Multiply(x, x) of a group result starts an Eltwise
		{"fuse strided", `
			model "t"
			  %0 in = Input() : f32[N,7,7,8] nhwc
			  %1 a = Affine(%0) scale=bn/scale shift=bn/shift : f32[N,7,7,8] nhwc
			  %2 r = Activation(%1) fn=relu : f32[N,7,7,8] nhwc
			  %3 c = Conv2D(%2) filters=8 k=3x3 s=2x2 pad=1,1,1,1 kernel=c/kernel : f32[N,4,4,8] nhwc
			  %4 out = Add(%0, %3) sub=2,1 : f32[N,4,4,8] nhwc
			  %5 m = Multiply(%4, %4) : f32[N,4,4,8] nhwc
			  return %5
			weights
			  bn/scale : [8]
			  bn/shift : [8]
			  c/kernel : [3,3,8,8]
			`, `
			model "t"
			  %0 in = Input() : f32[N,7,7,8] nhwc
			  %2 a+r = Eltwise(%0) epi=[affine(bn/scale,bn/shift),relu] : f32[N,7,7,8] nhwc
			  %4 c+out = Conv2D(%2, %0) filters=8 k=3x3 s=2x2 pad=1,1,1,1 epi=[add(%0/2)] kernel=c/kernel : f32[N,4,4,8] nhwc
			  %5 m = Eltwise(%4, %4) epi=[mul(%4)] : f32[N,4,4,8] nhwc
			  return %5
			weights
			  bn/scale : [8]
			  bn/shift : [8]
			  c/kernel : [3,3,8,8]
			`},
		// exclusive gating, F·g + x·(1−g), on AVX-512: the gate conv (the latest group F·g meets) takes the sigmoid and the first product; a kernel takes one product, so the second one and the rest form an Eltwise
		{"fuse gating", `
			model "t"
			  %0 in = Input() : f32[N,6,6,8] nhwc
			  %1 f = Conv2D(%0) filters=8 k=3x3 s=1x1 pad=1,1,1,1 kernel=f/kernel bias=f/bias : f32[N,6,6,8] nhwc
			  %2 g = Conv2D(%0) filters=8 k=1x1 s=1x1 pad=0,0,0,0 kernel=g/kernel bias=g/bias : f32[N,6,6,8] nhwc
			  %3 gs = Activation(%2) fn=sigmoid : f32[N,6,6,8] nhwc
			  %4 fg = Multiply(%1, %3) : f32[N,6,6,8] nhwc
			  %5 one_minus_g = Rescaling(%3) scale=-1 offset=1 : f32[N,6,6,8] nhwc
			  %6 sg = Multiply(%0, %5) : f32[N,6,6,8] nhwc
			  %7 out = Add(%4, %6) : f32[N,6,6,8] nhwc
			  %8 r = Activation(%7) fn=relu : f32[N,6,6,8] nhwc
			  return %8
			weights
			  f/kernel : [3,3,8,8]
			  f/bias : [8]
			  g/kernel : [1,1,8,8]
			  g/bias : [8]
			`, `
			model "t"
			  %0 in = Input() : f32[N,6,6,8] nhwc
			  %1 f = Conv2D(%0) filters=8 k=3x3 s=1x1 pad=1,1,1,1 kernel=f/kernel bias=f/bias : f32[N,6,6,8] nhwc
			  %3, %4 g+gs+fg = Conv2D(%0, %1) filters=8 k=1x1 s=1x1 pad=0,0,0,0 epi=[sigmoid,out,mul(%1)] kernel=g/kernel bias=g/bias : f32[N,6,6,8] nhwc, f32[N,6,6,8] nhwc
			  %8 one_minus_g+sg+out+r = Eltwise(%3, %0, %4) epi=[scale(-1,1),mul(%0),add(%4),relu] : f32[N,6,6,8] nhwc
			  return %8
			weights
			  f/kernel : [3,3,8,8]
			  f/bias : [8]
			  g/kernel : [1,1,8,8]
			  g/bias : [8]
			`},
	})
}

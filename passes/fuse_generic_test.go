package passes

import (
	"testing"

	"github.com/rnc-dev/rnc/ir"
)

func TestFuseGeneric(t *testing.T) {
	runPassTable(t, func(g *ir.Graph) error { return Fuse(g, Generic) }, []passCase{
		// on the portable target everything fuses: the gate conv takes (1−g)·x after storing g; the F conv, earlier in the graph, then reads g: the Add must go to F, not to the gate (a cycle)
		{"fuse gating order", `
			model "t"
			  %0 in = Input() : f32[N,6,6,8] nhwc
			  %1 f = Conv2D(%0) filters=8 k=3x3 s=1x1 pad=1,1,1,1 kernel=f/kernel bias=f/bias : f32[N,6,6,8] nhwc
			  %2 g = Conv2D(%0) filters=8 k=1x1 s=1x1 pad=0,0,0,0 kernel=g/kernel bias=g/bias : f32[N,6,6,8] nhwc
			  %3 gs = Activation(%2) fn=sigmoid : f32[N,6,6,8] nhwc
			  %4 one_minus_g = Rescaling(%3) scale=-1 offset=1 : f32[N,6,6,8] nhwc
			  %5 sg = Multiply(%0, %4) : f32[N,6,6,8] nhwc
			  %6 fg = Multiply(%1, %3) : f32[N,6,6,8] nhwc
			  %7 out = Add(%5, %6) : f32[N,6,6,8] nhwc
			  return %7
			weights
			  f/kernel : [3,3,8,8]
			  f/bias : [8]
			  g/kernel : [1,1,8,8]
			  g/bias : [8]
			`, `
			model "t"
			  %0 in = Input() : f32[N,6,6,8] nhwc
			  %3, %5 g+gs+one_minus_g+sg = Conv2D(%0, %0) filters=8 k=1x1 s=1x1 pad=0,0,0,0 epi=[sigmoid,out,scale(-1,1),mul(%0)] kernel=g/kernel bias=g/bias : f32[N,6,6,8] nhwc, f32[N,6,6,8] nhwc
			  %7 f+fg+out = Conv2D(%0, %3, %5) filters=8 k=3x3 s=1x1 pad=1,1,1,1 epi=[mul(%3),add(%5)] kernel=f/kernel bias=f/bias : f32[N,6,6,8] nhwc
			  return %7
			weights
			  f/kernel : [3,3,8,8]
			  f/bias : [8]
			  g/kernel : [1,1,8,8]
			  g/bias : [8]
			`},
	})
}

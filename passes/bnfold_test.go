package passes

import (
	"testing"
)

func TestBNFold(t *testing.T) {
	runPassTable(t, BNFold, []passCase{
		// conv → BN folds into the conv: kernel·s, bias·s + t
		{"bn1", `
			model "t"
			  %0 in = Input() : f32[N,6,6,3] nhwc
			  %1 c = Conv2D(%0) filters=4 k=3x3 s=1x1 pad=1,1,1,1 kernel=c/kernel bias=c/bias : f32[N,6,6,4] nhwc
			  %2 bn = BatchNormalization(%1) eps=0.001 gamma=bn/gamma beta=bn/beta moving_mean=bn/moving_mean moving_variance=bn/moving_variance : f32[N,6,6,4] nhwc
			  %3 r = Activation(%2) fn=relu : f32[N,6,6,4] nhwc
			  return %3
			weights
			  c/kernel : [3,3,3,4]
			  c/bias : [4]
			  bn/gamma : [4]
			  bn/beta : [4]
			  bn/moving_mean : [4]
			  bn/moving_variance : [4]
			`, `
			model "t"
			  %0 in = Input() : f32[N,6,6,3] nhwc
			  %1 c+bn = Conv2D(%0) filters=4 k=3x3 s=1x1 pad=1,1,1,1 kernel=$2 bias=$3 : f32[N,6,6,4] nhwc
			  %3 r = Activation(%1) fn=relu : f32[N,6,6,4] nhwc
			  return %3
			weights
			  c/kernel : [3,3,3,4]
			  c/bias : [4]
			  bn/gamma : [4]
			  bn/beta : [4]
			  bn/moving_mean : [4]
			  bn/moving_variance : [4]
			  $0 = bnscale(bn/gamma, bn/moving_variance) eps=0.001 : [4]
			  $1 = bnshift(bn/beta, bn/moving_mean, $0) : [4]
			  $2 = scaleout(c/kernel, $0) : [3,3,3,4]
			  $3 = affine(c/bias, $0, $1) : [4]
			`},
		// a BN whose input has a second reader must not fold: it becomes an Affine
		{"bnfold 2nd", `
			model "t"
			  %0 in = Input() : f32[N,6,6,3] nhwc
			  %1 c = Conv2D(%0) filters=4 k=3x3 s=1x1 pad=1,1,1,1 kernel=c/kernel bias=c/bias : f32[N,6,6,4] nhwc
			  %2 bn = BatchNormalization(%1) eps=0.001 gamma=bn/gamma beta=bn/beta moving_mean=bn/moving_mean moving_variance=bn/moving_variance : f32[N,6,6,4] nhwc
			  %3 sum = Add(%1, %2) : f32[N,6,6,4] nhwc
			  return %3
			weights
			  c/kernel : [3,3,3,4]
			  c/bias : [4]
			  bn/gamma : [4]
			  bn/beta : [4]
			  bn/moving_mean : [4]
			  bn/moving_variance : [4]
			`, `
			model "t"
			  %0 in = Input() : f32[N,6,6,3] nhwc
			  %1 c = Conv2D(%0) filters=4 k=3x3 s=1x1 pad=1,1,1,1 kernel=c/kernel bias=c/bias : f32[N,6,6,4] nhwc
			  %2 bn = Affine(%1) scale=$0 shift=$1 : f32[N,6,6,4] nhwc
			  %3 sum = Add(%1, %2) : f32[N,6,6,4] nhwc
			  return %3
			weights
			  c/kernel : [3,3,3,4]
			  c/bias : [4]
			  bn/gamma : [4]
			  bn/beta : [4]
			  bn/moving_mean : [4]
			  bn/moving_variance : [4]
			  $0 = bnscale(bn/gamma, bn/moving_variance) eps=0.001 : [4]
			  $1 = bnshift(bn/beta, bn/moving_mean, $0) : [4]
			`},
		// a conv without bias gets the BN shift as its bias
		{"bnfold nobias", `
			model "t"
			  %0 in = Input() : f32[N,6,6,3] nhwc
			  %1 c = Conv2D(%0) filters=4 k=1x1 s=1x1 pad=0,0,0,0 kernel=c/kernel : f32[N,6,6,4] nhwc
			  %2 bn = BatchNormalization(%1) eps=0.001 gamma=bn/gamma beta=bn/beta moving_mean=bn/moving_mean moving_variance=bn/moving_variance : f32[N,6,6,4] nhwc
			  return %2
			weights
			  c/kernel : [1,1,3,4]
			  bn/gamma : [4]
			  bn/beta : [4]
			  bn/moving_mean : [4]
			  bn/moving_variance : [4]
			`, `
			model "t"
			  %0 in = Input() : f32[N,6,6,3] nhwc
			  %1 c+bn = Conv2D(%0) filters=4 k=1x1 s=1x1 pad=0,0,0,0 kernel=$2 bias=$1 : f32[N,6,6,4] nhwc
			  return %1
			weights
			  c/kernel : [1,1,3,4]
			  bn/gamma : [4]
			  bn/beta : [4]
			  bn/moving_mean : [4]
			  bn/moving_variance : [4]
			  $0 = bnscale(bn/gamma, bn/moving_variance) eps=0.001 : [4]
			  $1 = bnshift(bn/beta, bn/moving_mean, $0) : [4]
			  $2 = scaleout(c/kernel, $0) : [1,1,3,4]
			`},
		// the pre-activation BN (input also read by the shortcut, ReLU before the conv) becomes an Affine
		{"bnfold preact", `
			model "t"
			  %0 in = Input() : f32[N,6,6,4] nhwc
			  %1 bn = BatchNormalization(%0) eps=0.001 gamma=bn/gamma beta=bn/beta moving_mean=bn/moving_mean moving_variance=bn/moving_variance : f32[N,6,6,4] nhwc
			  %2 r = Activation(%1) fn=relu : f32[N,6,6,4] nhwc
			  %3 c = Conv2D(%2) filters=4 k=1x1 s=1x1 pad=0,0,0,0 kernel=c/kernel bias=c/bias : f32[N,6,6,4] nhwc
			  %4 sum = Add(%0, %3) : f32[N,6,6,4] nhwc
			  return %4
			weights
			  c/kernel : [1,1,4,4]
			  c/bias : [4]
			  bn/gamma : [4]
			  bn/beta : [4]
			  bn/moving_mean : [4]
			  bn/moving_variance : [4]
			`, `
			model "t"
			  %0 in = Input() : f32[N,6,6,4] nhwc
			  %1 bn = Affine(%0) scale=$0 shift=$1 : f32[N,6,6,4] nhwc
			  %2 r = Activation(%1) fn=relu : f32[N,6,6,4] nhwc
			  %3 c = Conv2D(%2) filters=4 k=1x1 s=1x1 pad=0,0,0,0 kernel=c/kernel bias=c/bias : f32[N,6,6,4] nhwc
			  %4 sum = Add(%0, %3) : f32[N,6,6,4] nhwc
			  return %4
			weights
			  c/kernel : [1,1,4,4]
			  c/bias : [4]
			  bn/gamma : [4]
			  bn/beta : [4]
			  bn/moving_mean : [4]
			  bn/moving_variance : [4]
			  $0 = bnscale(bn/gamma, bn/moving_variance) eps=0.001 : [4]
			  $1 = bnshift(bn/beta, bn/moving_mean, $0) : [4]
			`},
		// BN → unpadded conv folds forward: kernel rows·s, bias += kernel·t
		{"bnfold forward", `
			model "t"
			  %0 in = Input() : f32[N,6,6,4] nhwc
			  %1 bn = BatchNormalization(%0) eps=0.001 gamma=bn/gamma beta=bn/beta moving_mean=bn/moving_mean moving_variance=bn/moving_variance : f32[N,6,6,4] nhwc
			  %2 c = Conv2D(%1) filters=3 k=1x1 s=2x2 pad=0,0,0,0 kernel=c/kernel : f32[N,3,3,3] nhwc
			  return %2
			weights
			  c/kernel : [1,1,4,3]
			  bn/gamma : [4]
			  bn/beta : [4]
			  bn/moving_mean : [4]
			  bn/moving_variance : [4]
			`, `
			model "t"
			  %0 in = Input() : f32[N,6,6,4] nhwc
			  %2 bn+c = Conv2D(%0) filters=3 k=1x1 s=2x2 pad=0,0,0,0 kernel=$4 bias=$3 : f32[N,3,3,3] nhwc
			  return %2
			weights
			  c/kernel : [1,1,4,3]
			  bn/gamma : [4]
			  bn/beta : [4]
			  bn/moving_mean : [4]
			  bn/moving_variance : [4]
			  $0 = bnscale(bn/gamma, bn/moving_variance) eps=0.001 : [4]
			  $1 = bnshift(bn/beta, bn/moving_mean, $0) : [4]
			  $2 = zeros() : [3]
			  $3 = matvecadd(c/kernel, $1, $2) : [3]
			  $4 = scalein(c/kernel, $0) : [1,1,4,3]
			`},
		// BN → unpadded dilated conv folds forward too: every tap reads a pixel
		{"bnfold forward dilated", `
			model "t"
			  %0 in = Input() : f32[N,7,8,4] nhwc
			  %1 bn = BatchNormalization(%0) eps=0.001 gamma=bn/gamma beta=bn/beta moving_mean=bn/moving_mean moving_variance=bn/moving_variance : f32[N,7,8,4] nhwc
			  %2 c = Conv2D(%1) filters=3 k=3x2 s=1x2 dil=2x3 pad=0,0,0,0 kernel=c/kernel : f32[N,3,3,3] nhwc
			  return %2
			weights
			  c/kernel : [3,2,4,3]
			  bn/gamma : [4]
			  bn/beta : [4]
			  bn/moving_mean : [4]
			  bn/moving_variance : [4]
			`, `
			model "t"
			  %0 in = Input() : f32[N,7,8,4] nhwc
			  %2 bn+c = Conv2D(%0) filters=3 k=3x2 s=1x2 dil=2x3 pad=0,0,0,0 kernel=$4 bias=$3 : f32[N,3,3,3] nhwc
			  return %2
			weights
			  c/kernel : [3,2,4,3]
			  bn/gamma : [4]
			  bn/beta : [4]
			  bn/moving_mean : [4]
			  bn/moving_variance : [4]
			  $0 = bnscale(bn/gamma, bn/moving_variance) eps=0.001 : [4]
			  $1 = bnshift(bn/beta, bn/moving_mean, $0) : [4]
			  $2 = zeros() : [3]
			  $3 = matvecadd(c/kernel, $1, $2) : [3]
			  $4 = scalein(c/kernel, $0) : [3,2,4,3]
			`},
		// BN → padded conv does not fold forward (a padded zero would see the shift)
		{"bnfold forward padded", `
			model "t"
			  %0 in = Input() : f32[N,6,6,4] nhwc
			  %1 bn = BatchNormalization(%0) eps=0.001 gamma=bn/gamma beta=bn/beta moving_mean=bn/moving_mean moving_variance=bn/moving_variance : f32[N,6,6,4] nhwc
			  %2 c = Conv2D(%1) filters=3 k=3x3 s=1x1 pad=1,1,1,1 kernel=c/kernel : f32[N,6,6,3] nhwc
			  return %2
			weights
			  c/kernel : [3,3,4,3]
			  bn/gamma : [4]
			  bn/beta : [4]
			  bn/moving_mean : [4]
			  bn/moving_variance : [4]
			`, `
			model "t"
			  %0 in = Input() : f32[N,6,6,4] nhwc
			  %1 bn = Affine(%0) scale=$0 shift=$1 : f32[N,6,6,4] nhwc
			  %2 c = Conv2D(%1) filters=3 k=3x3 s=1x1 pad=1,1,1,1 kernel=c/kernel : f32[N,6,6,3] nhwc
			  return %2
			weights
			  c/kernel : [3,3,4,3]
			  bn/gamma : [4]
			  bn/beta : [4]
			  bn/moving_mean : [4]
			  bn/moving_variance : [4]
			  $0 = bnscale(bn/gamma, bn/moving_variance) eps=0.001 : [4]
			  $1 = bnshift(bn/beta, bn/moving_mean, $0) : [4]
			`},
		// Dense → BN folds like a conv
		{"bnfold dense", `
			model "t"
			  %0 in = Input() : f32[N,2,2,3] nhwc
			  %1 f = Flatten(%0) : f32[N,12] nc
			  %2 d = Dense(%1) units=4 kernel=d/kernel bias=d/bias : f32[N,4] nc
			  %3 bn = BatchNormalization(%2) eps=0.001 gamma=bn/gamma beta=bn/beta moving_mean=bn/moving_mean moving_variance=bn/moving_variance : f32[N,4] nc
			  return %3
			weights
			  d/kernel : [12,4]
			  d/bias : [4]
			  bn/gamma : [4]
			  bn/beta : [4]
			  bn/moving_mean : [4]
			  bn/moving_variance : [4]
			`, `
			model "t"
			  %0 in = Input() : f32[N,2,2,3] nhwc
			  %1 f = Flatten(%0) : f32[N,12] nc
			  %2 d+bn = Dense(%1) units=4 kernel=$2 bias=$3 : f32[N,4] nc
			  return %2
			weights
			  d/kernel : [12,4]
			  d/bias : [4]
			  bn/gamma : [4]
			  bn/beta : [4]
			  bn/moving_mean : [4]
			  bn/moving_variance : [4]
			  $0 = bnscale(bn/gamma, bn/moving_variance) eps=0.001 : [4]
			  $1 = bnshift(bn/beta, bn/moving_mean, $0) : [4]
			  $2 = scaleout(d/kernel, $0) : [12,4]
			  $3 = affine(d/bias, $0, $1) : [4]
			`},
	})
}

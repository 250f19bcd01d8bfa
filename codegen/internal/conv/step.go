// Package conv holds the blocked convolution spec, epilogue steps and pure-Go reference shared by the direct-convolution generators.
package conv

import (
	"fmt"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// StepKind is one operation of a kernel epilogue: a kind of the one
// epilogue vocabulary (package abi) the IR, the passes and the runtime
// spell too. The steps are applied, in list order, to the fp32
// accumulator of every output element (oc, oh, ow) before and between the
// stores.
type StepKind = abi.Op

// The epilogue steps, under the kernels' names.
const (
	// Bias adds bias[oc].
	Bias = abi.Bias
	// Relu replaces x by max(x, 0).
	Relu = abi.Relu
	// AddResidual adds res[oc, oh*ResStride, ow*ResStride] (blocked like
	// the output, with spatial size Spec.ResH × Spec.ResW).
	AddResidual = abi.Add
	// Store stores x to output Step.Out (0: out0, 1: out1; blocked, OH×OW).
	Store = abi.Out
	// Affine replaces x by x*scale[oc] + shift[oc].
	Affine = abi.Affine
	// Sigmoid replaces x by 1/(1+exp(−x)) (a degree-6 polynomial after
	// range reduction: relative error < 3e-7 for |x| ≤ 87; beyond, x is
	// clamped to ±87, which changes the result by less than 2e-38).
	Sigmoid = abi.Sigmoid
	// Mul multiplies x by mul[oc, oh, ow] (blocked like the output, same
	// size: gating).
	Mul = abi.Mul
	// Scale replaces x by x*Step.A + Step.B (constants of the kernel).
	Scale = abi.Scale
)

// Step is one epilogue step. ResStride (1 or 2) is used by AddResidual only;
// 0 means 1. A and B are Scale's constants; Out is the output a Store
// writes (0 or 1).
type Step struct {
	Kind      StepKind
	ResStride int
	A, B      float32
	Out       int
}

// String names the step as kernel comments and kernel keys do: "res/2",
// "store1", "scale(-1,1)".
func (s Step) String() string {
	switch {
	case s.Kind == AddResidual && s.ResStride > 1:
		return fmt.Sprintf("res/%d", s.ResStride)
	case s.Kind == AddResidual:
		return "res"
	case s.Kind == Store:
		return fmt.Sprintf("store%d", s.Out)
	case s.Kind == Scale:
		return fmt.Sprintf("scale(%g,%g)", s.A, s.B)
	}
	return s.Kind.String()
}

// Steps is a convenience constructor: Steps(Bias, Relu, Store). The
// stores write out0, then out1, in order; AddResidual steps get ResStride
// 1 (set it explicitly for stride 2).
func Steps(kinds ...StepKind) []Step {
	s := make([]Step, len(kinds))
	stores := 0
	for i, k := range kinds {
		s[i] = Step{Kind: k, ResStride: 1}
		if k == Store {
			s[i].Out = stores
			stores++
		}
	}
	return s
}

// Stores1 reports whether the epilogue stores to out1.
func Stores1(epi []Step) bool {
	for _, st := range epi {
		if st.Kind == Store && st.Out == 1 {
			return true
		}
	}
	return false
}

// ResDims returns the residual tensor's spatial size and stride for an
// epilogue of an oh×ow output whose residual is resH×resW (0: oh*rs,
// ow*rs), rs the AddResidual step's stride.
func ResDims(epi []Step, resH, resW, oh, ow int) (rh, rw, rs int) {
	rs = 1
	for _, st := range epi {
		if st.Kind == AddResidual && st.ResStride > 1 {
			rs = st.ResStride
		}
	}
	rh, rw = resH, resW
	if rh == 0 {
		rh = oh * rs
	}
	if rw == 0 {
		rw = ow * rs
	}
	return
}

// Has reports whether the epilogue has a step of kind k.
func Has(epi []Step, k StepKind) bool {
	for _, st := range epi {
		if st.Kind == k {
			return true
		}
	}
	return false
}

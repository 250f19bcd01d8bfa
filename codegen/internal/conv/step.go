// Package conv holds the blocked convolution spec, epilogue steps and pure-Go reference shared by the direct-convolution generators.
package conv

import "fmt"

// StepKind is one operation of a kernel epilogue.
type StepKind int

// The epilogue steps. They are applied, in list order, to the fp32
// accumulator of every output element (oc, oh, ow) before and between the
// stores.
const (
	// Bias adds bias[oc].
	Bias StepKind = iota
	// Relu replaces x by max(x, 0).
	Relu
	// AddResidual adds res[oc, oh*ResStride, ow*ResStride] (blocked like
	// the output, with spatial size Spec.ResH × Spec.ResW).
	AddResidual
	// Store0 stores x to out0 (blocked, OH×OW).
	Store0
	// Affine replaces x by x*scale[oc] + shift[oc].
	Affine
	// Store1 stores x to out1 (blocked, OH×OW).
	Store1
	// Sigmoid replaces x by 1/(1+exp(−x)) (a degree-6 polynomial after
	// range reduction: relative error < 3e-7 for |x| ≤ 87; beyond, x is
	// clamped to ±87, which changes the result by less than 2e-38).
	Sigmoid
	// Mul multiplies x by mul[oc, oh, ow] (blocked like the output, same
	// size: gating).
	Mul
	// Scale replaces x by x*Step.A + Step.B (constants of the kernel).
	Scale
)

func (k StepKind) String() string {
	switch k {
	case Bias:
		return "bias"
	case Relu:
		return "relu"
	case AddResidual:
		return "res"
	case Store0:
		return "store0"
	case Affine:
		return "affine"
	case Store1:
		return "store1"
	case Sigmoid:
		return "sigmoid"
	case Mul:
		return "mul"
	case Scale:
		return "scale"
	}
	return fmt.Sprintf("StepKind(%d)", int(k))
}

// Step is one epilogue step. ResStride (1 or 2) is used by AddResidual only;
// 0 means 1. A and B are Scale's constants.
type Step struct {
	Kind      StepKind
	ResStride int
	A, B      float32
}

func (s Step) String() string {
	switch {
	case s.Kind == AddResidual && s.ResStride > 1:
		return fmt.Sprintf("res/%d", s.ResStride)
	case s.Kind == Scale:
		return fmt.Sprintf("scale(%g,%g)", s.A, s.B)
	}
	return s.Kind.String()
}

// Steps is a convenience constructor: Steps(Bias, Relu, Store0).
// AddResidual steps get ResStride 1; set it explicitly for stride 2.
func Steps(kinds ...StepKind) []Step {
	s := make([]Step, len(kinds))
	for i, k := range kinds {
		s[i] = Step{Kind: k, ResStride: 1}
	}
	return s
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

package codegen

import (
	"fmt"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/internal/randmodel"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/abi"
)

// capStep is one epilogue step of the enumeration: a kind and, for Add
// and Mul, a stride.
type capStep struct {
	kind abi.Op
	sub  int
}

// allCapSteps is every IR epilogue step shape: each kind (Bias is a conv's
// parameter, never an IR step), Add and Mul at strides 1 to 3.
func allCapSteps() []capStep {
	var out []capStep
	for _, k := range abi.Ops() {
		switch {
		case k == abi.Bias:
		case k.Operand():
			for sub := 1; sub <= 3; sub++ {
				out = append(out, capStep{k, sub})
			}
		default:
			out = append(out, capStep{k, 1})
		}
	}
	return out
}

// capsStep builds a plan step of kind kind (conv, pool or eltwise) on a
// 6×6×24 map of the target's layout whose epilogue is epi, with every
// operand well formed: in the output's layout, twice its size for a
// strided read.
func capsStep(kind runtime.OpKind, block int, epi []capStep) *runtime.Step {
	x := runtime.Buf{Off: 0, H: 6, W: 6, C: 24, Block: block}
	out := x
	out.Off = 100000
	s := &runtime.Step{Name: "s", Kind: kind, In: []runtime.Buf{x}, Out: []runtime.Buf{out}, Kernel: 0, Bias: 1, WBlock: block,
		KH: 3, KW: 3, SH: 1, SW: 1, Pad: [4]int{1, 1, 1, 1}, Sub0: 1, Max: true}
	off := 200000
	for _, st := range epi {
		e := runtime.Epi{Op: st.kind, Sub: st.sub, Scale: -1, Shift: -1}
		switch st.kind {
		case abi.Add, abi.Mul:
			r := runtime.Buf{Off: off, H: 6 * st.sub, W: 6 * st.sub, C: 24, Block: block}
			off += 100000
			e.Arg = len(s.In)
			s.In = append(s.In, r)
		case abi.Affine:
			e.Scale, e.Shift = 2, 3
		case abi.Scale:
			e.Mul, e.Add = 2, 1
		case abi.Out:
			o := out
			o.Off = off
			off += 100000
			s.Out = append([]runtime.Buf{o}, s.Out...)
		}
		s.Epi = append(s.Epi, e)
	}
	return s
}

// TestCapsAgree: for every epilogue of up to four steps (every kind, Add
// and Mul at strides 1–3), on every target, the fuse pass's verdict
// (passes.KernelEpilogue, from abi's capability table) and the code
// generator's (it translates the epilogue for the kernel) agree, for the
// convolution and for the pooling and elementwise kernels: every epilogue
// fuse produces is one a kernel accepts, and fuse refuses exactly what no
// kernel takes.
func TestCapsAgree(t *testing.T) {
	steps := allCapSteps()
	heads := []struct {
		ir   ir.Kind
		plan runtime.OpKind
	}{{ir.Conv2D, runtime.OpConv}, {ir.MaxPool, runtime.OpPool}, {ir.Eltwise, runtime.OpEltwise}}
	checked, accepted := 0, 0
	var epi []capStep
	var walk func(depth int)
	walk = func(depth int) {
		for _, target := range passes.AsmTargets() {
			for _, h := range heads {
				irEpi := make([]ir.Step, len(epi))
				for i, st := range epi {
					irEpi[i] = ir.Step{Kind: st.kind, Sub: st.sub}
				}
				fuse := passes.KernelEpilogue(target, h.ir, irEpi)
				s := capsStep(h.plan, target.Block(), epi)
				var gen bool
				if h.plan == runtime.OpConv {
					_, _, _, _, gen = convEpilogue(s, target.Block())
				} else {
					_, gen = mapEpi(s)
				}
				checked++
				if fuse {
					accepted++
				}
				if fuse != gen {
					t.Errorf("%s %v epilogue %v: fuse says %v, the generator %v", target, h.ir, fmt.Sprint(epi), fuse, gen)
				}
			}
		}
		if depth == 4 {
			return
		}
		for _, st := range steps {
			epi = append(epi, st)
			walk(depth + 1)
			epi = epi[:len(epi)-1]
		}
	}
	walk(0)
	if accepted == 0 || accepted == checked {
		t.Fatalf("%d of %d epilogues accepted: the enumeration does not exercise the table", accepted, checked)
	}
	t.Logf("%d epilogues checked, %d accepted", checked, accepted)
}

// TestFusedEpiloguesCompile: on the models and random models, every conv,
// pooling and elementwise step whose epilogue fuse judged a kernel's
// (KernelEpilogue) gets a compiled kernel from the generator whenever the
// same step without its epilogue does (shapes the kernels do not take —
// a dilation, stride 3, padding wider than the kernel — send a step to Go
// whatever its epilogue).
func TestFusedEpiloguesCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("lowers many models")
	}
	var graphs []func() *ir.Graph
	for _, name := range []string{"tinyv2", "tinyv1", "stemv2", "resnet50v2"} {
		graphs = append(graphs, func() *ir.Graph { return loadModel(t, name, nil) })
	}
	for seed := uint64(1); seed <= 40; seed++ {
		m := randmodel.New(seed)
		graphs = append(graphs, func() *ir.Graph {
			g, err := dsl.Load(m.Name+".rn", dsl.Options{ReadFile: func(string) ([]byte, error) { return []byte(m.Source), nil }})
			if err != nil {
				t.Fatal(err)
			}
			return g
		})
	}
	compiles := func(target passes.Target, s *runtime.Step) bool {
		var ok bool
		switch {
		case s.Kind == runtime.OpConv && s.Winograd:
			_, _, _, ok = winogradKernel(target, s)
		case s.Kind == runtime.OpConv:
			_, _, _, ok = convKernel(target, s)
		default:
			_, _, ok = simdKernel(target, s)
		}
		return ok
	}
	n := 0
	for _, target := range passes.AsmTargets() {
		for _, load := range graphs {
			g := load()
			if err := passes.Run(g, passes.Config{Target: target}); err != nil {
				t.Fatal(err)
			}
			l, err := lower(g, string(target))
			if err != nil {
				t.Fatal(err)
			}
			for i := range l.plan.Steps {
				s, op := &l.plan.Steps[i], l.ops[i]
				if !passes.KernelEpilogue(target, op.Kind, op.Attrs.Epi) {
					continue
				}
				if s.Kind != runtime.OpConv && s.Kind != runtime.OpPool && s.Kind != runtime.OpEltwise {
					continue
				}
				bare := *s
				bare.Epi, bare.In, bare.Out = nil, s.In[:1], s.Out[len(s.Out)-1:]
				if !compiles(target, &bare) {
					continue
				}
				ok := compiles(target, s)
				n++
				if !ok {
					t.Errorf("%s: step %s (%v, epilogue %v): fuse judged its epilogue a kernel's, the generator emits none", target, s.Name, s.Kind, op.Attrs.Epi)
				}
			}
		}
	}
	if n < 100 {
		t.Errorf("only %d steps checked", n)
	}
	t.Logf("%d fused steps checked", n)
}

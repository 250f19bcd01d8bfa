package emit

import (
	"fmt"
	"math"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Consts is one kernel's table of float32 constants in read-only data:
// each constant fills a whole vector (VB bytes), so every instruction can
// take it as a memory operand. Get registers a constant; Emit writes the
// table (once the kernel's function is complete).
type Consts struct {
	name string
	vb   int
	idx  map[string]int // a vector's lanes (bit patterns), as a key
	vals [][]uint32
}

// NewConsts starts the table of the kernel kernel (its static symbol is
// kernel_c<>) for vectors of vb bytes (32 or 64).
func NewConsts(kernel string, vb int) *Consts {
	return &Consts{name: kernel + "_c", vb: vb, idx: map[string]int{}}
}

// Get returns the vector of f (by bit pattern) in every lane, adding it to
// the table.
func (k *Consts) Get(f float32) operand.Mem {
	v := make([]uint32, k.vb/4)
	for i := range v {
		v[i] = math.Float32bits(f)
	}
	return k.GetVec(v)
}

// GetVec returns the vector of the 32-bit lanes v (vb/4 of them: a
// generator bug otherwise), adding it to the table.
func (k *Consts) GetVec(v []uint32) operand.Mem {
	if len(v) != k.vb/4 {
		Bugf("emit: a constant of %d lanes in a table of %d-byte vectors", len(v), k.vb)
	}
	key := fmt.Sprint(v)
	i, ok := k.idx[key]
	if !ok {
		i = len(k.vals)
		k.idx[key] = i
		k.vals = append(k.vals, append([]uint32(nil), v...))
	}
	return operand.NewDataAddr(operand.NewStaticSymbol(k.name), i*k.vb)
}

// Emit writes the table into c as a static read-only global (nothing when
// no constant was used). Call it outside a function's body, once.
func (k *Consts) Emit(c *build.Context) {
	if len(k.vals) == 0 {
		return
	}
	c.StaticGlobal(k.name)
	c.DataAttributes(attr.RODATA | attr.NOPTR)
	for i, v := range k.vals {
		for l, u := range v {
			c.AddDatum(i*k.vb+4*l, operand.U32(u))
		}
	}
}

// The sigmoid's constants: inputs are clamped to [−88, 87], so that 2^n
// stays a normal number on both paths (n ≤ 127 at −88); exp(r) on
// |r| ≤ ln2/2 is its Taylor polynomial of degree 6 (relative error
// < 1.3e-7). Results below sigmoidFlush (sigmoid(−87) ≈ 1.64e-38, so only
// inputs below about −87.5) are flushed to 0: sigmoid(−Inf) is 0 exactly,
// as the interpreter's, so that a product with an infinity stays NaN
// (−Inf · sigmoid(−Inf) = −Inf · 0) as in the interpreter.
const (
	sigmoidClamp    = 87
	sigmoidClampLow = -88
	sigmoidFlush    = 1e-38
)

var (
	ln2Hi = float32(0.693359375) // exact in 9 bits: n*ln2Hi is exact
	ln2Lo = float32(math.Ln2 - 0.693359375)
)

// Sigmoid emits x = 1/(1+exp(−x)) on vector register x with scratch
// registers n and p (constants from k; AVX-512 when avx512, else
// AVX2+FMA). With s = x (clamped) and n = round(−s·log2 e):
// exp(−s) = 2^n · exp(−(s + n·ln2)), the second factor a polynomial.
// NaN gives NaN (the clamps keep it: MINPS and MAXPS return their second
// source, x, when either is NaN; every later step propagates it); +Inf
// gives 1 and −Inf 0; results are within 2e-38 of the true value beyond
// the clamps. On AVX-512 it uses mask register K1.
func Sigmoid(c *build.Context, k *Consts, x, n, p reg.VecPhysical, avx512 bool) {
	c.VMOVUPS(k.Get(sigmoidClampLow), p)
	c.VMAXPS(x, p, x)
	c.VMOVUPS(k.Get(sigmoidClamp), p)
	c.VMINPS(x, p, x)
	c.VMULPS(k.Get(-math.Log2E), x, n)
	if avx512 {
		c.VRNDSCALEPS(operand.U8(0), n, n) // round to nearest even
	} else {
		c.VROUNDPS(operand.U8(0), n, n)
	}
	// x = s + n·ln2 = −r, in two steps (Cody–Waite).
	c.VFMADD231PS(k.Get(ln2Hi), n, x)
	c.VFMADD231PS(k.Get(ln2Lo), n, x)
	// p = Σ (−x)^i / i!, Horner from i = 6 down to 0.
	fact := 1.0
	coef := make([]float32, 7)
	for i := range coef {
		if i > 0 {
			fact *= float64(i)
		}
		coef[i] = float32(math.Pow(-1, float64(i)) / fact)
	}
	c.VMOVUPS(k.Get(coef[6]), p)
	for i := 5; i >= 0; i-- {
		c.VFMADD213PS(k.Get(coef[i]), x, p) // p = p·x + coef[i]
	}
	// p = 2^n · p.
	if avx512 {
		c.VSCALEFPS(n, p, p)
	} else {
		c.VCVTPS2DQ(n, n)
		c.VPSLLD(operand.U8(23), n, n)
		c.VPADDD(n, p, p)
	}
	c.VADDPS(k.Get(1), p, p)
	c.VMOVUPS(k.Get(1), x)
	c.VDIVPS(p, x, x) // x = 1/p
	// Flush the results of clamped inputs to 0: keep x where !(x ≤ flush)
	// (predicate NLE_US: NaN compares true, so NaN stays).
	if avx512 {
		c.VCMPPS(operand.U8(6), k.Get(sigmoidFlush), x, reg.K1)
		c.VMOVAPS_Z(x, reg.K1, x)
	} else {
		c.VCMPPS(operand.U8(6), k.Get(sigmoidFlush), x, n)
		c.VANDPS(n, x, x)
	}
}

// Scale emits x = x·a + b (constants from k).
func Scale(c *build.Context, k *Consts, x reg.VecPhysical, a, b float32) {
	c.VMULPS(k.Get(a), x, x)
	c.VADDPS(k.Get(b), x, x)
}

package emit

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/reg"
)

// The generators assign vector registers by hand (avo's allocator is too
// slow for kernels of this size). A Phase makes that assignment checked:
// each part of a kernel (a register tile's accumulation, its epilogue, a
// transform) claims its vector registers by role, and
//   - Claim fails if a register already has another role in the phase (an
//     accumulator that is also a sigmoid scratch register: two values in
//     one register);
//   - End fails if an instruction emitted since Begin names a vector
//     register no role claimed, or writes a constant role's register other
//     than to initialise it.
// A failure panics with a Bug, which Catch turns into the generator's
// error: a wrong kernel is never emitted.

// Bug is a generator invariant broken while emitting a kernel.
type Bug struct{ Msg string }

func (b Bug) Error() string { return b.Msg }

// Catch recovers a Bug panic into *err (deferred at a generator's entry
// point); other panics go on.
func Catch(err *error) {
	if r := recover(); r != nil {
		b, ok := r.(Bug)
		if !ok {
			panic(r)
		}
		*err = b
	}
}

// Bugf panics with a Bug.
func Bugf(format string, a ...any) { panic(Bug{fmt.Sprintf(format, a...)}) }

// Phase is the register assignment of one part of a kernel.
type Phase struct {
	pkg, name string
	fn        *ir.Function
	start     int
	role      map[regKey]string
	constant  map[regKey]bool
	order     []regKey
	failed    bool // a Claim failed: End (deferred) adds nothing
}

// regKey identifies a physical register whatever its width (X3, Y3 and Z3
// are one register).
type regKey struct {
	kind reg.Kind
	idx  reg.Index
}

func key(r reg.Physical) regKey { return regKey{r.Kind(), r.PhysicalIndex()} }

func (k regKey) String() string { return fmt.Sprintf("V%d", k.idx) } // only vector registers are claimed

// Current returns the function being emitted into c (the last one begun).
func Current(c *build.Context) *ir.Function {
	f, _ := c.Result()
	for i := len(f.Sections) - 1; i >= 0; i-- {
		if fn, ok := f.Sections[i].(*ir.Function); ok {
			return fn
		}
	}
	Bugf("emit: no active function")
	return nil
}

// Begin starts the phase what (e.g. "tile 4x3"; "" for the whole
// function) of fn, the function being emitted (Current); failures name the
// generator pkg, the function and the phase.
func Begin(fn *ir.Function, pkg, what string) *Phase {
	name := fn.Name
	if what != "" {
		name += ": " + what
	}
	return &Phase{pkg: pkg, name: name, fn: fn, start: len(fn.Nodes), role: map[regKey]string{}, constant: map[regKey]bool{}}
}

// Claim gives the vector registers regs the role (e.g. "accumulator 2,5"
// or "broadcast"); a register may be claimed twice only for the same role.
func (p *Phase) Claim(role string, regs ...reg.VecPhysical) { p.claim(role, false, regs) }

// ClaimConst is Claim for registers holding a constant through the phase
// (zero, a scale): instructions may write them only to initialise them
// (with no vector register input other than themselves).
func (p *Phase) ClaimConst(role string, regs ...reg.VecPhysical) { p.claim(role, true, regs) }

func (p *Phase) claim(role string, constant bool, regs []reg.VecPhysical) {
	for _, r := range regs {
		k := key(r)
		if old, ok := p.role[k]; ok {
			if old != role {
				p.failed = true
				Bugf("%s: %s: register %s is both %s and %s", p.pkg, p.name, r.Asm(), old, role)
			}
			continue
		}
		p.role[k] = role
		p.constant[k] = constant
		p.order = append(p.order, k)
	}
}

// End checks the instructions emitted since Begin against the claims.
func (p *Phase) End() {
	if p.failed {
		return
	}
	p.failed = true // a failure below, or a second End, reports once
	for _, n := range p.fn.Nodes[p.start:] {
		in, ok := n.(*ir.Instruction)
		if !ok {
			continue
		}
		for _, r := range in.Registers() {
			pr, ok := r.(reg.Physical)
			if !ok || pr.Kind() != reg.KindVector {
				continue
			}
			if _, ok := p.role[key(pr)]; !ok {
				Bugf("%s: %s: %s uses %s, which has no role (roles: %s)", p.pkg, p.name, in.Opcode, pr.Asm(), p.roles())
			}
		}
		for _, r := range in.OutputRegisters() {
			pr, ok := r.(reg.Physical)
			if !ok || pr.Kind() != reg.KindVector || !p.constant[key(pr)] {
				continue
			}
			for _, ir := range in.InputRegisters() {
				if q, ok := ir.(reg.Physical); ok && q.Kind() == reg.KindVector && key(q) != key(pr) {
					Bugf("%s: %s: %s overwrites %s (%s) with a computed value", p.pkg, p.name, in.Opcode, pr.Asm(), p.role[key(pr)])
				}
			}
		}
	}
}

func (p *Phase) roles() string {
	by := map[string][]string{}
	var names []string
	for _, k := range p.order {
		r := p.role[k]
		if _, ok := by[r]; !ok {
			names = append(names, r)
		}
		by[r] = append(by[r], k.String())
	}
	sort.Strings(names)
	var s []string
	for _, n := range names {
		s = append(s, n+": "+strings.Join(by[n], " "))
	}
	return strings.Join(s, "; ")
}

package passes

import (
	"sort"

	"github.com/rnc-dev/rnc/ir"
)

// align is the arena's alignment: a cache line, and one zmm register.
const align = 64

// MemPlan places every value in one activation arena, by liveness:
//  1. values that may share memory are merged — an elementwise op (or an
//     epilogue's unstrided operand) writes its output over an input of the
//     same size that it is the last reader of (in place);
//  2. the merged buffers are placed largest first (ties: earliest first),
//     each at the lowest 64-byte-aligned offset that does not overlap a
//     placed buffer live at the same time (greedy by size, as TVM's USMP
//     greedy_by_size and XNNPACK's planner).
//
// Offsets and sizes are per image; for a batch of n images the generated
// code multiplies them by n. ir.Verify checks the result.
func MemPlan(g *ir.Graph) error {
	def, last := ir.Liveness(g)
	// Union-find over values that share a buffer.
	parent := map[*ir.Value]*ir.Value{}
	var find func(v *ir.Value) *ir.Value
	find = func(v *ir.Value) *ir.Value {
		for parent[v] != nil {
			v = parent[v]
		}
		return v
	}
	type buffer struct {
		vals        []*ir.Value
		size        int64
		first, last int
	}
	bufs := map[*ir.Value]*buffer{}
	var order []*ir.Value // values in definition order
	for _, op := range g.Ops {
		for _, o := range op.Outputs {
			order = append(order, o)
			bufs[o] = &buffer{vals: []*ir.Value{o}, size: roundUp(o.Type.Bytes()), first: def[o], last: last[o]}
		}
	}
	for _, op := range g.Ops {
		taken := map[*ir.Value]bool{}
		for k, o := range op.Outputs {
			for _, in := range op.Inputs {
				r := find(in)
				b := bufs[r]
				if taken[r] || b.last != def[o] || g.IsOutput(in) || b.size != roundUp(o.Type.Bytes()) || !allInPlace(op, in, k) {
					continue
				}
				// o takes over in's buffer.
				ob := bufs[o]
				parent[o] = r
				b.vals = append(b.vals, ob.vals...)
				b.last = max(b.last, ob.last)
				delete(bufs, o)
				taken[r] = true
				break
			}
		}
	}
	var list []*buffer
	for _, v := range order {
		if b, ok := bufs[v]; ok {
			list = append(list, b)
		}
	}
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].size != list[j].size {
			return list[i].size > list[j].size
		}
		return list[i].first < list[j].first
	})
	type placed struct {
		off, end    int64
		first, last int
	}
	var done []placed
	for _, b := range list {
		var conflicts []placed
		for _, p := range done {
			if p.first <= b.last && b.first <= p.last {
				conflicts = append(conflicts, p)
			}
		}
		sort.Slice(conflicts, func(i, j int) bool { return conflicts[i].off < conflicts[j].off })
		off := int64(0)
		for _, p := range conflicts {
			if off+b.size <= p.off {
				break
			}
			off = max(off, p.end)
		}
		done = append(done, placed{off, off + b.size, b.first, b.last})
		for _, v := range b.vals {
			v.Mem = ir.Mem{Offset: off, Size: b.size}
		}
	}
	return nil
}

func roundUp(n int64) int64 { return (n + align - 1) / align * align }

// allInPlace reports whether every read of in by op allows writing op's
// output number out over it.
func allInPlace(op *ir.Op, in *ir.Value, out int) bool {
	for i, x := range op.Inputs {
		if x == in && !ir.InPlace(op, i, out) {
			return false
		}
	}
	return true
}

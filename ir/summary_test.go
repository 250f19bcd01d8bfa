package ir_test

import (
	"math"
	"testing"

	"github.com/rnc-dev/rnc/ir"
)

// TestCountWide: Count sums in int64 and saturates, so a graph of more than
// 2^31 parameters (which a 32-bit int would wrap below the command line's
// limit) counts in full, and one beyond int64 counts as math.MaxInt64.
func TestCountWide(t *testing.T) {
	bn := func(c int) *ir.Op {
		op := &ir.Op{Kind: ir.BatchNorm, Params: map[string]*ir.Weight{}}
		for _, r := range []string{"gamma", "beta", "moving_mean", "moving_variance"} {
			op.Params[r] = &ir.Weight{Name: r, Op: ir.WLoad, Shape: []int{c}}
		}
		return op
	}
	g := &ir.Graph{Ops: []*ir.Op{bn(1 << 30), bn(1 << 30)}}
	c := ir.Count(g)
	if c.Params != 8<<30 || c.Trainable != 4<<30 {
		t.Errorf("two batch norms of 2^30 channels: %d parameters, %d trainable; want %d, %d", c.Params, c.Trainable, int64(8<<30), int64(4<<30))
	}
	op := bn(1)
	op.Params["gamma"].Shape = []int{1 << 30, 1 << 30, 1 << 30}
	g = &ir.Graph{Ops: []*ir.Op{op, bn(1)}}
	if c := ir.Count(g); c.Params != math.MaxInt64 {
		t.Errorf("a gamma of 2^90 elements: %d parameters, want math.MaxInt64", c.Params)
	}
}

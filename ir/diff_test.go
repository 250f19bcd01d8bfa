package ir_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rnc-dev/rnc/ir"
)

// rowString is a row as "mark A-names B-names [changes]", the block
// prefix left out.
func rowString(r ir.DiffRow, block string) string {
	name := func(op *ir.Op) string {
		if op == nil {
			return "."
		}
		return strings.ReplaceAll(op.Name(), block, "")
	}
	s := fmt.Sprintf("%c %s %s", r.Mark, name(r.A), name(r.B))
	if len(r.Changes) > 0 {
		s += " [" + strings.Join(r.Changes, ",") + "]"
	}
	return s
}

// TestAlignPreact: the original and the pre-activation bottleneck block are
// aligned by role, not by position: the pre-activation ops are added, the
// batch norms after the shortcut and last convs removed, the convs paired
// with what differs (their input, their bias, the 3x3's padding), the sum
// paired with the sum though Keras names it _add in one and _out in the
// other.
func TestAlignPreact(t *testing.T) {
	const block = "conv2_block1"
	d, err := ir.AlignOps(loadModel(t, "resnet50"), loadModel(t, "resnet50v2"), block)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range d.Rows {
		got = append(got, rowString(r, block))
	}
	want := []string{
		"+ . _preact_bn",
		"+ . _preact_relu",
		"~ _0_conv _0_conv [inputs]",
		"- _0_bn .",
		"~ _1_conv _1_conv [inputs,bias]",
		"| _1_bn _1_bn",
		"| _1_relu _1_relu",
		"+ . _2_pad",
		"~ _2_conv _2_conv [inputs,pad,bias]",
		"| _2_bn _2_bn",
		"| _2_relu _2_relu",
		"| _3_conv _3_conv",
		"- _3_bn .",
		"~ _add _out [names,inputs]",
		"- _out .",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("alignment (-want +got):\n%s", diff)
	}
}

// TestAlignSelf: a whole model aligned with itself (loaded twice) pairs
// every op with its twin, unchanged.
func TestAlignSelf(t *testing.T) {
	for _, m := range []string{"resnet50", "tinyv2"} {
		a, b := loadModel(t, m), loadModel(t, m)
		d, err := ir.AlignOps(a, b, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Rows) != len(a.Ops) {
			t.Fatalf("%s: %d rows for %d ops", m, len(d.Rows), len(a.Ops))
		}
		for i, r := range d.Rows {
			if r.Mark != ir.DiffSame || r.A != a.Ops[i] || r.B != b.Ops[i] {
				t.Fatalf("%s: row %d is %s", m, i, rowString(r, ""))
			}
		}
	}
}

// TestDiffWidth: every line of a diff fits the width it is given, and
// rejoining an op's lines gives its text.
func TestDiffWidth(t *testing.T) {
	a, b := loadModel(t, "resnet50"), loadModel(t, "resnet50v2")
	d, err := ir.AlignOps(a, b, "conv3_block1")
	if err != nil {
		t.Fatal(err)
	}
	for _, width := range []int{ir.MinDiffWidth, 80, 120, 200} {
		var s strings.Builder
		if err := d.WriteText(&s, "a.rn", "b.rn", width); err != nil {
			t.Fatal(err)
		}
		col := (width - 3) / 2
		var left []string
		for _, l := range strings.Split(strings.TrimSuffix(s.String(), "\n"), "\n") {
			if len(l) > width {
				t.Errorf("width %d: line of %d characters: %q", width, len(l), l)
			}
			if len(l) >= col+2 && l[col+1] == '-' {
				left = append(left, strings.TrimRight(l[:col], " "))
			}
		}
		// The ops only in a: their lines, rejoined, are their text (but
		// for the spaces where a line was broken).
		var joined, want []string
		for _, l := range left {
			if strings.HasPrefix(l, "    ") {
				joined[len(joined)-1] += l
				continue
			}
			joined = append(joined, l)
		}
		for i := range joined {
			joined[i] = strings.ReplaceAll(joined[i], " ", "")
		}
		for _, r := range d.Rows {
			if r.Mark == ir.DiffRemoved {
				want = append(want, strings.ReplaceAll(ir.DiffText(r.A), " ", ""))
			}
		}
		if len(want) == 0 {
			t.Fatal("no removed op")
		}
		if diff := cmp.Diff(want, joined); diff != "" {
			t.Errorf("width %d: removed ops rejoined (-want +got):\n%s", width, diff)
		}
	}
}

// TestAlignLimit: two selections too large to align are an error, not a
// table of gigabytes.
func TestAlignLimit(t *testing.T) {
	g := &ir.Graph{Ops: make([]*ir.Op, 1<<13)}
	h := &ir.Graph{Ops: make([]*ir.Op, 1<<11+1)}
	_, err := ir.AlignOps(g, h, "")
	if err == nil || !strings.Contains(err.Error(), "aligning 8192 ops with 2049 ops is over the limit of 16777216 pairs: select a block") {
		t.Errorf("error %v", err)
	}
}

// TestBlockFilter: a block is its name and the names that continue it
// with "_", not a longer block number; a fused op belongs to every block
// one of its names does; "" selects every op.
func TestBlockFilter(t *testing.T) {
	if ir.BlockFilter("") != nil {
		t.Error(`BlockFilter("") is not nil`)
	}
	keep := ir.BlockFilter("conv2_block1")
	for _, c := range []struct {
		names []string
		want  bool
	}{
		{[]string{"conv2_block1"}, true},
		{[]string{"conv2_block1_1_conv"}, true},
		{[]string{"conv2_block10_1_conv"}, false},
		{[]string{"conv2_block"}, false},
		{[]string{"conv2_block1x"}, false},
		{[]string{"conv2_block0_out", "conv2_block1_preact_bn"}, true},
		{nil, false},
	} {
		if got := keep(&ir.Op{Names: c.names}); got != c.want {
			t.Errorf("%v in conv2_block1: %v, want %v", c.names, got, c.want)
		}
	}
}

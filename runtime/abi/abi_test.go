package abi

import (
	"strings"
	"testing"
)

// TestDTypes: every element type has a name that parses back, a size and
// a Go type; an unknown name is an error naming it.
func TestDTypes(t *testing.T) {
	for _, d := range DTypes() {
		back, err := ParseDType(d.String())
		if err != nil || back != d {
			t.Errorf("%v: parses back as %v, %v", d, back, err)
		}
		if d.Size() == 0 || d.GoType() == "" {
			t.Errorf("%v: size %d, Go type %q", d, d.Size(), d.GoType())
		}
	}
	if F32.Size() != 4 || U8.Size() != 1 || S32.GoType() != "int32" {
		t.Errorf("f32 %d bytes, u8 %d, s32 %s", F32.Size(), U8.Size(), S32.GoType())
	}
	if _, err := ParseDType("f64"); err == nil || !strings.Contains(err.Error(), `"f64"`) {
		t.Errorf("f64: %v", err)
	}
	if DType(200).Size() != 0 || DType(200).String() != "dtype(200)" {
		t.Errorf("an invalid dtype has size %d, name %q", DType(200).Size(), DType(200))
	}
}

// TestOps: every epilogue kind's name parses back.
func TestOps(t *testing.T) {
	for _, k := range Ops() {
		if back, err := ParseOp(k.String()); err != nil || back != k {
			t.Errorf("%v: parses back as %v, %v", k, back, err)
		}
	}
	if !Add.Operand() || !Mul.Operand() || Relu.Operand() {
		t.Error("Operand: only add and mul read a tensor")
	}
}

// TestCaps: the capability tables accept and refuse what their doc says.
func TestCaps(t *testing.T) {
	for _, c := range []struct {
		caps *Caps
		epi  []Step
		want string // "" accepted, else part of the error
	}{
		{&ConvCaps, []Step{{Kind: Add, Sub: 2}, {Kind: Out}, {Kind: Affine}, {Kind: Relu}}, ""},
		{&ConvCaps, []Step{{Kind: Sigmoid}, {Kind: Out}, {Kind: Scale}, {Kind: Mul, Sub: 1}}, ""},
		{&ConvCaps, []Step{{Kind: Add}, {Kind: Add}}, "more than 1 add"},
		{&ConvCaps, []Step{{Kind: Mul, Sub: 2}}, "mul operand read at stride 2"},
		{&ConvCaps, []Step{{Kind: Add, Sub: 3}}, "add operand read at stride 3"},
		{&ConvCaps, []Step{{Kind: Out}, {Kind: Out}}, "more than 1 out"},
		{&ConvCaps, []Step{{Kind: Bias}}, "no bias step"},
		{&MapCaps, []Step{{Kind: Relu}, {Kind: Relu}, {Kind: Add}, {Kind: Affine}, {Kind: Out}}, ""},
		{&MapCaps, []Step{{Kind: Sigmoid}}, "no sigmoid step"},
		{&MapCaps, []Step{{Kind: Add, Sub: 2}}, "add operand read at stride 2"},
		{&ConvU8Caps, []Step{{Kind: Add, Sub: 2}, {Kind: Out}, {Kind: Affine}, {Kind: Relu}}, ""},
		{&ConvU8Caps, []Step{{Kind: Sigmoid}}, "no sigmoid step"},
	} {
		err := c.caps.Check(c.epi)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.epi, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: error %v, want %q", c.epi, err, c.want)
		}
	}
}

// TestTargets: names are unique and Lookup finds them; an assembly
// target's vector holds one channel block of float32; every family with
// an epilogue has a capability table; the portable target needs nothing.
func TestTargets(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range Targets {
		if seen[d.Name] {
			t.Errorf("target %s listed twice", d.Name)
		}
		seen[d.Name] = true
		if got, err := Lookup(d.Name); err != nil || got != d {
			t.Errorf("Lookup(%s): %v, %v", d.Name, got, err)
		}
		if !d.Portable() && d.VectorBytes/F32.Size() != d.Block {
			t.Errorf("%s: %d-byte vectors, block %d", d.Name, d.VectorBytes, d.Block)
		}
		if d.Portable() && (len(d.Features) > 0 || len(d.Families) > 0 || !d.Runs()) {
			t.Errorf("%s: portable, yet features %v, families %v", d.Name, d.Features, d.Families)
		}
		for _, f := range d.Families {
			if f != Head && FamilyCaps(f) == nil {
				t.Errorf("%s: family %v has no capability table", d.Name, f)
			}
		}
	}
	if Targets[len(Targets)-1] != Generic {
		t.Error("the portable target must come last: it runs everywhere")
	}
	if _, err := Lookup("neon"); err == nil || !strings.Contains(err.Error(), "avx512, avx2 or generic") {
		t.Errorf("Lookup(neon): %v", err)
	}
}

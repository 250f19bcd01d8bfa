package emit

import (
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// phaseErr emits body inside a phase of a fresh function and returns the
// Bug it raised, if any.
func phaseErr(body func(c *build.Context, ph *Phase)) (err error) {
	defer Catch(&err)
	c := build.NewContext()
	c.Function("f")
	c.SignatureExpr("func()")
	ph := Begin(Current(c), "test", "tile")
	body(c, ph)
	ph.End()
	return nil
}

func TestPhase(t *testing.T) {
	for _, tc := range []struct {
		name string
		body func(c *build.Context, ph *Phase)
		want string // "" for no error
	}{
		{"disjoint roles", func(c *build.Context, ph *Phase) {
			ph.Claim("accumulator 0,0", reg.Y0)
			ph.Claim("broadcast", reg.Y1, reg.Y2)
			ph.ClaimConst("zero", reg.Y15)
			c.VXORPS(reg.Y15, reg.Y15, reg.Y15)
			c.VBROADCASTSS(operand.Mem{Base: reg.RAX}, reg.Y1)
			c.VFMADD231PS(reg.Y1, reg.Y2, reg.Y0)
			c.VMAXPS(reg.Y0, reg.Y15, reg.Y0)
		}, ""},
		{"two roles (the AVX2 sigmoid bug)", func(c *build.Context, ph *Phase) {
			ph.Claim("accumulator 0,13", reg.Y13)
			ph.Claim("sigmoid scratch", reg.Y13, reg.Y14)
		}, "test: f: tile: register Y13 is both accumulator 0,13 and sigmoid scratch"},
		{"widths alias", func(c *build.Context, ph *Phase) {
			ph.Claim("accumulator", reg.Z3)
			ph.Claim("scratch", reg.X3)
		}, "register X3 is both accumulator and scratch"},
		{"same role twice is fine", func(c *build.Context, ph *Phase) {
			ph.Claim("broadcast", reg.Y1, reg.Y2)
			ph.Claim("broadcast", reg.Y2)
		}, ""},
		{"register without a role", func(c *build.Context, ph *Phase) {
			ph.Claim("accumulator", reg.Y0)
			c.VADDPS(reg.Y4, reg.Y0, reg.Y0)
		}, "VADDPS uses Y4, which has no role (roles: accumulator: V0)"},
		{"constant overwritten", func(c *build.Context, ph *Phase) {
			ph.Claim("accumulator", reg.Y0)
			ph.ClaimConst("zero", reg.Y15)
			c.VADDPS(reg.Y0, reg.Y15, reg.Y15)
		}, "VADDPS overwrites Y15 (zero) with a computed value"},
		{"constant loaded", func(c *build.Context, ph *Phase) {
			ph.ClaimConst("scale", reg.Z30)
			c.VMOVUPS(operand.Mem{Base: reg.RAX}, reg.Z30)
		}, ""},
	} {
		err := phaseErr(tc.body)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestImmBug: an immediate that does not fit 32 bits is a generation
// error, not a panic.
func TestImmBug(t *testing.T) {
	err := func() (err error) {
		defer Catch(&err)
		Imm("test", 1<<32)
		return nil
	}()
	if err == nil || !strings.Contains(err.Error(), "test: immediate 4294967296 out of range") {
		t.Errorf("error %v", err)
	}
}

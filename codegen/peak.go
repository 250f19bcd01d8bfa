package codegen

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/rnc-dev/rnc/codegen/internal/goasm"
	"github.com/rnc-dev/rnc/internal/gotmpl"
)

// PeakPackage generates a small package that measures this machine's FMA
// peak, for rnc peak and the "% of peak" column of rnc bench: a loop of 12
// independent FMA chains (enough to cover the FMA latency on two pipes) on
// zmm (AVX-512) or ymm (AVX2) registers; and its int8 peak, the same loop
// of VPDPBUSD (AVX-512 VNNI: 64 u8×s8 multiply-adds into 16 int32 lanes).
func PeakPackage(pkg string) (map[string][]byte, error) {
	ctx := build.NewContext()
	zmm := []reg.VecPhysical{reg.Z0, reg.Z1, reg.Z2, reg.Z3, reg.Z4, reg.Z5, reg.Z6, reg.Z7, reg.Z8, reg.Z9, reg.Z10, reg.Z11, reg.Z12, reg.Z13}
	ymm := []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7, reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13}
	for _, k := range []struct {
		name string
		r    []reg.VecPhysical
		op   func(...operand.Op)
		what string
	}{{"fmaZMM", zmm, ctx.VFMADD231PS, "FMAs"}, {"fmaYMM", ymm, ctx.VFMADD231PS, "FMAs"}, {"vnniZMM", zmm, ctx.VPDPBUSD, "VPDPBUSDs"}} {
		ctx.Function(k.name)
		ctx.Attributes(attr.NOSPLIT)
		ctx.SignatureExpr("func(n int)")
		ctx.Doc(fmt.Sprintf("%s runs n iterations of 12 independent %s.", k.name, k.what))
		b, err := ctx.Param("n").Resolve()
		if err != nil {
			return nil, err
		}
		ctx.MOVQ(b.Addr, reg.RCX)
		for _, v := range k.r {
			ctx.VXORPS(v, v, v)
		}
		ctx.Label("loop")
		for i := 0; i < 12; i++ {
			k.op(k.r[12], k.r[13], k.r[i])
		}
		ctx.DECQ(reg.RCX)
		ctx.JNZ(operand.LabelRef("loop"))
		ctx.VZEROUPPER()
		ctx.RET()
	}
	asm, stubs, err := goasm.Print(ctx, pkg, "rnc")
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"peak_amd64.s": fixHeader(asm), "peak_amd64.go": fixHeader(stubs)}
	src, err := gotmpl.Execute(peakTemplate, pkgFile{Header, pkg})
	if err != nil {
		return nil, err
	}
	out, err := formatGo("peak.go", src)
	if err != nil {
		return nil, err
	}
	files["peak.go"] = out
	return files, nil
}

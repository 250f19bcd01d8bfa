package avx2

import (
	"bufio"
	"bytes"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/codegen/internal/conv"
	"github.com/rnc-dev/rnc/codegen/internal/kerneltest"
)

// harness runs this generator's kernels in the shared test harness.
var harness = kerneltest.Direct[ConvSpec, Tiling]{
	Pkg: "avx2", Generate: Generate, Print: Print, Validate: (*ConvSpec).Validate,
	Conv: (*ConvSpec).conv, New: fromConv, NB: func(t Tiling) int { return t.NB },
	RefConv: RefConv, PackOIHW: PackOIHW,
}

// kcase is one kernel of a generated test module.
type kcase = kerneltest.Case[ConvSpec, Tiling]

// fromConv returns the spec with the shared fields of c.
func fromConv(c conv.Spec) ConvSpec {
	return ConvSpec{IC: c.IC, OC: c.OC, H: c.H, W: c.W, KH: c.KH, KW: c.KW, SH: c.SH, SW: c.SW, PadT: c.PadT, PadB: c.PadB, PadL: c.PadL,
		PadR: c.PadR, FirstNHWC: c.FirstNHWC, ResH: c.ResH, ResW: c.ResW, Epilogue: c.Epilogue, NB: c.NB, URW: c.URW, ICC: c.ICC, Prefetch: c.Prefetch, Narrow: c.Narrow}
}

// allowedVec is the whitelist of vector (and prefetch) instructions the
// kernels may contain: AVX/AVX2/FMA3 instructions with VEX encodings only.
var allowedVec = map[string]bool{
	"VBROADCASTSS": true, "VFMADD231PS": true, "VMOVUPS": true, "VMAXPS": true,
	"VXORPS": true, "VADDPS": true, "VMULPS": true, "VZEROUPPER": true,
	"PREFETCHT0": true, "PREFETCHT1": true,
	// The sigmoid (codegen/internal/emit.Sigmoid).
	"VMINPS": true, "VROUNDPS": true, "VFMADD213PS": true, "VCVTPS2DQ": true,
	"VPSLLD": true, "VPADDD": true, "VDIVPS": true, "VCMPPS": true, "VANDPS": true,
	// A narrow grouped conv's in-lane shuffle (AVX, VEX-encoded).
	"VPERMILPS": true,
}

// checkAsm applies the instruction checks to every TEXT block: at least
// one VFMADD231PS, no CALL, no register outside Y0–Y15 (no zmm, no
// Y16–Y31, no mask registers), no EVEX-only syntax (.BCST, .Z, {sae}...)
// and only whitelisted vector instructions.
func checkAsm(t *testing.T, asm []byte) {
	t.Helper()
	badReg := regexp.MustCompile(`\b(Y1[6-9]|Y2[0-9]|Y3[01]|Z\d+|X1[6-9]|X2[0-9]|X3[01]|K[0-7])\b`)
	evex := regexp.MustCompile(`(?m)^\s+\S+\.(BCST|Z|SAE|RN_SAE|RZ_SAE|RD_SAE|RU_SAE)\b|\{`)
	mnem := regexp.MustCompile(`(?m)^\s+((V|PREFETCH)[A-Z0-9_.]*)\s`)
	kerneltest.CheckAsm(t, asm, `(?m)^\s+VFMADD231PS\s`, func(name, b string) {
		if m := badReg.FindString(b); m != "" {
			t.Errorf("%s: uses register %s (not AVX2)", name, m)
		}
		if m := evex.FindString(b); m != "" {
			t.Errorf("%s: EVEX-only syntax %q", name, strings.TrimSpace(m))
		}
		for _, m := range mnem.FindAllStringSubmatch(b, -1) {
			if !allowedVec[m[1]] {
				t.Errorf("%s: instruction %s not in the AVX2 whitelist", name, m[1])
				break
			}
		}
	})
}

// checkEncodings assembles the kernels of dir with "go tool asm -S" and
// checks the machine code of every vector instruction: it must start with
// a VEX prefix (0xC4 or 0xC5) — never EVEX (0x62) — so no encoding choice
// of the Go assembler can sneak AVX-512 in. It returns the number of
// vector instructions checked. (go tool objdump cannot decode VEX.)
func checkEncodings(t *testing.T, dir string) int {
	t.Helper()
	goroot, err := kerneltest.GoCmd(dir, "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	inc := filepath.Join(strings.TrimSpace(string(goroot)), "pkg", "include")
	out, err := kerneltest.GoCmd(dir, "tool", "asm", "-S", "-p", "main", "-I", inc, "-o", filepath.Join(dir, "enc.o"), "kernels_amd64.s").CombinedOutput()
	if err != nil {
		t.Fatalf("go tool asm: %v\n%.2000s", err, out)
	}
	// Listing: per function a header, "\t0xPC DEC (file:line)\tOP\targs"
	// lines, then "\t0xOFF xx xx ... " hex dump lines of its code.
	insn := regexp.MustCompile(`^\t0x([0-9a-f]+) \d+ \([^)]*\)\t(\S+)`)
	dump := regexp.MustCompile(`^\t0x([0-9a-f]+) ((?:[0-9a-f]{2} )+)`)
	type ins struct {
		pc int
		op string
	}
	n := 0
	var fn string
	var list []ins
	var code []byte
	flush := func() {
		for i, x := range list {
			if !strings.HasPrefix(x.op, "V") {
				continue
			}
			if x.pc >= len(code) || (i+1 < len(list) && list[i+1].pc <= x.pc) {
				t.Errorf("%s: cannot locate the code of %s at %#x", fn, x.op, x.pc)
				continue
			}
			n++
			if b := code[x.pc]; b != 0xc4 && b != 0xc5 {
				t.Errorf("%s: %s at %#x is not VEX-encoded (first byte %#02x)", fn, x.op, x.pc, b)
			}
		}
		list, code = list[:0], code[:0]
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "\t") {
			flush()
			fn = strings.SplitN(line, " ", 2)[0]
			continue
		}
		if m := insn.FindStringSubmatch(line); m != nil {
			pc, _ := strconv.ParseInt(m[1], 16, 64)
			if m[2] == "TEXT" || m[2] == "FUNCDATA" || m[2] == "PCDATA" {
				continue
			}
			list = append(list, ins{int(pc), m[2]})
			continue
		}
		if m := dump.FindStringSubmatch(line); m != nil {
			off, _ := strconv.ParseInt(m[1], 16, 64)
			if int(off) != len(code) {
				continue // relocation lines etc.
			}
			for _, h := range strings.Fields(m[2]) {
				v, _ := strconv.ParseUint(h, 16, 8)
				code = append(code, byte(v))
			}
		}
	}
	flush()
	return n
}

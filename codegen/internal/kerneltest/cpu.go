package kerneltest

import (
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/abi"
)

// VNNI is the pseudo-target of the int8 kernels (codegen/vnni): the
// avx512 target's features and AVX-512 VNNI (GODEBUG name avx512vnni).
const VNNI = "avx512vnni"

// Missing returns why this machine cannot run target's kernels: the
// features it lacks (by GODEBUG name), or "" when runtime.Supported(target)
// (for VNNI: when the avx512 target is supported and the CPU has
// AVX-512 VNNI).
func Missing(target string) string {
	if target == VNNI {
		m := runtime.MissingFeatures("avx512")
		if !abi.HasFeature(VNNI) {
			m = append(m, VNNI)
		}
		if goruntime.GOARCH != "amd64" {
			return "not amd64 (GOARCH " + goruntime.GOARCH + ")"
		}
		if len(m) == 0 {
			return ""
		}
		return "no " + strings.Join(m, ", ")
	}
	switch {
	case runtime.Supported(target):
		return ""
	case goruntime.GOARCH != "amd64":
		return "not amd64 (GOARCH " + goruntime.GOARCH + ")"
	}
	return "no " + strings.Join(runtime.MissingFeatures(target), ", ")
}

// RequireCPU skips t, naming the missing CPU features, unless this CPU
// runs target's kernels ("avx512": AVX-512 F/VL/BW/DQ; "avx2": AVX2 and
// FMA; VNNI: those of avx512 and AVX-512 VNNI).
func RequireCPU(t testing.TB, target string) {
	t.Helper()
	if m := Missing(target); m != "" {
		t.Skipf("runs %s kernels, and this CPU cannot: %s", target, m)
	}
}

// NeedsCPU returns the targets whose CPU features the instructions of asm
// (Go assembly) need: VNNI if any is a VNNI instruction (VPDPBUSD,
// VPDPWSSD and their saturating forms), "avx512" if any uses an AVX-512
// register (Z0–Z31, X16–X31, Y16–Y31, K0–K7) or EVEX syntax (.BCST, .Z,
// rounding), "avx2" if any is a VEX instruction (V...) or uses an xmm or
// ymm register.
func NeedsCPU(asm []byte) []string {
	evex, vex, vnni := false, false, false
	for _, line := range strings.Split(string(asm), "\n") {
		if line == "" || (line[0] != ' ' && line[0] != '\t') {
			continue // a label, a directive, a comment
		}
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		words := strings.FieldsFunc(line, func(r rune) bool {
			return r == ' ' || r == '\t' || r == ',' || r == '(' || r == ')' || r == '$' || r == '*' || r == '+' || r == '-'
		})
		if len(words) == 0 {
			continue
		}
		op, args := words[0], words[1:]
		if op[0] == 'V' {
			vex = true
		}
		if strings.HasPrefix(op, "VPDPBUSD") || strings.HasPrefix(op, "VPDPWSSD") {
			vnni = true
		}
		if i := strings.IndexByte(op, '.'); i >= 0 {
			switch op[i+1:] {
			case "BCST", "Z", "SAE", "RN_SAE", "RZ_SAE", "RD_SAE", "RU_SAE":
				evex = true
			}
		}
		for _, a := range args {
			if len(a) < 2 || len(a) > 3 {
				continue
			}
			n, err := strconv.Atoi(a[1:])
			if err != nil || n < 0 {
				continue
			}
			switch a[0] {
			case 'Z':
				evex = evex || n < 32
			case 'K':
				evex = evex || n < 8
			case 'X', 'Y':
				evex = evex || (n >= 16 && n < 32)
				vex = vex || n < 16
			}
		}
	}
	var need []string
	if vnni {
		need = append(need, VNNI)
	}
	if evex {
		need = append(need, "avx512")
	}
	if vex || evex {
		need = append(need, "avx2")
	}
	return need
}

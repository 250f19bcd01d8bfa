package kerneltest

import (
	"regexp"
	goruntime "runtime"
	"strings"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/rnc-dev/rnc/runtime"
)

// features are the CPU features each target's kernels need, as
// runtime.Supported tests them, under their GODEBUG names
// (GODEBUG=cpu.avx512f=off masks one: golang.org/x/sys/cpu honours it).
var features = map[string][]struct {
	name string
	has  *bool
}{
	"avx512": {{"avx512f", &cpu.X86.HasAVX512F}, {"avx512vl", &cpu.X86.HasAVX512VL}, {"avx512bw", &cpu.X86.HasAVX512BW}, {"avx512dq", &cpu.X86.HasAVX512DQ}},
	"avx2":   {{"avx2", &cpu.X86.HasAVX2}, {"fma", &cpu.X86.HasFMA}},
}

// Missing returns why this machine cannot run target's kernels: the
// features it lacks (by GODEBUG name), or "" when runtime.Supported(target).
func Missing(target string) string {
	if runtime.Supported(target) {
		return ""
	}
	if goruntime.GOARCH != "amd64" {
		return "not amd64 (GOARCH " + goruntime.GOARCH + ")"
	}
	var no []string
	for _, f := range features[target] {
		if !*f.has {
			no = append(no, f.name)
		}
	}
	if len(no) == 0 {
		return "unsupported" // runtime.Supported knows more than this table
	}
	return "no " + strings.Join(no, ", ")
}

// RequireCPU skips t, naming the missing CPU features, unless this CPU
// runs target's kernels ("avx512": AVX-512 F/VL/BW/DQ; "avx2": AVX2 and
// FMA).
func RequireCPU(t testing.TB, target string) {
	t.Helper()
	if m := Missing(target); m != "" {
		t.Skipf("runs %s kernels, and this CPU cannot: %s", target, m)
	}
}

var (
	asmLine = regexp.MustCompile(`(?m)^[ \t]+[A-Z][A-Z0-9_.]*([ \t].*)?$`)
	evexRe  = regexp.MustCompile(`\b([XYZ](1[6-9]|2[0-9]|3[01])|Z([0-9])|K[0-7])\b|\.(BCST|Z|SAE|RN_SAE|RZ_SAE|RD_SAE|RU_SAE)\b`)
	vexRe   = regexp.MustCompile(`\b(Y([0-9]|1[0-5])|X([0-9]|1[0-5]))\b|^[ \t]+V[A-Z]`)
)

// NeedsCPU returns the targets whose CPU features the instructions of asm
// (Go assembly) need: "avx512" if any uses an AVX-512 register or EVEX
// syntax, "avx2" if any is a VEX instruction or uses an xmm/ymm register.
func NeedsCPU(asm []byte) []string {
	var need []string
	lines := asmLine.FindAll(asm, -1)
	for _, l := range lines {
		if evexRe.Match(l) {
			need = append(need, "avx512")
			break
		}
	}
	for _, l := range lines {
		if vexRe.Match(l) {
			need = append(need, "avx2")
			break
		}
	}
	return need
}

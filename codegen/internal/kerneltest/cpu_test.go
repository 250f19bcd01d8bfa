package kerneltest

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/rnc-dev/rnc/runtime"
)

// TestNeedsCPU: the instruction set a module needs is read off its
// assembly, so that BuildAndCheck skips (not dies of SIGILL) on a CPU
// without it.
func TestNeedsCPU(t *testing.T) {
	for _, c := range []struct {
		asm  string
		want []string
	}{
		{"TEXT ·f(SB), NOSPLIT, $0-8\n\tMOVQ x+0(FP), AX\n\tRET\n", nil},
		{"TEXT ·f(SB), $0\n\tVFMADD231PS Y1, Y2, Y3\n\tVZEROUPPER\n\tRET\n", []string{"avx2"}},
		{"TEXT ·f(SB), $0\n\tVFMADD231PS Z1, Z2, Z3\n\tRET\n", []string{"avx512", "avx2"}},
		{"TEXT ·f(SB), $0\n\tVMOVUPS Y20, (AX)\n", []string{"avx512", "avx2"}},
		{"TEXT ·f(SB), $0\n\tVMOVUPS Y0, K1, (AX)\n", []string{"avx512", "avx2"}},
		{"TEXT ·f(SB), $0\n\tVFMADD231PS.BCST (AX), Y1, Y2\n", []string{"avx512", "avx2"}},
		{"// Z1 in a comment, Y2 too\nTEXT ·Z1(SB), $0\n\tRET\n", nil},
		{"TEXT ·f(SB), $0\n\tVPDPBUSD Z31, Z29, Z1\n", []string{VNNI, "avx512", "avx2"}},
		{"TEXT ·f(SB), $0\n\tVPDPBUSDS.BCST (AX), Z29, Z1\n", []string{VNNI, "avx512", "avx2"}},
	} {
		if got := NeedsCPU([]byte(c.asm)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %v, want %v", c.asm, got, c.want)
		}
	}
}

// TestMissing names the features runtime.Supported lacks, under the
// GODEBUG names that mask them.
func TestMissing(t *testing.T) {
	for _, target := range []string{"avx512", "avx2"} {
		m := Missing(target)
		t.Logf("%s: %q", target, m)
		for _, f := range runtime.MissingFeatures(target) {
			if !strings.Contains(m, f) {
				t.Errorf("%s: no %s, but Missing says %q", target, f, m)
			}
		}
		if (m == "") != runtime.Supported(target) {
			t.Errorf("%s: Missing %q, Supported %v", target, m, runtime.Supported(target))
		}
	}
	m := Missing(VNNI)
	t.Logf("%s: %q", VNNI, m)
	if (m == "") != (runtime.Supported("avx512") && cpu.X86.HasAVX512VNNI) {
		t.Errorf("%s: Missing %q, avx512 supported %v, VNNI %v", VNNI, m, runtime.Supported("avx512"), cpu.X86.HasAVX512VNNI)
	}
	if Missing("generic") != "" {
		t.Error("generic: missing something")
	}
}

package codegen

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/runtime"
)

// cpuMasks are GODEBUG settings that hide CPU features from
// golang.org/x/sys/cpu (and from Go's own runtime), so that this machine
// passes for an older one, and the targets each one leaves.
var cpuMasks = []struct {
	name, godebug string
	targets       []string // the targets left, on a CPU that runs all
}{
	{"all features", "", []string{"avx512", "avx2", "generic"}},
	{"AVX2 only", "cpu.avx512f=off,cpu.avx512vl=off,cpu.avx512bw=off,cpu.avx512dq=off", []string{"avx2", "generic"}},
	{"no AVX-512 F", "cpu.avx512f=off", []string{"avx2", "generic"}},
	{"AVX-512 F without VL/BW/DQ (Xeon Phi)", "cpu.avx512vl=off,cpu.avx512bw=off,cpu.avx512dq=off", []string{"avx2", "generic"}},
	{"before AVX2", "cpu.avx512f=off,cpu.avx512vl=off,cpu.avx512bw=off,cpu.avx512dq=off,cpu.avx2=off,cpu.fma=off", []string{"generic"}},
}

// TestCPUMasks runs a generated package's tests under GODEBUG CPU masks and
// checks that its target selection honours them: the default target is
// the best one left, TestReference checks exactly the targets left (and
// passes on them), and nothing runs a kernel the masked CPU lacks (it
// would still run here, so the list of targets run is what is checked).
func TestCPUMasks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a generated package")
	}
	dir, err := tempDir("mask-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	pkg := writeGolden(t, dir, "tinyv2")
	if out, err := exec.Command("go", "test", "-c", "-o", os.DevNull, "./"+pkg).CombinedOutput(); err != nil {
		t.Fatalf("go test -c: %v\n%s", err, out)
	}
	for _, m := range cpuMasks {
		var want []string // the targets left on this CPU
		for _, target := range m.targets {
			if runtime.Supported(target) {
				want = append(want, target)
			}
		}
		godebug := m.godebug
		if prev := os.Getenv("GODEBUG"); prev != "" && godebug != "" {
			godebug = prev + "," + godebug
		} else if prev != "" {
			godebug = prev
		}
		cmd := exec.Command("go", "test", "-count=1", "-v", "-run", "TestReference|TestConcurrentPredict", "./"+pkg)
		cmd.Env = append(os.Environ(), "GODEBUG="+godebug, "RNC_REFERENCE=ref", "RNC_TARGET=", "RNC_ALL_TARGETS=1")
		b, err := cmd.CombinedOutput()
		out := string(b)
		if err != nil {
			t.Fatalf("%s (GODEBUG=%s): go test: %v\n%s", m.name, godebug, err, out)
		}
		var ran []string
		for _, target := range cpuMasks[0].targets {
			if strings.Contains(out, ": "+target+": max difference ") {
				ran = append(ran, target)
			}
		}
		if strings.Join(ran, " ") != strings.Join(want, " ") {
			t.Errorf("%s (GODEBUG=%s): TestReference checked %v, want %v\n%s", m.name, godebug, ran, want, out)
		}
		best := regexp.MustCompile(`target (\w+) \(the best this CPU runs\)`).FindStringSubmatch(out)
		if best == nil || best[1] != want[0] {
			t.Errorf("%s (GODEBUG=%s): default target %v, want %s\n%s", m.name, godebug, best, want[0], out)
		}
		t.Logf("%s (GODEBUG=%s): default target %s, checked %v", m.name, godebug, want[0], ran)
	}
}

package runtime

import (
	"fmt"
	"strings"

	"golang.org/x/sys/cpu"
)

// features are the CPU features each assembly target's kernels need,
// under their GODEBUG names (GODEBUG=cpu.avx512f=off masks one:
// golang.org/x/sys/cpu honours it).
var features = map[string][]struct {
	name string
	has  *bool
}{
	"avx512": {{"avx512f", &cpu.X86.HasAVX512F}, {"avx512vl", &cpu.X86.HasAVX512VL}, {"avx512bw", &cpu.X86.HasAVX512BW}, {"avx512dq", &cpu.X86.HasAVX512DQ}},
	"avx2":   {{"avx2", &cpu.X86.HasAVX2}, {"fma", &cpu.X86.HasFMA}},
}

// Supported reports whether this CPU can run a target's kernels.
func Supported(target string) bool {
	if target == "generic" {
		return true
	}
	_, known := features[target]
	return known && hasAsm && len(MissingFeatures(target)) == 0
}

// MissingFeatures lists, by GODEBUG name, the CPU features target's
// kernels need that this CPU lacks (none for generic or an unknown
// target).
func MissingFeatures(target string) []string {
	var no []string
	for _, f := range features[target] {
		if !*f.has {
			no = append(no, f.name)
		}
	}
	return no
}

// selectPlan picks the plan to run: the forced target if any (it must be
// compiled in and supported), else the first supported plan in the
// program's order (fastest first).
func selectPlan(prog *Program, force string) (*Plan, error) {
	var names []string
	for _, p := range prog.Plans {
		names = append(names, p.Target)
	}
	if force != "" {
		for _, p := range prog.Plans {
			if p.Target == force {
				if !Supported(force) {
					return nil, fmt.Errorf("%s: target %s is not supported by this CPU", prog.Name, force)
				}
				return p, nil
			}
		}
		return nil, fmt.Errorf("%s: target %q is not compiled in (have %s)", prog.Name, force, strings.Join(names, ", "))
	}
	for _, p := range prog.Plans {
		if Supported(p.Target) {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%s: no compiled target runs on this CPU (have %s)", prog.Name, strings.Join(names, ", "))
}

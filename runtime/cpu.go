package runtime

import (
	"fmt"
	"strings"

	"golang.org/x/sys/cpu"
)

// Supported reports whether this CPU can run a target's kernels.
func Supported(target string) bool {
	switch target {
	case "avx512":
		return cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && hasAsm
	case "avx2":
		return cpu.X86.HasAVX2 && cpu.X86.HasFMA && hasAsm
	case "generic":
		return true
	}
	return false
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

package runtime

import (
	"fmt"
	"strings"

	"github.com/rnc-dev/rnc/runtime/abi"
)

// Supported reports whether this CPU can run a target's kernels.
func Supported(target string) bool {
	t, err := abi.Lookup(target)
	return err == nil && t.Runs()
}

// MissingFeatures lists, by GODEBUG name, the CPU features target's
// kernels need that this CPU lacks (none for generic or an unknown
// target).
func MissingFeatures(target string) []string {
	t, err := abi.Lookup(target)
	if err != nil {
		return nil
	}
	return t.Missing()
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

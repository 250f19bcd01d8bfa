// Package python finds a Python 3 interpreter that can import the modules a test needs (the tests that run Python clients and parsers skip, saying why, without one).
package python

import (
	"fmt"
	"os/exec"
	"strings"
)

// Find returns the first of python3 on PATH and Debian's /usr/bin/python3
// that imports every module in mods (a PATH python3 from pyenv or a venv
// may lack what Debian's python3-* packages installed for the system's),
// or "" and why none does, naming the Debian packages to install.
func Find(mods ...string) (string, string) {
	var tried []string
	seen := map[string]bool{}
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		py, err := exec.LookPath(name)
		if err != nil || seen[py] {
			continue
		}
		seen[py] = true
		out, err := exec.Command(py, "-c", "import "+strings.Join(mods, ", ")).CombinedOutput()
		if err == nil {
			return py, ""
		}
		tried = append(tried, fmt.Sprintf("%s: %s", py, strings.TrimSpace(lastLine(string(out)))))
	}
	pkgs := make([]string, len(mods))
	for i, m := range mods {
		pkgs[i] = "python3-" + m
	}
	if len(tried) == 0 {
		return "", fmt.Sprintf("no python3 (Debian: apt-get install python3 %s)", strings.Join(pkgs, " "))
	}
	return "", fmt.Sprintf("no python3 imports %s (%s; Debian: apt-get install %s)", strings.Join(mods, ", "), strings.Join(tried, "; "), strings.Join(pkgs, " "))
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

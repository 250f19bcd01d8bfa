// Command rnc compiles ResNet-family models written in rnc's model language into Go packages, and inspects, runs and benchmarks them.
//
// Run `rnc help` for the subcommands and `rnc help CMD` for one command's
// flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/rnc-dev/rnc/dsl"
)

var commands []*command

func init() {
	commands = []*command{
		demoCmd, compileCmd, benchCmd, peakCmd, summaryCmd, irCmd, runCmd, weightsInitCmd, weightsImportCmd, weightsLsCmd, grammarCmd, reportCmd,
	}
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "rnc:", err)
		}
		os.Exit(2)
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "rnc compiles ResNet-family models (.rn files) into Go packages.\n\nusage: rnc COMMAND [arguments]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.short)
	}
	fmt.Fprintf(w, "\nFlags may come before or after the model file. `rnc help COMMAND` shows a command's flags,\n`rnc help builtins` the model language's builtins.\n")
}

func find(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// stdout is where commands print their results.
var stdout io.Writer = os.Stdout

func run(args []string, out, stderr io.Writer) error {
	stdout = out
	if len(args) == 0 {
		usage(stderr)
		return flag.ErrHelp
	}
	name, rest := args[0], args[1:]
	if name == "weights" && len(rest) > 0 { // two-word commands
		name, rest = "weights "+rest[0], rest[1:]
	}
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) == 1 && rest[0] == "builtins" {
			fmt.Fprint(stdout, dsl.BuiltinHelp())
			return nil
		}
		if len(rest) > 0 {
			n := rest[0]
			if n == "weights" && len(rest) > 1 {
				n += " " + rest[1]
			}
			if c := find(n); c != nil {
				fs := newFlagSet(c, stdout)
				c.flags(fs)
				fs.Usage()
				return nil
			}
			return fmt.Errorf("unknown command %q", n)
		}
		usage(stdout)
		return nil
	}
	c := find(name)
	if c == nil {
		usage(stderr)
		return fmt.Errorf("unknown command %q", name)
	}
	fs := newFlagSet(c, stderr)
	action := c.flags(fs)
	pos, err := parseInterleaved(fs, rest)
	if err != nil {
		return err
	}
	return action(pos)
}

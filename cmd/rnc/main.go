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
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/rnc-dev/rnc/dsl"
)

var commands []*command

// cleanups are what an interrupt must undo (temporary directories), by
// registration number.
var cleanups = struct {
	sync.Mutex
	n  int
	fs map[int]func()
}{fs: map[int]func(){}}

// atInterrupt registers f to run if rnc is interrupted; the returned
// function unregisters it.
func atInterrupt(f func()) (unregister func()) {
	cleanups.Lock()
	defer cleanups.Unlock()
	cleanups.n++
	id := cleanups.n
	cleanups.fs[id] = f
	return func() {
		cleanups.Lock()
		defer cleanups.Unlock()
		delete(cleanups.fs, id)
	}
}

// runCleanups runs (once) every registered cleanup.
func runCleanups() {
	cleanups.Lock()
	defer cleanups.Unlock()
	for id, f := range cleanups.fs {
		f()
		delete(cleanups.fs, id)
	}
}

func init() {
	commands = []*command{
		demoCmd, compileCmd, serveCmd, benchCmd, peakCmd, summaryCmd, irCmd, runCmd, quantizeCmd, weightsInitCmd, weightsImportCmd, weightsLsCmd, grammarCmd, reportCmd,
	}
}

func main() {
	// An interrupt (Ctrl-C, kill, or a closed pipe: rnc bench | head)
	// removes the temporary build directories before rnc exits.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE)
	go func() {
		s := <-sig
		for f := forwardSignal.Load(); f != nil; f = forwardSignal.Load() {
			(*f)(s) // rnc serve: its server shuts down, then rnc returns
			s = <-sig
		}
		runCleanups()
		if s == os.Interrupt {
			os.Exit(130)
		}
		os.Exit(2)
	}()
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "rnc:", err)
		}
		os.Exit(2)
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "rnc compiles ResNet-family models (.rn files) into Go packages.\n\nusage: rnc COMMAND [arguments]\n\ncommands:\n")
	listCommands(w, commands)
	fmt.Fprintf(w, "\nFlags may come before or after the model file. `rnc help COMMAND` shows a command's flags,\n`rnc help builtins` the model language's builtins.\n")
}

// listCommands prints one line per command: its name and short.
func listCommands(w io.Writer, cs []*command) {
	n := 0
	for _, c := range cs {
		n = max(n, len(c.name))
	}
	for _, c := range cs {
		fmt.Fprintf(w, "  %-*s  %s\n", n, c.name, c.short)
	}
}

func find(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// group returns the commands whose name is name followed by a word
// ("weights init", "weights import", "weights ls" for "weights").
func group(name string) []*command {
	var cs []*command
	for _, c := range commands {
		if strings.HasPrefix(c.name, name+" ") {
			cs = append(cs, c)
		}
	}
	return cs
}

// groupUsage documents a group of commands.
func groupUsage(w io.Writer, name string, cs []*command) {
	fmt.Fprintf(w, "usage: rnc %s SUBCOMMAND [arguments]\n\nsubcommands:\n", name)
	listCommands(w, cs)
	fmt.Fprintf(w, "\n`rnc help %s SUBCOMMAND` shows a subcommand's flags.\n", name)
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
	switch name {
	case "help", "-h", "-help", "--help":
		return help(rest)
	}
	if cs := group(name); len(cs) > 0 { // two-word commands: rnc weights ls
		if len(rest) == 0 || find(name+" "+rest[0]) == nil {
			groupUsage(stderr, name, cs)
			if len(rest) == 0 {
				return fmt.Errorf("%s needs a subcommand", name)
			}
			return fmt.Errorf("unknown command %q", name+" "+rest[0])
		}
		name, rest = name+" "+rest[0], rest[1:]
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
	if c.args == "" && len(pos) > 0 {
		return fmt.Errorf("%s takes no arguments, got %q", c.name, pos)
	}
	return action(pos)
}

// help prints `rnc help [COMMAND [SUBCOMMAND]]`.
func help(args []string) error {
	if len(args) == 0 {
		usage(stdout)
		return nil
	}
	name := args[0]
	if name == "builtins" && len(args) == 1 {
		fmt.Fprint(stdout, dsl.BuiltinHelp())
		return nil
	}
	if cs := group(name); len(cs) > 0 {
		if len(args) == 1 {
			groupUsage(stdout, name, cs)
			return nil
		}
		name += " " + args[1]
	}
	if c := find(name); c != nil {
		fs := newFlagSet(c, stdout)
		c.flags(fs)
		fs.Usage()
		return nil
	}
	return fmt.Errorf("unknown command %q (rnc help lists the commands)", name)
}

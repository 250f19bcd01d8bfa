package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
)

// setFlag collects repeated --set name=value model overrides.
type setFlag map[string]string

func (s setFlag) String() string {
	var parts []string
	for k, v := range s {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func (s setFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("want name=value, got %q", v)
	}
	if _, dup := s[name]; dup {
		return fmt.Errorf("%s set twice", name)
	}
	s[name] = value
	return nil
}

// command is one subcommand.
type command struct {
	name    string
	args    string // positional arguments, for usage
	short   string // one line for the command list
	summary string
	flags   func(fs *flag.FlagSet) func(args []string) error
}

// newFlagSet makes a flag set whose usage lists the command's flags.
func newFlagSet(c *command, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("rnc "+c.name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: %s\n\n%s\n", strings.TrimSpace("rnc "+c.name+" "+c.args), c.summary)
		if hasFlags(fs) {
			fmt.Fprintf(out, "\nflags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments (rnc run MODEL.rn --weights W ...), and returns the
// positionals.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		fs.Visit(func(f *flag.Flag) {
			if o, ok := f.Value.(*orderedFlag); ok && o.pending {
				o.pending, o.after = false, len(pos)
			}
		})
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return pos, nil
}

// orderedFlag is a string flag that also records how many positional
// arguments preceded it on the command line (parseInterleaved sets after),
// for flags whose meaning depends on their place: `rnc ir --diff A B` and
// `rnc ir A --diff B` both put A in the left column.
type orderedFlag struct {
	value   string
	pending bool
	after   int
}

func (f *orderedFlag) String() string { return f.value }

func (f *orderedFlag) Set(s string) error {
	f.value, f.pending = s, true
	return nil
}

// loadModel expands a model file with --set overrides.
func loadModel(path string, set setFlag) (*ir.Graph, error) {
	return dsl.Load(path, dsl.Options{Set: set})
}

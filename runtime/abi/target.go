package abi

import (
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/sys/cpu"
)

// A Target describes what a plan is compiled for: the CPU features its
// kernels need, its vector width and blocked layout, the kernel families
// it has, the element types they compute in, and the files its kernels go
// to. The compiler lowers and generates from the description; the runtime
// tests Features before it runs a plan. docs/targets.md walks through
// adding one.
type Target struct {
	Name string
	// GOARCH is the architecture its kernels are assembly for ("": portable
	// Go, every architecture); the generated files are named with
	// FileSuffix ("_amd64": kernels_amd64.s) so that other architectures
	// build without them.
	GOARCH, FileSuffix string
	// Features are the CPU features its kernels need, under their GODEBUG
	// names (GODEBUG=cpu.avx512f=off masks one: golang.org/x/sys/cpu and
	// Go's runtime honour it).
	Features []Feature
	// VectorBytes is the width of one vector register (0: portable).
	VectorBytes int
	// Block is the channel block of its blocked layout, NCHW[Block]c
	// (Layout names it).
	Block int
	// Families are the compiled kernel families; a step no family takes
	// runs the portable Go kernel.
	Families []Family
}

// A Feature is one CPU feature a target needs.
type Feature struct {
	Name string // GODEBUG name: avx512f
	Has  *bool  // golang.org/x/sys/cpu's flag
}

// features are the CPU features rnc's kernels use, by GODEBUG name.
var features = map[string]*bool{
	"avx512f": &cpu.X86.HasAVX512F, "avx512vl": &cpu.X86.HasAVX512VL, "avx512bw": &cpu.X86.HasAVX512BW,
	"avx512dq": &cpu.X86.HasAVX512DQ, "avx512vnni": &cpu.X86.HasAVX512VNNI,
	"avx2": &cpu.X86.HasAVX2, "fma": &cpu.X86.HasFMA,
}

// CPUFeature is the Feature of a GODEBUG name rnc's kernels use (an
// unknown name panics: the names are the program's).
func CPUFeature(name string) Feature {
	has, ok := features[name]
	if !ok {
		panic("abi: unknown CPU feature " + name)
	}
	return Feature{name, has}
}

// HasFeature reports whether this CPU has the feature of GODEBUG name
// name (false for a name rnc does not know).
func HasFeature(name string) bool {
	has, ok := features[name]
	return ok && *has
}

// The targets, fastest first: a generated package holds one plan per
// target it was compiled for, in this order, and runs the first its CPU
// supports.
var (
	AVX512 = &Target{
		Name: "avx512", GOARCH: "amd64", FileSuffix: "_amd64",
		Features:    []Feature{CPUFeature("avx512f"), CPUFeature("avx512vl"), CPUFeature("avx512bw"), CPUFeature("avx512dq")},
		VectorBytes: 64, Block: 16,
		Families: []Family{Direct, Winograd, Pool, Eltwise, Head},
	}
	AVX2 = &Target{
		Name: "avx2", GOARCH: "amd64", FileSuffix: "_amd64",
		Features:    []Feature{CPUFeature("avx2"), CPUFeature("fma")},
		VectorBytes: 32, Block: 8,
		Families: []Family{Direct, Pool, Eltwise, Head},
	}
	Generic = &Target{
		Name: "generic", Block: 8,
	}
	Targets = []*Target{AVX512, AVX2, Generic}

	// VNNI is the int8 target: the avx512 target's float32 kernels for
	// what stays float32 and the AVX-512 VNNI int8 convolutions
	// (codegen/vnni). Int8 models are compiled for Int8Targets: VNNI, and
	// the portable Go kernels (runtime.ConvU8) everywhere else; both
	// plans lower the same graph, in the int8 layouts (U8Block).
	VNNI = &Target{
		Name: "avx512vnni", GOARCH: "amd64", FileSuffix: "_amd64",
		Features:    append(append([]Feature{}, AVX512.Features...), CPUFeature("avx512vnni")),
		VectorBytes: 64, Block: 16,
		Families: []Family{Direct, Pool, Eltwise, Head, DirectU8},
	}
	Int8Targets = []*Target{VNNI, Generic}
)

// Lookup finds a target by name (of Targets or Int8Targets).
func Lookup(name string) (*Target, error) {
	for _, ts := range [][]*Target{Targets, Int8Targets} {
		for _, t := range ts {
			if t.Name == name {
				return t, nil
			}
		}
	}
	return nil, fmt.Errorf("unknown target %q (want %s, or for int8 models %s)", name, Names(), VNNI.Name)
}

// Names lists the targets' names: "avx512, avx2 or generic".
func Names() string {
	var n []string
	for _, t := range Targets {
		n = append(n, t.Name)
	}
	return strings.Join(n[:len(n)-1], ", ") + " or " + n[len(n)-1]
}

// Layout is the name of the target's blocked activation layout in the
// IR's text form: "nChw16c" for a block of 16.
func (t *Target) Layout() string { return fmt.Sprintf("nChw%dc", t.Block) }

// Has reports whether the target has compiled kernels of family f.
func (t *Target) Has(f Family) bool { return has(t.Families, f) }

// Portable reports whether the target's kernels are all portable Go.
func (t *Target) Portable() bool { return t.GOARCH == "" }

// Missing lists, by GODEBUG name, the CPU features the target's kernels
// need that this CPU lacks.
func (t *Target) Missing() []string {
	var no []string
	for _, f := range t.Features {
		if !*f.Has {
			no = append(no, f.Name)
		}
	}
	return no
}

// Runs reports whether this program's architecture and CPU run the
// target's kernels.
func (t *Target) Runs() bool {
	return t.Portable() || t.GOARCH == runtime.GOARCH && len(t.Missing()) == 0
}

func (t *Target) String() string { return t.Name }

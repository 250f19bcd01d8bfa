package kerneltest

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// U8Src is u8.go of a module of int8 direct-convolution kernels
// (WriteU8Module): their table type (u8kernels, in table.go), the guarded
// check over byte buffers and the benchmark.
//
//go:embed templates/u8.go.txt
var U8Src string

// U8MainSrc is main.go of a module of int8 kernels:
//
//	go run . check DIR          checkU8: every kernel on DIR/NAME.SET.in, writing DIR/NAME.SET.out
//	go run . bench REPS MODE FILTER   benchU8: each int8 kernel, then the float32 direct kernel of the same index
//
//go:embed templates/u8_main.go.txt
var U8MainSrc string

// U8Kernel is one entry of the driver's u8kernels table: an int8 kernel
// with the Go signature of package vnni, its buffers' sizes in bytes (in,
// wt, m, b, scale, shift, res, mul, q, out0, out1; 0: unused), its output
// blocks, register-tile blocks and rows.
type U8Kernel struct {
	Name        string
	Bytes       [11]int
	OCB, NB, OH int
}

// U8Table returns the declaration of the u8kernels table.
func U8Table(ks []U8Kernel) string {
	var b strings.Builder
	b.WriteString("var u8kernels = []u8info{\n")
	for _, k := range ks {
		var sz []string
		for _, n := range k.Bytes {
			sz = append(sz, fmt.Sprint(n))
		}
		fmt.Fprintf(&b, "\t{%q, %s, [11]int{%s}, %d, %d, %d},\n", k.Name, k.Name, strings.Join(sz, ", "), k.OCB, k.NB, k.OH)
	}
	b.WriteString("}\n")
	return b.String()
}

// WriteU8Module writes a standalone module (module kt8) of int8 kernels
// (ks) and float32 direct kernels (ds: the driver's dkernels, timed after
// the int8 kernel of the same index) into dir: the assembly and stubs,
// the tables, the driver library and U8Src, U8MainSrc.
func WriteU8Module(t testing.TB, dir string, asm, stubs []byte, ks []U8Kernel, ds []DirectKernel) {
	t.Helper()
	WriteModule(t, dir, "kt8", asm, stubs, U8Table(ks)+"\n"+DirectTable(ds), U8MainSrc)
	if err := os.WriteFile(filepath.Join(dir, "u8.go"), []byte(U8Src), 0o644); err != nil {
		t.Fatal(err)
	}
}

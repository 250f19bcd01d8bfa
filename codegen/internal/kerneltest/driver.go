package kerneltest

import _ "embed"

// The driver library of every generated test module (WriteModule) lives in
// templates/*.go.txt: whole Go files of package main, written as they are
// (TestDriverSources).

// CommonSrc is common.go of every generated test module: guarded inputs,
// sentinel-guarded outputs, NaN fills, comparisons and the timing loop.
//
//go:embed templates/common.go.txt
var CommonSrc string

// DirectSrc is direct.go of every generated test module: the table type
// of direct-convolution kernels (dkernels, in table.go) and their check
// and benchmark.
//
//go:embed templates/direct.go.txt
var DirectSrc string

// DirectMainSrc is main.go of a module of direct kernels only:
//
//	go run . check DIR                   checkDirect
//	go run . bench REPS [cold|coldw] [FILTER]  benchDirect
//
//go:embed templates/direct_main.go.txt
var DirectMainSrc string

package main

import (
	"bytes"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/mod/module"

	rncsrc "github.com/rnc-dev/rnc"
	"github.com/rnc-dev/rnc/codegen"
	"github.com/rnc-dev/rnc/internal/fileio"
	"github.com/rnc-dev/rnc/internal/gotmpl"
	"github.com/rnc-dev/rnc/serve"
)

// serveMainTmpl is the main package rnc compile --server writes to
// DIR/cmd/serve (serveMainDir) and rnc serve builds: the model served over
// the Open Inference Protocol by package serve.
//
//go:embed templates/serve_main.go.txt
var serveMainTmpl string

// serveMainDir is where --server writes the server's main package,
// relative to the generated package.
var serveMainDir = filepath.Join("cmd", "serve")

// serverMain renders the server's main.go: it imports the generated
// package at modelImport and package serve at serveImport, and serves the
// model under name by default.
func serverMain(modelImport, serveImport, pkg, name, source string) ([]byte, error) {
	b, err := gotmpl.Execute(serveMainTemplate, serveMainData{
		Header: codegen.Header, Import: modelImport, Serve: serveImport,
		Package: pkg, Name: name, Source: filepath.Base(source),
	})
	if err != nil {
		return nil, err
	}
	out, err := format.Source(b)
	if err != nil {
		return nil, fmt.Errorf("the server's main.go does not parse: %w", err)
	}
	return out, nil
}

var serveMainTemplate = gotmpl.Parse("serve_main.go.txt", serveMainTmpl)

// serveMainData are the template's fields.
type serveMainData struct {
	Header, Import, Serve, Package, Name, Source string
}

// modelDeclRe finds the model declaration in a model file's text, its
// comments and strings blanked.
var modelDeclRe = regexp.MustCompile(`(?m)(?:^|[^A-Za-z0-9_])model\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(`)

// modelName is the name of the model declaration in the model file path
// (`model tinyv2(...)`: tinyv2), the name a server serves it under; the
// file's base name without .rn if none is found.
func modelName(path string) (string, error) {
	src, err := fileio.ReadFile(path, 64<<20)
	if err != nil {
		return "", err
	}
	if m := modelDeclRe.FindSubmatch(blankCommentsAndStrings(src)); m != nil {
		return string(m[1]), nil
	}
	return strings.TrimSuffix(filepath.Base(path), ".rn"), nil
}

// blankCommentsAndStrings replaces the model language's comments (# to
// the end of the line) and string literals ("..." or '...', with
// backslash escapes) by spaces.
func blankCommentsAndStrings(src []byte) []byte {
	out := bytes.Clone(src)
	for i := 0; i < len(out); i++ {
		switch c := out[i]; c {
		case '#':
			for ; i < len(out) && out[i] != '\n'; i++ {
				out[i] = ' '
			}
		case '"', '\'':
			out[i] = ' '
			for i++; i < len(out) && out[i] != c && out[i] != '\n'; i++ {
				if out[i] == '\\' && i+1 < len(out) {
					out[i] = ' '
					i++
				}
				out[i] = ' '
			}
			if i < len(out) && out[i] == c {
				out[i] = ' '
			}
		}
	}
	return out
}

// importPath is dir's import path: its path relative to the nearest
// go.mod at or above it, after that module's path.
func importPath(dir string) (string, error) {
	imp, modDir, modPath, err := dirImport(dir, "--server's cmd/serve imports the package by its path in your module; run go mod init MODULE-PATH first")
	if err != nil {
		return "", err
	}
	if err := module.CheckImportPath(imp); err != nil {
		return "", fmt.Errorf("%s would have the import path %q (module %s of %s), which Go does not accept: %v", dir, imp, modPath, filepath.Join(modDir, "go.mod"), err)
	}
	return imp, nil
}

// serverFiles are the files --server adds to a package compiled into dir
// from the model file source: cmd/serve/main.go, and with a copy of the
// runtime at runtimePath ("" for none) the copy of package serve beside it
// (keys relative to the copy, as RuntimeCopy's).
func serverFiles(dir, pkg, source, runtimePath string) (main []byte, copied map[string][]byte, err error) {
	imp, err := importPath(dir)
	if err != nil {
		return nil, nil, err
	}
	name, err := modelName(source)
	if err != nil {
		return nil, nil, err
	}
	serveImp := rncsrc.Module + "/serve"
	if runtimePath != "" {
		serveImp = rncsrc.ServeImport(runtimePath)
		if copied, err = rncsrc.ServeCopy(runtimePath, codegen.Header); err != nil {
			return nil, nil, err
		}
	}
	main, err = serverMain(imp, serveImp, pkg, name, source)
	return main, copied, err
}

var serveCmd = &command{
	name:  "serve",
	short: "serve a model over the Open Inference Protocol (KServe v2 REST and gRPC)",
	args:  "MODEL.rn --weights W [--addr HOST:PORT] [--grpc-addr HOST:PORT] [--name N] [--max-batch N] [--max-delay D] [--queue N] [--workers N] [--threads N] [--log-level L] [--target T] [--set name=value]...",
	summary: `Compile a model with its server (as rnc compile --server does) into a temporary directory,
build it and run it: the model is served under the name of its model declaration (--name
overrides it) over the Open Inference Protocol v2 REST API on --addr (and its gRPC service on
--grpc-addr, when given), with dynamic batching
(--max-batch images per Predict, gathered for at most --max-delay; --queue requests wait,
more are refused with 503) and Prometheus metrics at GET /metrics. SIGINT or SIGTERM shuts
it down gracefully: requests already accepted are answered. docs/serving.md has the details.`,
	flags: func(fs *flag.FlagSet) func([]string) error {
		pf := addPipelineFlags(fs, "auto")
		weights := fs.String("weights", os.Getenv("RNC_WEIGHTS"), "weight file (safetensors, Keras .h5 or PyTorch .pth; default $RNC_WEIGHTS)")
		addr := fs.String("addr", ":8080", "address to serve REST (HTTP) on")
		grpcAddr := fs.String("grpc-addr", "", "address to serve gRPC on (default: none)")
		name := fs.String("name", "", "the model's name in the protocol's paths (default: the model declaration's)")
		maxBatch := fs.Int("max-batch", serve.DefaultMaxBatch, "images per Predict")
		maxDelay := fs.Duration("max-delay", serve.DefaultMaxDelay, "how long a batch's first request waits for others")
		queue := fs.Int("queue", serve.DefaultQueue, "requests waiting for the model; beyond, 503")
		workers := fs.Int("workers", 1, "Predicts run at once")
		threads := fs.Int("threads", 0, "threads per Predict (default GOMAXPROCS)")
		logLevel := fs.String("log-level", "info", "debug, info, warn or error")
		return func(args []string) error {
			path, err := oneArg(args, "model file")
			if err != nil {
				return err
			}
			if *weights == "" {
				return errors.New("serve: --weights (or $RNC_WEIGHTS) is required")
			}
			if err := checkInt("threads", *threads, 0, maxThreads); err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			absWeights, err := filepath.Abs(*weights)
			if err != nil {
				return err
			}
			if _, _, err := fileio.Open(absWeights); err != nil {
				return fmt.Errorf("serve: --weights: %w", err)
			}
			g, cfg, err := pf.load(path)
			if err != nil {
				return err
			}
			ts, env, err := benchTargets(*pf.target, cfg.Precision)
			if err != nil {
				return err
			}
			srv, err := buildServer(path, func(opts codegen.Options) (*codegen.Result, error) {
				opts.Targets, opts.Pipeline = ts, cfg
				return codegen.Generate(g, opts)
			})
			if err != nil {
				return err
			}
			defer srv.Close()
			sargs := []string{"-weights", absWeights, "-addr", *addr, "-max-batch", strconv.Itoa(*maxBatch),
				"-max-delay", maxDelay.String(), "-queue", strconv.Itoa(*queue), "-workers", strconv.Itoa(*workers),
				"-threads", strconv.Itoa(*threads), "-log-level", *logLevel}
			if *name != "" {
				sargs = append(sargs, "-name", *name)
			}
			if *grpcAddr != "" {
				sargs = append(sargs, "-grpc-addr", *grpcAddr)
			}
			return srv.serve(env, sargs)
		}
	},
}

// serverBin is a built server for one model, in a temporary module.
type serverBin struct{ *runner }

// buildServer generates the model (gen, given the package options) with
// the server's main package into a temporary module, and builds it: on
// rnc's source tree when rnc runs in it (or RNC_ROOT names it), else on
// copies of the runtime and package serve embedded in rnc.
func buildServer(source string, gen func(codegen.Options) (*codegen.Result, error)) (*serverBin, error) {
	root, rootErr := rncRoot()
	const modPath, copyPath = "rncserve", "rncserve/model/runtime"
	opts := codegen.Options{Package: "model", Source: source}
	if rootErr != nil {
		opts.Runtime = copyPath
	}
	res, err := gen(opts)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rnc-serve-")
	if err != nil {
		return nil, err
	}
	r := &runner{dir: dir, bin: filepath.Join(dir, "serve")}
	r.unregister = atInterrupt(func() { os.RemoveAll(dir) })
	fail := func(err error) (*serverBin, error) {
		r.Close()
		return nil, err
	}
	files, err := moduleFiles(modPath, root, rootErr, copyPath, res)
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), files["go.mod"], 0o644); err != nil {
		return fail(err)
	}
	rtPath := ""
	if rootErr != nil {
		rtPath = copyPath
	}
	main, copied, err := serverFiles(filepath.Join(dir, "model"), "model", source, rtPath)
	if err != nil {
		return fail(err)
	}
	files[filepath.Join("model", serveMainDir, "main.go")] = main
	for name, data := range copied {
		files[filepath.Join("model", "runtime", filepath.FromSlash(name))] = data
	}
	if err := buildIn(dir, files, r.bin, "./model/cmd/serve", "the server"); err != nil {
		return fail(err)
	}
	return &serverBin{r}, nil
}

// forwardSignal, when set, receives the signals rnc gets instead of rnc
// exiting on them (main): rnc serve passes them to its server.
var forwardSignal atomic.Pointer[func(os.Signal)]

// serve runs the server in the foreground, its output rnc's, until it
// exits; SIGINT and SIGTERM are passed on to it (it shuts down
// gracefully), a second one kills it.
func (s *serverBin) serve(env, args []string) error {
	cmd := exec.Command(s.bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	var signals atomic.Int32
	f := func(sig os.Signal) {
		if signals.Add(1) > 1 {
			cmd.Process.Kill()
			return
		}
		cmd.Process.Signal(sig)
	}
	forwardSignal.Store(&f)
	defer forwardSignal.Store(nil)
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("serve: the server was killed by %v", ws.Signal())
		}
		return fmt.Errorf("serve: the server exited with status %d", ee.ExitCode())
	}
	return err
}

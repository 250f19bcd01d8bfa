package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/modfile"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rncsrc "github.com/rnc-dev/rnc"
	"github.com/rnc-dev/rnc/codegen"
	"github.com/rnc-dev/rnc/internal/gotmpl"
	"github.com/rnc-dev/rnc/serve/grpcv2/inference"
)

// TestServeMainSource: the server's main.go is a gofmt-clean Go file,
// the same for the same inputs, importing the package and serve where it
// is told, and serving the model declaration's name by default.
func TestServeMainSource(t *testing.T) {
	for _, serveImp := range []string{rncsrc.Module + "/serve", "example.com/m/gen/tiny/runtime/serve"} {
		a, err := serverMain("example.com/m/gen/tiny", serveImp, "tiny", "tinyv2", "models/tinyv2.rn")
		if err != nil {
			t.Fatal(err)
		}
		if err := gotmpl.Check("serve main.go", a); err != nil {
			t.Error(err)
		}
		b, _ := serverMain("example.com/m/gen/tiny", serveImp, "tiny", "tinyv2", "models/tinyv2.rn")
		if !bytes.Equal(a, b) {
			t.Error("two renderings differ")
		}
		s := string(a)
		for _, want := range []string{codegen.Header + "\n", "\tmodel \"example.com/m/gen/tiny\"\n", "\t\"" + serveImp + "\"\n", `flag.String("name", "tinyv2",`, "\t\"" + serveImp + "/grpcv2\"\n", "grpcv2.Serve(ctx, gln, b, cfg, metrics, log)"} {
			if !strings.Contains(s, want) {
				t.Errorf("main.go lacks %q:\n%s", want, s)
			}
		}
	}
}

func TestModelName(t *testing.T) {
	if n, err := modelName(path("models/tinyv2.rn")); err != nil || n != "tinyv2" {
		t.Errorf("tinyv2.rn: %q, %v", n, err)
	}
	p := filepath.Join(t.TempDir(), "x.rn")
	os.WriteFile(p, []byte("# model fake(\nmacro m(x, s = \"model other(\") { return x }\nmodel\n  real_1 (a = 'model x(') {}\n"), 0o644)
	if n, err := modelName(p); err != nil || n != "real_1" {
		t.Errorf("x.rn: %q, %v", n, err)
	}
	os.WriteFile(p, []byte("# nothing\n"), 0o644)
	if n, err := modelName(p); err != nil || n != "x" {
		t.Errorf("no declaration: %q, %v", n, err)
	}
}

// TestServeCopy: the copy of package serve and of its gRPC transport
// holds their non-test files, with rnc's header, the copy line, and their
// imports of the runtime and of each other rewritten.
func TestServeCopy(t *testing.T) {
	files, err := rncsrc.ServeCopy("example.com/m/gen/tiny/runtime", codegen.Header)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, dir := range []string{"serve", "serve/grpcv2", "serve/grpcv2/inference"} {
		ents, _ := os.ReadDir(path(dir))
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			n++
			f := dir + "/" + e.Name()
			s, ok := files[f]
			if !ok {
				t.Errorf("%s is not copied", f)
				continue
			}
			if !strings.HasPrefix(string(s), codegen.Header+"\n"+rncsrc.CopyLine+f+".\n") || strings.Contains(string(s), "\"github.com/rnc-dev/rnc/") {
				t.Errorf("%s:\n%.600s", f, s)
			}
		}
	}
	if !strings.Contains(string(files["serve/grpcv2/grpcv2.go"]), "\"example.com/m/gen/tiny/runtime/serve/grpcv2/inference\"") {
		t.Errorf("grpcv2.go's import of the protocol's code is not rewritten:\n%.1500s", files["serve/grpcv2/grpcv2.go"])
	}
	if n != len(files) || !strings.Contains(string(files["serve/serve.go"]), "\"example.com/m/gen/tiny/runtime\"") {
		t.Errorf("%d files copied of %d; serve.go:\n%.2000s", len(files), n, files["serve/serve.go"])
	}
}

// goBuild runs go build in dir.
func goBuild(t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
}

// predictMain is a program of the test's module that prints the library's
// outputs (little-endian float32) for the raw input in os.Args[2], or for
// the PNG picture os.Args[3] as Preprocess makes it.
const predictMain = `package main

import (
	"encoding/binary"
	"image/png"
	"math"
	"os"

	model "example.com/srv/gen/tinyv2"
)

func main() {
	m, err := model.Load(os.Args[1])
	if err != nil {
		panic(err)
	}
	var x []float32
	if len(os.Args) > 3 {
		f, err := os.Open(os.Args[3])
		if err != nil {
			panic(err)
		}
		img, err := png.Decode(f)
		if err != nil {
			panic(err)
		}
		if x, err = model.Preprocess(img); err != nil {
			panic(err)
		}
	} else {
		b, err := os.ReadFile(os.Args[2])
		if err != nil {
			panic(err)
		}
		for i := 0; i < len(b); i += 4 {
			x = append(x, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
		}
	}
	y := make([]float32, len(x)/(model.InputHeight*model.InputWidth*model.InputChannels)*model.Classes)
	if err := m.Predict(y, x); err != nil {
		panic(err)
	}
	for _, v := range y {
		binary.Write(os.Stdout, binary.LittleEndian, v)
	}
}
`

func le32s(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// TestCompileServer: rnc compile --server in a module that requires rnc
// writes a server that builds; run with synthetic weights on a free
// loopback port, it becomes ready, answers FP32 (binary extension) and
// PNG requests with exactly the library's outputs for the same inputs,
// and exits cleanly on SIGTERM.
func TestCompileServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program (-short)")
	}
	tmp := t.TempDir()
	repo, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tmp, "go.mod"), []byte("module example.com/srv\n\ngo 1.26\n\nrequire github.com/rnc-dev/rnc v0.0.0\n\nreplace github.com/rnc-dev/rnc => "+repo+"\n"), 0o644)
	os.WriteFile(filepath.Join(tmp, "go.sum"), sum, 0o644)
	gen := filepath.Join(tmp, "gen", "tinyv2")
	out, err := rnc(t, "compile", path("models/tinyv2.rn"), "-o", gen, "--server", "--runtime", "import", "--target", "generic")
	if err != nil || !strings.Contains(out, "wrote the server's main package to "+filepath.Join(gen, "cmd", "serve")) {
		t.Fatalf("compile --server: %v\n%s", err, out)
	}
	os.MkdirAll(filepath.Join(tmp, "predict"), 0o755)
	os.WriteFile(filepath.Join(tmp, "predict", "main.go"), []byte(predictMain), 0o644)
	weights := filepath.Join(tmp, "w.safetensors")
	if out, err := rnc(t, "weights", "init", path("models/tinyv2.rn"), "-o", weights); err != nil {
		t.Fatalf("weights init: %v\n%s", err, out)
	}
	env := []string{"GOFLAGS=-mod=mod", "GOWORK=off"}
	goBuild(t, tmp, env, "-o", filepath.Join(tmp, "srv"), "./gen/tinyv2/cmd/serve")
	goBuild(t, tmp, env, "-o", filepath.Join(tmp, "pred"), "./predict")

	// Refused at start: no weights, a weight file that is not one, a gRPC
	// address that cannot be listened on, a bad flag value.
	bad := filepath.Join(tmp, "bad.safetensors")
	os.WriteFile(bad, []byte("not a weight file"), 0o644)
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{nil, "-weights (or $RNC_WEIGHTS) is required"},
		{[]string{"-weights", bad, "-addr", "127.0.0.1:0"}, bad},
		{[]string{"-weights", weights, "-addr", "127.0.0.1:0", "-grpc-addr", "127.0.0.1:99999"}, "-grpc-addr: listen tcp: address 99999: invalid port"},
		{[]string{"-weights", weights, "-queue", "-1"}, "Queue -1"},
		{[]string{"-weights", weights, "-log-level", "loud"}, `-log-level "loud"`},
	} {
		cmd := exec.Command(filepath.Join(tmp, "srv"), c.args...)
		cmd.Env = append(os.Environ(), "RNC_WEIGHTS=")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.msg) {
			t.Errorf("serve %q: %v, output %s; want an error naming %q", c.args, err, out, c.msg)
		}
	}

	// The inputs and the library's outputs.
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 32*32*3)
	var xb []byte
	for i := range x {
		x[i] = rng.Float32()*2 - 1
		xb = binary.LittleEndian.AppendUint32(xb, math.Float32bits(x[i]))
	}
	os.WriteFile(filepath.Join(tmp, "x.f32"), xb, 0o644)
	pic := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := range 40 {
			pic.Set(x, y, color.RGBA{uint8(x * 6), uint8(y * 8), uint8(x * y), 255})
		}
	}
	var pngb bytes.Buffer
	png.Encode(&pngb, pic)
	os.WriteFile(filepath.Join(tmp, "x.png"), pngb.Bytes(), 0o644)
	lib := func(args ...string) []float32 {
		out, err := exec.Command(filepath.Join(tmp, "pred"), append([]string{weights}, args...)...).Output()
		if err != nil {
			t.Fatalf("the library: %v", err)
		}
		return le32s(out)
	}
	wantX, wantPNG := lib(filepath.Join(tmp, "x.f32")), lib("-", filepath.Join(tmp, "x.png"))

	// Start the server; its JSON log names its address.
	srv := exec.Command(filepath.Join(tmp, "srv"), "-weights", weights, "-addr", "127.0.0.1:0", "-grpc-addr", "127.0.0.1:0", "-max-delay", "1ms")
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	lines := make(chan map[string]any, 100)
	var logText bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logText.WriteString(sc.Text() + "\n")
			var m map[string]any
			json.Unmarshal(sc.Bytes(), &m)
			lines <- m
		}
		close(lines)
	}()
	var addr, gaddr string
	for addr == "" || gaddr == "" {
		m, ok := <-lines
		if !ok {
			t.Fatalf("the server exited: %v", srv.Wait())
		}
		switch m["msg"] {
		case "serving":
			addr, _ = m["addr"].(string)
		case "gRPC transport":
			gaddr, _ = m["addr"].(string)
		}
	}
	base := "http://" + addr
	for { // never ready: go test's timeout
		resp, err := http.Get(base + "/v2/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	var meta map[string]any
	if resp, err := http.Get(base + "/v2/models/tinyv2"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("metadata: %v %v", resp, err)
	} else {
		json.NewDecoder(resp.Body).Decode(&meta)
		resp.Body.Close()
	}
	if fmt.Sprint(meta["inputs"]) != "[map[datatype:FP32 name:input shape:[-1 32 32 3]]]" {
		t.Errorf("metadata: %v", meta)
	}

	infer := func(what, hdr string, bin []byte, want []float32) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/v2/models/tinyv2/infer", bytes.NewReader(append([]byte(hdr), bin...)))
		req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(len(hdr)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		k, _ := strconv.Atoi(resp.Header.Get("Inference-Header-Content-Length"))
		if resp.StatusCode != 200 || k > len(b) {
			t.Fatalf("%s: %d %q", what, resp.StatusCode, b)
		}
		got := le32s(b[k:])
		if len(got) != len(want) {
			t.Fatalf("%s: %d outputs, want %d", what, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: output %d = %v, the library's %v", what, i, got[i], want[i])
			}
		}
	}
	infer("FP32", `{"parameters":{"binary_data_output":true},"inputs":[{"name":"input","datatype":"FP32","shape":[1,32,32,3],"parameters":{"binary_data_size":12288}}]}`, xb, wantX)
	pb := binary.LittleEndian.AppendUint32(nil, uint32(pngb.Len()))
	pb = append(pb, pngb.Bytes()...)
	infer("PNG", fmt.Sprintf(`{"parameters":{"binary_data_output":true},"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":%d}}]}`, len(pb)), pb, wantPNG)

	// The same model over gRPC, through the same Batcher.
	conn, err := grpc.NewClient(gaddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gr, err := inference.NewGRPCInferenceServiceClient(conn).ModelInfer(context.Background(), &inference.ModelInferRequest{
		ModelName:        "tinyv2",
		Inputs:           []*inference.ModelInferRequest_InferInputTensor{{Name: "input", Datatype: "FP32", Shape: []int64{1, 32, 32, 3}}},
		RawInputContents: [][]byte{xb},
	})
	if err != nil || len(gr.GetRawOutputContents()) != 1 {
		t.Fatalf("gRPC ModelInfer: %v %v", gr, err)
	}
	if got := le32s(gr.GetRawOutputContents()[0]); !slices.Equal(got, wantX) {
		t.Errorf("gRPC: outputs %v, the library's %v", got, wantX)
	}
	gr, err = inference.NewGRPCInferenceServiceClient(conn).ModelInfer(context.Background(), &inference.ModelInferRequest{
		ModelName: "tinyv2",
		Inputs: []*inference.ModelInferRequest_InferInputTensor{{Name: "input", Datatype: "BYTES", Shape: []int64{1},
			Contents: &inference.InferTensorContents{BytesContents: [][]byte{pngb.Bytes()}}}},
	})
	if err != nil || len(gr.GetRawOutputContents()) != 1 {
		t.Fatalf("gRPC ModelInfer of a PNG: %v %v", gr, err)
	}
	if got := le32s(gr.GetRawOutputContents()[0]); !slices.Equal(got, wantPNG) {
		t.Errorf("gRPC PNG: outputs %v, the library's %v", got, wantPNG)
	}

	if resp, err := http.Get(base + "/metrics"); err != nil || resp.StatusCode != 200 {
		t.Errorf("metrics: %v %v", resp, err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `rnc_requests_total{code="200",model="tinyv2"} 4`) {
			t.Errorf("metrics:\n%s", b)
		}
	}

	srv.Process.Signal(syscall.SIGTERM)
	for range lines {
	}
	if err := srv.Wait(); err != nil {
		t.Errorf("the server after SIGTERM: %v\n%s", err, logText.String())
	}
	if !strings.Contains(logText.String(), `"msg":"shut down"`) {
		t.Errorf("no clean shutdown in the log:\n%s", logText.String())
	}
}

// TestCompileServerRuntimeCopy: in a module that does not require rnc,
// --server copies package serve and its gRPC transport beside the
// runtime's copy, and the server builds with rnc's requirements (the
// versions rnc's go.mod requires, Prometheus's client and gRPC among them;
// checksums from rnc's go.sum; no network). A compile without
// --server removes the server and the copy of serve.
func TestCompileServerRuntimeCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program (-short)")
	}
	tmp := t.TempDir()
	gm, err := os.ReadFile(path("go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", gm, nil)
	if err != nil {
		t.Fatal(err)
	}
	mod := "module example.com/app\n\ngo 1.26\n"
	for _, r := range mf.Require {
		mod += "\nrequire " + r.Mod.Path + " " + r.Mod.Version + "\n"
	}
	os.WriteFile(filepath.Join(tmp, "go.mod"), []byte(mod), 0o644)
	os.WriteFile(filepath.Join(tmp, "go.sum"), rncsrc.GoSum, 0o644)
	gen := filepath.Join(tmp, "gen", "tinyv2")
	out, err := rnc(t, "compile", path("models/tinyv2.rn"), "-o", gen, "--server", "--target", "generic")
	if err != nil || !strings.Contains(out, "package serve and its gRPC transport are copied to "+filepath.Join(gen, "runtime", "serve")) {
		t.Fatalf("compile --server: %v\n%s", err, out)
	}
	main, _ := os.ReadFile(filepath.Join(gen, "cmd", "serve", "main.go"))
	if !strings.Contains(string(main), "\t\"example.com/app/gen/tinyv2/runtime/serve\"\n") || !strings.HasPrefix(string(main), codegen.Header+"\n") {
		t.Errorf("main.go:\n%s", main)
	}
	goBuild(t, tmp, []string{"GOFLAGS=-mod=mod", "GOWORK=off", "GOPROXY=off", "GOSUMDB=off"}, "-o", filepath.Join(tmp, "srv"), "./gen/tinyv2/cmd/serve")

	// Without --server: the server and the copy of serve go.
	if out, err := rnc(t, "compile", path("models/tinyv2.rn"), "-o", gen, "--target", "generic"); err != nil {
		t.Fatalf("compile: %v\n%s", err, out)
	}
	for _, p := range []string{filepath.Join(gen, "cmd"), filepath.Join(gen, "runtime", "serve")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is left after a compile without --server", p)
		}
	}
	// A user's file where the server goes is not replaced.
	os.MkdirAll(filepath.Join(gen, "cmd", "serve"), 0o755)
	os.WriteFile(filepath.Join(gen, "cmd", "serve", "main.go"), []byte("package main\n"), 0o644)
	if _, err := rnc(t, "compile", path("models/tinyv2.rn"), "-o", gen, "--server", "--target", "generic"); err == nil || !strings.Contains(err.Error(), "was not written by rnc") {
		t.Errorf("compile --server over a user's main.go: %v", err)
	}
	if _, err := rnc(t, "compile", path("models/tinyv2.rn"), "-o", gen, "--target", "generic"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(gen, "cmd", "serve", "main.go")); string(b) != "package main\n" {
		t.Errorf("a user's cmd/serve/main.go was removed or changed: %q", b)
	}
}

// TestServeCommand: rnc serve builds the server and runs it in the
// foreground; it answers, and a SIGTERM passed on shuts it down cleanly
// (rnc serve returns nil).
func TestServeCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program (-short)")
	}
	tmp := t.TempDir()
	weights := filepath.Join(tmp, "w.safetensors")
	if out, err := rnc(t, "weights", "init", path("models/tinyv2.rn"), "-o", weights); err != nil {
		t.Fatalf("weights init: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- run([]string{"serve", path("models/tinyv2.rn"), "--weights", weights, "--addr", addr, "--name", "tiny", "--target", "generic", "--log-level", "warn"}, &out, &out)
	}()
	var ready bool
	for !ready { // never ready: go test's timeout
		select {
		case err := <-done:
			t.Fatalf("rnc serve returned %v\n%s", err, out.String())
		default:
		}
		resp, err := http.Get("http://" + addr + "/v2/models/tiny/ready")
		if err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == 200
		}
		time.Sleep(10 * time.Millisecond)
	}
	body := `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,32,32,3],"data":[` + strings.TrimSuffix(strings.Repeat("0.5,", 32*32*3), ",") + `]}]}`
	resp, err := http.Post("http://"+addr+"/v2/models/tiny/infer", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Outputs []struct{ Data []float32 } }
	json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(m.Outputs) != 1 || len(m.Outputs[0].Data) != 10 {
		t.Errorf("infer: %d %+v", resp.StatusCode, m)
	}
	f := forwardSignal.Load()
	if f == nil {
		t.Fatal("rnc serve forwards no signals")
	}
	(*f)(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Errorf("rnc serve after SIGTERM: %v", err)
	}
	if forwardSignal.Load() != nil {
		t.Error("rnc serve left its signal forwarding in place")
	}
}

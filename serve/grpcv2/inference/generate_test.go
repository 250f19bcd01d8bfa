package inference

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
)

// The committed .pb.go files are what protoc and the plugin versions
// go.mod pins (its tool lines) generate from grpc_service.proto, as
// doc.go's go:generate line runs them. The line naming protoc's version
// is left out of the comparison: the rest must be byte-identical.
func TestGeneratedCodeUpToDate(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Skip("protoc is not on PATH (Debian: apt-get install protobuf-compiler): the generated code is not checked")
	}
	if testing.Short() {
		t.Skip("-short: builds protoc-gen-go and protoc-gen-go-grpc")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	bin, out := t.TempDir(), t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, b)
		}
	}
	for _, p := range []string{"google.golang.org/protobuf/cmd/protoc-gen-go", "google.golang.org/grpc/cmd/protoc-gen-go-grpc"} {
		run(goCmd, "build", "-o", filepath.Join(bin, filepath.Base(p)), p)
	}
	run(protoc, "--plugin=protoc-gen-go="+filepath.Join(bin, "protoc-gen-go"), "--plugin=protoc-gen-go-grpc="+filepath.Join(bin, "protoc-gen-go-grpc"),
		"--go_out="+out, "--go_opt=module=github.com/rnc-dev/rnc", "--go-grpc_out="+out, "--go-grpc_opt=module=github.com/rnc-dev/rnc",
		"serve/grpcv2/inference/grpc_service.proto")
	protocLine := regexp.MustCompile(`(?m)^// .*protoc +v.*$`)
	for _, f := range []string{"grpc_service.pb.go", "grpc_service_grpc.pb.go"} {
		got, err := os.ReadFile(filepath.Join(out, "serve/grpcv2/inference", f))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(protocLine.ReplaceAll(got, nil), protocLine.ReplaceAll(committed, nil)) {
			t.Errorf("%s differs from what protoc generates now: run go generate ./serve/grpcv2/inference", f)
		}
	}
}

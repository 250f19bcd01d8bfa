package oipclient

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rnc-dev/rnc/examples/classify/resnet50v2"
	"github.com/rnc-dev/rnc/internal/python"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/serve"
)

// python3 finds a python3 that imports requests, or skips the test
// saying what is missing (Debian: apt-get install python3-requests).
func python3(t *testing.T) string {
	t.Helper()
	py, why := python.Find("requests")
	if py == "" {
		t.Skip("the protocol client test needs python3 and requests: " + why)
	}
	return py
}

// client.py, a client written from the protocol's examples with Python's
// requests, talks to serve.Handler serving ResNet50V2 (the committed
// generated package, synthetic weights): every check it makes passes, and
// the outputs it received are bit for bit the library's Predict on the
// inputs it sent.
func TestPythonClient(t *testing.T) {
	py := python3(t)
	m, err := resnet50v2.New(runtime.SyntheticWeights(resnet50v2.Program(), 1), resnet50v2.WithThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg, err := serve.FromProgram(resnet50v2.Program(), "resnet50v2")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(serve.Handler(m, cfg))
	defer srv.Close()

	const n = 2
	out := filepath.Join(t.TempDir(), "result.json")
	cmd := exec.Command(py, "client.py", "--url", srv.URL, "--model", "resnet50v2", "--images", "2", "--seed", "3", "--out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("client.py: %v\n%s", err, b)
	} else {
		t.Logf("%s", b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Model   string
		Shape   []int
		Inputs  [][]float64
		Outputs [][]float64
		Checks  []string
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("client.py's result: %v", err)
	}
	per := resnet50v2.InputHeight * resnet50v2.InputWidth * resnet50v2.InputChannels
	if want := []string{"health", "server metadata", "model metadata", "infer flat", "infer nested", "errors"}; !slices.Equal(res.Checks, want) {
		t.Errorf("checks %q, want %q", res.Checks, want)
	}
	if !slices.Equal(res.Shape, []int{n, 224, 224, 3}) || len(res.Inputs) != n || len(res.Outputs) != n {
		t.Fatalf("result: shape %v, %d inputs, %d outputs", res.Shape, len(res.Inputs), len(res.Outputs))
	}
	src := make([]float32, 0, n*per)
	for i, img := range res.Inputs {
		if len(img) != per {
			t.Fatalf("input %d has %d values, want %d", i, len(img), per)
		}
		for _, v := range img {
			f := float32(v)
			if float64(f) != v {
				t.Fatalf("input %d: %v is not a float32", i, v)
			}
			src = append(src, f)
		}
	}
	want := make([]float32, n*resnet50v2.Classes)
	if err := m.Predict(want, src); err != nil {
		t.Fatal(err)
	}
	// A swap of the two images' answers must show: their outputs differ
	// in most classes.
	differ := 0
	for k := range resnet50v2.Classes {
		if want[k] != want[resnet50v2.Classes+k] {
			differ++
		}
	}
	if differ < resnet50v2.Classes/2 {
		t.Fatalf("the two images' outputs differ in %d classes of %d: a swap could go unseen", differ, resnet50v2.Classes)
	}
	for i, o := range res.Outputs {
		if len(o) != resnet50v2.Classes {
			t.Fatalf("output %d has %d values, want %d", i, len(o), resnet50v2.Classes)
		}
		for k, v := range o {
			if w := want[i*resnet50v2.Classes+k]; float32(v) != w || math.IsNaN(v) {
				t.Fatalf("image %d class %d: the client received %v, Predict gives %v", i, k, v, w)
			}
		}
	}
}

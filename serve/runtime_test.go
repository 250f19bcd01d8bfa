package serve

import (
	"fmt"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/rnc-dev/rnc/runtime"
)

// A *runtime.Model is a Model: a one-step program that copies its 1×1×3
// image to its 3 outputs, served under the Config FromProgram makes.
func TestServeRuntimeModel(t *testing.T) {
	prog := &runtime.Program{Name: "copy", InputH: 1, InputW: 1, InputC: 3, Classes: 3, Plans: []*runtime.Plan{{
		Target: "generic", ArenaFloats: 6,
		Input: runtime.Buf{H: 1, W: 1, C: 3}, Output: runtime.Buf{Off: 3, H: 1, W: 1, C: 3},
		Steps: []runtime.Step{{Name: "copy", Kind: runtime.OpCopy, In: []runtime.Buf{{H: 1, W: 1, C: 3}}, Out: []runtime.Buf{{Off: 3, H: 1, W: 1, C: 3}}, Kernel: -1, Bias: -1}},
	}}}
	m, err := runtime.New(prog, runtime.NewWeights(), runtime.WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg, err := FromProgram(prog, "copy")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Config{Name: "copy", InputH: 1, InputW: 1, InputC: 3, Classes: 3}); !reflect.DeepEqual(cfg, want) {
		t.Errorf("FromProgram: %+v, want %+v", cfg, want)
	}
	srv := httptest.NewServer(Handler(m, cfg))
	defer srv.Close()
	code, meta := do(t, "GET", srv.URL+"/v2/models/copy", "")
	if code != 200 || fmt.Sprint(meta["inputs"]) != "[map[datatype:FP32 name:input shape:[-1 1 1 3]]]" || fmt.Sprint(meta["outputs"]) != "[map[datatype:FP32 name:output shape:[-1 3]]]" {
		t.Errorf("metadata: %d %v", code, meta)
	}
	body := `{"id":"x","inputs":[{"name":"input","datatype":"FP32","shape":[2,1,1,3],"data":[[[[1.5,-2,3e-3]]],[[[4,5.25,6]]]]}]}`
	code, out := do(t, "POST", srv.URL+"/v2/models/copy/infer", body)
	if got := fmt.Sprint(out["outputs"]); code != 200 || got != "[map[data:[1.5 -2 0.003 4 5.25 6] datatype:FP32 name:output shape:[2 3]]]" {
		t.Errorf("infer: %d %v", code, out)
	}
	if _, err := FromProgram(nil, "x"); err == nil {
		t.Error("FromProgram(nil) = nil error")
	}
	if _, err := FromProgram(prog, ""); err == nil {
		t.Error("FromProgram with an empty name = nil error")
	}
}

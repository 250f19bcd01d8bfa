package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// fakeModel computes, for image i and class j, sum(image i)·(j+1) + i and
// records every call's image count.
type fakeModel struct {
	per, classes int
	fail         error
	nan          bool

	mu    sync.Mutex
	calls []int // images per call
}

func (f *fakeModel) Predict(dst, src []float32) error {
	if len(src)%f.per != 0 || len(dst) != len(src)/f.per*f.classes {
		return fmt.Errorf("fake: src %d, dst %d", len(src), len(dst))
	}
	n := len(src) / f.per
	f.mu.Lock()
	f.calls = append(f.calls, n)
	f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	for i := range n {
		var s float32
		for _, v := range src[i*f.per : (i+1)*f.per] {
			s += v
		}
		for j := range f.classes {
			dst[i*f.classes+j] = s*float32(j+1) + float32(i)
		}
	}
	if f.nan {
		dst[len(dst)-1] = float32(math.NaN())
	}
	return nil
}

// The test model: 2×3×2 images (H, W, C), 4 classes.
const tH, tW, tC, tClasses = 2, 3, 2, 4

func testConfig() Config {
	return Config{Name: "tiny", Version: "7", InputH: tH, InputW: tW, InputC: tC, Classes: tClasses, MaxBatch: 4, MaxBodyBytes: 1 << 16}
}

func newTest(t *testing.T, cfg Config) (*httptest.Server, *fakeModel) {
	t.Helper()
	f := &fakeModel{per: cfg.InputH * cfg.InputW * cfg.InputC, classes: cfg.Classes}
	srv := httptest.NewServer(Handler(f, cfg))
	t.Cleanup(srv.Close)
	return srv, f
}

func do(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, url, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %d, body %q is not a JSON object: %v", method, url, resp.StatusCode, b, err)
	}
	return resp.StatusCode, m
}

// images makes n images whose element k of image i is i + k/100.
func images(n int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, tH*tW*tC)
		for k := range out[i] {
			out[i][k] = float32(i) + float32(k)/100
		}
	}
	return out
}

func flat(imgs [][]float32) []float32 {
	var x []float32
	for _, im := range imgs {
		x = append(x, im...)
	}
	return x
}

// nested writes images as [n][H][W][C] arrays.
func nested(imgs [][]float32) any {
	out := make([][][][]float32, len(imgs))
	for i, im := range imgs {
		out[i] = make([][][]float32, tH)
		for y := range tH {
			out[i][y] = make([][]float32, tW)
			for x := range tW {
				out[i][y][x] = im[(y*tW+x)*tC : (y*tW+x+1)*tC]
			}
		}
	}
	return out
}

func inferBody(t *testing.T, id string, n int, data any) string {
	t.Helper()
	req := map[string]any{
		"inputs": []any{map[string]any{"name": "input", "datatype": "FP32", "shape": []int{n, tH, tW, tC}, "data": data}},
	}
	if id != "" {
		req["id"] = id
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// want is the fake model's output for imgs.
func want(imgs [][]float32) []float64 {
	var out []float64
	for i, im := range imgs {
		var s float32
		for _, v := range im {
			s += v
		}
		for j := range tClasses {
			out = append(out, float64(s*float32(j+1)+float32(i)))
		}
	}
	return out
}

func checkOutputs(t *testing.T, m map[string]any, n int, wantData []float64) {
	t.Helper()
	outs, _ := m["outputs"].([]any)
	if len(outs) != 1 {
		t.Fatalf("outputs: %v", m["outputs"])
	}
	o := outs[0].(map[string]any)
	if o["name"] != "output" || o["datatype"] != "FP32" || fmt.Sprint(o["shape"]) != fmt.Sprint([]any{float64(n), float64(tClasses)}) {
		t.Errorf("output %v", o)
	}
	data, _ := o["data"].([]any)
	if len(data) != len(wantData) {
		t.Fatalf("output data has %d values, want %d", len(data), len(wantData))
	}
	for i, v := range data {
		// The response carries float32 values in their shortest form.
		if float32(v.(float64)) != float32(wantData[i]) {
			t.Errorf("output[%d] (image %d, class %d) = %v, want %v", i, i/tClasses, i%tClasses, v, wantData[i])
		}
	}
}

func TestHealthAndMetadata(t *testing.T) {
	srv, _ := newTest(t, testConfig())
	for _, c := range []struct {
		path string
		want string
	}{
		{"/v2/health/live", `map[live:true]`},
		{"/v2/health/ready", `map[ready:true]`},
		{"/v2/models/tiny/ready", `map[ready:true]`},
		{"/v2/models/tiny/versions/7/ready", `map[ready:true]`},
		{"/v2", `map[extensions:[binary_tensor_data] name:rnc version:0.1.0]`},
		{"/v2/", `map[extensions:[binary_tensor_data] name:rnc version:0.1.0]`},
	} {
		code, m := do(t, "GET", srv.URL+c.path, "")
		if code != 200 || fmt.Sprint(m) != c.want {
			t.Errorf("GET %s: %d %v, want 200 %s", c.path, code, m, c.want)
		}
	}
	wantMeta := `map[inputs:[map[datatype:FP32 name:input shape:[-1 2 3 2]]] name:tiny outputs:[map[datatype:FP32 name:output shape:[-1 4]]] platform:rnc versions:[7]]`
	for _, p := range []string{"/v2/models/tiny", "/v2/models/tiny/versions/7"} {
		code, m := do(t, "GET", srv.URL+p, "")
		if code != 200 || fmt.Sprint(m) != wantMeta {
			t.Errorf("GET %s: %d %v, want 200 %s", p, code, m, wantMeta)
		}
	}
	// NCHW: the metadata's shape is channels first.
	cfg := testConfig()
	cfg.NCHW = true
	srv2, _ := newTest(t, cfg)
	code, m := do(t, "GET", srv2.URL+"/v2/models/tiny", "")
	if in := fmt.Sprint(m["inputs"]); code != 200 || in != `[map[datatype:FP32 name:input shape:[-1 2 2 3]]]` {
		t.Errorf("NCHW metadata: %d %s", code, in)
	}
}

// A model without a version: no versioned paths, no versions listed, no
// model_version in responses.
func TestNoVersion(t *testing.T) {
	cfg := testConfig()
	cfg.Version = ""
	srv, _ := newTest(t, cfg)
	if code, m := do(t, "GET", srv.URL+"/v2/models/tiny", ""); code != 200 || fmt.Sprint(m["versions"]) != "[]" {
		t.Errorf("metadata: %d %v", code, m)
	}
	for _, p := range []string{"/v2/models/tiny/versions/7", "/v2/models/tiny/versions//ready", "/v2/models/tiny/versions/1/infer"} {
		if code, m := do(t, "GET", srv.URL+p, ""); code != 404 || !strings.Contains(fmt.Sprint(m["error"]), `model "tiny" has no version`) {
			t.Errorf("GET %s: %d %v", p, code, m)
		}
	}
	imgs := images(1)
	code, m := do(t, "POST", srv.URL+"/v2/models/tiny/infer", inferBody(t, "", 1, flat(imgs)))
	if _, ok := m["model_version"]; code != 200 || ok {
		t.Errorf("infer: %d %v", code, m)
	}
	checkOutputs(t, m, 1, want(imgs))
}

func TestNotReady(t *testing.T) {
	srv := httptest.NewServer(Handler(nil, testConfig()))
	defer srv.Close()
	if code, m := do(t, "GET", srv.URL+"/v2/health/live", ""); code != 200 || m["live"] != true {
		t.Errorf("live: %d %v", code, m)
	}
	for _, p := range []string{"/v2/health/ready", "/v2/models/tiny/ready"} {
		if code, m := do(t, "GET", srv.URL+p, ""); code != 503 || m["ready"] != false {
			t.Errorf("%s: %d %v, want 503 ready false", p, code, m)
		}
	}
	code, m := do(t, "POST", srv.URL+"/v2/models/tiny/infer", inferBody(t, "", 1, flat(images(1))))
	if code != 503 || m["error"] != `model "tiny" is not ready` {
		t.Errorf("infer: %d %v", code, m)
	}
}

func TestBadConfig(t *testing.T) {
	cfg := testConfig()
	cfg.InputC = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "input shape 2×3×0") {
		t.Fatalf("Validate: %v", err)
	}
	srv, _ := newTest(t, cfg)
	for _, p := range []string{"/v2/health/ready", "/v2/models/tiny"} {
		if code, m := do(t, "GET", srv.URL+p, ""); code != 500 || !strings.Contains(fmt.Sprint(m["error"]), "input shape 2×3×0") {
			t.Errorf("%s: %d %v", p, code, m)
		}
	}
	for _, c := range []Config{
		{InputH: 1, InputW: 1, InputC: 1, Classes: 1},
		{Name: "a/b", InputH: 1, InputW: 1, InputC: 1, Classes: 1},
		{Name: "a", InputH: 1 << 20, InputW: 1 << 20, InputC: 1 << 20, Classes: 1},
		{Name: "a", InputH: 1, InputW: 1, InputC: 1, Classes: 0},
		{Name: "a", InputH: 1, InputW: 1, InputC: 1, Classes: 1, MaxBatch: -1},
		{Name: "a", InputH: 1, InputW: 1, InputC: 1, Classes: 1 << 20, MaxBatch: 1 << 12},
		{Name: "a", InputH: 1, InputW: 1, InputC: 1, Classes: 1, MaxBodyBytes: -1},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", c)
		}
	}
	if err := (Config{Name: "a", InputH: 1, InputW: 1, InputC: 1, Classes: 1}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestInferFlatAndNested(t *testing.T) {
	srv, f := newTest(t, testConfig())
	imgs := images(3)
	for _, data := range []any{flat(imgs), nested(imgs)} {
		code, m := do(t, "POST", srv.URL+"/v2/models/tiny/infer", inferBody(t, "req-42", 3, data))
		if code != 200 {
			t.Fatalf("infer: %d %v", code, m)
		}
		if m["model_name"] != "tiny" || m["model_version"] != "7" || m["id"] != "req-42" {
			t.Errorf("response header fields: %v", m)
		}
		checkOutputs(t, m, 3, want(imgs))
	}
	if fmt.Sprint(f.calls) != "[3 3]" {
		t.Errorf("Predict calls (images each): %v, want [3 3]", f.calls)
	}
	// Versioned path, no id, an explicit output request.
	body := `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,2,3,2],"data":` + jsonOf(t, flat(imgs[:1])) + `}],"outputs":[{"name":"output"}],"parameters":{}}`
	code, m := do(t, "POST", srv.URL+"/v2/models/tiny/versions/7/infer", body)
	if code != 200 {
		t.Fatalf("versioned infer: %d %v", code, m)
	}
	if _, ok := m["id"]; ok {
		t.Errorf("id without one in the request: %v", m)
	}
	checkOutputs(t, m, 1, want(imgs[:1]))
}

func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An NCHW model's nested data is [n][C][H][W], passed to Predict as it
// comes (the model transposes).
func TestInferNCHW(t *testing.T) {
	cfg := testConfig()
	cfg.NCHW = true
	srv, _ := newTest(t, cfg)
	imgs := images(2)
	nest := make([][][][]float32, 2)
	for i, im := range imgs {
		nest[i] = make([][][]float32, tC)
		for c := range tC {
			nest[i][c] = make([][]float32, tH)
			for y := range tH {
				nest[i][c][y] = im[(c*tH+y)*tW : (c*tH+y+1)*tW]
			}
		}
	}
	body := `{"inputs":[{"name":"input","datatype":"FP32","shape":[2,2,2,3],"data":` + jsonOf(t, nest) + `}]}`
	code, m := do(t, "POST", srv.URL+"/v2/models/tiny/infer", body)
	if code != 200 {
		t.Fatalf("%d %v", code, m)
	}
	checkOutputs(t, m, 2, want(imgs))
	// NHWC's shape is refused by an NCHW model.
	code, m = do(t, "POST", srv.URL+"/v2/models/tiny/infer", inferBody(t, "", 1, flat(imgs[:1])))
	if code != 400 || !strings.Contains(fmt.Sprint(m["error"]), "want [n, C, H, W] = [n, 2, 2, 3]") {
		t.Errorf("NHWC shape on NCHW: %d %v", code, m)
	}
}

func TestInferErrors(t *testing.T) {
	srv, f := newTest(t, testConfig())
	one := jsonOf(t, flat(images(1)))
	req := func(name, dtype, shape, data string) string {
		return `{"inputs":[{"name":"` + name + `","datatype":"` + dtype + `","shape":` + shape + `,"data":` + data + `}]}`
	}
	long := "[" + strings.Repeat("1,", 12*5) + "1]"
	cases := []struct {
		name, path, body string
		code             int
		msg              string
	}{
		{"malformed", "/v2/models/tiny/infer", `{"inputs":[`, 400, "malformed request JSON: unexpected end of JSON input"},
		{"not an object", "/v2/models/tiny/infer", `[1,2]`, 400, "malformed request JSON: json: cannot unmarshal array"},
		{"trailing", "/v2/models/tiny/infer", req("input", "FP32", "[1,2,3,2]", one) + `{}`, 400, "malformed request JSON: invalid character '{' after top-level value"},
		{"misspelt inputs", "/v2/models/tiny/infer", `{"input":[]}`, 400, `request has 0 inputs`},
		{"misspelt data", "/v2/models/tiny/infer", `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,2,3,2],"dta":` + one + `}]}`, 400, `no data`},
		{"no inputs", "/v2/models/tiny/infer", `{"inputs":[]}`, 400, `request has 0 inputs: model "tiny" has one, "input"`},
		{"input name", "/v2/models/tiny/infer", req("x", "FP32", "[1,2,3,2]", one), 400, `unknown input "x"`},
		{"output name", "/v2/models/tiny/infer", `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,2,3,2],"data":` + one + `}],"outputs":[{"name":"probs"}]}`, 400, `unknown output "probs"`},
		{"datatype", "/v2/models/tiny/infer", req("input", "FP64", "[1,2,3,2]", one), 400, `datatype "FP64": want FP32`},
		{"rank", "/v2/models/tiny/infer", req("input", "FP32", "[1,12]", one), 400, "shape has 2 dimensions: want 4, [n, H, W, C] = [n, 2, 3, 2]"},
		{"shape", "/v2/models/tiny/infer", req("input", "FP32", "[1,3,2,2]", one), 400, "shape [1 3 2 2]: want [n, H, W, C] = [n, 2, 3, 2]"},
		{"zero batch", "/v2/models/tiny/infer", req("input", "FP32", "[0,2,3,2]", "[]"), 400, "shape[0] = 0: dimensions must be at least 1"},
		{"negative", "/v2/models/tiny/infer", req("input", "FP32", "[1,-2,3,2]", one), 400, "shape[1] = -2: dimensions must be at least 1"},
		{"fraction", "/v2/models/tiny/infer", req("input", "FP32", "[1.5,2,3,2]", one), 400, "shape[0] = 1.5 is not an integer"},
		{"shape string", "/v2/models/tiny/infer", req("input", "FP32", `["1",2,3,2]`, one), 400, `shape[0] = "1" is not an integer`},
		{"shape null", "/v2/models/tiny/infer", req("input", "FP32", `[null,2,3,2]`, one), 400, `shape[0] = null is not an integer`},
		{"too many images", "/v2/models/tiny/infer", req("input", "FP32", "[5,2,3,2]", one), 400, "5 images: at most 4 per request"},
		{"huge batch", "/v2/models/tiny/infer", req("input", "FP32", "[1e12,2,3,2]", one), 400, "1e12 images: at most 4 per request"},
		{"huge int batch", "/v2/models/tiny/infer", req("input", "FP32", "[99999999999999999999999,2,3,2]", one), 400, "99999999999999999999999 images: at most 4 per request"},
		{"too few", "/v2/models/tiny/infer", req("input", "FP32", "[2,2,3,2]", one), 400, "flat data has 12 numbers: the shape needs 24"},
		{"data cannot hold", "/v2/models/tiny/infer", req("input", "FP32", "[4,2,3,2]", one), 400, "shape [4 2 3 2] has 48 elements; its"},
		{"too many", "/v2/models/tiny/infer", req("input", "FP32", "[1,2,3,2]", long), 400, "flat data has more than 12 numbers: the shape needs 12"},
		{"parameters not an object", "/v2/models/tiny/infer", `{"parameters":3,"inputs":[]}`, 400, `malformed request JSON: json: cannot unmarshal number into Go struct field inferRequest.parameters`},
		{"no data", "/v2/models/tiny/infer", `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,2,3,2]}]}`, 400, "no data"},
		{"data not array", "/v2/models/tiny/infer", req("input", "FP32", "[1,2,3,2]", `{"a":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}`), 400, "not a JSON array"},
		{"string element", "/v2/models/tiny/infer", req("input", "FP32", "[1,2,3,2]", `[1,2,3,4,5,6,7,8,9,10,11,"12"]`), 400, "element 11 (in the data array) is not a number"},
		{"null element", "/v2/models/tiny/infer", req("input", "FP32", "[1,2,3,2]", `[1,2,3,4,5,6,7,8,9,10,11,null]`), 400, "element 11 (in the data array) is not a number"},
		{"NaN literal", "/v2/models/tiny/infer", req("input", "FP32", "[1,2,3,2]", `[1,2,3,4,5,6,7,8,9,10,11,NaN]`), 400, "malformed request JSON: invalid character 'N'"},
		{"Infinity literal", "/v2/models/tiny/infer", req("input", "FP32", "[1,2,3,2]", `[1,2,3,4,5,6,7,8,9,10,11,-Infinity]`), 400, "malformed request JSON: invalid character 'I'"},
		{"infinity", "/v2/models/tiny/infer", req("input", "FP32", "[1,2,3,2]", `[1,2,3,4,5,6,7,8,9,10,11,1e39]`), 400, "1e39 is beyond float32's range"},
		{"ragged", "/v2/models/tiny/infer", req("input", "FP32", "[1,2,3,2]", `[[[[1,2],[3,4],[5,6]],[[7,8],[9,10],[11,12,13]]]]`), 400, "data[0][1][2] has more than 2 entries: dimension 3 of the shape [1 2 3 2] is 2"},
		{"short row", "/v2/models/tiny/infer", req("input", "FP32", "[1,2,3,2]", `[[[[1,2],[3,4],[5,6]],[[7,8],[9,10],[11]]], 0,0,0,0,0,0,0,0,0,0,0,0]`), 400, "data[0][1][2] has 1 entries: dimension 3 of the shape [1 2 3 2] is 2"},
		{"mixed nesting", "/v2/models/tiny/infer", req("input", "FP32", "[1,2,3,2]", `[[1,2,3,4,5,6,7,8,9,10,11,12]]`), 400, "data[0][0] is not an array"},
		{"unknown model", "/v2/models/big/infer", req("input", "FP32", "[1,2,3,2]", one), 404, `unknown model "big" (this server serves "tiny")`},
		{"unknown version", "/v2/models/tiny/versions/8/infer", req("input", "FP32", "[1,2,3,2]", one), 404, `model "tiny" has no version "8"`},
		{"unknown endpoint", "/v2/models/tiny/explain", "", 404, "no endpoint /v2/models/tiny/explain"},
		{"outside v2", "/v1/models/tiny", "", 404, "no endpoint /v1/models/tiny"},
	}
	for _, c := range cases {
		method := "POST"
		if c.body == "" {
			method = "GET"
		}
		code, m := do(t, method, srv.URL+c.path, c.body)
		if code != c.code || !strings.Contains(fmt.Sprint(m["error"]), c.msg) || len(m) != 1 {
			t.Errorf("%s: %d %v, want %d with an error containing %q", c.name, code, m, c.code, c.msg)
		}
	}
	if len(f.calls) != 0 {
		t.Errorf("Predict ran on refused requests: %v", f.calls)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	srv, _ := newTest(t, testConfig())
	for _, c := range []struct{ method, path, allow string }{
		{"GET", "/v2/models/tiny/infer", "POST"},
		{"POST", "/v2/health/live", "GET"},
		{"DELETE", "/v2/health/ready", "GET"},
		{"PUT", "/v2", "GET"},
		{"POST", "/v2/models/tiny", "GET"},
		{"POST", "/v2/models/tiny/versions/7/ready", "GET"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantMsg := fmt.Sprintf(`{"error":"method %s not allowed on %s: use %s"}`, c.method, c.path, c.allow)
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != c.allow || string(b) != wantMsg {
			t.Errorf("%s %s: %d Allow %q %s, want 405 %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), b, wantMsg)
		}
	}
}

func TestPredictFailsAndNonFiniteOutput(t *testing.T) {
	srv, f := newTest(t, testConfig())
	f.fail = errors.New("out of arena")
	body := inferBody(t, "", 1, flat(images(1)))
	code, m := do(t, "POST", srv.URL+"/v2/models/tiny/infer", body)
	if code != 500 || m["error"] != `model "tiny": predict: out of arena` {
		t.Errorf("failing Predict: %d %v", code, m)
	}
	f.fail, f.nan = nil, true
	code, m = do(t, "POST", srv.URL+"/v2/models/tiny/infer", body)
	if code != 500 || !strings.Contains(fmt.Sprint(m["error"]), "produced NaN at output element 3 (image 0, class 3)") {
		t.Errorf("NaN output: %d %v", code, m)
	}
}

// A body of twice the limit is a 413, whether or not it declares its length.
func TestBodyTooLarge(t *testing.T) {
	cfg := testConfig()
	srv, f := newTest(t, cfg)
	big := `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,2,3,2],"data":[` + strings.Repeat("0,", int(cfg.MaxBodyBytes)) + `0]}]}`
	code, m := do(t, "POST", srv.URL+"/v2/models/tiny/infer", big)
	want := fmt.Sprintf("request body larger than %d bytes", cfg.MaxBodyBytes)
	if code != 413 || m["error"] != want {
		t.Errorf("Content-Length body: %d %v", code, m)
	}
	// Chunked: no Content-Length.
	req, _ := http.NewRequest("POST", srv.URL+"/v2/models/tiny/infer", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || !strings.Contains(string(b), want) {
		t.Errorf("chunked body: %d %s", resp.StatusCode, b)
	}
	if len(f.calls) != 0 {
		t.Errorf("Predict ran: %v", f.calls)
	}
}

// A declared batch of 1e12 images is refused before anything of its size
// is allocated: the handler allocates about what the body's bytes are.
func TestHugeShapeAllocatesNothing(t *testing.T) {
	cfg := testConfig()
	cfg.MaxBatch = 1 << 28 // only the data's size stands in the way of 1<<28 images (13 GB)
	h := Handler(&fakeModel{per: tH * tW * tC, classes: tClasses}, cfg)
	for _, c := range []struct{ shape, msg string }{
		{"[1000000000000,2,3,2]", "1000000000000 images: at most 268435456 per request"},
		{"[268435456,2,3,2]", "shape [268435456 2 3 2] has 3221225472 elements; its 7 bytes of data cannot hold them"},
	} {
		shape := c.shape
		body := []byte(`{"inputs":[{"name":"input","datatype":"FP32","shape":` + shape + `,"data":[1,2,3]}]}`)
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/v2/models/tiny/infer", bytes.NewReader(body)))
		runtime.ReadMemStats(&ms1)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), c.msg) {
			t.Errorf("shape %s: %d %s, want 400 %s", shape, rec.Code, rec.Body, c.msg)
		}
		if got := ms1.TotalAlloc - ms0.TotalAlloc; got > 1<<20 {
			t.Errorf("shape %s: allocated %d bytes", shape, got)
		}
	}
}

func TestConcurrentInfer(t *testing.T) {
	cfg := testConfig()
	srv, f := newTest(t, cfg)
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan string, workers*each)
	for w := range workers {
		wg.Go(func() {
			for r := range each {
				n := 1 + (w+r)%4
				imgs := images(n)
				for i := range imgs { // distinct per request
					imgs[i][0] = float32(w*100 + r)
				}
				id := fmt.Sprintf("w%d-r%d", w, r)
				b, _ := json.Marshal(map[string]any{"id": id, "inputs": []any{map[string]any{"name": "input", "datatype": "FP32", "shape": []int{n, tH, tW, tC}, "data": flat(imgs)}}})
				resp, err := http.Post(srv.URL+"/v2/models/tiny/infer", "application/json", bytes.NewReader(b))
				if err != nil {
					errs <- err.Error()
					continue
				}
				var m struct {
					ID      string
					Outputs []struct{ Data []float32 }
				}
				err = json.NewDecoder(resp.Body).Decode(&m)
				resp.Body.Close()
				wantData := want(imgs)
				if err != nil || resp.StatusCode != 200 || m.ID != id || len(m.Outputs) != 1 || len(m.Outputs[0].Data) != len(wantData) {
					errs <- fmt.Sprintf("%s: %d %v %+v", id, resp.StatusCode, err, m)
					continue
				}
				for i, v := range m.Outputs[0].Data {
					if v != float32(wantData[i]) {
						errs <- fmt.Sprintf("%s: output %d = %v, want %v", id, i, v, wantData[i])
						break
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if len(f.calls) != workers*each {
		t.Errorf("%d Predict calls, want %d", len(f.calls), workers*each)
	}
}

// FuzzInfer: no request body panics the handler or gets a status outside
// 200, 400 and 413, and every answer is a JSON object.
func FuzzInfer(f *testing.F) {
	one, _ := json.Marshal(flat(images(1)))
	for _, s := range []string{
		`{"id":"a","inputs":[{"name":"input","datatype":"FP32","shape":[1,2,3,2],"data":` + string(one) + `}]}`,
		`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,2,3,2],"data":[[[[1,2],[3,4],[5,6]],[[7,8],[9,10],[11,12]]]]}]}`,
		`{"inputs":[{"name":"input","datatype":"FP32","shape":[1e12,2,3,2],"data":[1]}]}`,
		`{"inputs":[{"name":"input","datatype":"FP32","shape":[2,2,3,2],"data":[[1],[2]]}]}`,
		`{"inputs":[]}`, `[`, `{"inputs":[{"data":[1e39]}]}`,
	} {
		f.Add([]byte(s))
	}
	cfg := testConfig()
	cfg.MaxBodyBytes = 4096
	h := Handler(&fakeModel{per: tH * tW * tC, classes: tClasses}, cfg)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/v2/models/tiny/infer", bytes.NewReader(body)))
		switch {
		case rec.Code == 200 || rec.Code == 400 || rec.Code == 413:
		case rec.Code == 500 && strings.Contains(rec.Body.String(), "JSON cannot carry it"): // the fake's sums overflowed
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("answer %q is not a JSON object: %v", rec.Body, err)
		}
		if rec.Code == 200 {
			if _, ok := m["outputs"]; !ok {
				t.Fatalf("200 without outputs: %s", rec.Body)
			}
		} else if _, ok := m["error"].(string); !ok {
			t.Fatalf("%d without an error message: %s", rec.Code, rec.Body)
		}
	})
}

// One request of the largest body the limit allows allocates a small
// multiple of the body: the body, its decoded copy, the data's floats and
// the response.
func TestInferAllocationBounded(t *testing.T) {
	f := &fakeModel{per: 64 * 64 * 3, classes: tClasses}
	var data strings.Builder
	data.WriteString("[")
	for i := range 64 * 64 * 3 {
		if i > 0 {
			data.WriteString(",")
		}
		fmt.Fprintf(&data, "%d", i%10)
	}
	data.WriteString("]")
	body := []byte(`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,64,64,3],"data":` + data.String() + `}]}`)
	h := Handler(f, Config{Name: "tiny", InputH: 64, InputW: 64, InputC: 3, Classes: tClasses, MaxBatch: 1, MaxBodyBytes: int64(len(body))})
	var ms0, ms1 runtime.MemStats
	var got uint64
	for range 2 { // the first request also fills encoding/json's caches
		runtime.ReadMemStats(&ms0)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/v2/models/tiny/infer", bytes.NewReader(body)))
		runtime.ReadMemStats(&ms1)
		if rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		got = ms1.TotalAlloc - ms0.TotalAlloc
	}
	t.Logf("a %d-byte body: %d bytes allocated (%.1f×)", len(body), got, float64(got)/float64(len(body)))
	if got > uint64(6*len(body)) {
		t.Errorf("a %d-byte body allocated %d bytes, more than 6 times its size", len(body), got)
	}
}

package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// post sends body (with the binary extension's header if hl ≥ 0) and
// returns the status, the headers and the body.
func post(t *testing.T, url string, body []byte, hl int) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if hl >= 0 {
		req.Header.Set(HeaderLength, strconv.Itoa(hl))
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
	return resp.StatusCode, resp.Header, b
}

func le32(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// binaryBody is a request whose input is the binary data bin.
func binaryBody(header string, bin []byte) ([]byte, int) {
	return append([]byte(header), bin...), len(header)
}

// The binary tensor data extension, both ways: binary FP32 input, binary
// output (asked for by the request or by the output, the output's choice
// winning), exact size checks.
func TestBinaryData(t *testing.T) {
	srv, _ := newTest(t, testConfig())
	url := srv.URL + "/v2/models/tiny/infer"
	imgs := images(2)
	src := flat(imgs)
	wantOut := want(imgs)

	// Binary input, JSON output.
	hdr := `{"id":"b","inputs":[{"name":"input","datatype":"FP32","shape":[2,2,3,2],"parameters":{"binary_data_size":96}}]}`
	body, hl := binaryBody(hdr, le32(src))
	code, h, b := post(t, url, body, hl)
	if code != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("binary input: %d %s", code, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	checkOutputs(t, m, 2, wantOut)

	// Binary output: asked by the request, by the output, or refused by
	// the output although the request asks.
	binOut := func(what string, hdr string, bin []byte, hl int) {
		t.Helper()
		if bin != nil {
			body, hl = binaryBody(hdr, bin)
		} else {
			body = []byte(hdr)
		}
		code, h, b := post(t, url, body, hl)
		if code != 200 {
			t.Fatalf("%s: %d %s", what, code, b)
		}
		k, err := strconv.Atoi(h.Get(HeaderLength))
		if err != nil || k > len(b) || h.Get("Content-Type") != "application/octet-stream" {
			t.Fatalf("%s: header %s = %q, Content-Type %q, %d bytes", what, HeaderLength, h.Get(HeaderLength), h.Get("Content-Type"), len(b))
		}
		var resp struct {
			ID      string `json:"id"`
			Outputs []struct {
				Name       string
				Datatype   string
				Shape      []int
				Parameters map[string]any
				Data       []float32
			}
		}
		if err := json.Unmarshal(b[:k], &resp); err != nil {
			t.Fatalf("%s: the JSON header %q: %v", what, b[:k], err)
		}
		o := resp.Outputs[0]
		if len(resp.Outputs) != 1 || o.Name != "output" || o.Datatype != "FP32" || fmt.Sprint(o.Shape) != "[2 4]" || o.Parameters["binary_data_size"] != float64(32) || o.Data != nil {
			t.Errorf("%s: header %s", what, b[:k])
		}
		data := b[k:]
		if len(data) != 32 {
			t.Fatalf("%s: %d bytes of binary output, want 32", what, len(data))
		}
		for i := range 8 {
			if v := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])); v != float32(wantOut[i]) {
				t.Errorf("%s: output %d = %v, want %v", what, i, v, wantOut[i])
			}
		}
	}
	binOut("binary_data_output", `{"parameters":{"binary_data_output":true},"inputs":[{"name":"input","datatype":"FP32","shape":[2,2,3,2],"parameters":{"binary_data_size":96}}]}`, le32(src), 0)
	binOut("output binary_data, JSON input", `{"inputs":[{"name":"input","datatype":"FP32","shape":[2,2,3,2],"data":`+jsonOf(t, src)+`}],"outputs":[{"name":"output","parameters":{"binary_data":true}}]}`, nil, -1)
	hdr = `{"parameters":{"binary_data_output":true},"inputs":[{"name":"input","datatype":"FP32","shape":[2,2,3,2],"data":` + jsonOf(t, src) + `}],"outputs":[{"name":"output","parameters":{"binary_data":false}}]}`
	code, h, b = post(t, url, []byte(hdr), -1)
	if code != 200 || h.Get(HeaderLength) != "" || h.Get("Content-Type") != "application/json" {
		t.Errorf("output binary_data false: %d %v %s", code, h, b)
	}

	// Errors: exact sizes, header lengths, both or neither of data and
	// binary_data_size.
	for _, c := range []struct {
		name, hdr string
		bin       []byte
		hl        int // -2: len(hdr)
		msg       string
	}{
		{"short data", `{"inputs":[{"name":"input","datatype":"FP32","shape":[2,2,3,2],"parameters":{"binary_data_size":92}}]}`, le32(src)[:92], -2, "shape [2 2 3 2] has 24 FP32 elements, 96 bytes; binary_data_size is 92"},
		{"size mismatch", `{"inputs":[{"name":"input","datatype":"FP32","shape":[2,2,3,2],"parameters":{"binary_data_size":96}}]}`, le32(src)[:95], -2, "binary_data_size = 96, but 95 bytes of binary data follow the JSON header"},
		{"extra bytes", `{"inputs":[{"name":"input","datatype":"FP32","shape":[2,2,3,2],"parameters":{"binary_data_size":96}}]}`, append(le32(src), 0), -2, "binary_data_size = 96, but 97 bytes"},
		{"header too long", `{"inputs":[]}`, nil, 1000, "header Inference-Header-Content-Length: 1000: the body has only 13 bytes"},
		{"header not a number", `{"inputs":[]}`, nil, -3, `header Inference-Header-Content-Length: "-3" is not a byte count`},
		{"binary without size", `{"inputs":[{"name":"input","datatype":"FP32","shape":[2,2,3,2],"data":[1]}]}`, []byte{1, 2, 3, 4}, -2, `4 bytes of binary data follow the JSON header, but input "input" has no binary_data_size parameter`},
		{"both", `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,2,3,2],"data":[1],"parameters":{"binary_data_size":48}}]}`, le32(src[:12]), -2, "has both data and the parameter binary_data_size"},
		{"neither", `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,2,3,2]}]}`, nil, -1, "no data (neither data nor the parameter binary_data_size)"},
		{"bad size", `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,2,3,2],"parameters":{"binary_data_size":"48"}}]}`, nil, -1, `parameter binary_data_size = "48": want a byte count`},
		{"bad flag", `{"parameters":{"binary_data_output":1},"inputs":[{"name":"input","datatype":"FP32","shape":[1,2,3,2],"data":[1]}]}`, nil, -1, "request: parameter binary_data_output = 1: want true or false"},
		{"huge shape", `{"inputs":[{"name":"input","datatype":"FP32","shape":[1000000000,2,3,2],"parameters":{"binary_data_size":4}}]}`, []byte{0, 0, 0, 0}, -2, "1000000000 images: at most 4 per request"},
	} {
		body, hl := []byte(c.hdr), c.hl
		if c.hl == -2 {
			body, hl = binaryBody(c.hdr, c.bin)
		}
		var code int
		var b []byte
		if c.hl == -3 {
			req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
			req.Header.Set(HeaderLength, "-3")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			code = resp.StatusCode
		} else {
			code, _, b = post(t, url, body, hl)
		}
		if code != 400 || !strings.Contains(string(b), strings.ReplaceAll(c.msg, `"`, `\"`)) {
			t.Errorf("%s: %d %s, want 400 %s", c.name, code, b, c.msg)
		}
	}
}

// A NaN output cannot be JSON but is binary data.
func TestBinaryOutputCarriesNaN(t *testing.T) {
	srv, f := newTest(t, testConfig())
	f.nan = true
	hdr := `{"parameters":{"binary_data_output":true},"inputs":[{"name":"input","datatype":"FP32","shape":[1,2,3,2],"data":` + jsonOf(t, flat(images(1))) + `}]}`
	code, h, b := post(t, srv.URL+"/v2/models/tiny/infer", []byte(hdr), -1)
	k, _ := strconv.Atoi(h.Get(HeaderLength))
	if code != 200 || len(b) != k+16 || !math.IsNaN(float64(math.Float32frombits(binary.LittleEndian.Uint32(b[k+12:])))) {
		t.Errorf("%d %q", code, b)
	}
}

// testPreprocess writes an image's width, height and the R, G, B of its
// corner pixels (0..255) into dst.
func testPreprocess(dst []float32, img image.Image) error {
	if len(dst) != tH*tW*tC {
		return fmt.Errorf("dst %d", len(dst))
	}
	b := img.Bounds()
	if b.Dx() == 3 && b.Dy() == 3 {
		return fmt.Errorf("a 3×3 image is refused")
	}
	clear(dst)
	dst[0], dst[1] = float32(b.Dx()), float32(b.Dy())
	for i, p := range []image.Point{b.Min, {b.Max.X - 1, b.Max.Y - 1}} {
		r, g, bl, _ := img.At(p.X, p.Y).RGBA()
		dst[2+3*i], dst[3+3*i], dst[4+3*i] = float32(r>>8), float32(g>>8), float32(bl>>8)
	}
	return nil
}

func encode(t *testing.T, format string, w, h int, seed uint8) []byte {
	t.Helper()
	im := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			im.Set(x, y, color.RGBA{seed + uint8(x*40), uint8(y * 50), 255 - seed, 255})
		}
	}
	var b bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&b, im)
	case "jpeg":
		err = jpeg.Encode(&b, im, &jpeg.Options{Quality: 95})
	case "gif":
		err = gif.Encode(&b, im, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// wantImages is the fake model's output for encoded images preprocessed
// by testPreprocess.
func wantImages(t *testing.T, encs [][]byte) []float64 {
	var imgs [][]float32
	for _, e := range encs {
		im, _, err := image.Decode(bytes.NewReader(e))
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, tH*tW*tC)
		if err := testPreprocess(x, im); err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, x)
	}
	return want(imgs)
}

// hugePNG is a valid PNG header (signature, IHDR with its CRC) declaring
// a w×h RGBA image, and nothing else.
func hugePNG(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")
	b = binary.BigEndian.AppendUint32(b, w)
	b = binary.BigEndian.AppendUint32(b, h)
	b = append(b, 8, 6, 0, 0, 0)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[12:]))
}

// BYTES inputs: base64 strings in JSON, length-prefixed elements in
// binary data, JPEG and PNG, preprocessed by Config.Preprocess; a huge
// image header is refused before decoding; other formats, bad base64,
// wrong element counts and a model without Preprocess are 400s.
func TestBytesImages(t *testing.T) {
	cfg := testConfig()
	cfg.Preprocess = testPreprocess
	cfg.MaxImagePixels = 1 << 20
	srv, f := newTest(t, cfg)
	url := srv.URL + "/v2/models/tiny/infer"
	encs := [][]byte{encode(t, "png", 5, 4, 10), encode(t, "jpeg", 16, 8, 100), encode(t, "png", 1, 1, 200)}
	wantOut := wantImages(t, encs)

	var strs []string
	for _, e := range encs {
		strs = append(strs, base64.StdEncoding.EncodeToString(e))
	}
	body := `{"inputs":[{"name":"input","datatype":"BYTES","shape":[3],"data":` + jsonOf(t, strs) + `}]}`
	code, m := do(t, "POST", url, body)
	if code != 200 {
		t.Fatalf("JSON BYTES: %d %v", code, m)
	}
	checkOutputs(t, m, 3, wantOut)

	var bin []byte
	for _, e := range encs {
		bin = binary.LittleEndian.AppendUint32(bin, uint32(len(e)))
		bin = append(bin, e...)
	}
	hdr := fmt.Sprintf(`{"inputs":[{"name":"input","datatype":"BYTES","shape":[3],"parameters":{"binary_data_size":%d}}]}`, len(bin))
	b, hl := binaryBody(hdr, bin)
	code, _, rb := post(t, url, b, hl)
	if code != 200 {
		t.Fatalf("binary BYTES: %d %s", code, rb)
	}
	json.Unmarshal(rb, &m)
	checkOutputs(t, m, 3, wantOut)
	calls := len(f.calls)

	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	huge := hugePNG(100000, 100000)
	for _, c := range []struct {
		name, body string
		bin        []byte
		msg        string
	}{
		{"huge PNG", `{"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"data":["` + b64(huge) + `"]}]}`, nil, `element 0: a 100000×100000 png image: at most 1048576 pixels`},
		{"GIF", `{"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"data":["` + b64(encode(t, "gif", 2, 2, 0)) + `"]}]}`, nil, `element 0: a gif image: want JPEG or PNG`}, // the test registers GIF
		{"not an image", `{"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"data":["` + b64([]byte("hello")) + `"]}]}`, nil, `element 0: 5 bytes that are not a JPEG or PNG image`},
		{"truncated PNG", `{"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"data":["` + b64(encs[0][:len(encs[0])-20]) + `"]}]}`, nil, `element 0: decoding the png image`},
		{"preprocess refuses", `{"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"data":["` + b64(encode(t, "png", 3, 3, 0)) + `"]}]}`, nil, `element 0: preprocessing: a 3×3 image is refused`},
		{"bad base64", `{"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"data":["%%%"]}]}`, nil, `element 0 is not base64`},
		{"numbers", `{"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"data":[1]}]}`, nil, `data must be an array of base64 strings`},
		{"count", `{"inputs":[{"name":"input","datatype":"BYTES","shape":[2],"data":["` + b64(encs[0]) + `"]}]}`, nil, `shape [2], but the data holds 1 elements`},
		{"shape", `{"inputs":[{"name":"input","datatype":"BYTES","shape":[1,1],"data":["` + b64(encs[0]) + `"]}]}`, nil, `shape has 2 dimensions: want [n]`},
		{"too many", `{"inputs":[{"name":"input","datatype":"BYTES","shape":[5],"data":[]}]}`, nil, `5 images: at most 4 per request`},
		{"zero", `{"inputs":[{"name":"input","datatype":"BYTES","shape":[0],"data":[]}]}`, nil, `shape [0]: want [n], n from 1 to 4 images`},
		{"binary length beyond", `{"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":6}}]}`, []byte{0xff, 0xff, 0xff, 0xff, 1, 2}, `element 0 has length 4294967295, but only 2 bytes follow`},
		{"binary short length", `{"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":2}}]}`, []byte{1, 0}, `element 0: 2 bytes left, too few for its 4-byte length`},
		{"binary extra", `{"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":8}}]}`, []byte{0, 0, 0, 0, 0, 0, 0, 0}, `binary data holds more than the shape's 1 elements`},
	} {
		var code int
		var rb []byte
		if c.bin != nil {
			b, hl := binaryBody(c.body, c.bin)
			code, _, rb = post(t, url, b, hl)
		} else {
			code, _, rb = post(t, url, []byte(c.body), -1)
		}
		if code != 400 || !strings.Contains(string(rb), strings.ReplaceAll(c.msg, `"`, `\"`)) {
			t.Errorf("%s: %d %s, want 400 %s", c.name, code, rb, c.msg)
		}
	}
	if len(f.calls) != calls {
		t.Errorf("Predict ran for a refused request")
	}

	// The huge header allocates nothing of its size.
	h := Handler(&fakeModel{per: tH * tW * tC, classes: tClasses}, cfg)
	hb := []byte(`{"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"data":["` + b64(huge) + `"]}]}`)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v2/models/tiny/infer", bytes.NewReader(hb)))
	runtime.ReadMemStats(&ms1)
	if got := ms1.TotalAlloc - ms0.TotalAlloc; rec.Code != 400 || got > 1<<20 {
		t.Errorf("huge PNG header: %d, %d bytes allocated", rec.Code, got)
	}

	// No Preprocess: BYTES are refused, saying why.
	srv2, _ := newTest(t, testConfig())
	code, m = do(t, "POST", srv2.URL+"/v2/models/tiny/infer", body)
	if code != 400 || !strings.Contains(fmt.Sprint(m["error"]), `datatype BYTES: model "tiny" takes no encoded images`) {
		t.Errorf("BYTES without Preprocess: %d %v", code, m)
	}
}

// The handler runs requests through its Inferer and maps its errors: a
// full queue 503, a deadline 504, a panic 500; metrics count requests by
// status; the logger gets one line per request.
func TestHandlerWithBatcher(t *testing.T) {
	f := newID(true)
	cfg := testConfig()
	metrics := NewMetrics()
	b, err := NewBatcher(f, cfg, BatchOptions{MaxBatch: 4, MaxDelay: -1, Queue: 1, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := NewHandler(f, cfg, HandlerOptions{Inferer: b, Metrics: metrics, Logger: logger})
	// A deadline for every request, as a proxy or a timeout handler sets.
	var timeout atomic.Int64 // a time.Duration
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Duration(timeout.Load()); d > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			r = r.WithContext(ctx)
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer b.Close()
	url := srv.URL + "/v2/models/tiny/infer"
	body := func(id float32) string {
		return `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,2,3,2],"data":` + jsonOf(t, img(id, 1)) + `}]}`
	}
	type answer struct {
		code int
		m    map[string]any
	}
	send := func(id float32) chan answer {
		ch := make(chan answer, 1)
		go func() {
			code, _, b := post(t, url, []byte(body(id)), -1)
			var m map[string]any
			json.Unmarshal(b, &m)
			ch <- answer{code, m}
		}()
		return ch
	}
	first := send(1)
	<-f.entered
	queued := send(2)
	waitQueued(t, b, 1)
	code, hdr, rb := post(t, url, []byte(body(3)), -1)
	if code != 503 || !strings.Contains(string(rb), "overloaded") || hdr.Get("Retry-After") != "1" {
		t.Errorf("beyond the queue: %d %v %s", code, hdr, rb)
	}
	timeout.Store(int64(50 * time.Millisecond))
	code, _, rb = post(t, url, []byte(body(4)), -1)
	if code != 503 { // the queue is still full: refused at once, before the deadline
		t.Errorf("beyond the queue, with a deadline: %d %s", code, rb)
	}
	f.gate <- struct{}{}
	a := <-first
	if a.code != 200 {
		t.Errorf("first: %v", a)
	}
	<-f.entered // the queued request runs, held at the gate
	deadline := send(5)
	waitQueued(t, b, 1)
	a = <-deadline
	if a.code != 504 || !strings.Contains(fmt.Sprint(a.m["error"]), "deadline") {
		t.Errorf("a deadline passing while queued: %v", a)
	}
	timeout.Store(0)
	f.gate <- struct{}{}
	if a := <-queued; a.code != 200 {
		t.Errorf("queued: %v", a)
	}
	// A panic in Predict: 500, and the server goes on.
	waitQueued(t, b, 0) // the abandoned request is dropped
	panicky := send(-1)
	<-f.entered
	f.gate <- struct{}{}
	if a := <-panicky; a.code != 500 || !strings.Contains(fmt.Sprint(a.m["error"]), "predict panicked: negative image -1") {
		t.Errorf("a panicking Predict: %v", a)
	}
	after := send(6)
	<-f.entered
	f.gate <- struct{}{}
	if a := <-after; a.code != 200 {
		t.Errorf("after the panic: %v", a)
	}

	// Metrics.
	rec := httptest.NewRecorder()
	metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	for _, want := range []string{
		`rnc_requests_total{code="200",model="tiny"} 3`,
		`rnc_requests_total{code="503",model="tiny"} 2`,
		`rnc_requests_total{code="504",model="tiny"} 1`,
		`rnc_requests_total{code="500",model="tiny"} 1`,
		`rnc_request_duration_seconds_count{model="tiny"} 7`,
		`rnc_batch_size_count{model="tiny"} 4`,
		`rnc_batch_size_sum{model="tiny"} 4`,
		`rnc_queue_wait_seconds_count{model="tiny"} 4`,
		`rnc_queue_depth{model="tiny"} 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	// Logs: one JSON line per request, at the level its status says.
	levels := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var e struct {
			Level  string
			Msg    string
			Status int
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		levels[fmt.Sprint(e.Level, " ", e.Status)]++
	}
	if got := fmt.Sprint(levels); got != "map[DEBUG 200:3 ERROR 500:1 WARN 503:2 WARN 504:1]" {
		t.Errorf("log lines by level and status: %s\n%s", got, logs.String())
	}
}

// FuzzInferBinary: no body with the binary extension's header, FP32 or
// BYTES, panics the handler or gets a status outside 200, 400 and 413.
func FuzzInferBinary(f *testing.F) {
	one := le32(flat(images(1)))
	pngb := hugePNG(2, 2)
	for _, c := range []struct {
		hdr string
		bin []byte
	}{
		{`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,2,3,2],"parameters":{"binary_data_size":48}}]}`, one},
		{`{"parameters":{"binary_data_output":true},"inputs":[{"name":"input","datatype":"FP32","shape":[1,2,3,2],"parameters":{"binary_data_size":48}}]}`, one},
		{`{"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":29}}]}`, append([]byte{25, 0, 0, 0}, pngb...)},
		{`{"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"data":["iVBORw0KGgo="]}]}`, nil},
	} {
		f.Add(len(c.hdr), append([]byte(c.hdr), c.bin...))
	}
	cfg := testConfig()
	cfg.MaxBodyBytes = 4096
	cfg.MaxImagePixels = 1 << 12
	cfg.Preprocess = testPreprocess
	h := Handler(&fakeModel{per: tH * tW * tC, classes: tClasses}, cfg)
	f.Fuzz(func(t *testing.T, hl int, body []byte) {
		req := httptest.NewRequest("POST", "/v2/models/tiny/infer", bytes.NewReader(body))
		req.Header.Set(HeaderLength, strconv.Itoa(hl))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 413:
		case 500:
			if !strings.Contains(rec.Body.String(), "JSON cannot carry it") {
				t.Fatalf("500: %s", rec.Body)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

type panicModel struct{}

func (panicModel) Predict(dst, src []float32) error { panic("kernel bug") }

// A Predict that panics under Direct is a 500 too; a request whose client
// went away while it was queued is counted as 499 and gets no body.
func TestHandlerPanicAndClientGone(t *testing.T) {
	h := Handler(panicModel{}, testConfig())
	body := inferBody(t, "", 1, flat(images(1)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v2/models/tiny/infer", strings.NewReader(body)))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `predict panicked: kernel bug`) {
		t.Errorf("a panicking Predict under Direct: %d %s", rec.Code, rec.Body)
	}

	f := newID(true)
	b := newBatcher(t, f, BatchOptions{MaxBatch: 1, Queue: 4})
	metrics := NewMetrics()
	h = NewHandler(f, testConfig(), HandlerOptions{Inferer: b, Metrics: metrics})
	busy := start(context.Background(), b, img(1, 1))
	<-f.entered
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *httptest.ResponseRecorder)
	go func() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/v2/models/tiny/infer", strings.NewReader(inferBody(t, "", 1, flat(images(1))))).WithContext(ctx)
		h.ServeHTTP(rec, req)
		done <- rec
	}()
	waitQueued(t, b, 1)
	cancel()
	rec = <-done
	if rec.Code != statusClientClosed || rec.Body.Len() != 0 {
		t.Errorf("client gone: %d %q", rec.Code, rec.Body)
	}
	f.gate <- struct{}{}
	checkResult(t, "busy", <-busy, img(1, 1))
	rec = httptest.NewRecorder()
	metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `rnc_requests_total{code="499",model="tiny"} 1`) {
		t.Errorf("metrics:\n%s", rec.Body)
	}
}

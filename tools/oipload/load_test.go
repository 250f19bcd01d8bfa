package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rnc-dev/rnc/serve"
)

// The fake model: 2×3×2 images, 5 classes; output j of an image is
// Σ_k x[k]·(k+1) + j, so that every distinct image has its own answer.
const fH, fW, fC, fClasses = 2, 3, 2, 5

func answerOf(img []float32) []float32 {
	var s float32
	for k, v := range img {
		s += v * float32(k+1)
	}
	out := make([]float32, fClasses)
	for j := range out {
		out[j] = s + float32(j)
	}
	return out
}

// fake is a serve.Model. With swapAfter > 0, every call after the first
// swapAfter answers with the previous call's outputs: a server that mixes
// up its responses once the reference is taken.
type fake struct {
	mu        sync.Mutex
	calls     int
	images    int
	swapAfter int
	prev      []float32
}

func (f *fake) Predict(dst, src []float32) error {
	per := fH * fW * fC
	n := len(src) / per
	if len(src) != n*per || len(dst) != n*fClasses {
		return fmt.Errorf("fake: src %d, dst %d", len(src), len(dst))
	}
	out := make([]float32, 0, len(dst))
	for i := range n {
		out = append(out, answerOf(src[i*per:(i+1)*per])...)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.images += n
	if f.swapAfter > 0 && f.calls > f.swapAfter && len(f.prev) == len(out) {
		copy(dst, f.prev)
	} else {
		copy(dst, out)
	}
	f.prev = out
	return nil
}

func (f *fake) count() (calls, images int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.images
}

func fakeConfig() serve.Config {
	return serve.Config{Name: "fake", InputH: fH, InputW: fW, InputC: fC, Classes: fClasses, MaxBatch: 8}
}

// server serves m (nil: not ready) through serve.Handler, with wrap (if
// not nil) in front of it.
func server(t *testing.T, m serve.Model, wrap func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	var h http.Handler = serve.Handler(m, fakeConfig())
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func opts(url string) Options {
	return Options{URL: url, Model: "fake", Concurrency: 4, Images: 1, Seed: 7, Timeout: 30 * time.Second}
}

// Every request is sent, answered and checked; no more than -requests
// reach the model besides the reference's one per distinct body.
func TestCounts(t *testing.T) {
	f := &fake{}
	srv := server(t, f, nil)
	o := opts(srv.URL)
	o.Requests, o.Concurrency, o.Images, o.Distinct, o.Check = 37, 5, 3, 10, true
	rep, ref, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 37 || rep.OK != 37 || rep.Overloaded != 0 || rep.Errors != 0 || rep.Cancelled != 0 || rep.Checked != 37 || rep.Mismatch != 0 {
		t.Errorf("report %+v: want 37 sent, OK and checked", rep)
	}
	if calls, images := f.count(); calls != 37+10 || images != (37+10)*3 {
		t.Errorf("the model ran %d calls of %d images: want 47 calls (10 for the reference) of 141", calls, images)
	}
	if rep.ImagesPerSec <= 0 || rep.P50 <= 0 || rep.P50 > rep.P90 || rep.P90 > rep.P99 {
		t.Errorf("throughput %v, p50/p90/p99 %v/%v/%v", rep.ImagesPerSec, rep.P50, rep.P90, rep.P99)
	}
	// The reference holds each image's own answer, computed here.
	if len(ref.Outputs) != 30 {
		t.Fatalf("reference of %d images, want 30", len(ref.Outputs))
	}
	for i, out := range ref.Outputs {
		if want := answerOf(Image(7, i, fH*fW*fC)); !equalBits(out, want) {
			t.Errorf("reference image %d: %v, want %v", i, out, want)
		}
	}
}

// Distinct images are distinct, and the same from run to run.
func TestImagesDeterministic(t *testing.T) {
	a, b, c := Image(1, 0, 64), Image(1, 1, 64), Image(2, 0, 64)
	if equalBits(a, b) || equalBits(a, c) || !equalBits(a, Image(1, 0, 64)) {
		t.Errorf("images: %v %v %v", a[:4], b[:4], c[:4])
	}
	for _, v := range a {
		if v < -1 || v >= 1 || v*128 != float32(int(v*128)) {
			t.Fatalf("value %v is not k/128 − 1", v)
		}
	}
}

// -check catches a server that answers with another request's outputs.
func TestCheckCatchesSwappedAnswers(t *testing.T) {
	f := &fake{swapAfter: 6}
	srv := server(t, f, nil)
	o := opts(srv.URL)
	o.Requests, o.Concurrency, o.Distinct, o.Check = 12, 1, 6, true
	rep, _, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	// Each load request gets the previous call's answer: a different body's.
	if rep.OK != 12 || rep.Checked != 12 || rep.Mismatch != 12 {
		t.Errorf("report %+v: want 12 OK, all mismatched", rep)
	}
	if !strings.Contains(rep.FirstMismatch, "got the answer of image") {
		t.Errorf("first mismatch %q does not name the image whose answer it got", rep.FirstMismatch)
	}
	// Without -check the same server looks fine: the check is what caught it.
	o.Check = false
	rep, _, err = Run(context.Background(), o)
	if err != nil || rep.OK != 12 || rep.Mismatch != 0 {
		t.Errorf("without -check: %+v, %v", rep, err)
	}
}

// A wrong value, not another image's answer, is a mismatch too.
func TestCompareWrongValue(t *testing.T) {
	ref := &Reference{Outputs: [][]float32{{1, 2}, {3, 4}}}
	if msg := compare(ref, 1, 1, 2, []float32{3, 4}); msg != "" {
		t.Errorf("own answer: %q", msg)
	}
	if msg := compare(ref, 1, 1, 2, []float32{1, 2}); msg != "image 1 got the answer of image 0" {
		t.Errorf("swapped: %q", msg)
	}
	if msg := compare(ref, 0, 1, 2, []float32{1, 3}); msg != "image 0 output 1 is 3, want 2" {
		t.Errorf("wrong value: %q", msg)
	}
}

// overloaded answers every third inference request with a 503 and the
// protocol's error object, as a full queue does.
func overloaded(n *atomic.Int64) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/infer") && n.Add(1)%3 == 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				json.NewEncoder(w).Encode(map[string]string{"error": serve.ErrOverloaded.Error()})
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestOverloadCounted(t *testing.T) {
	var n atomic.Int64
	srv := server(t, &fake{}, overloaded(&n))
	o := opts(srv.URL)
	o.Requests, o.Concurrency, o.Check = 30, 3, true
	o.Distinct = 2 // the reference's 2 requests: the 3rd infer is the load's first
	rep, _, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	// Infer requests 3, 6, …, 32 of 32 are refused: 10 of the load's 30.
	if rep.Sent != 30 || rep.Overloaded != 10 || rep.OK != 20 || rep.Errors != 0 || rep.Mismatch != 0 || rep.Checked != 20 {
		t.Errorf("report %+v: want 30 sent, 10 overloaded, 20 OK and checked", rep)
	}
	// A server that is not ready answers infer with 503 (serve's first slice).
	srv = server(t, nil, nil)
	o = opts(srv.URL)
	o.Requests = 9
	rep, _, err = Run(context.Background(), o)
	if err != nil || rep.Sent != 9 || rep.Overloaded != 9 || rep.OK != 0 {
		t.Errorf("not ready: %+v, %v", rep, err)
	}
}

// Other statuses and malformed answers are errors, and make the command
// exit 1.
func TestErrorsCounted(t *testing.T) {
	var n atomic.Int64
	bad := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/infer") {
				switch n.Add(1) % 4 {
				case 1:
					http.Error(w, `{"error":"boom"}`, http.StatusInternalServerError)
					return
				case 2:
					io.WriteString(w, `{"id":"nope","outputs":[]}`)
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	}
	srv := server(t, &fake{}, bad)
	o := opts(srv.URL)
	o.Requests = 20
	rep, _, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 20 || rep.Errors != 10 || rep.OK != 10 || rep.FirstError == "" {
		t.Errorf("report %+v: want 10 errors, 10 OK", rep)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-url", srv.URL, "-model", "fake", "-requests", "4"}, &out, &errOut); code != 1 {
		t.Errorf("exit %d with errors, want 1; stderr %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "first error: request") {
		t.Errorf("stderr does not show the first error: %s", errOut.String())
	}
}

// -duration bounds a run without -requests: it ends, and what the end cut
// off is counted as cancelled.
func TestDurationBounds(t *testing.T) {
	slow := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/infer") {
				select {
				case <-time.After(20 * time.Millisecond):
				case <-r.Context().Done():
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	}
	srv := server(t, &fake{}, slow)
	o := opts(srv.URL)
	o.Duration = 300 * time.Millisecond
	rep, _, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent == 0 || rep.Sent != rep.OK+rep.Cancelled || rep.Errors != 0 {
		t.Errorf("report %+v: want sent = OK + cancelled > 0, no errors", rep)
	}
	// -requests stops a run long before a long -duration.
	o.Duration, o.Requests = time.Hour, 6
	rep, _, err = Run(context.Background(), o)
	if err != nil || rep.Sent != 6 || rep.OK != 6 {
		t.Errorf("-requests 6 -duration 1h: %+v, %v", rep, err)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	var hundred []int
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, i)
	}
	for _, c := range []struct {
		sorted        []time.Duration
		p50, p90, p99 time.Duration
	}{
		{nil, 0, 0, 0},
		{ms(7), 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond},
		{ms(10, 20, 30), 20 * time.Millisecond, 30 * time.Millisecond, 30 * time.Millisecond},
		{ms(1, 2, 3, 4), 2 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond},
		{ms(hundred...), 50 * time.Millisecond, 90 * time.Millisecond, 99 * time.Millisecond},
	} {
		if p50, p90, p99 := percentile(c.sorted, 50), percentile(c.sorted, 90), percentile(c.sorted, 99); p50 != c.p50 || p90 != c.p90 || p99 != c.p99 {
			t.Errorf("%v: p50/p90/p99 %v/%v/%v, want %v/%v/%v", c.sorted, p50, p90, p99, c.p50, c.p90, c.p99)
		}
	}
}

func TestPeakRSS(t *testing.T) {
	rss, err := peakRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 {
		t.Errorf("this test's peak RSS is %d bytes: implausible", rss)
	}
	got, err := parseVmHWM([]byte("Name:\tx\nVmPeak:\t  999 kB\nVmHWM:\t    1234 kB\nVmRSS:\t 5 kB\n"), "status")
	if err != nil || got != 1234<<10 {
		t.Errorf("parseVmHWM: %d, %v", got, err)
	}
	for _, bad := range []string{"VmRSS:\t5 kB\n", "VmHWM: 12 MB\n", "VmHWM: x kB\n", "VmHWM: -1 kB\n"} {
		if _, err := parseVmHWM([]byte(bad), "status"); err == nil {
			t.Errorf("parseVmHWM(%q): no error", bad)
		}
	}
}

// The command: flags refused with exit 2, a summary line, JSON, and the
// reference saved and read back.
func TestCommand(t *testing.T) {
	srv := server(t, &fake{}, nil)
	dir := t.TempDir()
	for _, args := range [][]string{
		{"-url", srv.URL},                   // no model
		{"-url", srv.URL, "-model", "fake"}, // unbounded
		{"-url", srv.URL, "-model", "fake", "-requests", "1", "-concurrency", "0"},
		{"-url", srv.URL, "-model", "fake", "-requests", "1", "-concurrency", "65"},
		{"-url", srv.URL, "-model", "fake", "-requests", "1", "-images", "0"},
		{"-url", "ftp://x", "-model", "fake", "-requests", "1"},
		{"-url", srv.URL, "-model", "nope", "-requests", "1"}, // unknown model: metadata 404
		{"-url", srv.URL, "-model", "fake", "-requests", "1", "-reference", dir},
		{"-url", srv.URL, "-model", "fake", "-requests", "1", "-save-reference", "x"}, // without -check
		{"-url", srv.URL, "-model", "fake", "-requests", "1", "-pid", "-3"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 || errOut.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q: want 2 and a message", args, code, errOut.String())
		}
	}
	refPath, jsonPath := filepath.Join(dir, "ref.json"), filepath.Join(dir, "rep.json")
	var out, errOut bytes.Buffer
	code := run([]string{"-url", srv.URL + "/", "-model", "fake", "-requests", "8", "-concurrency", "2", "-images", "2", "-check",
		"-save-reference", refPath, "-json", jsonPath, "-pid", fmt.Sprint(os.Getpid())}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	line := out.String()
	for _, want := range []string{"model=fake ", "concurrency=2 ", "images=2 ", "sent=8 ", "ok=8 ", "503=0 ", "errors=0 ", "images/s=", "p50=", "p99=", "peak_rss=", "checked=8 mismatched=0\n"} {
		if !strings.Contains(line, want) {
			t.Errorf("summary %q lacks %q", line, want)
		}
	}
	var rep Report
	if b, err := os.ReadFile(jsonPath); err != nil || json.Unmarshal(b, &rep) != nil || rep.OK != 8 || rep.PeakRSS <= 0 {
		t.Errorf("-json: %+v, %v", rep, err)
	}
	// Existing files are not overwritten.
	errOut.Reset()
	if code := run([]string{"-url", srv.URL, "-model", "fake", "-requests", "1", "-json", jsonPath}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "exists") {
		t.Errorf("-json over an existing file: exit %d, %s", code, errOut.String())
	}
	// The saved reference checks a run without fetching; a wrong seed is refused.
	errOut.Reset()
	if code := run([]string{"-url", srv.URL, "-model", "fake", "-requests", "8", "-images", "2", "-concurrency", "2", "-check", "-reference", refPath}, &out, &errOut); code != 0 {
		t.Errorf("-reference: exit %d, %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"-url", srv.URL, "-model", "fake", "-requests", "8", "-images", "2", "-concurrency", "2", "-check", "-reference", refPath, "-seed", "2"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "seed") {
		t.Errorf("-reference with another seed: exit %d, %s", code, errOut.String())
	}
}

// -wait polls the ready endpoint until the server is ready, and gives up
// with an error after the time given.
func TestWaitReady(t *testing.T) {
	var polls atomic.Int64
	starting := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/health/ready" && polls.Add(1) <= 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	srv := server(t, &fake{}, starting)
	o := opts(srv.URL)
	o.Requests, o.Wait = 2, time.Minute
	rep, _, err := Run(context.Background(), o)
	if err != nil || rep.OK != 2 || polls.Load() != 4 {
		t.Errorf("a server ready at the 4th poll: %+v, %v, %d polls", rep, err, polls.Load())
	}
	srv = server(t, nil, nil) // never ready
	o = opts(srv.URL)
	o.Requests, o.Wait = 2, 200*time.Millisecond
	if _, _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "did not answer 200 within 200ms (last: 503 Service Unavailable)") {
		t.Errorf("a server never ready: %v", err)
	}
}

// A run whose request bodies would not fit the memory bound is refused
// before anything is encoded, naming the flags to lower.
func TestTooMuchToEncode(t *testing.T) {
	var n atomic.Int64
	srv := server(t, &fake{}, overloaded(&n))
	o := opts(srv.URL)
	o.Requests, o.Images, o.Distinct = 1, maxImages, maxDistinct // 2^32 images of 12 values
	_, _, err := Run(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "over the limit of 2048 MiB: lower -distinct or -images") {
		t.Errorf("error %v", err)
	}
	if n.Load() != 0 {
		t.Errorf("%d inference requests sent", n.Load())
	}
}

// -check's reference fetch is bounded by -duration as the load phase is.
func TestReferenceFetchBounded(t *testing.T) {
	var polls atomic.Int64
	slow := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/infer") {
				polls.Add(1)
				// Read the body: the server notices the client gone
				// (and ends r's context) only after it.
				io.Copy(io.Discard, r.Body)
				<-r.Context().Done()
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	srv := server(t, &fake{}, slow)
	o := opts(srv.URL)
	o.Duration, o.Check, o.Timeout = 200*time.Millisecond, true, time.Hour
	_, _, err := Run(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "fetching the expected outputs at concurrency 1") || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("error %v", err)
	}
	if polls.Load() != 1 {
		t.Errorf("%d requests sent, want 1", polls.Load())
	}
}

// binaryExt puts the binary tensor data extension in front of a handler
// that speaks JSON only (today's serve.Handler): a request with an
// Inference-Header-Content-Length has its input's bytes turned into JSON
// data, and the answer's output turned back into bytes when the request
// asked for it. Every request it converted is counted.
func binaryExt(converted *atomic.Int64) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hl := r.Header.Get(headerLength)
			if hl == "" {
				h.ServeHTTP(w, r)
				return
			}
			b, _ := io.ReadAll(r.Body)
			l, err := strconv.Atoi(hl)
			if err != nil || l > len(b) {
				http.Error(w, `{"error":"bad header length"}`, http.StatusBadRequest)
				return
			}
			var req map[string]any
			if err := json.Unmarshal(b[:l], &req); err != nil {
				http.Error(w, `{"error":"bad header"}`, http.StatusBadRequest)
				return
			}
			in := req["inputs"].([]any)[0].(map[string]any)
			raw := b[l:]
			if size := in["parameters"].(map[string]any)["binary_data_size"].(float64); int(size) != len(raw) {
				http.Error(w, `{"error":"binary_data_size"}`, http.StatusBadRequest)
				return
			}
			data := make([]float32, len(raw)/4)
			for i := range data {
				data[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
			}
			delete(in, "parameters")
			in["data"] = data
			outBinary := req["outputs"].([]any)[0].(map[string]any)["parameters"].(map[string]any)["binary_data"] == true
			delete(req, "outputs")
			js, _ := json.Marshal(req)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, r.URL.Path, bytes.NewReader(js)))
			converted.Add(1)
			if rec.Code != http.StatusOK || !outBinary {
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes())
				return
			}
			var resp map[string]any
			json.Unmarshal(rec.Body.Bytes(), &resp)
			out := resp["outputs"].([]any)[0].(map[string]any)
			var bin []byte
			for _, v := range out["data"].([]any) {
				bin = le.AppendUint32(bin, math.Float32bits(float32(v.(float64))))
			}
			delete(out, "data")
			out["parameters"] = map[string]any{"binary_data_size": len(bin)}
			hdr, _ := json.Marshal(resp)
			w.Header().Set(headerLength, strconv.Itoa(len(hdr)))
			w.Write(append(hdr, bin...))
		})
	}
}

// -binary sends the input as bytes and reads binary outputs: the same
// counts and the same checked answers as JSON.
func TestBinary(t *testing.T) {
	var converted atomic.Int64
	srv := server(t, &fake{}, binaryExt(&converted))
	o := opts(srv.URL)
	o.Requests, o.Concurrency, o.Images, o.Distinct, o.Check, o.Binary = 21, 3, 2, 5, true, true
	rep, ref, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 21 || rep.OK != 21 || rep.Errors != 0 || rep.Checked != 21 || rep.Mismatch != 0 || rep.Encoding != "binary" {
		t.Errorf("report %+v: want 21 binary requests OK and checked", rep)
	}
	if converted.Load() != 21+5 {
		t.Errorf("%d requests came in binary, want 26", converted.Load())
	}
	for i, out := range ref.Outputs {
		if want := answerOf(Image(7, i, fH*fW*fC)); !equalBits(out, want) {
			t.Errorf("reference image %d: %v, want %v", i, out, want)
		}
	}
}

// Binary answers that do not add up are errors.
func TestDecodeAnswerBinary(t *testing.T) {
	m := &meta{output: "output", classes: 2}
	bin := le.AppendUint32(le.AppendUint32(nil, math.Float32bits(1.5)), math.Float32bits(-2))
	hdr := `{"id":"3","outputs":[{"name":"output","datatype":"FP32","shape":[1,2],"parameters":{"binary_data_size":8}}]}`
	raw := append([]byte(hdr), bin...)
	if data, err := decodeAnswer(raw, strconv.Itoa(len(hdr)), m, 3, 1); err != nil || !equalBits(data, []float32{1.5, -2}) {
		t.Errorf("decodeAnswer: %v, %v", data, err)
	}
	js := `{"id":"3","outputs":[{"name":"output","datatype":"FP32","shape":[1,2],"data":[1,2]}]}`
	if data, err := decodeAnswer([]byte(js), strconv.Itoa(len(js)), m, 3, 1); err != nil || !equalBits(data, []float32{1, 2}) {
		t.Errorf("decodeAnswer of JSON data in a binary answer: %v, %v", data, err)
	}
	for _, c := range []struct{ raw, hl string }{
		{string(raw), "x"},                                 // not a length
		{string(raw), strconv.Itoa(len(raw) + 1)},          // beyond the answer
		{string(raw[:len(raw)-1]), strconv.Itoa(len(hdr))}, // a byte short
		{string(raw) + "\x00", strconv.Itoa(len(hdr))},     // a byte over
		{strings.Replace(string(raw), `"binary_data_size":8`, `"binary_data_size":4`, 1), strconv.Itoa(len(hdr))},
		{js + "\x00", strconv.Itoa(len(js))}, // JSON data and stray bytes
	} {
		if _, err := decodeAnswer([]byte(c.raw), c.hl, m, 3, 1); err == nil {
			t.Errorf("decodeAnswer(%q, %q): no error", c.raw, c.hl)
		}
	}
}

// -json - writes the report alone on stdout, the summary on stderr.
func TestJSONStdout(t *testing.T) {
	srv := server(t, &fake{}, nil)
	var out, errOut bytes.Buffer
	if code := run([]string{"-url", srv.URL, "-model", "fake", "-requests", "3", "-json", "-"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.OK != 3 || rep.Encoding != "json" {
		t.Errorf("stdout %q: %+v, %v", out.String(), rep, err)
	}
	if !strings.HasPrefix(errOut.String(), "model=fake ") {
		t.Errorf("stderr %q: want the summary", errOut.String())
	}
}

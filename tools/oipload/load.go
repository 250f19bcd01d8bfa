package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a load run.
type Options struct {
	URL         string        // the server's base URL, e.g. http://127.0.0.1:8080
	Model       string        // the model's name in /v2/models/{name}
	Concurrency int           // requests in flight at once, 1–64
	Requests    int           // requests to send at most (0: no limit but Duration)
	Duration    time.Duration // the load phase's time limit (0: no limit but Requests)
	Images      int           // images per request
	Distinct    int           // distinct request bodies, cycled (0: 2·Concurrency, at most Requests)
	Seed        uint64        // seeds the inputs
	Timeout     time.Duration // one request's time limit
	Wait        time.Duration // how long to wait for GET /v2/health/ready to answer 200 first (0: do not)
	Check       bool          // verify every accepted answer
	Binary      bool          // send the input and ask for the output with the binary tensor data extension
	Reference   *Reference    // expected outputs for Check; nil: fetched first at concurrency 1
	Client      *http.Client  // nil: a client for Concurrency connections
}

// Limits on the options.
const (
	maxConcurrency = 64
	maxImages      = 1 << 16
	maxDistinct    = 1 << 16
	// maxMetadata bounds the metadata response read, maxResponse an
	// inference response (beyond: an error, not an allocation).
	maxMetadata = 1 << 20
	maxResponse = 256 << 20
	// maxEncoded bounds the request bodies and expected outputs a run
	// holds in memory.
	maxEncoded = 2 << 30
)

func (o *Options) validate() error {
	switch {
	case o.URL == "":
		return errors.New("-url: empty: want the server's base URL, e.g. http://127.0.0.1:8080")
	case o.Model == "":
		return errors.New("-model: empty: want the served model's name")
	case o.Concurrency < 1 || o.Concurrency > maxConcurrency:
		return fmt.Errorf("-concurrency %d: want 1 to %d", o.Concurrency, maxConcurrency)
	case o.Requests < 0:
		return fmt.Errorf("-requests %d: want at least 0", o.Requests)
	case o.Duration < 0:
		return fmt.Errorf("-duration %v: want at least 0", o.Duration)
	case o.Requests == 0 && o.Duration == 0:
		return errors.New("neither -requests nor -duration: give one or both, so that the run is bounded")
	case o.Images < 1 || o.Images > maxImages:
		return fmt.Errorf("-images %d: want 1 to %d", o.Images, maxImages)
	case o.Distinct < 0 || o.Distinct > maxDistinct:
		return fmt.Errorf("-distinct %d: want 0 (the default) to %d", o.Distinct, maxDistinct)
	case o.Timeout <= 0:
		return fmt.Errorf("-timeout %v: want more than 0", o.Timeout)
	case o.Wait < 0:
		return fmt.Errorf("-wait %v: want at least 0", o.Wait)
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return fmt.Errorf("-url %q: %v", o.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("-url %q: want http://HOST:PORT or https://HOST:PORT", o.URL)
	}
	return nil
}

// distinct is the number of distinct request bodies the run cycles through.
func (o *Options) distinct() int {
	if o.Distinct > 0 {
		return o.Distinct
	}
	d := 2 * o.Concurrency
	if o.Requests > 0 && o.Requests < d {
		d = o.Requests
	}
	return d
}

// Report is what a run measured.
type Report struct {
	Model       string `json:"model"`
	Concurrency int    `json:"concurrency"`
	Images      int    `json:"images_per_request"`
	Encoding    string `json:"encoding"`   // json, or binary (the binary tensor data extension)
	Sent        int    `json:"sent"`       // requests started
	OK          int    `json:"ok"`         // 200 with a well-formed answer
	Overloaded  int    `json:"overloaded"` // 503
	Errors      int    `json:"errors"`     // anything else: other statuses, malformed answers, transport errors
	Cancelled   int    `json:"cancelled"`  // cut off by the end of -duration
	// Check: answers compared with the expected ones, and the wrong ones.
	Checked  int `json:"checked"`
	Mismatch int `json:"mismatched"`
	// Seconds is the load phase's wall time; ImagesPerSec counts the
	// images of OK requests over it.
	Seconds      float64 `json:"seconds"`
	ImagesPerSec float64 `json:"images_per_sec"`
	// Latencies of OK requests, ms (nearest rank).
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	// PeakRSS is the server's VmHWM in bytes (0: not measured).
	PeakRSS int64 `json:"peak_rss_bytes,omitempty"`
	// FirstError and FirstMismatch describe the first of each, for the reader.
	FirstError    string `json:"first_error,omitempty"`
	FirstMismatch string `json:"first_mismatch,omitempty"`
}

// Reference holds the expected output of every image of a run's inputs,
// by image index (image i of request body d is index d·Images+i).
type Reference struct {
	Model   string      `json:"model"`
	Shape   []int64     `json:"shape"` // one image's shape, as the metadata gives it
	Seed    uint64      `json:"seed"`
	Outputs [][]float32 `json:"outputs"`
}

// meta is the part of the model metadata a run needs.
type meta struct {
	input, output string
	shape         []int64 // one image's
	classes       int
	per           int // elements per image
}

type tensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// metadata reads GET /v2/models/{name}: one FP32 input [-1, d1, d2, d3…]
// and one FP32 output [-1, classes].
func metadata(ctx context.Context, c *http.Client, base, model string) (*meta, error) {
	u := base + "/v2/models/" + url.PathEscape(model)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("model metadata: %w", err)
	}
	defer resp.Body.Close()
	body, err := readLimited(resp.Body, maxMetadata)
	if err != nil {
		return nil, fmt.Errorf("model metadata: GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("model metadata: GET %s: %s: %s", u, resp.Status, bytes.TrimSpace(body))
	}
	var md struct {
		Inputs, Outputs []tensorMeta
	}
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, fmt.Errorf("model metadata: GET %s: malformed JSON: %w", u, err)
	}
	if len(md.Inputs) != 1 || len(md.Outputs) != 1 {
		return nil, fmt.Errorf("model metadata: model %q has %d inputs and %d outputs: oipload sends one input and reads one output", model, len(md.Inputs), len(md.Outputs))
	}
	in, out := md.Inputs[0], md.Outputs[0]
	if in.Datatype != "FP32" || out.Datatype != "FP32" {
		return nil, fmt.Errorf("model metadata: input %q is %s and output %q is %s: oipload speaks FP32", in.Name, in.Datatype, out.Name, out.Datatype)
	}
	if len(in.Shape) < 2 || in.Shape[0] != -1 {
		return nil, fmt.Errorf("model metadata: input %q has shape %v: want [-1, …] (a batch of images)", in.Name, in.Shape)
	}
	m := &meta{input: in.Name, output: out.Name, shape: in.Shape[1:], per: 1}
	for _, d := range m.shape {
		if d < 1 || d > math.MaxInt32 || int64(m.per)*d > math.MaxInt32 {
			return nil, fmt.Errorf("model metadata: input %q has shape %v: every image dimension must be fixed and the image under 2^31 elements", in.Name, in.Shape)
		}
		m.per *= int(d)
	}
	if len(out.Shape) != 2 || out.Shape[0] != -1 || out.Shape[1] < 1 || out.Shape[1] > math.MaxInt32 {
		return nil, fmt.Errorf("model metadata: output %q has shape %v: want [-1, classes]", out.Name, out.Shape)
	}
	m.classes = int(out.Shape[1])
	return m, nil
}

// readLimited reads r to its end, at most limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("response larger than %d bytes", limit)
	}
	return b, nil
}

// Image returns image i of the inputs seeded by seed: per values of the
// form k/128 − 1, k in 0…255 (exact in float32 and in short decimal).
func Image(seed uint64, i, per int) []float32 {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	x := make([]float32, per)
	for j := range x {
		x[j] = float32(r.IntN(256))/128 - 1
	}
	return x
}

// body is one distinct request after its id: JSON (`,"inputs":[…]}`) and,
// with the binary tensor data extension, the input's bytes after it.
type body struct {
	json, raw []byte
}

// encodeBody makes the request body for images [first, first+n): JSON
// data, or with binary the input as little-endian float32 bytes after a
// JSON header that asks for the output in binary too.
func encodeBody(m *meta, seed uint64, first, n int, binary bool) body {
	var b bytes.Buffer
	b.WriteString(`,"inputs":[{"name":`)
	name, _ := json.Marshal(m.input)
	b.Write(name)
	b.WriteString(`,"datatype":"FP32","shape":[`)
	b.WriteString(strconv.Itoa(n))
	for _, d := range m.shape {
		b.WriteByte(',')
		b.WriteString(strconv.FormatInt(d, 10))
	}
	if binary {
		raw := make([]byte, 0, 4*n*m.per)
		for i := range n {
			for _, v := range Image(seed, first+i, m.per) {
				raw = le.AppendUint32(raw, math.Float32bits(v))
			}
		}
		fmt.Fprintf(&b, `],"parameters":{"binary_data_size":%d}}],"outputs":[{"name":`, len(raw))
		name, _ := json.Marshal(m.output)
		b.Write(name)
		b.WriteString(`,"parameters":{"binary_data":true}}]}`)
		return body{json: b.Bytes(), raw: raw}
	}
	b.Grow(n*m.per*10 + 16)
	b.WriteString(`],"data":[`)
	var num []byte
	for i := range n {
		for j, v := range Image(seed, first+i, m.per) {
			if i > 0 || j > 0 {
				b.WriteByte(',')
			}
			num = strconv.AppendFloat(num[:0], float64(v), 'g', -1, 32)
			b.Write(num)
		}
	}
	b.WriteString(`]}]}`)
	return body{json: b.Bytes()}
}

var le = binary.LittleEndian

// headerLength is the binary tensor data extension's HTTP header: the
// length of the JSON before the tensors' bytes.
const headerLength = "Inference-Header-Content-Length"

// answer is an inference response, decoded.
type answer struct {
	ID      string `json:"id"`
	Outputs []struct {
		Name       string    `json:"name"`
		Datatype   string    `json:"datatype"`
		Shape      []int64   `json:"shape"`
		Data       []float32 `json:"data"`
		Parameters struct {
			BinaryDataSize *int64 `json:"binary_data_size"`
		} `json:"parameters"`
	} `json:"outputs"`
}

// result is one request's outcome.
type result struct {
	status  int // HTTP status; 0: no answer
	err     error
	latency time.Duration
	data    []float32 // the output, for OK answers
}

// infer sends request number idx (its id) with body b and reads the answer:
// OK only for a 200 with the id echoed and one output of n·classes values,
// in JSON or in binary (the extension's answer).
func infer(ctx context.Context, c *http.Client, u string, m *meta, idx, n int, b body) result {
	id := `{"id":"` + strconv.Itoa(idx) + `"`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, io.MultiReader(strings.NewReader(id), bytes.NewReader(b.json), bytes.NewReader(b.raw)))
	if err != nil {
		return result{err: err}
	}
	req.ContentLength = int64(len(id) + len(b.json) + len(b.raw))
	if b.raw != nil {
		req.Header.Set(headerLength, strconv.Itoa(len(id)+len(b.json)))
		req.Header.Set("Content-Type", "application/octet-stream")
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return result{err: err}
	}
	raw, err := readLimited(resp.Body, maxResponse)
	resp.Body.Close()
	r := result{status: resp.StatusCode, latency: time.Since(t0)}
	if err != nil {
		r.err = fmt.Errorf("request %d: reading the answer: %w", idx, err)
		return r
	}
	if resp.StatusCode != http.StatusOK {
		r.err = fmt.Errorf("request %d: %s: %s", idx, resp.Status, bytes.TrimSpace(raw))
		return r
	}
	r.data, r.err = decodeAnswer(raw, resp.Header.Get(headerLength), m, idx, n)
	return r
}

// decodeAnswer reads an inference response: JSON, or with hdrLen (the
// response's Inference-Header-Content-Length) JSON then binary outputs.
func decodeAnswer(raw []byte, hdrLen string, m *meta, idx, n int) ([]float32, error) {
	jsonPart, binPart := raw, []byte(nil)
	if hdrLen != "" {
		l, err := strconv.Atoi(hdrLen)
		if err != nil || l < 0 || l > len(raw) {
			return nil, fmt.Errorf("request %d: %s %q: want a length within the answer's %d bytes", idx, headerLength, hdrLen, len(raw))
		}
		jsonPart, binPart = raw[:l], raw[l:]
	}
	var a answer
	if err := json.Unmarshal(jsonPart, &a); err != nil {
		return nil, fmt.Errorf("request %d: malformed answer: %w", idx, err)
	}
	want := n * m.classes
	switch {
	case a.ID != strconv.Itoa(idx):
		return nil, fmt.Errorf("request %d: the answer's id is %q", idx, a.ID)
	case len(a.Outputs) != 1 || a.Outputs[0].Name != m.output || a.Outputs[0].Datatype != "FP32":
		return nil, fmt.Errorf("request %d: want one FP32 output %q, got %d outputs", idx, m.output, len(a.Outputs))
	case !slices.Equal(a.Outputs[0].Shape, []int64{int64(n), int64(m.classes)}):
		return nil, fmt.Errorf("request %d: output shape %v: want [%d, %d]", idx, a.Outputs[0].Shape, n, m.classes)
	}
	o := &a.Outputs[0]
	if size := o.Parameters.BinaryDataSize; size != nil {
		if o.Data != nil || *size != int64(4*want) || int64(len(binPart)) != *size {
			return nil, fmt.Errorf("request %d: binary output of binary_data_size %d with %d bytes after the JSON: want %d bytes and no JSON data", idx, *size, len(binPart), 4*want)
		}
		data := make([]float32, want)
		for i := range data {
			data[i] = math.Float32frombits(le.Uint32(binPart[4*i:]))
		}
		return data, nil
	}
	if len(binPart) != 0 || len(o.Data) != want {
		return nil, fmt.Errorf("request %d: output of %d JSON values and %d bytes after the JSON: want %d values", idx, len(o.Data), len(binPart), want)
	}
	return o.Data, nil
}

// Run measures: it reads the model's metadata, builds the request bodies,
// with Check fetches (or takes from o.Reference) the expected outputs,
// then sends requests from Concurrency workers until Requests were sent or
// Duration has passed, whichever comes first. The reference it used is
// returned with the report.
func Run(ctx context.Context, o Options) (*Report, *Reference, error) {
	if err := o.validate(); err != nil {
		return nil, nil, err
	}
	c := o.Client
	if c == nil {
		c = &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: o.Concurrency,
			DisableCompression:  true,
		}}
	}
	base := trimSlash(o.URL)
	if o.Wait > 0 {
		if err := waitReady(ctx, c, base, o.Wait); err != nil {
			return nil, nil, err
		}
	}
	mctx, cancel := context.WithTimeout(ctx, o.Timeout)
	m, err := metadata(mctx, c, base, o.Model)
	cancel()
	if err != nil {
		return nil, nil, err
	}
	if int64(o.Images)*int64(m.per) > 1<<28 {
		return nil, nil, fmt.Errorf("-images %d × %d elements per image: over 2^28 elements per request", o.Images, m.per)
	}
	if int64(o.Images)*int64(m.classes) > 1<<28 {
		return nil, nil, fmt.Errorf("-images %d × %d outputs per image: over 2^28 outputs per request", o.Images, m.classes)
	}
	nd := o.distinct()
	// Each value takes at most 11 bytes of JSON ("-0.9921875,"); the
	// reference holds a float32 per output.
	if est := int64(nd) * int64(o.Images) * (int64(m.per)*11 + int64(m.classes)*4); est > maxEncoded {
		return nil, nil, fmt.Errorf("-distinct %d × -images %d of %d elements (and %d outputs) each: about %d MiB of request bodies and expected outputs, over the limit of %d MiB: lower -distinct or -images", nd, o.Images, m.per, m.classes, est>>20, maxEncoded>>20)
	}
	bodies := make([]body, nd)
	for d := range bodies {
		bodies[d] = encodeBody(m, o.Seed, d*o.Images, o.Images, o.Binary)
	}
	u := base + "/v2/models/" + url.PathEscape(o.Model) + "/infer"
	ref := o.Reference
	if o.Check && ref == nil {
		fctx := ctx // the fetch is bounded by -duration too
		if o.Duration > 0 {
			var cancel context.CancelFunc
			fctx, cancel = context.WithTimeout(ctx, o.Duration)
			defer cancel()
		}
		ref = &Reference{Model: o.Model, Shape: m.shape, Seed: o.Seed, Outputs: make([][]float32, nd*o.Images)}
		for d, b := range bodies {
			rctx, cancel := context.WithTimeout(fctx, o.Timeout)
			r := infer(rctx, c, u, m, d, o.Images, b)
			cancel()
			if r.err != nil {
				return nil, nil, fmt.Errorf("fetching the expected outputs at concurrency 1: %w", r.err)
			}
			for i := range o.Images {
				ref.Outputs[d*o.Images+i] = r.data[i*m.classes : (i+1)*m.classes]
			}
		}
	}
	if o.Check {
		if err := ref.fits(o.Model, m, o.Seed, nd*o.Images); err != nil {
			return nil, nil, err
		}
	}
	rep := load(ctx, c, u, m, bodies, ref, o)
	return rep, ref, nil
}

// waitReady polls GET /v2/health/ready every 50 ms until it answers 200,
// for at most wait.
func waitReady(ctx context.Context, c *http.Client, base string, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	last := errors.New("no answer")
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/health/ready", nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, maxMetadata))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = errors.New(resp.Status)
		} else if ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("-wait: %s/v2/health/ready did not answer 200 within %v (last: %v)", base, wait, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// fits checks a reference against the run.
func (r *Reference) fits(model string, m *meta, seed uint64, images int) error {
	switch {
	case r.Model != model:
		return fmt.Errorf("reference: for model %q, not %q", r.Model, model)
	case !slices.Equal(r.Shape, m.shape):
		return fmt.Errorf("reference: image shape %v, the model's is %v", r.Shape, m.shape)
	case r.Seed != seed:
		return fmt.Errorf("reference: seed %d, the run's is %d", r.Seed, seed)
	case len(r.Outputs) < images:
		return fmt.Errorf("reference: %d images' outputs; the run sends %d distinct images", len(r.Outputs), images)
	}
	for i, out := range r.Outputs[:images] {
		if len(out) != m.classes {
			return fmt.Errorf("reference: image %d has %d outputs: the model has %d classes", i, len(out), m.classes)
		}
	}
	return nil
}

// load is the measured phase.
func load(ctx context.Context, c *http.Client, u string, m *meta, bodies []body, ref *Reference, o Options) *Report {
	rep := &Report{Model: o.Model, Concurrency: o.Concurrency, Images: o.Images, Encoding: "json"}
	if o.Binary {
		rep.Encoding = "binary"
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
		wg        sync.WaitGroup
	)
	t0 := time.Now()
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w Report // this worker's counts
			var lat []time.Duration
			for ctx.Err() == nil {
				idx := int(next.Add(1) - 1)
				if o.Requests > 0 && idx >= o.Requests {
					break
				}
				d := idx % len(bodies)
				rctx, cancel := context.WithTimeout(ctx, o.Timeout)
				r := infer(rctx, c, u, m, idx, o.Images, bodies[d])
				cancel()
				w.Sent++
				switch {
				case r.err == nil:
					w.OK++
					lat = append(lat, r.latency)
					if o.Check {
						w.Checked++
						if msg := compare(ref, d, o.Images, m.classes, r.data); msg != "" {
							w.Mismatch++
							if w.FirstMismatch == "" {
								w.FirstMismatch = fmt.Sprintf("request %d (body %d): %s", idx, d, msg)
							}
						}
					}
				case r.status == http.StatusServiceUnavailable:
					w.Overloaded++
				case ctx.Err() != nil && (errors.Is(r.err, context.DeadlineExceeded) || errors.Is(r.err, context.Canceled)):
					w.Cancelled++ // the run's end cut it off
				default:
					w.Errors++
					if w.FirstError == "" {
						w.FirstError = r.err.Error()
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			rep.Sent += w.Sent
			rep.OK += w.OK
			rep.Overloaded += w.Overloaded
			rep.Errors += w.Errors
			rep.Cancelled += w.Cancelled
			rep.Checked += w.Checked
			rep.Mismatch += w.Mismatch
			if rep.FirstError == "" {
				rep.FirstError = w.FirstError
			}
			if rep.FirstMismatch == "" {
				rep.FirstMismatch = w.FirstMismatch
			}
			latencies = append(latencies, lat...)
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	rep.Seconds = elapsed.Seconds()
	if rep.Seconds > 0 {
		rep.ImagesPerSec = float64(rep.OK*o.Images) / rep.Seconds
	}
	slices.Sort(latencies)
	rep.P50 = ms(percentile(latencies, 50))
	rep.P90 = ms(percentile(latencies, 90))
	rep.P99 = ms(percentile(latencies, 99))
	return rep
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile is the nearest-rank p-th percentile of sorted: the smallest
// value with at least p% of the values at or below it (0 for none).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// compare checks the outputs of body d against the reference: "" when
// every value is bit for bit the expected one; otherwise what is wrong,
// naming the input whose answer it is when it is another's.
func compare(ref *Reference, d, images, classes int, data []float32) string {
	for i := range images {
		got := data[i*classes : (i+1)*classes]
		want := ref.Outputs[d*images+i]
		if equalBits(got, want) {
			continue
		}
		for j, other := range ref.Outputs {
			if equalBits(got, other) {
				return fmt.Sprintf("image %d got the answer of image %d", d*images+i, j)
			}
		}
		for k := range got {
			if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
				return fmt.Sprintf("image %d output %d is %v, want %v", d*images+i, k, got[k], want[k])
			}
		}
	}
	return ""
}

func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

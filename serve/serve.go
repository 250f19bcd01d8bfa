// Package serve serves one compiled model over the Open Inference Protocol v2 (KServe v2) HTTP/REST API: health, metadata and inference with FP32 tensors and encoded images, batched across requests.
//
// The pieces: Handler/NewHandler (the REST API), an Inferer that runs the
// requests (Direct: one Predict each; Batcher: dynamic batching with a
// bounded queue), Metrics (Prometheus, one registry per server) and Serve
// (an http.Server with graceful shutdown). A generated package's
// cmd/serve (rnc compile --server) wires them.
//
// Memory: a request body is read up to Config.MaxBodyBytes (413 beyond);
// the declared batch is checked against MaxBatch and the declared element
// count against what the data's bytes can hold before the input is
// allocated, so one request allocates a small multiple of its body (about
// 4.5 times, TestInferAllocationBounded) plus its n·Classes outputs and
// their JSON. An encoded image's header is read before it is decoded:
// more than Config.MaxImagePixels is a 400. A Batcher holds at most Queue
// waiting requests and preallocates its batch buffers.
//
// Decisions a client can see:
//   - The model's one input is named InputName ("input") and its one output
//     OutputName ("output"); a request naming another input or output is a
//     400.
//   - An FP32 input's JSON data is a flat array of n·H·W·C numbers or an
//     array nested exactly as the shape (n, then H, W, C, or C, H, W for
//     an NCHW model); mixed nesting is a 400.
//   - The binary tensor data extension: with the header
//     Inference-Header-Content-Length, the body is that many bytes of JSON
//     and then the inputs' binary data, each input's parameter
//     binary_data_size its exact byte count (FP32: 4·n·H·W·C bytes,
//     little-endian). The request parameter binary_data_output, or an
//     output's binary_data (which wins), asks for the output as binary
//     data: the response is application/octet-stream with the same header.
//   - BYTES inputs are encoded JPEG or PNG images, shape [n]: in JSON an
//     array of n base64 strings (standard alphabet, padded: KServe's
//     convention for images in JSON, which has no raw bytes), in binary
//     data the protocol's layout (a 4-byte little-endian length, then the
//     bytes, per element). Config.Preprocess (the generated package's
//     PreprocessInto) makes each the model's input; without one BYTES is
//     a 400 saying why. The metadata lists the input as FP32.
//   - JSON has no NaN or infinity: the NaN and Infinity Python's json
//     module writes make a body malformed (400), and a number beyond
//     float32's range (1e39), which would become an infinity, is refused
//     with a 400 naming the element. An output that is not finite cannot
//     be written as JSON and is a 500; binary output carries it.
//   - Fields of a request the protocol does not define are ignored, as
//     encoding/json does.
//   - Not ready (no model) is 503 Service Unavailable, with {"ready": false},
//     on the ready endpoints, and 503 with an error on infer (the protocol
//     asks for a status other than 200; Kubernetes probes take any status
//     from 400 up as not ready).
//   - A full queue (ErrOverloaded) and a closing server (ErrClosed) are 503
//     at once, with Retry-After: 1; a request whose context's deadline passes before it runs is
//     504; a client that went away is counted and logged as 499 and gets
//     no body; a Predict that fails or panics is a 500 for the requests of
//     its batch only.
//   - The inference request bodies in flight (read, decoded, queued or
//     running) hold at most HandlerOptions.MaxInFlightBytes (256 MiB by
//     default) of declared Content-Length; a request that does not fit is
//     503 at once, with Retry-After: 1, before its body is read.
//   - A Batcher gathers up to BatchOptions.MaxBatch images; a request of
//     more (Config.MaxBatch allows up to its own limit) runs alone.
//   - A Config without a Version serves no /versions/ paths (404) and
//     lists no versions.
//   - Every error is {"error": "message"}; 404 and 405 too.
package serve

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rnc-dev/rnc/runtime"
)

// ServerName and ServerVersion are what GET /v2 reports.
const (
	ServerName    = "rnc"
	ServerVersion = "0.1.0"
)

// InputName and OutputName name the model's input and output tensors.
const (
	InputName  = "input"
	OutputName = "output"
)

// Defaults for a Config's zero MaxBatch, MaxBodyBytes and MaxImagePixels.
const (
	DefaultMaxBatch       = 8
	DefaultMaxBodyBytes   = 64 << 20
	DefaultMaxImagePixels = 1 << 24 // 16.8 megapixels: 64 MiB decoded as RGBA
)

// Model is what Handler serves: a generated package's *Model, or a
// *runtime.Model. Predict writes n·Classes outputs to dst for the n images
// in src (n·H·W·C floats) and must be safe for concurrent use.
type Model interface {
	Predict(dst, src []float32) error
}

// Config describes the served model.
type Config struct {
	Name    string // the model's name in the URL paths
	Version string // its version; "" serves no versioned paths
	// The shape of one image: H, W, C, channels first if NCHW.
	InputH, InputW, InputC int
	Classes                int // outputs per image
	NCHW                   bool
	MaxBatch               int   // images per request (0: DefaultMaxBatch)
	MaxBodyBytes           int64 // bytes per request body (0: DefaultMaxBodyBytes)
	// Preprocess makes one encoded image of a BYTES input the model's
	// input (a generated package's PreprocessInto); nil refuses BYTES
	// inputs with a 400.
	Preprocess func(dst []float32, img image.Image) error
	// MaxImagePixels bounds the width × height of an encoded image, read
	// from its header before it is decoded (0: DefaultMaxImagePixels).
	MaxImagePixels int64
}

// FromProgram makes the Config of a compiled program (a generated package's
// Program()) served under name, with the default limits.
func FromProgram(p *runtime.Program, name string) (Config, error) {
	if p == nil {
		return Config{}, errors.New("serve: nil *runtime.Program")
	}
	c := Config{Name: name, InputH: p.InputH, InputW: p.InputW, InputC: p.InputC, Classes: p.Classes, NCHW: p.InputNCHW}
	return c, c.Validate()
}

// maxElements bounds one image's element count and a request's output
// elements (MaxBatch·Classes), so that they fit an int on every
// architecture and their products an int64.
const maxElements = 1<<31 - 1

// Validate reports what is wrong with c, after the defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Name == "":
		return errors.New("serve: config: empty model name")
	case strings.Contains(c.Name, "/"):
		return fmt.Errorf("serve: config: model name %q contains a slash", c.Name)
	case strings.Contains(c.Version, "/"):
		return fmt.Errorf("serve: config: model version %q contains a slash", c.Version)
	case c.InputH < 1 || c.InputW < 1 || c.InputC < 1:
		return fmt.Errorf("serve: config: input shape %d×%d×%d: every dimension must be at least 1", c.InputH, c.InputW, c.InputC)
	case int64(c.InputH)*int64(c.InputW)*int64(c.InputC) > maxElements || c.InputH > maxElements || c.InputW > maxElements || c.InputC > maxElements:
		return fmt.Errorf("serve: config: input shape %d×%d×%d has more than %d elements", c.InputH, c.InputW, c.InputC, maxElements)
	case c.Classes < 1 || c.Classes > maxElements:
		return fmt.Errorf("serve: config: Classes %d: want 1 to %d", c.Classes, maxElements)
	case c.MaxBatch < 1 || c.MaxBatch > maxElements:
		return fmt.Errorf("serve: config: MaxBatch %d: want 1 to %d", c.MaxBatch, maxElements)
	case int64(c.MaxBatch)*int64(c.Classes) > maxElements:
		return fmt.Errorf("serve: config: MaxBatch %d × Classes %d: more than %d outputs per request", c.MaxBatch, c.Classes, maxElements)
	case c.MaxBodyBytes < 1:
		return fmt.Errorf("serve: config: MaxBodyBytes %d: want at least 1", c.MaxBodyBytes)
	case c.MaxImagePixels < 1:
		return fmt.Errorf("serve: config: MaxImagePixels %d: want at least 1", c.MaxImagePixels)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxImagePixels == 0 {
		c.MaxImagePixels = DefaultMaxImagePixels
	}
	return c
}

// imageShape is one image's shape in the request's order.
func (c Config) imageShape() []int64 {
	if c.NCHW {
		return []int64{int64(c.InputC), int64(c.InputH), int64(c.InputW)}
	}
	return []int64{int64(c.InputH), int64(c.InputW), int64(c.InputC)}
}

type handler struct {
	m       Model
	cfg     Config
	cfgErr  error
	inf     Inferer
	metrics *Metrics
	log     *slog.Logger
	bodies  *budget // the inference request bodies in flight
}

// DefaultMaxInFlightBytes is HandlerOptions.MaxInFlightBytes's default.
const DefaultMaxInFlightBytes = 256 << 20

// budget is a count of bytes that may be taken while available, never
// waited for.
type budget struct {
	mu         sync.Mutex
	left, size int64
}

// take takes n bytes (at most the whole budget) if they are available and
// returns how many it took, or 0 when they are not.
func (b *budget) take(n int64) int64 {
	n = max(min(n, b.size), 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.left {
		return 0
	}
	b.left -= n
	return n
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	b.left += n
	b.mu.Unlock()
}

// HandlerOptions are a handler's collaborators beyond the model.
type HandlerOptions struct {
	// Inferer runs the requests (a Batcher); nil: Direct(m), one Predict
	// per request.
	Inferer Inferer
	// Metrics, if not nil, counts the inference requests by status code
	// and records their latency.
	Metrics *Metrics
	// Logger receives one line per request: at Debug if it succeeded, at
	// Warn for a client's error (4xx), overload (503) or deadline (504),
	// at Error for the server's own failures (nil: no logs).
	Logger *slog.Logger
	// MaxInFlightBytes bounds the bodies of the inference requests being
	// read, decoded, queued or run at once (0: DefaultMaxInFlightBytes): a
	// request reserves its Content-Length (MaxBodyBytes when it declares
	// none, the whole budget at most) before its body is read, and is
	// answered 503 with Retry-After: 1 at once when that does not fit. A
	// request allocates a small multiple of its body, so this bounds the
	// memory of any number of concurrent clients.
	MaxInFlightBytes int64
}

// Handler serves m under cfg, each request one Predict (Direct). A nil m
// is served as not ready. A Config that does not validate makes every
// endpoint but /v2/health/live answer 500 with Validate's error: call
// Validate first to learn it at startup.
func Handler(m Model, cfg Config) http.Handler {
	return NewHandler(m, cfg, HandlerOptions{})
}

// NewHandler is Handler with options: the Inferer that runs the
// requests, metrics and a logger.
func NewHandler(m Model, cfg Config, opts HandlerOptions) http.Handler {
	cfg = cfg.withDefaults()
	limit := opts.MaxInFlightBytes
	if limit <= 0 {
		limit = DefaultMaxInFlightBytes
	}
	h := &handler{m: m, cfg: cfg, cfgErr: cfg.Validate(), inf: opts.Inferer, metrics: opts.Metrics, log: opts.Logger,
		bodies: &budget{left: limit, size: limit}}
	if h.inf == nil && m != nil {
		h.inf = Direct(m)
	}
	if h.log == nil {
		h.log = discard
	}
	return h
}

// httpError is an error with the status it is answered with.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) *httpError {
	return &httpError{status, fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only our own values reach here
		status, b = http.StatusInternalServerError, []byte(`{"error":"serve: encoding the response failed"}`)
	}
	writeBody(w, status, b)
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, e *httpError) {
	writeJSON(w, e.status, map[string]string{"error": e.msg})
}

var discard = slog.New(slog.DiscardHandler)

// statusWriter records the status a handler answers with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (h *handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w := &statusWriter{ResponseWriter: rw}
	e := h.serve(w, r)
	if e != nil {
		writeError(w, e)
	}
	d := time.Since(start)
	if strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/infer") {
		h.metrics.ObserveRequest(h.cfg.Name, w.status, d)
	}
	level, msg := slog.LevelDebug, "request"
	switch {
	case w.status >= 500 && w.status != http.StatusServiceUnavailable && w.status != http.StatusGatewayTimeout:
		level = slog.LevelError
	case w.status >= 400: // overload and deadlines too: the server works as designed
		level = slog.LevelWarn
	}
	if !h.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", w.status), slog.Duration("duration", d), slog.String("remote", r.RemoteAddr)}
	if e != nil {
		attrs = append(attrs, slog.String("error", e.msg))
	}
	h.log.LogAttrs(r.Context(), level, msg, attrs...)
}

// method checks r's method.
func method(w http.ResponseWriter, r *http.Request, want string) *httpError {
	if r.Method != want {
		w.Header().Set("Allow", want)
		return errorf(http.StatusMethodNotAllowed, "method %s not allowed on %s: use %s", r.Method, r.URL.Path, want)
	}
	return nil
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request) *httpError {
	path := strings.TrimSuffix(r.URL.Path, "/")
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if parts[0] != "v2" {
		return errorf(http.StatusNotFound, "no endpoint %s", r.URL.Path)
	}
	parts = parts[1:]
	switch {
	case len(parts) == 0: // GET /v2
		if e := method(w, r, http.MethodGet); e != nil {
			return e
		}
		writeJSON(w, http.StatusOK, map[string]any{"name": ServerName, "version": ServerVersion, "extensions": []string{"binary_tensor_data"}})
		return nil
	case len(parts) == 2 && parts[0] == "health" && parts[1] == "live":
		if e := method(w, r, http.MethodGet); e != nil {
			return e
		}
		writeJSON(w, http.StatusOK, map[string]bool{"live": true})
		return nil
	case len(parts) == 2 && parts[0] == "health" && parts[1] == "ready":
		if e := method(w, r, http.MethodGet); e != nil {
			return e
		}
		return h.ready(w)
	case len(parts) >= 2 && parts[0] == "models":
		return h.model(w, r, parts[1:])
	}
	return errorf(http.StatusNotFound, "no endpoint %s", r.URL.Path)
}

// check reports a bad config or a missing model.
func (h *handler) check() *httpError {
	if h.cfgErr != nil {
		return errorf(http.StatusInternalServerError, "%v", h.cfgErr)
	}
	if h.m == nil {
		return errorf(http.StatusServiceUnavailable, "model %q is not ready", h.cfg.Name)
	}
	return nil
}

func (h *handler) ready(w http.ResponseWriter) *httpError {
	if e := h.check(); e != nil {
		if e.status == http.StatusServiceUnavailable {
			writeJSON(w, e.status, map[string]bool{"ready": false})
			return nil
		}
		return e
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
	return nil
}

// model serves /v2/models/{name}[/versions/{v}][/ready|/infer]; parts
// starts at the name.
func (h *handler) model(w http.ResponseWriter, r *http.Request, parts []string) *httpError {
	name, rest := parts[0], parts[1:]
	if h.cfgErr != nil {
		return errorf(http.StatusInternalServerError, "%v", h.cfgErr)
	}
	if name != h.cfg.Name {
		return errorf(http.StatusNotFound, "unknown model %q (this server serves %q)", name, h.cfg.Name)
	}
	if len(rest) >= 2 && rest[0] == "versions" {
		if h.cfg.Version == "" || rest[1] != h.cfg.Version {
			return errorf(http.StatusNotFound, "model %q has no version %q", name, rest[1])
		}
		rest = rest[2:]
	}
	switch {
	case len(rest) == 0:
		if e := method(w, r, http.MethodGet); e != nil {
			return e
		}
		h.metadata(w)
		return nil
	case len(rest) == 1 && rest[0] == "ready":
		if e := method(w, r, http.MethodGet); e != nil {
			return e
		}
		return h.ready(w)
	case len(rest) == 1 && rest[0] == "infer":
		if e := method(w, r, http.MethodPost); e != nil {
			return e
		}
		if e := h.check(); e != nil {
			return e
		}
		return h.infer(w, r)
	}
	return errorf(http.StatusNotFound, "no endpoint %s", r.URL.Path)
}

type tensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

func (h *handler) metadata(w http.ResponseWriter) {
	versions := []string{}
	if h.cfg.Version != "" {
		versions = append(versions, h.cfg.Version)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name":     h.cfg.Name,
		"versions": versions,
		"platform": "rnc",
		"inputs":   []tensorMeta{{InputName, "FP32", append([]int64{-1}, h.cfg.imageShape()...)}},
		"outputs":  []tensorMeta{{OutputName, "FP32", []int64{-1, int64(h.cfg.Classes)}}},
	})
}

// The inference request, as the protocol defines it.
type inferRequest struct {
	ID         string        `json:"id"`
	Parameters parameters    `json:"parameters"`
	Inputs     []inputTensor `json:"inputs"`
	Outputs    []struct {
		Name       string     `json:"name"`
		Parameters parameters `json:"parameters"`
	} `json:"outputs"`
}

// parameters are the protocol's parameter objects; only those of the
// binary tensor data extension are read.
type parameters map[string]json.RawMessage

// flag returns p's boolean key (false if absent); of names p's owner.
func (p parameters) flag(key, of string) (bool, *httpError) {
	switch raw, ok := p[key]; {
	case !ok, string(raw) == "false":
		return false, nil
	case string(raw) == "true":
		return true, nil
	default:
		return false, errorf(http.StatusBadRequest, "%s: parameter %s = %s: want true or false", of, key, raw)
	}
}

type inputTensor struct {
	Name       string            `json:"name"`
	Shape      []json.RawMessage `json:"shape"`
	Datatype   string            `json:"datatype"`
	Parameters parameters        `json:"parameters"`
	Data       json.RawMessage   `json:"data"`
}

// HeaderLength is the binary tensor data extension's header: the length
// of the JSON that starts a body, binary tensor data following it.
const HeaderLength = "Inference-Header-Content-Length"

func (h *handler) infer(w http.ResponseWriter, r *http.Request) *httpError {
	want := h.cfg.MaxBodyBytes
	if r.ContentLength >= 0 {
		want = min(want, r.ContentLength)
	}
	took := h.bodies.take(want)
	if took == 0 {
		w.Header().Set("Retry-After", "1")
		return errorf(http.StatusServiceUnavailable, "overloaded: %d bytes of request bodies are in flight, the server's limit; try again later", h.bodies.size)
	}
	defer h.bodies.give(took)
	var buf bytes.Buffer
	if r.ContentLength > 0 { // one allocation of the declared size, if within the limit
		buf.Grow(int(min(r.ContentLength, h.cfg.MaxBodyBytes)) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	body := buf.Bytes()
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return errorf(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", mb.Limit)
		}
		return errorf(http.StatusBadRequest, "reading the request body: %v", err)
	}
	// The binary tensor data extension: the JSON header, then the data.
	header, bin := body, []byte(nil)
	if hl := r.Header.Get(HeaderLength); hl != "" {
		k, err := strconv.ParseInt(strings.TrimSpace(hl), 10, 64)
		if err != nil || k < 0 {
			return errorf(http.StatusBadRequest, "header %s: %q is not a byte count", HeaderLength, hl)
		}
		if k > int64(len(body)) {
			return errorf(http.StatusBadRequest, "header %s: %d: the body has only %d bytes", HeaderLength, k, len(body))
		}
		header, bin = body[:k], body[k:]
	}
	// Unmarshal checks the whole header is one valid JSON value before it
	// decodes, and decodes in place: the data's text is copied once.
	// Fields the protocol does not define are ignored.
	var req inferRequest
	if err := json.Unmarshal(header, &req); err != nil {
		return errorf(http.StatusBadRequest, "malformed request JSON: %v", err)
	}
	if len(req.Inputs) != 1 {
		return errorf(http.StatusBadRequest, "request has %d inputs: model %q has one, %q", len(req.Inputs), h.cfg.Name, InputName)
	}
	binOut, e := req.Parameters.flag("binary_data_output", "request")
	if e != nil {
		return e
	}
	for _, o := range req.Outputs {
		if o.Name != OutputName {
			return errorf(http.StatusBadRequest, "unknown output %q: model %q has one output, %q", o.Name, h.cfg.Name, OutputName)
		}
		if _, ok := o.Parameters["binary_data"]; ok { // the output's own choice wins
			if binOut, e = o.Parameters.flag("binary_data", fmt.Sprintf("output %q", o.Name)); e != nil {
				return e
			}
		}
	}
	in := &req.Inputs[0]
	if in.Name != InputName {
		return errorf(http.StatusBadRequest, "unknown input %q: model %q has one input, %q", in.Name, h.cfg.Name, InputName)
	}
	data, isBin, e := in.data(bin)
	if e != nil {
		return e
	}
	var src []float32
	var n int
	switch in.Datatype {
	case "FP32":
		src, n, e = h.fp32(in, data, isBin)
	case "BYTES":
		src, n, e = h.images(in, data, isBin)
	default:
		return errorf(http.StatusBadRequest, "input %q: datatype %q: want FP32 (a tensor in the model's layout) or BYTES (encoded JPEG or PNG images)", in.Name, in.Datatype)
	}
	if e != nil {
		return e
	}
	dst := make([]float32, n*h.cfg.Classes)
	if e := h.run(r, dst, src, n); e != nil {
		switch e.status {
		case statusClientClosed:
			w.WriteHeader(e.status) // the client is gone: no body for nobody
			return nil
		case http.StatusServiceUnavailable:
			w.Header().Set("Retry-After", "1")
		}
		return e
	}
	out, e := h.response(&req, n, dst, binOut)
	if e != nil {
		return e
	}
	if binOut {
		w.Header().Set(HeaderLength, strconv.Itoa(out.header))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(out.body)))
		w.WriteHeader(http.StatusOK)
		w.Write(out.body)
		return nil
	}
	writeBody(w, http.StatusOK, out.body)
	return nil
}

// statusClientClosed is the status of a request whose client went away
// before its answer (nginx's 499): counted and logged, not answered.
const statusClientClosed = 499

// run runs the request through the Inferer, mapping its errors to
// statuses: overload and shutdown 503, the request's deadline 504, a
// client that went away 499, anything else (a panic too) 500.
func (h *handler) run(r *http.Request, dst, src []float32, n int) (e *httpError) {
	defer func() {
		if p := recover(); p != nil {
			e = errorf(http.StatusInternalServerError, "model %q: predict panicked: %v", h.cfg.Name, p)
		}
	}()
	err := h.inf.Infer(r.Context(), dst, src, n)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrOverloaded), errors.Is(err, ErrClosed):
		return errorf(http.StatusServiceUnavailable, "model %q: %v", h.cfg.Name, err)
	case errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusGatewayTimeout, "model %q: the request's deadline passed before it ran: %v", h.cfg.Name, err)
	case errors.Is(err, context.Canceled):
		return errorf(statusClientClosed, "model %q: the client went away: %v", h.cfg.Name, err)
	}
	var prefix string
	if !strings.HasPrefix(err.Error(), fmt.Sprintf("model %q", h.cfg.Name)) {
		prefix = fmt.Sprintf("model %q: predict: ", h.cfg.Name)
	}
	return errorf(http.StatusInternalServerError, "%s%v", prefix, err)
}

// data returns the input's data: its JSON data, or its part of the
// binary data after the JSON header (isBin).
func (in *inputTensor) data(bin []byte) (data []byte, isBin bool, e *httpError) {
	raw, ok := in.Parameters["binary_data_size"]
	hasJSON := len(in.Data) > 0 && string(in.Data) != "null"
	if !ok {
		if len(bin) > 0 {
			return nil, false, errorf(http.StatusBadRequest, "%d bytes of binary data follow the JSON header, but input %q has no binary_data_size parameter", len(bin), in.Name)
		}
		if !hasJSON {
			return nil, false, errorf(http.StatusBadRequest, "input %q: no data (neither data nor the parameter binary_data_size)", in.Name)
		}
		return in.Data, false, nil
	}
	if hasJSON {
		return nil, false, errorf(http.StatusBadRequest, "input %q has both data and the parameter binary_data_size: send one", in.Name)
	}
	size, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || size < 0 {
		return nil, false, errorf(http.StatusBadRequest, "input %q: parameter binary_data_size = %s: want a byte count", in.Name, raw)
	}
	if size != int64(len(bin)) {
		return nil, false, errorf(http.StatusBadRequest, "input %q: parameter binary_data_size = %d, but %d bytes of binary data follow the JSON header (header %s)", in.Name, size, len(bin), HeaderLength)
	}
	return bin, true, nil
}

// fp32 reads an FP32 input: its shape, then its JSON or little-endian
// binary data.
func (h *handler) fp32(in *inputTensor, data []byte, isBin bool) ([]float32, int, *httpError) {
	shape, e := h.checkShape(in)
	if e != nil {
		return nil, 0, e
	}
	n := int(shape[0])
	per := h.cfg.InputH * h.cfg.InputW * h.cfg.InputC
	count := int64(n) * int64(per) // n ≤ MaxBatch ≤ 2^31, per ≤ 2^31: no overflow
	if isBin {
		if int64(len(data)) != 4*count {
			return nil, 0, errorf(http.StatusBadRequest, "input %q: shape %v has %d FP32 elements, %d bytes; binary_data_size is %d", in.Name, shape, count, 4*count, len(data))
		}
		src := make([]float32, count)
		for i := range src {
			src[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		return src, n, nil
	}
	// Every element takes at least one digit and a separator: a count the
	// data's bytes cannot hold is refused before anything is allocated.
	if count > (int64(len(data))+1)/2 {
		return nil, 0, errorf(http.StatusBadRequest, "input %q: shape %v has %d elements; its %d bytes of data cannot hold them", in.Name, shape, count, len(data))
	}
	src := make([]float32, count)
	if err := parseData(data, shape, src); err != nil {
		return nil, 0, errorf(http.StatusBadRequest, "input %q data: %v", in.Name, err)
	}
	return src, n, nil
}

// encoded is the response before it is written: the JSON header and,
// for binary outputs, the data after it (header is the JSON's length).
type encoded struct {
	body   []byte
	header int
}

// response encodes the inference response; a non-finite output in JSON
// is a 500 (binary data carries it).
func (h *handler) response(req *inferRequest, n int, dst []float32, binOut bool) (encoded, *httpError) {
	var b bytes.Buffer
	if binOut {
		b.Grow(256 + 4*len(dst))
	} else {
		b.Grow(64 + 16*len(dst))
	}
	b.WriteString(`{"model_name":`)
	writeString(&b, h.cfg.Name)
	if h.cfg.Version != "" {
		b.WriteString(`,"model_version":`)
		writeString(&b, h.cfg.Version)
	}
	if req.ID != "" {
		b.WriteString(`,"id":`)
		writeString(&b, req.ID)
	}
	fmt.Fprintf(&b, `,"outputs":[{"name":%q,"datatype":"FP32","shape":[%d,%d]`, OutputName, n, h.cfg.Classes)
	if binOut {
		fmt.Fprintf(&b, `,"parameters":{"binary_data_size":%d}}]}`, 4*len(dst))
		hl := b.Len()
		var le [4]byte
		for _, v := range dst {
			binary.LittleEndian.PutUint32(le[:], math.Float32bits(v))
			b.Write(le[:])
		}
		return encoded{b.Bytes(), hl}, nil
	}
	b.WriteString(`,"data":[`)
	var num []byte
	for i, v := range dst {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return encoded{}, errorf(http.StatusInternalServerError, "model %q produced %v at output element %d (image %d, class %d): JSON cannot carry it (binary_data_output can)", h.cfg.Name, v, i, i/h.cfg.Classes, i%h.cfg.Classes)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		num = strconv.AppendFloat(num[:0], float64(v), 'g', -1, 32)
		b.Write(num)
	}
	b.WriteString("]}]}")
	return encoded{b.Bytes(), b.Len()}, nil
}

func writeString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}

// checkShape checks the declared shape against the model's and the batch
// limit, before anything is allocated for it.
func (h *handler) checkShape(in *inputTensor) ([]int64, *httpError) {
	want := h.cfg.imageShape()
	order := "[n, H, W, C]"
	if h.cfg.NCHW {
		order = "[n, C, H, W]"
	}
	if len(in.Shape) != 1+len(want) {
		return nil, errorf(http.StatusBadRequest, "input %q: shape has %d dimensions: want 4, %s = [n, %d, %d, %d]", in.Name, len(in.Shape), order, want[0], want[1], want[2])
	}
	shape := make([]int64, len(in.Shape))
	for i, d := range in.Shape {
		if d[0] != '-' && (d[0] < '0' || d[0] > '9') {
			return nil, errorf(http.StatusBadRequest, "input %q: shape[%d] = %s is not an integer", in.Name, i, d)
		}
		v, err := strconv.ParseInt(string(d), 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(string(d), 64)
			if ferr != nil || f != math.Trunc(f) {
				return nil, errorf(http.StatusBadRequest, "input %q: shape[%d] = %s is not an integer", in.Name, i, d)
			}
			// An integer too big for int64, or written with an exponent
			// (1e12): clamp; the checks below refuse it.
			v = int64(max(min(f, 1<<62), -1<<62))
		}
		shape[i] = v
		if v < 1 {
			return nil, errorf(http.StatusBadRequest, "input %q: shape[%d] = %s: dimensions must be at least 1", in.Name, i, d)
		}
	}
	if shape[0] > int64(h.cfg.MaxBatch) {
		return nil, errorf(http.StatusBadRequest, "input %q: %s images: at most %d per request", in.Name, in.Shape[0], h.cfg.MaxBatch)
	}
	for i, d := range want {
		if shape[1+i] != d {
			return nil, errorf(http.StatusBadRequest, "input %q: shape %v: want %s = [n, %d, %d, %d]", in.Name, shape, order, want[0], want[1], want[2])
		}
	}
	return shape, nil
}

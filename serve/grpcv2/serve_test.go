package grpcv2

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rnc-dev/rnc/serve"
	"github.com/rnc-dev/rnc/serve/grpcv2/inference"
)

// TestServe: Serve answers on its listener through the Inferer, records
// every ModelInfer in the metrics under its HTTP equivalent (200, and 503
// for an overloaded Inferer), and returns nil, its listener closed, once
// its context ends.
func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{}
	m := serve.NewMetrics()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, f, testCfg, m, nil) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := inference.NewGRPCInferenceServiceClient(conn)
	r, err := c.ModelInfer(context.Background(), rawRequest(2))
	if err != nil {
		t.Fatal(err)
	}
	if got := fromRaw(t, r.GetRawOutputContents()[0]); !equal(got, want(2)) {
		t.Errorf("outputs %v, want %v", got, want(2))
	}
	f.err = serve.ErrOverloaded
	_, err = c.ModelInfer(context.Background(), rawRequest(1))
	checkCode(t, "overloaded", err, codes.ResourceExhausted, "queue is full")
	if _, err := c.ServerLive(context.Background(), &inference.ServerLiveRequest{}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range []string{`rnc_requests_total{code="200",model="toy"} 1`, `rnc_requests_total{code="503",model="toy"} 1`} {
		if !strings.Contains(rec.Body.String(), line) {
			t.Errorf("metrics lack %q", line)
		}
	}
	cancel()
	if err := <-done; err != nil { // a Serve that never returns is go test's timeout
		t.Errorf("Serve after its context ended: %v", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener still accepts after Serve returned")
	}
}

// TestServeBadConfig: a config NewServer refuses is Serve's error, and the
// listener is closed.
func TestServeBadConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bad := testCfg
	bad.Name = ""
	if err := Serve(context.Background(), ln, &fake{}, bad, nil, nil); err == nil {
		t.Error("Serve with an empty model name: no error")
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener is still open")
	}
}

// TestHTTPStatus: each gRPC code's HTTP equivalent is the status REST
// answers for the same failure.
func TestHTTPStatus(t *testing.T) {
	for c, want := range map[codes.Code]int{codes.OK: 200, codes.InvalidArgument: 400, codes.NotFound: 404,
		codes.ResourceExhausted: 503, codes.Unavailable: 503, codes.DeadlineExceeded: 504, codes.Canceled: 499,
		codes.Internal: http.StatusInternalServerError, codes.Unknown: 500} {
		if got := HTTPStatus(c); got != want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", c, got, want)
		}
	}
}

// TestCallLimit: with its calls in flight at the limit, the server refuses
// one more with ResourceExhausted before reading its message; a call that
// ends — here cancelled by its client — returns its token, and the next
// call runs.
func TestCallLimit(t *testing.T) {
	entered := make(chan struct{}, 1)
	s := newServer(t, holder{entered}, testCfg)
	s.calls = make(chan struct{}, 1)
	c := dial(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := c.ModelInfer(ctx, rawRequest(1))
		first <- err
	}()
	<-entered // the first call runs: it holds the one token
	_, err := c.ModelInfer(context.Background(), rawRequest(1))
	checkCode(t, "over the limit", err, codes.ResourceExhausted, "calls are in flight")
	cancel()
	<-first
	s.SetInferer(&fake{})
	waitTokens(s, 0) // the first call's end, reported by gRPC after its answer
	if _, err := c.ModelInfer(context.Background(), rawRequest(1)); err != nil {
		t.Errorf("after the first call ended: %v", err)
	}
	waitTokens(s, 0) // a token never returned is go test's timeout
}

// holder is an Inferer whose calls signal entered, then hold until their
// context ends.
type holder struct{ entered chan struct{} }

func (h holder) Infer(ctx context.Context, dst, src []float32, n int) error {
	h.entered <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

// waitTokens waits until n call tokens are held (gRPC reports a call's end
// to the stats handler after the client has its answer).
func waitTokens(s *Server, n int) {
	for len(s.calls) != n {
		time.Sleep(time.Millisecond)
	}
}

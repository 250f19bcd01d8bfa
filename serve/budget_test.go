package serve

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// gate is an Inferer that blocks every call until release is closed.
type gate struct {
	entered chan struct{}
	release chan struct{}
	m       Model
}

func (g *gate) Infer(ctx context.Context, dst, src []float32, n int) error {
	g.entered <- struct{}{}
	<-g.release
	return g.m.Predict(dst, src)
}

// countingReader counts the bytes read from a request body.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// TestInFlightBudget: while a request holds most of MaxInFlightBytes, one
// that does not fit is answered 503 with Retry-After: 1 before any of its
// body is read; once the first is answered, the same request succeeds. A
// request of undeclared length reserves MaxBodyBytes.
func TestInFlightBudget(t *testing.T) {
	cfg := testConfig()
	imgs := images(1)
	body := inferBody(t, "", 1, flat(imgs))
	f := &fakeModel{per: tH * tW * tC, classes: tClasses}
	g := &gate{entered: make(chan struct{}, 1), release: make(chan struct{}), m: f}
	limit := int64(len(body)) + 10
	srv := httptest.NewServer(NewHandler(f, cfg, HandlerOptions{Inferer: g, MaxInFlightBytes: limit}))
	defer srv.Close()
	url := srv.URL + "/v2/models/tiny/infer"

	first := make(chan int, 1)
	go func() {
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	<-g.entered // the first request holds its reservation

	var read atomic.Int64
	req, _ := http.NewRequest("POST", url, countingReader{strings.NewReader(body), &read})
	req.ContentLength = int64(len(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(msg), "bytes of request bodies are in flight") {
		t.Errorf("over the budget: %d %q %q", resp.StatusCode, resp.Header.Get("Retry-After"), msg)
	}
	close(g.release)
	if code := <-first; code != 200 {
		t.Fatalf("the first request: %d", code)
	}
	// An undeclared length reserves MaxBodyBytes (here capped to the whole
	// budget): alone, it fits.
	req, _ = http.NewRequest("POST", url, io.NopCloser(strings.NewReader(body)))
	req.ContentLength = -1
	g.entered = make(chan struct{}, 1)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("a chunked request alone: %d", resp.StatusCode)
	}
	t.Logf("the refused request's body: %d of %d bytes read by the client's transport", read.Load(), len(body))
}

// TestBudget: take never exceeds the budget, takes at most all of it and
// at least one byte, and give returns it.
func TestBudget(t *testing.T) {
	b := &budget{left: 100, size: 100}
	if got := b.take(60); got != 60 {
		t.Fatalf("take(60) = %d", got)
	}
	if got := b.take(50); got != 0 {
		t.Fatalf("take(50) with 40 left = %d", got)
	}
	if got := b.take(0); got != 1 {
		t.Fatalf("take(0) = %d, want 1", got)
	}
	b.give(61)
	if got := b.take(1 << 40); got != 100 {
		t.Fatalf("take(huge) of a full budget = %d, want 100", got)
	}
}

package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Shutdown: a request in flight when the context ends gets its answer; a
// new connection is refused; the Batcher is closed after the last answer;
// Serve returns nil.
func TestServeGracefulShutdown(t *testing.T) {
	f := newID(true)
	cfg := testConfig()
	b, err := NewBatcher(f, cfg, BatchOptions{MaxDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, ln, NewHandler(f, cfg, HandlerOptions{Inferer: b}), ServerOptions{Drain: []io.Closer{b}})
	}()
	url := "http://" + ln.Addr().String() + "/v2/models/tiny/infer"
	body := []byte(`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,2,3,2],"data":` + jsonOf(t, img(3, 1)) + `}]}`)
	type answer struct {
		code int
		body []byte
		err  error
	}
	inflight := make(chan answer, 1)
	go func() {
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			inflight <- answer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- answer{resp.StatusCode, b, err}
	}()
	<-f.entered // the request is running
	cancel()
	// The listener closes: new connections are refused.
	for { // a listener that stays open: go test's timeout
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(time.Millisecond)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := client.Post(url, "application/json", bytes.NewReader(body)); err == nil {
		resp.Body.Close()
		t.Errorf("a new request during shutdown: %d, want a refused connection", resp.StatusCode)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with a request in flight", err)
	case <-time.After(20 * time.Millisecond):
	}
	f.gate <- struct{}{}
	a := <-inflight
	if a.err != nil || a.code != 200 {
		t.Fatalf("the request in flight: %d %s %v", a.code, a.body, a.err)
	}
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if err := b.Infer(context.Background(), make([]float32, tClasses), img(1, 1), 1); !errors.Is(err, ErrClosed) {
		t.Errorf("the Batcher after Serve returned: %v, want ErrClosed", err)
	}
}

func TestListenAndServeBadAddr(t *testing.T) {
	err := ListenAndServe(context.Background(), "256.0.0.1:99999", http.NotFoundHandler(), ServerOptions{})
	if err == nil {
		t.Fatal("no error")
	}
}

package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// DefaultShutdownTimeout is how long Serve waits, after its context ends,
// for accepted requests to finish.
const DefaultShutdownTimeout = 30 * time.Second

// ServerOptions configure Serve.
type ServerOptions struct {
	// ShutdownTimeout bounds the wait for accepted requests once ctx ends
	// (0: DefaultShutdownTimeout); then the remaining connections are
	// closed.
	ShutdownTimeout time.Duration
	// Drain are closed, in order, once the HTTP server has stopped and
	// its accepted requests are answered (a Batcher: it then has nothing
	// left to run, and its workers end).
	Drain []io.Closer
	// Logger receives the start and the shutdown at Info (nil: no logs).
	Logger *slog.Logger
}

// Serve serves h on ln until ctx ends, then shuts down gracefully: it
// stops accepting connections, waits up to ShutdownTimeout for the
// requests it accepted to be answered (http.Server.Shutdown), closes
// opts.Drain and returns nil. It returns the error that stopped it
// otherwise. The server has timeouts against slow clients: 10 s to read a
// request's header, 2 minutes idle.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, opts ServerOptions) error {
	log := opts.Logger
	if log == nil {
		log = discard
	}
	timeout := opts.ShutdownTimeout
	if timeout == 0 {
		timeout = DefaultShutdownTimeout
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("serving", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc: // the listener failed
	case <-ctx.Done():
		log.Info("shutting down: finishing accepted requests", "timeout", timeout)
		sctx, cancel := context.WithTimeout(context.Background(), timeout)
		err = srv.Shutdown(sctx)
		cancel()
		if err != nil {
			err = fmt.Errorf("serve: shutdown: %w", err)
			srv.Close()
		}
		<-errc // http.ErrServerClosed
	}
	for _, c := range opts.Drain {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err == nil {
		log.Info("shut down")
	}
	return err
}

// ListenAndServe is Serve on a TCP listener on addr.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, opts ServerOptions) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return Serve(ctx, ln, h, opts)
}

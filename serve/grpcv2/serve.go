package grpcv2

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rnc-dev/rnc/serve"
)

// Serve serves the protocol's GRPCInferenceService for inf, the model of
// cfg, on ln (plain TCP: HTTP/2 without TLS, what KServe calls h2c) until
// ctx ends, then stops gracefully: no new calls, the ones in flight
// answered; it closes ln. It is the gRPC transport of the server rnc compile --server
// writes, beside the REST one and calling the same Inferer (its Batcher).
// Every answered ModelInfer is recorded in metrics (nil: none) under the
// HTTP status its code corresponds to, as REST's are; failed ones are
// logged at Warn, or Error for internal failures (log nil: none).
func Serve(ctx context.Context, ln net.Listener, inf serve.Inferer, cfg serve.Config, metrics *serve.Metrics, log *slog.Logger) error {
	s, err := NewServer(inf, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	g := s.GRPCServer(grpc.ChainUnaryInterceptor(observe(cfg.Name, metrics, log)))
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		g.GracefulStop()
	}()
	if log != nil {
		log.Info("gRPC transport", "addr", ln.Addr().String())
	}
	err = g.Serve(ln)
	if ctx.Err() != nil {
		<-stopped // Serve returns when GracefulStop begins; wait for the calls in flight
	}
	if errors.Is(err, grpc.ErrServerStopped) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("grpc: %w", err)
	}
	return nil
}

// observe records ModelInfer calls in metrics and logs the failed ones.
func observe(model string, metrics *serve.Metrics, log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		t := time.Now()
		resp, err := h(ctx, req)
		if info.FullMethod != "/inference.GRPCInferenceService/ModelInfer" {
			return resp, err
		}
		code := HTTPStatus(status.Code(err))
		if metrics != nil {
			metrics.ObserveRequest(model, code, time.Since(t))
		}
		if log != nil && err != nil {
			level := slog.LevelWarn
			if code >= 500 && code != http.StatusServiceUnavailable && code != http.StatusGatewayTimeout {
				level = slog.LevelError
			}
			log.Log(ctx, level, "grpc infer", "model", model, "code", status.Code(err).String(), "err", err)
		}
		return resp, err
	}
}

// HTTPStatus is the HTTP status a gRPC code corresponds to, as the REST
// transport answers the same failure: OK 200, InvalidArgument 400,
// NotFound 404, ResourceExhausted and Unavailable 503 (overload,
// shutdown, not ready), DeadlineExceeded 504, Canceled 499 (the client
// went away, as REST records it), anything else 500.
func HTTPStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.InvalidArgument, codes.OutOfRange, codes.FailedPrecondition:
		return http.StatusBadRequest
	case codes.NotFound:
		return http.StatusNotFound
	case codes.ResourceExhausted, codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.Canceled:
		return 499
	}
	return http.StatusInternalServerError
}

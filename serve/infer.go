package serve

import (
	"context"
	"errors"
)

// Inferer runs n images through the model: src holds n images (n·H·W·C
// floats in the served layout), dst receives their n·Classes outputs. It
// is what every transport (REST, gRPC) calls; a Batcher implements it by
// gathering concurrent calls into one Predict, Direct by calling Predict.
//
// Infer honours ctx: it returns ctx.Err() (wrapped) when the context ends
// before the work starts, and ErrOverloaded when the work cannot be queued.
type Inferer interface {
	Infer(ctx context.Context, dst, src []float32, n int) error
}

// ErrOverloaded is the error an Inferer returns for work it refuses
// because its queue is full: REST answers 503, gRPC RESOURCE_EXHAUSTED.
var ErrOverloaded = errors.New("serve: overloaded: the request queue is full, try again later")

// Direct is the Inferer that calls m.Predict for each request, without
// batching or queueing: at most one call per request, as many at once as
// there are requests. It does not start work after ctx has ended.
func Direct(m Model) Inferer { return direct{m} }

type direct struct{ m Model }

func (d direct) Infer(ctx context.Context, dst, src []float32, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.m.Predict(dst, src)
}

package runtime

import (
	"fmt"

	"github.com/rnc-dev/rnc/runtime/pytorch"
)

// openPyTorch reads a PyTorch checkpoint's tensor list (runtime/pytorch:
// names mapped to rnc's, layouts to HWIO and [in, out]); their values are
// read on demand, converted to float32. f is closed by the result's Close.
func openPyTorch(f readerAtCloser, size int64) (*Weights, error) {
	pf, err := pytorch.Open(f, size)
	if err != nil {
		return nil, err
	}
	ws := NewWeights()
	for _, t := range pf.Tensors {
		ws.Tensors[t.Name] = &Tensor{Name: t.Name, Shape: t.Shape}
		ws.Order = append(ws.Order, t.Name)
	}
	ws.src = pytorchSource{pf, f}
	return ws, nil
}

// pytorchSource reads a checkpoint's tensors.
type pytorchSource struct {
	f *pytorch.File
	c readerAtCloser
}

func (s pytorchSource) read(name string) ([]float32, error) { return s.f.Read(name) }

func (s pytorchSource) readBytes(name string) ([]byte, error) {
	return nil, fmt.Errorf("tensor %q holds float32 values, not bytes", name)
}

func (s pytorchSource) close() error { return s.c.Close() }

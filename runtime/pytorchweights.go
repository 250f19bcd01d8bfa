package runtime

import (
	"fmt"
	"strings"

	"github.com/rnc-dev/rnc/runtime/abi"
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

// torchNamed reports whether a safetensors file's tensors carry PyTorch's
// state_dict names (as timm and Hugging Face publish them): no name has
// rnc's "/" and some have a dot.
func torchNamed(ws *Weights) bool {
	dot := false
	for _, name := range ws.Order {
		if strings.Contains(name, "/") {
			return false
		}
		dot = dot || strings.Contains(name, ".")
	}
	return dot
}

// renameTorch gives a safetensors file's PyTorch-named tensors rnc's names
// and layouts (pytorch.Map), permuting loaded data now and data read later
// when it is read.
func renameTorch(ws *Weights) error {
	keys := make([]pytorch.Key, len(ws.Order))
	for i, name := range ws.Order {
		keys[i] = pytorch.Key{Key: name, Rank: len(ws.Tensors[name].Shape)}
	}
	mapped, err := pytorch.Map(keys)
	if err != nil {
		return err
	}
	out := NewWeights()
	out.Metadata = ws.Metadata
	src := &permutedSource{inner: ws.src, from: map[string]permuted{}}
	for i, key := range ws.Order {
		t, m := ws.Tensors[key], mapped[i]
		if m.Name == "" {
			continue
		}
		if t.DType != abi.F32 {
			return fmt.Errorf("tensor %q holds %s values, not float32", key, t.DType.GoType())
		}
		if _, dup := out.Tensors[m.Name]; dup {
			return fmt.Errorf("tensor %q becomes %q, as another does", key, m.Name)
		}
		nt := &Tensor{Name: m.Name, Shape: make([]int, len(m.Perm))}
		for j, a := range m.Perm {
			nt.Shape[j] = t.Shape[a]
		}
		if t.Data != nil {
			if nt.Data, _, err = pytorch.Permute(t.Data, t.Shape, m.Perm); err != nil {
				return fmt.Errorf("tensor %q: %w", key, err)
			}
		}
		src.from[m.Name] = permuted{key, t.Shape, m.Perm}
		out.Tensors[m.Name] = nt
		out.Order = append(out.Order, m.Name)
	}
	if ws.src != nil {
		out.src = src
	}
	*ws = *out
	return nil
}

// permuted is where a renamed tensor comes from.
type permuted struct {
	key   string
	shape []int
	perm  []int
}

// permutedSource reads a renamed tensor from the file and permutes it.
type permutedSource struct {
	inner weightSource
	from  map[string]permuted
}

func (s *permutedSource) read(name string) ([]float32, error) {
	p, ok := s.from[name]
	if !ok {
		return nil, fmt.Errorf("no tensor %q in the file", name)
	}
	d, err := s.inner.read(p.key)
	if err != nil {
		return nil, err
	}
	d, _, err = pytorch.Permute(d, p.shape, p.perm)
	return d, err
}

func (s *permutedSource) readBytes(name string) ([]byte, error) {
	return nil, fmt.Errorf("tensor %q holds float32 values, not bytes", name)
}

func (s *permutedSource) close() error { return s.inner.close() }

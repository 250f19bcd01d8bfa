package pytorch

import (
	"fmt"
	"strings"
)

// Key is a state_dict key and the rank of its tensor.
type Key struct {
	Key  string
	Rank int
}

// Mapped is where a state_dict tensor goes in rnc: its name, and for each
// of rnc's axes the PyTorch axis it comes from. An empty Name means the
// tensor is dropped (num_batches_tracked).
type Mapped struct {
	Name string
	Perm []int
}

// Map names state_dict tensors as rnc does, by structure alone: for a key
// "A.B.param" the layer is "A.B" (dots kept) and
//
//   - weight of rank 4 (a Conv2d's OIHW) is A.B/kernel in HWIO;
//   - weight of rank 2 (a Linear's [out, in]) is A.B/kernel as [in, out];
//   - in a module that also has running_mean (a batch norm), weight and
//     bias of rank 1 are gamma and beta, running_mean and running_var are
//     moving_mean and moving_variance, num_batches_tracked is dropped;
//   - any other bias of rank 1 is A.B/bias.
//
// Anything else — a weight of another rank, a rank-1 weight outside a batch
// norm, an unknown parameter, a key without a dot — is an error naming the
// key.
func Map(keys []Key) ([]Mapped, error) {
	bn := map[string]bool{}
	for _, k := range keys {
		if mod, p, ok := cut(k.Key); ok && p == "running_mean" {
			bn[mod] = true
		}
	}
	out := make([]Mapped, len(keys))
	for i, k := range keys {
		mod, p, ok := cut(k.Key)
		if !ok {
			return nil, fmt.Errorf("state_dict key %q has no dot: it names no parameter of a module (want e.g. \"conv1.weight\")", k.Key)
		}
		rank1 := func(name string) error {
			if k.Rank != 1 {
				return fmt.Errorf("state_dict key %q has rank %d, want 1 (a %s)", k.Key, k.Rank, name)
			}
			out[i] = Mapped{mod + "/" + name, []int{0}}
			return nil
		}
		var err error
		switch {
		case p == "weight" && k.Rank == 4:
			out[i] = Mapped{mod + "/kernel", []int{2, 3, 1, 0}}
		case p == "weight" && k.Rank == 2:
			out[i] = Mapped{mod + "/kernel", []int{1, 0}}
		case p == "weight" && k.Rank == 1 && bn[mod]:
			err = rank1("gamma")
		case p == "weight":
			what := "rnc reads the weights of Conv2d (rank 4), Linear (rank 2) and BatchNorm2d (rank 1 beside running_mean)"
			err = fmt.Errorf("state_dict key %q is a weight of rank %d: %s", k.Key, k.Rank, what)
		case p == "bias" && bn[mod]:
			err = rank1("beta")
		case p == "bias":
			err = rank1("bias")
		case p == "running_mean" && bn[mod]:
			err = rank1("moving_mean")
		case p == "running_var" && bn[mod]:
			err = rank1("moving_variance")
		case p == "num_batches_tracked":
			out[i] = Mapped{}
		default:
			err = fmt.Errorf("state_dict key %q: rnc does not know the parameter %q (it reads weight, bias, running_mean, running_var, num_batches_tracked)", k.Key, p)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// cut splits a key at its last dot.
func cut(key string) (module, param string, ok bool) {
	i := strings.LastIndexByte(key, '.')
	if i <= 0 || i == len(key)-1 {
		return "", "", false
	}
	return key[:i], key[i+1:], true
}

// Permute returns data, row-major over shape, with its axes reordered as
// perm says (Mapped.Perm: result axis j is axis perm[j] of data), and the
// result's shape.
func Permute(data []float32, shape, perm []int) ([]float32, []int, error) {
	if len(perm) != len(shape) {
		return nil, nil, fmt.Errorf("permuting a tensor of rank %d by %v", len(shape), perm)
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	if n != len(data) {
		return nil, nil, fmt.Errorf("shape %v holds %d values, got %d", shape, n, len(data))
	}
	rank := len(shape)
	stride := make([]int, rank) // data's strides
	s := 1
	for i := rank - 1; i >= 0; i-- {
		stride[i] = s
		s *= shape[i]
	}
	outShape := make([]int, rank)
	outStride := make([]int, rank) // data's stride along each result axis
	for j, a := range perm {
		outShape[j], outStride[j] = shape[a], stride[a]
	}
	out := make([]float32, n)
	idx := make([]int, rank)
	at := 0
	for k := range out {
		out[k] = data[at]
		for j := rank - 1; j >= 0; j-- {
			idx[j]++
			at += outStride[j]
			if idx[j] < outShape[j] {
				break
			}
			at -= idx[j] * outStride[j]
			idx[j] = 0
		}
	}
	return out, outShape, nil
}

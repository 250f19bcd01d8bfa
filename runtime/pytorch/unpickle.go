package pytorch

import (
	"bytes"
	"fmt"
	"math"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// storageClass is one of torch's typed storage classes (torch.FloatStorage).
type storageClass struct{ dtype DType }

// storageRef is a persistent reference to the storage data/<key>.
type storageRef struct {
	dtype DType
	key   string
	numel int
}

// tensorRec is what torch._utils._rebuild_tensor_v2 is called with.
type tensorRec struct {
	storage *storageRef
	offset  int
	shape   []int
	stride  []int
}

// rebuildTensor is torch._utils._rebuild_tensor_v2(storage, storage_offset,
// size, stride, requires_grad, backward_hooks[, metadata]).
type rebuildTensor struct{}

func (rebuildTensor) Call(args ...any) (any, error) {
	if len(args) < 4 || len(args) > 7 {
		return nil, fmt.Errorf("torch._utils._rebuild_tensor_v2 called with %d arguments, want 6 or 7", len(args))
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("torch._utils._rebuild_tensor_v2: its storage is %s, not a storage reference", pyType(args[0]))
	}
	off, err := toInt(args[1], "storage offset")
	if err != nil {
		return nil, err
	}
	shape, err := intTuple(args[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := intTuple(args[3], "stride")
	if err != nil {
		return nil, err
	}
	return &tensorRec{storage: st, offset: off, shape: shape, stride: stride}, nil
}

// rebuildParameter is torch._utils._rebuild_parameter(data, requires_grad,
// backward_hooks): the tensor itself.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("torch._utils._rebuild_parameter called with %d arguments, want 3", len(args))
	}
	t, ok := args[0].(*tensorRec)
	if !ok {
		return nil, fmt.Errorf("torch._utils._rebuild_parameter of %s, not a tensor", pyType(args[0]))
	}
	return t, nil
}

// toInt converts an unpickled int to a non-negative int.
func toInt(v any, what string) (int, error) {
	i, ok := v.(int)
	if !ok || i < 0 {
		return 0, fmt.Errorf("%s is %s, want a non-negative integer", what, pyValue(v))
	}
	return i, nil
}

// intTuple converts an unpickled tuple of ints.
func intTuple(v any, what string) ([]int, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("%s is %s, want a tuple of integers", what, pyType(v))
	}
	if t.Len() > maxRank {
		return nil, fmt.Errorf("%s has %d dimensions, more than %d", what, t.Len(), maxRank)
	}
	out := make([]int, t.Len())
	for i := range out {
		d, err := toInt(t.Get(i), fmt.Sprintf("%s[%d]", what, i))
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// pyType names the Python type of an unpickled value, for messages.
func pyType(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case int:
		return "an int"
	case string:
		return "a str"
	case bool:
		return "a bool"
	case float64:
		return "a float"
	case *types.Tuple:
		return "a tuple"
	case *types.List:
		return "a list"
	case *types.Dict, *types.OrderedDict:
		return "a dict"
	case *tensorRec:
		return "a tensor"
	case *storageRef:
		return "a storage"
	}
	return fmt.Sprintf("an object (%T)", v)
}

// pyValue shows a small value, for messages.
func pyValue(v any) string {
	switch x := v.(type) {
	case int:
		return fmt.Sprint(x)
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return fmt.Sprintf("%q", x)
	}
	return pyType(v)
}

// record is one entry of a state_dict: its key and tensor.
type record struct {
	key string
	t   *tensorRec
}

// unpickle reads a state_dict's pickle: the scan first (scanPickle), then
// gopickle with only the allowed globals. The result must be a dict of
// string keys and tensors.
func unpickle(p []byte) (recs []record, err error) {
	if len(p) > maxPickleBytes {
		return nil, fmt.Errorf("data.pkl is %d bytes, over the %d MiB limit for a state_dict", len(p), maxPickleBytes>>20)
	}
	if err := scanPickle(p); err != nil {
		return nil, err
	}
	defer func() {
		// gopickle indexes some of its stacks without checking them (an
		// odd SETITEMS, an empty LONG1): a malformed pickle is an error.
		if r := recover(); r != nil {
			recs, err = nil, fmt.Errorf("malformed pickle: %v", r)
		}
	}()
	u := pickle.NewUnpickler(bytes.NewReader(p))
	u.FindClass = func(module, name string) (any, error) {
		if err := checkGlobal(module, name); err != nil {
			return nil, err
		}
		switch module + "." + name {
		case "torch._utils._rebuild_tensor_v2":
			return rebuildTensor{}, nil
		case "torch._utils._rebuild_parameter":
			return rebuildParameter{}, nil
		}
		for _, d := range dtypes {
			if module+"."+name == "torch."+d.storage {
				return &storageClass{dtype: d.dtype}, nil
			}
		}
		return nil, globalError(module, name)
	}
	u.PersistentLoad = persistentLoad
	v, err := u.Load()
	if err != nil {
		return nil, fmt.Errorf("unpickling data.pkl: %w", err)
	}
	add := func(k, v any) error {
		key, ok := k.(string)
		if !ok {
			return fmt.Errorf("the state_dict has a key that is %s, not a str", pyValue(k))
		}
		t, ok := v.(*tensorRec)
		if !ok {
			return fmt.Errorf("state_dict key %q holds %s, not a tensor", key, pyType(v))
		}
		recs = append(recs, record{key, t})
		return nil
	}
	switch d := v.(type) {
	case *types.OrderedDict:
		for e := d.List.Front(); e != nil; e = e.Next() {
			ent := e.Value.(*types.OrderedDictEntry)
			if err := add(ent.Key, ent.Value); err != nil {
				return nil, err
			}
		}
	case *types.Dict:
		for _, ent := range *d {
			if err := add(ent.Key, ent.Value); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("data.pkl holds %s, not a state_dict (a dict of tensors): save model.state_dict(), not the model", pyType(v))
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r.key] {
			return nil, fmt.Errorf("state_dict key %q appears twice", r.key)
		}
		seen[r.key] = true
	}
	return recs, nil
}

// persistentLoad resolves torch's persistent id ('storage', storage_type,
// key, location, numel).
func persistentLoad(pid any) (any, error) {
	t, ok := pid.(*types.Tuple)
	if !ok || t.Len() != 5 {
		return nil, fmt.Errorf("persistent id is %s, want ('storage', type, key, location, numel)", pyType(pid))
	}
	if s, _ := t.Get(0).(string); s != "storage" {
		return nil, fmt.Errorf("persistent id of kind %s, want 'storage'", pyValue(t.Get(0)))
	}
	cls, ok := t.Get(1).(*storageClass)
	if !ok {
		return nil, fmt.Errorf("storage type is %s, not a torch storage class", pyType(t.Get(1)))
	}
	key, ok := t.Get(2).(string)
	if !ok {
		return nil, fmt.Errorf("storage key is %s, not a str", pyValue(t.Get(2)))
	}
	numel, err := toInt(t.Get(4), fmt.Sprintf("storage %q's element count", key))
	if err != nil {
		return nil, err
	}
	if numel > math.MaxInt/8 {
		return nil, fmt.Errorf("storage %q has %d elements", key, numel)
	}
	return &storageRef{dtype: cls.dtype, key: key, numel: numel}, nil
}

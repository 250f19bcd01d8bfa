package pytorch_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/pytorch"
)

func open(t testing.TB, b []byte) (*pytorch.File, error) {
	t.Helper()
	return pytorch.Open(bytes.NewReader(b), int64(len(b)))
}

// TestFixtures reads the checkpoints tools/pytorch/fixtures.py wrote with
// torch.save (float32, float16 and bfloat16 state_dicts of a conv, a batch
// norm and a Linear; a transposed and a sliced tensor; tensors sharing one
// storage) and compares every tensor exactly with the float32 values,
// names and layouts the script recorded beside them.
func TestFixtures(t *testing.T) {
	for _, name := range []string{"tiny_f32", "tiny_f16", "tiny_bf16", "strided", "shared", "param"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", name+".pth"))
			if err != nil {
				t.Fatal(err)
			}
			f, err := open(t, b)
			if err != nil {
				t.Fatal(err)
			}
			want, err := runtime.ReadSafetensorsFile(filepath.Join("testdata", name+".expected.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tn := range f.Tensors {
				names = append(names, tn.Name)
				w := want.Tensors[tn.Name]
				if w == nil {
					t.Errorf("%s (key %s): not expected", tn.Name, tn.Key)
					continue
				}
				if !slices.Equal(tn.Shape, w.Shape) {
					t.Errorf("%s: shape %v, want %v", tn.Name, tn.Shape, w.Shape)
					continue
				}
				got, err := f.Read(tn.Name)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, w.Data) {
					t.Errorf("%s: values\n%v\nwant\n%v", tn.Name, got, w.Data)
				}
			}
			if !slices.Equal(names, want.Order) {
				t.Errorf("tensors %v, want %v (in order)", names, want.Order)
			}
		})
	}
}

// TestFixtureNames: the tiny checkpoint's keys map to rnc's names, the
// batch norm's num_batches_tracked dropped, and the stored types are
// reported.
func TestFixtureNames(t *testing.T) {
	for file, dt := range map[string]pytorch.DType{"tiny_f32": pytorch.Float32, "tiny_f16": pytorch.Float16, "tiny_bf16": pytorch.BFloat16} {
		b, err := os.ReadFile(filepath.Join("testdata", file+".pth"))
		if err != nil {
			t.Fatal(err)
		}
		f, err := open(t, b)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, tn := range f.Tensors {
			got = append(got, fmt.Sprintf("%s<-%s %v", tn.Name, tn.Key, tn.Shape))
			if tn.DType != dt {
				t.Errorf("%s: %s holds %s, want %s", file, tn.Key, tn.DType, dt)
			}
		}
		want := []string{"conv1/kernel<-conv1.weight [3 3 3 4]", "bn1/gamma<-bn1.weight [4]", "bn1/beta<-bn1.bias [4]",
			"bn1/moving_mean<-bn1.running_mean [4]", "bn1/moving_variance<-bn1.running_var [4]",
			"fc/kernel<-fc.weight [4 5]", "fc/bias<-fc.bias [5]"}
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n%q\nwant\n%q", file, got, want)
		}
	}
}

// TestMap: the naming rules, and the keys they refuse.
func TestMap(t *testing.T) {
	keys := []pytorch.Key{{"layer1.0.conv1.weight", 4}, {"layer1.0.bn1.weight", 1}, {"layer1.0.bn1.bias", 1},
		{"layer1.0.bn1.running_mean", 1}, {"layer1.0.bn1.running_var", 1}, {"layer1.0.bn1.num_batches_tracked", 0},
		{"layer1.0.downsample.0.weight", 4}, {"fc.weight", 2}, {"fc.bias", 1}, {"conv.bias", 1}}
	got, err := pytorch.Map(keys)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"layer1.0.conv1/kernel[2 3 1 0]", "layer1.0.bn1/gamma[0]", "layer1.0.bn1/beta[0]",
		"layer1.0.bn1/moving_mean[0]", "layer1.0.bn1/moving_variance[0]", "[]",
		"layer1.0.downsample.0/kernel[2 3 1 0]", "fc/kernel[1 0]", "fc/bias[0]", "conv/bias[0]"}
	for i, m := range got {
		if s := fmt.Sprint(m.Name, m.Perm); s != want[i] {
			t.Errorf("%s: %s, want %s", keys[i].Key, s, want[i])
		}
	}
	for _, c := range []struct {
		keys []pytorch.Key
		want string
	}{
		{[]pytorch.Key{{"conv1d.weight", 3}}, `"conv1d.weight" is a weight of rank 3`},
		{[]pytorch.Key{{"weight", 4}}, `"weight" has no dot`},
		{[]pytorch.Key{{"ln.weight", 1}}, `"ln.weight" is a weight of rank 1`},
		{[]pytorch.Key{{"fc.bias", 2}}, `"fc.bias" has rank 2, want 1`},
		{[]pytorch.Key{{"attn.in_proj", 2}}, `"attn.in_proj": rnc does not know the parameter "in_proj"`},
		{[]pytorch.Key{{"x.running_var", 1}}, `"x.running_var": rnc does not know`},
	} {
		if _, err := pytorch.Map(c.keys); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.keys, err, c.want)
		}
	}
}

// TestHalfConversion: float16 and bfloat16 to float32, exactly, including
// subnormals, infinities and NaN.
func TestHalfConversion(t *testing.T) {
	for h, want := range map[uint16]float32{0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0001: 5.9604645e-08, 0x03ff: 6.097555e-05,
		0x8000: 0, 0x3555: 0.33325195} {
		if got := pytorch.Float16ToFloat32(h); got != want {
			t.Errorf("f16 %#04x: %v, want %v", h, got, want)
		}
	}
	if v := pytorch.Float16ToFloat32(0x7c00); v <= 3e38 {
		t.Errorf("f16 +Inf: %v", v)
	}
	if v := pytorch.Float16ToFloat32(0x7e00); v == v {
		t.Errorf("f16 NaN: %v", v)
	}
	if v := pytorch.BFloat16ToFloat32(0x3f80); v != 1 {
		t.Errorf("bf16 1: %v", v)
	}
	if v := pytorch.BFloat16ToFloat32(0xc049); v != -3.140625 {
		t.Errorf("bf16 -3.14: %v", v)
	}
}

// --- hostile files, written by hand ---

// pickleTensor is one state_dict entry of a hand-written pickle.
type pickleTensor struct {
	key, storage, class string
	numel, offset       int
	size, stride        []int
}

// pint writes an int: BININT1 / BININT, or LONG1 beyond 32 bits.
func pint(b *bytes.Buffer, v int) {
	switch {
	case v >= 0 && v < 256:
		b.WriteByte('K')
		b.WriteByte(byte(v))
	case v >= 0 && int64(v) < 1<<31:
		b.WriteByte('J')
		binary.Write(b, binary.LittleEndian, int32(v))
	default:
		b.WriteString("\x8a\x08")
		binary.Write(b, binary.LittleEndian, int64(v))
	}
}

func pstr(b *bytes.Buffer, s string) {
	b.WriteByte('X')
	binary.Write(b, binary.LittleEndian, uint32(len(s)))
	b.WriteString(s)
}

// statePickle writes an OrderedDict of tensors as torch does (protocol 2).
func statePickle(ts ...pickleTensor) []byte {
	var b bytes.Buffer
	b.WriteString("\x80\x02ccollections\nOrderedDict\n)R(")
	for _, t := range ts {
		pstr(&b, t.key)
		b.WriteString("ctorch._utils\n_rebuild_tensor_v2\n((")
		pstr(&b, "storage")
		class := t.class
		if class == "" {
			class = "FloatStorage"
		}
		b.WriteString("ctorch\n" + class + "\n")
		pstr(&b, t.storage)
		pstr(&b, "cpu")
		pint(&b, t.numel)
		b.WriteString("tQ")
		pint(&b, t.offset)
		for _, tup := range [][]int{t.size, t.stride} {
			b.WriteByte('(')
			for _, d := range tup {
				pint(&b, d)
			}
			b.WriteByte('t')
		}
		b.WriteString("\x89ccollections\nOrderedDict\n)RtR")
	}
	b.WriteString("u.")
	return b.Bytes()
}

// archive writes a checkpoint: archive/data.pkl and archive/data/<key>.
func archive(t testing.TB, pkl []byte, storages map[string][]byte, deflate bool) []byte {
	t.Helper()
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	method := zip.Store
	if deflate {
		method = zip.Deflate
	}
	add := func(name string, data []byte) {
		w, err := z.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if pkl != nil {
		add("archive/data.pkl", pkl)
	}
	keys := make([]string, 0, len(storages))
	for k := range storages {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		add("archive/data/"+k, storages[k])
	}
	add("archive/version", []byte("3\n"))
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func floats(v ...float32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, v)
	return b.Bytes()
}

// TestHandWritten: a pickle written here, as torch writes it, reads; a
// strided view and a storage offset are honoured.
func TestHandWritten(t *testing.T) {
	pkl := statePickle(pickleTensor{key: "fc.weight", storage: "0", numel: 8, offset: 1, size: []int{2, 3}, stride: []int{1, 2}},
		pickleTensor{key: "fc.bias", storage: "0", numel: 8, offset: 5, size: []int{3}, stride: []int{1}})
	for _, deflate := range []bool{false, true} {
		f, err := open(t, archive(t, pkl, map[string][]byte{"0": floats(0, 1, 2, 3, 4, 5, 6, 7)}, deflate))
		if err != nil {
			t.Fatal(err)
		}
		handWritten(t, f)
	}
}

func handWritten(t *testing.T, f *pytorch.File) {
	// fc.weight [out=2, in=3] is storage[1 + o + 2i]: [[1 3 5] [2 4 6]];
	// rnc's kernel is its transpose [in=3, out=2].
	got, err := f.Read("fc/kernel")
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{1, 2, 3, 4, 5, 6}; !slices.Equal(got, want) || !slices.Equal(f.Tensors[0].Shape, []int{3, 2}) {
		t.Errorf("fc/kernel %v %v, want [3 2] %v", f.Tensors[0].Shape, got, want)
	}
	if got, _ := f.Read("fc/bias"); !slices.Equal(got, []float32{5, 6, 7}) {
		t.Errorf("fc/bias %v", got)
	}
}

// hostile are files each refused with the error given.
func hostile(t testing.TB) []struct {
	name string
	file []byte
	want string
} {
	good := statePickle(pickleTensor{key: "fc.bias", storage: "0", numel: 4, size: []int{4}, stride: []int{1}})
	st := map[string][]byte{"0": floats(1, 2, 3, 4)}
	tiny, err := os.ReadFile(filepath.Join("testdata", "tiny_f32.pth"))
	if err != nil {
		t.Fatal(err)
	}
	huge := bytes.Repeat([]byte("N"), 1<<22+16)
	bomb := make([]byte, 16<<20)
	withPickle := func(p string) []byte { return archive(t, []byte(p), st, false) }
	return []struct {
		name string
		file []byte
		want string
	}{
		{"posix system", withPickle("\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00ls\x85R."), "global posix.system"},
		{"os system", withPickle("cos\nsystem\n(S'echo pwned'\ntR."), "global os.system"},
		{"builtins eval", withPickle("\x80\x04\x95\x1a\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94\x8c\x031+1\x85R."), "global builtins.eval"},
		{"memoized names", withPickle("\x80\x04\x8c\x0asubprocess\x94\x8c\x05Popen\x94h\x00h\x01\x93)R."), "global subprocess.Popen"},
		{"inst", withPickle("(S'ls'\nisubprocess\nPopen\n."), "global subprocess.Popen"},
		{"reconstructor", withPickle("\x80\x02ccopy_reg\n_reconstructor\n."), "global copy_reg._reconstructor"},
		{"builtin object", withPickle("\x80\x02c__builtin__\nobject\n)\x81."), "global __builtin__.object"},
		{"rebuild from type", withPickle("\x80\x02ctorch._tensor\n_rebuild_from_type_v2\n."), "global torch._tensor._rebuild_from_type_v2"},
		{"extension", withPickle("\x80\x02\x82\x01)R."), "extension registry"},
		{"huge list", withPickle("\x80\x02](" + string(huge) + "e."), "more than 4194304 values"},
		{"huge string", withPickle("\x80\x02X\xff\xff\xff\x7f."), "runs past the end"},
		{"huge frame", withPickle("\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\x7f."), "runs past the end"},
		{"empty long", withPickle("\x80\x02\x8a\x00."), "malformed pickle"},
		{"odd setitems", withPickle("\x80\x02}(X\x01\x00\x00\x00au."), "malformed pickle"},
		{"stack underflow", withPickle("\x80\x02R."), "stack underflow"},
		{"no stop", withPickle("\x80\x02N"), "without its STOP"},
		{"not a dict", withPickle("\x80\x02K\x01."), "not a state_dict"},
		{"storage out of range", archive(t, statePickle(pickleTensor{key: "fc.bias", storage: "7", numel: 4, size: []int{4}, stride: []int{1}}), st, false), `storage "7" is not in the archive`},
		{"stride past storage", archive(t, statePickle(pickleTensor{key: "fc.bias", storage: "0", numel: 4, size: []int{3}, stride: []int{2}}), st, false), `reach element 4 of storage "0", which has 4`},
		{"offset past storage", archive(t, statePickle(pickleTensor{key: "fc.bias", storage: "0", numel: 4, offset: 4, size: []int{1}, stride: []int{1}}), st, false), "reach element 4"},
		{"huge shape", archive(t, statePickle(pickleTensor{key: "fc.weight", storage: "0", numel: 4, size: []int{1 << 20, 1 << 20}, stride: []int{0, 0}}), st, false), "too many elements"},
		{"broadcast", archive(t, statePickle(pickleTensor{key: "fc.bias", storage: "0", numel: 4, size: []int{64}, stride: []int{0}}), st, false), "broadcast view"},
		{"numel mismatch", archive(t, statePickle(pickleTensor{key: "fc.bias", storage: "0", numel: 1 << 30, size: []int{4}, stride: []int{1}}), st, false), "the archive's archive/data/0 holds 16 bytes"},
		{"int64 tensor", archive(t, statePickle(pickleTensor{key: "fc.bias", storage: "0", class: "LongStorage", numel: 2, size: []int{2}, stride: []int{1}}), st, false), "holds int64 values"},
		{"double storage", archive(t, statePickle(pickleTensor{key: "fc.bias", storage: "0", class: "DoubleStorage", numel: 2, size: []int{2}, stride: []int{1}}), st, false), "global torch.DoubleStorage"},
		{"zip bomb", archive(t, statePickle(pickleTensor{key: "fc.bias", storage: "0", numel: 4 << 20, size: []int{4}, stride: []int{1}}), map[string][]byte{"0": bomb}, true), "more than 16 times"},
		{"rank 3 weight", archive(t, statePickle(pickleTensor{key: "conv.weight", storage: "0", numel: 4, size: []int{1, 2, 2}, stride: []int{4, 2, 1}}), st, false), `"conv.weight" is a weight of rank 3`},
		{"no dot", archive(t, statePickle(pickleTensor{key: "bias", storage: "0", numel: 4, size: []int{4}, stride: []int{1}}), st, false), `"bias" has no dot`},
		{"no data.pkl", archive(t, nil, st, false), "no <archive>/data.pkl"},
		{"truncated zip", tiny[:len(tiny)/2], "not a readable zip archive"},
		{"good pickle, no storage", archive(t, good, nil, false), `storage "0" is not in the archive`},
	}
}

// TestHostile: each hostile file is refused with its error, and nothing
// panics.
func TestHostile(t *testing.T) {
	for _, c := range hostile(t) {
		t.Run(c.name, func(t *testing.T) {
			_, err := open(t, c.file)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestTruncatedStorage: a checkpoint cut inside a storage opens (the
// directory is intact only if the cut keeps it; here the data of a stored
// entry is overwritten past the end) and reading it is an error.
func TestTruncatedStorage(t *testing.T) {
	pkl := statePickle(pickleTensor{key: "fc.bias", storage: "0", numel: 4, size: []int{4}, stride: []int{1}})
	b := archive(t, pkl, map[string][]byte{"0": floats(1, 2, 3, 4)}, false)
	f, err := open(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pytorch.Open(bytes.NewReader(b[:len(b)-10]), int64(len(b)-10)); err == nil {
		t.Errorf("a zip without the end of its directory opened")
	}
	if got, err := f.Read("fc/bias"); err != nil || !slices.Equal(got, []float32{1, 2, 3, 4}) {
		t.Errorf("fc/bias: %v %v", got, err)
	}
	if _, err := f.Read("fc/weight"); err == nil || !strings.Contains(err.Error(), `no tensor "fc/weight"`) {
		t.Errorf("reading a missing tensor: %v", err)
	}
}

// FuzzOpen: no input makes Open or Read panic.
func FuzzOpen(f *testing.F) {
	for _, name := range []string{"tiny_f32", "tiny_bf16", "strided", "shared"} {
		b, err := os.ReadFile(filepath.Join("testdata", name+".pth"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(archive(f, statePickle(pickleTensor{key: "fc.weight", storage: "0", numel: 8, offset: 1, size: []int{2, 3}, stride: []int{1, 2}}), map[string][]byte{"0": floats(0, 1, 2, 3, 4, 5, 6, 7)}, false))
	f.Fuzz(func(t *testing.T, b []byte) {
		pf, err := open(t, b)
		if err != nil {
			return
		}
		for _, tn := range pf.Tensors {
			pf.Read(tn.Name)
		}
	})
}

// FuzzPickle: no data.pkl makes the reader panic.
func FuzzPickle(f *testing.F) {
	f.Add(statePickle(pickleTensor{key: "fc.weight", storage: "0", numel: 8, offset: 1, size: []int{2, 3}, stride: []int{1, 2}}))
	f.Add([]byte("\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00ls\x85R."))
	f.Add([]byte("\x80\x02}(X\x01\x00\x00\x00aK\x01u."))
	st := map[string][]byte{"0": floats(0, 1, 2, 3, 4, 5, 6, 7)}
	f.Fuzz(func(t *testing.T, p []byte) {
		b := archive(t, p, st, false)
		pf, err := open(t, b)
		if err != nil {
			return
		}
		for _, tn := range pf.Tensors {
			pf.Read(tn.Name)
		}
	})
}

// TestPermute: OIHW to HWIO and a matrix transpose, by index.
func TestPermute(t *testing.T) {
	shape := []int{2, 3, 4, 5} // O, I, H, W
	data := make([]float32, 120)
	for i := range data {
		data[i] = float32(i)
	}
	got, gs, err := pytorch.Permute(data, shape, []int{2, 3, 1, 0})
	if err != nil || !slices.Equal(gs, []int{4, 5, 3, 2}) {
		t.Fatalf("%v %v", gs, err)
	}
	for h := range 4 {
		for w := range 5 {
			for i := range 3 {
				for o := range 2 {
					if g, want := got[((h*5+w)*3+i)*2+o], data[((o*3+i)*4+h)*5+w]; g != want {
						t.Fatalf("[%d %d %d %d] = %v, want %v", h, w, i, o, g, want)
					}
				}
			}
		}
	}
	if got, _, _ := pytorch.Permute([]float32{1, 2, 3, 4, 5, 6}, []int{2, 3}, []int{1, 0}); !slices.Equal(got, []float32{1, 4, 2, 5, 3, 6}) {
		t.Errorf("transpose: %v", got)
	}
	if _, _, err := pytorch.Permute(data, []int{2, 3}, []int{1, 0}); err == nil {
		t.Errorf("a shape that does not hold the data was permuted")
	}
}

package runtime

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNewArguments: a nil program or weights, a nil plan and a thread
// count outside 1..MaxThreads are errors naming the value, reported before
// any work (WithThreads(1<<20) used to start a million goroutines with
// their scratch buffers).
func TestNewArguments(t *testing.T) {
	m, err := New(tinyProgram(), NewWeights(), WithThreads(3))
	if err != nil {
		t.Fatal(err)
	}
	if m.Threads() != 3 {
		t.Errorf("Threads() = %d", m.Threads())
	}
	out := make([]float32, 1)
	if err := m.Predict(out, []float32{7}); err != nil || out[0] != 7 {
		t.Errorf("Predict: %v, %v", out, err)
	}
	m.Close()
	if m, err := New(tinyProgram(), NewWeights(), WithThreads(MaxThreads)); err != nil {
		t.Errorf("WithThreads(MaxThreads): %v", err)
	} else {
		m.Close()
	}

	path := writeTemp(t, "w.safetensors", stFile("{}", nil))
	for _, tc := range []struct {
		name string
		fn   func() error
		want string
	}{
		{"nil program", func() error { _, err := New(nil, NewWeights()); return err }, "nil *Program"},
		{"nil weights", func() error { _, err := New(tinyProgram(), nil); return err }, "tiny: nil *Weights"},
		{"nil plan", func() error { _, err := New(&Program{Name: "p", Plans: []*Plan{nil}}, NewWeights()); return err }, "p: plan 0 is nil"},
		{"Load nil program", func() error { _, err := Load(nil, path); return err }, "nil *Program"},
		{"2^20 threads", func() error { _, err := New(tinyProgram(), NewWeights(), WithThreads(1<<20)); return err }, "WithThreads(1048576): want 1 to 1024 threads"},
		{"MaxThreads+1", func() error { _, err := New(tinyProgram(), NewWeights(), WithThreads(MaxThreads+1)); return err }, "WithThreads(1025)"},
		{"0 threads", func() error { _, err := New(tinyProgram(), NewWeights(), WithThreads(0)); return err }, "WithThreads(0): want 1 to 1024"},
		{"negative threads", func() error { _, err := Load(tinyProgram(), path, WithThreads(-1)); return err }, "WithThreads(-1)"},
	} {
		var err error
		n := allocated(func() { err = tc.fn() })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
		if n > 1<<20 {
			t.Errorf("%s: allocated %d bytes", tc.name, n)
		}
	}
}

// TestPredictChunks: a batch larger than the arena budget runs in chunks:
// every image's output is right and the arena holds one chunk, not the
// batch (a 1000-image batch of ResNet50V2 used to allocate ~40 GB).
func TestPredictChunks(t *testing.T) {
	defer func(b int) { maxArenaBytes = b }(maxArenaBytes)
	maxArenaBytes = 16 // two images of a two-float arena
	// One copy step from the input to the output: a plan with a step, so
	// that Profile's times are summed over the chunks.
	prog := &Program{Name: "copy", InputH: 1, InputW: 1, InputC: 1, Classes: 1, Plans: []*Plan{{
		Target: "generic", ArenaFloats: 2,
		Input: Buf{H: 1, W: 1, C: 1}, Output: Buf{Off: 1, H: 1, W: 1, C: 1},
		Steps: []Step{{Name: "copy", Kind: OpCopy, In: []Buf{{H: 1, W: 1, C: 1}}, Out: []Buf{{Off: 1, H: 1, W: 1, C: 1}}, Kernel: -1, Bias: -1}},
	}}}
	m, err := New(prog, NewWeights())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	src := []float32{1, 2, 3, 4, 5}
	dst := make([]float32, 5)
	times := []time.Duration{-1}
	if err := m.Profile(dst, src, times); err != nil {
		t.Fatal(err)
	}
	for i := range src {
		if dst[i] != src[i] {
			t.Errorf("image %d: %v, want %v", i, dst[i], src[i])
		}
	}
	if len(m.arena) > 2*2*4+64 {
		t.Errorf("arena of %d bytes for chunks of 2 two-float images", len(m.arena))
	}
	if times[0] <= 0 {
		t.Errorf("the copy step's time over 3 chunks is %v", times[0])
	}
}

// TestLoadChecksPlanFirst: Load refuses a target the program lacks, and a
// plan that does not validate, before it opens the weight file (which
// here does not exist: the error names the plan, not the file).
func TestLoadChecksPlanFirst(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no.safetensors")
	if _, err := Load(tinyProgram(), missing, WithTarget("avx512")); err == nil || !strings.Contains(err.Error(), "not compiled in") {
		t.Errorf("a target the program lacks: %v", err)
	}
	bad := tinyProgram()
	bad.Plans[0].Output.Off = 1 << 20
	if _, err := Load(bad, missing); err == nil || !strings.Contains(err.Error(), "outside the arena") {
		t.Errorf("a plan that does not validate: %v", err)
	}
	if _, err := Load(tinyProgram(), missing); err == nil || !strings.Contains(err.Error(), "no.safetensors") {
		t.Errorf("a valid plan and a missing file: %v", err)
	}
}

// TestInt8FileForFloatModel: an int8 weight file (rnc quantize's format)
// given to a float32 model is refused as such, not as a list of missing
// tensors.
func TestInt8FileForFloatModel(t *testing.T) {
	ws := NewWeights()
	ws.Metadata = map[string]string{"format": Int8Format}
	err := ws.Check(nil)
	if err == nil || !strings.Contains(err.Error(), "int8 weight file") {
		t.Errorf("Check of an int8 file: %v", err)
	}
}

package ir_test

import (
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/ir"
)

const base = `model "t"
  %0 input_1 = Input() : f32[N,8,8,3] nhwc
  %1 c = Conv2D(%0) filters=4 k=3x3 s=1x1 pad=1,1,1,1 kernel=c/kernel bias=c/bias : f32[N,8,8,4] nhwc
  %2 r = Activation(%1) fn=relu : f32[N,8,8,4] nhwc
  %3 a = Add(%1, %2) : f32[N,8,8,4] nhwc
  return %3
weights
  c/kernel : [3,3,3,4]
  c/bias : [4]
`

// TestVerifyCatches: each broken invariant is reported.
func TestVerifyCatches(t *testing.T) {
	cases := []struct{ name, old, new, want string }{
		{"ok", "", "", ""},
		{"wrong dims", "%2 r = Activation(%1) fn=relu : f32[N,8,8,4]", "%2 r = Activation(%1) fn=relu : f32[N,8,8,5]", "shape inference gives [8 8 4]"},
		{"duplicate name", "%2 r = ", "%2 c = ", `layer name "c" used twice`},
		{"bad kernel shape", "c/kernel : [3,3,3,4]", "c/kernel : [3,3,2,4]", `weight "kernel" (c/kernel) has shape [3 3 2 4], want [3 3 3 4]`},
		{"layout mismatch", "%3 a = Add(%1, %2) : f32[N,8,8,4] nhwc", "%3 a = Add(%1, %2) : f32[N,8,8,4] nChw16c", "input 0 is nhwc but the output is nChw16c"},
		{"unknown activation", "fn=relu", "fn=gelu", `unknown activation "gelu"`},
		{"dilated", "s=1x1 pad=1,1,1,1", "s=1x1 dil=2x3 pad=2,2,3,3", ""},
		{"dilation shape", "s=1x1 pad=1,1,1,1", "s=1x1 dil=2x2 pad=1,1,1,1", "shape inference gives [6 6 4]"},
		{"dilation zero", "s=1x1 pad=1,1,1,1", "s=1x1 dil=0x2 pad=1,1,1,1", "dilation must be positive, got 0x2"},
		{"dilated kernel too large", "s=1x1 pad=1,1,1,1", "s=1x1 dil=5x1 pad=1,1,1,1", "kernel 3x3 dilated 5x1 does not fit the input_1 input 8x8 (padded 10x10)"},
		{"element type", "%2 r = Activation(%1) fn=relu : f32[N,8,8,4]", "%2 r = Activation(%1) fn=relu : u8[N,8,8,4]", "value %2 is u8 without quantization parameters"},
		{"arena overlap", ": f32[N,8,8,3] nhwc\n", ": f32[N,8,8,3] nhwc @arena[0:768]\n", "memory is planned for 1 of 4 values"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(base, c.old, c.new, 1)
			g, err := ir.Parse(src)
			if err != nil {
				t.Fatal(err)
			}
			err = ir.Verify(g)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestVerifyArena: overlapping live buffers are caught; in-place
// elementwise reuse of a dying input is allowed.
func TestVerifyArena(t *testing.T) {
	plan := func(p0, p1, p2, p3 string) string {
		s := base
		for i, p := range []string{p0, p1, p2, p3} {
			lines := strings.Split(s, "\n")
			lines[1+i] += " @arena[" + p + "]"
			s = strings.Join(lines, "\n")
		}
		return s
	}
	cases := []struct{ name, src, want string }{
		{"disjoint", plan("0:768", "768:1792", "1792:2816", "2816:3840"), ""},
		{"reuse dead input", plan("0:1024", "1024:2048", "0:1024", "2048:3072"), ""},
		{"in place add over r", plan("0:768", "768:1792", "1792:2816", "1792:2816"), ""},
		{"overlap", plan("0:768", "768:1792", "1024:2048", "2048:3072"), "are live at the same time and overlap"},
		{"in place add over c", plan("0:768", "768:1792", "1792:2816", "768:1792"), ""},
		{"relu over c still read by add", plan("0:768", "768:1792", "768:1792", "1792:2816"), "are live at the same time and overlap"},
		{"too small", plan("0:768", "768:1024", "1792:2816", "2816:3840"), "needs 1024 bytes"},
		{"misaligned", plan("0:768", "800:1824", "1856:2880", "2880:3904"), "not 64-byte aligned"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := ir.Parse(c.src)
			if err != nil {
				t.Fatal(err)
			}
			err = ir.Verify(g)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestVerifyEarlyOutAlias: an output stored before an epilogue step that
// still reads an operand must not share the operand's memory.
func TestVerifyEarlyOutAlias(t *testing.T) {
	src := `model "t"
  %9 in = Input() : f32[N,4,4,16] nhwc @arena[0:1024]
  %0 r = Reorder(%9) : f32[N,4,4,16] nChw16c @arena[1024:2048]
  %1 a = Conv2D(%0) filters=16 k=1x1 s=1x1 pad=0,0,0,0 kernel=$0 : f32[N,4,4,16] nChw16c @arena[0:1024]
  %2, %3 b = Conv2D(%0, %1) filters=16 k=1x1 s=1x1 pad=0,0,0,0 epi=[sigmoid,out,mul(%1)] kernel=$1 : f32[N,4,4,16] nChw16c @arena[OUT0], f32[N,4,4,16] nChw16c @arena[OUT1]
  %4 y = Eltwise(%3, %2) epi=[add(%2)] : f32[N,4,4,16] nChw16c @arena[0:1024]
  %5 o = Reorder(%4) : f32[N,4,4,16] nhwc @arena[1024:2048]
  return %5
weights
  kk : [1,1,16,16]
  kk2 : [1,1,16,16]
  $0 = pack(kk) layout=OIhw16i16o : [1,1,1,1,16,16]
  $1 = pack(kk2) layout=OIhw16i16o : [1,1,1,1,16,16]
`
	bad := strings.NewReplacer("OUT0", "0:1024", "OUT1", "2048:3072").Replace(src)
	good := strings.NewReplacer("OUT0", "2048:3072", "OUT1", "0:1024").Replace(src)
	for _, c := range []struct {
		src  string
		fail bool
	}{{bad, true}, {good, false}} {
		g, err := ir.Parse(c.src)
		if err != nil {
			t.Fatal(err)
		}
		err = ir.Verify(g)
		if c.fail != (err != nil) {
			t.Errorf("fail=%v, Verify: %v", c.fail, err)
		}
	}
}

// TestParseErrors: malformed text is an error naming the line, not a panic.
func TestParseErrors(t *testing.T) {
	cases := []struct{ old, new, want string }{
		{`model "t"`, `modl "t"`, "line 1: want `model \"name\"`"},
		{"Activation(%1)", "Activation(%9)", "line 4: undefined value %9"},
		{"Activation(%1)", "Actvation(%1)", `line 4: unknown op "Actvation"`},
		{"fn=relu", "fnn=relu", `line 4: Activation has no attribute or weight "fnn"`},
		{"k=3x3", "k=3", "line 3: Conv2D: attribute k"},
		{"kernel=c/kernel", "kernel=c/kern", `line 3: undefined weight "c/kern"`},
		{"  return %3\n", "", "graph has no return line"},
		{"c/bias : [4]", "c/bias : [4", "bad shape"},
		{"f32[N,8,8,4] nhwc\n  %3", "f32[N,8,8,4] nhwx\n  %3", `unknown layout "nhwx"`},
		{"f32[N,8,8,4] nhwc\n  %3", "f64[N,8,8,4] nhwc\n  %3", `unknown element type "f64"`},
		{"bias=c/bias", "bias=c/bias epi=[bias]", `unknown epilogue step "bias"`},
	}
	for _, c := range cases {
		src := strings.Replace(base, c.old, c.new, 1)
		_, err := ir.Parse(src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q→%q: error %v, want %q", c.old, c.new, err, c.want)
		}
	}
}

// FuzzParse: no text makes Parse or Verify panic, and what parses and
// verifies prints back to the same text.
func FuzzParse(f *testing.F) {
	f.Add(base)
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ir.Parse(s)
		if err != nil {
			return
		}
		if ir.Verify(g) != nil {
			return
		}
		h, err := ir.Parse(g.String())
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if h.String() != g.String() {
			t.Fatalf("round trip differs")
		}
	})
}

// TestVerifyDensePerPixel: a Dense on a feature map works per pixel and
// keeps the map's nhwc layout (Keras's Dense on the last axis); on a vector
// its output is nc. (Found by the random-graph differential test: the
// verifier refused every Dense on a map as an internal error.)
func TestVerifyDensePerPixel(t *testing.T) {
	src := `model "t"
  %0 input_1 = Input() : f32[N,4,5,3] nhwc
  %1 d = Dense(%0) units=6 act=relu kernel=d/kernel bias=d/bias : f32[N,4,5,6] nhwc
  return %1
weights
  d/kernel : [3,6]
  d/bias : [6]
`
	for _, c := range []struct{ old, new, want string }{
		{"", "", ""},
		{"f32[N,4,5,6] nhwc", "f32[N,4,5,6] nc", "output must be nhwc, got nc"},
	} {
		g, err := ir.Parse(strings.Replace(src, c.old, c.new, 1))
		if err != nil {
			t.Fatal(err)
		}
		err = ir.Verify(g)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%q: error %v, want %q", c.new, err, c.want)
		}
	}
}

// TestVerifyWinogradDilated: Winograd weights on a dilated conv (whose
// taps the Winograd tiles do not read) are an error.
func TestVerifyWinogradDilated(t *testing.T) {
	src := `model "t"
  %0 in = Input() : f32[N,12,12,16] nhwc
  %1 r = Reorder(%0) : f32[N,12,12,16] nChw16c
  %2 a = Conv2D(%1) filters=16 k=3x3 s=1x1 DIL pad=1,1,1,1 kernel=$0 : f32[N,12,12,16] nChw16c
  %3 gap = GlobalAveragePooling2D(%2) : f32[N,16] nc
  return %3
weights
  a/kernel : [3,3,16,16]
  $0 = pack(a/kernel) layout=wino16 : [1,36,16,16]
`
	for dil, want := range map[string]string{
		"":        "",
		"dil=1x1": "",
		"dil=1x2": "Winograd weights (wino16) need an undilated 3x3 stride-1 conv",
	} {
		text := strings.Replace(src, "DIL", dil, 1)
		if dil == "dil=1x2" {
			text = strings.Replace(text, "pad=1,1,1,1", "pad=1,1,2,2", 1)
		}
		g, err := ir.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		err = ir.Verify(g)
		if (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", dil, err, want)
		}
	}
}

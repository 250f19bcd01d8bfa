package dsl

import (
	"strings"
	"testing"
)

// TestSetMalformed: an override that starts like a number, list, string,
// parenthesized expression or boolean but does not parse is an error naming
// the parameter and the problem (it used to become a string, and fail
// later as "shape must be a list ..., got string"); a bare word, or words
// that do not parse, are still a string.
func TestSetMalformed(t *testing.T) {
	src := `model m(input_shape = [8, 8, 3], classes = 4, top = true, pooling = "avg", note = "") {
    x = Input(shape = input_shape)
    if pooling == "max" { x = GlobalMaxPooling2D(x) } else { x = GlobalAveragePooling2D(x) }
    if top { x = Dense(x, classes + len(note)) }
    return x
}
`
	fs := memFS(map[string]string{"m.rn": src})
	for _, c := range []struct{ name, value, want string }{
		{"input_shape", "[8,8", `--set input_shape=[8,8: at character 5: syntax error: unexpected end of file (expected "," or "]")`},
		{"input_shape", "  [8, 8, 3]]", `--set input_shape=  [8, 8, 3]]: at character 12: syntax error: unexpected token "]"`},
		{"classes", "1x", `--set classes=1x: at character 2: syntax error: unexpected token "x"`},
		{"classes", "-", `--set classes=-: at character 2: syntax error`},
		{"classes", "(3", `--set classes=(3: at character 3: syntax error`},
		{"top", "false x", `--set top=false x: at character 7: syntax error: unexpected token "x"`},
		{"pooling", `"max`, `--set pooling="max: at character 1: syntax error`},
		{"input_shape", "[8,\n8", `--set input_shape="[8,\n8": --set input_shape:2:2: syntax error`},
	} {
		_, err := Load("m.rn", Options{Set: map[string]string{c.name: c.value}, ReadFile: fs})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--set %s=%s: error %v, want %q", c.name, c.value, err, c.want)
		}
	}
	// Bare words: the output has classes + len(note) units.
	for _, c := range []struct {
		name, value string
		layers      string
		units       int
	}{
		{"pooling", "max", "input_1 global_max_pooling2d dense", 4},
		{"note", "avg pool", "input_1 global_average_pooling2d dense", 12},
		{"note", "a/b.h5", "input_1 global_average_pooling2d dense", 10},
		{"note", "x]", "input_1 global_average_pooling2d dense", 6},
		{"classes", " 7 ", "input_1 global_average_pooling2d dense", 7},
	} {
		g, err := Load("m.rn", Options{Set: map[string]string{c.name: c.value}, ReadFile: fs})
		if err != nil {
			t.Errorf("--set %s=%s: %v", c.name, c.value, err)
			continue
		}
		if got, units := names(g), g.Outputs[0].Type.Dims[0]; got != c.layers || units != c.units {
			t.Errorf("--set %s=%s: layers %q, %d units; want %q, %d", c.name, c.value, got, units, c.layers, c.units)
		}
	}
}

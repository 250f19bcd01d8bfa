package main

import (
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/examples/classify/resnet50v2"
	"github.com/rnc-dev/rnc/runtime"
)

const imageSize = resnet50v2.InputHeight * resnet50v2.InputWidth * resnet50v2.InputChannels

// TestLoad: load makes a file the model's input with the generated
// Preprocess: Keras's resnet_v2 convention ("tf", [-1, 1]) at 224×224,
// what runtime.PreprocessImage (tested against PIL and NumPy) gives; a
// pixel by hand: output (0, 0) copies source pixel (0, 0) and output
// (223, 223) source pixel (319, 239) of the 320×240 image (PIL's NEAREST).
func TestLoad(t *testing.T) {
	if resnet50v2.Preprocessing != "tf" {
		t.Fatalf("resnet50v2 declares %q; Keras's ResNet50V2 takes \"tf\"", resnet50v2.Preprocessing)
	}
	path := filepath.Join("testdata", "house.png")
	x := make([]float32, imageSize)
	if err := load(x, path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, imageSize)
	if err := runtime.PreprocessImage(want, img, 224, 224, 3, runtime.Preprocessing{Mode: runtime.PrepTF}); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if x[i] != want[i] || x[i] < -1 || x[i] > 1 {
			t.Fatalf("value %d = %v, want %v", i, x[i], want[i])
		}
	}
	for _, c := range []struct{ out, src int }{{0, 0}, {224*224 - 1, -1}} {
		var p color.Color
		if c.src == 0 {
			p = img.At(0, 0)
		} else {
			p = img.At(319, 239)
		}
		r, g, b, _ := p.RGBA()
		for k, v := range []uint32{r >> 8, g >> 8, b >> 8} {
			if got, w := x[3*c.out+k], float32(v)/127.5-1; math.Abs(float64(got-w)) > 0 {
				t.Errorf("output pixel %d channel %d = %v, want %v", c.out, k, got, w)
			}
		}
	}
}

// TestLoadErrors: a missing file, a directory and a file that is no image
// are errors naming the file.
func TestLoadErrors(t *testing.T) {
	x := make([]float32, imageSize)
	for _, p := range []string{filepath.Join("testdata", "missing.png"), "testdata", "main.go"} {
		err := load(x, p)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("load(%q): error %v, want one naming the file", p, err)
		}
	}
}

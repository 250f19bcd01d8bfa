package main

import (
	"image"
	"image/color"
	"math"
	"testing"
)

// TestPreprocess: resnet_v2 scaling to [-1, 1] and bilinear resizing.
func TestPreprocess(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 2, 1))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	img.Set(1, 0, color.RGBA{0, 0, 255, 255})
	x := preprocess(img, 2, 4)
	want := []float32{
		1, -1, -1, // leftmost quarter: the red pixel
		0.5, -1, -0.5, // 1/4 of the way to blue
		-0.5, -1, 0.5,
		-1, -1, 1, // the blue pixel
	}
	for row := 0; row < 2; row++ {
		for i, w := range want {
			if g := x[row*12+i]; math.Abs(float64(g-w)) > 1e-6 {
				t.Fatalf("row %d element %d = %v, want %v", row, i, g, w)
			}
		}
	}
}

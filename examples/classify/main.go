// Command classify labels images with ResNet50V2 compiled by rnc: it decodes JPEG or PNG files, resizes them to 224×224, applies Keras's resnet_v2 preprocessing and prints the top-5 ImageNet classes.
//
//	go run ./examples/classify -weights resnet50v2.safetensors photo.jpg ...
//
// The package ./resnet50v2 is generated: `rnc compile models/resnet50v2.rn
// -o examples/classify/resnet50v2` (a test checks it is current). Weights
// are Keras-named safetensors or the Keras .h5 file
// resnet50v2_weights_tf_dim_ordering_tf_kernels.h5 itself.
package main

import (
	_ "embed"
	"flag"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"sort"
	"strings"

	"github.com/rnc-dev/rnc/examples/classify/resnet50v2"
)

//go:embed imagenet_classes.txt
var classNames string

func main() {
	weights := flag.String("weights", "", "weight file: safetensors with Keras names, or a Keras .h5 (required)")
	threads := flag.Int("threads", 0, "threads (default GOMAXPROCS)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: classify -weights W IMAGE...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *weights == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*weights, *threads, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "classify:", err)
		os.Exit(1)
	}
}

func run(weights string, threads int, paths []string) error {
	var opts []resnet50v2.Option
	if threads > 0 {
		opts = append(opts, resnet50v2.WithThreads(threads))
	}
	m, err := resnet50v2.Load(weights, opts...)
	if err != nil {
		return err
	}
	defer m.Close()
	const size = resnet50v2.InputHeight * resnet50v2.InputWidth * resnet50v2.InputChannels
	batch := make([]float32, 0, len(paths)*size)
	for _, p := range paths {
		x, err := load(p)
		if err != nil {
			return err
		}
		batch = append(batch, x...)
	}
	probs := make([]float32, len(paths)*resnet50v2.Classes)
	if err := m.Predict(probs, batch); err != nil {
		return err
	}
	names := strings.Split(strings.TrimSpace(classNames), "\n")
	for i, p := range paths {
		row := probs[i*resnet50v2.Classes : (i+1)*resnet50v2.Classes]
		idx := make([]int, len(row))
		for j := range idx {
			idx[j] = j
		}
		sort.SliceStable(idx, func(a, b int) bool { return row[idx[a]] > row[idx[b]] })
		fmt.Printf("%s (%s):\n", p, m.Target())
		for _, j := range idx[:5] {
			name := fmt.Sprint(j)
			if j < len(names) {
				name = names[j]
			}
			fmt.Printf("  %6.2f%%  %s\n", 100*row[j], name)
		}
	}
	return nil
}

// load decodes an image, resizes it to the model's input with bilinear
// interpolation, and scales pixels to [-1, 1] (Keras's resnet_v2
// preprocess_input, mode "tf"). The result is NHWC, RGB.
func load(path string) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return preprocess(img, resnet50v2.InputHeight, resnet50v2.InputWidth), nil
}

func preprocess(img image.Image, h, w int) []float32 {
	b := img.Bounds()
	sh, sw := float64(b.Dy())/float64(h), float64(b.Dx())/float64(w)
	px := func(x, y int) [3]float64 {
		x = min(max(x, 0), b.Dx()-1)
		y = min(max(y, 0), b.Dy()-1)
		r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
		return [3]float64{float64(r >> 8), float64(g >> 8), float64(bl >> 8)}
	}
	out := make([]float32, 0, h*w*3)
	for y := 0; y < h; y++ {
		fy := (float64(y)+0.5)*sh - 0.5 // pixel centers, as TF's half-pixel resize
		y0 := int(fy)
		if fy < 0 {
			y0 = -1
		}
		dy := fy - float64(y0)
		for x := 0; x < w; x++ {
			fx := (float64(x)+0.5)*sw - 0.5
			x0 := int(fx)
			if fx < 0 {
				x0 = -1
			}
			dx := fx - float64(x0)
			a, bb, c, d := px(x0, y0), px(x0+1, y0), px(x0, y0+1), px(x0+1, y0+1)
			for k := 0; k < 3; k++ {
				v := (a[k]*(1-dx)+bb[k]*dx)*(1-dy) + (c[k]*(1-dx)+d[k]*dx)*dy
				out = append(out, float32(v/127.5-1))
			}
		}
	}
	return out
}

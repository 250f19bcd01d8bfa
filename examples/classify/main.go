// Command classify labels images with ResNet50V2 compiled by rnc: it decodes JPEG or PNG files, makes them the model's input with the generated package's Preprocess (Keras's load_img with its NEAREST resize to 224×224, then resnet_v2's preprocess_input, mode "tf") and prints the top-5 ImageNet classes.
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
	"github.com/rnc-dev/rnc/internal/fileio"
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
	batch := make([]float32, len(paths)*size)
	for i, p := range paths {
		if err := load(batch[i*size:(i+1)*size], p); err != nil {
			return err
		}
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

// load decodes an image file and writes it into dst as the model's input,
// in the convention the model declares (resnet50v2.Preprocessing).
func load(dst []float32, path string) error {
	f, _, err := fileio.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := resnet50v2.PreprocessInto(dst, img); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

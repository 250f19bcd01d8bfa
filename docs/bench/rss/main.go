// Command rss loads the committed ResNet50V2 package's model, classifies one image, and reports the process's peak resident memory next to the model's weight and arena bytes (target 4 of BENCHMARKS.md).
//
//	go run ./docs/bench/rss -weights resnet50v2.safetensors
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/rnc-dev/rnc/examples/classify/resnet50v2"
)

func main() {
	weights := flag.String("weights", "", "weight file (required)")
	threads := flag.Int("threads", 1, "threads")
	flag.Parse()
	if *weights == "" {
		fmt.Fprintln(os.Stderr, "usage: rss -weights W")
		os.Exit(2)
	}
	m, err := resnet50v2.Load(*weights, resnet50v2.WithThreads(*threads))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	x := make([]float32, resnet50v2.InputHeight*resnet50v2.InputWidth*resnet50v2.InputChannels)
	y := make([]float32, resnet50v2.Classes)
	if err := m.Predict(y, x); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w, a := m.Runtime().Memory(1)
	hwm := peakRSS()
	fmt.Printf("weights %.1f MB, arena %.1f MB, peak RSS %.1f MB = %.2f x (weights + arena)\n",
		float64(w)/1e6, float64(a)/1e6, float64(hwm)/1e6, float64(hwm)/float64(w+a))
}

// peakRSS reads VmHWM from /proc/self/status (0 where there is none).
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb * 1024
		}
	}
	return 0
}

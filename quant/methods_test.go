package quant

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // the pictures of testdata/preprocess
	_ "image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/ir"
	"github.com/rnc-dev/rnc/ir/interp"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
)

var methods = flag.String("methods", "", "TestMethodTable: measure the calibration methods on these models (comma-separated: tinyv2, tinyv1, stemv2, resnet50v2, resnet50, or all)")
var methodImages = flag.Int("method-images", 32, "TestMethodTable: calibration images (and as many held-out ones)")

// TestMethodTable is the measurement behind quant's default method
// (docs/int8.md, "Calibration method"), not a check: with -methods it
// calibrates each model with every method on one set of images, measures
// each int8 layer's SQNR on that set and on as many held-out images, and
// prints a row per model, data and method. The golden models run with
// their golden weights; resnet50v2 and resnet50 with interp.RandomWeights
// (seed 1) at 64×64. The data are uniform noise in [-1, 1], crops of the
// pictures in the tree (testdata/preprocess, examples/classify) made the
// model's input as the generated Preprocess makes it, and those crops with
// the last calibration image replaced by a saturated 1-pixel pattern.
//
//	go test ./quant -run TestMethodTable -methods all -timeout 60m -v
func TestMethodTable(t *testing.T) {
	if *methods == "" {
		t.Skip("a measurement, run with -methods (docs/int8.md)")
	}
	n := *methodImages
	models := strings.Split(*methods, ",")
	if *methods == "all" {
		models = []string{"tinyv2", "tinyv1", "stemv2", "resnet50v2", "resnet50"}
	}
	fmt.Printf("| model | data | method | calibration set: mean, min layer SQNR | held-out: mean, min layer SQNR | held-out output SQNR | held-out top-1 agreement |\n")
	fmt.Printf("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, model := range models {
		var set map[string]string
		golden := model == "tinyv2" || model == "tinyv1" || model == "stemv2"
		k := n
		if !golden {
			set = map[string]string{"input_shape": "[64,64,3]"}
			k = max(1, n/2)
		}
		g, err := dsl.Load(filepath.Join("..", "models", model+".rn"), dsl.Options{Set: set})
		if err != nil {
			t.Fatal(err)
		}
		var w *runtime.Weights
		if golden {
			if w, err = runtime.ReadSafetensorsFile(filepath.Join("..", "testdata", "golden", model+".safetensors")); err != nil {
				t.Fatal(err)
			}
		} else {
			w = interp.RandomWeights(g, 1)
		}
		if err := passes.Run(g, Pipeline("")); err != nil {
			t.Fatal(err)
		}
		for _, data := range []string{"uniform", "crops", "crops+pattern"} {
			a, b := calibrationData(t, g, data, k)
			for _, m := range []struct {
				m Method
				p float64
			}{{MinMax, 0}, {Percentile, 99.9}, {Percentile, 99.99}, {Percentile, 99.999}} {
				r, err := Calibrate(g, w, a, k, Options{Method: m.m, Percentile: m.p})
				if err != nil {
					t.Fatal(err)
				}
				cm, cmin := layerSQNR(r)
				if err := r.Measure(b, k); err != nil {
					t.Fatal(err)
				}
				hm, hmin := layerSQNR(r)
				name := string(m.m)
				if m.m == Percentile {
					name = fmt.Sprintf("%g%%", m.p)
				}
				fmt.Printf("| %s | %s ×%d | %s | %.1f, %.1f | %.1f, %.1f | %.1f | %d/%d |\n", model, data, k, name, cm, cmin, hm, hmin, r.OutputSQNR, r.Agree, r.Measured)
			}
		}
	}
}

// layerSQNR is the mean and the minimum SQNR of the int8 layers' outputs.
func layerSQNR(r *Result) (mean, low float64) {
	low = math.Inf(1)
	k := 0
	for _, l := range r.Layers {
		for _, t := range l.Outputs {
			if l.Int8 && t.Quantized {
				mean += t.SQNR()
				low = math.Min(low, t.SQNR())
				k++
			}
		}
	}
	return mean / float64(k), low
}

// calibrationData returns n calibration and n held-out images of a kind.
func calibrationData(t *testing.T, g *ir.Graph, kind string, n int) (calib, held []float32) {
	in := g.Inputs()[0]
	ty := in.Type
	per := ty.H() * ty.W() * ty.C()
	p := in.Def.Attrs.Prep
	prep := func(dst []float32, img image.Image) {
		if err := runtime.PreprocessImage(dst, img, ty.H(), ty.W(), ty.C(), runtime.Preprocessing{Mode: p.Mode, Mean: p.Mean, Std: p.Std}); err != nil {
			t.Fatal(err)
		}
	}
	if kind == "uniform" {
		rng := rand.New(rand.NewPCG(3, 4))
		calib, held = make([]float32, n*per), make([]float32, n*per)
		for i := range calib {
			calib[i], held[i] = rng.Float32()*2-1, rng.Float32()*2-1
		}
		return calib, held
	}
	var pics []image.Image
	for _, f := range []string{"examples/classify/testdata/house.png", "testdata/preprocess/astronaut.png", "testdata/preprocess/camera.jpg",
		"testdata/preprocess/cat.jpg", "testdata/preprocess/coffee.png", "testdata/preprocess/rocket.jpg"} {
		r, err := os.Open(filepath.Join("..", f))
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := image.Decode(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		pics = append(pics, img)
	}
	crops := func(seed uint64) []float32 {
		x := make([]float32, n*per)
		rng := rand.New(rand.NewPCG(seed, 7))
		for i := 0; i < n; i++ {
			img := pics[rng.IntN(len(pics))]
			bd := img.Bounds()
			s := min(bd.Dx()/3+rng.IntN(bd.Dx()-bd.Dx()/3), bd.Dy())
			x0, y0 := bd.Min.X+rng.IntN(bd.Dx()-s+1), bd.Min.Y+rng.IntN(bd.Dy()-s+1)
			sub := img.(interface {
				SubImage(image.Rectangle) image.Image
			}).SubImage(image.Rect(x0, y0, x0+s, y0+s))
			prep(x[i*per:(i+1)*per], sub)
		}
		return x
	}
	calib, held = crops(1), crops(2)
	if kind == "crops+pattern" {
		img := image.NewRGBA(image.Rect(0, 0, ty.W(), ty.H()))
		cols := []color.RGBA{{255, 0, 0, 255}, {0, 255, 255, 255}, {255, 255, 255, 255}, {0, 0, 0, 255}}
		for y := 0; y < ty.H(); y++ {
			for x := 0; x < ty.W(); x++ {
				img.Set(x, y, cols[(x+2*y)%4])
			}
		}
		prep(calib[(n-1)*per:], img)
	}
	return calib, held
}

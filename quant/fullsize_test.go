package quant

import (
	"flag"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/rnc-dev/rnc/dsl"
	"github.com/rnc-dev/rnc/passes"
	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/npy"
)

var fullDir = flag.String("int8-full-dir", "", "TestFullSizeAgreement: a directory with MODEL.safetensors, MODEL_calib.npy and MODEL_test.npy for resnet50v2 and resnet50 (docs/int8.md says how to make them)")

// TestFullSizeAgreement reports, for full-size ResNet50V2 and ResNet50
// with random weights (the reference harness's, whose outputs depend on
// the input), the top-1 agreement of the int8 integer reference with
// float32 on the test images, calibrated on the calibration images. It
// runs the interpreter on 224×224 images — minutes per model — so only
// with -int8-full-dir; it asserts nothing beyond running: the numbers go
// to docs/int8.md.
func TestFullSizeAgreement(t *testing.T) {
	if *fullDir == "" {
		t.Skip("full-size int8 agreement: pass -int8-full-dir DIR (docs/int8.md)")
	}
	for _, model := range []string{"resnet50v2", "resnet50"} {
		g, err := dsl.Load(filepath.Join("..", "models", model+".rn"), dsl.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := passes.Run(g, Pipeline("")); err != nil {
			t.Fatal(err)
		}
		w, err := runtime.ReadSafetensorsFile(filepath.Join(*fullDir, model+".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		calib, cs, err := npy.Read(filepath.Join(*fullDir, model+"_calib.npy"))
		if err != nil {
			t.Fatal(err)
		}
		test, ts, err := npy.Read(filepath.Join(*fullDir, model+"_test.npy"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Calibrate(g, w, calib, cs[0], Options{})
		if err != nil {
			t.Fatal(err)
		}
		per, n := len(test)/ts[0], ts[0]
		agree, classes := 0, 0
		var sig, noise float64
		for i0 := 0; i0 < n; i0 += 4 {
			k := min(4, n-i0)
			x := test[i0*per : (i0+k)*per]
			want, err := r.it.Run(x, k)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.RunInt8(x, k, nil)
			if err != nil {
				t.Fatal(err)
			}
			classes = len(want[0]) / k
			for j := 0; j < k; j++ {
				if argmax(want[0][j*classes:(j+1)*classes]) == argmax(got[0][j*classes:(j+1)*classes]) {
					agree++
				}
			}
			s, e := sumSq(want[0], got[0])
			sig, noise = sig+s, noise+e
		}
		int8Convs := 0
		for _, l := range r.Layers {
			if l.Int8 {
				int8Convs++
			}
		}
		t.Log(fmt.Sprintf("%s: %d int8 convs, calibrated on %d images: int8 (integer reference) top-1 agrees with float32 on %d/%d test images; output SQNR %.1f dB",
			model, int8Convs, cs[0], agree, n, sqnr(sig, noise)))
	}
}

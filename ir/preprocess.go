package ir

import (
	"fmt"
	"math"
)

// The input conventions an image Input declares (Preprocessing.Mode): how
// the 8-bit R, G, B values x of an image become the model's input. Every
// mode computes in float32, in this order, as Keras's
// keras.applications.imagenet_utils.preprocess_input does on a NumPy array:
//
//	raw      x                          RGB, 0..255 (a model that scales its input itself)
//	tf       x/127.5 − 1                RGB, −1..1 (Keras's ResNetV2, MobileNet, Inception)
//	caffe    x − mean[c]                BGR, mean = [103.939, 116.779, 123.68] per B, G, R
//	                                    (Keras's ResNet, VGG: the Caffe models' convention)
//	torch    (x/255 − mean[c]) / std[c] RGB, ImageNet's mean = [0.485, 0.456, 0.406] and
//	                                    std = [0.229, 0.224, 0.225] (Keras's DenseNet)
//	meanstd  (x/255 − mean[c]) / std[c] RGB, with the model's own Mean and Std (torchvision's
//	                                    ToTensor + Normalize)
//
// The empty mode means the model declares none.
const (
	PrepRaw     = "raw"
	PrepTF      = "tf"
	PrepCaffe   = "caffe"
	PrepTorch   = "torch"
	PrepMeanStd = "meanstd"
)

// PrepModes lists the modes, in documentation order.
var PrepModes = []string{PrepRaw, PrepTF, PrepCaffe, PrepTorch, PrepMeanStd}

// Preprocessing is an image Input's declared convention.
type Preprocessing struct {
	// Mode is one of PrepModes, or "" when the model declares none.
	Mode string
	// Mean and Std are the per-channel (R, G, B) constants of PrepMeanStd,
	// on the 0..1 scale of x/255; zero for every other mode.
	Mean, Std [3]float64
	// NCHW: the images arrive channels first, as PyTorch's tensors (C, H,
	// W per image; Predict's src and Preprocess's result), not Keras's
	// NHWC. The graph's values are unchanged (the Input's logical type is
	// H, W, C); only the compiled program reads its input transposed.
	NCHW bool
	// Resize, when positive, is torchvision's evaluation geometry instead
	// of Keras's load_img: the shorter side resized to Resize pixels (PIL's
	// antialiased BILINEAR), then the central H×W cropped. 0: Keras's
	// NEAREST resize straight to H×W.
	Resize int
}

// MaxResize bounds Preprocessing.Resize (the runtime's bound too).
const MaxResize = 1 << 16

// ValidPrepMode reports whether mode is one of PrepModes.
func ValidPrepMode(mode string) bool {
	for _, m := range PrepModes {
		if m == mode {
			return true
		}
	}
	return false
}

// PrepError is an error of Preprocessing.Check about its Mean or Std: Field
// names the one at fault ("mean" or "std"), for a message at the argument.
type PrepError struct {
	Field string
	Msg   string
}

func (e *PrepError) Error() string { return e.Msg }

// Check reports what is wrong with p: an unknown mode, Mean or Std given
// with a mode other than meanstd, a mean that is not a finite float32, or
// a std that is not a positive finite float32 (a *PrepError for these two),
// or constants not on the 0..1 scale.
func (p Preprocessing) Check() error {
	if p.Mode != "" && !ValidPrepMode(p.Mode) {
		return fmt.Errorf("unknown preprocessing %q (want one of %q)", p.Mode, PrepModes)
	}
	if p.Resize < 0 || p.Resize > MaxResize {
		return fmt.Errorf("resize %d: want 1 to %d pixels (the shorter side before the center crop)", p.Resize, MaxResize)
	}
	if p.Resize > 0 && p.Mode == "" {
		return fmt.Errorf("resize %d goes with a preprocessing mode, and none is declared", p.Resize)
	}
	if p.Mode != PrepMeanStd {
		if p.Mean != [3]float64{} || p.Std != [3]float64{} {
			if p.Mode == "" {
				return fmt.Errorf("mean and std go with preprocessing %q, and none is declared", PrepMeanStd)
			}
			return fmt.Errorf("mean and std go with preprocessing %q, not %q", PrepMeanStd, p.Mode)
		}
		return nil
	}
	// The arithmetic is float32's (as NumPy's on Keras's float32 arrays):
	// the constants must stay finite, and the stds positive, in float32.
	for c := range 3 {
		if m := float64(float32(p.Mean[c])); math.IsNaN(m) || math.IsInf(m, 0) {
			return &PrepError{"mean", fmt.Sprintf("preprocessing meanstd: mean[%d] = %v is not a finite float32", c, p.Mean[c])}
		}
		if s := float64(float32(p.Std[c])); !(s > 0) || math.IsInf(s, 0) {
			return &PrepError{"std", fmt.Sprintf("preprocessing meanstd: std[%d] = %v is not a positive finite float32", c, p.Std[c])}
		}
	}
	// On the 0..1 scale of x/255 (torchvision's), a mean outside 0..1 or a
	// std over 1 is a 0..255-scale constant: x/255 − 127 would compile and
	// give nonsense.
	for c := range 3 {
		if p.Mean[c] < 0 || p.Mean[c] > 1 || p.Std[c] > 1 {
			return fmt.Errorf("preprocessing meanstd: mean and std are on the 0..1 scale of x/255 (torchvision's), got mean %v std %v: divide 0..255-scale constants by 255", p.Mean, p.Std)
		}
	}
	return nil
}

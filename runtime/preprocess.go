package runtime

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
)

// The input conventions (Preprocessing.Mode), as ir/preprocess.go defines
// them: how the 8-bit R, G, B values x of an image become a model's input,
// computed in float32 in this order, as Keras's
// imagenet_utils.preprocess_input computes them on a NumPy array.
//
//	raw      x                            RGB
//	tf       x/127.5 − 1                  RGB
//	caffe    x − [103.939, 116.779, 123.68] B, G, R (the channels reversed)
//	torch    (x/255 − [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]  RGB
//	meanstd  (x/255 − Mean) / Std         RGB
const (
	PrepRaw     = "raw"
	PrepTF      = "tf"
	PrepCaffe   = "caffe"
	PrepTorch   = "torch"
	PrepMeanStd = "meanstd"
)

// The constants of Keras's caffe and torch modes, converted to float32 at
// run time as NumPy converts a Python float (one rounding of the float64).
var (
	caffeMean = [3]float64{103.939, 116.779, 123.68} // B, G, R
	torchMean = [3]float64{0.485, 0.456, 0.406}
	torchStd  = [3]float64{0.229, 0.224, 0.225}
)

// Preprocessing is a model's declared input convention.
type Preprocessing struct {
	Mode      string     // one of the Prep modes; "" when the model declares none
	Mean, Std [3]float64 // PrepMeanStd's per-channel R, G, B constants (0..1 scale)
	NCHW      bool       // write the image channels first (C, H, W), as PyTorch's tensors
	// Resize, when positive, replaces Keras's NEAREST resize with
	// torchvision's evaluation transform: Resize(Resize) (the shorter side
	// to Resize pixels, PIL's antialiased BILINEAR) then CenterCrop to the
	// input's size.
	Resize int
}

// MaxResize bounds Preprocessing.Resize.
const MaxResize = 1 << 16

// ErrNoPreprocessing is the error PreprocessImage returns for a model that
// declares no input convention.
var ErrNoPreprocessing = errors.New("the model declares no input preprocessing: add preprocessing = \"tf\", \"caffe\", \"torch\", \"raw\" or \"meanstd\" to its Input in the .rn file and compile it again")

// check reports what is wrong with p.
func (p Preprocessing) check() error {
	if p.Resize < 0 || p.Resize > MaxResize {
		return fmt.Errorf("preprocessing: resize %d: want 1 to %d, or 0 for Keras's nearest-neighbour resize", p.Resize, MaxResize)
	}
	switch p.Mode {
	case "":
		return ErrNoPreprocessing
	case PrepRaw, PrepTF, PrepCaffe, PrepTorch:
		return nil
	case PrepMeanStd:
		for c := range 3 {
			m, s := float32(p.Mean[c]), float32(p.Std[c])
			if m-m != 0 || !(s > 0) || math.IsInf(float64(s), 0) {
				return fmt.Errorf("preprocessing meanstd: mean %v, std %v: want means and stds that are finite float32s, the stds positive", p.Mean, p.Std)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown preprocessing %q", p.Mode)
}

// PreprocessImage writes img as one h×w×c NHWC float32 image in convention
// p into dst[:h*w*c], as Keras's pipeline makes it:
//
//	x = img_to_array(load_img(path, target_size=(h, w)))  # PIL, NEAREST
//	x = preprocess_input(x)                               # p.Mode
//
// Resizing is PIL's Image.resize with NEAREST (load_img's default): output
// column j reads source column ⌊s_j⌋, where s_0 = 0.5·W/w and s_{j+1} =
// s_j + W/w are accumulated in float64 exactly as PIL accumulates them
// (this differs from ⌊(j + ½)·W/w⌋ where that is an integer); rows
// likewise. An image already h×w is not resampled.
//
// With p.Resize = R > 0 the geometry is torchvision's evaluation transform
// instead, as a PyTorch user runs it on an image opened with PIL:
//
//	img = Image.open(path).convert("RGB")
//	x = Compose([Resize(R), CenterCrop((h, w)), ToTensor(), Normalize(mean, std)])(img)
//
// the shorter side resized to R and the longer to ⌊R·long/short⌋ with
// PIL's BILINEAR (an antialiasing triangle filter as wide as the
// downscaling factor, in PIL's 8-bit fixed point, horizontally then
// vertically: the same bytes as PIL), then the central h×w cropped
// (offsets rounded half to even, as Python's round; black where the crop
// is larger than the resized image). Only the kept pixels are computed;
// this path allocates h·w·3 bytes plus one source row and the source rows'
// filtered columns, and refuses images of more than 2³⁰ pixels.
//
// The pixel values are those PIL's convert("RGB") gives for the image the
// standard decoders return: alpha is dropped, not composited (*image.NRGBA
// and *image.NRGBA64 keep their colour; a premultiplied *image.RGBA or
// *image.RGBA64 pixel is un-premultiplied first, so a fully transparent
// one is black); gray is replicated; a palette index beyond the palette is
// opaque black (as image/png and libpng); 16-bit samples keep their high
// byte (PIL's for 16-bit RGB and RGBA PNGs; PIL clips a 16-bit grayscale
// PNG at 255 instead, which Preprocess does not copy); *image.CMYK uses
// PIL's CMYK→RGB arithmetic. A *image.YCbCr — what image/jpeg returns for
// colour JPEGs — is converted as libjpeg(-turbo), which PIL uses, converts
// it: chroma upsampled with libjpeg's "fancy" triangle filter (not
// replicated, as YCbCr.At does) and libjpeg's fixed-point YCbCr→RGB
// rounding. What remains is the decoders' IDCTs: image/jpeg's and libjpeg's
// differ by one level in some samples, which makes some R, G, B values of
// a colour JPEG differ from PIL's by up to 3 (of 255) and those of a
// grayscale JPEG by up to 1 (testdata/preprocess).
//
// It returns an error, and writes nothing, for a model that declares no
// convention (ErrNoPreprocessing), an input that is not 3 channels, a nil
// or empty image, or a dst shorter than h*w*c. It allocates nothing for the
// standard library's image types (others are read through At: an
// NRGBA or NRGBA64 colour as it is, any other un-premultiplied).
func PreprocessImage(dst []float32, img image.Image, h, w, c int, p Preprocessing) error {
	if err := p.check(); err != nil {
		return err
	}
	if c != 3 {
		return fmt.Errorf("preprocess: the model's input has %d channels; Preprocess makes 3-channel RGB images", c)
	}
	if h < 1 || w < 1 || h > 1<<20 || w > 1<<20 {
		return fmt.Errorf("preprocess: bad input size %d×%d", h, w)
	}
	if n := h * w * c; len(dst) < n {
		return fmt.Errorf("preprocess: dst holds %d values, want at least %d (one %d×%d×%d image)", len(dst), n, h, w, c)
	}
	if img == nil {
		return errors.New("preprocess: nil image")
	}
	b := img.Bounds()
	if b.Empty() {
		return fmt.Errorf("preprocess: the image has no pixels (bounds %v)", b)
	}
	if b.Dx() <= 0 || b.Dy() <= 0 || int64(b.Dx()) > 1<<40 || int64(b.Dy()) > 1<<40 { // (≤ 0: the subtraction overflowed)
		return fmt.Errorf("preprocess: the image's bounds %v are too large", b)
	}
	if err := checkPixels(img); err != nil {
		return fmt.Errorf("preprocess: %w", err)
	}
	// The mode's per-channel operands, as float32: caffe subtracts sub
	// (B, G, R), torch and meanstd compute (x/255 − sub) / scale.
	var sub, scale [3]float32
	scale = [3]float32{1, 1, 1}
	switch p.Mode {
	case PrepCaffe:
		for i := range 3 {
			sub[i] = float32(caffeMean[i])
		}
	case PrepTorch, PrepMeanStd:
		mean, std := torchMean, torchStd
		if p.Mode == PrepMeanStd {
			mean, std = p.Mean, p.Std
		}
		for i := range 3 {
			sub[i], scale[i] = float32(mean[i]), float32(std[i])
		}
	}
	var pal [256][3]uint8
	if pm, ok := img.(*image.Paletted); ok {
		paletteRGB(&pal, pm.Palette)
	}
	// put writes the pixel o (of h·w, row-major) of R, G, B values r, g, bl.
	put := func(o int, r, g, bl uint8) {
		v := [3]float32{float32(r), float32(g), float32(bl)}
		switch p.Mode {
		case PrepTF:
			for i := range v {
				v[i] = v[i]/127.5 - 1
			}
		case PrepCaffe:
			v = [3]float32{v[2] - sub[0], v[1] - sub[1], v[0] - sub[2]}
		case PrepTorch, PrepMeanStd:
			for i := range v {
				v[i] = (v[i]/255 - sub[i]) / scale[i]
			}
		}
		if p.NCHW {
			plane := h * w
			dst[o], dst[plane+o], dst[2*plane+o] = v[0], v[1], v[2]
		} else {
			dst[3*o], dst[3*o+1], dst[3*o+2] = v[0], v[1], v[2]
		}
	}
	if p.Resize > 0 {
		rgb := make([]uint8, h*w*3)
		if err := resizeCrop(rgb, img, p.Resize, h, w, &pal); err != nil {
			return fmt.Errorf("preprocess: %w", err)
		}
		for o := range h * w {
			put(o, rgb[3*o], rgb[3*o+1], rgb[3*o+2])
		}
		return nil
	}
	sw, sh := b.Dx(), b.Dy()
	fx := float64(sw) / float64(w)
	fy := float64(sh) / float64(h)
	sy := fy * 0.5
	o := 0
	for y := 0; y < h; y++ {
		yi := b.Min.Y + min(int(sy), sh-1)
		sy += fy
		sx := fx * 0.5
		for x := 0; x < w; x++ {
			xi := b.Min.X + min(int(sx), sw-1)
			sx += fx
			r, g, bl := rgbAt(img, xi, yi, &pal)
			put(o, r, g, bl)
			o++
		}
	}
	return nil
}

// checkPixels reports a standard-library image whose pixel slices do not
// cover its bounds (a struct built by hand), which would make indexing
// panic.
func checkPixels(img image.Image) error {
	// plane checks that a plane of stride bytes per row holds rows×cols
	// samples of size bytes each.
	plane := func(name string, n, stride, rows, cols, size int) error {
		if stride < cols*size || n < (rows-1)*stride+cols*size {
			return fmt.Errorf("malformed %T: its %s (%d bytes, stride %d) does not hold %d×%d pixels of %d bytes", img, name, n, stride, cols, rows, size)
		}
		return nil
	}
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	switch m := img.(type) {
	case *image.RGBA:
		return plane("Pix", len(m.Pix), m.Stride, h, w, 4)
	case *image.NRGBA:
		return plane("Pix", len(m.Pix), m.Stride, h, w, 4)
	case *image.RGBA64:
		return plane("Pix", len(m.Pix), m.Stride, h, w, 8)
	case *image.NRGBA64:
		return plane("Pix", len(m.Pix), m.Stride, h, w, 8)
	case *image.Gray:
		return plane("Pix", len(m.Pix), m.Stride, h, w, 1)
	case *image.Gray16:
		return plane("Pix", len(m.Pix), m.Stride, h, w, 2)
	case *image.CMYK:
		return plane("Pix", len(m.Pix), m.Stride, h, w, 4)
	case *image.Paletted:
		return plane("Pix", len(m.Pix), m.Stride, h, w, 1)
	case *image.YCbCr:
		return checkYCbCr(m, plane)
	case *image.NYCbCrA:
		return checkYCbCr(&m.YCbCr, plane)
	}
	return nil
}

func checkYCbCr(m *image.YCbCr, plane func(name string, n, stride, rows, cols, size int) error) error {
	r := m.Rect
	if err := plane("Y", len(m.Y), m.YStride, r.Dy(), r.Dx(), 1); err != nil {
		return err
	}
	hs, vs := subsampling(m.SubsampleRatio)
	// The chroma samples upsample reads (Go's own layout, truncating
	// division included).
	cw := (r.Max.X-1)/hs - r.Min.X/hs + 1
	ch := (r.Max.Y-1)/vs - r.Min.Y/vs + 1
	if err := plane("Cb", len(m.Cb), m.CStride, ch, cw, 1); err != nil {
		return err
	}
	return plane("Cr", len(m.Cr), m.CStride, ch, cw, 1)
}

// subsampling returns a ratio's horizontal and vertical chroma
// subsampling factors (4:4:4 for an unknown one, as image.YCbCr does).
func subsampling(r image.YCbCrSubsampleRatio) (hs, vs int) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return 2, 1
	case image.YCbCrSubsampleRatio420:
		return 2, 2
	case image.YCbCrSubsampleRatio440:
		return 1, 2
	case image.YCbCrSubsampleRatio411:
		return 4, 1
	case image.YCbCrSubsampleRatio410:
		return 4, 2
	}
	return 1, 1
}

// paletteRGB fills t with the palette's colours without alpha (the
// non-premultiplied colour, as PIL's convert("RGB") of a "P" image) and
// opaque black beyond the palette.
func paletteRGB(t *[256][3]uint8, p color.Palette) {
	for i := range t {
		if i >= len(p) || p[i] == nil {
			t[i] = [3]uint8{}
			continue
		}
		if c, ok := p[i].(color.NRGBA); ok {
			t[i] = [3]uint8{c.R, c.G, c.B}
			continue
		}
		r, g, b := unpremultiply(p[i].RGBA())
		t[i] = [3]uint8{r, g, b}
	}
}

// rgbAt returns the 8-bit R, G, B PIL's convert("RGB") gives for pixel
// (x, y) of img (inside its bounds); pal is the palette of a
// *image.Paletted, made by paletteRGB.
func rgbAt(img image.Image, x, y int, pal *[256][3]uint8) (r, g, b uint8) {
	switch m := img.(type) {
	case *image.RGBA:
		i := m.PixOffset(x, y)
		s := m.Pix[i : i+4 : i+4]
		if s[3] == 0xff {
			return s[0], s[1], s[2]
		}
		return unpremultiply(uint32(s[0])*0x101, uint32(s[1])*0x101, uint32(s[2])*0x101, uint32(s[3])*0x101)
	case *image.NRGBA:
		i := m.PixOffset(x, y)
		s := m.Pix[i : i+3 : i+3]
		return s[0], s[1], s[2]
	case *image.YCbCr:
		return yccAt(m, x, y)
	case *image.NYCbCrA:
		return yccAt(&m.YCbCr, x, y)
	case *image.Gray:
		v := m.Pix[m.PixOffset(x, y)]
		return v, v, v
	case *image.Gray16:
		v := m.Pix[m.PixOffset(x, y)]
		return v, v, v
	case *image.Paletted:
		t := pal[m.Pix[m.PixOffset(x, y)]]
		return t[0], t[1], t[2]
	case *image.NRGBA64:
		i := m.PixOffset(x, y)
		return m.Pix[i], m.Pix[i+2], m.Pix[i+4]
	case *image.RGBA64:
		i := m.PixOffset(x, y)
		s := m.Pix[i : i+8 : i+8]
		if s[6] == 0xff && s[7] == 0xff {
			return s[0], s[2], s[4]
		}
		c := m.RGBA64At(x, y)
		return unpremultiply(uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A))
	case *image.CMYK:
		i := m.PixOffset(x, y)
		s := m.Pix[i : i+4 : i+4]
		return cmykRGB(s[0], s[1], s[2], s[3])
	}
	switch c := img.At(x, y).(type) {
	case nil:
		return 0, 0, 0
	case color.NRGBA: // not premultiplied: the colour as it is
		return c.R, c.G, c.B
	case color.NRGBA64:
		return uint8(c.R >> 8), uint8(c.G >> 8), uint8(c.B >> 8)
	default:
		return unpremultiply(c.RGBA())
	}
}

// unpremultiply turns a 16-bit alpha-premultiplied colour into the 8-bit
// colour without alpha, as color.NRGBAModel does (black when fully
// transparent).
func unpremultiply(r, g, b, a uint32) (uint8, uint8, uint8) {
	switch a {
	case 0xffff:
	case 0:
		return 0, 0, 0
	default: // a malformed colour may have a channel above its alpha
		r, g, b = min(r*0xffff/a, 0xffff), min(g*0xffff/a, 0xffff), min(b*0xffff/a, 0xffff)
	}
	return uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)
}

// cmykRGB is PIL's CMYK→RGB: R = (255 − K) − C·(255 − K)/255, the
// product rounded as PIL's MULDIV255.
func cmykRGB(c, m, y, k uint8) (uint8, uint8, uint8) {
	nk := 255 - int(k)
	f := func(v uint8) uint8 {
		t := int(v)*nk + 128
		return uint8(nk - ((t>>8)+t)>>8)
	}
	return f(c), f(m), f(y)
}

// yccAt converts pixel (x, y) of m as libjpeg does: luma as it is, chroma
// upsampled with libjpeg's fancy upsampling (jdsample.c: a triangle filter
// for 2:1 horizontal and 2:1 vertical subsampling, weights 3/4 and 1/4,
// with libjpeg's alternating rounding bias; plain replication for other
// ratios and for chroma no more than 2 samples wide), then libjpeg's
// YCbCr→RGB (jdcolor.c).
func yccAt(m *image.YCbCr, x, y int) (uint8, uint8, uint8) {
	yv := m.Y[m.YOffset(x, y)]
	cb := upsample(m, m.Cb, x, y)
	cr := upsample(m, m.Cr, x, y)
	return yccRGB(yv, cb, cr)
}

// yccRGB is libjpeg's ycc_rgb_convert: the JFIF equations in 16-bit fixed
// point, FIX(1.402) = 91881, FIX(0.34414) = 22554, FIX(0.71414) = 46802,
// FIX(1.772) = 116130, each term rounded with ONE_HALF before the shift.
func yccRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	yy := int32(y)
	b1, r1 := int32(cb)-128, int32(cr)-128
	r := yy + (91881*r1+1<<15)>>16
	g := yy + (-22554*b1-46802*r1+1<<15)>>16
	b := yy + (116130*b1+1<<15)>>16
	return clamp8(r), clamp8(g), clamp8(b)
}

func clamp8(v int32) uint8 {
	return uint8(min(max(v, 0), 255))
}

// upsample returns the chroma plane's value at luma pixel (x, y), as
// libjpeg-turbo's upsampler computes it.
func upsample(m *image.YCbCr, plane []uint8, x, y int) uint8 {
	hs, vs := subsampling(m.SubsampleRatio)
	r := m.Rect
	// The chroma samples the image covers, in absolute chroma coordinates;
	// libjpeg replicates the edge samples beyond them.
	x0, x1 := r.Min.X/hs, (r.Max.X-1)/hs
	y0, y1 := r.Min.Y/vs, (r.Max.Y-1)/vs
	at := func(cx, cy int) int32 {
		cx = min(max(cx, x0), x1)
		cy = min(max(cy, y0), y1)
		return int32(plane[(cy-y0)*m.CStride+(cx-x0)])
	}
	cx, cy := x/hs, y/vs
	fancyH := hs == 2 && x1-x0+1 > 2
	fancyV := vs == 2 && (hs == 1 || fancyH)
	switch {
	case fancyH && fancyV: // h2v2_fancy_upsample
		near := cy + 1
		if y%2 == 0 {
			near = cy - 1
		}
		col := func(c int) int32 { return 3*at(c, cy) + at(c, near) }
		if x%2 == 0 {
			return uint8((3*col(cx) + col(cx-1) + 8) >> 4)
		}
		return uint8((3*col(cx) + col(cx+1) + 7) >> 4)
	case fancyH: // h2v1_fancy_upsample
		if x%2 == 0 {
			return uint8((3*at(cx, cy) + at(cx-1, cy) + 1) >> 2)
		}
		return uint8((3*at(cx, cy) + at(cx+1, cy) + 2) >> 2)
	case fancyV: // h1v2_fancy_upsample
		if y%2 == 0 {
			return uint8((3*at(cx, cy) + at(cx, cy-1) + 1) >> 2)
		}
		return uint8((3*at(cx, cy) + at(cx, cy+1) + 2) >> 2)
	}
	return uint8(at(cx, cy))
}

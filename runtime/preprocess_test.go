package runtime

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg"
	_ "image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/runtime/npy"
)

// prepDir holds the test images and what Keras's pipeline (PIL + NumPy)
// makes of them: testdata/preprocess/make.py.
var prepDir = filepath.Join("..", "testdata", "preprocess")

// cifarPrep is models/lib/variants.rn's convention, the meanstd of make.py.
func cifarPrep() Preprocessing {
	p := Preprocessing{Mode: PrepMeanStd}
	for i, v := range [3]float64{125.3, 123.0, 113.9} {
		p.Mean[i] = v / 255
	}
	for i, v := range [3]float64{63.0, 62.1, 66.7} {
		p.Std[i] = v / 255
	}
	return p
}

func prepMode(mode string) Preprocessing {
	if mode == PrepMeanStd {
		return cifarPrep()
	}
	return Preprocessing{Mode: mode}
}

func decodeFile(t *testing.T, name string) image.Image {
	t.Helper()
	f, err := os.Open(filepath.Join(prepDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return img
}

func readExpected(t *testing.T, name string, h, w int) []float32 {
	t.Helper()
	want, shape, err := npy.Read(filepath.Join(prepDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(shape) != fmt.Sprint([]int{h, w, 3}) {
		t.Fatalf("%s: shape %v, want [%d %d 3]", name, shape, h, w)
	}
	return want
}

// compare returns the largest |got − want| and the fraction of equal values.
func compare(got, want []float32) (worst float64, same float64) {
	n := 0
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if !(d <= worst) {
			worst = d
		}
		if got[i] == want[i] {
			n++
		}
	}
	return worst, float64(n) / float64(len(want))
}

// TestPreprocessPIL compares PreprocessImage on images decoded by Go's
// image/png and image/jpeg with what Keras's pipeline gives (load_img's
// PIL decode, convert("RGB") and NEAREST resize, img_to_array, then
// preprocess_input), computed by testdata/preprocess/make.py with Pillow
// 9.4 (libjpeg-turbo) and NumPy 1.24: equal for PNGs, whatever their pixel
// type (RGBA with transparent pixels, gray, paletted with transparent
// entries); for JPEGs, the decoders' IDCTs differ by one level in some
// samples, which the YCbCr→RGB conversion can grow to 3 levels (of 255):
// measured at full size on these and on Go's own test JPEGs (every
// subsampling ratio, baseline and progressive), at most 3 for colour and 1
// for grayscale and CMYK; on the 32×48 samples here 2 and 1, with 97% of
// the values equal. (image/jpeg's own YCbCr.At, which replicates chroma,
// differs from PIL by up to 40 levels on the same files.)
func TestPreprocessPIL(t *testing.T) {
	images := []struct {
		name string
		typ  string  // the Go type image.Decode returns: the path tested
		tol  float64 // largest |difference| allowed, in 0..255 levels
		same float64 // smallest fraction of equal values
	}{
		{"cat.jpg", "*image.YCbCr 4:2:0", 3, 0.95},
		{"rocket.jpg", "*image.YCbCr 4:2:2", 3, 0.95},
		{"cmyk.jpg", "*image.CMYK", 1, 0.95},
		{"camera.jpg", "*image.Gray", 1, 0.95},
		{"coffee.png", "*image.NRGBA", 0, 1},
		{"astronaut.png", "*image.Gray", 0, 1},
		{"palette.png", "*image.Paletted", 0, 1},
	}
	const h, w = 32, 48
	for _, c := range images {
		img := decodeFile(t, c.name)
		typ := fmt.Sprintf("%T", img)
		if y, ok := img.(*image.YCbCr); ok {
			typ += " " + strings.TrimPrefix(y.SubsampleRatio.String(), "YCbCrSubsampleRatio")
			typ = typ[:len(typ)-2] + ":" + typ[len(typ)-2:len(typ)-1] + ":" + typ[len(typ)-1:]
		}
		if typ != c.typ {
			t.Errorf("%s decodes to %s, want %s", c.name, typ, c.typ)
		}
		got := make([]float32, h*w*3)
		if err := PreprocessImage(got, img, h, w, 3, Preprocessing{Mode: PrepRaw}); err != nil {
			t.Fatal(err)
		}
		worst, same := compare(got, readExpected(t, c.name+"-raw-32x48.npy", h, w))
		t.Logf("%-14s %-20s max |Go − PIL| = %g levels, %.1f%% equal", c.name, typ, worst, 100*same)
		if worst > c.tol || same < c.same {
			t.Errorf("%s: max difference %g levels (allowed %g), %.1f%% equal (want ≥ %.0f%%)", c.name, worst, c.tol, 100*same, 100*c.same)
		}
	}
	// Every mode, on a photo with transparent pixels (resized) and on every
	// value 0..255 of every channel (not resized), and an enlargement.
	for _, mode := range []string{PrepRaw, PrepTF, PrepCaffe, PrepTorch, PrepMeanStd} {
		for _, c := range []struct {
			name string
			h, w int
		}{{"coffee.png", 32, 48}, {"ramp.png", 16, 16}} {
			got := make([]float32, c.h*c.w*3)
			if err := PreprocessImage(got, decodeFile(t, c.name), c.h, c.w, 3, prepMode(mode)); err != nil {
				t.Fatal(err)
			}
			want := readExpected(t, fmt.Sprintf("%s-%s-%dx%d.npy", c.name, mode, c.h, c.w), c.h, c.w)
			if worst, _ := compare(got, want); worst > 1e-6 {
				t.Errorf("%s, %s: max difference %g", c.name, mode, worst)
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Errorf("%s, %s: value %d = %v, NumPy's %v", c.name, mode, i, got[i], want[i])
					break
				}
			}
		}
	}
	got := make([]float32, 20*37*3)
	if err := PreprocessImage(got, decodeFile(t, "ramp.png"), 20, 37, 3, Preprocessing{Mode: PrepRaw}); err != nil {
		t.Fatal(err)
	}
	if worst, _ := compare(got, readExpected(t, "ramp.png-raw-20x37.npy", 20, 37)); worst != 0 {
		t.Errorf("ramp.png enlarged to 20×37: max difference %g", worst)
	}
}

// TestPreprocessNearest: the source pixel of every output pixel is PIL's
// NEAREST choice, for every size from 1 to 20 into every size from 1 to 20
// and some large ones (testdata/preprocess/nearest.npy, made by PIL), in
// both dimensions; ⌊(j + ½)·src/dst⌋ computed exactly would differ where
// it is an integer (2 → 7: output 3 reads pixel 0 in PIL, 1 by the
// formula).
func TestPreprocessNearest(t *testing.T) {
	rec, _, err := npy.Read(filepath.Join(prepDir, "nearest.npy"))
	if err != nil {
		t.Fatal(err)
	}
	pairs := 0
	for len(rec) > 0 {
		src, dst := int(rec[0]), int(rec[1])
		want := rec[2 : 2+dst]
		rec = rec[2+dst:]
		pairs++
		// A row of src pixels whose R, G hold the column number, and the
		// same as a column.
		row := image.NewNRGBA(image.Rect(0, 0, src, 1))
		col := image.NewNRGBA(image.Rect(0, 0, 1, src))
		for i := 0; i < src; i++ {
			c := color.NRGBA{uint8(i), uint8(i >> 8), 0, 255}
			row.SetNRGBA(i, 0, c)
			col.SetNRGBA(0, i, c)
		}
		got := make([]float32, dst*3)
		for _, m := range []image.Image{row, col} {
			h, w := 1, dst
			if m == col {
				h, w = dst, 1
			}
			if err := PreprocessImage(got, m, h, w, 3, Preprocessing{Mode: PrepRaw}); err != nil {
				t.Fatal(err)
			}
			for j := 0; j < dst; j++ {
				if idx := got[3*j] + 256*got[3*j+1]; idx != want[j] {
					t.Errorf("%d → %d (%s): output %d reads pixel %v, PIL's %v", src, dst, map[bool]string{true: "rows", false: "columns"}[m == col], j, idx, want[j])
					break
				}
			}
		}
	}
	if pairs < 400 {
		t.Errorf("nearest.npy holds %d size pairs", pairs)
	}
}

// TestPreprocessPixelTypes: the same colours give the same values in every
// image type, with alpha dropped (not composited); 16-bit samples keep
// their high byte (what PIL gives for 16-bit RGB and RGBA PNGs, measured:
// make.py's Pillow on PNGs that image/png wrote); CMYK follows PIL's
// arithmetic (values measured with Pillow 9.4).
func TestPreprocessPixelTypes(t *testing.T) {
	raw := Preprocessing{Mode: PrepRaw}
	pixels := func(img image.Image) []float32 {
		t.Helper()
		b := img.Bounds()
		got := make([]float32, b.Dx()*b.Dy()*3)
		if err := PreprocessImage(got, img, b.Dy(), b.Dx(), 3, raw); err != nil {
			t.Fatal(err)
		}
		return got
	}
	check := func(name string, img image.Image, want [][3]uint8) {
		t.Helper()
		got := pixels(img)
		for i, w := range want {
			if g := [3]float32{got[3*i], got[3*i+1], got[3*i+2]}; g != [3]float32{float32(w[0]), float32(w[1]), float32(w[2])} {
				t.Errorf("%s: pixel %d = %v, want %v", name, i, g, w)
			}
		}
	}
	cols := [][4]uint8{{255, 0, 0, 255}, {10, 200, 30, 128}, {90, 80, 70, 0}, {0, 0, 0, 255}, {255, 255, 255, 1}}
	nrgba := image.NewNRGBA(image.Rect(0, 0, len(cols), 1))
	rgba := image.NewRGBA(image.Rect(0, 0, len(cols), 1))
	var want, wantPremul [][3]uint8
	for i, c := range cols {
		n := color.NRGBA{c[0], c[1], c[2], c[3]}
		nrgba.SetNRGBA(i, 0, n)
		rgba.Set(i, 0, n)
		want = append(want, [3]uint8{c[0], c[1], c[2]})
		u := color.NRGBAModel.Convert(rgba.At(i, 0)).(color.NRGBA)
		wantPremul = append(wantPremul, [3]uint8{u.R, u.G, u.B})
	}
	check("NRGBA", nrgba, want)
	check("RGBA (premultiplied)", rgba, wantPremul)
	if wantPremul[2] != [3]uint8{} || wantPremul[0] != want[0] {
		t.Errorf("premultiplied: a transparent pixel keeps no colour, an opaque one its own: %v", wantPremul)
	}
	check("generic (At)", image.Image(struct{ image.Image }{nrgba}), want)
	check("generic, At gives nil", nilImage{}, [][3]uint8{{0, 0, 0}, {0, 0, 0}})

	gray := image.NewGray(image.Rect(0, 0, 2, 1))
	gray.Pix = []uint8{7, 250}
	check("Gray", gray, [][3]uint8{{7, 7, 7}, {250, 250, 250}})
	g16 := image.NewGray16(image.Rect(0, 0, 2, 1))
	g16.SetGray16(0, 0, color.Gray16{0x12ff})
	g16.SetGray16(1, 0, color.Gray16{0xff00})
	check("Gray16", g16, [][3]uint8{{0x12, 0x12, 0x12}, {0xff, 0xff, 0xff}})

	// 16-bit RGB and RGBA: PIL's values for (v, v/2, 65535 − v), with
	// alpha 65535 (an RGB PNG) and 30000 (an RGBA PNG, not composited).
	vals := []uint16{0, 255, 256, 257, 1000, 40000, 65535, 65280, 32895, 32896}
	pil := [][3]uint8{{0, 0, 255}, {0, 0, 255}, {1, 0, 254}, {1, 0, 254}, {3, 1, 252}, {156, 78, 99}, {255, 127, 0}, {255, 127, 0}, {128, 64, 127}, {128, 64, 127}}
	r64 := image.NewRGBA64(image.Rect(0, 0, len(vals), 1))
	n64 := image.NewNRGBA64(image.Rect(0, 0, len(vals), 1))
	for i, v := range vals {
		r64.SetRGBA64(i, 0, color.RGBA64{v, v / 2, 65535 - v, 65535})
		n64.SetNRGBA64(i, 0, color.NRGBA64{v, v / 2, 65535 - v, 30000})
	}
	check("RGBA64", r64, pil)
	check("NRGBA64", n64, pil)

	// Paletted: NRGBA entries keep their colour under any alpha; an index
	// beyond the palette is opaque black, as image/png decodes it.
	pal := image.NewPaletted(image.Rect(0, 0, 4, 1), color.Palette{color.NRGBA{200, 100, 50, 0}, color.RGBA{10, 20, 30, 255}, color.Gray{77}})
	pal.Pix = []uint8{0, 1, 2, 9}
	check("Paletted", pal, [][3]uint8{{200, 100, 50}, {10, 20, 30}, {77, 77, 77}, {0, 0, 0}})

	cmyk := image.NewCMYK(image.Rect(0, 0, 5, 1))
	cmyk.Pix = []uint8{0, 0, 0, 0, 255, 0, 0, 0, 100, 50, 25, 128, 200, 200, 200, 200, 10, 20, 30, 40}
	check("CMYK", cmyk, [][3]uint8{{255, 255, 255}, {0, 255, 255}, {77, 102, 115}, {12, 12, 12}, {207, 198, 190}})

	// YCbCr 4:4:4: libjpeg's conversion, where color.YCbCrToRGB differs.
	ycc := image.NewYCbCr(image.Rect(0, 0, 3, 1), image.YCbCrSubsampleRatio444)
	ycc.Y = []uint8{16, 128, 235}
	ycc.Cb = []uint8{128, 90, 240}
	ycc.Cr = []uint8{128, 200, 16}
	var wantYCC [][3]uint8
	for i := range ycc.Y {
		// The JFIF equations, rounded to nearest.
		y, cb, cr := float64(ycc.Y[i]), float64(ycc.Cb[i])-128, float64(ycc.Cr[i])-128
		c := func(v float64) uint8 { return uint8(math.Min(255, math.Max(0, math.Floor(v+0.5)))) }
		wantYCC = append(wantYCC, [3]uint8{c(y + 1.402*cr), c(y - 0.344136*cb - 0.714136*cr), c(y + 1.772*cb)})
	}
	check("YCbCr 4:4:4", ycc, wantYCC)
	nycc := &image.NYCbCrA{YCbCr: *ycc, A: []uint8{0, 0, 0}, AStride: 3}
	check("NYCbCrA (alpha dropped)", nycc, wantYCC)
}

// TestPreprocessYCbCrUpsampling: libjpeg's fancy upsampling, by hand, on
// a 4:2:2 and a 4:2:0 image whose chroma steps from 0 to 200.
func TestPreprocessYCbCrUpsampling(t *testing.T) {
	// 4:2:2, 8 pixels wide: chroma samples 0 0 200 200 in Cb; Y = 128, Cr = 128.
	m := image.NewYCbCr(image.Rect(0, 0, 8, 1), image.YCbCrSubsampleRatio422)
	for i := range m.Y {
		m.Y[i] = 128
	}
	copy(m.Cb, []uint8{0, 0, 200, 200})
	for i := range m.Cr {
		m.Cr[i] = 128
	}
	// h2v1: even outputs (3·c + left + 1) >> 2, odd (3·c + right + 2) >> 2.
	wantCb := []int32{0, 0, 0, 50, 150, 200, 200, 200}
	got := make([]float32, 8*3)
	if err := PreprocessImage(got, m, 1, 8, 3, Preprocessing{Mode: PrepRaw}); err != nil {
		t.Fatal(err)
	}
	for x, cb := range wantCb {
		r, g, b := yccRGB(128, uint8(cb), 128)
		if w := [3]float32{float32(r), float32(g), float32(b)}; [3]float32(got[3*x:3*x+3]) != w {
			t.Errorf("4:2:2 pixel %d = %v, want %v (Cb %d)", x, got[3*x:3*x+3], w, cb)
		}
	}
	// 4:2:0, 6×4: Cb rows 0 and 160 (columns equal), so the vertical
	// filter alone: colsum = 3·near + far, (4·colsum + 8) >> 4 at the left
	// edge, 3/4·colsum + 1/4·neighbour elsewhere (equal columns: the same).
	m = image.NewYCbCr(image.Rect(0, 0, 6, 4), image.YCbCrSubsampleRatio420)
	for i := range m.Y {
		m.Y[i] = 100
	}
	for i := range m.Cr {
		m.Cr[i] = 128
	}
	for i := range m.Cb {
		if i/m.CStride == 1 {
			m.Cb[i] = 160
		}
	}
	rows := []int32{0, (4*(3*0+160) + 7) >> 4, (4*(3*160+0) + 8) >> 4, 160}
	got = make([]float32, 4*6*3)
	if err := PreprocessImage(got, m, 4, 6, 3, Preprocessing{Mode: PrepRaw}); err != nil {
		t.Fatal(err)
	}
	for y, cb := range rows {
		for x := 0; x < 6; x++ {
			r, g, b := yccRGB(100, uint8(cb), 128)
			i := 3 * (y*6 + x)
			if w := [3]float32{float32(r), float32(g), float32(b)}; [3]float32(got[i:i+3]) != w {
				t.Errorf("4:2:0 pixel (%d, %d) = %v, want %v (Cb %d)", x, y, got[i:i+3], w, cb)
			}
		}
	}
}

// TestPreprocessYCbCrBounds: sub-images at odd offsets and every
// subsampling ratio, resized up and down, stay inside the planes.
func TestPreprocessYCbCrBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ratios := []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410}
	dst := make([]float32, 9*13*3)
	for _, r := range ratios {
		for _, size := range [][2]int{{1, 1}, {2, 3}, {5, 4}, {17, 9}} {
			m := image.NewYCbCr(image.Rect(0, 0, size[0], size[1]), r)
			for _, p := range [][]uint8{m.Y, m.Cb, m.Cr} {
				for i := range p {
					p[i] = uint8(rng.IntN(256))
				}
			}
			subs := []image.Image{m}
			if size[0] > 2 && size[1] > 2 {
				subs = append(subs, m.SubImage(image.Rect(1, 1, size[0], size[1])), m.SubImage(image.Rect(1, 1, 2, 2)))
			}
			for _, s := range subs {
				for _, hw := range [][2]int{{1, 1}, {9, 13}, {3, 2}} {
					if err := PreprocessImage(dst, s, hw[0], hw[1], 3, Preprocessing{Mode: PrepTF}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
}

// TestPreprocessErrors: a model without a convention, a non-RGB input, a
// nil or empty image, a short dst and a broken convention are errors, and
// dst is left untouched.
func TestPreprocessErrors(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	sentinel := float32(-12345)
	dst := make([]float32, 8*8*3)
	for i := range dst {
		dst[i] = sentinel
	}
	tf := Preprocessing{Mode: PrepTF}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"no convention", PreprocessImage(dst, img, 8, 8, 3, Preprocessing{}), "declares no input preprocessing"},
		{"gray model", PreprocessImage(dst, img, 8, 8, 1, tf), "the model's input has 1 channels; Preprocess makes 3-channel RGB images"},
		{"nil image", PreprocessImage(dst, nil, 8, 8, 3, tf), "nil image"},
		{"empty image", PreprocessImage(dst, image.NewRGBA(image.Rect(3, 3, 3, 9)), 8, 8, 3, tf), "the image has no pixels (bounds (3,3)-(3,9))"},
		{"short dst", PreprocessImage(dst[:8*8*3-1], img, 8, 8, 3, tf), "dst holds 191 values, want at least 192 (one 8×8×3 image)"},
		{"nil dst", PreprocessImage(nil, img, 8, 8, 3, tf), "dst holds 0 values"},
		{"zero size", PreprocessImage(dst, img, 0, 8, 3, tf), "bad input size 0×8"},
		{"unknown mode", PreprocessImage(dst, img, 8, 8, 3, Preprocessing{Mode: "keras"}), `unknown preprocessing "keras"`},
		{"zero std", PreprocessImage(dst, img, 8, 8, 3, Preprocessing{Mode: PrepMeanStd, Std: [3]float64{1, 0, 1}}), "want means and stds that are finite float32s, the stds positive"},
		{"NaN mean", PreprocessImage(dst, img, 8, 8, 3, Preprocessing{Mode: PrepMeanStd, Mean: [3]float64{math.NaN(), 0, 0}, Std: [3]float64{1, 1, 1}}), "want means and stds that are finite float32s"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, c.err, c.want)
		}
	}
	if err := PreprocessImage(dst, img, 8, 8, 3, Preprocessing{}); !errors.Is(err, ErrNoPreprocessing) {
		t.Errorf("no convention: %v is not ErrNoPreprocessing", err)
	}
	for i, v := range dst {
		if v != sentinel {
			t.Fatalf("a failed call wrote dst[%d]", i)
		}
	}
}

// TestPreprocessAllocs: no allocation for the image types the standard
// decoders return.
func TestPreprocessAllocs(t *testing.T) {
	r := image.Rect(0, 0, 37, 23)
	imgs := []image.Image{image.NewRGBA(r), image.NewNRGBA(r), image.NewGray(r), image.NewGray16(r), image.NewRGBA64(r), image.NewNRGBA64(r), image.NewCMYK(r),
		image.NewPaletted(r, color.Palette{color.RGBA{1, 2, 3, 255}, color.NRGBA{4, 5, 6, 7}, color.RGBA{0, 0, 0, 0}}),
		image.NewYCbCr(r, image.YCbCrSubsampleRatio420), image.NewYCbCr(r, image.YCbCrSubsampleRatio422), image.NewNYCbCrA(r, image.YCbCrSubsampleRatio444)}
	dst := make([]float32, 16*16*3)
	p := cifarPrep()
	for _, img := range imgs {
		if n := testing.AllocsPerRun(3, func() { _ = PreprocessImage(dst, img, 16, 16, 3, p) }); n != 0 {
			t.Errorf("%T: %v allocations per call", img, n)
		}
	}
}

// TestPreprocessMalformed: an image struct whose pixels do not cover its
// bounds, and bounds whose width overflows, are errors, not panics.
func TestPreprocessMalformed(t *testing.T) {
	dst := make([]float32, 4*4*3)
	ycc := image.NewYCbCr(image.Rect(0, 0, 9, 9), image.YCbCrSubsampleRatio420)
	shortCb := *ycc
	shortCb.Cb = shortCb.Cb[:len(shortCb.Cb)-1]
	badStride := *ycc
	badStride.CStride = 2
	cases := []struct {
		img  image.Image
		want string
	}{
		{&image.RGBA{Pix: make([]uint8, 15), Stride: 4, Rect: image.Rect(0, 0, 2, 2)}, "malformed *image.RGBA: its Pix (15 bytes, stride 4) does not hold 2×2 pixels of 4 bytes"},
		{&image.NRGBA{Pix: make([]uint8, 16), Stride: 4, Rect: image.Rect(0, 0, 2, 2)}, "stride 4) does not hold 2×2"},
		{&image.Gray{Pix: make([]uint8, 100), Stride: -1, Rect: image.Rect(0, 0, 2, 2)}, "malformed *image.Gray"},
		{&image.Gray16{Pix: make([]uint8, 7), Stride: 4, Rect: image.Rect(0, 0, 2, 2)}, "malformed *image.Gray16"},
		{&image.NRGBA64{Pix: make([]uint8, 31), Stride: 16, Rect: image.Rect(0, 0, 2, 2)}, "malformed *image.NRGBA64"},
		{&image.RGBA64{Pix: make([]uint8, 31), Stride: 16, Rect: image.Rect(0, 0, 2, 2)}, "malformed *image.RGBA64"},
		{&image.CMYK{Pix: make([]uint8, 15), Stride: 8, Rect: image.Rect(0, 0, 2, 2)}, "malformed *image.CMYK"},
		{&image.Paletted{Pix: make([]uint8, 3), Stride: 2, Rect: image.Rect(0, 0, 2, 2)}, "malformed *image.Paletted"},
		{&shortCb, "malformed *image.YCbCr: its Cb (24 bytes, stride 5) does not hold 5×5 pixels of 1 bytes"},
		{&badStride, "malformed *image.YCbCr: its Cb"},
		{&image.NYCbCrA{YCbCr: shortCb}, "malformed *image.NYCbCrA: its Cb"},
		{image.NewRGBA(image.Rect(0, 0, 0, 0)), "has no pixels"},
		{hugeImage{}, "bounds"},
	}
	for _, c := range cases {
		err := PreprocessImage(dst, c.img, 4, 4, 3, Preprocessing{Mode: PrepTF})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%T: error %v, want it to contain %q", c.img, err, c.want)
		}
	}
	if err := PreprocessImage(dst, ycc, 4, 4, 3, Preprocessing{Mode: PrepTF}); err != nil {
		t.Errorf("well-formed YCbCr: %v", err)
	}
}

// hugeImage has bounds whose width overflows an int.
type hugeImage struct{}

func (hugeImage) ColorModel() color.Model { return color.RGBAModel }
func (hugeImage) Bounds() image.Rectangle {
	return image.Rect(math.MinInt64/2-1, 0, math.MaxInt64/2+1, 1)
}
func (hugeImage) At(x, y int) color.Color { panic("At called") }

// nilImage's At returns nil.
type nilImage struct{}

func (nilImage) ColorModel() color.Model { return color.RGBAModel }
func (nilImage) Bounds() image.Rectangle { return image.Rect(0, 0, 2, 1) }
func (nilImage) At(x, y int) color.Color { return nil }

// TestPreprocessTorchvision compares PreprocessImage with Resize set against
// torchvision's own evaluation transform (Resize, CenterCrop, ToTensor,
// Normalize on the PIL image, testdata/preprocess/make.py): bit for bit on
// PNGs — PIL's fixed-point BILINEAR reproduced — for downscaling by 1.25
// and by 5, upscaling, a crop larger than the resized image (padded
// black) and crop offsets that round half to even; a colour JPEG within
// the decoders' IDCT difference (TestPreprocessPIL).
func TestPreprocessTorchvision(t *testing.T) {
	for _, c := range []struct {
		name   string
		resize int
		h, w   int
		tol    float64 // in 0..255 levels
	}{
		{"coffee.png", 64, 55, 57, 0},
		{"coffee.png", 16, 16, 16, 0},
		{"ramp.png", 24, 20, 20, 0},
		{"palette.png", 32, 40, 36, 0},
		{"astronaut.png", 57, 56, 56, 0},
		{"cat.jpg", 100, 96, 96, 3},
	} {
		file := fmt.Sprintf("%s-torchvision-%d-%dx%d.npy", c.name, c.resize, c.h, c.w)
		want, shape, err := npy.Read(filepath.Join(prepDir, file))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(shape) != fmt.Sprint([]int{3, c.h, c.w}) {
			t.Fatalf("%s: shape %v, want [3 %d %d]", file, shape, c.h, c.w)
		}
		got := make([]float32, 3*c.h*c.w)
		p := Preprocessing{Mode: PrepTorch, NCHW: true, Resize: c.resize}
		if err := PreprocessImage(got, decodeFile(t, c.name), c.h, c.w, 3, p); err != nil {
			t.Fatal(err)
		}
		// One level is 1/(255·std) ≥ 1/(255·0.229) after Normalize.
		worst, same := compare(got, want)
		levels := worst * 255 * 0.229
		t.Logf("%-14s Resize(%d) CenterCrop(%d, %d): max |Go − torchvision| = %.3g (%.2f levels), %.1f%% equal", c.name, c.resize, c.h, c.w, worst, levels, 100*same)
		if c.tol == 0 {
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					ch, y, x := i/(c.h*c.w), i/c.w%c.h, i%c.w
					t.Errorf("%s: channel %d pixel (%d, %d) = %v, torchvision's %v", file, ch, y, x, got[i], want[i])
					break
				}
			}
		} else if levels > c.tol+0.01 {
			t.Errorf("%s: max difference %.2f levels, allowed %g", file, levels, c.tol)
		}
	}
}

// TestPreprocessResizeRefuses: a resize out of range, and an image too
// large to resize (image.Uniform's bounds: 4·10¹⁸ pixels), are errors that
// write nothing.
func TestPreprocessResizeRefuses(t *testing.T) {
	small := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for _, c := range []struct {
		img    image.Image
		resize int
		want   string
	}{
		{small, -1, "resize -1: want 1 to 65536"},
		{small, MaxResize + 1, "resize 65537"},
		{image.NewUniform(color.White), 256, "more than 1073741824 pixels to resize"},
	} {
		dst := make([]float32, 2*2*3)
		for i := range dst {
			dst[i] = 7
		}
		err := PreprocessImage(dst, c.img, 2, 2, 3, Preprocessing{Mode: PrepTorch, Resize: c.resize})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("resize %d: error %v, want one containing %q", c.resize, err, c.want)
		}
		for _, v := range dst {
			if v != 7 {
				t.Fatalf("resize %d: dst written despite the error", c.resize)
			}
		}
	}
}

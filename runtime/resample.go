package runtime

import (
	"fmt"
	"image"
	"math"
)

// torchvision's evaluation transform, Resize(R) then CenterCrop((h, w)),
// on an image opened with PIL: Resize scales the shorter side to R and the
// longer to ⌊R·long/short⌋ with PIL's Image.resize(BILINEAR), which is a
// separable convolution with the triangle filter widened by the
// downscaling factor (an antialiasing filter, not 2×2 interpolation),
// computed horizontally then vertically in 8-bit fixed point with a
// rounding to 0..255 after each pass (Pillow's libImaging/Resample.c).
// CenterCrop takes the central h×w, its offsets rounded half to even (as
// Python's round), padding with black where the crop is larger than the
// resized image. This file computes only the pixels the crop keeps, each
// exactly as PIL computes it.

// maxResizePixels bounds the source images resizeCrop reads: it reads
// every pixel of the rows the crop needs, and PIL refuses images this
// large as decompression bombs too.
const maxResizePixels = 1 << 30

// pilPrecision is Resample.c's PRECISION_BITS: the coefficients are
// fixed-point numbers with 22 fractional bits.
const pilPrecision = 32 - 8 - 2

// resizedSize is torchvision's _compute_resized_output_size for Resize(r):
// the shorter side becomes r, the longer ⌊r·long/short⌋ (a float64
// division, as Python's /).
func resizedSize(w, h, r int) (rw, rh int) {
	short, long := w, h
	if w > h {
		short, long = h, w
	}
	nl := int(float64(r*long) / float64(short))
	if w <= h {
		return r, nl
	}
	return nl, r
}

// cropOffset is CenterCrop's offset of a crop of n in a side of size: the
// crop starts at source index off (negative: padded; torchvision pads
// (n−size)//2 before), Python's round((size − n)/2) otherwise.
func cropOffset(size, n int) int {
	if n > size {
		return -((n - size) / 2)
	}
	d := size - n
	if d%2 == 0 || (d/2)%2 == 0 {
		return d / 2 // exact, or x.5 rounding down to the even x
	}
	return d/2 + 1
}

// pilCoeffs are the bilinear filter's fixed-point coefficients of output
// indices [o0, o0+n) of a resize from in to out samples (precompute_coeffs
// and normalize_coeffs_8bpc): output i reads inputs lo[i] .. lo[i]+cnt[i]−1
// with weights k[i*ksize:].
type pilCoeffs struct {
	ksize   int
	lo, cnt []int
	k       []int32
}

func bilinearCoeffs(in, out, o0, n int) pilCoeffs {
	scale := float64(in) / float64(out)
	filterscale := max(scale, 1)
	support := 1 * filterscale // the triangle's support, 1, widened
	ksize := int(math.Ceil(support))*2 + 1
	c := pilCoeffs{ksize: ksize, lo: make([]int, n), cnt: make([]int, n), k: make([]int32, n*ksize)}
	w := make([]float64, ksize)
	ss := 1 / filterscale
	for i := range n {
		center := (float64(o0+i) + 0.5) * scale
		xmin := max(int(center-support+0.5), 0) // C's (int) truncates toward zero; negatives end at 0 either way
		xmax := min(int(center+support+0.5), in) - xmin
		ww := 0.0
		for x := range xmax {
			t := (float64(x+xmin) - center + 0.5) * ss
			if t < 0 {
				t = -t
			}
			w[x] = 0
			if t < 1 {
				w[x] = 1 - t
			}
			ww += w[x]
		}
		for x := range xmax {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			// (int)(±0.5 + v·2²²): the product is exact (a power of two).
			if v < 0 {
				c.k[i*ksize+x] = int32(-0.5 + v*(1<<pilPrecision))
			} else {
				c.k[i*ksize+x] = int32(0.5 + v*(1<<pilPrecision))
			}
		}
		c.lo[i], c.cnt[i] = xmin, xmax
	}
	return c
}

// clipPIL is Resample.c's clip8: the fixed-point sum's integer part,
// clamped to 0..255.
func clipPIL(ss int32) uint8 {
	return uint8(min(max(ss>>pilPrecision, 0), 255))
}

// resizeCrop writes into rgb (h·w·3 bytes, row-major R, G, B) the h×w
// pixels of img that torchvision's Resize(r) + CenterCrop((h, w)) keep, as
// PIL computes them from the R, G, B values rgbAt gives.
func resizeCrop(rgb []uint8, img image.Image, r, h, w int, pal *[256][3]uint8) error {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	if int64(sw)*int64(sh) > maxResizePixels {
		return fmt.Errorf("the image is %d×%d: more than %d pixels to resize", sw, sh, maxResizePixels)
	}
	rw, rh := resizedSize(sw, sh, r)
	if rw < 1 || rh < 1 {
		return fmt.Errorf("resizing the %d×%d image's shorter side to %d makes it %d×%d", sw, sh, r, rw, rh)
	}
	left, top := cropOffset(rw, w), cropOffset(rh, h)
	// The resized columns and rows the crop keeps: [c0, c1) and [r0, r1).
	c0, c1 := max(left, 0), min(left+w, rw)
	r0, r1 := max(top, 0), min(top+h, rh)
	clear(rgb[:h*w*3])
	if c0 >= c1 || r0 >= r1 {
		return nil
	}
	hc := bilinearCoeffs(sw, rw, c0, c1-c0)
	vc := bilinearCoeffs(sh, rh, r0, r1-r0)
	// The source rows the vertical pass reads, and the horizontal pass's
	// output for them (PIL's imTemp, the kept columns only).
	y0 := vc.lo[0]
	y1 := vc.lo[len(vc.lo)-1] + vc.cnt[len(vc.cnt)-1]
	nc := c1 - c0
	tmp := make([]uint8, (y1-y0)*nc*3)
	row := make([]uint8, sw*3)
	for y := y0; y < y1; y++ {
		for x := range sw {
			row[3*x], row[3*x+1], row[3*x+2] = rgbAt(img, b.Min.X+x, b.Min.Y+y, pal)
		}
		t := tmp[(y-y0)*nc*3:]
		for i := range nc {
			k := hc.k[i*hc.ksize:]
			s0, s1, s2 := int32(1<<(pilPrecision-1)), int32(1<<(pilPrecision-1)), int32(1<<(pilPrecision-1))
			for x := range hc.cnt[i] {
				p := row[3*(hc.lo[i]+x):]
				s0 += int32(p[0]) * k[x]
				s1 += int32(p[1]) * k[x]
				s2 += int32(p[2]) * k[x]
			}
			t[3*i], t[3*i+1], t[3*i+2] = clipPIL(s0), clipPIL(s1), clipPIL(s2)
		}
	}
	for j := range r1 - r0 {
		k := vc.k[j*vc.ksize:]
		o := ((r0-top+j)*w + (c0 - left)) * 3
		for i := range nc {
			s0, s1, s2 := int32(1<<(pilPrecision-1)), int32(1<<(pilPrecision-1)), int32(1<<(pilPrecision-1))
			for y := range vc.cnt[j] {
				p := tmp[((vc.lo[j]-y0+y)*nc+i)*3:]
				s0 += int32(p[0]) * k[y]
				s1 += int32(p[1]) * k[y]
				s2 += int32(p[2]) * k[y]
			}
			rgb[o+3*i], rgb[o+3*i+1], rgb[o+3*i+2] = clipPIL(s0), clipPIL(s1), clipPIL(s2)
		}
	}
	return nil
}

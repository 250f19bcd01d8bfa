package serve

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // BYTES inputs: JPEG
	_ "image/png"  // and PNG
	"net/http"
	"strconv"
)

// images reads a BYTES input of n encoded JPEG or PNG images, shape [n]:
// in JSON an array of n base64 strings, in binary data n elements of a
// 4-byte little-endian length and the bytes. Each image's header is
// checked against MaxImagePixels before it is decoded; then
// Config.Preprocess makes it the model's input.
func (h *handler) images(in *inputTensor, data []byte, isBin bool) ([]float32, int, *httpError) {
	if h.cfg.Preprocess == nil {
		return nil, 0, errorf(http.StatusBadRequest, "input %q: datatype BYTES: model %q takes no encoded images (it declares no preprocessing convention, or the server was started without one): send FP32 tensors", in.Name, h.cfg.Name)
	}
	if len(in.Shape) != 1 {
		return nil, 0, errorf(http.StatusBadRequest, "input %q: datatype BYTES: shape has %d dimensions: want [n], one encoded image per element", in.Name, len(in.Shape))
	}
	n, err := strconv.ParseInt(string(in.Shape[0]), 10, 64)
	if err != nil || n < 1 {
		return nil, 0, errorf(http.StatusBadRequest, "input %q: shape [%s]: want [n], n from 1 to %d images", in.Name, in.Shape[0], h.cfg.MaxBatch)
	}
	if n > int64(h.cfg.MaxBatch) {
		return nil, 0, errorf(http.StatusBadRequest, "input %q: %d images: at most %d per request", in.Name, n, h.cfg.MaxBatch)
	}
	var elems [][]byte
	if isBin {
		if elems, err = SplitBytes(data, int(n)); err != nil {
			return nil, 0, errorf(http.StatusBadRequest, "input %q: binary data %v", in.Name, err)
		}
	} else {
		var strs []string
		if err := json.Unmarshal(data, &strs); err != nil {
			return nil, 0, errorf(http.StatusBadRequest, "input %q: datatype BYTES: data must be an array of base64 strings, one encoded image each: %v", in.Name, err)
		}
		for k, s := range strs {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, 0, errorf(http.StatusBadRequest, "input %q: element %d is not base64 (standard alphabet, padded): %v", in.Name, k, err)
			}
			elems = append(elems, b)
		}
	}
	if int64(len(elems)) != n {
		return nil, 0, errorf(http.StatusBadRequest, "input %q: shape [%d], but the data holds %d elements", in.Name, n, len(elems))
	}
	per := h.cfg.InputH * h.cfg.InputW * h.cfg.InputC
	src := make([]float32, int(n)*per)
	for k, b := range elems {
		if e := h.image(in.Name, k, b, src[k*per:(k+1)*per]); e != nil {
			return nil, 0, e
		}
	}
	return src, int(n), nil
}

// SplitBytes splits data in the protocol's binary layout of a BYTES
// tensor — each element a 4-byte little-endian length, then its bytes —
// into its elements (slices of data), refusing more than n of them and a
// length the data does not hold.
func SplitBytes(data []byte, n int) ([][]byte, error) {
	var elems [][]byte
	for k := 0; len(data) > 0; k++ {
		if len(data) < 4 {
			return nil, fmt.Errorf("element %d: %d bytes left, too few for its 4-byte length", k, len(data))
		}
		l := binary.LittleEndian.Uint32(data)
		if uint64(l) > uint64(len(data)-4) {
			return nil, fmt.Errorf("element %d has length %d, but only %d bytes follow", k, l, len(data)-4)
		}
		if k == n {
			return nil, fmt.Errorf("holds more than the shape's %d elements", n)
		}
		elems = append(elems, data[4:4+l])
		data = data[4+l:]
	}
	return elems, nil
}

// image decodes one encoded image into dst.
func (h *handler) image(input string, k int, b []byte, dst []float32) *httpError {
	if err := h.cfg.DecodeImage(dst, b); err != nil {
		return errorf(http.StatusBadRequest, "input %q: element %d: %v", input, k, err)
	}
	return nil
}

// DecodeImage makes the encoded JPEG or PNG image b one input of the model
// in dst (InputH·InputW·InputC values) with Config.Preprocess, as a BYTES
// element of an inference request is: the image's header is read first,
// and an image of more than MaxImagePixels (DefaultMaxImagePixels when
// 0) is refused before it is decoded. Every transport calls it.
func (c Config) DecodeImage(dst []float32, b []byte) error {
	c = c.withDefaults()
	if c.Preprocess == nil {
		return fmt.Errorf("model %q takes no encoded images (it declares no preprocessing convention, or the server was started without one)", c.Name)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%d bytes that are not a JPEG or PNG image: %v", len(b), err)
	}
	if format != "jpeg" && format != "png" {
		return fmt.Errorf("a %s image: want JPEG or PNG", format)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); cfg.Width < 1 || cfg.Height < 1 || px > c.MaxImagePixels {
		return fmt.Errorf("a %d×%d %s image: at most %d pixels", cfg.Width, cfg.Height, format, c.MaxImagePixels)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("decoding the %s image: %v", format, err)
	}
	if err := c.Preprocess(dst, img); err != nil {
		return fmt.Errorf("preprocessing: %v", err)
	}
	return nil
}

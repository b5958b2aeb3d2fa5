package main

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"

	"github.com/refract-cdn/refract/bench/internal/mdfmt"
	"github.com/refract-cdn/refract/bench/internal/synth"
)

// source is one input image, in copies: the same bytes under copies
// public_ids on Refract and file names on imgproxy, so that a request
// sequence can vary the asset as well as the size and never repeat a
// derivative (Refract stores derivatives per asset version).
type source struct {
	name  string // "photo", "alpha"
	ext   string // "jpg", "png"
	body  []byte
	w, h  int
	about string
}

func (s *source) file(copy int) string     { return fmt.Sprintf("%s-%02d.%s", s.name, copy, s.ext) }
func (s *source) publicID(copy int) string { return fmt.Sprintf("bench/%s-%02d", s.name, copy) }

// workload is one kind of render, the same on every side: a transformation
// whose size is w (the sequence varies it by a few pixels).
type workload struct {
	key   string
	label string
	src   *source
	base  int
	ext   string // output format, as Refract's extension and imgproxy's @ext
	tx    string // Refract's transformation; %[1]d is the size
	ipx   string // imgproxy's processing options; %[1]d is the size
}

func (wl *workload) refractTx(w int) string { return fmt.Sprintf(wl.tx, w) }
func (wl *workload) imgproxyPath(copy, w int) string {
	return "/insecure/" + fmt.Sprintf(wl.ipx, w) + "/plain/local:///" + wl.src.file(copy) + "@" + wl.ext
}

func workloads(photo, alpha *source) []*workload {
	return []*workload{
		{key: "jpeg300", label: "JPEG 4000×3000 → 300 px wide JPEG q80", src: photo, base: 300, ext: "jpg",
			tx: "c_scale,q_80,w_%[1]d", ipx: "rs:fit:%[1]d:0/q:80"},
		{key: "webp1200", label: "JPEG 4000×3000 → 1200 px wide WebP q80", src: photo, base: 1200, ext: "webp",
			tx: "c_scale,q_80,w_%[1]d", ipx: "rs:fit:%[1]d:0/q:80"},
		{key: "pngfill400", label: "PNG 1600×1200 with alpha → 400×400 fill, PNG", src: alpha, base: 400, ext: "png",
			tx: "c_fill,h_%[1]d,w_%[1]d", ipx: "rs:fill:%[1]d:%[1]d/g:ce"},
		{key: "avif1200", label: "JPEG 4000×3000 → 1200 px wide AVIF q60", src: photo, base: 1200, ext: "avif",
			tx: "c_scale,q_60,w_%[1]d", ipx: "rs:fit:%[1]d:0/q:60"},
	}
}

// seq is request i of a workload's sequence: copy i mod copies, and a
// size that moves away from base by one pixel each time every copy has
// been used at the current one (base, +1, -1, +2, -2, …).
func seq(wl *workload, copies, i int) (copy, w int) {
	j := i / copies
	off := (j + 1) / 2
	if j%2 == 0 {
		off = -off
	}
	return i % copies, wl.base + off
}

// withAlpha gives the image a cut-out: opaque in an ellipse, a soft
// edge, fully transparent corners, as a product shot on a transparent
// background.
func withAlpha(img *image.NRGBA) *image.NRGBA {
	b := img.Bounds()
	cx, cy := float64(b.Dx())/2, float64(b.Dy())/2
	for y := range b.Dy() {
		for x := range b.Dx() {
			dx, dy := (float64(x)-cx)/(cx*0.9), (float64(y)-cy)/(cy*0.9)
			d := math.Sqrt(dx*dx + dy*dy)
			a := 255.0
			if d > 0.9 {
				a = 255 * math.Max(0, (1-d)/0.1)
			}
			img.Pix[img.PixOffset(x, y)+3] = synth.Clamp(a)
		}
	}
	return img
}

func makeSources() (photo, alpha *source, err error) {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, synth.Photo(4000, 3000, 1, true), &jpeg.Options{Quality: 90}); err != nil {
		return nil, nil, err
	}
	photo = &source{name: "photo", ext: "jpg", body: bytes.Clone(b.Bytes()), w: 4000, h: 3000}
	photo.about = fmt.Sprintf("4000×3000 photo-like JPEG, q90, 4:2:0, %s", mdfmt.Bytes(len(photo.body)))
	b.Reset()
	if err := png.Encode(&b, withAlpha(synth.Photo(1600, 1200, 2, true))); err != nil {
		return nil, nil, err
	}
	alpha = &source{name: "alpha", ext: "png", body: bytes.Clone(b.Bytes()), w: 1600, h: 1200}
	alpha.about = fmt.Sprintf("1600×1200 RGBA PNG (photo-like, an elliptical cut-out with transparent corners), 8-bit, %s", mdfmt.Bytes(len(alpha.body)))
	return photo, alpha, nil
}

// sniff names the format of an encoded image from its first bytes.
func sniff(b []byte) string {
	switch {
	case len(b) > 3 && b[0] == 0xff && b[1] == 0xd8:
		return "jpg"
	case len(b) > 8 && bytes.Equal(b[:8], []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case len(b) > 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp"
	case len(b) > 12 && string(b[4:8]) == "ftyp" && (string(b[8:12]) == "avif" || string(b[8:12]) == "avis"):
		return "avif"
	}
	return "?"
}

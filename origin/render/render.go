// Package render is Refract's small API over libvips: probe an upload,
// and render a transformation chain into an encoded derivative. It is the
// only package that touches the generated bindings in origin/vips.
//
// Every render loads with shrink-on-load: a JPEG is decoded at 1/2, 1/4
// or 1/8 scale and a WebP at its target scale when the first component
// downsizes, and only the rest is resampled.
package render

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/refract-cdn/refract/origin/vips"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/transform"
)

var startOnce sync.Once

// Startup configures libvips for a server: one libvips thread per
// operation (Refract runs renders in parallel instead), the operation
// cache off (derivatives are cached as files), and SIMD on. It must run
// before any render; later calls do nothing.
func Startup() {
	startOnce.Do(func() {
		vips.Startup(&vips.Config{ConcurrencyLevel: 1, VectorEnabled: true})
	})
}

// Info describes a decoded image.
type Info struct {
	Format        format.Format
	Width, Height int // as displayed, after EXIF orientation
	Alpha         bool
	Pages         int   // pages or frames in the file
	PageHeight    int   // one page's height in the loaded image, as stored
	Delay         []int // per frame, in ms, for an animation
	Loop          int   // an animation's loop count; 0 is forever
}

// errInvalid is the answer to bytes that are not a whole, readable image.
var errInvalid = clderr.BadRequest("Invalid image file")

// resize resamples img to exactly w×h with Lanczos3, premultiplying alpha
// so transparent pixels do not bleed colour into their neighbours.
func resize(img *vips.Image, w, h int) error {
	if img.Width() == w && img.Height() == h {
		return nil
	}
	alpha := img.HasAlpha()
	if alpha {
		if err := img.Premultiply(nil); err != nil {
			return vipsErr("premultiply", err)
		}
	}
	hs, vs := float64(w)/float64(img.Width()), float64(h)/float64(img.Height())
	if err := img.Resize(hs, &vips.ResizeOptions{Vscale: vs, Kernel: vips.KernelLanczos3}); err != nil {
		return vipsErr("resize", err)
	}
	if alpha {
		if err := img.Unpremultiply(nil); err != nil {
			return vipsErr("unpremultiply", err)
		}
		if err := img.Cast(vips.BandFormatUchar, nil); err != nil {
			return vipsErr("cast", err)
		}
	}
	// libvips rounds the output size itself; make it exact.
	if img.Width() != w || img.Height() != h {
		if img.Width() >= w && img.Height() >= h {
			return vipsErr("resize", img.ExtractArea(0, 0, w, h))
		}
		return vipsErr("resize", img.Embed(0, 0, w, h, &vips.EmbedOptions{Extend: vips.ExtendCopy}))
	}
	return nil
}

func rotate(img *vips.Image, c *transform.Component, maxPixels int) error {
	if !c.Has(transform.ParamAngle) {
		return nil
	}
	a := c.Angle
	if a.Modes&transform.AngleHFlip != 0 {
		if err := img.Flip(vips.DirectionHorizontal); err != nil {
			return vipsErr("flip", err)
		}
	}
	if a.Modes&transform.AngleVFlip != 0 {
		if err := img.Flip(vips.DirectionVertical); err != nil {
			return vipsErr("flip", err)
		}
	}
	deg := math.Mod(a.Deg, 360)
	if deg < 0 {
		deg += 360
	}
	switch deg {
	case 0:
		return nil
	case 90:
		return vipsErr("rotate", img.Rot(vips.AngleD90))
	case 180:
		return vipsErr("rotate", img.Rot(vips.AngleD180))
	case 270:
		return vipsErr("rotate", img.Rot(vips.AngleD270))
	}
	// Any other angle grows the canvas; the corners are transparent, and
	// formats without alpha get the background when encoded.
	rad := deg * math.Pi / 180
	w, h := float64(img.Width()), float64(img.Height())
	if cw, ch := w*math.Abs(math.Cos(rad))+h*math.Abs(math.Sin(rad)), w*math.Abs(math.Sin(rad))+h*math.Abs(math.Cos(rad)); cw*ch > float64(maxPixels) {
		return tooLarge(int(cw), int(ch), maxPixels)
	}
	if !img.HasAlpha() {
		if err := addAlpha(img); err != nil {
			return err
		}
	}
	bg := make([]float64, img.Bands())
	return vipsErr("rotate", img.Rotate(deg, &vips.RotateOptions{Background: bg}))
}

// inkFor returns the colour c as pixel values for img's bands, first
// converting img so it can hold c: grey to sRGB for a colour, and adding
// alpha for a translucent colour.
func inkFor(img *vips.Image, c transform.Color) ([]float64, error) {
	grey := c.R == c.G && c.G == c.B
	if !grey && img.Bands() < 3 {
		if err := img.Colourspace(vips.InterpretationSrgb, nil); err != nil {
			return nil, vipsErr("colourspace", err)
		}
	}
	if c.A != 255 && !img.HasAlpha() {
		if err := addAlpha(img); err != nil {
			return nil, err
		}
	}
	var ink []float64
	if img.Bands() < 3 {
		ink = []float64{float64(c.R)}
	} else {
		ink = rgb(c)
	}
	if img.HasAlpha() {
		ink = append(ink, float64(c.A))
	}
	return ink, nil
}

func addAlpha(img *vips.Image) error {
	return vipsErr("alpha", img.BandjoinConst([]float64{255}))
}

func rgb(c transform.Color) []float64 {
	return []float64{float64(c.R), float64(c.G), float64(c.B)}
}

// vipsErr wraps a libvips failure as an internal error, trimming the
// global error buffer's noise. A nil err stays nil.
func vipsErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("render: %s: %s", op, strings.TrimSpace(err.Error()))
}

// UnsupportedFormat is the answer to an output format Refract cannot write.
func UnsupportedFormat(f format.Format) error {
	return clderr.BadRequest("Unsupported output format - %s", f)
}

// IsInvalidImage reports whether err means the source is not a usable image.
func IsInvalidImage(err error) bool { return errors.Is(err, errInvalid) }

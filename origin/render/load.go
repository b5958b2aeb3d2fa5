package render

import (
	"image"
	"math"

	"github.com/refract-cdn/refract/origin/vips"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/transform"
)

func describe(img *vips.Image, f format.Format) Info {
	w, h := img.Width(), img.Height()
	if img.Pages() > 1 {
		h = img.PageHeight()
	}
	if o := img.Orientation(); o >= 5 && o <= 8 {
		w, h = h, w
	}
	return Info{Format: f, Width: w, Height: h, Alpha: img.HasAlpha(), Pages: max(1, img.Pages())}
}

// load opens src with the typed loader for f. shrink is a JPEG shrink
// factor (1, 2, 4 or 8) or, for WebP, the inverse of a load scale.
func load(src []byte, f format.Format, shrink float64, failOn vips.FailOn) (*vips.Image, error) {
	switch f {
	case format.JPEG:
		return vips.NewJpegloadBuffer(src, &vips.JpegloadBufferOptions{Shrink: int(shrink), FailOn: failOn})
	case format.PNG:
		return vips.NewPngloadBuffer(src, &vips.PngloadBufferOptions{FailOn: failOn})
	case format.GIF:
		return vips.NewGifloadBuffer(src, &vips.GifloadBufferOptions{FailOn: failOn})
	case format.WebP:
		return vips.NewWebploadBuffer(src, &vips.WebploadBufferOptions{Scale: 1 / shrink, FailOn: failOn})
	case format.AVIF, format.HEIC:
		return vips.NewHeifloadBuffer(src, &vips.HeifloadBufferOptions{FailOn: failOn})
	case format.TIFF:
		return vips.NewTiffloadBuffer(src, &vips.TiffloadBufferOptions{FailOn: failOn})
	}
	return vips.NewImageFromBuffer(src, &vips.LoadOptions{FailOnError: failOn != vips.FailOnNone})
}

// loadForChain loads src with as much shrink-on-load as the first
// component allows, applies EXIF orientation (unless a_ignore) and brings
// the pixels to 8-bit sRGB or grey. It returns the first component's
// geometry, planned on the original's size: relative sizes and dpr refer
// to the original, not to the shrunk image.
func loadForChain(src []byte, f format.Format, chain *transform.Chain, maxPixels int) (*vips.Image, geometry, error) {
	var first geometry
	head, err := load(src, f, 1, vips.FailOnNone)
	if err != nil {
		return nil, first, errInvalid
	}
	info := describe(head, f)
	if o := head.Orientation(); ignoresOrientation(chain) && o >= 5 && o <= 8 {
		info.Width, info.Height = info.Height, info.Width // as stored, not as displayed
	}
	head.Close()
	shrink := 1.0
	if !chain.Empty() {
		if first, err = plan(info.Width, info.Height, &chain.Components[0], maxPixels, image.Rectangle{}); err != nil {
			return nil, first, err
		}
		if (f == format.JPEG || f == format.WebP) && first.Scales(info.Width, info.Height) {
			// The factor that still leaves at least the target size on both axes.
			s := math.Min(float64(info.Width)/float64(first.ResizeW), float64(info.Height)/float64(first.ResizeH))
			shrink = shrinkFactor(f, s)
		}
	}
	img, err := load(src, f, shrink, vips.FailOnNone)
	if err != nil {
		return nil, first, errInvalid
	}
	if !ignoresOrientation(chain) {
		if err := img.Autorot(nil); err != nil {
			img.Close()
			return nil, first, vipsErr("autorotate", err)
		}
	}
	if err := toSRGB(img); err != nil {
		img.Close()
		return nil, first, err
	}
	return img, first, nil
}

// shrinkFactor is the load-time reduction for a wanted reduction s: a
// power of two up to 8 for JPEG (libjpeg's DCT scaling), s itself for
// WebP (libwebp scales while decoding).
func shrinkFactor(f format.Format, s float64) float64 {
	if s < 2 {
		return 1
	}
	if f == format.WebP {
		return s
	}
	switch {
	case s >= 8:
		return 8
	case s >= 4:
		return 4
	}
	return 2
}

func ignoresOrientation(chain *transform.Chain) bool {
	for i := range chain.Components {
		if chain.Components[i].Angle.Modes&transform.AngleIgnore != 0 {
			return true
		}
	}
	return false
}

// toSRGB converts embedded colour profiles, CMYK and 16-bit images to
// 8-bit sRGB (or grey), so every later step and encoder sees one space.
func toSRGB(img *vips.Image) error {
	if img.HasICCProfile() {
		if err := img.IccTransform("srgb", &vips.IccTransformOptions{Embedded: true, Intent: vips.IntentPerceptual}); err != nil {
			return vipsErr("icc", err)
		}
	}
	switch img.Interpretation() {
	case vips.InterpretationSrgb, vips.InterpretationBW:
		if img.BandFormat() == vips.BandFormatUchar {
			return nil
		}
		if err := img.Cast(vips.BandFormatUchar, nil); err != nil {
			return vipsErr("cast", err)
		}
		return nil
	case vips.InterpretationGrey16:
		return vipsErr("colourspace", img.Colourspace(vips.InterpretationBW, nil))
	}
	return vipsErr("colourspace", img.Colourspace(vips.InterpretationSrgb, nil))
}

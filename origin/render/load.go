package render

import (
	"errors"
	"image"
	"math"
	"runtime"

	"github.com/refract-cdn/refract/origin/vips"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/transform"
)

const (
	// defaultPDFDensity is the dpi a PDF page is rasterised at without
	// dn_: Cloudinary's documented default of 150.
	defaultPDFDensity = 150
	// defaultSVGDensity renders one SVG user unit (CSS px) as one pixel.
	defaultSVGDensity = 72
	// maxDensity bounds dn_ before any size arithmetic: even a 200-inch
	// page stays within libvips' coordinate range. The pixel limit is the
	// real bound.
	maxDensity = 10000
	// defaultMaxLoadPixels bounds vector rendering and all-frame loads
	// when the caller gives no limit of its own.
	defaultMaxLoadPixels = 100_000_000
)

// loadOptions says what load decodes, and how much of it.
type loadOptions struct {
	// Shrink reduces on load: a JPEG shrink factor (1, 2, 4 or 8) or, for
	// WebP, PDF and SVG, the inverse of the load scale. 0 or 1: none.
	Shrink float64
	// Page is the 1-based page (PDF, TIFF, HEIF) or frame (GIF, WebP) to
	// load; 0 is the first. A page past the end is a 400.
	Page int
	// Frames loads every frame of an animated GIF or WebP, as one image
	// of Pages×PageHeight rows. Page > 0 wins over it.
	Frames bool
	// Density is the dpi for PDF and SVG; 0 is the default (150 for PDF,
	// 72 for SVG).
	Density float64
	// MaxPixels bounds what load itself chooses the size of: a PDF or SVG
	// rendered at Density, and all the frames of an animation together.
	// Either is refused with a 400 from its header, before any pixel is
	// rendered. 0 means defaultMaxLoadPixels. A raster's own size is not
	// limited here: the output is.
	MaxPixels int
	FailOn    vips.FailOn
}

func (o *loadOptions) limit() int {
	if o.MaxPixels > 0 {
		return o.MaxPixels
	}
	return defaultMaxLoadPixels
}

// density is the dpi f is rendered at, for the vector formats.
func (o *loadOptions) density(f format.Format) float64 {
	switch {
	case o.Density > 0:
		return o.Density
	case f == format.PDF:
		return defaultPDFDensity
	}
	return defaultSVGDensity
}

// load opens src with the typed loader for f, as o says. Pixels are
// decoded lazily, when first used; the checks on pages and sizes are made
// on the header. Refusals are *clderr.Error (400); any other error is the
// loader's.
func load(src []byte, f format.Format, o loadOptions) (*vips.Image, error) {
	if o.Page < 0 {
		return nil, clderr.BadRequest("Invalid page %d", o.Page)
	}
	if math.IsNaN(o.Density) || o.Density < 0 || o.Density > maxDensity {
		return nil, clderr.BadRequest("Invalid density %g: it must be between 1 and %d", o.Density, maxDensity)
	}
	frames := o.Frames && o.Page == 0 && (f == format.GIF || f == format.WebP)
	n := 0 // the loader's default: one page
	if frames {
		n = -1
	}
	img, err := open(src, f, &o, 0, n)
	if err != nil {
		return nil, err
	}
	if o.Page > 1 {
		pages := max(1, img.Pages())
		img.Close()
		if o.Page > pages {
			return nil, clderr.BadRequest("Page %d is out of range: the %s has %d page%s", o.Page, f, pages, plural(pages))
		}
		if img, err = open(src, f, &o, o.Page-1, 0); err != nil {
			return nil, err
		}
	}
	w, h := int64(img.Width()), int64(img.Height())
	switch {
	case f == format.PDF || f == format.SVG:
		if w*h > int64(o.limit()) {
			img.Close()
			return nil, clderr.BadRequest("Image is too large: the page renders at %dx%d at %g dpi, over the limit of %d pixels; lower the density",
				w, h, o.density(f)/max(1, o.Shrink), o.limit())
		}
	case frames:
		if w*h > int64(o.limit()) {
			ph := int64(max(1, img.PageHeight()))
			img.Close()
			return nil, clderr.BadRequest("Image is too large: %d frames of %dx%d are over the limit of %d pixels", h/ph, w, ph, o.limit())
		}
	}
	return img, nil
}

// open runs f's loader on one page, or n pages from page (-1: all).
func open(src []byte, f format.Format, o *loadOptions, page, n int) (*vips.Image, error) {
	scale := 1.0
	if o.Shrink > 1 {
		scale = 1 / o.Shrink
	}
	switch f {
	case format.JPEG:
		shrink := 0 // libjpeg scales by 1/2, 1/4 and 1/8 only
		if s := int(o.Shrink); s == 2 || s == 4 || s == 8 {
			shrink = s
		}
		return vips.NewJpegloadBuffer(src, &vips.JpegloadBufferOptions{Shrink: shrink, FailOn: o.FailOn})
	case format.PNG:
		return vips.NewPngloadBuffer(src, &vips.PngloadBufferOptions{FailOn: o.FailOn})
	case format.GIF:
		return vips.NewGifloadBuffer(src, &vips.GifloadBufferOptions{Page: page, N: n, FailOn: o.FailOn})
	case format.WebP:
		return vips.NewWebploadBuffer(src, &vips.WebploadBufferOptions{Page: page, N: n, Scale: scale, FailOn: o.FailOn})
	case format.AVIF, format.HEIC:
		return vips.NewHeifloadBuffer(src, &vips.HeifloadBufferOptions{Page: page, N: n, FailOn: o.FailOn})
	case format.TIFF:
		return vips.NewTiffloadBuffer(src, &vips.TiffloadBufferOptions{Page: page, N: n, FailOn: o.FailOn})
	case format.PDF:
		return vips.NewPdfloadBuffer(src, &vips.PdfloadBufferOptions{Page: page, Dpi: o.density(f), Scale: scale, FailOn: o.FailOn})
	case format.SVG:
		return vips.NewSvgloadBuffer(src, &vips.SvgloadBufferOptions{Dpi: o.density(f), Scale: scale, FailOn: o.FailOn})
	}
	return vips.NewImageFromBuffer(src, &vips.LoadOptions{FailOnError: o.FailOn != vips.FailOnNone})
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// loadErr keeps a load's refusal (a 400 with its own message) and turns
// any loader failure into errInvalid.
func loadErr(err error) error {
	var e *clderr.Error
	if errors.As(err, &e) {
		return err
	}
	return errInvalid
}

// describe reads img's header. Pages is the file's count of pages or
// frames (a PDF's pages, a GIF's frames), whether or not all were loaded;
// PageHeight is the height of one page in img as stored, before EXIF
// orientation. Delay and Loop are set for an animation.
func describe(img *vips.Image, f format.Format) Info {
	w, h := img.Width(), img.Height()
	if ph := img.PageHeight(); ph > 0 && ph < h && h%ph == 0 {
		h = ph
	}
	info := Info{Format: f, Alpha: img.HasAlpha(), Pages: max(1, img.Pages()), PageHeight: h}
	if o := img.Orientation(); o >= 5 && o <= 8 {
		w, h = h, w
	}
	info.Width, info.Height = w, h
	if info.Pages > 1 && img.HasField("delay") {
		if d, err := img.GetArrayInt("delay"); err == nil && len(d) > 0 {
			info.Delay = d
		}
		info.Loop = img.Loop()
	}
	return info
}

// Probe checks that src is a complete image within maxPixels and
// describes it. The pixel limit is checked on the header, before any
// decoding, so a decompression bomb costs nothing: for an animated GIF or
// WebP it covers all the frames together, and a PDF's first page or an
// SVG is measured as rendered at its default density. Then the whole file
// is decoded (JPEG at 1/8 scale) so that a truncated upload is refused;
// GIF, WebP and PDF decoders forgive truncation, so their structure is
// checked first.
func Probe(src []byte, maxPixels int) (Info, error) {
	Startup()
	defer runtime.KeepAlive(src)
	f := Sniff(src)
	if f == format.Unknown || truncated(src, f) {
		return Info{}, errInvalid
	}
	img, err := load(src, f, loadOptions{Frames: true, MaxPixels: max(1, maxPixels), FailOn: vips.FailOnTruncated})
	if err != nil {
		return Info{}, loadErr(err)
	}
	defer img.Close()
	info := describe(img, f)
	if int64(img.Width())*int64(img.Height()) > int64(maxPixels) {
		return info, clderr.BadRequest("Image is too large: %dx%d is over the limit of %d pixels", info.Width, info.Height, maxPixels)
	}
	full := img
	if f == format.JPEG {
		if full, err = load(src, f, loadOptions{Shrink: 8, FailOn: vips.FailOnTruncated}); err != nil {
			return info, errInvalid
		}
		defer full.Close()
	}
	if _, err := full.Avg(); err != nil {
		return info, errInvalid
	}
	return info, nil
}

// loadForChain loads src with as much shrink-on-load as the first
// component allows, applies EXIF orientation (unless a_ignore) and brings
// the pixels to 8-bit sRGB or grey. It returns the first component's
// geometry, planned on the original's size (one frame's, for an
// animation; a PDF or SVG page's at o.Density): relative sizes and dpr
// refer to the original, not to the shrunk image. It is nil when the first
// component depends on the pixels (conditions, variables, faces, layers)
// and is planned after loading instead. o.MaxPixels is the request's
// limit; o.Shrink is ignored (it is planned here). All frames (o.Frames)
// are refused over maxFrames or maxAnimationPixels.
func loadForChain(src []byte, f format.Format, chain *transform.Chain, o loadOptions) (*vips.Image, *geometry, error) {
	var first *geometry
	// The header only: no pixel is decoded, so no size limit yet.
	head, err := load(src, f, loadOptions{Page: o.Page, Density: o.Density, MaxPixels: math.MaxInt, FailOn: o.FailOn})
	if err != nil {
		return nil, first, loadErr(err)
	}
	info := describe(head, f)
	if o := head.Orientation(); ignoresOrientation(chain) && o >= 5 && o <= 8 {
		info.Width, info.Height = info.Height, info.Width // as stored, not as displayed
	}
	head.Close()
	o.Shrink = 1
	if !chain.Empty() && simpleFirst(&chain.Components[0]) {
		first = new(geometry)
		if *first, err = plan(info.Width, info.Height, &chain.Components[0], o.MaxPixels, image.Rectangle{}); err != nil {
			return nil, nil, err
		}
		if (f == format.JPEG || f == format.WebP || f == format.PDF || f == format.SVG) && first.Scales(info.Width, info.Height) {
			// The factor that still leaves at least the target size on both axes.
			s := math.Min(float64(info.Width)/float64(first.ResizeW), float64(info.Height)/float64(first.ResizeH))
			o.Shrink = shrinkFactor(f, s)
		}
	}
	img, err := load(src, f, o)
	if err != nil {
		return nil, first, loadErr(err)
	}
	if ph, n := pages(img); n > 1 {
		// Every frame, for an animated output: bounded like splitFrames.
		if err := checkAnimation(n, img.Width(), ph); err != nil {
			img.Close()
			return nil, first, err
		}
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
// WebP (libwebp scales while decoding) from 2 on, and s itself for PDF
// and SVG, which are rendered at the size wanted.
func shrinkFactor(f format.Format, s float64) float64 {
	if f == format.PDF || f == format.SVG {
		return max(1, s)
	}
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

package render

// Pixel operations for Cloudinary's effects (e_*) and for r_, bo_ and o_.
//
// Each function mutates an 8-bit sRGB or B_W image (with or without
// alpha) in place and leaves it 8-bit. Tone effects touch the colour
// bands only; alpha passes through unchanged. Levels are clamped to the
// documented range rather than refused: the URL grammar validates them.
//
// The work is bounded: blurs with large sigmas run on a shrunk copy,
// statistics run on a point-sampled copy of at most fxStatPixels pixels,
// and effects that grow the canvas refuse to more than double it (with a
// small allowance for thumbnails).

import (
	"encoding/binary"
	"fmt"
	"image"
	"math"

	"github.com/refract-cdn/refract/origin/vips"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/transform"
)

const (
	fxMaxSigma   = 100     // the largest Gaussian sigma any effect uses
	fxStatPixels = 1 << 18 // pixels sampled for auto-levels statistics
	fxMaxRegions = 64      // regions (faces) one call will process
	fxSlack      = 1 << 20 // pixels a canvas may grow by regardless of size
)

// Rec. 709 luma weights, applied to the gamma-encoded values.
var fxLuma = [3]float64{0.2126, 0.7152, 0.0722}

// fxBlur is e_blur: a Gaussian blur. Level 1–2000 (default 100) maps
// linearly onto a sigma of 0.05–100.
func fxBlur(img *vips.Image, level int) error {
	return fxBlurSigma(img, float64(fxClamp(level, 1, 2000))/20, "blur")
}

// fxSharpen is e_sharpen: libvips' sharpen on the L channel. Level
// 1–2000 (default 100) maps onto the mask's sigma, 0.5–10.5.
func fxSharpen(img *vips.Image, level int) error {
	sigma := 0.5 + float64(fxClamp(level, 1, 2000))/200
	if err := img.Sharpen(&vips.SharpenOptions{Sigma: sigma}); err != nil {
		return vipsErr("sharpen", err)
	}
	return fxUchar(img, "sharpen")
}

// fxUnsharpMask is e_unsharp_mask: out = in + amount·(in − blur(in)),
// with a sigma-1 blur and amount = level/100 (level 1–2000, default 100).
func fxUnsharpMask(img *vips.Image, level int) error {
	amount := float64(fxClamp(level, 1, 2000)) / 100
	blurred, err := img.Copy(nil)
	if err != nil {
		return vipsErr("unsharp mask", err)
	}
	defer blurred.Close()
	if err := blurred.Gaussblur(1, nil); err != nil {
		return vipsErr("unsharp mask", err)
	}
	zero := fxPerBand(img, []float64{0}, 0)
	if err := blurred.Linear(fxPerBand(img, []float64{amount}, 0), zero, nil); err != nil {
		return vipsErr("unsharp mask", err)
	}
	if err := img.Linear(fxPerBand(img, []float64{1 + amount}, 1), zero, nil); err != nil {
		return vipsErr("unsharp mask", err)
	}
	if err := img.Subtract(blurred); err != nil {
		return vipsErr("unsharp mask", err)
	}
	return fxUchar(img, "unsharp mask")
}

// fxGrayscale is e_grayscale. The result stays three-band sRGB (plus
// alpha) with R = G = B, so later colour effects and encoders see the
// same kind of image as before.
func fxGrayscale(img *vips.Image) error {
	if err := fxCheck(img, "grayscale"); err != nil {
		return err
	}
	if fxColourBands(img) == 3 {
		if err := img.Colourspace(vips.InterpretationBW, nil); err != nil {
			return vipsErr("grayscale", err)
		}
	}
	if err := img.Colourspace(vips.InterpretationSrgb, nil); err != nil {
		return vipsErr("grayscale", err)
	}
	return fxUchar(img, "grayscale")
}

// fxSepia is e_sepia: a blend of level/100 (1–100, default 80) between
// the image and the classic sepia matrix. Grey images become colour.
func fxSepia(img *vips.Image, level int) error {
	t := float64(fxClamp(level, 1, 100)) / 100
	sepia := [3][3]float64{
		{0.393, 0.769, 0.189},
		{0.349, 0.686, 0.168},
		{0.272, 0.534, 0.131},
	}
	var m [3][3]float64
	for i := range m {
		for j := range m[i] {
			m[i][j] = t * sepia[i][j]
			if i == j {
				m[i][j] += 1 - t
			}
		}
	}
	if err := fxToSRGB(img, "sepia"); err != nil {
		return err
	}
	return fxAffine(img, m, [3]float64{}, "sepia")
}

// fxNegate is e_negate: every colour value v becomes 255 − v.
func fxNegate(img *vips.Image) error {
	return fxLinear(img, []float64{-1}, []float64{255}, "negate")
}

// fxBrightness is e_brightness: the colour values are multiplied by
// 1 + level/100, level −99–100 (Cloudinary's default is 80).
func fxBrightness(img *vips.Image, level int) error {
	f := 1 + float64(fxClamp(level, -99, 100))/100
	return fxLinear(img, []float64{f}, []float64{0}, "brightness")
}

// fxContrast is e_contrast, with ImageMagick's brightness-contrast slope:
// level −100–100 gives a slope of tan(π·(level/100 + 1)/4) about mid grey,
// from flat grey at −100 through unchanged at 0 to a threshold at 100.
func fxContrast(img *vips.Image, level int) error {
	slope := math.Tan(math.Pi * (float64(fxClamp(level, -100, 100))/100 + 1) / 4)
	slope = math.Min(math.Max(slope, 0), 1e6)
	return fxLinear(img, []float64{slope}, []float64{127.5 * (1 - slope)}, "contrast")
}

// fxSaturation is e_saturation: the colours move away from (or, below 0,
// towards) their Rec. 709 luma by a factor of 1 + level/100, level
// −100–100 (Cloudinary's default is 80); −100 is exactly grey.
func fxSaturation(img *vips.Image, level int) error {
	if err := fxCheck(img, "saturation"); err != nil {
		return err
	}
	if fxColourBands(img) == 1 {
		return nil
	}
	return fxAffine(img, fxSaturationMatrix(1+float64(fxClamp(level, -100, 100))/100), [3]float64{}, "saturation")
}

// fxGamma is e_gamma: v' = 255·(v/255)^(1/γ) with γ = 1 + level/100,
// level −50–150 (default 0), so positive levels brighten the midtones
// as ImageMagick's -gamma does, and black and white stay put.
func fxGamma(img *vips.Image, level int) error {
	g := 1 + float64(fxClamp(level, -50, 150))/100
	return fxPowLUT(img, 1/g, 1, "gamma")
}

// fxImprove is e_improve: automatic levels and a mild saturation boost,
// blended with the original by blend/100 (0–100, default 100). Outdoor
// (the default) stretches the luminance and boosts saturation by 20%;
// indoor stretches each channel on its own, which also corrects the
// colour cast of artificial light, and boosts saturation by 10%.
func fxImprove(img *vips.Image, indoor bool, blend int) error {
	t := float64(fxClamp(blend, 0, 100)) / 100
	if t == 0 {
		return nil
	}
	a, b, err := fxLevels(img, !indoor, "improve")
	if err != nil {
		return err
	}
	if fxColourBands(img) == 1 {
		return fxLinear(img, []float64{1 + t*(a[0]-1)}, []float64{t * b[0]}, "improve")
	}
	for len(a) < 3 { // one luma map for all three channels
		a, b = append(a, a[0]), append(b, b[0])
	}
	s := fxSaturationMatrix(1.2)
	if indoor {
		s = fxSaturationMatrix(1.1)
	}
	// improved = S·(diag(a)·v + b); the blend folds into one matrix.
	var m [3][3]float64
	var off [3]float64
	for i := range m {
		for j := range m[i] {
			m[i][j] = t * s[i][j] * a[j]
			if i == j {
				m[i][j] += 1 - t
			}
			off[i] += t * s[i][j] * b[j]
		}
	}
	return fxAffine(img, m, off, "improve")
}

// fxAutoContrast is e_auto_contrast: the luminance histogram is
// stretched so that its 0.5th and 99.5th percentiles become black and
// white, by the same map on every channel, blended with the original by
// blend/100 (0–100, default 100).
func fxAutoContrast(img *vips.Image, blend int) error {
	return fxAutoLevels(img, blend, true, "auto contrast")
}

// fxAutoColor is e_auto_color: like fxAutoContrast but each channel is
// stretched on its own, which balances the white point.
func fxAutoColor(img *vips.Image, blend int) error {
	return fxAutoLevels(img, blend, false, "auto color")
}

// fxAutoBrightness is e_auto_brightness: a gamma curve that brings the
// mean luminance to mid grey (the exponent kept within 0.4–2.5), blended
// with the original by blend/100 (0–100, default 100).
func fxAutoBrightness(img *vips.Image, blend int) error {
	t := float64(fxClamp(blend, 0, 100)) / 100
	if t == 0 {
		return nil
	}
	hists, err := fxHistograms(img, true, "auto brightness")
	if err != nil {
		return err
	}
	var n, sum float64
	for v, c := range hists[0] {
		n += float64(c)
		sum += float64(v) * float64(c)
	}
	if n == 0 {
		return nil
	}
	mean := sum / n / 255
	if mean <= 0 || mean >= 1 {
		return nil
	}
	g := math.Min(math.Max(math.Log(0.5)/math.Log(mean), 0.4), 2.5)
	return fxPowLUT(img, g, t, "auto brightness")
}

// fxPixelate is e_pixelate: the image becomes squares of size px, each
// the average of the pixels it covers, aligned to the top left. A size
// of 0 or less picks one from the image size (fxAutoSquare).
func fxPixelate(img *vips.Image, size int) error {
	w, h := img.Width(), img.Height()
	if size <= 0 {
		size = fxAutoSquare(w, h)
	}
	size = fxClamp(size, 1, max(w, h))
	if size == 1 {
		return nil
	}
	alpha := img.HasAlpha()
	if alpha {
		// Average colour weighted by coverage, so transparent pixels do
		// not darken their square.
		if err := img.Premultiply(nil); err != nil {
			return vipsErr("pixelate", err)
		}
	}
	if err := fxShrink(img, size); err != nil {
		return vipsErr("pixelate", err)
	}
	if err := img.Zoom(size, size); err != nil {
		return vipsErr("pixelate", err)
	}
	if err := img.ExtractArea(0, 0, w, h); err != nil {
		return vipsErr("pixelate", err)
	}
	if alpha {
		if err := img.Unpremultiply(nil); err != nil {
			return vipsErr("pixelate", err)
		}
	}
	return fxUchar(img, "pixelate")
}

// fxPixelateRegions is e_pixelate_faces and e_pixelate_region: fxPixelate
// inside each rectangle only (clipped to the image; empty ones skipped).
// A size of 0 or less picks one from each rectangle's size.
func fxPixelateRegions(img *vips.Image, rects []image.Rectangle, size int) error {
	return fxRegions(img, rects, 0, "pixelate region", func(sub *vips.Image) error {
		return fxPixelate(sub, size)
	})
}

// fxBlurRegions is e_blur_faces and e_blur_region: fxBlur inside each
// rectangle only. The blur reads the pixels around the rectangle too, so
// its edges carry no dark or mirrored fringe.
func fxBlurRegions(img *vips.Image, rects []image.Rectangle, level int) error {
	sigma := math.Min(float64(fxClamp(level, 1, 2000))/20, fxMaxSigma)
	margin := int(math.Ceil(3 * sigma))
	return fxRegions(img, rects, margin, "blur region", func(sub *vips.Image) error {
		return fxBlurSigma(sub, sigma, "blur region")
	})
}

// fxTrim is e_trim: it removes the border whose colour is within
// tolerance (0–100, default 10) of the top-left pixel, or of override.
// Colours are compared premultiplied, so every fully transparent pixel
// matches a transparent background, by their RMS difference over the
// bands: tolerance 0 trims only the exact colour and tolerance 100
// everything. When nothing would be left, the image is unchanged.
func fxTrim(img *vips.Image, tolerance int, override *transform.Color) error {
	if err := fxCheck(img, "trim"); err != nil {
		return err
	}
	nc, alpha := fxColourBands(img), img.HasAlpha()
	var bg []float64
	if override != nil {
		c := *override
		if nc == 3 {
			bg = rgb(c)
		} else {
			bg = []float64{fxLuma[0]*float64(c.R) + fxLuma[1]*float64(c.G) + fxLuma[2]*float64(c.B)}
		}
		if alpha {
			bg = append(bg, float64(c.A))
		}
	} else {
		p, err := img.Getpoint(0, 0)
		if err != nil {
			return vipsErr("trim", err)
		}
		bg = p
	}
	if len(bg) != img.Bands() {
		return fmt.Errorf("render: trim: background has %d bands, image %d", len(bg), img.Bands())
	}
	d, err := img.Copy(nil)
	if err != nil {
		return vipsErr("trim", err)
	}
	defer d.Close()
	if alpha {
		if err := d.Premultiply(nil); err != nil {
			return vipsErr("trim", err)
		}
		a := bg[len(bg)-1] / 255
		for i := 0; i < nc; i++ {
			bg[i] *= a
		}
	}
	ones := make([]float64, len(bg))
	neg := make([]float64, len(bg))
	for i := range bg {
		ones[i], neg[i] = 1, -bg[i]
	}
	thr := float64(fxClamp(tolerance, 0, 100)) / 100 * 255
	// object = mean over bands of (pixel − bg)² > thr²
	if err := fxChain(
		func() error { return d.Linear(ones, neg, nil) },
		func() error { return fxSquare(d) },
		func() error { return d.Bandmean() },
		func() error { return d.RelationalConst(vips.OperationRelationalMore, []float64{thr * thr}) },
	); err != nil {
		return vipsErr("trim", err)
	}
	cols, rows, err := d.Project()
	if err != nil {
		return vipsErr("trim", err)
	}
	defer cols.Close()
	defer rows.Close()
	colSums, err := fxValues(cols)
	if err != nil {
		return vipsErr("trim", err)
	}
	rowSums, err := fxValues(rows)
	if err != nil {
		return vipsErr("trim", err)
	}
	left, right := fxSpan(colSums)
	top, bottom := fxSpan(rowSums)
	if left < 0 || top < 0 {
		return nil // all background: leave the image alone
	}
	if left == 0 && top == 0 && right == img.Width()-1 && bottom == img.Height()-1 {
		return nil
	}
	return vipsErr("trim", img.ExtractArea(left, top, right-left+1, bottom-top+1))
}

// fxVignette is e_vignette: the image darkens radially (an ellipse with
// the image's aspect ratio) towards the corners. Level 0–100 (default
// 20): the darkening starts at 0.5·(1 − s) of the half-diagonal and
// reaches 0.3 + 0.7·s at the corners, s = level/100; 0 does nothing.
func fxVignette(img *vips.Image, level int) error {
	s := float64(fxClamp(level, 0, 100)) / 100
	if s == 0 {
		return nil
	}
	if err := fxCheck(img, "vignette"); err != nil {
		return err
	}
	w, h := img.Width(), img.Height()
	r0, k := 0.5*(1-s), 0.3+0.7*s
	f, err := vips.NewXyz(w, h, nil)
	if err != nil {
		return vipsErr("vignette", err)
	}
	defer f.Close()
	hx, hy := float64(w)/2, float64(h)/2
	if err := fxChain(
		// u, v in −1…1 at the pixel centres; d = √((u² + v²)/2) is 1 at the corners.
		func() error {
			return f.Linear([]float64{1 / hx, 1 / hy}, []float64{(0.5 - hx) / hx, (0.5 - hy) / hy}, nil)
		},
		func() error { return fxSquare(f) },
		func() error { return f.Bandmean() },
		func() error { return f.Math2Const(vips.OperationMath2Pow, []float64{0.5}) },
		// t = (d − r0)/(1 − r0); 2·max(t, 0) = t + |t|
		func() error { return f.Linear([]float64{1 / (1 - r0)}, []float64{-r0 / (1 - r0)}, nil) },
		func() error { return fxAddAbs(f) },
		func() error { return fxSquare(f) },
		// factor = 1 − k·max(t, 0)², alpha's factor 1
		func() error {
			return f.Linear(fxPerBand(img, []float64{-k / 4}, 0), fxPerBand(img, []float64{1}, 1), nil)
		},
	); err != nil {
		return vipsErr("vignette", err)
	}
	if err := img.Multiply(f); err != nil {
		return vipsErr("vignette", err)
	}
	return fxUchar(img, "vignette")
}

// fxColorize is e_colorize: a blend of level/100 (0–100, default 100,
// scaled by the colour's alpha) between the image and c tinted by each
// pixel's luma: white becomes c, black stays black.
func fxColorize(img *vips.Image, level int, c transform.Color) error {
	t := float64(fxClamp(level, 0, 100)) / 100 * float64(c.A) / 255
	if t == 0 {
		return nil
	}
	if c.R != c.G || c.G != c.B {
		if err := fxToSRGB(img, "colorize"); err != nil {
			return err
		}
	}
	if fxColourBands(img) == 1 {
		f := 1 - t + t*float64(c.R)/255
		return fxLinear(img, []float64{f}, []float64{0}, "colorize")
	}
	col := rgb(c)
	var m [3][3]float64
	for i := range m {
		for j := range m[i] {
			m[i][j] = t * col[i] / 255 * fxLuma[j]
			if i == j {
				m[i][j] += 1 - t
			}
		}
	}
	return fxAffine(img, m, [3]float64{}, "colorize")
}

// fxShadow is e_shadow: a copy of the image's shape (its alpha, or its
// rectangle) in colour c, blurred and offset by dx, dy, behind the
// image. Strength 0–100 (default 40) sets the shadow's opacity
// (strength/100, times the colour's alpha) and its blur (sigma
// 2 + strength/20). The canvas grows to hold the shadow, and the result
// is sRGB with alpha.
func fxShadow(img *vips.Image, strength int, c transform.Color, dx, dy int) error {
	s := float64(fxClamp(strength, 0, 100)) / 100
	if err := fxCheck(img, "shadow"); err != nil {
		return err
	}
	sigma := 2 + 5*s
	m := int(math.Ceil(3 * sigma))
	w, h := img.Width(), img.Height()
	// Far beyond any canvas fxCanvas allows, and safe from overflow.
	dx, dy = fxClamp(dx, -1<<24, 1<<24), fxClamp(dy, -1<<24, 1<<24)
	left, top := min(0, dx-m), min(0, dy-m)
	right, bottom := max(w, w+dx+m), max(h, h+dy+m)
	if err := fxCanvas(w, h, right-left, bottom-top, "shadow"); err != nil {
		return err
	}
	if err := fxShapeReady(img, "shadow"); err != nil {
		return err
	}
	shape, err := fxAlphaBand(img)
	if err != nil {
		return vipsErr("shadow", err)
	}
	defer shape.Close()
	if err := fxChain(
		func() error { return shape.Embed(m, m, w+2*m, h+2*m, nil) },
		func() error { return fxGaussblur(shape, sigma) },
		func() error {
			return shape.Linear([]float64{s * float64(c.A) / 255}, []float64{0.5}, &vips.LinearOptions{Uchar: true})
		},
	); err != nil {
		return vipsErr("shadow", err)
	}
	layer, err := fxColourLayer(shape, c)
	if err != nil {
		return vipsErr("shadow", err)
	}
	defer layer.Close()
	if err := img.Embed(-left, -top, right-left, bottom-top, nil); err != nil {
		return vipsErr("shadow", err)
	}
	opts := &vips.Composite2Options{X: dx - m - left, Y: dy - m - top, CompositingSpace: vips.InterpretationSrgb}
	if err := img.Composite2(layer, vips.BlendModeDestOver, opts); err != nil {
		return vipsErr("shadow", err)
	}
	return fxUchar(img, "shadow")
}

// fxOutline is e_outline: a line of colour c, width px wide (1–100,
// default 5), along the edge of the image's alpha shape (an opaque image
// is its rectangle), blurred by blur (0–2000, default 0; sigma blur/20).
// Modes:
//
//	outer (default)  outside the shape; the canvas grows by width (plus
//	                 the blur's reach) on each side
//	inner            inside the shape, over its edge pixels
//	outer_fill, fill outer, and transparent holes enclosed by the shape
//	                 are filled with c
//	inner_fill       inner, and the enclosed holes are filled with c
//
// The result is sRGB with alpha.
func fxOutline(img *vips.Image, mode string, width, blur int, c transform.Color) error {
	var inner, fill bool
	switch mode {
	case "", "outer":
	case "inner":
		inner = true
	case "inner_fill":
		inner, fill = true, true
	case "outer_fill", "fill":
		fill = true
	default:
		return clderr.BadRequest("Invalid outline mode %q", mode)
	}
	if err := fxCheck(img, "outline"); err != nil {
		return err
	}
	width = fxClamp(width, 1, 100)
	bs := math.Min(float64(fxClamp(blur, 0, 2000))/20, fxMaxSigma)
	w, h := img.Width(), img.Height()
	grow := 0
	if !inner {
		grow = width + int(math.Ceil(2*bs))
	}
	if err := fxCanvas(w, h, w+2*grow, h+2*grow, "outline"); err != nil {
		return err
	}
	if err := fxShapeReady(img, "outline"); err != nil {
		return err
	}
	if grow > 0 {
		if err := img.Embed(grow, grow, w+2*grow, h+2*grow, nil); err != nil {
			return vipsErr("outline", err)
		}
		w, h = w+2*grow, h+2*grow
	}
	alpha, err := fxAlphaBand(img)
	if err != nil {
		return vipsErr("outline", err)
	}
	defer alpha.Close()
	// Work in a frame with a transparent margin, so that the image's own
	// edge counts as the shape's edge for an inner line.
	p := width + 1
	ring, err := alpha.Copy(nil)
	if err != nil {
		return vipsErr("outline", err)
	}
	defer ring.Close()
	if err := ring.Embed(p, p, w+2*p, h+2*p, nil); err != nil {
		return vipsErr("outline", err)
	}
	if inner {
		// ring = alpha − erode(alpha) = alpha + dilate(255 − alpha) − 255
		inv, err := ring.Copy(nil)
		if err != nil {
			return vipsErr("outline", err)
		}
		defer inv.Close()
		if err := fxChain(
			func() error { return inv.Invert() },
			func() error { return fxDilate(inv, width) },
		); err != nil {
			return vipsErr("outline", err)
		}
		if err := fxChain(
			func() error { return ring.Add(inv) },
			func() error {
				return ring.Linear([]float64{1}, []float64{-255 + 0.5}, &vips.LinearOptions{Uchar: true})
			},
		); err != nil {
			return vipsErr("outline", err)
		}
	} else if err := fxDilate(ring, width); err != nil {
		return vipsErr("outline", err)
	}
	if err := ring.ExtractArea(p, p, w, h); err != nil {
		return vipsErr("outline", err)
	}
	if fill {
		if err := fxFillHoles(ring, alpha); err != nil {
			return vipsErr("outline", err)
		}
	}
	if bs > 0 {
		if err := fxGaussblur(ring, bs); err != nil {
			return vipsErr("outline", err)
		}
		if inner {
			// Keep the blurred line within the shape.
			if err := fxChain(
				func() error { return ring.Multiply(alpha) },
				func() error {
					return ring.Linear([]float64{1.0 / 255}, []float64{0.5}, &vips.LinearOptions{Uchar: true})
				},
			); err != nil {
				return vipsErr("outline", err)
			}
		}
	}
	if err := ring.Linear([]float64{float64(c.A) / 255}, []float64{0.5}, &vips.LinearOptions{Uchar: true}); err != nil {
		return vipsErr("outline", err)
	}
	layer, err := fxColourLayer(ring, c)
	if err != nil {
		return vipsErr("outline", err)
	}
	defer layer.Close()
	blend := vips.BlendModeDestOver
	if inner {
		blend = vips.BlendModeOver
	}
	if err := img.Composite2(layer, blend, &vips.Composite2Options{CompositingSpace: vips.InterpretationSrgb}); err != nil {
		return vipsErr("outline", err)
	}
	return fxUchar(img, "outline")
}

// fxRoundCorners is r_: the corners outside circles of the given radii
// (top left, top right, bottom right, bottom left, in px) become
// transparent, with an anti-aliased edge. Radii that do not fit are
// scaled down together, as CSS does. max (r_max) cuts the largest
// ellipse instead: a circle for a square image. Alpha is added.
func fxRoundCorners(img *vips.Image, radii [4]float64, max bool) error {
	if err := fxCheck(img, "round corners"); err != nil {
		return err
	}
	w, h := img.Width(), img.Height()
	var mask *vips.Image
	var err error
	if max {
		mask, err = fxEllipseMask(w, h)
	} else {
		r := fxFitRadii(radii, float64(w), float64(h))
		if r == [4]float64{} {
			return nil
		}
		mask, err = fxCornerMask(w, h, r)
	}
	if err != nil {
		return vipsErr("round corners", err)
	}
	defer mask.Close()
	if !img.HasAlpha() {
		if err := addAlpha(img); err != nil {
			return err
		}
	}
	// alpha' = alpha · mask/255; colour bands · 1
	if err := mask.Linear(fxPerBand(img, []float64{0}, 1.0/255), fxPerBand(img, []float64{1}, 0), nil); err != nil {
		return vipsErr("round corners", err)
	}
	if err := img.Multiply(mask); err != nil {
		return vipsErr("round corners", err)
	}
	return fxUchar(img, "round corners")
}

// fxBorder is bo_: a solid border width px wide in colour c around the
// image, which grows by 2·width on each axis. The border is rectangular:
// it does not follow corners rounded by r_ before it.
func fxBorder(img *vips.Image, width int, c transform.Color) error {
	if width <= 0 {
		return nil
	}
	w, h := img.Width(), img.Height()
	if width > (math.MaxInt32-max(w, h))/2 {
		return fxTooLarge("border", width)
	}
	if err := fxCanvas(w, h, w+2*width, h+2*width, "border"); err != nil {
		return err
	}
	ink, err := inkFor(img, c)
	if err != nil {
		return err
	}
	opts := &vips.EmbedOptions{Extend: vips.ExtendBackground, Background: ink}
	return vipsErr("border", img.Embed(width, width, w+2*width, h+2*width, opts))
}

// fxOpacity is o_: alpha is multiplied by percent/100 (0–100); an image
// without alpha gets one unless percent is 100.
func fxOpacity(img *vips.Image, percent int) error {
	p := fxClamp(percent, 0, 100)
	if !img.HasAlpha() {
		if p == 100 {
			return nil
		}
		if err := addAlpha(img); err != nil {
			return err
		}
	}
	a := fxPerBand(img, []float64{1}, float64(p)/100)
	return vipsErr("opacity", img.Linear(a, fxPerBand(img, []float64{0.5}, 0.5), &vips.LinearOptions{Uchar: true}))
}

// ---- helpers ----

// fxClamp limits v to lo…hi.
func fxClamp(v, lo, hi int) int { return min(max(v, lo), hi) }

// fxColourBands is the number of colour bands: 1 or 3, without alpha.
func fxColourBands(img *vips.Image) int {
	if img.HasAlpha() {
		return img.Bands() - 1
	}
	return img.Bands()
}

// fxCheck refuses images that are not grey or RGB (with or without
// alpha), which the effects are not written for.
func fxCheck(img *vips.Image, op string) error {
	if n := fxColourBands(img); n != 1 && n != 3 {
		return fmt.Errorf("render: %s: unsupported image with %d bands", op, img.Bands())
	}
	return nil
}

// fxChain runs steps until one fails.
func fxChain(steps ...func() error) error {
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

// fxPerBand returns one value per band of img: the colour values (one
// value is repeated for each colour band) and alphaV for alpha. Give Linear
// both arrays per band: with per-band factors and a single offset,
// libvips 8.14 does not add the offset to every band.
func fxPerBand(img *vips.Image, colour []float64, alphaV float64) []float64 {
	nc := fxColourBands(img)
	out := make([]float64, 0, img.Bands())
	for i := 0; i < nc; i++ {
		out = append(out, colour[min(i, len(colour)-1)])
	}
	if img.HasAlpha() {
		out = append(out, alphaV)
	}
	return out
}

// fxUchar brings img back to 8 bits, rounding to nearest and clipping.
func fxUchar(img *vips.Image, op string) error {
	if img.BandFormat() == vips.BandFormatUchar {
		return nil
	}
	return vipsErr(op, img.Linear([]float64{1}, []float64{0.5}, &vips.LinearOptions{Uchar: true}))
}

// fxLinear maps each colour band v to a·v + b (rounded, clipped),
// leaving alpha alone.
func fxLinear(img *vips.Image, a, b []float64, op string) error {
	if err := fxCheck(img, op); err != nil {
		return err
	}
	bb := fxPerBand(img, b, 0)
	for i := range bb {
		bb[i] += 0.5 // Linear truncates; this rounds
	}
	return vipsErr(op, img.Linear(fxPerBand(img, a, 1), bb, &vips.LinearOptions{Uchar: true}))
}

// fxAffine maps the RGB bands of img by out = m·v + off, leaving alpha
// alone. img must be three-band (plus alpha).
func fxAffine(img *vips.Image, m [3][3]float64, off [3]float64, op string) error {
	if fxColourBands(img) != 3 {
		return fmt.Errorf("render: %s: needs an RGB image, not %d bands", op, img.Bands())
	}
	n := img.Bands()
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, n)
		if i < 3 {
			copy(rows[i], m[i][:])
		} else {
			rows[i][i] = 1 // alpha
		}
	}
	mat, err := fxMatrix(rows)
	if err != nil {
		return vipsErr(op, err)
	}
	defer mat.Close()
	if err := img.Recomb(mat); err != nil {
		return vipsErr(op, err)
	}
	ones, b := make([]float64, n), make([]float64, n)
	for i := range ones {
		ones[i], b[i] = 1, 0.5
		if i < 3 {
			b[i] += off[i]
		}
	}
	return vipsErr(op, img.Linear(ones, b, &vips.LinearOptions{Uchar: true}))
}

// fxMatrix makes a double matrix image from rows.
func fxMatrix(rows [][]float64) (*vips.Image, error) {
	m, err := vips.NewBlack(len(rows[0]), len(rows), nil)
	if err != nil {
		return nil, err
	}
	if err := m.Cast(vips.BandFormatDouble, nil); err != nil {
		m.Close()
		return nil, err
	}
	for y, row := range rows {
		for x, v := range row {
			if v == 0 {
				continue
			}
			if err := m.DrawRect([]float64{v}, x, y, 1, 1, &vips.DrawRectOptions{Fill: true}); err != nil {
				m.Close()
				return nil, err
			}
		}
	}
	return m, nil
}

// fxSaturationMatrix scales the distance of each colour from its luma by s.
func fxSaturationMatrix(s float64) [3][3]float64 {
	var m [3][3]float64
	for i := range m {
		for j := range m[i] {
			m[i][j] = (1 - s) * fxLuma[j]
			if i == j {
				m[i][j] += s
			}
		}
	}
	return m
}

// fxToSRGB makes a grey image three-band sRGB (alpha kept).
func fxToSRGB(img *vips.Image, op string) error {
	if err := fxCheck(img, op); err != nil {
		return err
	}
	if fxColourBands(img) == 3 {
		return nil
	}
	if err := img.Colourspace(vips.InterpretationSrgb, nil); err != nil {
		return vipsErr(op, err)
	}
	return fxUchar(img, op)
}

// fxPowLUT maps each colour band v to
// (1 − t)·v + t·255·(v/255)^exp through a lookup table.
func fxPowLUT(img *vips.Image, exp, t float64, op string) error {
	if err := fxCheck(img, op); err != nil {
		return err
	}
	if img.BandFormat() != vips.BandFormatUchar {
		return fmt.Errorf("render: %s: needs an 8-bit image", op)
	}
	n := img.Bands()
	zero := make([]float64, n)
	lut, err := vips.NewIdentity(&vips.IdentityOptions{Bands: n, Size: 256})
	if err != nil {
		return vipsErr(op, err)
	}
	defer lut.Close()
	orig, err := lut.Copy(nil)
	if err != nil {
		return vipsErr(op, err)
	}
	defer orig.Close()
	if err := fxChain(
		func() error { return lut.Linear([]float64{1.0 / 255}, []float64{0}, nil) },
		func() error { return lut.Math2Const(vips.OperationMath2Pow, fxPerBand(img, []float64{exp}, 1)) },
		func() error { return lut.Linear(fxPerBand(img, []float64{255 * t}, 255), zero, nil) },
		func() error { return orig.Linear(fxPerBand(img, []float64{1 - t}, 0), zero, nil) },
		func() error { return lut.Add(orig) },
		func() error { return lut.Linear([]float64{1}, []float64{0.5}, &vips.LinearOptions{Uchar: true}) },
	); err != nil {
		return vipsErr(op, err)
	}
	// maplut's output takes the table's interpretation: give it img's.
	typed, err := lut.Copy(&vips.CopyOptions{Interpretation: img.Interpretation()})
	if err != nil {
		return vipsErr(op, err)
	}
	defer typed.Close()
	return vipsErr(op, img.Maplut(typed, nil))
}

// fxAutoLevels stretches the histogram (of the luma, or of each channel)
// to the full range, blended with the original by blend/100.
func fxAutoLevels(img *vips.Image, blend int, luma bool, op string) error {
	t := float64(fxClamp(blend, 0, 100)) / 100
	if t == 0 {
		return nil
	}
	a, b, err := fxLevels(img, luma, op)
	if err != nil {
		return err
	}
	for i := range a {
		a[i], b[i] = 1+t*(a[i]-1), t*b[i]
	}
	return fxLinear(img, a, b, op)
}

// fxLevels finds the map v → a·v + b per colour band (one entry when
// luma is set or the image is grey) that takes the 0.5th and 99.5th
// percentiles to 0 and 255. A flat histogram maps to itself, and the
// gain is at most 8.
func fxLevels(img *vips.Image, luma bool, op string) (a, b []float64, err error) {
	hists, err := fxHistograms(img, luma, op)
	if err != nil {
		return nil, nil, err
	}
	for _, h := range hists {
		lo, hi := fxPercentile(h, 0.005), fxPercentile(h, 0.995)
		ai, bi := 1.0, 0.0
		if hi > lo {
			ai = math.Min(255/float64(hi-lo), 8)
			// Centre the stretched range when the gain is capped.
			bi = 127.5 - ai*float64(lo+hi)/2
		}
		a, b = append(a, ai), append(b, bi)
	}
	return a, b, nil
}

// fxHistograms returns the 256-bin histograms of img's colour bands, or
// of its luma, from a point-sampled copy of at most about fxStatPixels
// pixels. Alpha is ignored.
func fxHistograms(img *vips.Image, luma bool, op string) ([][]uint64, error) {
	if err := fxCheck(img, op); err != nil {
		return nil, err
	}
	if img.BandFormat() != vips.BandFormatUchar {
		return nil, fmt.Errorf("render: %s: needs an 8-bit image", op)
	}
	s, err := img.Copy(nil)
	if err != nil {
		return nil, vipsErr(op, err)
	}
	defer s.Close()
	nc := fxColourBands(img)
	w, h := img.Width(), img.Height()
	f := int(math.Ceil(math.Sqrt(float64(w) * float64(h) / fxStatPixels)))
	steps := []func() error{
		func() error { return s.ExtractBand(0, &vips.ExtractBandOptions{N: nc}) },
	}
	if f > 1 {
		steps = append(steps, func() error { return s.Subsample(min(f, w), min(f, h), &vips.SubsampleOptions{Point: true}) })
	}
	if luma && nc == 3 {
		steps = append(steps,
			func() error { return s.Linear(fxLuma[:], []float64{0, 0, 0}, nil) },
			func() error { return s.Bandmean() },
			func() error { return s.Linear([]float64{3}, []float64{0.5}, &vips.LinearOptions{Uchar: true}) },
		)
	}
	steps = append(steps, func() error { return s.HistFind(nil) })
	if err := fxChain(steps...); err != nil {
		return nil, vipsErr(op, err)
	}
	vals, err := fxValues(s)
	if err != nil {
		return nil, vipsErr(op, err)
	}
	bands := s.Bands()
	if len(vals) != 256*bands {
		return nil, fmt.Errorf("render: %s: histogram has %d values", op, len(vals))
	}
	hists := make([][]uint64, bands)
	for b := range hists {
		hists[b] = make([]uint64, 256)
		for v := range hists[b] {
			hists[b][v] = uint64(vals[v*bands+b])
		}
	}
	return hists, nil
}

// fxPercentile is the smallest value with at least p of the histogram's
// count at or below it.
func fxPercentile(h []uint64, p float64) int {
	var total uint64
	for _, c := range h {
		total += c
	}
	want := p * float64(total)
	var cum uint64
	for v, c := range h {
		cum += c
		if float64(cum) >= want && cum > 0 {
			return v
		}
	}
	return len(h) - 1
}

// fxValues evaluates a small image and returns its pixels as float64,
// band-interleaved.
func fxValues(img *vips.Image) ([]float64, error) {
	if err := img.Cast(vips.BandFormatDouble, nil); err != nil {
		return nil, err
	}
	raw, err := img.WriteToMemory()
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(raw)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.NativeEndian.Uint64(raw[i*8:]))
	}
	return out, nil
}

// fxSpan is the first and last index of a non-zero value, or -1, -1.
func fxSpan(v []float64) (first, last int) {
	first, last = -1, -1
	for i, x := range v {
		if x != 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return first, last
}

// fxSquare squares every band of img.
func fxSquare(img *vips.Image) error {
	c, err := img.Copy(nil)
	if err != nil {
		return err
	}
	defer c.Close()
	return img.Multiply(c)
}

// fxAddAbs replaces img by img + |img|, which is 2·max(img, 0).
func fxAddAbs(img *vips.Image) error {
	c, err := img.Copy(nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Abs(); err != nil {
		return err
	}
	return img.Add(c)
}

// fxAutoSquare is the pixelation square for a w×h area when none is
// given: a twelfth of the shorter side, 2–200 px.
func fxAutoSquare(w, h int) int {
	return fxClamp((min(w, h)+6)/12, 2, 200)
}

// fxBlurSigma blurs img with a Gaussian of sigma, premultiplying alpha
// so that transparent pixels do not bleed their colour.
func fxBlurSigma(img *vips.Image, sigma float64, op string) error {
	if err := fxCheck(img, op); err != nil {
		return err
	}
	alpha := img.HasAlpha()
	if alpha {
		if err := img.Premultiply(nil); err != nil {
			return vipsErr(op, err)
		}
	}
	if err := fxGaussblur(img, sigma); err != nil {
		return vipsErr(op, err)
	}
	if alpha {
		if err := img.Unpremultiply(nil); err != nil {
			return vipsErr(op, err)
		}
	}
	return fxUchar(img, op)
}

// fxGaussblur is a Gaussian blur whose cost does not grow with sigma:
// beyond sigma 6 it blurs a copy shrunk by a whole factor and enlarges it
// back. sigma is clamped to fxMaxSigma; 0 or less does nothing.
func fxGaussblur(img *vips.Image, sigma float64) error {
	if !(sigma > 0) {
		return nil
	}
	sigma = math.Min(sigma, fxMaxSigma)
	w, h := img.Width(), img.Height()
	f := min(int(sigma/3), min(w, h)/2)
	if sigma <= 6 || f < 2 {
		return img.Gaussblur(sigma, nil)
	}
	if err := fxShrink(img, f); err != nil {
		return err
	}
	// Hold the whole shrunk copy (at most a quarter of the image): the
	// blur and the enlargement read it many times over, and without the
	// cache each read would shrink the full image again.
	tiles := ((img.Width() + 127) / 128) * ((img.Height() + 127) / 128)
	if err := img.Cache(&vips.CacheOptions{MaxTiles: tiles + 1, TileWidth: 128, TileHeight: 128}); err != nil {
		return err
	}
	if err := img.Gaussblur(sigma/float64(f), nil); err != nil {
		return err
	}
	if err := img.Resize(float64(f), &vips.ResizeOptions{Kernel: vips.KernelLinear}); err != nil {
		return err
	}
	if img.Width() >= w && img.Height() >= h {
		return img.ExtractArea(0, 0, w, h)
	}
	return img.Embed(0, 0, w, h, &vips.EmbedOptions{Extend: vips.ExtendCopy})
}

// fxShrink averages f×f blocks (the last ones partial). libvips' shrink
// asks for its input a line at a time, which would recompute a costly
// input (a blur, a resample) many times over for each line; a cache of
// the last three rows of 64-line tiles makes it compute each line once.
func fxShrink(img *vips.Image, f int) error {
	across := (img.Width() + 127) / 128
	if err := img.Cache(&vips.CacheOptions{MaxTiles: 3 * across, TileWidth: 128, TileHeight: 64}); err != nil {
		return err
	}
	return img.Shrink(float64(f), float64(f), &vips.ShrinkOptions{Ceil: true})
}

// fxDilate grows a one-band 8-bit mask by r px, with round corners and
// an anti-aliased edge: a Gaussian blur of sigma r/1.5, then a steep
// ramp about the level a straight edge reaches r px out.
func fxDilate(mask *vips.Image, r int) error {
	sigma := float64(r) / 1.5
	th := 255 * 0.5 * math.Erfc(1.5/math.Sqrt2) // 255·Φ(−1.5)
	k := 255 / (255 * math.Exp(-1.5*1.5/2) / math.Sqrt(2*math.Pi) / sigma)
	if sigma <= 6 {
		if err := mask.Gaussblur(sigma, &vips.GaussblurOptions{MinAmpl: 0.01, Precision: vips.PrecisionFloat}); err != nil {
			return err
		}
	} else if err := fxGaussblur(mask, sigma); err != nil {
		return err
	}
	return mask.Linear([]float64{k}, []float64{127.5 - th*k + 0.5}, &vips.LinearOptions{Uchar: true})
}

// fxFillHoles sets ring to its maximum with the transparent areas of
// alpha that are enclosed by the shape, i.e. not reachable from outside.
func fxFillHoles(ring, alpha *vips.Image) error {
	w, h := alpha.Width(), alpha.Height()
	holes, err := alpha.Copy(nil)
	if err != nil {
		return err
	}
	defer holes.Close()
	if err := fxChain(
		func() error { return holes.RelationalConst(vips.OperationRelationalMore, []float64{127}) },
		func() error { return holes.Embed(1, 1, w+2, h+2, nil) },
		// Mark everything transparent that connects to the border.
		func() error { return holes.DrawFlood([]float64{128}, 0, 0, &vips.DrawFloodOptions{Equal: true}) },
		func() error { return holes.RelationalConst(vips.OperationRelationalEqual, []float64{0}) },
		func() error { return holes.ExtractArea(1, 1, w, h) },
	); err != nil {
		return err
	}
	both, err := vips.NewBandrank([]*vips.Image{ring, holes}, &vips.BandrankOptions{Index: 1})
	if err != nil {
		return err
	}
	defer both.Close()
	// ring takes both's pixels: both covers it entirely.
	return ring.Insert(both, 0, 0, nil)
}

// fxShapeReady makes img sRGB with alpha, for effects that composite.
func fxShapeReady(img *vips.Image, op string) error {
	if err := fxToSRGB(img, op); err != nil {
		return err
	}
	if !img.HasAlpha() {
		return addAlpha(img)
	}
	return nil
}

// fxAlphaBand returns a copy of img's last band.
func fxAlphaBand(img *vips.Image) (*vips.Image, error) {
	a, err := img.Copy(nil)
	if err != nil {
		return nil, err
	}
	if err := a.ExtractBand(img.Bands()-1, nil); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// fxColourLayer is an sRGB image of colour c with alpha from the
// one-band mask.
func fxColourLayer(mask *vips.Image, c transform.Color) (*vips.Image, error) {
	// The colour bands come from a constant, not from the mask, so that
	// the mask's pipeline is evaluated once.
	col, err := vips.NewBlack(mask.Width(), mask.Height(), &vips.BlackOptions{Bands: 3})
	if err != nil {
		return nil, err
	}
	defer col.Close()
	if err := col.Linear([]float64{1, 1, 1}, rgb(c), &vips.LinearOptions{Uchar: true}); err != nil {
		return nil, err
	}
	joined, err := vips.NewBandjoin([]*vips.Image{col, mask})
	if err != nil {
		return nil, err
	}
	defer joined.Close()
	return joined.Copy(&vips.CopyOptions{Interpretation: vips.InterpretationSrgb})
}

// fxCanvas refuses a canvas more than twice the image's area (plus
// fxSlack pixels, so thumbnails can take wide borders and shadows).
func fxCanvas(w, h, nw, nh int, op string) error {
	if float64(nw)*float64(nh) > 2*float64(w)*float64(h)+fxSlack {
		return clderr.BadRequest("The %s would make a %dx%d image too large (%dx%d)", op, w, h, nw, nh)
	}
	return nil
}

func fxTooLarge(op string, v int) error {
	return clderr.BadRequest("The %s of %d is too large", op, v)
}

// fxRegions applies fn to each rectangle of img (clipped to the image),
// seen with up to margin px of context around it, and puts the
// rectangle back. Later rectangles win where they overlap.
func fxRegions(img *vips.Image, rects []image.Rectangle, margin int, op string, fn func(*vips.Image) error) error {
	if len(rects) > fxMaxRegions {
		return clderr.BadRequest("Too many regions for %s: %d, at most %d", op, len(rects), fxMaxRegions)
	}
	bounds := image.Rect(0, 0, img.Width(), img.Height())
	for _, r := range rects {
		r = r.Canon().Intersect(bounds)
		if r.Empty() {
			continue
		}
		ctx := r.Inset(-margin).Intersect(bounds)
		if err := fxRegion(img, r, ctx, op, fn); err != nil {
			return err
		}
	}
	return nil
}

func fxRegion(img *vips.Image, r, ctx image.Rectangle, op string, fn func(*vips.Image) error) error {
	sub, err := img.Copy(nil)
	if err != nil {
		return vipsErr(op, err)
	}
	defer sub.Close()
	if err := sub.ExtractArea(ctx.Min.X, ctx.Min.Y, ctx.Dx(), ctx.Dy()); err != nil {
		return vipsErr(op, err)
	}
	if err := fn(sub); err != nil {
		return err
	}
	if ctx != r {
		if err := sub.ExtractArea(r.Min.X-ctx.Min.X, r.Min.Y-ctx.Min.Y, r.Dx(), r.Dy()); err != nil {
			return vipsErr(op, err)
		}
	}
	if sub.Bands() != img.Bands() || sub.BandFormat() != img.BandFormat() {
		return fmt.Errorf("render: %s: region changed its bands", op)
	}
	return vipsErr(op, img.Insert(sub, r.Min.X, r.Min.Y, nil))
}

// fxFitRadii clamps the corner radii to 0 or more and scales them down
// together until adjacent corners fit along each side.
func fxFitRadii(r [4]float64, w, h float64) [4]float64 {
	for i := range r {
		if !(r[i] > 0) { // also NaN
			r[i] = 0
		}
		r[i] = math.Min(r[i], w+h) // finite, for the scaling below
	}
	f := 1.0
	for _, side := range [][3]float64{{r[0], r[1], w}, {r[3], r[2], w}, {r[0], r[3], h}, {r[1], r[2], h}} {
		if s := side[0] + side[1]; s > side[2] {
			f = math.Min(f, side[2]/s)
		}
	}
	for i := range r {
		r[i] *= f
	}
	return r
}

// fxCornerMask is a w×h one-band mask, 255 except for the four corners
// cut by circles of radii r (tl, tr, br, bl).
func fxCornerMask(w, h int, r [4]float64) (*vips.Image, error) {
	mask, err := vips.NewBlack(w, h, nil)
	if err != nil {
		return nil, err
	}
	if err := mask.Linear([]float64{0}, []float64{255}, &vips.LinearOptions{Uchar: true}); err != nil {
		mask.Close()
		return nil, err
	}
	for i, ri := range r {
		if ri <= 0 {
			continue
		}
		n := min(int(math.Ceil(ri)), w, h)
		patch, err := fxCornerPatch(ri, n)
		if err != nil {
			mask.Close()
			return nil, err
		}
		x, y := 0, 0
		if i == 1 || i == 2 {
			x = w - n
			err = patch.Flip(vips.DirectionHorizontal)
		}
		if err == nil && (i == 2 || i == 3) {
			y = h - n
			err = patch.Flip(vips.DirectionVertical)
		}
		if err == nil {
			err = mask.Insert(patch, x, y, nil)
		}
		patch.Close()
		if err != nil {
			mask.Close()
			return nil, err
		}
	}
	return mask, nil
}

// fxCornerPatch is the n×n top-left corner of a mask cut by a circle of
// radius r centred at (r, r): each pixel's coverage, 0–255.
func fxCornerPatch(r float64, n int) (*vips.Image, error) {
	p, err := vips.NewXyz(n, n, nil)
	if err != nil {
		return nil, err
	}
	err = fxChain(
		// Offsets from the centre, clamped to 0 past it: 2·min(d, 0) = d − |d|.
		func() error { return p.Linear([]float64{1, 1}, []float64{0.5 - r, 0.5 - r}, nil) },
		func() error {
			c, err := p.Copy(nil)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.Abs(); err != nil {
				return err
			}
			return p.Subtract(c)
		},
		func() error { return fxSquare(p) },
		func() error { return p.Bandmean() },
		// dist = √(2·mean/4); coverage = clamp(r + ½ − dist)
		func() error { return p.Linear([]float64{0.5}, []float64{0}, nil) },
		func() error { return p.Math2Const(vips.OperationMath2Pow, []float64{0.5}) },
		func() error {
			return p.Linear([]float64{-255}, []float64{255*(r+0.5) + 0.5}, &vips.LinearOptions{Uchar: true})
		},
	)
	if err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// fxEllipseMask is a w×h one-band mask of the largest ellipse. The edge
// is anti-aliased by the first-order distance to it, (1 − s)/|∇s| with
// s the normalised radius, which is exact for a circle.
func fxEllipseMask(w, h int) (*vips.Image, error) {
	a, b := float64(w)/2, float64(h)/2
	sq, err := vips.NewXyz(w, h, nil)
	if err != nil {
		return nil, err
	}
	defer sq.Close()
	if err := fxChain(
		func() error { return sq.Linear([]float64{1, 1}, []float64{0.5 - a, 0.5 - b}, nil) },
		func() error { return fxSquare(sq) }, // dx², dy²
	); err != nil {
		return nil, err
	}
	// s = √(dx²/a² + dy²/b²)
	s, err := sq.Copy(nil)
	if err != nil {
		return nil, err
	}
	if err := fxChain(
		func() error { return s.Linear([]float64{2 / (a * a), 2 / (b * b)}, []float64{0, 0}, nil) },
		func() error { return s.Bandmean() },
		func() error { return s.Math2Const(vips.OperationMath2Pow, []float64{0.5}) },
	); err != nil {
		s.Close()
		return nil, err
	}
	// G = √(dx²/a⁴ + dy²/b⁴) = s·|∇s|
	g := sq
	if err := fxChain(
		func() error {
			return g.Linear([]float64{2 / (a * a * a * a), 2 / (b * b * b * b)}, []float64{0, 0}, nil)
		},
		func() error { return g.Bandmean() },
		func() error { return g.Linear([]float64{1}, []float64{1e-12}, nil) },
		func() error { return g.Math2Const(vips.OperationMath2Pow, []float64{0.5}) },
	); err != nil {
		s.Close()
		return nil, err
	}
	// sc = max(s, ½) keeps the quotient finite at the centre, where the
	// distance is large anyway.
	sc, err := s.Copy(nil)
	if err != nil {
		s.Close()
		return nil, err
	}
	defer sc.Close()
	if err := fxChain(
		func() error { return sc.Linear([]float64{1}, []float64{-0.5}, nil) },
		func() error { return fxAddAbs(sc) },
		func() error { return sc.Linear([]float64{0.5}, []float64{0.5}, nil) },
	); err != nil {
		s.Close()
		return nil, err
	}
	// d = (1 − s)·sc/G; coverage = clamp(d + ½)
	if err := fxChain(
		func() error { return s.Linear([]float64{-1}, []float64{1}, nil) },
		func() error { return s.Multiply(sc) },
		func() error { return s.Divide(g) },
		func() error {
			return s.Linear([]float64{255}, []float64{255*0.5 + 0.5}, &vips.LinearOptions{Uchar: true})
		},
	); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

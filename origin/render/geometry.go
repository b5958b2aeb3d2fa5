package render

import (
	"image"
	"math"

	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/transform"
)

// geometry is what one component does to an image's size, as pure
// arithmetic: resize the input to ResizeW×ResizeH, then take a CropW×CropH
// region (at CropX, CropY, or chosen by smart cropping), then pad to
// PadW×PadH with the image at PadX, PadY.
type geometry struct {
	ResizeW, ResizeH int
	Crop             bool
	Smart            bool // pick the crop region by attention, not by CropX/CropY
	CropX, CropY     int
	CropW, CropH     int
	Pad              bool
	PadX, PadY       int
	PadW, PadH       int
}

// Out is the size the geometry produces.
func (g geometry) Out() (w, h int) {
	switch {
	case g.Pad:
		return g.PadW, g.PadH
	case g.Crop:
		return g.CropW, g.CropH
	}
	return g.ResizeW, g.ResizeH
}

// Scales reports whether the geometry resizes an inW×inH input.
func (g geometry) Scales(inW, inH int) bool { return g.ResizeW != inW || g.ResizeH != inH }

// plan computes the geometry of component c on an inW×inH input. The
// rules follow Cloudinary's crop modes: scale and fill may upscale, limit,
// lfill, lpad and thumb never do, mfit and mpad only do; an absent mode
// with a width or height scales. focus is the detected faces' box (in
// input pixels) for face gravities, or empty.
func plan(inW, inH int, c *transform.Component, maxPixels int, focus image.Rectangle) (geometry, error) {
	g := geometry{ResizeW: inW, ResizeH: inH}
	hasW, hasH := c.Has(transform.ParamWidth), c.Has(transform.ParamHeight)
	var w, h float64
	if hasW {
		w = c.Width.Resolve(inW)
	}
	if hasH {
		h = c.Height.Resolve(inH)
	}
	if c.Has(transform.ParamAspectRatio) {
		ar := c.AspectRatio.Value()
		switch {
		case hasW && !hasH:
			h, hasH = w/ar, true
		case hasH && !hasW:
			w, hasW = h*ar, true
		case !hasW && !hasH:
			// The largest region of that ratio inside the input.
			if float64(inW)/float64(inH) > ar {
				h, w = float64(inH), float64(inH)*ar
			} else {
				w, h = float64(inW), float64(inW)/ar
			}
			hasW, hasH = true, true
		}
	}
	dpr := 1.0
	if c.Has(transform.ParamDPR) && !c.DPR.Auto {
		dpr = c.DPR.V // an unresolved dpr_auto (inside a named transformation) is 1
	}
	w, h = w*dpr, h*dpr
	if !hasW && !hasH && dpr != 1 && c.Crop != transform.CropCrop {
		// dpr alone scales the whole image.
		w, h, hasW, hasH = float64(inW)*dpr, float64(inH)*dpr, true, true
	}
	if !hasW && !hasH {
		switch {
		case c.Crop == transform.CropCrop && c.Gravity.Faces() && !focus.Empty():
			cropOnFaces(&g, focus, inW, inH, false, false, 0, 0, zoom(c))
		case c.Crop == transform.CropCrop && (c.Has(transform.ParamX) || c.Has(transform.ParamY)):
			// From x_, y_ to the far edges.
			fx, fy, ok := c.Gravity.Compass()
			if !ok || c.Gravity == transform.GravityNone {
				fx, fy = 0, 0
			}
			cropAt(&g, c, inW, inH, false, false, inW, inH, fx, fy)
		}
		return g, checkSize(g, inW, inH, maxPixels)
	}
	tw, th := px(w), px(h)
	fw, fh := float64(inW), float64(inH)
	// The scale that fits the box, and the one that covers it.
	fit, cover := 0.0, 0.0
	switch {
	case hasW && hasH:
		fit, cover = math.Min(w/fw, h/fh), math.Max(w/fw, h/fh)
	case hasW:
		fit, cover = w/fw, w/fw
	default:
		fit, cover = h/fh, h/fh
	}
	scaleBy := func(s float64) {
		g.ResizeW, g.ResizeH = px(fw*s), px(fh*s)
	}
	fx, fy, compass := c.Gravity.Compass()
	if !compass {
		fx, fy = 0.5, 0.5
	}
	faces := c.Gravity.Faces() && !focus.Empty()
	smart := c.Gravity == transform.GravityAuto || c.Crop == transform.CropAuto && !c.Has(transform.ParamGravity)
	crop := func(cw, ch int) {
		cw, ch = min(cw, g.ResizeW), min(ch, g.ResizeH)
		if cw == g.ResizeW && ch == g.ResizeH {
			return
		}
		g.Crop, g.CropW, g.CropH = true, cw, ch
		g.Smart = smart
		g.CropX = int(math.Round(float64(g.ResizeW-cw) * fx))
		g.CropY = int(math.Round(float64(g.ResizeH-ch) * fy))
		if faces {
			// Centre the region on the faces, as far as the edges allow.
			s := float64(g.ResizeW) / fw
			cx, cy := float64(focus.Min.X+focus.Max.X)/2*s, float64(focus.Min.Y+focus.Max.Y)/2*s
			g.CropX = clamp(int(math.Round(cx-float64(cw)/2)), 0, g.ResizeW-cw)
			g.CropY = clamp(int(math.Round(cy-float64(ch)/2)), 0, g.ResizeH-ch)
		}
	}
	pad := func(pw, ph int) {
		cw, ch := g.ResizeW, g.ResizeH
		if g.Crop {
			cw, ch = g.CropW, g.CropH
		}
		if pw == cw && ph == ch {
			return
		}
		g.Pad, g.PadW, g.PadH = true, max(pw, cw), max(ph, ch)
		g.PadX = int(math.Round(float64(g.PadW-cw) * fx))
		g.PadY = int(math.Round(float64(g.PadH-ch) * fy))
	}
	switch c.Crop {
	case transform.CropNone, transform.CropScale:
		switch {
		case hasW && hasH:
			g.ResizeW, g.ResizeH = tw, th
		default:
			scaleBy(fit)
		}
	case transform.CropFit:
		scaleBy(fit)
	case transform.CropLimit:
		scaleBy(math.Min(fit, 1))
	case transform.CropMFit:
		scaleBy(math.Max(fit, 1))
	case transform.CropFill, transform.CropAuto:
		if !(hasW && hasH) {
			scaleBy(fit)
			break
		}
		scaleBy(cover)
		crop(tw, th)
	case transform.CropThumb:
		if faces && hasW && hasH {
			thumbOnFaces(&g, focus, inW, inH, tw, th, zoom(c))
			break
		}
		fallthrough
	case transform.CropLFill:
		if !(hasW && hasH) {
			scaleBy(math.Min(fit, 1))
			break
		}
		scaleBy(math.Min(cover, 1))
		crop(tw, th)
	case transform.CropFillPad:
		if !(hasW && hasH) {
			scaleBy(fit)
			break
		}
		// Fill, but never crop away more than a fifth of the image on the
		// cropped axis: what is left over is padded instead.
		scaleBy(math.Min(cover, fit/fillPadKeep))
		crop(tw, th)
		pad(tw, th)
	case transform.CropPad, transform.CropLPad, transform.CropMPad:
		s := fit
		switch c.Crop {
		case transform.CropLPad:
			s = math.Min(s, 1)
		case transform.CropMPad:
			s = math.Max(s, 1)
		}
		scaleBy(s)
		if hasW && hasH {
			pad(tw, th)
		}
	case transform.CropCrop:
		if faces {
			cropOnFaces(&g, focus, inW, inH, hasW, hasH, tw, th, zoom(c))
			break
		}
		if c.Gravity == transform.GravityNone && (c.Has(transform.ParamX) || c.Has(transform.ParamY)) {
			fx, fy = 0, 0 // without a gravity, x_ and y_ are the region's top-left corner
		}
		cropAt(&g, c, inW, inH, hasW, hasH, tw, th, fx, fy)
		g.Smart = smart
	}
	return g, checkSize(g, inW, inH, maxPixels)
}

// fillPadKeep is the least share of each axis c_fill_pad keeps.
const fillPadKeep = 0.8

func zoom(c *transform.Component) float64 {
	if c.Has(transform.ParamZoom) {
		return c.Zoom
	}
	return 1
}

// faceContext is how much larger than the faces' box a face crop is at
// zoom 1: enough for hair and shoulders. z_ divides it.
const faceContext = 2.0

// thumbOnFaces plans c_thumb with face gravity: a region of the target's
// aspect ratio around the faces, with context that zoom narrows, scaled
// to tw×th. The region is never smaller than the target, so a thumbnail
// adds context rather than upscaling.
func thumbOnFaces(g *geometry, focus image.Rectangle, inW, inH, tw, th int, z float64) {
	ar := float64(tw) / float64(th)
	ctxW, ctxH := float64(focus.Dx())*faceContext/z, float64(focus.Dy())*faceContext/z
	rw := math.Max(ctxW, ctxH*ar)
	rw = math.Max(rw, float64(tw))
	rh := rw / ar
	if f := math.Min(float64(inW)/rw, float64(inH)/rh); f < 1 {
		rw, rh = rw*f, rh*f
	}
	s := float64(tw) / rw
	g.ResizeW, g.ResizeH = px(float64(inW)*s), px(float64(inH)*s)
	cw, ch := min(tw, g.ResizeW), min(th, g.ResizeH)
	cx, cy := float64(focus.Min.X+focus.Max.X)/2*s, float64(focus.Min.Y+focus.Max.Y)/2*s
	g.Crop, g.CropW, g.CropH = true, cw, ch
	g.CropX = clamp(int(math.Round(cx-float64(cw)/2)), 0, g.ResizeW-cw)
	g.CropY = clamp(int(math.Round(cy-float64(ch)/2)), 0, g.ResizeH-ch)
}

// cropOnFaces plans c_crop with face gravity: a w×h region centred on
// the faces, or without a size the faces' box with context.
func cropOnFaces(g *geometry, focus image.Rectangle, inW, inH int, hasW, hasH bool, tw, th int, z float64) {
	cw, ch := tw, th
	if !hasW || !hasH {
		cw = px(float64(focus.Dx()) * faceContext / z)
		ch = px(float64(focus.Dy()) * faceContext / z)
	}
	cw, ch = min(cw, inW), min(ch, inH)
	cx, cy := float64(focus.Min.X+focus.Max.X)/2, float64(focus.Min.Y+focus.Max.Y)/2
	g.Crop, g.CropW, g.CropH = true, cw, ch
	g.CropX = clamp(int(math.Round(cx-float64(cw)/2)), 0, inW-cw)
	g.CropY = clamp(int(math.Round(cy-float64(ch)/2)), 0, inH-ch)
}

// checkSize bounds the output and any upscaled intermediate; the input
// itself was bounded when it was uploaded. The arithmetic is in float64
// so that no product can overflow.
func checkSize(g geometry, inW, inH, maxPixels int) error {
	ow, oh := g.Out()
	resized := float64(g.ResizeW) * float64(g.ResizeH)
	if float64(ow)*float64(oh) > float64(maxPixels) || (resized > float64(inW)*float64(inH) && resized > float64(maxPixels)) {
		return tooLarge(ow, oh, maxPixels)
	}
	return nil
}

func tooLarge(w, h, maxPixels int) error {
	return clderr.BadRequest("Requested image is too large (%dx%d is over %d pixels)", w, h, maxPixels)
}

// cropAt places c_crop's region: by x/y from the gravity's corner, or
// centred on x/y for xy_center, and clamps it to the image.
func cropAt(g *geometry, c *transform.Component, inW, inH int, hasW, hasH bool, tw, th int, fx, fy float64) {
	cw, ch := inW, inH
	if hasW {
		cw = min(tw, inW)
	}
	if hasH {
		ch = min(th, inH)
	}
	x := c.X.Resolve(inW)
	y := c.Y.Resolve(inH)
	var left, top float64
	if c.Gravity == transform.GravityXYCenter {
		left, top = x-float64(cw)/2, y-float64(ch)/2
	} else {
		left = float64(inW-cw) * fx
		top = float64(inH-ch) * fy
		// Offsets point away from the gravity's edge, into the image.
		if fx > 0.5 {
			x = -x
		}
		if fy > 0.5 {
			y = -y
		}
		left, top = left+x, top+y
	}
	// Without a width (height), the region runs from x (y) to the edge.
	if !hasW && c.Has(transform.ParamX) && c.Gravity != transform.GravityXYCenter {
		cw = clamp(inW-int(math.Round(left)), 1, inW)
	}
	if !hasH && c.Has(transform.ParamY) && c.Gravity != transform.GravityXYCenter {
		ch = clamp(inH-int(math.Round(top)), 1, inH)
	}
	g.Crop = true
	g.CropW, g.CropH = cw, ch
	g.CropX = clamp(int(math.Round(left)), 0, inW-cw)
	g.CropY = clamp(int(math.Round(top)), 0, inH-ch)
}

// px rounds a computed length to whole pixels, half up, never below 1.
func px(f float64) int {
	return max(1, int(math.Floor(f+0.5)))
}

func clamp(v, lo, hi int) int {
	return max(lo, min(v, hi))
}

package render

import (
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
// lfill, lpad and thumb never do, mfit only does; an absent mode with a
// width or height scales.
func plan(inW, inH int, c *transform.Component, maxPixels int) (geometry, error) {
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
	if c.Has(transform.ParamDPR) {
		dpr = c.DPR.V
	}
	w, h = w*dpr, h*dpr
	if !hasW && !hasH && dpr != 1 && c.Crop != transform.CropCrop {
		// dpr alone scales the whole image.
		w, h, hasW, hasH = float64(inW)*dpr, float64(inH)*dpr, true, true
	}
	if !hasW && !hasH {
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
	crop := func(cw, ch int) {
		cw, ch = min(cw, g.ResizeW), min(ch, g.ResizeH)
		if cw == g.ResizeW && ch == g.ResizeH {
			return
		}
		g.Crop, g.CropW, g.CropH = true, cw, ch
		g.Smart = c.Gravity == transform.GravityAuto
		g.CropX = int(math.Round(float64(g.ResizeW-cw) * fx))
		g.CropY = int(math.Round(float64(g.ResizeH-ch) * fy))
	}
	pad := func(pw, ph int) {
		if pw == g.ResizeW && ph == g.ResizeH {
			return
		}
		g.Pad, g.PadW, g.PadH = true, max(pw, g.ResizeW), max(ph, g.ResizeH)
		g.PadX = int(math.Round(float64(g.PadW-g.ResizeW) * fx))
		g.PadY = int(math.Round(float64(g.PadH-g.ResizeH) * fy))
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
	case transform.CropFill:
		if !(hasW && hasH) {
			scaleBy(fit)
			break
		}
		scaleBy(cover)
		crop(tw, th)
	case transform.CropLFill, transform.CropThumb:
		if !(hasW && hasH) {
			scaleBy(math.Min(fit, 1))
			break
		}
		scaleBy(math.Min(cover, 1))
		crop(tw, th)
	case transform.CropPad, transform.CropLPad:
		s := fit
		if c.Crop == transform.CropLPad {
			s = math.Min(s, 1)
		}
		scaleBy(s)
		if hasW && hasH {
			pad(tw, th)
		}
	case transform.CropCrop:
		cropAt(&g, c, inW, inH, hasW, hasH, tw, th, fx, fy)
	}
	return g, checkSize(g, inW, inH, maxPixels)
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
	g.Smart = c.Gravity == transform.GravityAuto
}

// px rounds a computed length to whole pixels, half up, never below 1.
func px(f float64) int {
	return max(1, int(math.Floor(f+0.5)))
}

func clamp(v, lo, hi int) int {
	return max(lo, min(v, hi))
}

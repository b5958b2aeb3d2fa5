package render

import (
	"math"

	"github.com/refract-cdn/refract/origin/vips"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/transform"
)

// layer draws one layer group onto base. The group is the l_/u_
// component, the components scoped to the layer, and the fl_layer_apply
// component that places it; or a single component that does all three,
// as older URLs write it ("l_badge,w_50,g_north_east,x_10").
func (r *runner) layer(base *vips.Image, group []transform.Component) error {
	lc := group[0]
	place := group[len(group)-1]
	// Placement (and a text layer's wrap width) are measured on the base.
	r.measure(base)
	if err := lc.Resolve(&r.env); err != nil {
		return err
	}
	if len(group) == 1 {
		place = lc
	} else if err := place.Resolve(&r.env); err != nil {
		return err
	}
	const placement = 1<<transform.ParamGravity | 1<<transform.ParamX | 1<<transform.ParamY
	own := group[0]                         // the layer's own transformation, from its first component
	own.If, own.NVars = transform.Cond{}, 0 // already applied, to the base
	own.Set &^= 1<<transform.ParamOverlay | 1<<transform.ParamUnderlay
	own.Flags &^= transform.FlagLayerApply | transform.FlagRelative
	if len(group) == 1 {
		own.Set &^= placement
	}
	scoped := append([]transform.Component{own}, group[1:max(1, len(group)-1)]...)
	relative := (lc.Flags|place.Flags)&transform.FlagRelative != 0

	img, err := r.layerSource(&lc, &scoped[0], base, relative)
	if err != nil {
		return err
	}
	defer img.Close()
	if relative {
		// w_/h_ fractions refer to the base image, not to the layer.
		for i := range scoped {
			relativeTo(&scoped[i], base.Width(), base.Height())
		}
	}
	sub := &runner{req: r.req, maxPixels: r.maxPixels, bg: white, layers: r.layers}
	sub.env = transform.Env{IW: float64(img.Width()), IH: float64(img.Height()), Pages: 1, Vars: r.env.Vars}
	if err := sub.run(img, scoped, 1); err != nil {
		return err
	}
	if place.Has(transform.ParamOpacity) && len(group) > 1 {
		if err := fxOpacity(img, int(place.Opacity)); err != nil {
			return err
		}
	}
	x, y, err := r.position(base, img, &place)
	if err != nil {
		return err
	}
	if lc.Layer.Under {
		err = underlay(base, img, x, y)
	} else {
		err = overlay(base, img, x, y)
	}
	if err != nil {
		return err
	}
	r.forget()
	if len(group) == 1 {
		return nil
	}
	// Anything else in the fl_layer_apply component applies to the result.
	rest := place
	rest.Set &^= placement | 1<<transform.ParamOpacity
	rest.Flags &^= transform.FlagLayerApply | transform.FlagRelative
	if rest.Flags == 0 {
		rest.Set &^= 1 << transform.ParamFlags
	}
	if rest.Set == 0 {
		return nil
	}
	return r.component(base, &rest, false)
}

// layerSource renders a text layer or loads an image layer's original.
// For text, co_ is the colour and c_fit with w_ the wrapping width; both
// are consumed here.
func (r *runner) layerSource(lc, own *transform.Component, base *vips.Image, relative bool) (*vips.Image, error) {
	if lc.Layer.Kind == transform.LayerText {
		st, text, err := parseTextLayer(lc.Layer.ID)
		if err != nil {
			return nil, err
		}
		st.Color = transform.Color{A: 255}
		if lc.Has(transform.ParamColor) {
			st.Color = lc.Color
			own.Set &^= 1 << transform.ParamColor
		}
		if lc.Crop == transform.CropFit && lc.Has(transform.ParamWidth) {
			w := lc.Width.Resolve(base.Width())
			if !relative && lc.Width.Rel {
				w = lc.Width.V * float64(base.Width())
			}
			st.Width = px(w)
			own.Set &^= 1<<transform.ParamWidth | 1<<transform.ParamCrop
		}
		return textImage(st, text)
	}
	id := lc.Layer.PublicID()
	var src []byte
	var err error
	if src = r.layers[id]; src == nil {
		if r.req.Layer != nil {
			src, err = r.req.Layer(id)
		} else {
			err = errMissingLayer(id)
		}
		if err != nil {
			return nil, err
		}
		if r.layers == nil {
			r.layers = map[string][]byte{}
		}
		r.layers[id] = src // the frames of an animation read it once
	}
	f := Sniff(src)
	if f == format.Unknown {
		return nil, clderr.BadRequest("Unknown or invalid referenced image %s", id)
	}
	img, err := load(src, f, loadOptions{Shrink: 1, MaxPixels: r.maxPixels})
	if err != nil {
		return nil, clderr.BadRequest("Unknown or invalid referenced image %s", id)
	}
	if info := describe(img, f); int64(info.Width)*int64(info.Height) > int64(r.maxPixels) {
		img.Close()
		return nil, tooLarge(info.Width, info.Height, r.maxPixels)
	}
	if err := img.Autorot(nil); err != nil {
		img.Close()
		return nil, vipsErr("autorotate", err)
	}
	if err := toSRGB(img); err != nil {
		img.Close()
		return nil, err
	}
	return img, nil
}

func errMissingLayer(id string) error {
	return clderr.BadRequest("Unknown or invalid referenced image %s of type upload", id)
}

// ErrMissingLayer is the error a Request.Layer should return for a
// public_id that does not exist.
func ErrMissingLayer(id string) error { return errMissingLayer(id) }

// relativeTo turns fractional w_/h_ into pixels of the base image.
func relativeTo(c *transform.Component, w, h int) {
	if c.Has(transform.ParamWidth) && c.Width.Rel {
		c.Width = transform.Size{V: math.Max(1, c.Width.V*float64(w))}
	}
	if c.Has(transform.ParamHeight) && c.Height.Rel {
		c.Height = transform.Size{V: math.Max(1, c.Height.V*float64(h))}
	}
}

// position places a layer by the apply component's gravity and offsets;
// face gravities centre it on the faces.
func (r *runner) position(base, layer *vips.Image, place *transform.Component) (int, int, error) {
	dx, dy := 0.0, 0.0
	if place.Has(transform.ParamX) {
		dx = place.X.Resolve(base.Width())
	}
	if place.Has(transform.ParamY) {
		dy = place.Y.Resolve(base.Height())
	}
	if place.Gravity.Faces() {
		focus, err := r.focus(base, place.Gravity)
		if err != nil {
			return 0, 0, err
		}
		if !focus.Empty() {
			cx, cy := float64(focus.Min.X+focus.Max.X)/2, float64(focus.Min.Y+focus.Max.Y)/2
			return int(math.Round(cx - float64(layer.Width())/2 + dx)), int(math.Round(cy - float64(layer.Height())/2 + dy)), nil
		}
	}
	fx, fy, ok := place.Gravity.Compass()
	if !ok {
		fx, fy = 0.5, 0.5
	}
	x, y := placeLayer(base.Width(), base.Height(), layer.Width(), layer.Height(), fx, fy, dx, dy)
	return x, y, nil
}

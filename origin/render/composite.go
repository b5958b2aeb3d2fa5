package render

import (
	"errors"
	"math"

	"github.com/refract-cdn/refract/origin/vips"
)

// overlay draws layer, with its alpha, over base with its top-left corner
// at x, y. The layer is clipped to base, whose size does not change. A grey
// base becomes sRGB under a colour layer; base keeps its alpha if it has
// one, and gets none otherwise. layer is not modified.
func overlay(base, layer *vips.Image, x, y int) error {
	return compose(base, layer, x, y, vips.BlendModeOver)
}

// underlay draws layer under base, at x, y: the layer shows where base is
// transparent, and the result is base's size.
func underlay(base, layer *vips.Image, x, y int) error {
	return compose(base, layer, x, y, vips.BlendModeDestOver)
}

func compose(base, layer *vips.Image, x, y int, mode vips.BlendMode) error {
	if base == nil || layer == nil {
		return errors.New("render: compose: nil image")
	}
	bw, bh, lw, lh := base.Width(), base.Height(), layer.Width(), layer.Height()
	// The visible part of the layer, in its own coordinates. In int64 so
	// that no offset can overflow.
	left, top := max(0, -int64(x)), max(0, -int64(y))
	right := min(int64(lw), int64(bw)-int64(x))
	bottom := min(int64(lh), int64(bh)-int64(y))
	if left >= right || top >= bottom {
		return nil // entirely outside base
	}
	part, err := layer.Copy(nil)
	if err != nil {
		return vipsErr("layer", err)
	}
	defer part.Close()
	if left > 0 || top > 0 || right < int64(lw) || bottom < int64(lh) {
		if err := part.ExtractArea(int(left), int(top), int(right-left), int(bottom-top)); err != nil {
			return vipsErr("layer clip", err)
		}
	}
	hadAlpha, format := base.HasAlpha(), base.BandFormat()
	// Without a compositing space, libvips picks one that holds every
	// input: B_W for grey on grey, sRGB once either is colour, and their
	// 16-bit forms if either is 16-bit.
	opt := &vips.Composite2Options{X: int(max(0, int64(x))), Y: int(max(0, int64(y)))}
	if err := base.Composite2(part, mode, opt); err != nil {
		return vipsErr("composite", err)
	}
	if !hadAlpha && base.HasAlpha() {
		if err := base.ExtractBand(0, &vips.ExtractBandOptions{N: base.Bands() - 1}); err != nil {
			return vipsErr("composite", err)
		}
	}
	if base.BandFormat() != format {
		if err := base.Cast(format, nil); err != nil {
			return vipsErr("composite", err)
		}
	}
	return nil
}

// placeLayer is where fl_layer_apply puts a layerW×layerH layer on a
// baseW×baseH base: fx, fy are the gravity's anchors (0, 0.5 or 1 per
// axis: north_west is 0, 0; center .5, .5; south_east 1, 1) and dx, dy the
// x_ and y_ offsets in pixels. As in Cloudinary, an offset points away
// from the edge the layer is anchored to: +x moves left under an east
// gravity and right otherwise; +y moves up under a south gravity and down
// otherwise. The result is the layer's top-left corner, rounded half up,
// and may lie outside the base.
func placeLayer(baseW, baseH, layerW, layerH int, fx, fy float64, dx, dy float64) (x, y int) {
	return placeAxis(baseW, layerW, fx, dx), placeAxis(baseH, layerH, fy, dy)
}

func placeAxis(base, layer int, f, d float64) int {
	if f > 0.5 {
		d = -d
	}
	v := math.Floor(f*float64(base-layer) + d + 0.5)
	// Far outside any image; clamped so the conversion cannot overflow.
	const far = 1 << 40
	return int(math.Max(-far, math.Min(far, v)))
}

package render

import (
	"image/color"
	"testing"

	"github.com/refract-cdn/refract/origin/vips"
)

// solid makes a w×h image of one pixel value: 1 or 2 bands are grey (with
// alpha), 3 or 4 sRGB (with alpha).
func solidImage(t *testing.T, w, h int, pix ...byte) *vips.Image {
	t.Helper()
	buf := make([]byte, 0, w*h*len(pix))
	for i := 0; i < w*h; i++ {
		buf = append(buf, pix...)
	}
	mem, err := vips.NewImageFromMemory(buf, w, h, len(pix))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	space := vips.InterpretationSrgb
	if len(pix) < 3 {
		space = vips.InterpretationBW
	}
	img, err := mem.Copy(&vips.CopyOptions{Interpretation: space})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// at is pixel x, y of img as NRGBA, after a PNG round trip.
func pixelsAt(t *testing.T, img *vips.Image, pts ...[2]int) []color.NRGBA {
	t.Helper()
	p := pngNRGBA(t, img)
	out := make([]color.NRGBA, len(pts))
	for i, pt := range pts {
		out[i] = p.NRGBAAt(pt[0], pt[1])
	}
	return out
}

func nearColor(a, b color.NRGBA, tol int) bool {
	d := func(x, y uint8) bool { return int(x)-int(y) <= tol && int(y)-int(x) <= tol }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B) && d(a.A, b.A)
}

var (
	opaqueRed   = color.NRGBA{255, 0, 0, 255}
	opaqueWhite = color.NRGBA{255, 255, 255, 255}
	opaqueBlue  = color.NRGBA{0, 0, 255, 255}
)

func checkLayerPixels(t *testing.T, name string, img *vips.Image, want map[[2]int]color.NRGBA, tol int) {
	t.Helper()
	pts := make([][2]int, 0, len(want))
	for pt := range want {
		pts = append(pts, pt)
	}
	for i, got := range pixelsAt(t, img, pts...) {
		if !nearColor(got, want[pts[i]], tol) {
			t.Errorf("%s: pixel %v is %v, want %v", name, pts[i], got, want[pts[i]])
		}
	}
}

func TestOverlay(t *testing.T) {
	base := solidImage(t, 50, 50, 255, 255, 255)
	defer base.Close()
	layer := solidImage(t, 10, 10, 255, 0, 0)
	defer layer.Close()
	if err := overlay(base, layer, 5, 5); err != nil {
		t.Fatal(err)
	}
	if base.Width() != 50 || base.Height() != 50 || base.Bands() != 3 || base.BandFormat() != vips.BandFormatUchar {
		t.Fatalf("overlay made %dx%d, %d bands, format %v; want 50x50 RGB uchar", base.Width(), base.Height(), base.Bands(), base.BandFormat())
	}
	checkLayerPixels(t, "overlay", base, map[[2]int]color.NRGBA{
		{10, 10}: opaqueRed, {5, 5}: opaqueRed, {14, 14}: opaqueRed,
		{0, 0}: opaqueWhite, {4, 4}: opaqueWhite, {15, 15}: opaqueWhite, {49, 49}: opaqueWhite,
	}, 0)
	if layer.Width() != 10 || layer.Height() != 10 {
		t.Errorf("overlay changed the layer to %dx%d", layer.Width(), layer.Height())
	}
}

func TestOverlayClips(t *testing.T) {
	for _, tc := range []struct {
		x, y int
		want map[[2]int]color.NRGBA
	}{
		{-5, -5, map[[2]int]color.NRGBA{{0, 0}: opaqueRed, {4, 4}: opaqueRed, {5, 5}: opaqueWhite, {5, 0}: opaqueWhite}},
		{45, 45, map[[2]int]color.NRGBA{{49, 49}: opaqueRed, {45, 45}: opaqueRed, {44, 44}: opaqueWhite}},
		{-5, 40, map[[2]int]color.NRGBA{{0, 40}: opaqueRed, {4, 49}: opaqueRed, {5, 45}: opaqueWhite, {0, 39}: opaqueWhite}},
		{60, 0, map[[2]int]color.NRGBA{{49, 0}: opaqueWhite, {49, 9}: opaqueWhite}},
		{-10, -10, map[[2]int]color.NRGBA{{0, 0}: opaqueWhite}},
		{1 << 40, -1 << 40, map[[2]int]color.NRGBA{{0, 0}: opaqueWhite}},
	} {
		base := solidImage(t, 50, 50, 255, 255, 255)
		layer := solidImage(t, 10, 10, 255, 0, 0)
		if err := overlay(base, layer, tc.x, tc.y); err != nil {
			t.Errorf("overlay at %d,%d: %v", tc.x, tc.y, err)
		} else if base.Width() != 50 || base.Height() != 50 {
			t.Errorf("overlay at %d,%d made %dx%d", tc.x, tc.y, base.Width(), base.Height())
		} else {
			checkLayerPixels(t, "overlay clipped", base, tc.want, 0)
		}
		base.Close()
		layer.Close()
	}
}

func TestOverlayBlends(t *testing.T) {
	base := solidImage(t, 20, 20, 255, 255, 255)
	defer base.Close()
	layer := solidImage(t, 20, 20, 0, 0, 255, 128) // half-transparent blue
	defer layer.Close()
	if err := overlay(base, layer, 0, 0); err != nil {
		t.Fatal(err)
	}
	checkLayerPixels(t, "half blue on white", base, map[[2]int]color.NRGBA{{10, 10}: {127, 127, 255, 255}}, 2)
}

func TestOverlayGreyBase(t *testing.T) {
	base := solidImage(t, 20, 20, 200) // grey, no alpha
	defer base.Close()
	layer := solidImage(t, 5, 5, 255, 0, 0)
	defer layer.Close()
	if err := overlay(base, layer, 0, 0); err != nil {
		t.Fatal(err)
	}
	if base.Bands() != 3 || base.HasAlpha() {
		t.Fatalf("grey base under colour: %d bands, alpha %v; want sRGB without alpha", base.Bands(), base.HasAlpha())
	}
	checkLayerPixels(t, "grey base", base, map[[2]int]color.NRGBA{{2, 2}: opaqueRed, {10, 10}: {200, 200, 200, 255}}, 1)

	// Grey on grey stays grey.
	grey := solidImage(t, 20, 20, 200)
	defer grey.Close()
	dark := solidImage(t, 5, 5, 10)
	defer dark.Close()
	if err := overlay(grey, dark, 0, 0); err != nil {
		t.Fatal(err)
	}
	if grey.Bands() != 1 {
		t.Errorf("grey on grey: %d bands", grey.Bands())
	}
}

func TestOverlayKeepsBaseAlpha(t *testing.T) {
	base := solidImage(t, 20, 20, 0, 255, 0, 0) // transparent green
	defer base.Close()
	layer := solidImage(t, 5, 5, 255, 0, 0)
	defer layer.Close()
	if err := overlay(base, layer, 10, 10); err != nil {
		t.Fatal(err)
	}
	if !base.HasAlpha() {
		t.Fatal("overlay dropped the base's alpha")
	}
	p := pixelsAt(t, base, [2]int{12, 12}, [2]int{0, 0})
	if !nearColor(p[0], opaqueRed, 0) || p[1].A != 0 {
		t.Errorf("red on transparent: %v under the layer, %v outside", p[0], p[1])
	}
}

func TestUnderlay(t *testing.T) {
	// An opaque white frame, 5 pixels wide, around a transparent hole.
	base := solidImage(t, 30, 30, 255, 255, 255, 255)
	defer base.Close()
	hole := solidImage(t, 20, 20, 0, 0, 0, 0)
	defer hole.Close()
	if err := base.Insert(hole, 5, 5, nil); err != nil {
		t.Fatal(err)
	}
	layer := solidImage(t, 30, 30, 0, 0, 255)
	defer layer.Close()
	if err := underlay(base, layer, 0, 0); err != nil {
		t.Fatal(err)
	}
	if base.Width() != 30 || base.Height() != 30 || !base.HasAlpha() {
		t.Fatalf("underlay made %dx%d alpha %v", base.Width(), base.Height(), base.HasAlpha())
	}
	checkLayerPixels(t, "underlay", base, map[[2]int]color.NRGBA{
		{15, 15}: opaqueBlue, {5, 5}: opaqueBlue, {24, 24}: opaqueBlue,
		{0, 0}: opaqueWhite, {4, 15}: opaqueWhite, {29, 29}: opaqueWhite,
	}, 0)

	// A layer placed partly outside: only where it reaches does it show;
	// the rest of the hole stays transparent; the size does not change.
	base2 := solidImage(t, 30, 30, 255, 255, 255, 0)
	defer base2.Close()
	small := solidImage(t, 10, 10, 0, 0, 255)
	defer small.Close()
	if err := underlay(base2, small, -5, 25); err != nil {
		t.Fatal(err)
	}
	if base2.Width() != 30 || base2.Height() != 30 {
		t.Fatalf("underlay made %dx%d", base2.Width(), base2.Height())
	}
	p := pixelsAt(t, base2, [2]int{0, 29}, [2]int{4, 25}, [2]int{5, 29}, [2]int{0, 24})
	if !nearColor(p[0], opaqueBlue, 0) || !nearColor(p[1], opaqueBlue, 0) || p[2].A != 0 || p[3].A != 0 {
		t.Errorf("clipped underlay: %v", p)
	}
}

func TestUnderlayOpaqueBase(t *testing.T) {
	base := solidImage(t, 10, 10, 255, 255, 255)
	defer base.Close()
	layer := solidImage(t, 10, 10, 0, 0, 255)
	defer layer.Close()
	if err := underlay(base, layer, 0, 0); err != nil {
		t.Fatal(err)
	}
	if base.HasAlpha() || base.Bands() != 3 {
		t.Errorf("underlay under an opaque base: %d bands", base.Bands())
	}
	checkLayerPixels(t, "opaque base", base, map[[2]int]color.NRGBA{{5, 5}: opaqueWhite}, 0)
}

func TestPlaceLayer(t *testing.T) {
	// A 20×10 layer on a 100×50 base.
	const bw, bh, lw, lh = 100, 50, 20, 10
	for _, tc := range []struct {
		gravity string
		fx, fy  float64
		dx, dy  float64
		x, y    int
	}{
		{"north_west", 0, 0, 0, 0, 0, 0},
		{"north", .5, 0, 0, 0, 40, 0},
		{"north_east", 1, 0, 0, 0, 80, 0},
		{"west", 0, .5, 0, 0, 0, 20},
		{"center", .5, .5, 0, 0, 40, 20},
		{"east", 1, .5, 0, 0, 80, 20},
		{"south_west", 0, 1, 0, 0, 0, 40},
		{"south", .5, 1, 0, 0, 40, 40},
		{"south_east", 1, 1, 0, 0, 80, 40},
		// Offsets, per Cloudinary's table: +x is right and +y down, except
		// +x is left under east gravities and +y up under south ones.
		{"north_west", 0, 0, 7, 3, 7, 3},
		{"north", .5, 0, 7, 3, 47, 3},
		{"north_east", 1, 0, 7, 3, 73, 3},
		{"west", 0, .5, 7, 3, 7, 23},
		{"center", .5, .5, 7, 3, 47, 23},
		{"east", 1, .5, 7, 3, 73, 23},
		{"south_west", 0, 1, 7, 3, 7, 37},
		{"south", .5, 1, 7, 3, 47, 37},
		{"south_east", 1, 1, 7, 3, 73, 37},
		{"north_west", 0, 0, -7, -3, -7, -3},
		{"south_east", 1, 1, -7, -3, 87, 43},
		{"center", .5, .5, -7, -3, 33, 17},
		// Far outside, and fractional pixels rounded half up.
		{"north_west", 0, 0, 500, -500, 500, -500},
		{"north_west", 0, 0, 2.5, 2.4, 3, 2},
	} {
		x, y := placeLayer(bw, bh, lw, lh, tc.fx, tc.fy, tc.dx, tc.dy)
		if x != tc.x || y != tc.y {
			t.Errorf("%s x_%v y_%v: %d,%d; want %d,%d", tc.gravity, tc.dx, tc.dy, x, y, tc.x, tc.y)
		}
	}
	// Centred with an odd difference, and a layer bigger than the base.
	if x, y := placeLayer(11, 11, 4, 4, .5, .5, 0, 0); x != 4 || y != 4 {
		t.Errorf("4x4 centred on 11x11: %d,%d", x, y)
	}
	if x, y := placeLayer(10, 10, 30, 20, .5, 1, 0, 0); x != -10 || y != -10 {
		t.Errorf("30x20 south on 10x10: %d,%d", x, y)
	}
}

func TestOverlay16Bit(t *testing.T) {
	base := solidImage(t, 10, 10, 255, 255, 255)
	defer base.Close()
	if err := base.Cast(vips.BandFormatUshort, nil); err != nil {
		t.Fatal(err)
	}
	if err := base.Linear([]float64{257}, []float64{0}, nil); err != nil {
		t.Fatal(err)
	}
	if err := base.Cast(vips.BandFormatUshort, nil); err != nil {
		t.Fatal(err)
	}
	wide, err := base.Copy(&vips.CopyOptions{Interpretation: vips.InterpretationRgb16})
	if err != nil {
		t.Fatal(err)
	}
	defer wide.Close()
	layer := solidImage(t, 5, 5, 255, 0, 0, 128)
	defer layer.Close()
	if err := overlay(wide, layer, 0, 0); err != nil {
		t.Fatal(err)
	}
	if wide.BandFormat() != vips.BandFormatUshort || wide.Bands() != 3 || wide.Interpretation() != vips.InterpretationRgb16 {
		t.Fatalf("16-bit base: format %v, %d bands, %v", wide.BandFormat(), wide.Bands(), wide.Interpretation())
	}
	// PNG keeps 16 bits; Go's NRGBA conversion keeps the top 8.
	checkLayerPixels(t, "16-bit", wide, map[[2]int]color.NRGBA{{2, 2}: {255, 127, 127, 255}, {7, 7}: opaqueWhite}, 2)
}

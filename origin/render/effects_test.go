package render

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"testing"

	"github.com/refract-cdn/refract/origin/vips"
	"github.com/refract-cdn/refract/shared/testimg"
	"github.com/refract-cdn/refract/shared/transform"
)

// ---- fixtures ----

// fxLoad decodes a Go image, via PNG, into a libvips image: opaque
// images load as three-band sRGB, translucent ones with alpha, and
// *image.Gray as one-band B_W.
func fxLoad(t *testing.T, src image.Image) *vips.Image {
	t.Helper()
	img, err := vips.NewPngloadBuffer(testimg.PNG(src), nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(img.Close)
	return img
}

// fxGreyAlpha is a two-band B_W image with alpha: a grey square of value
// v with alpha a.
func fxGreyAlpha(t *testing.T, w, h int, v, a uint8) *vips.Image {
	t.Helper()
	img := fxLoad(t, fxRamp(w, h, float64(v), float64(v)))
	if err := img.BandjoinConst([]float64{float64(a)}); err != nil {
		t.Fatal(err)
	}
	if img.Bands() != 2 || !img.HasAlpha() {
		t.Fatalf("grey+alpha fixture has %d bands", img.Bands())
	}
	return img
}

// fxOut encodes img as PNG and decodes it with Go's decoder, so every
// check reads what an encoder would write.
func fxOut(t *testing.T, img *vips.Image) image.Image {
	t.Helper()
	if img.BandFormat() != vips.BandFormatUchar {
		t.Fatalf("result is band format %v, want uchar", img.BandFormat())
	}
	buf, err := img.PngsaveBuffer(nil)
	if err != nil {
		t.Fatalf("pngsave: %v", err)
	}
	out, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if b := out.Bounds(); b.Dx() != img.Width() || b.Dy() != img.Height() {
		t.Fatalf("decoded %v, image is %dx%d", b, img.Width(), img.Height())
	}
	return out
}

func fxAt(img image.Image, x, y int) color.NRGBA {
	return color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
}

func fxSolid(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// fxNoise is a w×h opaque image whose neighbouring pixels all differ.
func fxNoise(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x*37 + y*101), uint8(x*73 + y*19 + 50), uint8(x*11 + y*53 + 90), 255})
		}
	}
	return img
}

// fxRamp is a horizontal grey ramp from lo to hi.
func fxRamp(w, h int, lo, hi float64) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetGray(x, y, color.Gray{uint8(math.Round(lo + (hi-lo)*float64(x)/float64(w-1)))})
		}
	}
	return img
}

func fxLumaOf(c color.NRGBA) float64 {
	return 0.2126*float64(c.R) + 0.7152*float64(c.G) + 0.0722*float64(c.B)
}

// fxStats is the mean and standard deviation of the luma.
func fxStats(img image.Image) (mean, sd float64) {
	b := img.Bounds()
	var n, s, s2 float64
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			l := fxLumaOf(fxAt(img, x, y))
			n, s, s2 = n+1, s+l, s2+l*l
		}
	}
	mean = s / n
	return mean, math.Sqrt(math.Max(s2/n-mean*mean, 0))
}

func fxNear(a, b color.NRGBA, tol int) bool {
	d := func(x, y uint8) bool { return math.Abs(float64(x)-float64(y)) <= float64(tol) }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B) && d(a.A, b.A)
}

func fxExpect(t *testing.T, img image.Image, x, y int, want color.NRGBA, tol int) {
	t.Helper()
	if got := fxAt(img, x, y); !fxNear(got, want, tol) {
		t.Errorf("pixel (%d,%d) = %v, want %v ±%d", x, y, got, want, tol)
	}
}

func fxExpectAlpha(t *testing.T, img image.Image, x, y int, lo, hi uint8) {
	t.Helper()
	if a := fxAt(img, x, y).A; a < lo || a > hi {
		t.Errorf("alpha at (%d,%d) = %d, want %d–%d", x, y, a, lo, hi)
	}
}

func fxMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func fxSize(t *testing.T, img *vips.Image, w, h int) {
	t.Helper()
	if img.Width() != w || img.Height() != h {
		t.Fatalf("size %dx%d, want %dx%d", img.Width(), img.Height(), w, h)
	}
}

var (
	fxRed   = color.NRGBA{230, 20, 20, 255}
	fxBlue  = color.NRGBA{20, 40, 220, 255}
	fxWhite = color.NRGBA{255, 255, 255, 255}
	fxClear = color.NRGBA{}
)

// fxHalves is red on the left half and blue on the right.
func fxHalves(w, h int) *image.NRGBA {
	img := fxSolid(w, h, fxRed)
	for y := 0; y < h; y++ {
		for x := w / 2; x < w; x++ {
			img.SetNRGBA(x, y, fxBlue)
		}
	}
	return img
}

// ---- blur and sharpening ----

func TestFxBlur(t *testing.T) {
	img := fxLoad(t, fxHalves(40, 20))
	fxMust(t, fxBlur(img, 100)) // sigma 5
	out := fxOut(t, img)
	edge := fxAt(out, 20, 10)
	if edge.R < 60 || edge.B < 60 {
		t.Errorf("edge pixel %v is not a mix of red and blue", edge)
	}
	fxExpect(t, out, 0, 10, fxRed, 2)
	fxExpect(t, out, 39, 10, fxBlue, 2)
}

func TestFxBlurKeepsTransparentEdgesClean(t *testing.T) {
	img := fxLoad(t, testimg.TransparentCircle(60, 60))
	fxMust(t, fxBlur(img, 60))
	out := fxOut(t, img)
	soft := 0
	for x := 0; x < 60; x++ {
		c := fxAt(out, x, 30)
		if c.A > 20 && c.A < 235 {
			soft++
			if c.R < 240 || c.G > 15 || c.B > 15 {
				t.Errorf("semi-transparent pixel (%d,30) = %v, want pure red", x, c)
			}
		}
	}
	if soft == 0 {
		t.Error("blur left no soft edge")
	}
	fxExpectAlpha(t, out, 0, 0, 0, 0)
}

func TestFxBlurLargeSigma(t *testing.T) {
	src := testimg.Quadrants(200, 160)
	img := fxLoad(t, src)
	fxMust(t, fxBlur(img, 2000)) // sigma 100, on a shrunk copy
	fxSize(t, img, 200, 160)
	out := fxOut(t, img)
	a, b := fxAt(out, 5, 5), fxAt(out, 195, 155)
	if d := math.Abs(float64(a.R) - float64(b.R)); d > 60 {
		t.Errorf("opposite corners still differ by %v in red: %v %v", d, a, b)
	}
}

// fxStep is a grey step: lo on the left, hi on the right.
func fxStep(w, h int, lo, hi uint8) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := lo
			if x >= w/2 {
				v = hi
			}
			img.SetGray(x, y, color.Gray{v})
		}
	}
	return img
}

func TestFxSharpenOvershoots(t *testing.T) {
	for _, fn := range []struct {
		name string
		f    func(*vips.Image) error
	}{
		{"sharpen", func(img *vips.Image) error { return fxSharpen(img, 100) }},
		{"unsharp", func(img *vips.Image) error { return fxUnsharpMask(img, 100) }},
	} {
		img := fxLoad(t, fxStep(40, 10, 100, 150))
		fxMust(t, fn.f(img))
		out := fxOut(t, img)
		dark, light := fxAt(out, 19, 5), fxAt(out, 20, 5)
		if dark.R >= 100 || light.R <= 150 {
			t.Errorf("%s: edge %d|%d, want below 100 and above 150", fn.name, dark.R, light.R)
		}
		fxExpect(t, out, 2, 5, color.NRGBA{100, 100, 100, 255}, 1)
		fxExpect(t, out, 37, 5, color.NRGBA{150, 150, 150, 255}, 1)
	}
}

func TestFxSharpeningKeepsAlpha(t *testing.T) {
	for _, f := range []func(*vips.Image) error{
		func(img *vips.Image) error { return fxSharpen(img, 300) },
		func(img *vips.Image) error { return fxUnsharpMask(img, 300) },
	} {
		img := fxLoad(t, testimg.TransparentCircle(40, 40))
		fxMust(t, f(img))
		if img.Bands() != 4 {
			t.Fatalf("bands %d, want 4", img.Bands())
		}
		out := fxOut(t, img)
		fxExpectAlpha(t, out, 0, 0, 0, 0)
		fxExpectAlpha(t, out, 20, 20, 255, 255)
	}
}

// ---- colour ----

func TestFxGrayscale(t *testing.T) {
	img := fxLoad(t, testimg.Quadrants(40, 40))
	fxMust(t, fxGrayscale(img))
	if img.Bands() != 3 || img.Interpretation() != vips.InterpretationSrgb {
		t.Fatalf("grayscale gave %d bands, %v", img.Bands(), img.Interpretation())
	}
	out := fxOut(t, img)
	for _, p := range [][2]int{{5, 5}, {35, 5}, {5, 35}, {35, 35}} {
		c := fxAt(out, p[0], p[1])
		if c.R != c.G || c.G != c.B {
			t.Errorf("pixel %v = %v is not grey", p, c)
		}
	}
	// Green is lighter than blue.
	if g, b := fxAt(out, 35, 5), fxAt(out, 5, 35); g.R <= b.R {
		t.Errorf("green quadrant %v not lighter than blue %v", g, b)
	}
}

func TestFxGrayscaleAlphaAndGrey(t *testing.T) {
	img := fxLoad(t, testimg.TransparentCircle(40, 40))
	fxMust(t, fxGrayscale(img))
	if img.Bands() != 4 {
		t.Fatalf("bands %d, want 4", img.Bands())
	}
	out := fxOut(t, img)
	fxExpectAlpha(t, out, 0, 0, 0, 0)
	c := fxAt(out, 20, 20)
	if c.A != 255 || c.R != c.G || c.G != c.B {
		t.Errorf("centre %v, want opaque grey", c)
	}
	grey := fxGreyAlpha(t, 4, 4, 90, 77)
	fxMust(t, fxGrayscale(grey))
	if grey.Bands() != 4 {
		t.Fatalf("grey+alpha gave %d bands, want 4", grey.Bands())
	}
	fxExpect(t, fxOut(t, grey), 1, 1, color.NRGBA{90, 90, 90, 77}, 1)
}

func TestFxSepia(t *testing.T) {
	for _, src := range []image.Image{fxSolid(8, 8, color.NRGBA{128, 128, 128, 255}), fxRamp(8, 8, 128, 128)} {
		img := fxLoad(t, src)
		fxMust(t, fxSepia(img, 80))
		if img.Bands() != 3 {
			t.Fatalf("sepia gave %d bands", img.Bands())
		}
		c := fxAt(fxOut(t, img), 4, 4)
		if !(c.R > c.G && c.G > c.B) {
			t.Errorf("sepia of grey = %v, want R > G > B", c)
		}
	}
	weak, strong := fxLoad(t, fxSolid(4, 4, color.NRGBA{128, 128, 128, 255})), fxLoad(t, fxSolid(4, 4, color.NRGBA{128, 128, 128, 255}))
	fxMust(t, fxSepia(weak, 10))
	fxMust(t, fxSepia(strong, 100))
	w, s := fxAt(fxOut(t, weak), 1, 1), fxAt(fxOut(t, strong), 1, 1)
	if int(w.R)-int(w.B) >= int(s.R)-int(s.B) {
		t.Errorf("sepia 10 %v is not weaker than sepia 100 %v", w, s)
	}
	a := fxLoad(t, fxSolid(4, 4, color.NRGBA{128, 128, 128, 100}))
	fxMust(t, fxSepia(a, 80))
	fxExpectAlpha(t, fxOut(t, a), 1, 1, 100, 100)
}

func TestFxNegate(t *testing.T) {
	img := fxLoad(t, fxSolid(4, 4, fxRed))
	fxMust(t, fxNegate(img))
	fxExpect(t, fxOut(t, img), 2, 2, color.NRGBA{25, 235, 235, 255}, 0)
	c := fxLoad(t, testimg.TransparentCircle(20, 20))
	fxMust(t, fxNegate(c))
	out := fxOut(t, c)
	fxExpect(t, out, 10, 10, color.NRGBA{0, 255, 255, 255}, 0)
	fxExpectAlpha(t, out, 0, 0, 0, 0)
	g := fxLoad(t, fxRamp(4, 4, 10, 10))
	fxMust(t, fxNegate(g))
	fxExpect(t, fxOut(t, g), 1, 1, color.NRGBA{245, 245, 245, 255}, 0)
}

func TestFxBrightness(t *testing.T) {
	base, _ := fxStats(fxOut(t, fxLoad(t, testimg.Quadrants(20, 20))))
	for _, c := range []struct {
		level int
		up    bool
	}{{50, true}, {-50, false}, {100, true}, {-99, false}} {
		img := fxLoad(t, testimg.Quadrants(20, 20))
		fxMust(t, fxBrightness(img, c.level))
		m, _ := fxStats(fxOut(t, img))
		if (m > base+5) != c.up || math.Abs(m-base) < 5 {
			t.Errorf("brightness %d: mean luma %.1f from %.1f", c.level, m, base)
		}
	}
	g := fxLoad(t, fxRamp(4, 4, 100, 100))
	fxMust(t, fxBrightness(g, 50))
	fxExpect(t, fxOut(t, g), 1, 1, color.NRGBA{150, 150, 150, 255}, 0)
}

func TestFxContrast(t *testing.T) {
	_, base := fxStats(fxOut(t, fxLoad(t, fxRamp(64, 4, 60, 200))))
	for _, level := range []int{50, -50} {
		img := fxLoad(t, fxRamp(64, 4, 60, 200))
		fxMust(t, fxContrast(img, level))
		_, sd := fxStats(fxOut(t, img))
		if (sd > base) != (level > 0) || math.Abs(sd-base) < 5 {
			t.Errorf("contrast %d: spread %.1f from %.1f", level, sd, base)
		}
	}
	flat := fxLoad(t, fxRamp(64, 4, 0, 255))
	fxMust(t, fxContrast(flat, -100))
	if m, sd := fxStats(fxOut(t, flat)); sd != 0 || math.Abs(m-128) > 1 {
		t.Errorf("contrast -100: mean %.1f spread %.1f, want flat mid grey", m, sd)
	}
}

func TestFxSaturation(t *testing.T) {
	img := fxLoad(t, testimg.Quadrants(20, 20))
	fxMust(t, fxSaturation(img, -100))
	out := fxOut(t, img)
	for _, p := range [][2]int{{5, 5}, {15, 5}, {5, 15}, {15, 15}} {
		if c := fxAt(out, p[0], p[1]); c.R != c.G || c.G != c.B {
			t.Errorf("saturation -100: pixel %v = %v is not grey", p, c)
		}
	}
	chroma := func(c color.NRGBA) int {
		return int(max(c.R, c.G, c.B)) - int(min(c.R, c.G, c.B))
	}
	muted := color.NRGBA{150, 100, 100, 255}
	more := fxLoad(t, fxSolid(4, 4, muted))
	fxMust(t, fxSaturation(more, 50))
	if c := fxAt(fxOut(t, more), 1, 1); chroma(c) <= chroma(muted)+10 {
		t.Errorf("saturation 50: %v not more saturated than %v", c, muted)
	}
	less := fxLoad(t, fxSolid(4, 4, muted))
	fxMust(t, fxSaturation(less, -50))
	if c := fxAt(fxOut(t, less), 1, 1); chroma(c) >= chroma(muted)-10 {
		t.Errorf("saturation -50: %v not less saturated than %v", c, muted)
	}
}

func TestFxGamma(t *testing.T) {
	at := func(level int) (lo, mid, hi uint8) {
		img := fxLoad(t, fxRamp(3, 1, 0, 255)) // 0, 128, 255
		fxMust(t, fxGamma(img, level))
		out := fxOut(t, img)
		return fxAt(out, 0, 0).R, fxAt(out, 1, 0).R, fxAt(out, 2, 0).R
	}
	if lo, mid, hi := at(0); lo != 0 || mid != 128 || hi != 255 {
		t.Errorf("gamma 0 = %d %d %d, want unchanged", lo, mid, hi)
	}
	lo, up, hi := at(100)
	if up < 150 || lo != 0 || hi != 255 {
		t.Errorf("gamma 100 = %d %d %d, want brighter midtones, fixed ends", lo, up, hi)
	}
	if _, down, _ := at(-50); down > 100 {
		t.Errorf("gamma -50 midtone = %d, want darker", down)
	}
	if _, a, _ := at(50); a <= 128 || a >= up {
		t.Errorf("gamma 50 midtone %d not between 128 and gamma 100's %d", a, up)
	}
}

func TestFxColorize(t *testing.T) {
	red := transform.Color{R: 255, A: 255}
	grey := color.NRGBA{128, 128, 128, 255}
	dist := func(c color.NRGBA) float64 {
		return math.Hypot(math.Hypot(float64(c.R)-255, float64(c.G)), float64(c.B))
	}
	img := fxLoad(t, fxSolid(4, 4, grey))
	fxMust(t, fxColorize(img, 60, red))
	c := fxAt(fxOut(t, img), 1, 1)
	if dist(c) >= dist(grey)-20 || c.G != c.B || c.R <= c.G {
		t.Errorf("colorize 60 red of grey = %v", c)
	}
	white := fxLoad(t, fxSolid(4, 4, fxWhite))
	fxMust(t, fxColorize(white, 100, red))
	fxExpect(t, fxOut(t, white), 1, 1, color.NRGBA{255, 0, 0, 255}, 1)
	none := fxLoad(t, fxSolid(4, 4, grey))
	fxMust(t, fxColorize(none, 0, red))
	fxExpect(t, fxOut(t, none), 1, 1, grey, 0)
	g := fxLoad(t, fxRamp(4, 4, 200, 200))
	fxMust(t, fxColorize(g, 100, red))
	if g.Bands() != 3 {
		t.Fatalf("colorize of grey image gave %d bands", g.Bands())
	}
}

// ---- automatic adjustments ----

func TestFxAutoContrast(t *testing.T) {
	img := fxLoad(t, fxRamp(100, 4, 100, 150))
	fxMust(t, fxAutoContrast(img, 100))
	out := fxOut(t, img)
	if lo, hi := fxAt(out, 0, 0).R, fxAt(out, 99, 0).R; lo > 5 || hi < 250 {
		t.Errorf("auto contrast range %d–%d, want about 0–255", lo, hi)
	}
	half := fxLoad(t, fxRamp(100, 4, 100, 150))
	fxMust(t, fxAutoContrast(half, 50))
	if lo := fxAt(fxOut(t, half), 0, 0).R; lo < 40 || lo > 60 {
		t.Errorf("auto contrast blend 50: darkest %d, want about 50", lo)
	}
	none := fxLoad(t, fxRamp(100, 4, 100, 150))
	fxMust(t, fxAutoContrast(none, 0))
	fxExpect(t, fxOut(t, none), 0, 0, color.NRGBA{100, 100, 100, 255}, 0)
	flat := fxLoad(t, fxSolid(8, 8, color.NRGBA{90, 90, 90, 255}))
	fxMust(t, fxAutoContrast(flat, 100))
	fxExpect(t, fxOut(t, flat), 3, 3, color.NRGBA{90, 90, 90, 255}, 0)
}

// fxCast is a colour ramp with a different range per channel.
func fxCast(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			f := float64(x) / float64(w-1)
			img.SetNRGBA(x, y, color.NRGBA{uint8(50 + 150*f), uint8(30 + 90*f), uint8(60 * f), 255})
		}
	}
	return img
}

func TestFxAutoColor(t *testing.T) {
	img := fxLoad(t, fxCast(100, 4))
	fxMust(t, fxAutoColor(img, 100))
	out := fxOut(t, img)
	lo, hi := fxAt(out, 0, 0), fxAt(out, 99, 0)
	for i, v := range []uint8{lo.R, lo.G, lo.B} {
		if v > 5 {
			t.Errorf("band %d darkest %d, want about 0", i, v)
		}
	}
	for i, v := range []uint8{hi.R, hi.G, hi.B} {
		if v < 250 {
			t.Errorf("band %d lightest %d, want about 255", i, v)
		}
	}
	// Auto contrast moves all channels alike, so the cast stays.
	same := fxLoad(t, fxCast(100, 4))
	fxMust(t, fxAutoContrast(same, 100))
	if c := fxAt(fxOut(t, same), 99, 0); c.R-c.B < 100 {
		t.Errorf("auto contrast removed the cast: %v", c)
	}
}

func TestFxAutoBrightness(t *testing.T) {
	src := fxRamp(100, 4, 0, 80)
	before, _ := fxStats(src)
	img := fxLoad(t, src)
	fxMust(t, fxAutoBrightness(img, 100))
	after, _ := fxStats(fxOut(t, img))
	if after < before+40 || after > 180 {
		t.Errorf("auto brightness: mean %.1f from %.1f", after, before)
	}
	light := fxLoad(t, fxRamp(100, 4, 180, 255))
	fxMust(t, fxAutoBrightness(light, 100))
	if m, _ := fxStats(fxOut(t, light)); m > 200 {
		t.Errorf("auto brightness of a light image: mean %.1f, want darker", m)
	}
	none := fxLoad(t, src)
	fxMust(t, fxAutoBrightness(none, 0))
	if m, _ := fxStats(fxOut(t, none)); math.Abs(m-before) > 0.5 {
		t.Errorf("blend 0 changed the mean: %.1f from %.1f", m, before)
	}
}

func TestFxImprove(t *testing.T) {
	// Low contrast with a blue cast.
	src := image.NewNRGBA(image.Rect(0, 0, 100, 4))
	for y := 0; y < 4; y++ {
		for x := 0; x < 100; x++ {
			v := uint8(90 + x/2)
			src.SetNRGBA(x, y, color.NRGBA{v, v, v + 50, 255})
		}
	}
	_, sd0 := fxStats(src)
	for _, indoor := range []bool{false, true} {
		img := fxLoad(t, src)
		fxMust(t, fxImprove(img, indoor, 100))
		out := fxOut(t, img)
		if _, sd := fxStats(out); sd < 2*sd0 {
			t.Errorf("improve indoor=%v: spread %.1f from %.1f", indoor, sd, sd0)
		}
		cast := int(fxAt(out, 50, 0).B) - int(fxAt(out, 50, 0).R)
		if indoor && cast > 20 {
			t.Errorf("improve indoor kept the blue cast: %v", fxAt(out, 50, 0))
		}
		if !indoor && cast < 40 {
			t.Errorf("improve outdoor should keep the colour balance: %v", fxAt(out, 50, 0))
		}
	}
	// A full tonal range with a muted colour: the levels stay put, so any
	// gain in colour is improve's saturation boost.
	full := image.NewNRGBA(image.Rect(0, 0, 256, 2))
	for x := 0; x < 256; x++ {
		full.SetNRGBA(x, 0, color.NRGBA{uint8(x), uint8(x), uint8(x), 255})
		full.SetNRGBA(x, 1, color.NRGBA{150, 100, 100, 255})
	}
	for _, indoor := range []bool{false, true} {
		sat := fxLoad(t, full)
		fxMust(t, fxImprove(sat, indoor, 100))
		c := fxAt(fxOut(t, sat), 10, 1)
		if chroma := int(c.R) - int(c.G); chroma < 54 {
			t.Errorf("improve indoor=%v: muted colour %v, want more saturated than 50", indoor, c)
		}
	}
	none := fxLoad(t, src)
	fxMust(t, fxImprove(none, false, 0))
	fxExpect(t, fxOut(t, none), 10, 1, src.NRGBAAt(10, 1), 0)
	g := fxLoad(t, fxRamp(100, 4, 100, 150))
	fxMust(t, fxImprove(g, false, 100))
	if lo := fxAt(fxOut(t, g), 0, 0).R; lo > 5 {
		t.Errorf("improve on grey: darkest %d", lo)
	}
}

// ---- pixelation and regions ----

// fxUniform reports whether img is one colour over r.
func fxUniform(img image.Image, r image.Rectangle) bool {
	c := fxAt(img, r.Min.X, r.Min.Y)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if fxAt(img, x, y) != c {
				return false
			}
		}
	}
	return true
}

func TestFxPixelate(t *testing.T) {
	for _, size := range []int{40, 42} {
		img := fxLoad(t, fxNoise(size, size))
		fxMust(t, fxPixelate(img, 8))
		fxSize(t, img, size, size)
		out := fxOut(t, img)
		for by := 0; by < size; by += 8 {
			for bx := 0; bx < size; bx += 8 {
				r := image.Rect(bx, by, bx+8, by+8).Intersect(image.Rect(0, 0, size, size))
				if !fxUniform(out, r) {
					t.Errorf("%dpx: block %v is not one colour", size, r)
				}
			}
		}
		if fxAt(out, 0, 0) == fxAt(out, 8, 0) && fxAt(out, 0, 0) == fxAt(out, 0, 8) {
			t.Errorf("%dpx: neighbouring blocks are the same colour", size)
		}
	}
	auto := fxLoad(t, fxNoise(120, 120))
	fxMust(t, fxPixelate(auto, 0))
	out := fxOut(t, auto)
	if s := fxAutoSquare(120, 120); !fxUniform(out, image.Rect(0, 0, s, s)) || fxUniform(out, image.Rect(0, 0, s+1, s+1)) {
		t.Errorf("automatic pixelation is not in %dpx squares", s)
	}
	circle := fxLoad(t, testimg.TransparentCircle(40, 40))
	fxMust(t, fxPixelate(circle, 5))
	co := fxOut(t, circle)
	fxExpect(t, co, 20, 20, color.NRGBA{255, 0, 0, 255}, 0)
	fxExpectAlpha(t, co, 0, 0, 0, 0)
	if c := fxAt(co, 9, 20); c.A > 0 && c.A < 255 && c.R < 250 {
		t.Errorf("partly covered square %v darkened", c)
	}
}

func TestFxPixelateRegions(t *testing.T) {
	src := fxNoise(60, 60)
	img := fxLoad(t, src)
	r := image.Rect(10, 12, 30, 32)
	fxMust(t, fxPixelateRegions(img, []image.Rectangle{r, image.Rect(100, 100, 120, 120), {}}, 5))
	out := fxOut(t, img)
	for y := 0; y < 60; y++ {
		for x := 0; x < 60; x++ {
			if !image.Pt(x, y).In(r) && fxAt(out, x, y) != src.NRGBAAt(x, y) {
				t.Fatalf("pixel (%d,%d) outside the region changed", x, y)
			}
		}
	}
	for by := r.Min.Y; by < r.Max.Y; by += 5 {
		for bx := r.Min.X; bx < r.Max.X; bx += 5 {
			if b := image.Rect(bx, by, bx+5, by+5); !fxUniform(out, b) {
				t.Errorf("block %v in the region is not one colour", b)
			}
		}
	}
	if err := fxPixelateRegions(img, make([]image.Rectangle, fxMaxRegions+1), 5); err == nil {
		t.Error("too many regions accepted")
	}
}

func TestFxBlurRegions(t *testing.T) {
	src := fxNoise(60, 60)
	img := fxLoad(t, src)
	r := image.Rect(20, 20, 45, 40)
	fxMust(t, fxBlurRegions(img, []image.Rectangle{r}, 100))
	out := fxOut(t, img)
	changed := 0
	for y := 0; y < 60; y++ {
		for x := 0; x < 60; x++ {
			same := fxAt(out, x, y) == src.NRGBAAt(x, y)
			if !image.Pt(x, y).In(r) && !same {
				t.Fatalf("pixel (%d,%d) outside the region changed", x, y)
			}
			if image.Pt(x, y).In(r) && !same {
				changed++
			}
		}
	}
	if changed < r.Dx()*r.Dy()*9/10 {
		t.Errorf("only %d of %d pixels in the region changed", changed, r.Dx()*r.Dy())
	}
	_, sdIn := fxStats(out.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(r))
	_, sdSrc := fxStats(src.SubImage(r))
	if sdIn > sdSrc/3 {
		t.Errorf("region spread %.1f, source %.1f: not blurred", sdIn, sdSrc)
	}
}

func TestFxBlurRegionsSeeAroundThemselves(t *testing.T) {
	// The region is all red, next to the blue half: its blur must take in
	// the blue just outside, or the edge of the region shows.
	img := fxLoad(t, fxHalves(40, 20))
	fxMust(t, fxBlurRegions(img, []image.Rectangle{image.Rect(10, 0, 20, 20)}, 100))
	out := fxOut(t, img)
	if c := fxAt(out, 19, 10); c.B < 60 {
		t.Errorf("region edge %v took in no blue from outside the region", c)
	}
	fxExpect(t, out, 20, 10, fxBlue, 0)
}

// ---- trim ----

// fxFramed is a w×h image of bg with noise in content.
func fxFramed(w, h int, bg color.NRGBA, content image.Rectangle) *image.NRGBA {
	img := fxSolid(w, h, bg)
	noise := fxNoise(w, h)
	for y := content.Min.Y; y < content.Max.Y; y++ {
		for x := content.Min.X; x < content.Max.X; x++ {
			c := noise.NRGBAAt(x, y)
			c.R = min(c.R, 200) // never the background
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func TestFxTrim(t *testing.T) {
	content := image.Rect(7, 5, 47, 33)
	src := fxFramed(60, 40, fxWhite, content)
	img := fxLoad(t, src)
	fxMust(t, fxTrim(img, 10, nil))
	fxSize(t, img, 40, 28)
	fxExpect(t, fxOut(t, img), 0, 0, src.NRGBAAt(7, 5), 0)

	// A ring of near-white just outside the content: trimmed only within tolerance.
	ringed := fxFramed(60, 40, fxWhite, content)
	ring := content.Inset(-1)
	for y := ring.Min.Y; y < ring.Max.Y; y++ {
		for x := ring.Min.X; x < ring.Max.X; x++ {
			if !image.Pt(x, y).In(content) {
				ringed.SetNRGBA(x, y, color.NRGBA{245, 245, 245, 255})
			}
		}
	}
	exact := fxLoad(t, ringed)
	fxMust(t, fxTrim(exact, 0, nil))
	fxSize(t, exact, 42, 30)
	loose := fxLoad(t, ringed)
	fxMust(t, fxTrim(loose, 10, nil))
	fxSize(t, loose, 40, 28)
}

func TestFxTrimOverrideUniformAndAlpha(t *testing.T) {
	content := image.Rect(7, 5, 47, 33)
	black := transform.Color{A: 255}
	img := fxLoad(t, fxFramed(60, 40, fxWhite, content))
	fxMust(t, fxTrim(img, 10, &black))
	fxSize(t, img, 60, 40) // no black border to trim

	// The override wins over the top-left pixel.
	marked := fxFramed(60, 40, fxWhite, content)
	marked.SetNRGBA(0, 0, color.NRGBA{0, 0, 0, 255})
	white := transform.Color{R: 255, G: 255, B: 255, A: 255}
	over := fxLoad(t, marked)
	fxMust(t, fxTrim(over, 10, &white))
	fxSize(t, over, 47, 33) // the black pixel is content
	top := fxLoad(t, marked)
	fxMust(t, fxTrim(top, 10, nil))
	fxSize(t, top, 60, 40) // black background: nothing matches

	uniform := fxLoad(t, fxSolid(30, 20, fxRed))
	fxMust(t, fxTrim(uniform, 10, nil))
	fxSize(t, uniform, 30, 20)

	// Transparent border with colour garbage under alpha 0.
	alpha := fxFramed(60, 40, fxClear, content)
	for x := 0; x < 60; x++ {
		alpha.SetNRGBA(x, 1, color.NRGBA{uint8(x * 4), 200, 9, 0})
	}
	a := fxLoad(t, alpha)
	fxMust(t, fxTrim(a, 0, nil))
	fxSize(t, a, 40, 28)
}

// ---- vignette ----

func TestFxVignette(t *testing.T) {
	grey := color.NRGBA{200, 200, 200, 255}
	img := fxLoad(t, fxSolid(100, 60, grey))
	fxMust(t, fxVignette(img, 20))
	out := fxOut(t, img)
	fxExpect(t, out, 50, 30, grey, 0)
	for _, p := range [][2]int{{0, 0}, {99, 0}, {0, 59}, {99, 59}} {
		if c := fxAt(out, p[0], p[1]); c.R > 150 {
			t.Errorf("corner %v = %v, want darker", p, c)
		}
	}
	if a, b := fxAt(out, 0, 30).R, fxAt(out, 0, 0).R; a <= b {
		t.Errorf("edge middle %d not lighter than the corner %d", a, b)
	}
	strong := fxLoad(t, fxSolid(100, 60, grey))
	fxMust(t, fxVignette(strong, 100))
	if s, w := fxAt(fxOut(t, strong), 10, 10).R, fxAt(out, 10, 10).R; s >= w {
		t.Errorf("vignette 100 (%d) not darker than 20 (%d)", s, w)
	}
	none := fxLoad(t, fxSolid(100, 60, grey))
	fxMust(t, fxVignette(none, 0))
	fxExpect(t, fxOut(t, none), 0, 0, grey, 0)
	alpha := fxLoad(t, fxSolid(40, 40, color.NRGBA{200, 200, 200, 128}))
	fxMust(t, fxVignette(alpha, 50))
	fxExpectAlpha(t, fxOut(t, alpha), 0, 0, 128, 128)
}

// ---- shadow and outline ----

func TestFxShadowOpaque(t *testing.T) {
	img := fxLoad(t, fxSolid(40, 30, fxBlue))
	fxMust(t, fxShadow(img, 100, transform.Color{A: 255}, 10, 10))
	if !img.HasAlpha() || img.Bands() != 4 {
		t.Fatalf("shadow result has %d bands", img.Bands())
	}
	w, h := img.Width(), img.Height()
	if w <= 50 || h <= 40 {
		t.Fatalf("canvas %dx%d did not grow to hold the offset", w, h)
	}
	out := fxOut(t, img)
	// Locate the image: the first opaque blue pixel on the diagonal.
	ox := -1
	for i := 0; i < min(w, h); i++ {
		if fxNear(fxAt(out, i, i), fxBlue, 0) {
			ox = i
			break
		}
	}
	if ox < 0 {
		t.Fatal("image not found on the canvas")
	}
	fxExpect(t, out, ox+39, ox+29, fxBlue, 0)
	// Right of the image, inside the offset shadow.
	s := fxAt(out, ox+45, ox+25)
	if s.A < 100 || s.R > 10 || s.G > 10 || s.B > 10 {
		t.Errorf("shadow pixel = %v, want dark and mostly opaque", s)
	}
	// Top right of the image, outside the shadow.
	fxExpectAlpha(t, out, min(w-1, ox+45), 0, 0, 0)
	fxExpectAlpha(t, out, 0, h-1, 0, 0)

	far := fxLoad(t, fxSolid(40, 30, fxBlue))
	if err := fxShadow(far, 40, transform.Color{A: 255}, math.MaxInt, 5); err == nil {
		t.Error("a shadow offset far off the canvas was accepted")
	}
}

func TestFxShadowFollowsAlpha(t *testing.T) {
	img := fxLoad(t, testimg.TransparentCircle(60, 60)) // disc r 20 at (30,30)
	grey := transform.Color{R: 128, G: 128, B: 128, A: 255}
	fxMust(t, fxShadow(img, 80, grey, 15, 15))
	out := fxOut(t, img)
	// Find the disc: the box around the opaque red pixels.
	box := image.Rectangle{}
	for y := 0; y < img.Height(); y++ {
		for x := 0; x < img.Width(); x++ {
			if fxNear(fxAt(out, x, y), color.NRGBA{255, 0, 0, 255}, 0) {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	if box.Dx() < 39 || box.Dx() > 41 || box.Dy() < 39 || box.Dy() > 41 {
		t.Fatalf("disc box %v", box)
	}
	cx, cy := (box.Min.X+box.Max.X)/2, (box.Min.Y+box.Max.Y)/2
	// Inside the offset shadow, outside the disc.
	if s := fxAt(out, cx+22, cy+22); s.A < 100 || !fxNear(color.NRGBA{s.R, s.G, s.B, 255}, color.NRGBA{128, 128, 128, 255}, 3) {
		t.Errorf("shadow pixel %v", s)
	}
	// The bounding box corner away from the shadow stays transparent.
	fxExpectAlpha(t, out, cx-27, cy-27, 0, 0)
	fxExpectAlpha(t, out, cx+27, cy-27, 0, 10)
}

func TestFxOutlineOuter(t *testing.T) {
	green := transform.Color{G: 255, A: 255}
	img := fxLoad(t, testimg.TransparentCircle(60, 60)) // disc r 20 at (30,30)
	fxMust(t, fxOutline(img, "outer", 5, 0, green))
	fxSize(t, img, 70, 70)
	out := fxOut(t, img)
	fxExpect(t, out, 35, 35, color.NRGBA{255, 0, 0, 255}, 0)
	fxExpect(t, out, 35+23, 35, color.NRGBA{0, 255, 0, 255}, 0)
	fxExpect(t, out, 35, 35-23, color.NRGBA{0, 255, 0, 255}, 0)
	fxExpectAlpha(t, out, 35+30, 35, 0, 0)
	fxExpectAlpha(t, out, 2, 2, 0, 0)

	rect := fxLoad(t, fxSolid(40, 30, fxBlue))
	fxMust(t, fxOutline(rect, "", 4, 0, green))
	fxSize(t, rect, 48, 38)
	ro := fxOut(t, rect)
	fxExpect(t, ro, 1, 19, color.NRGBA{0, 255, 0, 255}, 0)
	fxExpect(t, ro, 24, 19, fxBlue, 0)
}

func TestFxOutlineInner(t *testing.T) {
	green := transform.Color{G: 255, A: 255}
	img := fxLoad(t, testimg.TransparentCircle(60, 60))
	fxMust(t, fxOutline(img, "inner", 5, 0, green))
	fxSize(t, img, 60, 60)
	out := fxOut(t, img)
	fxExpect(t, out, 30, 30, color.NRGBA{255, 0, 0, 255}, 0)
	fxExpect(t, out, 30+17, 30, color.NRGBA{0, 255, 0, 255}, 0)
	fxExpectAlpha(t, out, 30+23, 30, 0, 0)

	rect := fxLoad(t, fxSolid(40, 30, fxBlue))
	fxMust(t, fxOutline(rect, "inner", 4, 0, green))
	fxSize(t, rect, 40, 30)
	ro := fxOut(t, rect)
	fxExpect(t, ro, 1, 15, color.NRGBA{0, 255, 0, 255}, 0)
	fxExpect(t, ro, 20, 15, fxBlue, 0)
}

// fxDonut is a red ring between radii 10 and 20 on transparency.
func fxDonut() *image.NRGBA {
	img := fxSolid(60, 60, fxClear)
	for y := 0; y < 60; y++ {
		for x := 0; x < 60; x++ {
			if d := math.Hypot(float64(x-30), float64(y-30)); d >= 10 && d <= 20 {
				img.SetNRGBA(x, y, color.NRGBA{255, 0, 0, 255})
			}
		}
	}
	return img
}

func TestFxOutlineFill(t *testing.T) {
	green := transform.Color{G: 255, A: 255}
	for _, c := range []struct {
		mode   string
		filled bool
		centre int
	}{
		{"outer", false, 35}, {"outer_fill", true, 35}, {"fill", true, 35},
		{"inner", false, 30}, {"inner_fill", true, 30},
	} {
		img := fxLoad(t, fxDonut())
		fxMust(t, fxOutline(img, c.mode, 2, 0, green))
		got := fxAt(fxOut(t, img), c.centre, c.centre)
		if c.filled && !fxNear(got, color.NRGBA{0, 255, 0, 255}, 0) {
			t.Errorf("%s: hole = %v, want filled green", c.mode, got)
		}
		if !c.filled && got.A != 0 {
			t.Errorf("%s: hole = %v, want transparent", c.mode, got)
		}
	}
}

func TestFxOutlineBlurAndErrors(t *testing.T) {
	green := transform.Color{G: 255, A: 255}
	img := fxLoad(t, testimg.TransparentCircle(60, 60))
	fxMust(t, fxOutline(img, "outer", 5, 100, green)) // sigma 5
	fxSize(t, img, 60+2*(5+10), 60+2*(5+10))
	out := fxOut(t, img)
	soft := fxAt(out, 45+23, 45)
	if soft.A == 0 || soft.A == 255 {
		t.Errorf("blurred outline edge alpha %d, want partial", soft.A)
	}
	if err := fxOutline(fxLoad(t, fxSolid(4, 4, fxRed)), "sideways", 5, 0, green); err == nil {
		t.Error("unknown mode accepted")
	}
}

// ---- r_, bo_, o_ ----

func TestFxRoundCorners(t *testing.T) {
	img := fxLoad(t, fxSolid(60, 40, fxRed))
	fxMust(t, fxRoundCorners(img, [4]float64{10, 10, 10, 10}, false))
	if img.Bands() != 4 {
		t.Fatalf("bands %d, want alpha added", img.Bands())
	}
	out := fxOut(t, img)
	for _, p := range [][2]int{{0, 0}, {59, 0}, {59, 39}, {0, 39}, {2, 2}, {57, 37}} {
		fxExpectAlpha(t, out, p[0], p[1], 0, 0)
	}
	for _, p := range [][2]int{{30, 20}, {30, 0}, {0, 20}, {5, 5}, {54, 34}} {
		fxExpectAlpha(t, out, p[0], p[1], 255, 255)
	}
	fxExpect(t, out, 30, 20, fxRed, 0)
	// (1.5,4.5) is 10.1 from the arc's centre (10,10): partly covered.
	if a := fxAt(out, 1, 4).A; a < 40 || a > 160 {
		t.Errorf("arc pixel (1,4) alpha %d, want about 100", a)
	}

	one := fxLoad(t, fxSolid(60, 40, fxRed))
	fxMust(t, fxRoundCorners(one, [4]float64{20, 0, 0, 0}, false))
	oo := fxOut(t, one)
	fxExpectAlpha(t, oo, 0, 0, 0, 0)
	for _, p := range [][2]int{{59, 0}, {59, 39}, {0, 39}} {
		fxExpectAlpha(t, oo, p[0], p[1], 255, 255)
	}

	huge := fxLoad(t, fxSolid(60, 40, fxRed))
	fxMust(t, fxRoundCorners(huge, [4]float64{1000, 1000, 1000, 1000}, false))
	ho := fxOut(t, huge)
	fxExpectAlpha(t, ho, 0, 0, 0, 0)
	fxExpectAlpha(t, ho, 30, 20, 255, 255)

	inf := fxLoad(t, fxSolid(60, 40, fxRed))
	fxMust(t, fxRoundCorners(inf, [4]float64{math.Inf(1), math.NaN(), -3, 0}, false))
	io := fxOut(t, inf)
	fxExpectAlpha(t, io, 0, 0, 0, 0)
	fxExpectAlpha(t, io, 30, 20, 255, 255)
	fxExpectAlpha(t, io, 59, 0, 255, 255)

	circle := fxLoad(t, testimg.TransparentCircle(40, 40))
	fxMust(t, fxRoundCorners(circle, [4]float64{5, 5, 5, 5}, false))
	co := fxOut(t, circle)
	fxExpectAlpha(t, co, 20, 20, 255, 255)
	fxExpectAlpha(t, co, 20, 2, 0, 0) // was transparent, stays so
}

func TestFxRoundCornersMax(t *testing.T) {
	img := fxLoad(t, fxSolid(50, 50, fxRed))
	fxMust(t, fxRoundCorners(img, [4]float64{}, true))
	out := fxOut(t, img)
	for _, p := range [][2]int{{0, 0}, {3, 3}, {49, 0}, {46, 46}, {0, 49}} {
		fxExpectAlpha(t, out, p[0], p[1], 0, 0)
	}
	for _, p := range [][2]int{{25, 25}, {25, 1}, {1, 25}, {48, 25}, {25, 48}} {
		fxExpectAlpha(t, out, p[0], p[1], 250, 255)
	}
	// The arc is anti-aliased: (7.5,7.5) is 24.75 from the centre.
	if a := fxAt(out, 7, 7).A; a < 100 || a > 255 {
		t.Errorf("arc pixel alpha %d", a)
	}
	partial := 0
	for x := 0; x < 25; x++ {
		if a := fxAt(out, x, x).A; a > 0 && a < 255 {
			partial++
		}
	}
	if partial == 0 {
		t.Error("no partially covered pixel on the diagonal")
	}

	ell := fxLoad(t, fxSolid(80, 40, fxRed))
	fxMust(t, fxRoundCorners(ell, [4]float64{}, true))
	eo := fxOut(t, ell)
	fxExpectAlpha(t, eo, 40, 20, 255, 255)
	fxExpectAlpha(t, eo, 2, 20, 255, 255)
	fxExpectAlpha(t, eo, 40, 1, 250, 255)
	fxExpectAlpha(t, eo, 0, 5, 0, 0)
	fxExpectAlpha(t, eo, 12, 2, 0, 0)
}

func TestFxBorder(t *testing.T) {
	img := fxLoad(t, fxSolid(30, 20, fxRed))
	fxMust(t, fxBorder(img, 4, transform.Color{A: 255}))
	fxSize(t, img, 38, 28)
	out := fxOut(t, img)
	black := color.NRGBA{0, 0, 0, 255}
	for _, p := range [][2]int{{0, 0}, {37, 27}, {3, 14}, {20, 27}} {
		fxExpect(t, out, p[0], p[1], black, 0)
	}
	fxExpect(t, out, 4, 4, fxRed, 0)
	fxExpect(t, out, 33, 23, fxRed, 0)

	grey := fxLoad(t, fxRamp(10, 10, 90, 90))
	fxMust(t, fxBorder(grey, 2, transform.Color{R: 255, A: 255}))
	fxSize(t, grey, 14, 14)
	go1 := fxOut(t, grey)
	fxExpect(t, go1, 0, 0, color.NRGBA{255, 0, 0, 255}, 0)
	fxExpect(t, go1, 7, 7, color.NRGBA{90, 90, 90, 255}, 0)

	half := fxLoad(t, fxSolid(10, 10, fxRed))
	fxMust(t, fxBorder(half, 3, transform.Color{B: 255, A: 128}))
	ho := fxOut(t, half)
	fxExpect(t, ho, 0, 0, color.NRGBA{0, 0, 255, 128}, 0)
	fxExpect(t, ho, 5, 5, fxRed, 0)

	if err := fxBorder(fxLoad(t, fxSolid(10, 10, fxRed)), 1<<20, transform.Color{A: 255}); err == nil {
		t.Error("a border of a million px was accepted")
	}
}

func TestFxOpacity(t *testing.T) {
	img := fxLoad(t, fxSolid(10, 10, fxRed))
	fxMust(t, fxOpacity(img, 50))
	out := fxOut(t, img)
	fxExpect(t, out, 5, 5, color.NRGBA{230, 20, 20, 128}, 0)

	circle := fxLoad(t, testimg.TransparentCircle(20, 20))
	fxMust(t, fxOpacity(circle, 50))
	co := fxOut(t, circle)
	fxExpectAlpha(t, co, 10, 10, 128, 128)
	fxExpectAlpha(t, co, 0, 0, 0, 0)

	a := fxLoad(t, fxSolid(4, 4, color.NRGBA{10, 20, 30, 200}))
	fxMust(t, fxOpacity(a, 50))
	fxExpect(t, fxOut(t, a), 1, 1, color.NRGBA{10, 20, 30, 100}, 0)

	full := fxLoad(t, fxSolid(4, 4, fxRed))
	fxMust(t, fxOpacity(full, 100))
	if full.Bands() != 3 {
		t.Errorf("o_100 added alpha: %d bands", full.Bands())
	}
	zero := fxLoad(t, fxSolid(4, 4, fxRed))
	fxMust(t, fxOpacity(zero, 0))
	fxExpectAlpha(t, fxOut(t, zero), 1, 1, 0, 0)
}

// ---- every effect on awkward inputs ----

func TestFxEffectsOnTinyGreyAndAlphaImages(t *testing.T) {
	red := transform.Color{R: 255, A: 255}
	effects := map[string]func(*vips.Image) error{
		"blur":           func(i *vips.Image) error { return fxBlur(i, 2000) },
		"sharpen":        func(i *vips.Image) error { return fxSharpen(i, 2000) },
		"unsharp":        func(i *vips.Image) error { return fxUnsharpMask(i, 2000) },
		"grayscale":      fxGrayscale,
		"sepia":          func(i *vips.Image) error { return fxSepia(i, 80) },
		"negate":         fxNegate,
		"brightness":     func(i *vips.Image) error { return fxBrightness(i, 80) },
		"contrast":       func(i *vips.Image) error { return fxContrast(i, 100) },
		"saturation":     func(i *vips.Image) error { return fxSaturation(i, 80) },
		"gamma":          func(i *vips.Image) error { return fxGamma(i, -50) },
		"improve":        func(i *vips.Image) error { return fxImprove(i, false, 100) },
		"improve indoor": func(i *vips.Image) error { return fxImprove(i, true, 100) },
		"auto contrast":  func(i *vips.Image) error { return fxAutoContrast(i, 100) },
		"auto bright":    func(i *vips.Image) error { return fxAutoBrightness(i, 100) },
		"auto color":     func(i *vips.Image) error { return fxAutoColor(i, 100) },
		"pixelate":       func(i *vips.Image) error { return fxPixelate(i, 0) },
		"pixelate 50":    func(i *vips.Image) error { return fxPixelate(i, 50) },
		"pixelate rgn":   func(i *vips.Image) error { return fxPixelateRegions(i, []image.Rectangle{image.Rect(0, 0, 9, 9)}, 0) },
		"blur rgn":       func(i *vips.Image) error { return fxBlurRegions(i, []image.Rectangle{image.Rect(0, 0, 9, 9)}, 500) },
		"trim":           func(i *vips.Image) error { return fxTrim(i, 10, nil) },
		"trim override":  func(i *vips.Image) error { return fxTrim(i, 0, &red) },
		"vignette":       func(i *vips.Image) error { return fxVignette(i, 100) },
		"colorize":       func(i *vips.Image) error { return fxColorize(i, 100, red) },
		"shadow":         func(i *vips.Image) error { return fxShadow(i, 40, red, 5, -5) },
		"outline":        func(i *vips.Image) error { return fxOutline(i, "outer", 5, 0, red) },
		"outline inner":  func(i *vips.Image) error { return fxOutline(i, "inner_fill", 100, 2000, red) },
		"round":          func(i *vips.Image) error { return fxRoundCorners(i, [4]float64{20, 0, 3, 0.5}, false) },
		"round max":      func(i *vips.Image) error { return fxRoundCorners(i, [4]float64{}, true) },
		"border":         func(i *vips.Image) error { return fxBorder(i, 3, red) },
		"opacity":        func(i *vips.Image) error { return fxOpacity(i, 30) },
	}
	inputs := map[string]func() *vips.Image{
		"1x1 rgb":        func() *vips.Image { return fxLoad(t, fxSolid(1, 1, fxRed)) },
		"1x1 rgba":       func() *vips.Image { return fxLoad(t, fxSolid(1, 1, color.NRGBA{1, 2, 3, 4})) },
		"1x1 grey":       func() *vips.Image { return fxLoad(t, fxRamp(1, 1, 7, 7)) },
		"1x1 grey alpha": func() *vips.Image { return fxGreyAlpha(t, 1, 1, 7, 9) },
		"3x2 grey alpha": func() *vips.Image { return fxGreyAlpha(t, 3, 2, 200, 255) },
		"9x5 grey":       func() *vips.Image { return fxLoad(t, fxRamp(9, 5, 0, 255)) },
	}
	for en, fn := range effects {
		for in, mk := range inputs {
			img := mk()
			if err := fn(img); err != nil {
				t.Errorf("%s on %s: %v", en, in, err)
				continue
			}
			if img.Width() < 1 || img.Height() < 1 {
				t.Errorf("%s on %s: size %dx%d", en, in, img.Width(), img.Height())
				continue
			}
			if n := fxColourBands(img); n != 1 && n != 3 {
				t.Errorf("%s on %s: %d bands", en, in, img.Bands())
				continue
			}
			if it := img.Interpretation(); it != vips.InterpretationSrgb && it != vips.InterpretationBW {
				t.Errorf("%s on %s: interpretation %v", en, in, it)
			}
			fxOut(t, img)
		}
	}
}

package render

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"reflect"
	"strings"
	"testing"

	"github.com/refract-cdn/refract/origin/vips"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/testimg"
	"github.com/refract-cdn/refract/shared/transform"
)

var (
	red   = color.RGBA{255, 0, 0, 255}
	green = color.RGBA{0, 255, 0, 255}
	blue  = color.RGBA{0, 0, 255, 255}
)

func animGIF(w, h int, colors []color.RGBA, delays []int) []byte {
	return testimg.AnimatedGIF(w, h, colors, delays)
}

var rgbGIF = animGIF(40, 30, []color.RGBA{red, green, blue}, []int{10, 20, 30})

type pdfPage = testimg.Page

func pdfDoc(pages ...pdfPage) []byte { return testimg.PDF(pages...) }

// A 1in square red page, then a 2in×1in blue one.
var twoPagePDF = pdfDoc(pdfPage{W: 72, H: 72, C: red}, pdfPage{W: 144, H: 72, C: blue})

var greenSVG = []byte(`<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" width="72" height="36" viewBox="0 0 72 36"><rect width="72" height="36" fill="#00ff00"/></svg>`)

func mustLoad(t *testing.T, src []byte, o loadOptions) *vips.Image {
	t.Helper()
	img, err := load(src, Sniff(src), o)
	if err != nil {
		t.Fatalf("load(%v, %+v): %v", Sniff(src), o, err)
	}
	t.Cleanup(img.Close)
	return img
}

// pixelAt reads one pixel of img as RGBA (grey and alpha-less images
// completed), so tests can compare colours across loaders.
func pixelAt(t *testing.T, img *vips.Image, x, y int) color.RGBA {
	t.Helper()
	p, err := img.Getpoint(x, y)
	if err != nil {
		t.Fatalf("getpoint(%d,%d): %v", x, y, err)
	}
	c := color.RGBA{A: 255}
	switch len(p) {
	case 1, 2:
		c.R, c.G, c.B = uint8(p[0]), uint8(p[0]), uint8(p[0])
	default:
		c.R, c.G, c.B = uint8(p[0]), uint8(p[1]), uint8(p[2])
	}
	if len(p) == 2 || len(p) == 4 {
		c.A = uint8(p[len(p)-1])
	}
	return c
}

func expectPixel(t *testing.T, img *vips.Image, x, y int, want color.RGBA) {
	t.Helper()
	if got := pixelAt(t, img, x, y); !testimg.Near(got, want, 12) {
		t.Errorf("pixel (%d,%d) = %v, want about %v", x, y, got, want)
	}
}

func expect400(t *testing.T, what string, err error, msg string) {
	t.Helper()
	if err == nil || clderr.Status(err) != 400 || !strings.Contains(err.Error(), msg) {
		t.Errorf("%s: got %v, want a 400 saying %q", what, err, msg)
	}
}

func TestProbeAnimatedGIF(t *testing.T) {
	info, err := Probe(rgbGIF, 1e6)
	want := Info{Format: format.GIF, Width: 40, Height: 30, Alpha: info.Alpha, Pages: 3, PageHeight: 30, Delay: []int{100, 200, 300}}
	if err != nil || !reflect.DeepEqual(info, want) {
		t.Fatalf("Probe = %+v, %v; want %+v", info, err, want)
	}
	// The limit counts every frame: one frame fits, three do not.
	_, err = Probe(rgbGIF, 40*30*3-1)
	expect400(t, "3 frames over the limit", err, "too large")
	if _, err := Probe(rgbGIF, 40*30*3); err != nil {
		t.Errorf("3 frames at the limit: %v", err)
	}
}

func TestProbeRefusesTruncated(t *testing.T) {
	// libnsgif and poppler both forgive these; Probe must not.
	cases := map[string][]byte{
		"GIF cut in its last frame": rgbGIF[:len(rgbGIF)-8],
		"GIF cut in half":           rgbGIF[:len(rgbGIF)/2],
		"GIF header only":           rgbGIF[:20],
		"PDF without its end":       twoPagePDF[:bytes.LastIndex(twoPagePDF, []byte("startxref"))],
		"PDF cut in half":           twoPagePDF[:len(twoPagePDF)/2],
	}
	for name, b := range cases {
		if _, err := Probe(b, 1e8); err == nil || clderr.Status(err) != 400 || !IsInvalidImage(err) {
			t.Errorf("%s: Probe = %v, want the invalid-image 400", name, err)
		}
	}
	// A GIF that lacks only its trailer byte is whole, as browsers see it.
	if info, err := Probe(rgbGIF[:len(rgbGIF)-1], 1e8); err != nil || info.Pages != 3 {
		t.Errorf("GIF without a trailer: %+v, %v", info, err)
	}
	webp := encodeFrames(t, format.WebP, true)
	if _, err := Probe(webp[:len(webp)-10], 1e8); !IsInvalidImage(err) {
		t.Errorf("truncated animated WebP: %v", err)
	}
}

func TestGIFTruncatedWalk(t *testing.T) {
	if gifTruncated(rgbGIF) || gifTruncated(rgbGIF[:len(rgbGIF)-1]) {
		t.Error("a whole GIF is seen as truncated")
	}
	// Of all the shorter cuts, only those between blocks after the first
	// image pass (GIF's blocks here: an extension before each frame, and
	// the frames), never one inside a block.
	var passed []int
	for n := range len(rgbGIF) - 1 {
		if !gifTruncated(rgbGIF[:n]) {
			passed = append(passed, n)
		}
	}
	if len(passed) == 0 || len(passed) > 5 {
		t.Errorf("cuts that pass: %v; want the few block boundaries after the first frame", passed)
	}
	for _, n := range passed {
		img, err := vips.NewGifloadBuffer(rgbGIF[:n], &vips.GifloadBufferOptions{N: -1})
		if err != nil {
			t.Errorf("a %d-byte cut passes but libvips cannot read it: %v", n, err)
			continue
		}
		img.Close()
	}
}

func TestLoadFramesAndPages(t *testing.T) {
	img := mustLoad(t, rgbGIF, loadOptions{Frames: true})
	info := describe(img, format.GIF)
	if img.Height() != 90 || info.PageHeight != 30 || info.Pages != 3 || info.Height != 30 {
		t.Fatalf("all frames: %dx%d, %+v", img.Width(), img.Height(), info)
	}
	for i, c := range []color.RGBA{red, green, blue} {
		expectPixel(t, img, 20, 30*i+15, c)
	}
	one := mustLoad(t, rgbGIF, loadOptions{})
	if one.Height() != 30 {
		t.Errorf("one frame: %d rows", one.Height())
	}
	// pg_2 picks frame 2, by its colour, and wins over Frames.
	second := mustLoad(t, rgbGIF, loadOptions{Page: 2, Frames: true})
	if second.Height() != 30 {
		t.Errorf("page 2: %d rows", second.Height())
	}
	expectPixel(t, second, 20, 15, green)
	expectPixel(t, mustLoad(t, rgbGIF, loadOptions{Page: 3}), 20, 15, blue)
	if first := mustLoad(t, rgbGIF, loadOptions{Page: 1, Frames: true}); first.Height() != 30 {
		t.Errorf("pg_1 with Frames: %d rows, want the first frame alone", first.Height())
	}
	_, err := load(rgbGIF, format.GIF, loadOptions{Page: 4})
	expect400(t, "page 4 of 3", err, "Page 4 is out of range: the gif has 3 pages")
	_, err = load(quadJPEG, format.JPEG, loadOptions{Page: 2})
	expect400(t, "page 2 of a JPEG", err, "out of range")
	if _, err := load(quadJPEG, format.JPEG, loadOptions{Page: 1}); err != nil {
		t.Errorf("page 1 of a JPEG: %v", err)
	}
	// All frames are counted against the limit, before decoding.
	_, err = load(rgbGIF, format.GIF, loadOptions{Frames: true, MaxPixels: 40 * 30 * 2})
	expect400(t, "frames over the limit", err, "3 frames of 40x30")
}

// splitResizeJoin is the per-frame pipeline: load every frame, resize
// each to w×h, and join them back with the source's timing.
func splitResizeJoin(t *testing.T, src []byte, w, h int) *vips.Image {
	t.Helper()
	img := mustLoad(t, src, loadOptions{Frames: true})
	info := describe(img, Sniff(src))
	frames, err := splitFrames(img, info.PageHeight)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFrames(frames)
	if len(frames) != info.Pages {
		t.Fatalf("split into %d frames, want %d", len(frames), info.Pages)
	}
	for _, fr := range frames {
		if fr.Height() != info.PageHeight || describe(fr, format.GIF).Pages != 1 {
			t.Fatalf("a frame is %dx%d with %d pages", fr.Width(), fr.Height(), fr.Pages())
		}
		if err := resize(fr, w, h); err != nil {
			t.Fatal(err)
		}
	}
	out, err := joinFrames(frames, info.Delay, info.Loop)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Close)
	return out
}

func encodeFrames(t *testing.T, f format.Format, animated bool) []byte {
	t.Helper()
	b, err := encodeWith(splitResizeJoin(t, rgbGIF, 20, 16), f, encodeOptions{Animated: animated})
	if err != nil {
		t.Fatalf("encode %v: %v", f, err)
	}
	if Sniff(b) != f {
		t.Fatalf("wrote %v, want %v", Sniff(b), f)
	}
	return b
}

func TestAnimatedGIFToGIF(t *testing.T) {
	b := encodeFrames(t, format.GIF, false) // GIF is animated whatever Animated says
	g, err := gif.DecodeAll(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if g.Config.Width != 20 || g.Config.Height != 16 || len(g.Image) != 3 {
		t.Fatalf("%dx%d with %d frames, want 20x16 with 3", g.Config.Width, g.Config.Height, len(g.Image))
	}
	if !reflect.DeepEqual(g.Delay, []int{10, 20, 30}) {
		t.Errorf("delays %v cs, want [10 20 30]", g.Delay)
	}
	if g.LoopCount != 0 {
		t.Errorf("loop count %d, want 0 (forever)", g.LoopCount)
	}
	// Frames may be stored as smaller changed rectangles; composite them.
	canvas := image.NewRGBA(image.Rect(0, 0, 20, 16))
	for i, c := range []color.RGBA{red, green, blue} {
		fr := g.Image[i]
		for y := fr.Rect.Min.Y; y < fr.Rect.Max.Y; y++ {
			for x := fr.Rect.Min.X; x < fr.Rect.Max.X; x++ {
				if _, _, _, a := fr.At(x, y).RGBA(); a != 0 {
					canvas.Set(x, y, fr.At(x, y))
				}
			}
		}
		for _, p := range [][2]int{{0, 0}, {10, 8}, {19, 15}} {
			if got := canvas.At(p[0], p[1]); !testimg.Near(got, c, 12) {
				t.Errorf("frame %d at %v = %v, want %v", i+1, p, got, c)
			}
		}
	}
}

func TestAnimatedGIFToWebP(t *testing.T) {
	b := encodeFrames(t, format.WebP, true)
	img := mustLoad(t, b, loadOptions{Frames: true})
	info := describe(img, format.WebP)
	if info.Pages != 3 || info.PageHeight != 16 || info.Width != 20 || img.Height() != 48 {
		t.Fatalf("animated WebP: %dx%d, %+v", img.Width(), img.Height(), info)
	}
	if !reflect.DeepEqual(info.Delay, []int{100, 200, 300}) {
		t.Errorf("delays %v, want [100 200 300]", info.Delay)
	}
	for i, c := range []color.RGBA{red, green, blue} {
		expectPixel(t, img, 10, 16*i+8, c)
	}
	// Probe takes an animated WebP, and pg_2 picks its second frame.
	if p, err := Probe(b, 1e6); err != nil || p.Pages != 3 || p.Height != 16 {
		t.Errorf("Probe(animated WebP) = %+v, %v", p, err)
	}
	expectPixel(t, mustLoad(t, b, loadOptions{Page: 2}), 10, 8, green)

	// Without Animated, a WebP gets the first frame only.
	still := mustLoad(t, encodeFrames(t, format.WebP, false), loadOptions{Frames: true})
	if still.Height() != 16 || still.Pages() != 1 {
		t.Errorf("still WebP: %dx%d, %d pages", still.Width(), still.Height(), still.Pages())
	}
	expectPixel(t, still, 10, 8, red)
}

func TestAnimationToStillFormats(t *testing.T) {
	for _, f := range []format.Format{format.JPEG, format.PNG, format.AVIF} {
		img := mustLoad(t, encodeFrames(t, f, true), loadOptions{})
		if img.Width() != 20 || img.Height() != 16 {
			t.Errorf("%v: %dx%d, want the first frame's 20x16", f, img.Width(), img.Height())
		}
		expectPixel(t, img, 10, 8, red)
	}
}

func TestFrameLimits(t *testing.T) {
	black := func(w, h int) *vips.Image {
		img, err := vips.NewBlack(w, h, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(img.Close)
		return img
	}
	_, err := splitFrames(black(1, maxFrames+1), 1)
	expect400(t, "split 301 frames", err, "too many frames")
	frames, err := splitFrames(black(2, maxFrames), 1)
	if err != nil || len(frames) != maxFrames {
		t.Fatalf("split %d frames: %d, %v", maxFrames, len(frames), err)
	}
	closeFrames(frames)
	_, err = splitFrames(black(10, 10), 3)
	if err == nil {
		t.Error("a page height that does not divide the image was taken")
	}
	many := make([]*vips.Image, maxFrames+1)
	for i := range many {
		many[i] = black(1, 1)
	}
	_, err = joinFrames(many, nil, 0)
	expect400(t, "join 301 frames", err, "too many frames")
	big := black(8000, 8000) // lazy: never computed
	_, err = joinFrames([]*vips.Image{big, big}, nil, 0)
	expect400(t, "join 128 MP", err, "too large")
	if _, err := joinFrames([]*vips.Image{black(2, 2), black(2, 3)}, nil, 0); err == nil {
		t.Error("frames of different sizes were joined")
	}
	if _, err := joinFrames([]*vips.Image{black(2, 2), black(2, 2)}, []int{1}, 0); err == nil {
		t.Error("one delay for two frames was taken")
	}
	// An animation of too many frames is refused on load for a render,
	// though Probe takes it.
	long := make([]color.RGBA, maxFrames+1)
	for i := range long {
		long[i] = []color.RGBA{red, green}[i%2]
	}
	src := animGIF(2, 2, long, make([]int, len(long)))
	if info, err := Probe(src, 1e6); err != nil || info.Pages != maxFrames+1 {
		t.Errorf("Probe of %d frames: %+v, %v", maxFrames+1, info, err)
	}
	var ch transform.Chain
	_, _, err = loadForChain(src, format.GIF, &ch, loadOptions{Frames: true, MaxPixels: 1e6})
	expect400(t, "render 301 frames", err, "too many frames")
	img, _, err := loadForChain(src, format.GIF, &ch, loadOptions{MaxPixels: 1e6})
	if err != nil {
		t.Errorf("one frame of 301: %v", err)
	} else {
		img.Close()
	}
	// A big animation in one file is refused by encodeWith too.
	tall := black(4, 2*(maxFrames+1))
	tall.SetPageHeight(2)
	_, err = encodeWith(tall, format.GIF, encodeOptions{})
	expect400(t, "encode 301 frames", err, "too many frames")
	huge := black(10000, 10200)
	huge.SetPageHeight(100)
	_, err = encodeWith(huge, format.WebP, encodeOptions{Animated: true})
	expect400(t, "encode 102 MP of frames", err, "too large")
}

func TestPDF(t *testing.T) {
	img := mustLoad(t, twoPagePDF, loadOptions{Density: 144})
	if img.Width() != 144 || img.Height() != 144 {
		t.Errorf("72pt at 144 dpi: %dx%d, want 144x144", img.Width(), img.Height())
	}
	expectPixel(t, img, 72, 72, red)
	img = mustLoad(t, twoPagePDF, loadOptions{})
	if img.Width() != 150 || img.Height() != 150 {
		t.Errorf("72pt at the default 150 dpi: %dx%d", img.Width(), img.Height())
	}
	img = mustLoad(t, twoPagePDF, loadOptions{Page: 2, Density: 72})
	if img.Width() != 144 || img.Height() != 72 {
		t.Errorf("page 2 at 72 dpi: %dx%d, want 144x72", img.Width(), img.Height())
	}
	expectPixel(t, img, 100, 36, blue)
	_, err := load(twoPagePDF, format.PDF, loadOptions{Page: 3})
	expect400(t, "page 3 of 2", err, "Page 3 is out of range: the pdf has 2 pages")
	// The size at a density is checked before anything is rendered.
	_, err = load(twoPagePDF, format.PDF, loadOptions{Density: 6000, MaxPixels: 25e6})
	expect400(t, "a page at 6000 dpi", err, "too large")
	_, err = load(twoPagePDF, format.PDF, loadOptions{Density: -1})
	expect400(t, "a negative density", err, "Invalid density")

	info, err := Probe(twoPagePDF, 1e6)
	if err != nil || info.Format != format.PDF || info.Pages != 2 || info.Width != 150 || info.Height != 150 {
		t.Errorf("Probe(PDF) = %+v, %v", info, err)
	}
	_, err = Probe(twoPagePDF, 150*150-1)
	expect400(t, "Probe of a page over the limit", err, "too large")
}

func TestVectorShrinkOnLoad(t *testing.T) {
	// w_100 of a 72pt page at 1440 dpi renders 100 px, not 1440 and then
	// a resize; the plan still refers to the 1440 px page.
	var ch transform.Chain
	if err := transform.Parse("w_0.1", &ch); err != nil {
		t.Fatal(err)
	}
	img, first, err := loadForChain(twoPagePDF, format.PDF, &ch, loadOptions{Density: 1440, MaxPixels: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if first.ResizeW != 144 || img.Width() != 144 || img.Height() != 144 {
		t.Errorf("w_0.1 of 1440 px: planned %d, rendered %dx%d; want 144", first.ResizeW, img.Width(), img.Height())
	}
	expectPixel(t, img, 72, 72, red)
	// 1440x1440 is over the 1e6 limit: only the shrunk render is allowed.
	ch = transform.Chain{}
	_, _, err = loadForChain(twoPagePDF, format.PDF, &ch, loadOptions{Density: 1440, MaxPixels: 1e6})
	expect400(t, "a 1440 px page under a 1 MP limit", err, "too large")
}

func TestSVG(t *testing.T) {
	img := mustLoad(t, greenSVG, loadOptions{})
	if img.Width() != 72 || img.Height() != 36 {
		t.Errorf("SVG at 72 dpi: %dx%d, want 72x36", img.Width(), img.Height())
	}
	img = mustLoad(t, greenSVG, loadOptions{Density: 144})
	if img.Width() != 144 || img.Height() != 72 {
		t.Errorf("SVG at 144 dpi: %dx%d, want 144x72", img.Width(), img.Height())
	}
	expectPixel(t, img, 100, 50, green)
	_, err := load(greenSVG, format.SVG, loadOptions{Page: 2})
	expect400(t, "page 2 of an SVG", err, "out of range")
	_, err = load(greenSVG, format.SVG, loadOptions{Density: 7200, MaxPixels: 1e6})
	expect400(t, "an SVG at 7200 dpi", err, "too large")
	info, err := Probe(greenSVG, 1e6)
	if err != nil || info.Format != format.SVG || info.Width != 72 || info.Height != 36 || info.Pages != 1 {
		t.Errorf("Probe(SVG) = %+v, %v", info, err)
	}
	res := render(t, greenSVG, "w_36", format.PNG, 0)
	expectColor(t, decode(t, res, 36, 18), 18, 9, green)
}

func TestHEIC(t *testing.T) {
	src, err := mustLoad(t, testimg.JPEG(testimg.Quadrants(64, 48)), loadOptions{}).HeifsaveBuffer(&vips.HeifsaveBufferOptions{
		Q: 80, Bitdepth: 8, Compression: vips.HeifCompressionHevc, Effort: 0, Strip: true,
	})
	if err != nil {
		t.Fatalf("libheif cannot encode HEVC here: %v", err)
	}
	info, err := Probe(src, 1e6)
	if err != nil || info.Format != format.HEIC || info.Width != 64 || info.Height != 48 {
		t.Fatalf("Probe(HEIC) = %+v, %v (is libde265 installed?)", info, err)
	}
	img := decode(t, render(t, src, "w_32", format.PNG, 0), 32, 24)
	expectColor(t, img, 4, 4, testimg.Red)
	expectColor(t, img, 28, 20, testimg.Yellow)
}

func TestPNG8AndLossyPNG(t *testing.T) {
	img := mustLoad(t, testimg.PNG(testimg.TransparentCircle(60, 60)), loadOptions{})
	for _, o := range []encodeOptions{{PNG8: true}, {Lossy: true, Quality: 40}} {
		b, err := encodeWith(img, format.PNG, o)
		if err != nil {
			t.Fatal(err)
		}
		p, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		pal, ok := p.(*image.Paletted)
		if !ok {
			t.Fatalf("%+v: decoded as %T, want *image.Paletted", o, p)
		}
		if !testimg.Near(pal.At(30, 30), color.NRGBA{255, 0, 0, 255}, 12) {
			t.Errorf("%+v: centre %v, want red", o, pal.At(30, 30))
		}
		if _, _, _, a := pal.At(1, 1).RGBA(); a != 0 {
			t.Errorf("%+v: the transparent corner has alpha %d", o, a>>8)
		}
	}
	b, err := encodeWith(img, format.PNG, encodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	} else if _, ok := p.(*image.Paletted); ok {
		t.Error("a plain PNG was quantised")
	}
}

func TestLossyGIFIsSmaller(t *testing.T) {
	img := mustLoad(t, testimg.JPEG(testimg.Quadrants(200, 150)), loadOptions{})
	if err := img.Gaussblur(20, nil); err != nil { // gradients, which a lossy GIF simplifies
		t.Fatal(err)
	}
	// Frames that differ a little: a lossy GIF keeps the earlier pixels.
	var frames []*vips.Image
	for i := range 3 {
		fr, err := img.Copy(nil)
		if err == nil {
			err = fr.Linear([]float64{1}, []float64{float64(3 * i)}, nil)
		}
		if err == nil {
			err = fr.Cast(vips.BandFormatUchar, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer fr.Close()
		frames = append(frames, fr)
	}
	anim, err := joinFrames(frames, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer anim.Close()
	exact, err := encodeWith(anim, format.GIF, encodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lossy, err := encodeWith(anim, format.GIF, encodeOptions{Lossy: true, Quality: 30})
	if err != nil {
		t.Fatal(err)
	}
	if len(lossy) >= len(exact) {
		t.Errorf("lossy GIF %d bytes, exact %d", len(lossy), len(exact))
	}
	if g, err := gif.DecodeAll(bytes.NewReader(lossy)); err != nil || len(g.Image) != 3 {
		t.Errorf("lossy GIF: %v", err)
	}
}

func TestProgressiveJPEG(t *testing.T) {
	img := mustLoad(t, quadJPEG, loadOptions{Shrink: 8})
	sof2 := []byte{0xFF, 0xC2}
	b, err := encodeWith(img, format.JPEG, encodeOptions{Progressive: true})
	if err != nil || !bytes.Contains(b, sof2) {
		t.Errorf("progressive: no SOF2 (%v)", err)
	}
	if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
		t.Error(err)
	}
	b, err = encodeWith(img, format.JPEG, encodeOptions{})
	if err != nil || bytes.Contains(b, sof2) {
		t.Errorf("baseline: SOF2 found (%v)", err)
	}
}

// metaJPEG is a JPEG carrying EXIF (an Artist tag), XMP (dc:rights) and
// IPTC (the copyright notice, 2:116), each with a string to look for.
func metaJPEG() []byte {
	j := testimg.JPEG(testimg.Quadrants(64, 48))
	var tiff bytes.Buffer
	tiff.WriteString("MM\x00\x2a")
	for _, v := range []any{uint32(8), uint16(1), uint16(0x013B), uint16(2), uint32(11), uint32(26), uint32(0)} {
		binary.Write(&tiff, binary.BigEndian, v) // IFD0: Artist, ASCII, 11 bytes at 26
	}
	tiff.WriteString("EXIFARTIST\x00")
	seg := func(marker byte, payload []byte) []byte {
		return append([]byte{0xFF, marker, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}, payload...)
	}
	exif := seg(0xE1, append([]byte("Exif\x00\x00"), tiff.Bytes()...))
	xmp := seg(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"+
		"<rdf:Description rdf:about='' xmlns:dc='http://purl.org/dc/elements/1.1/'><dc:rights>XMPCOPYRIGHT</dc:rights></rdf:Description></rdf:RDF></x:xmpmeta>"))
	iim := append([]byte{0x1C, 0x02, 0x74, 0, 13}, "IPTCCOPYRIGHT"...)
	irb := append([]byte("Photoshop 3.0\x008BIM\x04\x04\x00\x00"), 0, 0, 0, byte(len(iim)))
	irb = append(irb, iim...)
	if len(iim)%2 == 1 {
		irb = append(irb, 0)
	}
	out := append([]byte{}, j[:2]...)
	out = append(out, exif...)
	out = append(out, xmp...)
	out = append(out, seg(0xED, irb)...)
	return append(out, j[2:]...)
}

var (
	exifMark = []byte("Exif\x00\x00")
	artist   = []byte("EXIFARTIST")
	xmpMark  = []byte("XMPCOPYRIGHT")
	iptcMark = []byte("IPTCCOPYRIGHT")
	iccMark  = []byte("ICC_PROFILE")
)

func TestMetadataStrippedByDefault(t *testing.T) {
	src := metaJPEG()
	// The source has all three, as libvips reads them.
	img := mustLoad(t, src, loadOptions{})
	for _, f := range []string{"exif-data", "xmp-data", "iptc-data"} {
		if !img.HasField(f) {
			t.Fatalf("the test source has no %s", f)
		}
	}
	for _, f := range []format.Format{format.JPEG, format.PNG, format.WebP, format.AVIF, format.GIF} {
		b := render(t, src, "w_32", f, 0).Body
		for _, m := range [][]byte{exifMark, []byte("Exif"), artist, xmpMark, iptcMark, []byte("XML:com.adobe.xmp"), []byte("eXIf"), []byte("EXIF"), []byte("XMP ")} {
			if bytes.Contains(b, m) {
				t.Errorf("%v: %q survived the default strip", f, m)
			}
		}
	}
}

func TestKeepIPTC(t *testing.T) {
	var ch transform.Chain
	img, _, err := loadForChain(metaJPEG(), format.JPEG, &ch, loadOptions{MaxPixels: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	keep := encodeOptions{KeepIPTC: true}

	b, err := encodeWith(img, format.JPEG, keep)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, xmpMark) || !bytes.Contains(b, iptcMark) {
		t.Error("JPEG: XMP or IPTC was dropped")
	}
	if bytes.Contains(b, exifMark) || bytes.Contains(b, artist) {
		t.Error("JPEG: EXIF was kept")
	}
	if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
		t.Errorf("JPEG: %v", err)
	}
	back := mustLoad(t, b, loadOptions{})
	if !back.HasField("xmp-data") || !back.HasField("iptc-data") || back.HasField("exif-data") {
		t.Errorf("JPEG read back has %v", back.GetFields())
	}

	b, err = encodeWith(img, format.PNG, keep)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil { // checks every chunk's CRC
		t.Errorf("PNG: %v", err)
	}
	back = mustLoad(t, b, loadOptions{})
	if !back.HasField("xmp-data") || back.HasField("exif-data") || bytes.Contains(b, []byte("eXIf")) {
		t.Errorf("PNG read back has %v", back.GetFields())
	}

	b, err = encodeWith(img, format.WebP, keep)
	if err != nil {
		t.Fatal(err)
	}
	back = mustLoad(t, b, loadOptions{})
	if !bytes.Contains(b, xmpMark) || back.HasField("exif-data") || bytes.Contains(b, []byte("EXIF")) {
		t.Errorf("WebP read back has %v", back.GetFields())
	}
	if b[20]&0x08 != 0 || b[20]&0x04 == 0 {
		t.Errorf("WebP VP8X flags %08b: want XMP and no EXIF", b[20])
	}
	if _, err := back.Avg(); err != nil {
		t.Errorf("WebP: %v", err)
	}
}

func TestICCProfileOnlyWithKeepIPTC(t *testing.T) {
	img := mustLoad(t, quadJPEG, loadOptions{Shrink: 8})
	if err := img.IccTransform("srgb", nil); err != nil { // attaches libvips' sRGB profile
		t.Fatal(err)
	}
	if !img.HasICCProfile() {
		t.Fatal("no profile to test with")
	}
	cases := []struct {
		o    encodeOptions
		want bool
	}{
		{encodeOptions{}, false},
		{encodeOptions{KeepIPTC: true}, true},
		{encodeOptions{KeepIPTC: true, StripProfile: true}, false},
		{encodeOptions{StripProfile: true}, false},
	}
	for _, c := range cases {
		b, err := encodeWith(img, format.JPEG, c.o)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(b, iccMark); got != c.want {
			t.Errorf("%+v: profile written %v, want %v", c.o, got, c.want)
		}
	}
	if !img.HasICCProfile() {
		t.Error("encodeWith changed its input")
	}
}

func TestMetadataFiltersRefuseGarbage(t *testing.T) {
	for _, f := range []func([]byte) ([]byte, error){jpegDropExif, pngDropExif, func(b []byte) ([]byte, error) { return webpFilter(b, false) }} {
		if _, err := f([]byte("not an image at all")); err == nil {
			t.Error("garbage was parsed")
		}
	}
	j := testimg.JPEG(testimg.Quadrants(8, 8))
	if _, err := jpegDropExif(j[:20]); err == nil {
		t.Error("a truncated JPEG header was parsed")
	}
	p := testimg.PNG(testimg.Quadrants(8, 8))
	if _, err := pngDropExif(p[:40]); err == nil {
		t.Error("a truncated PNG was parsed")
	}
}

func TestSniffSVGAfterAComment(t *testing.T) {
	cases := map[string]format.Format{
		"<!-- Generator: an editor -->\n<svg xmlns='http://www.w3.org/2000/svg'/>": format.SVG,
		"<!-- a page --><html><body><svg/></body></html>":                          format.Unknown,
		"<!-- nothing -->": format.Unknown,
	}
	for b, want := range cases {
		if got := Sniff([]byte(b)); got != want {
			t.Errorf("Sniff(%q) = %v, want %v", b, got, want)
		}
	}
}

package render

import (
	"bytes"
	"github.com/refract-cdn/refract/origin/vips"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/testimg"
	"github.com/refract-cdn/refract/shared/transform"
)

func TestMain(m *testing.M) {
	Startup()
	os.Exit(m.Run())
}

var quadJPEG = testimg.JPEG(testimg.Quadrants(1200, 800))

func render(t *testing.T, src []byte, tx string, f format.Format, acc format.Accepts) Result {
	t.Helper()
	var ch transform.Chain
	if err := transform.Parse(tx, &ch); err != nil {
		t.Fatalf("Parse(%q): %v", tx, err)
	}
	res, err := Render(src, Request{Chain: &ch, Format: f, Accepts: acc, MaxPixels: 25e6})
	if err != nil {
		t.Fatalf("Render(%q): %v", tx, err)
	}
	if got := Sniff(res.Body); got != res.Format {
		t.Fatalf("Render(%q) says %v but wrote %v", tx, res.Format, got)
	}
	return res
}

// decode decodes JPEG or PNG output with Go's own decoders, independent
// of libvips, and checks the size.
func decode(t *testing.T, res Result, w, h int) image.Image {
	t.Helper()
	var img image.Image
	var err error
	switch res.Format {
	case format.JPEG:
		img, err = jpeg.Decode(bytes.NewReader(res.Body))
	case format.PNG:
		img, err = png.Decode(bytes.NewReader(res.Body))
	default:
		t.Fatalf("cannot decode %v in Go", res.Format)
	}
	if err != nil {
		t.Fatalf("decode %v: %v", res.Format, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("decoded %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
	}
	return img
}

func expectColor(t *testing.T, img image.Image, x, y int, want color.Color) {
	t.Helper()
	if got := img.At(x, y); !testimg.Near(got, want, 40) {
		t.Errorf("pixel (%d,%d) = %v, want about %v", x, y, got, want)
	}
}

func TestScale(t *testing.T) {
	res := render(t, quadJPEG, "w_300,c_scale", format.Unknown, 0)
	img := decode(t, res, 300, 200)
	expectColor(t, img, 20, 20, testimg.Red)
	expectColor(t, img, 280, 180, testimg.Yellow)
}

func TestFillKeepsTheCentre(t *testing.T) {
	img := decode(t, render(t, quadJPEG, "c_fill,w_200,h_200", format.JPEG, 0), 200, 200)
	// From 300x200 the centre 200 columns keep all four quadrants.
	expectColor(t, img, 5, 5, testimg.Red)
	expectColor(t, img, 195, 195, testimg.Yellow)
}

func TestFillGravity(t *testing.T) {
	img := decode(t, render(t, quadJPEG, "c_fill,w_100,h_200,g_east", format.JPEG, 0), 100, 200)
	// g_east keeps only the right-hand half: green over yellow.
	expectColor(t, img, 50, 20, testimg.Green)
	expectColor(t, img, 50, 180, testimg.Yellow)
}

func TestCropRegion(t *testing.T) {
	img := decode(t, render(t, quadJPEG, "c_crop,w_100,h_100,g_south_west", format.PNG, 0), 100, 100)
	for _, p := range [][2]int{{0, 0}, {99, 99}, {50, 50}} {
		expectColor(t, img, p[0], p[1], testimg.Blue)
	}
}

func TestPadWithBackground(t *testing.T) {
	img := decode(t, render(t, quadJPEG, "c_pad,w_300,h_300,b_red", format.PNG, 0), 300, 300)
	red := color.RGBA{255, 0, 0, 255}
	expectColor(t, img, 0, 0, red)
	expectColor(t, img, 299, 299, red)
	expectColor(t, img, 75, 60, testimg.Red) // the image's red quadrant, 50px down
	expectColor(t, img, 280, 240, testimg.Yellow)
}

func TestPadDefaultsToWhite(t *testing.T) {
	img := decode(t, render(t, quadJPEG, "c_pad,w_300,h_300", format.JPEG, 0), 300, 300)
	expectColor(t, img, 150, 10, color.White)
}

func TestGrayscale(t *testing.T) {
	img := decode(t, render(t, quadJPEG, "w_300/e_grayscale", format.JPEG, 0), 300, 200)
	for _, p := range [][2]int{{20, 20}, {280, 20}, {20, 180}, {280, 180}} {
		r, g, b, _ := img.At(p[0], p[1]).RGBA()
		if r != g || g != b {
			t.Errorf("pixel %v is not grey: %d %d %d", p, r>>8, g>>8, b>>8)
		}
	}
}

func TestBlurSoftensTheEdge(t *testing.T) {
	sharp := decode(t, render(t, quadJPEG, "w_300", format.PNG, 0), 300, 200)
	blurred := decode(t, render(t, quadJPEG, "w_300,e_blur:400", format.PNG, 0), 300, 200)
	// On the vertical edge between red and green, blur mixes the two.
	r0, _, _, _ := sharp.At(148, 50).RGBA()
	r1, _, _, _ := blurred.At(148, 50).RGBA()
	if r1>>8 >= r0>>8-30 {
		t.Errorf("e_blur did not soften the edge: red %d -> %d", r0>>8, r1>>8)
	}
	expectColor(t, blurred, 20, 20, testimg.Red) // far from edges, unchanged
}

func TestSharpenChangesPixels(t *testing.T) {
	a := render(t, quadJPEG, "w_300", format.PNG, 0)
	b := render(t, quadJPEG, "w_300,e_sharpen", format.PNG, 0)
	decode(t, b, 300, 200)
	if bytes.Equal(a.Body, b.Body) {
		t.Error("e_sharpen changed nothing")
	}
}

func TestRotate(t *testing.T) {
	img := decode(t, render(t, quadJPEG, "w_300,a_90", format.PNG, 0), 200, 300)
	// Clockwise: the top-left red quadrant moves to the top right.
	expectColor(t, img, 180, 20, testimg.Red)
	expectColor(t, img, 20, 20, testimg.Blue)
	res := render(t, quadJPEG, "w_300,a_45", format.JPEG, 0)
	if res.Width <= 300 || res.Height <= 300 {
		t.Errorf("a_45 gave %dx%d, want a larger canvas", res.Width, res.Height)
	}
	img = decode(t, res, res.Width, res.Height)
	expectColor(t, img, 1, 1, color.White) // corners flattened on white for JPEG
	img = decode(t, render(t, quadJPEG, "w_300,a_hflip", format.PNG, 0), 300, 200)
	expectColor(t, img, 20, 20, testimg.Green)
}

func TestEXIFOrientation(t *testing.T) {
	src := testimg.WithOrientation(testimg.JPEG(testimg.Quadrants(120, 80)), 6) // display rotated 90° clockwise
	info, err := Probe(src, 50e6)
	if err != nil || info.Width != 80 || info.Height != 120 {
		t.Fatalf("Probe = %+v, %v; want 80x120", info, err)
	}
	img := decode(t, render(t, src, "w_40", format.PNG, 0), 40, 60)
	expectColor(t, img, 35, 5, testimg.Red)
	img = decode(t, render(t, src, "w_60,a_ignore", format.PNG, 0), 60, 40)
	expectColor(t, img, 5, 5, testimg.Red)
}

// Sizes after shrink-on-load are exact, and relative sizes and dpr refer
// to the original, not to the image as shrunk on load.
func TestShrinkOnLoadIsExact(t *testing.T) {
	big := testimg.JPEG(testimg.Quadrants(4000, 3000))
	cases := []struct {
		tx   string
		w, h int
	}{
		{"w_300", 300, 225}, {"w_1200", 1200, 900}, {"w_501", 501, 376},
		{"c_fill,w_400,h_400", 400, 400}, {"w_0.25", 1000, 750}, {"w_0.1", 400, 300},
		{"dpr_0.2", 800, 600}, {"w_100,dpr_2", 200, 150}, {"h_0.5,c_fill,w_0.1", 400, 1500},
	}
	for _, c := range cases {
		img := decode(t, render(t, big, c.tx, format.JPEG, 0), c.w, c.h)
		expectColor(t, img, 2, 2, testimg.Red)
		expectColor(t, img, c.w-3, c.h-3, testimg.Yellow)
	}
	webp := render(t, big, "w_600", format.WebP, 0)
	if info, err := Probe(webp.Body, 1e8); err != nil {
		t.Fatal(err)
	} else if small := render(t, webp.Body, "w_0.5", format.PNG, 0); small.Width != info.Width/2 {
		t.Errorf("w_0.5 of a %d px WebP gave %d px", info.Width, small.Width)
	}
}

func TestFormats(t *testing.T) {
	for _, f := range []format.Format{format.WebP, format.AVIF, format.GIF, format.PNG, format.JPEG} {
		res := render(t, quadJPEG, "w_300", f, 0)
		info, err := Probe(res.Body, 50e6)
		if err != nil || info.Format != f || info.Width != 300 || info.Height != 200 {
			t.Errorf("%v: %+v %v", f, info, err)
		}
	}
}

func TestAutoFormat(t *testing.T) {
	alpha := testimg.PNG(testimg.TransparentCircle(200, 200))
	cases := []struct {
		src  []byte
		acc  format.Accepts
		want format.Format
	}{
		{quadJPEG, format.AcceptAVIF | format.AcceptWebP, format.AVIF},
		{quadJPEG, format.AcceptWebP, format.WebP},
		{quadJPEG, 0, format.JPEG},
		{alpha, 0, format.PNG}, // never flatten transparency into a JPEG
		{alpha, format.AcceptAVIF, format.AVIF},
	}
	for _, c := range cases {
		if res := render(t, c.src, "w_100", format.Auto, c.acc); res.Format != c.want {
			t.Errorf("f_auto for %v with accepts %b = %v, want %v", Sniff(c.src), c.acc, res.Format, c.want)
		}
	}
	img := decode(t, render(t, alpha, "w_100", format.Auto, 0), 100, 100)
	if _, _, _, a := img.At(1, 1).RGBA(); a != 0 {
		t.Errorf("the transparent corner became opaque (alpha %d)", a>>8)
	}
}

func TestResolveFormat(t *testing.T) {
	if ResolveFormat(format.Unknown, 0, format.HEIC, false, false) != format.JPEG {
		t.Error("HEIC originals should be delivered as JPEG")
	}
	if ResolveFormat(format.Auto, format.AcceptAVIF, format.GIF, true, true) != format.GIF {
		t.Error("animation must not become a still AVIF")
	}
	if ResolveFormat(format.Auto, format.AcceptAVIF|format.AcceptWebP, format.GIF, true, true) != format.WebP {
		t.Error("animation should go to WebP where accepted")
	}
	if ResolveFormat(format.PNG, format.AcceptAVIF, format.JPEG, false, false) != format.PNG {
		t.Error("an explicit format must win")
	}
}

func TestQualityRule(t *testing.T) {
	q := func(tx string, f format.Format) int {
		var ch transform.Chain
		_ = transform.Parse(tx, &ch)
		return Quality(&ch, f)
	}
	if q("", format.JPEG) != 80 || q("q_auto", format.JPEG) != 80 || q("q_auto:low", format.WebP) != 60 ||
		q("q_auto:best", format.AVIF) != 70 || q("q_35", format.AVIF) != 35 {
		t.Error("quality rule broken")
	}
	small := render(t, quadJPEG, "w_600,q_20", format.JPEG, 0)
	large := render(t, quadJPEG, "w_600,q_95", format.JPEG, 0)
	if len(small.Body) >= len(large.Body) {
		t.Errorf("q_20 (%d bytes) is not smaller than q_95 (%d bytes)", len(small.Body), len(large.Body))
	}
}

func TestProgressive(t *testing.T) {
	res := render(t, quadJPEG, "w_300,fl_progressive", format.JPEG, 0)
	if !bytes.Contains(res.Body, []byte{0xFF, 0xC2}) {
		t.Error("fl_progressive did not write a progressive (SOF2) JPEG")
	}
	if bytes.Contains(render(t, quadJPEG, "w_300", format.JPEG, 0).Body, []byte{0xFF, 0xC2}) {
		t.Error("a baseline JPEG was expected without the flag")
	}
}

func TestProbeRefusesBadInput(t *testing.T) {
	cases := map[string][]byte{
		"empty":     nil,
		"text":      []byte("hello, world"),
		"truncated": quadJPEG[:len(quadJPEG)/2],
		"png head":  testimg.PNG(testimg.Quadrants(64, 64))[:100],
	}
	for name, b := range cases {
		if _, err := Probe(b, 50e6); err == nil || clderr.Status(err) != 400 {
			t.Errorf("%s: Probe = %v, want a 400", name, err)
		}
	}
	_, err := Probe(quadJPEG, 500_000)
	if err == nil || clderr.Status(err) != 400 || !strings.Contains(err.Error(), "too large") {
		t.Errorf("pixel limit: %v", err)
	}
	info, err := Probe(quadJPEG, 50e6)
	if err != nil || !reflect.DeepEqual(info, Info{Format: format.JPEG, Width: 1200, Height: 800, Pages: 1, PageHeight: 800}) {
		t.Errorf("Probe = %+v, %v", info, err)
	}
}

func TestOutputLimit(t *testing.T) {
	try := func(src []byte, tx string, f format.Format, max int) error {
		var ch transform.Chain
		if err := transform.Parse(tx, &ch); err != nil {
			t.Fatal(err)
		}
		_, err := Render(src, Request{Chain: &ch, Format: f, MaxPixels: max})
		return err
	}
	for _, c := range []struct {
		tx  string
		max int
	}{
		{"w_8000,h_8000,c_scale", 25e6},
		{"c_scale,h_100000,ar_1000", 25e6}, // 1e13 pixels: must not overflow past the check
		{"e_grayscale", 500_000},           // no resize, but the output is the 0.96 MP input
		{"a_45", 1_500_000},                // the rotated canvas is larger than the input
	} {
		if err := try(quadJPEG, c.tx, format.JPEG, c.max); clderr.Status(err) != 400 {
			t.Errorf("%s with a limit of %d: %v", c.tx, c.max, err)
		}
	}
	// A crop of a large original is small: the input's size is not the limit.
	if err := try(quadJPEG, "c_crop,w_100,h_100", format.JPEG, 500_000); err != nil {
		t.Errorf("a 100x100 crop of a 0.96 MP image under a 0.5 MP limit: %v", err)
	}
	if err := try(quadJPEG, "c_crop,h_100,x_-10", format.JPEG, 25e6); err != nil {
		t.Errorf("a crop with a negative offset and no width: %v", err)
	}
	for _, f := range []format.Format{format.TIFF, format.BMP, format.HEIC, format.PDF} {
		if err := try(quadJPEG, "w_10", f, 25e6); clderr.Status(err) != 400 {
			t.Errorf("output as %v: %v", f, err)
		}
	}
}

func TestSniff(t *testing.T) {
	cases := map[format.Format][]byte{
		format.JPEG: quadJPEG,
		format.PNG:  testimg.PNG(testimg.Quadrants(8, 8)),
		format.GIF:  []byte("GIF89a\x01\x00"),
		format.WebP: []byte("RIFF\x00\x00\x00\x00WEBPVP8 "),
		format.AVIF: []byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf"),
		format.HEIC: []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"),
		format.SVG:  []byte("\xef\xbb\xbf  <?xml version=\"1.0\"?>\n<svg xmlns='http://www.w3.org/2000/svg'/>"),
		format.PDF:  []byte("%PDF-1.7\n"),
		format.TIFF: []byte("II*\x00\x08\x00"),
	}
	for want, b := range cases {
		if got := Sniff(b); got != want {
			t.Errorf("Sniff(%q...) = %v, want %v", b[:min(len(b), 12)], got, want)
		}
	}
	if Sniff([]byte("<html>")) != format.Unknown {
		t.Error("HTML sniffed as an image")
	}
}

// BenchmarkRenderJPEG300 is the render benchmark the README quotes: a
// 4000×3000 JPEG to 300 px wide at q80, the workload imgproxy is measured on.
func BenchmarkRenderJPEG300(b *testing.B) {
	src := testimg.JPEG(testimg.Quadrants(4000, 3000))
	var ch transform.Chain
	_ = transform.Parse("w_300,q_80", &ch)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(src, Request{Chain: &ch, Format: format.JPEG, MaxPixels: 25e6}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawVipsJPEG300 is the anchor for BenchmarkRenderJPEG300: the
// least libvips work that produces the same output (load at 1/8, resize,
// save), with none of Refract's planning, colour handling or checks.
func BenchmarkRawVipsJPEG300(b *testing.B) {
	src := testimg.JPEG(testimg.Quadrants(4000, 3000))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		img, err := vips.NewJpegloadBuffer(src, &vips.JpegloadBufferOptions{Shrink: 8})
		if err != nil {
			b.Fatal(err)
		}
		if err := img.Resize(300.0/float64(img.Width()), &vips.ResizeOptions{Kernel: vips.KernelLanczos3}); err != nil {
			b.Fatal(err)
		}
		if _, err := img.JpegsaveBuffer(&vips.JpegsaveBufferOptions{Q: 80, Strip: true, OptimizeCoding: true}); err != nil {
			b.Fatal(err)
		}
		img.Close()
	}
}

package render

// Render benchmarks for the transformation URL API, each Refract case paired
// with a raw-libvips anchor that produces the same output with the least
// libvips work. bench/README.md ("Transformation URL API renders") quotes
// them as ratios, run in interleaved pairs.

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/refract-cdn/refract/origin/vips"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/testimg"
	"github.com/refract-cdn/refract/shared/transform"
)

// benchPhoto is a photo-like w×h image: smooth gradients and soft colour
// waves, per-pixel noise, and a few saturated blobs off-centre (one of
// them skin-toned), so JPEG decode and AV1 encode see real entropy and
// smart cropping has something to find. Channels stay within 16–224, so
// white text drawn on it can be told apart. Deterministic.
func benchPhoto(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fw, fh := float64(w), float64(h)
	col := make([][3]float64, w)
	for x := range col {
		u := float64(x) / fw
		col[x] = [3]float64{
			40 * math.Sin(u*7.1), 35 * math.Cos(u*4.3+1), 30 * math.Sin(u*11.7+2),
		}
	}
	type blob struct {
		cx, cy, r float64
		c         [3]float64
	}
	blobs := []blob{
		{0.72, 0.40, 0.13, [3]float64{215, 160, 130}}, // skin tone
		{0.20, 0.70, 0.09, [3]float64{30, 60, 200}},
		{0.85, 0.80, 0.06, [3]float64{210, 40, 40}},
		{0.35, 0.25, 0.05, [3]float64{40, 190, 60}},
	}
	seed := uint32(2463534242)
	for y := 0; y < h; y++ {
		v := float64(y) / fh
		row := [3]float64{
			120 + 50*v + 20*math.Sin(v*9.3),
			100 + 30*math.Cos(v*5.1),
			140 - 60*v + 15*math.Sin(v*13.9+1),
		}
		for x := 0; x < w; x++ {
			seed ^= seed << 13
			seed ^= seed >> 17
			seed ^= seed << 5
			n := float64(int(seed&31) - 16) // ±16
			px := [3]float64{row[0] + col[x][0] + n, row[1] + col[x][1] + n, row[2] + col[x][2] + n}
			u := float64(x) / fw
			for _, b := range blobs {
				dx, dy := (u-b.cx)*fw/fh, v-b.cy
				if d := math.Sqrt(dx*dx + dy*dy); d < b.r {
					// A soft edge over the outer fifth of the radius.
					a := math.Min(1, (b.r-d)/(b.r*0.2))
					for i := range px {
						px[i] = px[i]*(1-a) + (b.c[i]+n)*a
					}
				}
			}
			o := img.PixOffset(x, y)
			for i := range px {
				img.Pix[o+i] = uint8(math.Max(16, math.Min(224, px[i])))
			}
			img.Pix[o+3] = 255
		}
	}
	return img
}

var (
	photoOnce          sync.Once
	photoBig, photoMid []byte // 4000×3000 and 1200×800 JPEG, q90
)

// benchPhotos returns the photo-like sources, built once per process.
func benchPhotos() (big, mid []byte) {
	photoOnce.Do(func() {
		photoBig = testimg.JPEG(benchPhoto(4000, 3000))
		photoMid = testimg.JPEG(benchPhoto(1200, 800))
	})
	return photoBig, photoMid
}

// benchChain parses a transformation or fails the benchmark.
func benchChain(tb testing.TB, tx string) *transform.Chain {
	tb.Helper()
	var ch transform.Chain
	if err := transform.Parse(tx, &ch); err != nil {
		tb.Fatalf("Parse(%q): %v", tx, err)
	}
	return &ch
}

// benchCheck decodes an output once, so a broken benchmark fails instead
// of reporting fast nonsense: the format is sniffed from the bytes, JPEG
// is decoded by Go's own decoder, anything else by Decode.
func benchCheck(tb testing.TB, out []byte, f format.Format, w, h int) image.Image {
	tb.Helper()
	if got := Sniff(out); got != f {
		tb.Fatalf("output is %v, want %v", got, f)
	}
	var img image.Image
	var err error
	if f == format.JPEG {
		img, err = jpeg.Decode(bytes.NewReader(out))
	} else {
		img, _, err = Decode(out)
	}
	if err != nil {
		tb.Fatalf("decode %v: %v", f, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		tb.Fatalf("output is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
	}
	return img
}

// benchRender is the Refract side of a pair: Render as the origin calls it.
func benchRender(b *testing.B, src []byte, tx string, f format.Format, w, h int, check func(testing.TB, image.Image)) {
	ch := benchChain(b, tx)
	req := Request{Chain: ch, Format: f, MaxPixels: 25e6}
	res, err := Render(src, req)
	if err != nil {
		b.Fatal(err)
	}
	img := benchCheck(b, res.Body, f, w, h)
	if check != nil {
		check(b, img)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(src, req); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRaw is the anchor side of a pair: op makes the output with libvips.
func benchRaw(b *testing.B, src []byte, f format.Format, w, h int, check func(testing.TB, image.Image), op func([]byte) ([]byte, error)) {
	out, err := op(src)
	if err != nil {
		b.Fatal(err)
	}
	img := benchCheck(b, out, f, w, h)
	if check != nil {
		check(b, img)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := op(src); err != nil {
			b.Fatal(err)
		}
	}
}

// The w_300 pair on the photo-like source; BenchmarkRenderJPEG300 in
// render_test.go is the same on flat quadrants.

func BenchmarkRenderPhotoJPEG300(b *testing.B) {
	big, _ := benchPhotos()
	benchRender(b, big, "w_300,q_80", format.JPEG, 300, 225, nil)
}

func BenchmarkRawVipsPhotoJPEG300(b *testing.B) {
	big, _ := benchPhotos()
	benchRaw(b, big, format.JPEG, 300, 225, nil, rawJPEG300)
}

// rawJPEG300 is jpegload at 1/8, a Lanczos3 resize to 300 wide, jpegsave q80.
func rawJPEG300(src []byte) ([]byte, error) {
	img, err := vips.NewJpegloadBuffer(src, &vips.JpegloadBufferOptions{Shrink: 8})
	if err != nil {
		return nil, err
	}
	defer img.Close()
	if err := img.Resize(300.0/float64(img.Width()), &vips.ResizeOptions{Kernel: vips.KernelLanczos3}); err != nil {
		return nil, err
	}
	return img.JpegsaveBuffer(&vips.JpegsaveBufferOptions{Q: 80, Strip: true, OptimizeCoding: true})
}

// c_fill,g_auto,w_400,h_400: cover 400×400 (533×400 from 4000×3000), then
// the 400×400 region libvips' attention strategy picks.

const fillAutoTx = "c_fill,g_auto,w_400,h_400"

func BenchmarkRenderFillAuto400(b *testing.B) {
	big, _ := benchPhotos()
	benchRender(b, big, fillAutoTx, format.JPEG, 400, 400, nil)
}

func BenchmarkRawVipsFillAuto400(b *testing.B) {
	big, _ := benchPhotos()
	benchRaw(b, big, format.JPEG, 400, 400, nil, rawFillAuto400)
}

// rawFillAuto400 is jpegload at 1/4 (1000×750: 1/8 would leave 375 rows,
// under 400), a Lanczos3 resize to 533×400, smartcrop attention, jpegsave
// q80. It is what vips_thumbnail_buffer(400, height 400, crop attention)
// does, without its colour management.
func rawFillAuto400(src []byte) ([]byte, error) {
	img, err := vips.NewJpegloadBuffer(src, &vips.JpegloadBufferOptions{Shrink: 4})
	if err != nil {
		return nil, err
	}
	defer img.Close()
	hs, vs := 533.0/float64(img.Width()), 400.0/float64(img.Height())
	if err := img.Resize(hs, &vips.ResizeOptions{Vscale: vs, Kernel: vips.KernelLanczos3}); err != nil {
		return nil, err
	}
	if err := img.Smartcrop(400, 400, &vips.SmartcropOptions{Interesting: vips.InterestingAttention}); err != nil {
		return nil, err
	}
	return img.JpegsaveBuffer(&vips.JpegsaveBufferOptions{Q: 80, Strip: true, OptimizeCoding: true})
}

// f_avif,w_300: AV1 at the quality and effort Refract uses for a 300×225
// AVIF (Quality and avifEffort in encode.go; benchAVIFSettings checks
// they still agree).

const (
	benchAVIFQ      = 60 // Quality's default for AVIF
	benchAVIFEffort = 2  // avifEffort(300*225)
)

func benchAVIFSettings(tb testing.TB) {
	tb.Helper()
	if q, e := Quality(benchChain(tb, "f_avif,w_300"), format.AVIF), avifEffort(300*225); q != benchAVIFQ || e != benchAVIFEffort {
		tb.Fatalf("Refract encodes a 300×225 AVIF at q%d effort %d; the anchor assumes q%d effort %d", q, e, benchAVIFQ, benchAVIFEffort)
	}
}

func BenchmarkRenderAVIF300(b *testing.B) {
	benchAVIFSettings(b)
	big, _ := benchPhotos()
	benchRender(b, big, "f_avif,w_300", format.AVIF, 300, 225, nil)
}

func BenchmarkRawVipsAVIF300(b *testing.B) {
	benchAVIFSettings(b)
	big, _ := benchPhotos()
	benchRaw(b, big, format.AVIF, 300, 225, nil, rawAVIF300)
}

func avifOptions() *vips.HeifsaveBufferOptions {
	return &vips.HeifsaveBufferOptions{
		Q: benchAVIFQ, Bitdepth: 8, Compression: vips.HeifCompressionAv1, Effort: benchAVIFEffort, Strip: true,
	}
}

// rawAVIF300 is jpegload at 1/8, a Lanczos3 resize to 300 wide, heifsave AV1.
func rawAVIF300(src []byte) ([]byte, error) {
	img, err := vips.NewJpegloadBuffer(src, &vips.JpegloadBufferOptions{Shrink: 8})
	if err != nil {
		return nil, err
	}
	defer img.Close()
	if err := img.Resize(300.0/float64(img.Width()), &vips.ResizeOptions{Kernel: vips.KernelLanczos3}); err != nil {
		return nil, err
	}
	return img.HeifsaveBuffer(avifOptions())
}

// BenchmarkAVIFEncode300 is the AV1 encode alone: a 300×225 image already
// in memory, saved as AVIF at Refract's settings. Its absolute time is
// what the issue bounds ("tens of milliseconds, not 200 ms").
func BenchmarkAVIFEncode300(b *testing.B) {
	benchAVIFSettings(b)
	big, _ := benchPhotos()
	img, err := vips.NewJpegloadBuffer(big, &vips.JpegloadBufferOptions{Shrink: 8})
	if err != nil {
		b.Fatal(err)
	}
	if err := img.Resize(300.0/float64(img.Width()), &vips.ResizeOptions{Kernel: vips.KernelLanczos3}); err != nil {
		b.Fatal(err)
	}
	pix, err := img.WriteToMemory()
	w, h, bands := img.Width(), img.Height(), img.Bands()
	img.Close()
	if err != nil {
		b.Fatal(err)
	}
	encode := func() ([]byte, error) {
		m, err := vips.NewImageFromMemory(pix, w, h, bands)
		if err != nil {
			return nil, err
		}
		defer m.Close()
		return m.HeifsaveBuffer(avifOptions())
	}
	out, err := encode()
	if err != nil {
		b.Fatal(err)
	}
	benchCheck(b, out, format.AVIF, 300, 225)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// A text overlay on a 1200×800 JPEG: "Hello World" in Arial 60 bold,
// white, centred on the bottom edge.

const textTx = "l_text:Arial_60_bold:Hello%20World,co_white/fl_layer_apply,g_south"

// checkTextOverlay fails unless there is white ink at the bottom centre and none
// anywhere else (the photo's channels stay under 225).
func checkTextOverlay(tb testing.TB, img image.Image) {
	tb.Helper()
	b := img.Bounds()
	bottom, elsewhere := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 < 245 || g>>8 < 245 || bl>>8 < 245 {
				continue
			}
			if y >= b.Max.Y-100 && x > b.Dx()/4 && x < b.Dx()*3/4 {
				bottom++
			} else {
				elsewhere++
			}
		}
	}
	if bottom < 2000 || elsewhere > 0 {
		tb.Fatalf("text overlay: %d white pixels at the bottom centre, %d elsewhere", bottom, elsewhere)
	}
}

func BenchmarkRenderTextOverlay(b *testing.B) {
	_, mid := benchPhotos()
	benchRender(b, mid, textTx, format.JPEG, 1200, 800, checkTextOverlay)
}

func BenchmarkRawVipsTextOverlay(b *testing.B) {
	_, mid := benchPhotos()
	benchRaw(b, mid, format.JPEG, 1200, 800, checkTextOverlay, rawTextOverlay)
}

// rawTextOverlay is jpegload, vips_text in "Arial Bold 60" at 72 dpi, the
// mask made a white sRGBA layer by one linear, composite2 over at the
// bottom centre, the alpha dropped, jpegsave q80.
func rawTextOverlay(src []byte) ([]byte, error) {
	base, err := vips.NewJpegloadBuffer(src, nil)
	if err != nil {
		return nil, err
	}
	defer base.Close()
	mask, err := vips.NewText("Hello World", &vips.TextOptions{Font: "Arial Bold 60", Dpi: 72})
	if err != nil {
		return nil, err
	}
	defer mask.Close()
	if err := mask.Linear([]float64{0, 0, 0, 1}, []float64{255, 255, 255, 0}, &vips.LinearOptions{Uchar: true}); err != nil {
		return nil, err
	}
	layer, err := mask.Copy(&vips.CopyOptions{Interpretation: vips.InterpretationSrgb})
	if err != nil {
		return nil, err
	}
	defer layer.Close()
	x, y := (base.Width()-layer.Width()+1)/2, base.Height()-layer.Height()
	if err := base.Composite2(layer, vips.BlendModeOver, &vips.Composite2Options{X: x, Y: y}); err != nil {
		return nil, err
	}
	if err := base.ExtractBand(0, &vips.ExtractBandOptions{N: 3}); err != nil {
		return nil, err
	}
	return base.JpegsaveBuffer(&vips.JpegsaveBufferOptions{Q: 80, Strip: true, OptimizeCoding: true})
}

// TestBenchAnchorsMatch checks that each anchor makes the same image as
// the Refract render it is paired with (up to resampling and codec
// noise), so the ratios compare like with like.
func TestBenchAnchorsMatch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 12 MP source")
	}
	benchAVIFSettings(t)
	big, mid := benchPhotos()
	cases := []struct {
		name, tx string
		src      []byte
		f        format.Format
		w, h     int
		raw      func([]byte) ([]byte, error)
	}{
		{"w_300", "w_300,q_80", big, format.JPEG, 300, 225, rawJPEG300},
		{"fill_auto", fillAutoTx, big, format.JPEG, 400, 400, rawFillAuto400},
		{"avif", "f_avif,w_300", big, format.AVIF, 300, 225, rawAVIF300},
		{"text", textTx, mid, format.JPEG, 1200, 800, rawTextOverlay},
	}
	for _, c := range cases {
		res, err := Render(c.src, Request{Chain: benchChain(t, c.tx), Format: c.f, MaxPixels: 25e6})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		raw, err := c.raw(c.src)
		if err != nil {
			t.Fatalf("%s anchor: %v", c.name, err)
		}
		a := benchCheck(t, res.Body, c.f, c.w, c.h)
		b := benchCheck(t, raw, c.f, c.w, c.h)
		if d := meanAbsDiff(a, b); d > 2 {
			t.Errorf("%s: Refract and anchor differ by %.2f per channel on average", c.name, d)
		} else {
			t.Logf("%s: mean difference %.2f per channel", c.name, d)
		}
	}
}

// meanAbsDiff is the mean absolute difference of two same-sized images'
// RGB channels, in 8-bit levels.
func meanAbsDiff(a, b image.Image) float64 {
	r := a.Bounds()
	sum := 0.0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ca := color.NRGBAModel.Convert(a.At(x, y)).(color.NRGBA)
			cb := color.NRGBAModel.Convert(b.At(x, y)).(color.NRGBA)
			sum += math.Abs(float64(ca.R)-float64(cb.R)) + math.Abs(float64(ca.G)-float64(cb.G)) + math.Abs(float64(ca.B)-float64(cb.B))
		}
	}
	return sum / float64(3*r.Dx()*r.Dy())
}

// The Pair benchmarks run a Refract render and its anchor alternately,
// iteration by iteration (Refract first on even iterations, the anchor
// first on odd ones), so a burst of load from a neighbour on this shared
// machine lands on both sides instead of on one whole benchmark. They
// report the median time of each side and the median of the per-iteration
// ratios Refract/anchor.

func benchPair(b *testing.B, refract, anchor func() error) {
	if err := refract(); err != nil {
		b.Fatal(err)
	}
	if err := anchor(); err != nil {
		b.Fatal(err)
	}
	timed := func(f func() error) float64 {
		t := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		return float64(time.Since(t)) / 1e6
	}
	var rt, at, ratio []float64
	for i := 0; b.Loop(); i++ {
		var r, a float64
		if i%2 == 0 {
			r = timed(refract)
			a = timed(anchor)
		} else {
			a = timed(anchor)
			r = timed(refract)
		}
		rt, at, ratio = append(rt, r), append(at, a), append(ratio, r/a)
	}
	b.ReportMetric(median(rt), "refract-ms")
	b.ReportMetric(median(at), "anchor-ms")
	b.ReportMetric(median(ratio), "ratio")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// pairCase is one Refract render and its anchor, both checked once.
func pairCase(b *testing.B, src []byte, tx string, f format.Format, w, h int, check func(testing.TB, image.Image), raw func([]byte) ([]byte, error)) {
	req := Request{Chain: benchChain(b, tx), Format: f, MaxPixels: 25e6}
	res, err := Render(src, req)
	if err != nil {
		b.Fatal(err)
	}
	out, err := raw(src)
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range [][]byte{res.Body, out} {
		img := benchCheck(b, o, f, w, h)
		if check != nil {
			check(b, img)
		}
	}
	benchPair(b,
		func() error { _, err := Render(src, req); return err },
		func() error { _, err := raw(src); return err })
}

var quadBig = sync.OnceValue(func() []byte { return testimg.JPEG(testimg.Quadrants(4000, 3000)) })

func BenchmarkPairJPEG300(b *testing.B) {
	pairCase(b, quadBig(), "w_300,q_80", format.JPEG, 300, 225, nil, rawJPEG300)
}

func BenchmarkPairPhotoJPEG300(b *testing.B) {
	big, _ := benchPhotos()
	pairCase(b, big, "w_300,q_80", format.JPEG, 300, 225, nil, rawJPEG300)
}

func BenchmarkPairFillAuto400(b *testing.B) {
	big, _ := benchPhotos()
	pairCase(b, big, fillAutoTx, format.JPEG, 400, 400, nil, rawFillAuto400)
}

func BenchmarkPairAVIF300(b *testing.B) {
	benchAVIFSettings(b)
	big, _ := benchPhotos()
	pairCase(b, big, "f_avif,w_300", format.AVIF, 300, 225, nil, rawAVIF300)
}

func BenchmarkPairTextOverlay(b *testing.B) {
	_, mid := benchPhotos()
	pairCase(b, mid, textTx, format.JPEG, 1200, 800, checkTextOverlay, rawTextOverlay)
}

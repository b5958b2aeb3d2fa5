package render

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/refract-cdn/refract/origin/vips"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/transform"
)

func TestParseTextLayer(t *testing.T) {
	black := transform.Color{A: 255}
	for _, tc := range []struct {
		in   string
		want textStyle
		text string
	}{
		{"Arial_40:Hello", textStyle{Font: "Arial", Size: 40, Color: black}, "Hello"},
		{"Arial_40_bold_italic:Hi%2C%20there", textStyle{Font: "Arial", Size: 40, Bold: true, Italic: true, Color: black}, "Hi, there"},
		// The example of Cloudinary's text layer documentation.
		{"Verdana_50_bold_underline_letter_spacing_14:Style", textStyle{Font: "Verdana", Size: 50, Bold: true, Underline: true, LetterSpacing: 14, Color: black}, "Style"},
		// SDKs escape a comma, a slash and a percent sign twice.
		{"Arial_20:a%252Cb%252Fc%2525d%3F", textStyle{Font: "Arial", Size: 20, Color: black}, "a,b/c%d?"},
		{"Arial_20:line%0Atwo", textStyle{Font: "Arial", Size: 20, Color: black}, "line\ntwo"},
		{"Arial_20:100%", textStyle{Font: "Arial", Size: 20, Color: black}, "100%"},
		{"Arial_20:a:b", textStyle{Font: "Arial", Size: 20, Color: black}, "a:b"},
		{"Open%20Sans_12_strikethrough_center_line_spacing_5_letter_spacing_-2:x",
			textStyle{Font: "Open Sans", Size: 12, Strike: true, Align: "center", LineSpacing: 5, LetterSpacing: -2, Color: black}, "x"},
		{"Roboto_Mono_30_light_right:x", textStyle{Font: "Roboto_Mono", Size: 30, Weight: "light", Align: "right", Color: black}, "x"},
		{"Arial_20_text_align_end_font_weight_bold_font_style_italic_text_decoration_underline:x",
			textStyle{Font: "Arial", Size: 20, Align: "right", Bold: true, Italic: true, Underline: true, Color: black}, "x"},
		{"arial_18_antialias_best_hinting_medium_normal:x", textStyle{Font: "arial", Size: 18, Color: black}, "x"},
		{"Arial_1000_justify:x", textStyle{Font: "Arial", Size: 1000, Align: "justify", Color: black}, "x"},
		{"Arial_40:" + strings.Repeat("%2525", maxTextBytes), textStyle{Font: "Arial", Size: 40, Color: black}, strings.Repeat("%", maxTextBytes)},
	} {
		st, text, err := parseTextLayer(tc.in)
		if err != nil {
			t.Errorf("parseTextLayer(%.100q): %v", tc.in, err)
			continue
		}
		if st != tc.want || text != tc.text {
			t.Errorf("parseTextLayer(%.100q) = %+v, %.100q; want %+v, %.100q", tc.in, st, text, tc.want, tc.text)
		}
	}
	for _, in := range []string{
		"Arial_0:x", "Arial_5000:x", "Arial_1001:x", "Arial_abc:x", "Arial_99999999999999999999:x",
		"Arial:x", "40:x", "_40:x", "Arial_40_blink:x", "Arial_40_stroke:x",
		"Arial_40:", "Arial_40", ":x", "Ari;al_40:x", "Ari%2Fal_40:x", strings.Repeat("A", 101) + "_40:x",
		"Arial_40:" + strings.Repeat("a", maxTextBytes+1),
		"Arial_40:" + strings.Repeat("%2561", maxTextBytes+1),
		"Arial_40_letter_spacing_x:y", "Arial_40_letter_spacing_5000:y", "Arial_40_letter_spacing:y",
		"Arial_40_line_spacing_-5:x", "Arial_40_font_weight_heavy:x", "Arial_40_text_align_middle:x",
		"Arial_40_antialias_sharp:x", "Arial_40:a%00b", "Arial_40:a%0Db", "Arial_40:%FF",
	} {
		_, _, err := parseTextLayer(in)
		if err == nil {
			t.Errorf("parseTextLayer(%.100q) succeeded", in)
			continue
		}
		if clderr.Status(err) != 400 || !strings.HasPrefix(err.Error(), "Invalid text overlay - ") {
			t.Errorf("parseTextLayer(%.100q): %v (status %d), want a 400 Invalid text overlay", in, err, clderr.Status(err))
		}
	}
}

// textPixels renders text and decodes the result with Go's PNG decoder.
func textPixels(t *testing.T, st textStyle, text string) *image.NRGBA {
	t.Helper()
	img, err := textImage(st, text)
	if err != nil {
		t.Fatalf("textImage(%+v, %q): %v", st, text, err)
	}
	defer img.Close()
	if !img.HasAlpha() || img.Bands() != 4 {
		t.Fatalf("textImage(%q): %d bands, alpha %v; want RGBA", text, img.Bands(), img.HasAlpha())
	}
	return pngNRGBA(t, img)
}

func pngNRGBA(t *testing.T, img *vips.Image) *image.NRGBA {
	t.Helper()
	buf, err := img.PngsaveBuffer(nil)
	if err != nil {
		t.Fatalf("PngsaveBuffer: %v", err)
	}
	dec, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("png.Decode: %v", err)
	}
	b := dec.Bounds()
	out := image.NewNRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.SetNRGBA(x, y, color.NRGBAModel.Convert(dec.At(x, y)).(color.NRGBA))
		}
	}
	return out
}

// ink is the sum of a text image's alpha.
func alphaInk(img *image.NRGBA) int {
	n := 0
	for i := 3; i < len(img.Pix); i += 4 {
		n += int(img.Pix[i])
	}
	return n
}

func textStyleOf(size int) textStyle {
	return textStyle{Font: "DejaVu Sans", Size: size, Color: transform.Color{A: 255}}
}

func TestTextImageColour(t *testing.T) {
	st := textStyleOf(40)
	st.Color = transform.Color{R: 200, G: 30, B: 100, A: 255}
	img := textPixels(t, st, "Hello")
	solid, clear := 0, 0
	for i := 0; i < len(img.Pix); i += 4 {
		p := img.Pix[i : i+4]
		switch {
		case p[3] > 200:
			solid++
			if p[0] != 200 || p[1] != 30 || p[2] != 100 {
				t.Fatalf("ink pixel %v, want 200,30,100", p)
			}
		case p[3] == 0:
			clear++
		}
	}
	if solid < 100 || clear < 100 {
		t.Errorf("Hello: %d solid and %d clear pixels; want text on a transparent ground", solid, clear)
	}

	// A translucent colour scales the alpha.
	st.Color.A = 128
	img = textPixels(t, st, "Hello")
	top := 0
	for i := 3; i < len(img.Pix); i += 4 {
		top = max(top, int(img.Pix[i]))
	}
	if top < 126 || top > 130 {
		t.Errorf("with alpha 128 the most opaque pixel has alpha %d", top)
	}
}

func TestTextImageSize(t *testing.T) {
	small := textPixels(t, textStyleOf(40), "Hello World").Bounds()
	big := textPixels(t, textStyleOf(80), "Hello World").Bounds()
	hr := float64(big.Dy()) / float64(small.Dy())
	wr := float64(big.Dx()) / float64(small.Dx())
	if hr < 1.8 || hr > 2.2 || wr < 1.8 || wr > 2.2 {
		t.Errorf("size 40 is %v, size 80 is %v: want about twice as big", small.Size(), big.Size())
	}
	if small.Dy() < 25 || small.Dy() > 45 {
		t.Errorf("size 40 is %d pixels tall: the size should be in pixels", small.Dy())
	}
}

func TestTextImageStyles(t *testing.T) {
	regular := textStyleOf(40)
	bold := regular
	bold.Bold = true
	if r, b := alphaInk(textPixels(t, regular, "Hello")), alphaInk(textPixels(t, bold, "Hello")); b < r*11/10 {
		t.Errorf("bold ink %d, regular %d: want bold clearly darker", b, r)
	}

	under := regular
	under.Underline = true
	if r, u := textPixels(t, regular, "ace"), textPixels(t, under, "ace"); u.Bounds().Dy() <= r.Bounds().Dy() || alphaInk(u) <= alphaInk(r) {
		t.Errorf("underline: %v ink %d, plain %v ink %d", u.Bounds().Size(), alphaInk(u), r.Bounds().Size(), alphaInk(r))
	}

	strike := regular
	strike.Strike = true
	if r, s := textPixels(t, regular, "ace"), textPixels(t, strike, "ace"); alphaInk(s) <= alphaInk(r)*11/10 {
		t.Errorf("strikethrough ink %d, plain %d", alphaInk(s), alphaInk(r))
	}

	italic := regular
	italic.Italic = true
	if r, i := textPixels(t, regular, "l"), textPixels(t, italic, "l"); i.Bounds().Dx() <= r.Bounds().Dx() {
		t.Errorf("italic l is %d wide, upright %d: want it slanted", i.Bounds().Dx(), r.Bounds().Dx())
	}

	spaced := regular
	spaced.LetterSpacing = 20
	if r, s := textPixels(t, regular, "abcde"), textPixels(t, spaced, "abcde"); s.Bounds().Dx()-r.Bounds().Dx() < 70 || s.Bounds().Dx()-r.Bounds().Dx() > 90 {
		t.Errorf("letter_spacing 20 on 5 letters: %d wide, plain %d; want about 80 more", s.Bounds().Dx(), r.Bounds().Dx())
	}

	lined := regular
	lined.LineSpacing = 30
	if r, l := textPixels(t, regular, "A\nB"), textPixels(t, lined, "A\nB"); l.Bounds().Dy()-r.Bounds().Dy() < 25 || l.Bounds().Dy()-r.Bounds().Dy() > 35 {
		t.Errorf("line_spacing 30 on 2 lines: %d tall, plain %d; want about 30 more", l.Bounds().Dy(), r.Bounds().Dy())
	}

	// An unknown family falls back to the default font instead of failing.
	unknown := regular
	unknown.Font = "No Such Font Family"
	if alphaInk(textPixels(t, unknown, "Hello")) == 0 {
		t.Error("unknown font: no ink")
	}
}

func TestTextImageMarkupIsText(t *testing.T) {
	st := textStyleOf(40)
	x := textPixels(t, st, "x")
	tags := textPixels(t, st, "<b>x</b>")
	if alphaInk(tags) < 4*alphaInk(x) || tags.Bounds().Dx() < 4*x.Bounds().Dx() {
		t.Errorf("<b>x</b>: %v ink %d; x: %v ink %d; want the tags drawn as text", tags.Bounds().Size(), alphaInk(tags), x.Bounds().Size(), alphaInk(x))
	}
	lt := textPixels(t, st, "<")
	entity := textPixels(t, st, "&lt;")
	if entity.Bounds().Dx() < 2*lt.Bounds().Dx() {
		t.Errorf("&lt; is %d wide, < is %d: want the entity drawn literally", entity.Bounds().Dx(), lt.Bounds().Dx())
	}
	for _, s := range []string{`<span font="200">x`, `"'&`, "</span><span size='900000'>x", "a\tb"} {
		if _, err := textImage(st, s); err != nil {
			t.Errorf("textImage(%q): %v", s, err)
		}
	}
	// The family is escaped too, though it is validated.
	bad := st
	bad.Font = `x"><b>`
	if _, err := textImage(bad, "x"); clderr.Status(err) != 400 {
		t.Errorf("bad family: %v", err)
	}
}

func TestTextImageWraps(t *testing.T) {
	const words = "the quick brown fox jumps over the lazy dog"
	st := textStyleOf(30)
	one := textPixels(t, st, words).Bounds()
	st.Width = 150
	wrapped := textPixels(t, st, words).Bounds()
	if wrapped.Dx() > 150 || wrapped.Dy() < 3*one.Dy() {
		t.Errorf("wrapped at 150: %v; one line: %v", wrapped.Size(), one.Size())
	}
	// A word longer than the width is broken.
	st.Width = 60
	if long := textPixels(t, st, "abcdefghijklmnop").Bounds(); long.Dx() > 60 {
		t.Errorf("a long word wrapped at 60 is %d wide", long.Dx())
	}
}

func TestTextImageEmptyInk(t *testing.T) {
	for _, s := range []string{"   ", "\n", "\u200b"} {
		img := textPixels(t, textStyleOf(40), s)
		if img.Bounds().Dx() != 1 || img.Bounds().Dy() != 1 || alphaInk(img) != 0 {
			t.Errorf("%q: %v with ink %d; want one transparent pixel", s, img.Bounds().Size(), alphaInk(img))
		}
	}
}

func TestTextImageTooLarge(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   textStyle
		text string
	}{
		{"size 1000", textStyleOf(1000), strings.Repeat("W", maxTextBytes)},
		{"letter spacing", textStyle{Font: "Sans", Size: 10, LetterSpacing: 1000}, strings.Repeat("i", 900)},
		{"line spacing", textStyle{Font: "Sans", Size: 10, LineSpacing: 1000, Width: 1}, strings.Repeat("W", 900)},
		{"lines", textStyleOf(1000), strings.Repeat("W\n", 400)},
		{"one long line", textStyleOf(60), strings.Repeat("W", 900)}, // 4 MP, but over 32767 wide
	} {
		start := time.Now()
		img, err := textImage(tc.st, tc.text)
		if err == nil {
			t.Errorf("%s: rendered %dx%d", tc.name, img.Width(), img.Height())
			img.Close()
			continue
		}
		if clderr.Status(err) != 400 {
			t.Errorf("%s: %v, want a 400", tc.name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: refused after %v; want the measuring render to catch it", tc.name, d)
		}
	}
	// Just under the limit is fine: 1000 px text, a few letters.
	if img, err := textImage(textStyleOf(1000), "Wi"); err != nil {
		t.Errorf("size 1000: %v", err)
	} else {
		img.Close()
	}
}

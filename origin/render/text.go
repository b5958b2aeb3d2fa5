package render

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/refract-cdn/refract/origin/vips"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/transform"
)

// Limits on text layers. Sizes are in pixels: text renders at 72 dpi, where
// a point is a pixel.
const (
	maxTextSize       = 1000 // font size
	maxTextBytes      = 1000 // the decoded text
	maxTextStyle      = 256  // the style part, as written
	maxTextFont       = 100  // the font family name
	maxLetterSpacing  = 1000 // |letter_spacing_N|
	maxLineSpacing    = 1000 // line_spacing_N
	maxTextWrap       = 1 << 20
	maxTextPixels     = 25_000_000
	maxTextSide       = 32767 // cairo's limit on a surface's width and height
	textProbeSize     = 16.0  // the scale of the measuring render
	textProbeTolerate = 1.5   // how far the measured size may undershoot
)

// textStyle is the style of a text layer: the <font>_<size>[_<style>…] part
// of l_text, plus what other parameters set (Color from co_, Width from
// c_fit with w_).
type textStyle struct {
	Font              string // family, as written; "_" stands for a space
	Size              int    // pixels
	Bold, Italic      bool
	Weight            string // "thin" or "light" when not Bold, else ""
	Underline, Strike bool
	Align             string          // "", "left", "center", "right" or "justify"
	LetterSpacing     int             // extra pixels between letters, may be negative
	LineSpacing       int             // extra pixels between lines
	Color             transform.Color // from co_; parseTextLayer sets opaque black
	Width             int             // wrap width in pixels, 0 for none
}

func textErr(format string, a ...any) error {
	return clderr.BadRequest("Invalid text overlay - "+format, a...)
}

// parseTextLayer reads the part of l_text after "text:" — the style, a
// colon, and the text, as written in the URL — and returns the style and
// the decoded text.
//
// The text is percent-decoded twice, as Cloudinary does: once for the URL
// and once for the text itself, so SDKs write a comma as %252C, a slash as
// %252F and a percent sign as %2525, and everything else escaped once
// (%20, %3F, %0A for a line break). A "%" that starts no valid escape is
// kept as it is. The style is decoded the same way ("Open%20Sans").
//
// Style tokens, after the family and the size: bold, thin, light, italic,
// normal, underline, strikethrough, none, left, center, right, start, end,
// justify (each also as font_weight_X, font_style_X, text_decoration_X,
// text_align_X), letter_spacing_N, line_spacing_N, and antialias_X and
// hinting_X, which are accepted and ignored.
func parseTextLayer(v string) (textStyle, string, error) {
	st := textStyle{Color: transform.Color{A: 255}}
	rawStyle, rawText, ok := strings.Cut(v, ":")
	if !ok || rawStyle == "" {
		return st, "", textErr("expected text:<font>_<size>:<text>")
	}
	if len(rawStyle) > maxTextStyle {
		return st, "", textErr("style is too long")
	}
	if len(rawText) > 5*maxTextBytes {
		// Even with every byte escaped twice (%25XX), this decodes to more
		// than the limit.
		return st, "", textErr("text is longer than %d bytes", maxTextBytes)
	}
	style := percentDecode(percentDecode(rawStyle))
	text := percentDecode(percentDecode(rawText))
	if err := parseTextStyle(style, &st); err != nil {
		return st, "", err
	}
	if err := checkText(text); err != nil {
		return st, "", err
	}
	return st, text, nil
}

func parseTextStyle(style string, st *textStyle) error {
	tokens := strings.Split(style, "_")
	// The family may itself contain "_": the size is the first token after
	// it that is all digits.
	n := -1
	for i := 1; i < len(tokens); i++ {
		if allDigits(tokens[i]) {
			n = i
			break
		}
	}
	if n < 0 {
		return textErr("expected <font>_<size> but got %s", style)
	}
	st.Font = strings.Join(tokens[:n], "_")
	if err := checkFont(st.Font); err != nil {
		return err
	}
	size, err := strconv.Atoi(tokens[n])
	if err != nil || size < 1 || size > maxTextSize {
		return textErr("font size must be 1 to %d, not %s", maxTextSize, tokens[n])
	}
	st.Size = size
	rest := tokens[n+1:]
	for len(rest) > 0 {
		used, err := textStyleToken(rest, st)
		if err != nil {
			return err
		}
		rest = rest[used:]
	}
	return nil
}

// textStyleToken applies the style token at the start of t and says how
// many "_"-separated parts it took.
func textStyleToken(t []string, st *textStyle) (int, error) {
	// Prefixed forms: font_weight_bold, text_align_center, …
	if len(t) >= 3 {
		switch t[0] + "_" + t[1] {
		case "font_weight":
			switch t[2] {
			case "normal", "bold", "thin", "light":
				textWeight(t[2], st)
				return 3, nil
			}
			return 0, textErr("unknown font_weight %s", t[2])
		case "font_style":
			switch t[2] {
			case "normal", "italic":
				st.Italic = t[2] == "italic"
				return 3, nil
			}
			return 0, textErr("unknown font_style %s", t[2])
		case "text_decoration":
			switch t[2] {
			case "none", "normal", "underline", "strikethrough":
				textDecoration(t[2], st)
				return 3, nil
			}
			return 0, textErr("unknown text_decoration %s", t[2])
		case "text_align":
			if textAlign(t[2], st) {
				return 3, nil
			}
			return 0, textErr("unknown text_align %s", t[2])
		case "letter_spacing":
			v, err := strconv.Atoi(t[2])
			if err != nil || v < -maxLetterSpacing || v > maxLetterSpacing {
				return 0, textErr("letter_spacing must be %d to %d, not %s", -maxLetterSpacing, maxLetterSpacing, t[2])
			}
			st.LetterSpacing = v
			return 3, nil
		case "line_spacing":
			v, err := strconv.Atoi(t[2])
			if err != nil || v > maxLineSpacing {
				return 0, textErr("line_spacing must be 0 to %d, not %s", maxLineSpacing, t[2])
			}
			if v < 0 {
				return 0, textErr("negative line_spacing is not supported")
			}
			st.LineSpacing = v
			return 3, nil
		case "font_antialias", "font_hinting":
			if t[1] == "antialias" && textAntialias(t[2]) || t[1] == "hinting" && textHinting(t[2]) {
				return 3, nil
			}
			return 0, textErr("unknown %s_%s %s", t[0], t[1], t[2])
		}
	}
	if len(t) >= 2 {
		switch t[0] {
		case "antialias", "antialiasing":
			if !textAntialias(t[1]) {
				return 0, textErr("unknown antialias %s", t[1])
			}
			return 2, nil
		case "hinting":
			if !textHinting(t[1]) {
				return 0, textErr("unknown hinting %s", t[1])
			}
			return 2, nil
		}
	}
	switch t[0] {
	case "normal":
		return 1, nil
	case "bold", "thin", "light":
		textWeight(t[0], st)
		return 1, nil
	case "italic":
		st.Italic = true
		return 1, nil
	case "none", "underline", "strikethrough":
		textDecoration(t[0], st)
		return 1, nil
	case "stroke":
		return 0, textErr("stroke is not supported")
	}
	if textAlign(t[0], st) {
		return 1, nil
	}
	return 0, textErr("unknown style %s", t[0])
}

func textWeight(w string, st *textStyle) {
	st.Bold, st.Weight = w == "bold", ""
	if w == "thin" || w == "light" {
		st.Weight = w
	}
}

func textDecoration(d string, st *textStyle) {
	switch d {
	case "underline":
		st.Underline = true
	case "strikethrough":
		st.Strike = true
	default:
		st.Underline, st.Strike = false, false
	}
}

func textAlign(a string, st *textStyle) bool {
	switch a {
	case "left", "start":
		st.Align = "left"
	case "center", "right", "justify":
		st.Align = a
	case "end":
		st.Align = "right"
	default:
		return false
	}
	return true
}

func textAntialias(v string) bool {
	switch v {
	case "none", "gray", "subpixel", "fast", "good", "best":
		return true
	}
	return false
}

func textHinting(v string) bool {
	switch v {
	case "none", "slight", "medium", "full":
		return true
	}
	return false
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func checkFont(f string) error {
	if f == "" {
		return textErr("missing font family")
	}
	if len(f) > maxTextFont {
		return textErr("font family is too long")
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ' || c == '_' || c == '-') {
			return textErr("unsupported font %q", f)
		}
	}
	if strings.TrimLeft(f, " _-") == "" {
		return textErr("unsupported font %q", f)
	}
	return nil
}

// checkText refuses text that is empty, too long, not UTF-8, or has
// control characters other than line breaks and tabs.
func checkText(s string) error {
	if s == "" {
		return textErr("empty text")
	}
	if len(s) > maxTextBytes {
		return textErr("text is longer than %d bytes", maxTextBytes)
	}
	if !utf8.ValidString(s) {
		return textErr("text is not valid UTF-8")
	}
	for _, r := range s {
		if r != '\n' && r != '\t' && (unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF) {
			return textErr("text has a control character (U+%04X)", r)
		}
	}
	return nil
}

// percentDecode replaces each %XX escape in s with its byte. Unlike
// url.PathUnescape it never fails: a "%" that starts no escape stays.
func percentDecode(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

var markupEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&#39;", `"`, "&quot;")

// textMarkup is the Pango markup for text in st at scale s: the text is
// escaped, so it is only ever text, and the style goes in a span.
func textMarkup(st textStyle, text string, s float64) string {
	var b strings.Builder
	b.Grow(len(text) + 200)
	family := strings.ReplaceAll(st.Font, "_", " ")
	fmt.Fprintf(&b, `<span font_family="%s"`, markupEscaper.Replace(family))
	switch {
	case st.Bold:
		b.WriteString(` font_weight="bold"`)
	case st.Weight == "thin":
		b.WriteString(` font_weight="thin"`)
	case st.Weight == "light":
		b.WriteString(` font_weight="light"`)
	}
	if st.Italic {
		b.WriteString(` font_style="italic"`)
	}
	if st.Underline {
		b.WriteString(` underline="single"`)
	}
	if st.Strike {
		b.WriteString(` strikethrough="true"`)
	}
	if st.LetterSpacing != 0 {
		// In 1/1024 of a point, which is a pixel at 72 dpi.
		fmt.Fprintf(&b, ` letter_spacing="%d"`, int(math.Round(float64(st.LetterSpacing)*s*1024)))
	}
	b.WriteByte('>')
	b.WriteString(markupEscaper.Replace(text))
	b.WriteString("</span>")
	return b.String()
}

// renderTextMask renders text in st at scale s (1 for the real size) as a
// one-band mask.
func renderTextMask(st textStyle, text string, s float64) (*vips.Image, error) {
	opt := &vips.TextOptions{
		Font:    "Sans " + strconv.FormatFloat(math.Max(float64(st.Size)*s, 1), 'f', 3, 64),
		Dpi:     72,
		Spacing: int(math.Round(float64(st.LineSpacing) * s)),
	}
	if st.Width > 0 {
		opt.Width = max(int(math.Round(float64(st.Width)*s)), 1)
		opt.Wrap = vips.TextWrapWordChar
	}
	switch st.Align {
	case "center":
		opt.Align = vips.AlignCentre
	case "right":
		opt.Align = vips.AlignHigh
	case "justify":
		opt.Justify = true
	}
	return vips.NewText(textMarkup(st, text, s), opt)
}

// textImage renders text in st as an sRGB image with alpha, just big
// enough for its ink, in st.Color. It refuses, with a 400, text whose
// image would be over maxTextPixels; a measuring render at a small scale
// catches that before any large allocation.
func textImage(st textStyle, text string) (*vips.Image, error) {
	Startup()
	if st.Size < 1 || st.Size > maxTextSize {
		return nil, textErr("font size must be 1 to %d", maxTextSize)
	}
	if st.LetterSpacing < -maxLetterSpacing || st.LetterSpacing > maxLetterSpacing || st.LineSpacing < 0 || st.LineSpacing > maxLineSpacing {
		return nil, textErr("spacing out of range")
	}
	if st.Width < 0 || st.Width > maxTextWrap {
		return nil, textErr("text width must be 0 to %d", maxTextWrap)
	}
	if err := checkFont(st.Font); err != nil {
		return nil, err
	}
	if err := checkText(text); err != nil {
		return nil, err
	}
	if strings.TrimSpace(text) == "" {
		return transparentPixel()
	}
	tooLarge := func(w, h float64) error {
		return textErr("text image would be %.0fx%.0f, over the limit of %d pixels or %d on a side", w, h, maxTextPixels, maxTextSide)
	}
	biggest := float64(max(st.Size, absInt(st.LetterSpacing), st.LineSpacing))
	if biggest > textProbeSize {
		s := textProbeSize / biggest
		probe, err := renderTextMask(st, text, s)
		if err != nil {
			if noInk(err) {
				return transparentPixel()
			}
			return nil, vipsErr("text", err)
		}
		w, h := float64(probe.Width())/s, float64(probe.Height())/s
		probe.Close()
		if w*h > maxTextPixels*textProbeTolerate || w > maxTextSide || h > maxTextSide {
			return nil, tooLarge(w, h)
		}
	}
	mask, err := renderTextMask(st, text, 1)
	if err != nil {
		if noInk(err) {
			return transparentPixel()
		}
		if strings.Contains(err.Error(), "too big") {
			// Over cairo's limit on a side, which the measuring render
			// estimated a little short.
			return nil, textErr("text image is over %d pixels on a side", maxTextSide)
		}
		return nil, vipsErr("text", err)
	}
	defer mask.Close()
	if w, h := mask.Width(), mask.Height(); w*h > maxTextPixels {
		return nil, tooLarge(float64(w), float64(h))
	}
	return colourMask(mask, st.Color)
}

// colourMask makes an sRGB image with alpha from a one-band mask: the
// colour bands are c, the alpha is the mask scaled by c's alpha.
func colourMask(mask *vips.Image, c transform.Color) (*vips.Image, error) {
	a := float64(c.A) / 255
	if err := mask.Linear([]float64{0, 0, 0, a}, []float64{float64(c.R), float64(c.G), float64(c.B), 0}, &vips.LinearOptions{Uchar: true}); err != nil {
		return nil, vipsErr("text colour", err)
	}
	out, err := mask.Copy(&vips.CopyOptions{Interpretation: vips.InterpretationSrgb})
	if err != nil {
		return nil, vipsErr("text colour", err)
	}
	return out, nil
}

// noInk reports whether libvips found nothing to draw (only spaces, or
// zero-width characters).
func noInk(err error) bool { return strings.Contains(err.Error(), "no text to render") }

// transparentPixel is the image of text with no ink.
func transparentPixel() (*vips.Image, error) {
	img, err := vips.NewImageFromMemory([]byte{0, 0, 0, 0}, 1, 1, 4)
	if err != nil {
		return nil, vipsErr("text", err)
	}
	out, err := img.Copy(&vips.CopyOptions{Interpretation: vips.InterpretationSrgb})
	img.Close()
	if err != nil {
		return nil, vipsErr("text", err)
	}
	return out, nil
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

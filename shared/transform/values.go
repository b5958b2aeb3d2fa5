package transform

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/refract-cdn/refract/shared/format"
)

// Size is a length in pixels, or a fraction of the input when Rel is set.
type Size struct {
	V   float64
	Rel bool
}

// Resolve turns s into pixels against the input length in.
func (s Size) Resolve(in int) float64 {
	if s.Rel {
		return s.V * float64(in)
	}
	return s.V
}

// number parses an unsigned decimal ("300", "0.5", ".5", "2.") without
// the exponents, signs, hex and NaN/Inf forms strconv would also accept.
func number(v string) (float64, bool) {
	// At most 16 characters, not counting a leading zero: the canonical
	// form writes ".5" as "0.5", and must parse back.
	if v == "" || len(strings.TrimPrefix(v, "0")) > 16 {
		return 0, false
	}
	dot := false
	digits := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	return f, err == nil
}

// signed is number with an optional leading '-'.
func signed(v string) (float64, bool) {
	if len(v) > 1 && v[0] == '-' {
		f, ok := number(v[1:])
		return -f, ok
	}
	return number(v)
}

// parseSize reads a w_/h_ value: a fraction of the input when it has a
// dot and is at most 1 (w_0.5, w_1.0), pixels otherwise.
func parseSize(v string) (Size, bool) {
	f, ok := number(v)
	if !ok || f <= 0 || f > maxPixels {
		return Size{}, false
	}
	if f <= 1 && hasDot(v) {
		return Size{V: f, Rel: true}, true
	}
	return Size{V: f}, true
}

// parseOffset reads an x_/y_ value: signed pixels, or a signed fraction.
func parseOffset(v string) (Size, bool) {
	f, ok := signed(v)
	if !ok || f > maxPixels || f < -maxPixels {
		return Size{}, false
	}
	if f >= -1 && f <= 1 && hasDot(v) {
		return Size{V: f, Rel: true}, true
	}
	return Size{V: f}, true
}

func hasDot(v string) bool { return strings.IndexByte(v, '.') >= 0 }

func appendSize(b []byte, s Size) []byte {
	n := len(b)
	b = appendFloat(b, s.V)
	if s.Rel && bytes.IndexByte(b[n:], '.') < 0 {
		// Keep fractions recognisable: w_1.0 is 100%, w_1 is one pixel.
		b = append(b, ".0"...)
	}
	return b
}

func appendFloat(b []byte, f float64) []byte {
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// Ratio is an aspect ratio, written "16:9" (Den > 0) or "1.5" (Den == 0).
type Ratio struct {
	Num, Den float64
}

// Value is width / height.
func (r Ratio) Value() float64 {
	if r.Den > 0 {
		return r.Num / r.Den
	}
	return r.Num
}

// parseRatio reads "a:b" or a decimal. Ratios beyond 1:1000 or 1000:1
// are refused: no real image has them, and they would make sizes explode.
func parseRatio(v string) (Ratio, bool) {
	var r Ratio
	var ok bool
	if num, den, colon := strings.Cut(v, ":"); colon {
		var ok2 bool
		r.Num, ok = number(num)
		r.Den, ok2 = number(den)
		ok = ok && ok2 && r.Num <= maxPixels && r.Den <= maxPixels && r.Den > 0
	} else {
		r.Num, ok = number(v)
	}
	if !ok || r.Num <= 0 || r.Value() < 1e-3 || r.Value() > 1e3 {
		return Ratio{}, false
	}
	return r, true
}

func appendRatio(b []byte, r Ratio) []byte {
	b = appendFloat(b, r.Num)
	if r.Den > 0 {
		b = append(b, ':')
		b = appendFloat(b, r.Den)
	}
	return b
}

// Crop is a c_ mode.
type Crop uint8

const (
	CropNone Crop = iota
	CropScale
	CropFit
	CropLimit
	CropMFit
	CropFill
	CropLFill
	CropPad
	CropLPad
	CropCrop
	CropThumb
	CropFillPad
	CropMPad
	CropAuto
)

var cropNames = []string{
	CropScale: "scale", CropFit: "fit", CropLimit: "limit", CropMFit: "mfit",
	CropFill: "fill", CropLFill: "lfill", CropPad: "pad", CropLPad: "lpad",
	CropCrop: "crop", CropThumb: "thumb", CropFillPad: "fill_pad", CropMPad: "mpad",
	CropAuto: "auto",
}

// unsupportedCrops are Cloudinary modes that need add-ons Refract lacks.
var unsupportedCrops = []string{"imagga_crop", "imagga_scale", "auto_pad"}

func (c Crop) String() string { return cropNames[c] }

// Gravity is a g_ value.
type Gravity uint8

const (
	GravityNone Gravity = iota
	GravityNorthWest
	GravityNorth
	GravityNorthEast
	GravityWest
	GravityCenter
	GravityEast
	GravitySouthWest
	GravitySouth
	GravitySouthEast
	GravityXYCenter
	GravityAuto
	GravityFace
	GravityFaces
)

var gravityNames = []string{
	GravityNorthWest: "north_west", GravityNorth: "north", GravityNorthEast: "north_east",
	GravityWest: "west", GravityCenter: "center", GravityEast: "east",
	GravitySouthWest: "south_west", GravitySouth: "south", GravitySouthEast: "south_east",
	GravityXYCenter: "xy_center", GravityAuto: "auto", GravityFace: "face",
	GravityFaces: "faces",
}

// Faces reports whether g centres on detected faces.
func (g Gravity) Faces() bool { return g == GravityFace || g == GravityFaces }

func (g Gravity) String() string { return gravityNames[g] }

// Compass returns the anchor of g as fractions of the free space (0, 0.5
// or 1 on each axis); ok is false for gravities that are not compass points.
func (g Gravity) Compass() (fx, fy float64, ok bool) {
	switch g {
	case GravityNorthWest:
		return 0, 0, true
	case GravityNorth:
		return 0.5, 0, true
	case GravityNorthEast:
		return 1, 0, true
	case GravityWest:
		return 0, 0.5, true
	case GravityNone, GravityCenter:
		return 0.5, 0.5, true
	case GravityEast:
		return 1, 0.5, true
	case GravitySouthWest:
		return 0, 1, true
	case GravitySouth:
		return 0.5, 1, true
	case GravitySouthEast:
		return 1, 1, true
	}
	return 0, 0, false
}

// AutoQuality is the level of a q_auto.
type AutoQuality uint8

const (
	QualityFixed AutoQuality = iota
	QualityAuto              // q_auto, the same as q_auto:good
	QualityBest
	QualityGood
	QualityEco
	QualityLow
)

var autoQualityNames = []string{
	QualityAuto: "auto", QualityBest: "auto:best", QualityGood: "auto:good",
	QualityEco: "auto:eco", QualityLow: "auto:low",
}

// Quality is a q_ value: a fixed 1–100, or an automatic level.
type Quality struct {
	Q    uint8
	Auto AutoQuality
}

// DPR is a device pixel ratio, or Auto: taken from the client's hints
// by the edge, which writes the resolved number into the chain.
type DPR struct {
	V    float64
	Auto bool
}

// Angle is an a_ value: degrees clockwise plus mode flags.
type Angle struct {
	Deg   float64
	Modes AngleMode
}

// AngleMode is a bit set of a_ modes.
type AngleMode uint8

const (
	AngleHFlip AngleMode = 1 << iota
	AngleVFlip
	AngleIgnore    // do not apply EXIF orientation
	AngleAutoRight // rotate 90° clockwise if that matches the box better
	AngleAutoLeft  // likewise, counter-clockwise
)

var angleModeNames = [...]struct {
	m    AngleMode
	name string
}{
	{AngleAutoLeft, "auto_left"}, {AngleAutoRight, "auto_right"},
	{AngleHFlip, "hflip"}, {AngleVFlip, "vflip"}, {AngleIgnore, "ignore"},
}

// Color is an RGBA colour.
type Color struct {
	R, G, B, A uint8
}

// parseColor reads a colour name or rgb:RGB[A] / rgb:RRGGBB[AA].
func parseColor(v string) (Color, bool) {
	if len(v) > 4 && v[:4] == "rgb:" {
		return parseHex(v[4:])
	}
	if len(v) > 1 && v[0] == '#' {
		return parseHex(v[1:])
	}
	if c, ok := namedColor(v); ok {
		return c, true
	}
	return Color{}, false
}

func parseHex(h string) (Color, bool) {
	var n [8]uint8
	switch len(h) {
	case 3, 4:
		for i := 0; i < len(h); i++ {
			d, ok := hexDigit(h[i])
			if !ok {
				return Color{}, false
			}
			n[i] = d<<4 | d
		}
		if len(h) == 3 {
			n[3] = 255
		}
	case 6, 8:
		for i := 0; i < len(h); i += 2 {
			hi, ok1 := hexDigit(h[i])
			lo, ok2 := hexDigit(h[i+1])
			if !ok1 || !ok2 {
				return Color{}, false
			}
			n[i/2] = hi<<4 | lo
		}
		if len(h) == 6 {
			n[3] = 255
		}
	default:
		return Color{}, false
	}
	return Color{n[0], n[1], n[2], n[3]}, true
}

func hexDigit(c byte) (uint8, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func appendColor(b []byte, c Color) []byte {
	const hx = "0123456789abcdef"
	b = append(b, "rgb:"...)
	for _, v := range [...]uint8{c.R, c.G, c.B} {
		b = append(b, hx[v>>4], hx[v&15])
	}
	if c.A != 255 {
		b = append(b, hx[c.A>>4], hx[c.A&15])
	}
	return b
}

// outputFormat validates an f_ value.
func outputFormat(v string) (format.Format, bool) {
	f := format.FromExt(v)
	return f, f == format.Auto || f.Writable()
}

// BackgroundMode says how b_ fills: a colour, the image's own dominant
// border colour (auto), or a blurred, stretched copy of the image.
type BackgroundMode uint8

const (
	BackgroundColor       BackgroundMode = iota
	BackgroundAuto                       // b_auto, b_auto:border
	BackgroundPredominant                // b_auto:predominant
	BackgroundBlurred                    // b_blurred[:intensity[:brightness]]
)

// Background is a b_ value.
type Background struct {
	Color
	Mode       BackgroundMode
	Blur       int // 1–2000, b_blurred's intensity
	Brightness int // -300–100, b_blurred's brightness
}

func parseBackground(v string) (Background, bool) {
	switch v {
	case "auto", "auto:border":
		return Background{Color: Color{255, 255, 255, 255}, Mode: BackgroundAuto}, true
	case "auto:predominant":
		return Background{Color: Color{255, 255, 255, 255}, Mode: BackgroundPredominant}, true
	}
	if rest, ok := strings.CutPrefix(v, "blurred"); ok {
		b := Background{Color: Color{255, 255, 255, 255}, Mode: BackgroundBlurred, Blur: 100}
		if rest == "" {
			return b, true
		}
		if rest[0] != ':' {
			return Background{}, false
		}
		blur, bright, two := strings.Cut(rest[1:], ":")
		n, err := strconv.Atoi(blur)
		if err != nil || n < 1 || n > 2000 {
			return Background{}, false
		}
		b.Blur = n
		if two {
			m, err := strconv.Atoi(bright)
			if err != nil || m < -300 || m > 100 {
				return Background{}, false
			}
			b.Brightness = m
		}
		return b, true
	}
	c, ok := parseColor(v)
	return Background{Color: c}, ok
}

func appendBackground(b []byte, bg Background) []byte {
	switch bg.Mode {
	case BackgroundAuto:
		return append(b, "auto"...)
	case BackgroundPredominant:
		return append(b, "auto:predominant"...)
	case BackgroundBlurred:
		b = append(b, "blurred:"...)
		b = strconv.AppendInt(b, int64(bg.Blur), 10)
		if bg.Brightness != 0 {
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(bg.Brightness), 10)
		}
		return b
	}
	return appendColor(b, bg.Color)
}

// Radius is an r_ value: up to four corner radii, clockwise from the top
// left, or Max for an ellipse.
type Radius struct {
	R   [4]float64
	N   uint8 // how many values were written (1–4)
	Max bool
}

// Corners expands the written radii the way CSS border-radius does.
func (r Radius) Corners() [4]float64 {
	switch r.N {
	case 1:
		return [4]float64{r.R[0], r.R[0], r.R[0], r.R[0]}
	case 2:
		return [4]float64{r.R[0], r.R[1], r.R[0], r.R[1]}
	case 3:
		return [4]float64{r.R[0], r.R[1], r.R[2], r.R[1]}
	}
	return r.R
}

func parseRadius(v string) (Radius, bool) {
	if v == "max" {
		return Radius{Max: true}, true
	}
	var r Radius
	for rest := v; ; {
		part, tail, more := strings.Cut(rest, ":")
		f, ok := number(part)
		if !ok || f > maxPixels || r.N == 4 {
			return Radius{}, false
		}
		r.R[r.N] = f
		r.N++
		if !more {
			return r, true
		}
		rest = tail
	}
}

func appendRadius(b []byte, r Radius) []byte {
	if r.Max {
		return append(b, "max"...)
	}
	for i := 0; i < int(r.N); i++ {
		if i > 0 {
			b = append(b, ':')
		}
		b = appendFloat(b, r.R[i])
	}
	return b
}

// Border is a bo_ value: "4px_solid_black".
type Border struct {
	Width int
	Color Color
}

func parseBorder(v string) (Border, bool) {
	w, rest, ok := strings.Cut(v, "px_solid_")
	if !ok {
		return Border{}, false
	}
	n, err := strconv.Atoi(w)
	if err != nil || n < 1 || n > 1000 || w[0] == '+' {
		return Border{}, false
	}
	c, ok := parseColor(rest)
	return Border{Width: n, Color: c}, ok
}

func appendBorder(b []byte, bo Border) []byte {
	b = strconv.AppendInt(b, int64(bo.Width), 10)
	b = append(b, "px_solid_"...)
	return appendColor(b, bo.Color)
}

package transform

import (
	"strconv"
	"strings"
)

// param is one transformation parameter: its URL key, how to read its
// value into a Component, and how to write the value back canonically.
// Adding a parameter is a field on Component plus one entry here.
type param struct {
	key   string
	what  string // the noun of its error: "Invalid <what> - <value>"
	parse func(c *Component, v string) bool
	write func(b []byte, c *Component) []byte
	expr  bool // may be an expression of variables ("w_iw_div_2")
}

// params is sorted by key: the canonical form writes them in this order.
var params = []param{
	{key: "a", what: "angle", parse: parseAngle, write: writeAngle, expr: true},
	{key: "ar", what: "aspect ratio", parse: func(c *Component, v string) bool {
		r, ok := parseRatio(v)
		c.AspectRatio = r
		return ok
	}, write: func(b []byte, c *Component) []byte { return appendRatio(b, c.AspectRatio) }, expr: true},
	{key: "b", what: "background", parse: func(c *Component, v string) bool {
		bg, ok := parseBackground(v)
		c.Background = bg
		return ok
	}, write: func(b []byte, c *Component) []byte { return appendBackground(b, c.Background) }},
	{key: "bo", what: "border", parse: func(c *Component, v string) bool {
		bo, ok := parseBorder(v)
		c.Border = bo
		return ok
	}, write: func(b []byte, c *Component) []byte { return appendBorder(b, c.Border) }},
	{key: "c", what: "crop mode", parse: func(c *Component, v string) bool {
		i := indexOf(cropNames, v)
		c.Crop = Crop(max(i, 0))
		return i > 0
	}, write: func(b []byte, c *Component) []byte { return append(b, c.Crop.String()...) }},
	{key: "co", what: "color", parse: func(c *Component, v string) bool {
		col, ok := parseColor(v)
		c.Color = col
		return ok
	}, write: func(b []byte, c *Component) []byte { return appendColor(b, c.Color) }},
	{key: "d", what: "default image", parse: func(c *Component, v string) bool {
		c.Default = v
		return validDefault(v)
	}, write: func(b []byte, c *Component) []byte { return append(b, c.Default...) }},
	{key: "dn", what: "density", parse: func(c *Component, v string) bool {
		n, ok := intIn(v, 1, maxDensity)
		c.Density = n
		return ok
	}, write: func(b []byte, c *Component) []byte { return strconv.AppendInt(b, int64(c.Density), 10) }},
	{key: "dpr", what: "dpr", parse: func(c *Component, v string) bool {
		if v == "auto" {
			c.DPR = DPR{Auto: true}
			return true
		}
		f, ok := number(v)
		c.DPR = DPR{V: f}
		return ok && f > 0 && f <= maxDPR
	}, write: func(b []byte, c *Component) []byte {
		if c.DPR.Auto {
			return append(b, "auto"...)
		}
		return appendFloat(b, c.DPR.V)
	}},
	{key: "e", what: "effect", parse: parseEffect, write: writeEffect},
	{key: "f", what: "format", parse: func(c *Component, v string) bool {
		f, ok := outputFormat(v)
		c.Format = f
		return ok
	}, write: func(b []byte, c *Component) []byte { return append(b, c.Format.Ext()...) }},
	{key: "fl", what: "flag", parse: parseFlags, write: writeFlags},
	{key: "g", what: "gravity", parse: func(c *Component, v string) bool {
		i := indexOf(gravityNames, v)
		c.Gravity = Gravity(max(i, 0))
		return i > 0
	}, write: func(b []byte, c *Component) []byte { return append(b, c.Gravity.String()...) }},
	{key: "h", what: "height", parse: func(c *Component, v string) bool {
		s, ok := parseSize(v)
		c.Height = s
		return ok
	}, write: func(b []byte, c *Component) []byte { return appendSize(b, c.Height) }, expr: true},
	{key: "l", what: "overlay", parse: func(c *Component, v string) bool {
		l, ok := parseLayer(v, false)
		c.Layer = l
		return ok
	}, write: func(b []byte, c *Component) []byte { return appendLayer(b, c.Layer) }},
	{key: "o", what: "opacity", parse: func(c *Component, v string) bool {
		n, ok := intIn(v, 0, 100)
		c.Opacity = uint8(n)
		return ok
	}, write: func(b []byte, c *Component) []byte { return strconv.AppendInt(b, int64(c.Opacity), 10) }, expr: true},
	{key: "pg", what: "page", parse: func(c *Component, v string) bool {
		n, ok := intIn(v, 1, maxPage)
		c.Page = n
		return ok
	}, write: func(b []byte, c *Component) []byte { return strconv.AppendInt(b, int64(c.Page), 10) }},
	{key: "q", what: "quality", parse: parseQuality, write: writeQuality},
	{key: "r", what: "radius", parse: func(c *Component, v string) bool {
		r, ok := parseRadius(v)
		c.Radius = r
		return ok
	}, write: func(b []byte, c *Component) []byte { return appendRadius(b, c.Radius) }, expr: true},
	{key: "t", what: "named transformation", parse: func(c *Component, v string) bool {
		c.Named = v
		return validNamed(v)
	}, write: func(b []byte, c *Component) []byte { return append(b, c.Named...) }},
	{key: "u", what: "underlay", parse: func(c *Component, v string) bool {
		l, ok := parseLayer(v, true)
		c.Layer = l
		return ok
	}, write: func(b []byte, c *Component) []byte { return appendLayer(b, c.Layer) }},
	{key: "w", what: "width", parse: func(c *Component, v string) bool {
		s, ok := parseSize(v)
		c.Width = s
		return ok
	}, write: func(b []byte, c *Component) []byte { return appendSize(b, c.Width) }, expr: true},
	{key: "x", what: "x", parse: func(c *Component, v string) bool {
		s, ok := parseOffset(v)
		c.X = s
		return ok
	}, write: func(b []byte, c *Component) []byte { return appendSize(b, c.X) }, expr: true},
	{key: "y", what: "y", parse: func(c *Component, v string) bool {
		s, ok := parseOffset(v)
		c.Y = s
		return ok
	}, write: func(b []byte, c *Component) []byte { return appendSize(b, c.Y) }, expr: true},
	{key: "z", what: "zoom", parse: func(c *Component, v string) bool {
		f, ok := number(v)
		c.Zoom = f
		return ok && f > 0 && f <= maxZoom
	}, write: func(b []byte, c *Component) []byte { return appendFloat(b, c.Zoom) }, expr: true},
}

func appendLayer(b []byte, l Layer) []byte {
	if l.Kind == LayerText {
		b = append(b, "text:"...)
	}
	return append(b, l.ID...)
}

// Param indexes params; its bit in a Component's Set says it is present.
type Param uint8

// The indexes of params, in the same order.
const (
	ParamAngle Param = iota
	ParamAspectRatio
	ParamBackground
	ParamBorder
	ParamCrop
	ParamColor
	ParamDefault
	ParamDensity
	ParamDPR
	ParamEffect
	ParamFormat
	ParamFlags
	ParamGravity
	ParamHeight
	ParamOverlay
	ParamOpacity
	ParamPage
	ParamQuality
	ParamRadius
	ParamNamed
	ParamUnderlay
	ParamWidth
	ParamX
	ParamY
	ParamZoom
)

// lookup finds a parameter by key without allocating.
func lookup(key string) (Param, bool) {
	lo, hi := 0, len(params)
	for lo < hi {
		m := (lo + hi) / 2
		switch k := params[m].key; {
		case k == key:
			return Param(m), true
		case k < key:
			lo = m + 1
		default:
			hi = m
		}
	}
	return 0, false
}

func parseAngle(c *Component, v string) bool {
	var a Angle
	if f, ok := signed(v); ok {
		a.Deg = f
	} else if strings.Trim(v, "-0123456789.") == "" {
		return false // a malformed number, not modes joined by '.'
	} else {
		for rest := v; rest != ""; {
			part := rest
			if i := strings.IndexByte(rest, '.'); i >= 0 {
				part, rest = rest[:i], rest[i+1:]
				if rest == "" {
					return false
				}
			} else {
				rest = ""
			}
			found := false
			for _, m := range angleModeNames {
				if m.name == part {
					a.Modes |= m.m
					found = true
				}
			}
			if !found {
				f, ok := signed(part)
				if !ok {
					return false
				}
				a.Deg += f
			}
		}
	}
	if a.Deg > 360 || a.Deg < -360 {
		return false
	}
	c.Angle = a
	return true
}

func writeAngle(b []byte, c *Component) []byte {
	n := len(b)
	for _, m := range angleModeNames {
		if c.Angle.Modes&m.m != 0 {
			if len(b) > n {
				b = append(b, '.')
			}
			b = append(b, m.name...)
		}
	}
	if c.Angle.Deg != 0 || len(b) == n {
		if len(b) > n {
			b = append(b, '.')
		}
		b = appendFloat(b, c.Angle.Deg)
	}
	return b
}

func parseQuality(c *Component, v string) bool {
	for i, n := range autoQualityNames {
		if n != "" && n == v {
			c.Quality = Quality{Auto: AutoQuality(i)}
			if c.Quality.Auto == QualityAuto {
				c.Quality.Auto = QualityGood
			}
			return true
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 || v[0] == '+' {
		return false
	}
	c.Quality = Quality{Q: uint8(n)}
	return true
}

func writeQuality(b []byte, c *Component) []byte {
	if c.Quality.Auto != QualityFixed {
		return append(b, autoQualityNames[c.Quality.Auto]...)
	}
	return strconv.AppendInt(b, int64(c.Quality.Q), 10)
}
